"""Distance and travel-time matrices behind one interface; :func:`from_spec` picks one.

Models (each gives ``(distance_m, duration_s)`` int64 matrices, never below the
straight line):

- :class:`Haversine`: great circle x detour factor at a fixed speed; offline, the default.
- :class:`OsmRoadNetwork`: shortest paths on an OpenStreetMap ``.osm.pbf`` road
  graph (needs the ``osm`` extra: pyrosm).
- :class:`OsrmTable`, :class:`ValhallaMatrix`: clients of a routing server the
  user runs (needs httpx).

:func:`from_spec` builds any of them from a short text such as
``"haversine:detour=1.4,speed=30"`` or ``"osrm:http://127.0.0.1:5000"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from optimizer.distance.base import (
    EARTH_RADIUS_M,
    DistanceError,
    DistanceModel,
    DistanceServiceError,
    DistanceSpecError,
    Haversine,
    LonLat,
    as_lonlat_array,
    finish_matrices,
    haversine_m,
    straight_line_m,
)
from optimizer.distance.osm import OsmRoadNetwork
from optimizer.distance.servers import OsrmTable, ValhallaMatrix

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
    "DistanceSpecError", "Haversine", "LonLat", "OsmRoadNetwork", "OsrmTable", "ValhallaMatrix",
    "as_lonlat_array", "finish_matrices", "from_spec", "haversine_m", "straight_line_m",
]
