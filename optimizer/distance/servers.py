"""Clients of routing servers the user runs: OSRM ``table`` and Valhalla matrices.

Both need httpx (the ``osm`` extra). Large inputs are asked for block by block;
every failure (unreachable, bad answer, no route) becomes a
:class:`~optimizer.distance.base.DistanceServiceError` with a message for a person.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.distance.base import (
    DistanceServiceError,
    DistanceSpecError,
    LonLat,
    as_lonlat_array,
    finish_matrices,
)

if TYPE_CHECKING:
    import httpx


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


class MatrixServer:
    """A routing server's matrix service, asked block by block (``block``)."""

    kind = ""
    #: the service's name in messages
    what = ""
    #: the name of the service's one option (OSRM's profile, Valhalla's costing)
    option = ""

    def __init__(self, base_url: str, chunk_size: int, timeout_s: float) -> None:
        if chunk_size < 1:
            raise DistanceSpecError("chunk_size must be >= 1")
        self.base_url = base_url.rstrip("/")
        self.chunk_size = int(chunk_size)
        self.timeout_s = float(timeout_s)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r}, {self.option}={self._option()!r})"

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "base_url": self.base_url, self.option: self._option()}

    def _option(self) -> str:
        return str(getattr(self, self.option))

    def matrices(self, points: Sequence[LonLat]) -> tuple[np.ndarray, np.ndarray]:
        return _chunked_matrices(
            as_lonlat_array(points), self.chunk_size, self.timeout_s, self.block, self.what
        )

    def block(
        self, client: httpx.Client, arr: np.ndarray, src: np.ndarray, dst: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """One (sources x destinations) block in metres and seconds."""
        raise NotImplementedError


class OsrmTable(MatrixServer):
    """Client of the OSRM ``table`` service (``GET /table/v1/{profile}/{coords}``).

    Asks for ``annotations=distance,duration``; large inputs are cut into blocks
    of at most ``chunk_size`` sources x ``chunk_size`` destinations (osrm-routed
    refuses tables above ``--max-table-size``, 100 by default).
    """

    kind, what, option = "osrm", "OSRM", "profile"
    #: osrm-routed's default --max-table-size
    max_table = 100

    def __init__(
        self, base_url: str, profile: str = "driving", chunk_size: int = max_table,
        timeout_s: float = 60.0,
    ) -> None:
        super().__init__(base_url, chunk_size, timeout_s)
        self.profile = profile

    def block(
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


class ValhallaMatrix(MatrixServer):
    """Client of Valhalla's ``POST /sources_to_targets`` time-distance matrix.

    Sends ``units: kilometers`` and reads either answer shape: the verbose one
    (``sources_to_targets`` = rows of ``{distance, time, from_index, to_index}``)
    or the concise one (``sources_to_targets`` = ``{distances, durations}``).
    Inputs are cut into blocks of ``chunk_size`` x ``chunk_size`` (the service
    limits matrix size per costing).
    """

    kind, what, option = "valhalla", "Valhalla", "costing"

    def __init__(
        self, base_url: str, costing: str = "auto", chunk_size: int = 50,
        timeout_s: float = 60.0,
    ) -> None:
        super().__init__(base_url, chunk_size, timeout_s)
        self.costing = costing

    def block(
        self, client: httpx.Client, arr: np.ndarray, src: np.ndarray, dst: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """One block in metres and seconds (the service answers in kilometres)."""

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
            return d * 1000.0, t
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
        return d * 1000.0, t
