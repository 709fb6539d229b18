"""Distance and travel-time matrices behind one interface.

A :class:`DistanceModel` turns a list of ``(lon, lat)`` WGS-84 points into two
square ``int64`` matrices, ``distance_m`` and ``duration_s``, ready for
:class:`optimizer.problem.Problem`. Every model here keeps one rule: no entry of
``distance_m`` is shorter than the straight line (great circle, see
:func:`haversine_m`) between its two points, rounded up to whole metres.

Models:

- :class:`Haversine`: great circle x detour factor at a fixed speed; offline, the default.
- :class:`optimizer.osm.OsmRoadNetwork`: shortest paths on an OpenStreetMap
  ``.osm.pbf`` road graph (needs the ``osm`` extra: pyrosm).
- :class:`OsrmTable`, :class:`ValhallaMatrix`: clients of a routing server the
  user runs (needs httpx).

:func:`from_spec` builds any of them from a short text such as
``"haversine:detour=1.4,speed=30"`` or ``"osrm:http://127.0.0.1:5000"``.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

#: mean Earth radius (IUGG), metres; the "straight line" of the plan rules
EARTH_RADIUS_M = 6_371_008.8

LonLat = tuple[float, float]


class DistanceError(Exception):
    """Base class of the errors of this module; the message is meant for a person."""


class DistanceSpecError(DistanceError, ValueError):
    """A distance model text (``--distance``) or parameter that cannot be used."""


class DistanceServiceError(DistanceError):
    """A distance source failed: server unreachable, bad answer, no route, missing data."""


@runtime_checkable
class DistanceModel(Protocol):
    """Anything that gives distance and travel-time matrices for WGS-84 points."""

    def matrices(self, points: Sequence[LonLat]) -> tuple[np.ndarray, np.ndarray]:
        """``(distance_m, duration_s)``: square int64 matrices, row = from, column = to."""
        ...

    def describe(self) -> dict[str, Any]:
        """JSON-ready description; goes into the plan document's ``distance_model``."""
        ...


# --------------------------------------------------------------------------- helpers


def haversine_m(
    lon1: Any, lat1: Any, lon2: Any, lat2: Any, radius_m: float = EARTH_RADIUS_M
) -> Any:
    """Great-circle distance in metres (float) between points in degrees.

    Vectorised: arguments broadcast like numpy arrays, so
    ``haversine_m(lon[:, None], lat[:, None], lon[None, :], lat[None, :])`` is a
    full matrix. Scalars in give a numpy float out.
    """
    lam1, phi1, lam2, phi2 = (np.radians(np.asarray(a, dtype=np.float64))
                              for a in (lon1, lat1, lon2, lat2))
    dphi = phi2 - phi1
    dlam = lam2 - lam1
    a = np.sin(dphi / 2.0) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlam / 2.0) ** 2
    return 2.0 * radius_m * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def as_lonlat_array(points: Sequence[LonLat] | np.ndarray) -> np.ndarray:
    """``points`` as an ``(n, 2)`` float array of (lon, lat), checked to be WGS-84 degrees."""
    arr = np.asarray(points, dtype=np.float64)
    if arr.size == 0:
        return arr.reshape(0, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise DistanceSpecError(f"points must be (lon, lat) pairs, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise DistanceSpecError("points contain NaN or infinite coordinates")
    bad = np.flatnonzero((np.abs(arr[:, 0]) > 180.0) | (np.abs(arr[:, 1]) > 90.0))
    if bad.size:
        i = int(bad[0])
        raise DistanceSpecError(
            f"point {i} is not (lon, lat) in degrees: ({arr[i, 0]}, {arr[i, 1]})"
        )
    return arr


def straight_line_m(points: Sequence[LonLat] | np.ndarray) -> np.ndarray:
    """Great-circle matrix in whole metres, rounded up (int64): the floor of every model."""
    arr = as_lonlat_array(points)
    lon, lat = arr[:, 0], arr[:, 1]
    h = haversine_m(lon[:, None], lat[:, None], lon[None, :], lat[None, :])
    return np.ceil(h).astype(np.int64)


def finish_matrices(
    distance_m: np.ndarray, duration_s: np.ndarray, points: np.ndarray,
    straight_m: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Round float matrices up to int64, raise distances to the straight line, zero the diagonal.

    Every model ends with this, so the rule "no leg is shorter than the straight
    line between its ends" holds whatever the source. ``straight_m`` may pass the
    great-circle matrix (float metres) when the caller already has it.
    """
    dist = np.ceil(np.asarray(distance_m, dtype=np.float64) - 1e-9).astype(np.int64)
    dur = np.ceil(np.asarray(duration_s, dtype=np.float64) - 1e-9).astype(np.int64)
    floor = straight_line_m(points) if straight_m is None else np.ceil(straight_m)
    dist = np.maximum(dist, floor.astype(np.int64))
    dur = np.maximum(dur, 0)
    np.fill_diagonal(dist, 0)
    np.fill_diagonal(dur, 0)
    return dist, dur


# --------------------------------------------------------------------------- haversine


class Haversine:
    """Great circle x ``detour_factor`` as road distance, driven at ``speed_kmh``.

    Fully offline and vectorised; distances are rounded up to whole metres and
    never below the great circle itself.
    """

    kind = "haversine"

    def __init__(self, detour_factor: float = 1.3, speed_kmh: float = 25.0) -> None:
        if not (math.isfinite(detour_factor) and detour_factor >= 1.0):
            raise DistanceSpecError(f"detour factor must be >= 1 (got {detour_factor})")
        if not (math.isfinite(speed_kmh) and speed_kmh > 0.0):
            raise DistanceSpecError(f"speed must be > 0 km/h (got {speed_kmh})")
        self.detour_factor = float(detour_factor)
        self.speed_kmh = float(speed_kmh)

    def __repr__(self) -> str:
        return f"Haversine(detour_factor={self.detour_factor}, speed_kmh={self.speed_kmh})"

    def matrices(self, points: Sequence[LonLat]) -> tuple[np.ndarray, np.ndarray]:
        arr = as_lonlat_array(points)
        lon, lat = arr[:, 0], arr[:, 1]
        straight = haversine_m(lon[:, None], lat[:, None], lon[None, :], lat[None, :])
        dist, _ = finish_matrices(self.detour_factor * straight, np.zeros(straight.shape), arr,
                                  straight_m=straight)
        # time from the whole metres actually reported, so the two matrices agree
        dur = np.ceil(dist / (self.speed_kmh / 3.6) - 1e-9).astype(np.int64)
        return dist, dur

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "detour_factor": _num(self.detour_factor),
                "speed_kmh": _num(self.speed_kmh)}


def _num(x: float) -> int | float:
    """25.0 -> 25 (as the plan document shows it); 1.3 stays 1.3."""
    return int(x) if float(x).is_integer() else float(x)


# --------------------------------------------------------------------------- HTTP clients


def _blocks(n: int, size: int) -> Iterator[np.ndarray]:
    for start in range(0, n, size):
        yield np.arange(start, min(n, start + size))


def _http_client(timeout_s: float) -> httpx.Client:
    try:
        import httpx
    except ImportError as exc:  # pragma: no cover - httpx is installed in dev and the extra
        raise DistanceServiceError(
            "the routing-server clients need httpx (the 'osm' extra): pip install httpx"
        ) from exc
    return httpx.Client(timeout=timeout_s)


def _call(what: str, url: str, send: Callable[[], httpx.Response]) -> Any:
    """Run one request; turn every transport or protocol failure into DistanceServiceError."""
    import httpx

    try:
        resp = send()
    except httpx.TimeoutException as exc:
        raise DistanceServiceError(f"{what} at {url} did not answer in time ({exc})") from None
    except httpx.HTTPError as exc:
        raise DistanceServiceError(f"{what} at {url} is unreachable ({exc})") from None
    try:
        body = resp.json()
    except (json.JSONDecodeError, ValueError):
        body = None
    if resp.status_code != 200 or not isinstance(body, dict):
        detail = ""
        if isinstance(body, dict):  # OSRM: code + message; Valhalla: error_code + error
            code = body.get("code", body.get("error_code", ""))
            text = body.get("message", body.get("error", ""))
            detail = ": ".join(str(x) for x in (code, text) if x not in ("", None))
        detail = detail or resp.text[:200].strip()
        hint = ""
        if resp.status_code in (400, 413) and ("TooBig" in detail or "limit" in detail):
            hint = " (ask for smaller blocks: add ,chunk=N to the --distance text)"
        raise DistanceServiceError(
            f"{what} at {url} answered HTTP {resp.status_code}: {detail or 'no detail'}{hint}"
        )
    return body


def _matrix_from_rows(rows: Any, shape: tuple[int, int], what: str, name: str) -> np.ndarray:
    try:
        arr = np.array(
            [[np.nan if v is None else float(v) for v in row] for row in rows], dtype=np.float64
        )
    except (TypeError, ValueError):
        raise DistanceServiceError(f"{what}: '{name}' is not a table of numbers") from None
    if arr.shape != shape:
        raise DistanceServiceError(f"{what}: '{name}' has shape {arr.shape}, expected {shape}")
    return arr


def _raise_unroutable(dist: np.ndarray, dur: np.ndarray, what: str) -> None:
    bad = np.argwhere(~(np.isfinite(dist) & np.isfinite(dur)))
    bad = bad[bad[:, 0] != bad[:, 1]]
    if bad.size:
        i, j = (int(x) for x in bad[0])
        raise DistanceServiceError(
            f"{what} found no route between point {i} and point {j} "
            f"({len(bad)} pair(s) without a route)"
        )


def _chunked_matrices(
    arr: np.ndarray,
    chunk_size: int,
    timeout_s: float,
    block: Callable[[httpx.Client, np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    what: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Fill full matrices block by block from a table service; ``block`` answers one
    (sources x destinations) block in metres and seconds."""
    n = len(arr)
    dist = np.zeros((n, n))
    dur = np.zeros((n, n))
    if n < 2:
        return finish_matrices(dist, dur, arr)
    with _http_client(timeout_s) as client:
        for src in _blocks(n, chunk_size):
            for dst in _blocks(n, chunk_size):
                d, t = block(client, arr, src, dst)
                dist[np.ix_(src, dst)] = d
                dur[np.ix_(src, dst)] = t
    _raise_unroutable(dist, dur, what)
    return finish_matrices(dist, dur, arr)


class OsrmTable:
    """Client of the OSRM ``table`` service (``GET /table/v1/{profile}/{coords}``).

    Asks for ``annotations=distance,duration``; large inputs are cut into blocks
    of at most ``chunk_size`` sources x ``chunk_size`` destinations (osrm-routed
    refuses tables above ``--max-table-size``, 100 by default).
    """

    kind = "osrm"

    def __init__(
        self, base_url: str, profile: str = "driving", chunk_size: int = 100,
        timeout_s: float = 60.0,
    ) -> None:
        if chunk_size < 1:
            raise DistanceSpecError("chunk_size must be >= 1")
        self.base_url = base_url.rstrip("/")
        self.profile = profile
        self.chunk_size = int(chunk_size)
        self.timeout_s = float(timeout_s)

    def __repr__(self) -> str:
        return f"OsrmTable({self.base_url!r}, profile={self.profile!r})"

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "base_url": self.base_url, "profile": self.profile}

    def matrices(self, points: Sequence[LonLat]) -> tuple[np.ndarray, np.ndarray]:
        return _chunked_matrices(
            as_lonlat_array(points), self.chunk_size, self.timeout_s, self._block, "OSRM"
        )

    def _block(
        self, client: httpx.Client, arr: np.ndarray, src: np.ndarray, dst: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        # one request carries the union of the two blocks; sources/destinations index it
        idx = np.union1d(src, dst)
        pos = {int(k): p for p, k in enumerate(idx)}
        coords = ";".join(f"{arr[k, 0]:.6f},{arr[k, 1]:.6f}" for k in idx)
        url = f"{self.base_url}/table/v1/{self.profile}/{coords}"
        params = {
            "annotations": "distance,duration",
            "sources": ";".join(str(pos[int(k)]) for k in src),
            "destinations": ";".join(str(pos[int(k)]) for k in dst),
        }
        body = _call("OSRM", self.base_url, lambda: client.get(url, params=params))
        if body.get("code") != "Ok":
            raise DistanceServiceError(
                f"OSRM at {self.base_url}: {body.get('code')}: {body.get('message', '')}".strip()
            )
        shape = (len(src), len(dst))
        if "distances" not in body or "durations" not in body:
            raise DistanceServiceError(
                "OSRM answer lacks 'distances' or 'durations' (server older than 5.18?)"
            )
        d = _matrix_from_rows(body["distances"], shape, "OSRM", "distances")
        t = _matrix_from_rows(body["durations"], shape, "OSRM", "durations")
        return d, t


class ValhallaMatrix:
    """Client of Valhalla's ``POST /sources_to_targets`` time-distance matrix.

    Sends ``units: kilometers`` and reads either answer shape: the verbose one
    (``sources_to_targets`` = rows of ``{distance, time, from_index, to_index}``)
    or the concise one (``sources_to_targets`` = ``{distances, durations}``).
    Inputs are cut into blocks of ``chunk_size`` x ``chunk_size`` (the service
    limits matrix size per costing).
    """

    kind = "valhalla"

    def __init__(
        self, base_url: str, costing: str = "auto", chunk_size: int = 50,
        timeout_s: float = 60.0,
    ) -> None:
        if chunk_size < 1:
            raise DistanceSpecError("chunk_size must be >= 1")
        self.base_url = base_url.rstrip("/")
        self.costing = costing
        self.chunk_size = int(chunk_size)
        self.timeout_s = float(timeout_s)

    def __repr__(self) -> str:
        return f"ValhallaMatrix({self.base_url!r}, costing={self.costing!r})"

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "base_url": self.base_url, "costing": self.costing}

    def matrices(self, points: Sequence[LonLat]) -> tuple[np.ndarray, np.ndarray]:
        return _chunked_matrices(
            as_lonlat_array(points), self.chunk_size, self.timeout_s, self._block_m, "Valhalla"
        )

    def _block_m(
        self, client: httpx.Client, arr: np.ndarray, src: np.ndarray, dst: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """One block in metres and seconds (the service answers in kilometres)."""
        d_km, t = self._block(client, arr, src, dst)
        return d_km * 1000.0, t

    def _block(
        self, client: httpx.Client, arr: np.ndarray, src: np.ndarray, dst: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        def loc(k: int) -> dict[str, float]:
            return {"lat": round(float(arr[k, 1]), 7), "lon": round(float(arr[k, 0]), 7)}

        payload = {
            "sources": [loc(int(k)) for k in src],
            "targets": [loc(int(k)) for k in dst],
            "costing": self.costing,
            "units": "kilometers",
        }
        url = f"{self.base_url}/sources_to_targets"
        body = _call("Valhalla", self.base_url, lambda: client.post(url, json=payload))
        if "error" in body or "error_code" in body:
            raise DistanceServiceError(
                f"Valhalla at {self.base_url}: {body.get('error_code', '')} "
                f"{body.get('error', '')}".strip()
            )
        if body.get("units", "kilometers") not in ("kilometers", "km"):
            raise DistanceServiceError(f"Valhalla answered in units {body.get('units')!r}")
        shape = (len(src), len(dst))
        s2t = body.get("sources_to_targets")
        if isinstance(s2t, dict):  # concise answer (verbose=false)
            d = _matrix_from_rows(s2t.get("distances"), shape, "Valhalla", "distances")
            t = _matrix_from_rows(s2t.get("durations"), shape, "Valhalla", "durations")
            return d, t
        if not isinstance(s2t, list) or len(s2t) != shape[0]:
            raise DistanceServiceError("Valhalla answer lacks a 'sources_to_targets' table")
        d = np.full(shape, np.nan)
        t = np.full(shape, np.nan)
        for r, row in enumerate(s2t):
            if not isinstance(row, list) or len(row) != shape[1]:
                raise DistanceServiceError(f"Valhalla row {r} has the wrong length")
            for c, cell in enumerate(row):
                if not isinstance(cell, dict):
                    raise DistanceServiceError("Valhalla matrix cell is not an object")
                i = int(cell.get("from_index", r))
                j = int(cell.get("to_index", c))
                if not (0 <= i < shape[0] and 0 <= j < shape[1]):
                    raise DistanceServiceError("Valhalla matrix index out of range")
                dv, tv = cell.get("distance"), cell.get("time")
                d[i, j] = np.nan if dv is None else float(dv)
                t[i, j] = np.nan if tv is None else float(tv)
        return d, t


# --------------------------------------------------------------------------- from_spec

SPEC_HELP = (
    "haversine | haversine:detour=1.3,speed=25 | osm:PATH.osm.pbf[,cache=DIR] | "
    "osrm:http://HOST:5000[,profile=driving] | valhalla:http://HOST:8002[,costing=auto]"
)


def _options(text: str, allowed: dict[str, Callable[[str], Any]], kind: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep or key not in allowed:
            raise DistanceSpecError(
                f"unknown option {part!r} for {kind} (known: {', '.join(sorted(allowed))})"
            )
        try:
            out[key] = allowed[key](value.strip())
        except ValueError:
            raise DistanceSpecError(f"{kind}: bad value for {key}: {value!r}") from None
    return out


def _split_target(rest: str) -> tuple[str, str]:
    """``"http://h:5000,profile=car"`` -> (``"http://h:5000"``, ``"profile=car"``)."""
    target, _, opts = rest.partition(",")
    return target.strip(), opts


def from_spec(spec: str) -> DistanceModel:
    """Build a model from text such as the CLI's ``--distance`` value.

    Forms: ``haversine``, ``haversine:detour=1.4,speed=30``,
    ``osm:/path/file.osm.pbf`` (options ``cache=DIR``, ``access_speed=KMH``),
    ``osrm:http://host:5000`` (options ``profile=``, ``chunk=``),
    ``valhalla:http://host:8002`` (options ``costing=``, ``chunk=``).
    Raises :class:`DistanceSpecError` with the accepted forms on bad text.
    """
    text = (spec or "").strip()
    kind, _, rest = text.partition(":")
    kind = kind.strip().lower()
    if kind == "haversine":
        opts = _options(rest, {"detour": float, "detour_factor": float, "speed": float,
                               "speed_kmh": float}, kind)
        return Haversine(
            detour_factor=opts.get("detour", opts.get("detour_factor", 1.3)),
            speed_kmh=opts.get("speed", opts.get("speed_kmh", 25.0)),
        )
    if kind == "osm":
        path, opt_text = _split_target(rest)
        if not path:
            raise DistanceSpecError("osm needs a file: osm:/path/to/area.osm.pbf")
        opts = _options(opt_text, {"cache": str, "access_speed": float}, kind)
        from optimizer.osm import OsmRoadNetwork

        kwargs: dict[str, Any] = {}
        if "cache" in opts:
            kwargs["cache_dir"] = opts["cache"]
        if "access_speed" in opts:
            kwargs["access_speed_kmh"] = opts["access_speed"]
        return OsmRoadNetwork(path, **kwargs)
    if kind in ("osrm", "valhalla"):
        url, opt_text = _split_target(rest)
        if not url.startswith(("http://", "https://")):
            raise DistanceSpecError(f"{kind} needs a server URL: {kind}:http://host:port")
        if kind == "osrm":
            opts = _options(opt_text, {"profile": str, "chunk": int}, kind)
            return OsrmTable(url, profile=opts.get("profile", "driving"),
                             chunk_size=opts.get("chunk", 100))
        opts = _options(opt_text, {"costing": str, "chunk": int}, kind)
        return ValhallaMatrix(url, costing=opts.get("costing", "auto"),
                              chunk_size=opts.get("chunk", 50))
    raise DistanceSpecError(f"unknown distance model {spec!r}; use one of: {SPEC_HELP}")


__all__ = [
    "EARTH_RADIUS_M", "SPEC_HELP", "DistanceError", "DistanceModel", "DistanceServiceError",
    "DistanceSpecError", "Haversine", "LonLat", "OsrmTable", "ValhallaMatrix",
    "as_lonlat_array", "finish_matrices", "from_spec", "haversine_m", "straight_line_m",
]
