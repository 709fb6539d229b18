"""Road distances on an OpenStreetMap extract (``.osm.pbf``), offline.

pyrosm reads the drivable ways; the graph is directed (one-way streets,
roundabouts and motorways are travelled one way), weighted by travel time
(length / speed of the road class, capped by a numeric ``maxspeed``), and
scipy's Dijkstra finds the quickest paths; the distance reported is the length
of that quickest path. Each point is snapped to the nearest node of the
largest strongly connected part of the graph (so every pair has a route) and
the snap leg is added at ``access_speed_kmh``. Results never go below the
straight line (see :func:`optimizer.distance.base.finish_matrices`) and are cached
on disk, keyed by the file's content, the points and the parameters.

pyrosm is imported only when a graph is first needed (the ``osm`` extra).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from optimizer.distance.base import (
    EARTH_RADIUS_M,
    DistanceServiceError,
    DistanceSpecError,
    LonLat,
    as_lonlat_array,
    finish_matrices,
    haversine_m,
)

log = logging.getLogger(__name__)

#: km/h by OSM ``highway`` value: average speeds of a heavy vehicle in mixed traffic
DEFAULT_SPEEDS_KMH: Mapping[str, float] = {
    "motorway": 80.0, "motorway_link": 45.0,
    "trunk": 65.0, "trunk_link": 40.0,
    "primary": 50.0, "primary_link": 35.0,
    "secondary": 45.0, "secondary_link": 30.0,
    "tertiary": 40.0, "tertiary_link": 25.0,
    "unclassified": 30.0, "residential": 25.0, "living_street": 10.0,
    "service": 15.0, "road": 25.0, "track": 15.0,
}
#: speed for a road class not in the table
FALLBACK_SPEED_KMH = 25.0
#: bumped when the way matrices are computed changes, so old cache files are not reused
_ALGORITHM_VERSION = 1
_FORWARD_ONLY = {"yes", "true", "1"}
_BACKWARD_ONLY = {"-1", "reverse"}
_TWO_WAY = {"no", "false", "0"}
_IMPLIED_ONEWAY_HIGHWAY = {"motorway", "motorway_link"}
_IMPLIED_ONEWAY_JUNCTION = {"roundabout", "circular"}
_SNAP_WARN_M = 1000.0


@dataclass(frozen=True)
class RoadGraph:
    """A directed road graph in CSR form, nodes numbered 0..n-1."""

    lon: np.ndarray
    lat: np.ndarray
    #: (n, n) scipy.sparse.csr_matrix of travel seconds
    time_s: Any
    #: (n, n) scipy.sparse.csr_matrix of metres, same sparsity pattern as time_s
    length_m: Any
    #: node numbers in the largest strongly connected part (where points snap to)
    core: np.ndarray


def _parse_maxspeed(value: Any) -> float:
    """km/h from an OSM ``maxspeed`` ("50", "30 mph", "50;60"); NaN when not a number."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan
    m = re.match(r"\s*(\d+(?:\.\d+)?)\s*(mph)?", str(value))
    if not m:
        return math.nan
    kmh = float(m.group(1)) * (1.609344 if m.group(2) else 1.0)
    return kmh if kmh > 0 else math.nan


def _tag_column(edges: Any, name: str) -> np.ndarray:
    """An OSM tag per edge as lower-case text ("" when absent), from its column or ``tags``."""
    n = len(edges)
    if name in edges.columns:
        col = edges[name]
        return np.array(["" if not isinstance(v, str) else v.strip().lower() for v in col],
                        dtype=object)
    out = np.full(n, "", dtype=object)
    if "tags" in edges.columns:
        for k, raw in enumerate(edges["tags"]):
            if isinstance(raw, str) and f'"{name}"' in raw:
                try:
                    value = json.loads(raw).get(name)
                except (json.JSONDecodeError, AttributeError):
                    continue
                if isinstance(value, str):
                    out[k] = value.strip().lower()
    return out


def directions(highway: np.ndarray, oneway: np.ndarray, junction: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """``(forward, backward)`` booleans per way segment, by the OSM one-way rules.

    ``oneway=yes/true/1`` forward only, ``-1/reverse`` backward only, ``no`` both;
    without a tag a roundabout and a motorway (or its link) are forward only.
    """
    fwd_only = np.isin(oneway, list(_FORWARD_ONLY))
    bwd_only = np.isin(oneway, list(_BACKWARD_ONLY))
    untagged = ~(fwd_only | bwd_only | np.isin(oneway, list(_TWO_WAY)))
    implied = untagged & (np.isin(highway, list(_IMPLIED_ONEWAY_HIGHWAY))
                          | np.isin(junction, list(_IMPLIED_ONEWAY_JUNCTION)))
    fwd_only = fwd_only | implied
    return ~bwd_only, ~fwd_only


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "road-matrices"


class OsmRoadNetwork:
    """Shortest (quickest) paths on the drivable roads of an ``.osm.pbf`` file.

    Parameters
    ----------
    pbf_path:
        An OpenStreetMap extract, e.g. a region cut from Geofabrik.
    speeds_kmh:
        km/h by ``highway`` value, merged over :data:`DEFAULT_SPEEDS_KMH`.
    cache_dir:
        Where matrices are kept between runs (default ``$XDG_CACHE_HOME/road-matrices``,
        ``~/.cache`` when unset).
        ``use_cache=False`` turns the disk cache off.
    access_speed_kmh:
        Speed on the snap leg between a point and its nearest road node.
    honour_maxspeed:
        Cap a road's speed by its numeric ``maxspeed`` tag.
    """

    kind = "osm"

    def __init__(
        self,
        pbf_path: str | os.PathLike[str],
        speeds_kmh: Mapping[str, float] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        *,
        access_speed_kmh: float = 10.0,
        fallback_speed_kmh: float = FALLBACK_SPEED_KMH,
        honour_maxspeed: bool = True,
        use_cache: bool = True,
    ) -> None:
        self.pbf_path = Path(pbf_path)
        speeds = dict(DEFAULT_SPEEDS_KMH)
        speeds.update({str(k): float(v) for k, v in (speeds_kmh or {}).items()})
        for name, v in [*speeds.items(), ("access", access_speed_kmh),
                        ("fallback", fallback_speed_kmh)]:
            if not (math.isfinite(v) and v > 0):
                raise DistanceSpecError(f"speed for {name} must be > 0 km/h (got {v})")
        self.speeds_kmh: dict[str, float] = speeds
        self.access_speed_kmh = float(access_speed_kmh)
        self.fallback_speed_kmh = float(fallback_speed_kmh)
        self.honour_maxspeed = bool(honour_maxspeed)
        self.use_cache = bool(use_cache)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else _default_cache_dir()
        self._graph: RoadGraph | None = None
        self._digest: str | None = None
        #: True when the last matrices() call was answered from the disk cache
        self.last_from_cache: bool = False

    def __repr__(self) -> str:
        return f"OsmRoadNetwork({str(self.pbf_path)!r})"

    # ------------------------------------------------------------------ public

    def describe(self) -> dict[str, Any]:
        """Never raises (callers use it in error messages): a missing file gives no hash."""
        try:
            digest: str | None = self._file_sha256()
        except (DistanceServiceError, OSError):
            digest = None
        return {
            "kind": self.kind,
            "pbf": self.pbf_path.name,
            "pbf_sha256": digest,
            "access_speed_kmh": self.access_speed_kmh,
            "honour_maxspeed": self.honour_maxspeed,
            "speeds_kmh": dict(sorted(self.speeds_kmh.items())),
        }

    def cache_path(self, points: Sequence[LonLat] | np.ndarray) -> Path:
        """The cache file that holds (or will hold) the matrices of ``points``."""
        arr = as_lonlat_array(points)
        h = hashlib.sha256()
        h.update(self._file_sha256().encode())
        params = {"v": _ALGORITHM_VERSION, "speeds": sorted(self.speeds_kmh.items()),
                  "access": self.access_speed_kmh, "fallback": self.fallback_speed_kmh,
                  "maxspeed": self.honour_maxspeed}
        h.update(json.dumps(params, sort_keys=True).encode())
        h.update(np.ascontiguousarray(np.round(arr, 7)).tobytes())
        return self.cache_dir / f"osm-{h.hexdigest()[:32]}.npz"

    def matrices(self, points: Sequence[LonLat]) -> tuple[np.ndarray, np.ndarray]:
        arr = as_lonlat_array(points)
        self.last_from_cache = False
        path = self.cache_path(arr) if self.use_cache else None
        if path is not None and path.exists():
            cached = self._read_cache(path, len(arr))
            if cached is not None:
                self.last_from_cache = True
                log.info("road matrices for %d points read from %s", len(arr), path)
                return cached
        dist, dur = self._compute(arr)
        if path is not None:
            self._write_cache(path, dist, dur)
        return dist, dur

    def graph(self) -> RoadGraph:
        """The road graph (read from the file once per instance)."""
        if self._graph is None:
            self._graph = self._build_graph()
        return self._graph

    # ------------------------------------------------------------------ internals

    def _file_sha256(self) -> str:
        if self._digest is None:
            if not self.pbf_path.is_file():
                raise DistanceServiceError(f"OSM file not found: {self.pbf_path}")
            self._digest = _file_digest(self.pbf_path)
        return self._digest

    def _read_cache(self, path: Path, n: int) -> tuple[np.ndarray, np.ndarray] | None:
        try:
            with np.load(path) as data:
                dist = np.asarray(data["distance_m"], dtype=np.int64)
                dur = np.asarray(data["duration_s"], dtype=np.int64)
        except (OSError, KeyError, ValueError) as exc:
            log.warning("ignoring unreadable cache file %s (%s)", path, exc)
            return None
        if dist.shape != (n, n) or dur.shape != (n, n):
            log.warning("ignoring cache file %s of the wrong shape", path)
            return None
        return dist, dur

    def _write_cache(self, path: Path, dist: np.ndarray, dur: np.ndarray) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.stem + f".{os.getpid()}.tmp.npz")
            np.savez_compressed(tmp, distance_m=dist, duration_s=dur)
            os.replace(tmp, path)
        except OSError as exc:  # a read-only cache must not stop planning
            log.warning("could not write cache file %s (%s)", path, exc)

    def _build_graph(self) -> RoadGraph:
        try:
            import pyrosm
        except ImportError:
            raise DistanceServiceError(
                "OSM road distances need pyrosm (the 'osm' extra): pip install pyrosm"
            ) from None
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import connected_components

        self._file_sha256()  # a clear error when the file is missing
        path = self.pbf_path
        try:
            nodes, edges = pyrosm.OSM(str(path)).get_network(network_type="driving", nodes=True)
        except Exception as exc:  # pyrosm raises many kinds on a broken file
            raise DistanceServiceError(f"cannot read roads from {path}: {exc}") from None
        if nodes is None or edges is None or len(edges) == 0:
            raise DistanceServiceError(f"no drivable roads in {path}")

        node_ids = nodes["id"].to_numpy(dtype=np.int64)
        order = np.argsort(node_ids)
        node_ids = node_ids[order]
        lon = nodes["lon"].to_numpy(dtype=np.float64)[order]
        lat = nodes["lat"].to_numpy(dtype=np.float64)[order]

        u_id = edges["u"].to_numpy(dtype=np.int64)
        v_id = edges["v"].to_numpy(dtype=np.int64)
        known = np.isin(u_id, node_ids) & np.isin(v_id, node_ids)
        edges = edges[known]
        u = np.searchsorted(node_ids, u_id[known])
        v = np.searchsorted(node_ids, v_id[known])
        length = edges["length"].to_numpy(dtype=np.float64)
        # a segment never counts shorter than the straight line between its nodes
        length = np.maximum(np.nan_to_num(length, nan=0.0),
                            haversine_m(lon[u], lat[u], lon[v], lat[v]))

        highway = _tag_column(edges, "highway")
        speed = np.array([self.speeds_kmh.get(h, self.fallback_speed_kmh) for h in highway])
        if self.honour_maxspeed and "maxspeed" in edges.columns:
            cap = np.array([_parse_maxspeed(x) for x in edges["maxspeed"]])
            speed = np.where(np.isnan(cap), speed, np.minimum(speed, cap))
        time = length / (speed / 3.6)

        fwd, bwd = directions(highway, _tag_column(edges, "oneway"),
                              _tag_column(edges, "junction"))
        src = np.concatenate([u[fwd], v[bwd]])
        dst = np.concatenate([v[fwd], u[bwd]])
        t = np.concatenate([time[fwd], time[bwd]])
        m = np.concatenate([length[fwd], length[bwd]])
        keep = src != dst
        src, dst, t, m = src[keep], dst[keep], t[keep], m[keep]
        # parallel edges: keep the quickest (csr would add them up)
        pick = np.lexsort((t, dst, src))
        src, dst, t, m = src[pick], dst[pick], t[pick], m[pick]
        first = np.ones(len(src), dtype=bool)
        first[1:] = (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])
        src, dst, t, m = src[first], dst[first], t[first], m[first]
        t = np.maximum(t, 1e-6)  # no zero weights: csgraph would drop them

        n = len(node_ids)
        time_s = csr_matrix((t, (src, dst)), shape=(n, n))
        length_m = csr_matrix((m, (src, dst)), shape=(n, n))
        _, labels = connected_components(time_s, directed=True, connection="strong")
        sizes = np.bincount(labels)
        core = np.flatnonzero(labels == int(np.argmax(sizes)))
        log.info("road graph of %s: %d nodes, %d directed edges, core of %d nodes",
                 path.name, n, len(src), len(core))
        return RoadGraph(lon=lon, lat=lat, time_s=time_s, length_m=length_m, core=core)

    def _snap(self, g: RoadGraph, arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest core node of each point and the great-circle metres to it."""
        from scipy.spatial import cKDTree

        lat0 = math.radians(float(np.mean(g.lat[g.core])))

        def xy(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
            return np.column_stack([np.radians(lon) * math.cos(lat0) * EARTH_RADIUS_M,
                                    np.radians(lat) * EARTH_RADIUS_M])

        tree = cKDTree(xy(g.lon[g.core], g.lat[g.core]))
        _, k = tree.query(xy(arr[:, 0], arr[:, 1]))
        node = g.core[np.asarray(k, dtype=np.int64)]
        snap_m = haversine_m(arr[:, 0], arr[:, 1], g.lon[node], g.lat[node])
        far = np.flatnonzero(snap_m > _SNAP_WARN_M)
        if far.size:
            log.warning("%d point(s) lie more than %.0f m from any road of %s (worst %.0f m)",
                        far.size, _SNAP_WARN_M, self.pbf_path.name, float(snap_m.max()))
        return node, np.asarray(snap_m, dtype=np.float64)

    def _compute(self, arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from scipy.sparse.csgraph import dijkstra

        n_pts = len(arr)
        if n_pts == 0:
            empty = np.zeros((0, 0), dtype=np.int64)
            return empty, empty.copy()
        g = self.graph()
        node, snap_m = self._snap(g, arr)
        sources, inverse = np.unique(node, return_inverse=True)
        road_s = np.empty((len(sources), len(sources)))
        road_m = np.empty((len(sources), len(sources)))
        batch = max(1, min(len(sources), 2_000_000 // max(1, g.time_s.shape[0])))
        for start in range(0, len(sources), batch):
            idx = sources[start:start + batch]
            secs, pred = dijkstra(g.time_s, directed=True, indices=idx,
                                  return_predecessors=True)
            metres = _path_lengths(pred, secs, g.length_m)
            road_s[start:start + len(idx)] = secs[:, sources]
            road_m[start:start + len(idx)] = metres[:, sources]
        if not (np.isfinite(road_s).all() and np.isfinite(road_m).all()):
            raise DistanceServiceError("road graph: some snapped nodes cannot reach each other")
        inv = inverse.reshape(-1)
        access_s = snap_m / (self.access_speed_kmh / 3.6)
        dist = snap_m[:, None] + road_m[np.ix_(inv, inv)] + snap_m[None, :]
        dur = access_s[:, None] + road_s[np.ix_(inv, inv)] + access_s[None, :]
        return finish_matrices(dist, dur, arr)


def _path_lengths(pred: np.ndarray, secs: np.ndarray, length_m: Any) -> np.ndarray:
    """Metres along each row's quickest-path tree, from Dijkstra's predecessor rows.

    Pointer doubling: every node adds the length of the path to its current
    ancestor, then jumps to that ancestor's ancestor, until all reach the root
    (the row's source). Nodes the row did not reach (``secs`` infinite) get +inf.
    """
    rows, n = pred.shape
    has = pred >= 0
    r_idx = np.repeat(np.arange(rows), n).reshape(rows, n)
    anc = np.where(has, pred, np.arange(n)[None, :])
    acc = np.zeros((rows, n))
    if has.any():
        # look the edges (parent -> node) up by key parent * n + node in the sorted CSR
        csr = length_m.tocsr()
        csr.sort_indices()
        keys = np.repeat(np.arange(n, dtype=np.int64), np.diff(csr.indptr)) * n + csr.indices
        cols = np.broadcast_to(np.arange(n, dtype=np.int64), (rows, n))
        want = anc[has].astype(np.int64) * n + cols[has]
        acc[has] = csr.data[np.searchsorted(keys, want)]
    while True:
        nxt = anc[r_idx, anc]
        if np.array_equal(nxt, anc):
            break
        acc = acc + acc[r_idx, anc]
        anc = nxt
    return np.where(np.isfinite(secs), acc, np.inf)
