"""Matrices computed when read: what a large day uses instead of a full n x n matrix.

A :class:`LazyMatrix` looks like a read-only square integer matrix (``shape``,
``ndim``, numpy indexing with integers, integer arrays and ``np.ix_``), but it holds
only the points and the distance model, and computes the entries a caller reads.
Reading ``m[np.ix_(locs, locs)]`` gives a part's own dense matrix; reading
``m[a, b]`` gives one leg. Memory therefore grows with the points read at once,
never with the square of the whole day (a 50,000-point day as two int64 matrices
would take 40 GB).

Entries equal those of ``model.matrices(points)`` for the same two points: for
:class:`~optimizer.distance.base.Haversine` the same formula, element by element
(vectorised); for other models the model itself is asked for the matrix of the
distinct points read (road models give the same shortest path whatever else is
asked, so the entries agree).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from optimizer.distance.base import DistanceModel, Haversine, LonLat, as_lonlat_array, haversine_m

#: the two matrices a model gives
KINDS = ("distance_m", "duration_s")


def haversine_pairs(model: Haversine, lon_a: np.ndarray, lat_a: np.ndarray,
                    lon_b: np.ndarray, lat_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``model.matrices`` entries for the pairs ``(a[i], b[i])`` (broadcast): the same
    rounding as :meth:`Haversine.matrices`, so any entry read here equals the full
    matrix's (metres never below the great circle, zero from a point to itself)."""
    straight = haversine_m(lon_a, lat_a, lon_b, lat_b)
    dist = np.ceil(model.detour_factor * straight - 1e-9)
    dist = np.maximum(dist, np.ceil(straight)).astype(np.int64)
    same = (lon_a == lon_b) & (lat_a == lat_b)
    dist = np.where(same, 0, dist)
    dur = np.ceil(dist / (model.speed_kmh / 3.6) - 1e-9).astype(np.int64)
    return dist, dur


class LazyMatrix:
    """One of a model's two matrices (``kind``) over ``points``, computed when read.

    Supports what the engine reads: ``m[i, j]`` (an int), ``m[rows, cols]`` with
    integer arrays that broadcast (``np.ix_`` included), ``m[i]`` (a row),
    ``shape``, ``ndim``, ``len()``. Writing is not supported.
    """

    def __init__(self, points: Sequence[LonLat] | np.ndarray, model: DistanceModel,
                 kind: str = "distance_m") -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS} (got {kind!r})")
        self.points = as_lonlat_array(points)
        self.points.setflags(write=False)
        self.model = model
        self.kind = kind
        self._col = KINDS.index(kind)

    # ---------------------------------------------------------------- array-like
    @property
    def shape(self) -> tuple[int, int]:
        n = int(self.points.shape[0])
        return n, n

    @property
    def ndim(self) -> int:
        return 2

    @property
    def dtype(self) -> np.dtype[Any]:
        return np.dtype(np.int64)

    def __len__(self) -> int:
        return int(self.points.shape[0])

    def __repr__(self) -> str:
        return f"LazyMatrix({self.kind}, {len(self)} points, {self.model!r})"

    def __getitem__(self, key: Any) -> Any:
        if not isinstance(key, tuple):
            key = (key, slice(None))
        if len(key) != 2:
            raise IndexError("a LazyMatrix takes two indices")
        rows, cols = (self._index(k) for k in key)
        scalar = rows.ndim == 0 and cols.ndim == 0
        out = self.pairs(rows, cols)
        return int(out) if scalar else out

    def _index(self, k: Any) -> np.ndarray:
        n = len(self)
        if isinstance(k, slice):
            return np.arange(n)[k]
        arr = np.asarray(k)
        if arr.dtype == bool:
            raise IndexError("boolean indexing is not supported by LazyMatrix")
        arr = arr.astype(np.int64, copy=False)
        if arr.size and (arr.min() < -n or arr.max() >= n):
            raise IndexError(f"index out of range for {n} points")
        return np.where(arr < 0, arr + n, arr)

    def pairs(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Entries for ``(rows, cols)`` broadcast against each other."""
        rows, cols = np.broadcast_arrays(np.asarray(rows), np.asarray(cols))
        if rows.size == 0:
            return np.zeros(rows.shape, dtype=np.int64)
        if isinstance(self.model, Haversine):
            p = self.points
            out = haversine_pairs(self.model, p[rows, 0], p[rows, 1], p[cols, 0], p[cols, 1])
            return out[self._col]
        # any other model: its own matrix over the distinct points read
        uniq, inv = np.unique(np.concatenate([rows.ravel(), cols.ravel()]), return_inverse=True)
        mats = self.model.matrices([tuple(pt) for pt in self.points[uniq]])
        m = np.asarray(mats[self._col], dtype=np.int64)
        r, c = inv[: rows.size].reshape(rows.shape), inv[rows.size:].reshape(cols.shape)
        return m[r, c]

    def block(self, locations: Sequence[int] | np.ndarray) -> np.ndarray:
        """The dense square matrix among ``locations`` (a part's own matrix), int64."""
        locs = np.asarray(locations, dtype=np.int64)
        return np.asarray(self[np.ix_(locs, locs)], dtype=np.int64)

    # numpy conversion would build the full matrix: refuse it loudly
    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError("a LazyMatrix is never turned into a full matrix; read parts of it")


def lazy_pair(points: Sequence[LonLat] | np.ndarray,
              model: DistanceModel) -> tuple[LazyMatrix, LazyMatrix]:
    """``(distance_m, duration_s)`` as lazy matrices over ``points``."""
    return LazyMatrix(points, model, "distance_m"), LazyMatrix(points, model, "duration_s")


def part_matrices(model: DistanceModel,
                  points: Sequence[LonLat] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A part's dense ``(distance_m, duration_s)``; for Haversine computed by the same
    element-wise formula as :class:`LazyMatrix` (so legs agree exactly), else by the
    model."""
    arr = as_lonlat_array(points)
    if isinstance(model, Haversine):
        lon, lat = arr[:, 0], arr[:, 1]
        return haversine_pairs(model, lon[:, None], lat[:, None], lon[None, :], lat[None, :])
    dist, dur = model.matrices([tuple(pt) for pt in arr])
    return np.asarray(dist, dtype=np.int64), np.asarray(dur, dtype=np.int64)


__all__ = ["LazyMatrix", "haversine_pairs", "lazy_pair", "part_matrices"]
