"""The distance model interface, its errors, the straight-line floor and Haversine.

A :class:`DistanceModel` turns a list of ``(lon, lat)`` WGS-84 points into two
square ``int64`` matrices, ``distance_m`` and ``duration_s``, ready for
:class:`optimizer.problem.Problem`. Every model keeps one rule: no entry of
``distance_m`` is shorter than the straight line (great circle, see
:func:`haversine_m`) between its two points, rounded up to whole metres
(:func:`finish_matrices`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

#: mean Earth radius (IUGG), metres; the "straight line" of the plan rules
EARTH_RADIUS_M = 6_371_008.8

LonLat = tuple[float, float]


class DistanceError(Exception):
    """Base class of the distance errors; the message is meant for a person."""


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
    return np.asarray(np.ceil(h), dtype=np.float64).astype(np.int64)


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
        return {"kind": self.kind, "detour_factor": plain_number(self.detour_factor),
                "speed_kmh": plain_number(self.speed_kmh)}


def plain_number(x: float) -> int | float:
    """25.0 -> 25 (as the plan document shows it); 1.3 stays 1.3."""
    return int(x) if float(x).is_integer() else float(x)
