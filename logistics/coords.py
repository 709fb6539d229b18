"""Chinese map coordinate systems: WGS-84 (GPS, OSM), GCJ-02 (AMap/Gaode, Tencent) and
BD-09 (Baidu).

GCJ-02 is the published obfuscation of WGS-84 (semi-major axis 6378245 m, the
Krasovsky ellipsoid); BD-09 adds Baidu's extra rotation/offset on top of GCJ-02.
The forward transforms are closed formulas; the inverses are solved iteratively
(fixed-point iteration on the forward formula), so a round trip is exact to well
under a millimetre instead of the 1-2 m of the usual one-step approximation.

Every function takes scalars or numpy arrays (broadcast together) and returns the
same shape: ``lon, lat = wgs84_to_gcj02(lon, lat)``. Points outside the usual China
bounding box (``out_of_china``) are returned unchanged, as every public converter does.
"""

from __future__ import annotations

from typing import Any, overload

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "CRS_NAMES",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "haversine_m",
    "out_of_china",
    "to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

#: coordinate reference systems accepted in import files (``crs`` column)
CRS_NAMES = ("wgs84", "gcj02", "bd09")

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by GCJ-02
_EE = 0.00669342162296594323  # first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0
_EARTH_R_M = 6371008.8  # mean Earth radius (IUGG)
#: the inverses iterate until the change is below this (degrees, ~1e-7 m)
_TOL_DEG = 1e-12
_MAX_ITER = 50

FloatArray = NDArray[np.float64]


def out_of_china(lon: Any, lat: Any) -> Any:
    """True where a point lies outside the bounding box in which GCJ-02 applies."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _transform_lat(x: FloatArray, y: FloatArray) -> FloatArray:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: FloatArray, y: FloatArray) -> FloatArray:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return ret


def _gcj_offset(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(dlon, dlat) in degrees that GCJ-02 adds to a WGS-84 point."""
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    return dlon, dlat


def _arrays(lon: Any, lat: Any) -> tuple[FloatArray, FloatArray]:
    a, b = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return a.astype(float, copy=True), b.astype(float, copy=True)


def _out(lon: FloatArray, lat: FloatArray, scalar: bool) -> Any:
    if scalar:
        return float(lon), float(lat)
    return lon, lat


def _is_scalar(lon: Any, lat: Any) -> bool:
    return bool(np.ndim(lon) == 0 and np.ndim(lat) == 0)


def _wgs_to_gcj(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    inside = ~out_of_china(lon, lat)
    dlon, dlat = _gcj_offset(lon, lat)
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def _gcj_to_bd(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    inside = ~out_of_china(lon, lat)
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return (
        np.where(inside, z * np.cos(theta) + 0.0065, lon),
        np.where(inside, z * np.sin(theta) + 0.006, lat),
    )


def _invert(forward: Any, lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Solve forward(x) = (lon, lat) for x by fixed-point iteration
    x <- x - (forward(x) - target). The offsets vary slowly with position, so this
    contracts fast (3-5 steps to 1e-12 degrees)."""
    x, y = lon.copy(), lat.copy()
    for _ in range(_MAX_ITER):
        fx, fy = forward(x, y)
        ex, ey = fx - lon, fy - lat
        x -= ex
        y -= ey
        if not (np.any(np.abs(ex) > _TOL_DEG) or np.any(np.abs(ey) > _TOL_DEG)):
            break
    inside = ~out_of_china(lon, lat)
    return np.where(inside, x, lon), np.where(inside, y, lat)


@overload
def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def wgs84_to_gcj02(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]: ...
def wgs84_to_gcj02(lon: Any, lat: Any) -> Any:
    """WGS-84 -> GCJ-02 (AMap/Gaode, Tencent)."""
    x, y = _arrays(lon, lat)
    return _out(*_wgs_to_gcj(x, y), _is_scalar(lon, lat))


@overload
def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def gcj02_to_wgs84(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]: ...
def gcj02_to_wgs84(lon: Any, lat: Any) -> Any:
    """GCJ-02 -> WGS-84, exact inverse of :func:`wgs84_to_gcj02` (iterative)."""
    x, y = _arrays(lon, lat)
    return _out(*_invert(_wgs_to_gcj, x, y), _is_scalar(lon, lat))


@overload
def gcj02_to_bd09(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def gcj02_to_bd09(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]: ...
def gcj02_to_bd09(lon: Any, lat: Any) -> Any:
    """GCJ-02 -> BD-09 (Baidu)."""
    x, y = _arrays(lon, lat)
    return _out(*_gcj_to_bd(x, y), _is_scalar(lon, lat))


def _bd_to_gcj_closed(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Baidu's published closed-form inverse (good to ~1e-7 degrees): the start point."""
    x = lon - 0.0065
    y = lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _bd_to_gcj(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    inside = ~out_of_china(x, y)
    gx, gy = _bd_to_gcj_closed(x, y)
    for _ in range(_MAX_ITER):
        fx, fy = _gcj_to_bd(gx, gy)
        ex, ey = fx - x, fy - y
        gx -= ex
        gy -= ey
        if not (np.any(np.abs(ex) > _TOL_DEG) or np.any(np.abs(ey) > _TOL_DEG)):
            break
    return np.where(inside, gx, x), np.where(inside, gy, y)


@overload
def bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def bd09_to_gcj02(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]: ...
def bd09_to_gcj02(lon: Any, lat: Any) -> Any:
    """BD-09 -> GCJ-02, exact inverse of :func:`gcj02_to_bd09`: Baidu's closed form,
    then refined by iteration."""
    x, y = _arrays(lon, lat)
    return _out(*_bd_to_gcj(x, y), _is_scalar(lon, lat))


@overload
def wgs84_to_bd09(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def wgs84_to_bd09(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]: ...
def wgs84_to_bd09(lon: Any, lat: Any) -> Any:
    """WGS-84 -> BD-09 (through GCJ-02)."""
    x, y = _arrays(lon, lat)
    return _out(*_gcj_to_bd(*_wgs_to_gcj(x, y)), _is_scalar(lon, lat))


@overload
def bd09_to_wgs84(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def bd09_to_wgs84(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]: ...
def bd09_to_wgs84(lon: Any, lat: Any) -> Any:
    """BD-09 -> WGS-84 (through GCJ-02, both steps exact inverses)."""
    x, y = _arrays(lon, lat)
    return _out(*_invert(_wgs_to_gcj, *_bd_to_gcj(x, y)), _is_scalar(lon, lat))


def to_wgs84(lon: Any, lat: Any, crs: str) -> Any:
    """Convert from ``crs`` (one of :data:`CRS_NAMES`) to WGS-84."""
    if crs == "wgs84":
        x, y = _arrays(lon, lat)
        return _out(x, y, _is_scalar(lon, lat))
    if crs == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if crs == "bd09":
        return bd09_to_wgs84(lon, lat)
    raise ValueError(f"unknown crs {crs!r}; expected one of {CRS_NAMES}")


def haversine_m(lon1: Any, lat1: Any, lon2: Any, lat2: Any) -> Any:
    """Great-circle distance in metres on a sphere of the mean Earth radius."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2, dtype=float) - np.asarray(lon1, dtype=float))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    d = 2 * _EARTH_R_M * np.arcsin(np.sqrt(np.minimum(a, 1.0)))
    return float(d) if np.ndim(d) == 0 else d
