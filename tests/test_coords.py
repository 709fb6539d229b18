"""Coordinate conversions against published reference pairs, and round trips."""

from __future__ import annotations

import numpy as np
import pytest

from logistics import coords

# wandergis/coordtransform, test/app.js ("//result" block): input (116.404, 39.915)
# lon, lat -> the outputs printed by that library.
COORDTRANSFORM_IN = (116.404, 39.915)
COORDTRANSFORM = {
    "bd09_to_gcj02": (116.39762729119315, 39.90865673957631),
    "gcj02_to_bd09": (116.41036949371029, 39.92133699351021),
    "wgs84_to_gcj02": (116.41024449916938, 39.91640428150164),
}

# googollee/eviltransform, python/test.py, TESTS: (wgsLat, wgsLng, gcjLat, gcjLng).
# eviltransform uses a = 6378137 m where GCJ-02 uses 6378245 m, so these agree to
# centimetres, not to the last digit.
EVILTRANSFORM = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # beijing
]


def test_forward_transforms_match_coordtransform_exactly() -> None:
    lon, lat = COORDTRANSFORM_IN
    assert coords.wgs84_to_gcj02(lon, lat) == pytest.approx(
        COORDTRANSFORM["wgs84_to_gcj02"], abs=1e-12
    )
    assert coords.gcj02_to_bd09(lon, lat) == pytest.approx(
        COORDTRANSFORM["gcj02_to_bd09"], abs=1e-12
    )


def test_bd09_to_gcj02_matches_baidu_closed_form_within_centimetres() -> None:
    # coordtransform uses Baidu's one-step closed form; ours is the exact inverse,
    # which differs from it by a few centimetres
    got = coords.bd09_to_gcj02(*COORDTRANSFORM_IN)
    assert coords.haversine_m(*got, *COORDTRANSFORM["bd09_to_gcj02"]) < 0.1
    # and is exact: going forward again gives the input back
    again = coords.gcj02_to_bd09(*got)
    assert coords.haversine_m(*again, *COORDTRANSFORM_IN) < 1e-4


def test_gcj02_to_wgs84_inverts_the_published_pair() -> None:
    # the published wgs84 -> gcj02 pair, read backwards
    got = coords.gcj02_to_wgs84(*COORDTRANSFORM["wgs84_to_gcj02"])
    assert coords.haversine_m(*got, *COORDTRANSFORM_IN) < 0.01
    # coordtransform's own gcj02towgs84 (one step) is ~1 m off: ours is not that
    one_step = (116.39775550083061, 39.91359571849836)
    exact = coords.gcj02_to_wgs84(*COORDTRANSFORM_IN)
    assert coords.haversine_m(*exact, *one_step) > 0.05


@pytest.mark.parametrize(("wlat", "wlon", "glat", "glon"), EVILTRANSFORM)
def test_eviltransform_pairs(wlat: float, wlon: float, glat: float, glon: float) -> None:
    assert coords.haversine_m(*coords.wgs84_to_gcj02(wlon, wlat), glon, glat) < 0.05
    assert coords.haversine_m(*coords.gcj02_to_wgs84(glon, glat), wlon, wlat) < 0.05


def test_round_trips_are_below_a_centimetre_over_china() -> None:
    rng = np.random.default_rng(7)
    lon = rng.uniform(73.5, 135.0, 20_000)
    lat = rng.uniform(18.0, 53.5, 20_000)
    for fwd, inv in [
        (coords.wgs84_to_gcj02, coords.gcj02_to_wgs84),
        (coords.gcj02_to_bd09, coords.bd09_to_gcj02),
        (coords.wgs84_to_bd09, coords.bd09_to_wgs84),
    ]:
        x, y = fwd(lon, lat)
        assert coords.haversine_m(lon, lat, x, y).min() > 1.0  # it really moved
        bx, by = inv(x, y)
        assert coords.haversine_m(lon, lat, bx, by).max() < 0.01


def test_vectorised_equals_scalar_and_keeps_shape() -> None:
    lon = np.array([[113.98, 116.404], [121.5272106, 2.35]])
    lat = np.array([[34.72, 39.915], [31.1774276, 48.85]])
    x, y = coords.wgs84_to_bd09(lon, lat)
    assert x.shape == (2, 2) and y.shape == (2, 2)
    for i in range(2):
        for j in range(2):
            assert (x[i, j], y[i, j]) == coords.wgs84_to_bd09(float(lon[i, j]), float(lat[i, j]))


def test_outside_china_unchanged() -> None:
    for fn in (
        coords.wgs84_to_gcj02,
        coords.gcj02_to_wgs84,
        coords.gcj02_to_bd09,
        coords.bd09_to_gcj02,
        coords.wgs84_to_bd09,
        coords.bd09_to_wgs84,
    ):
        assert fn(2.35, 48.85) == (2.35, 48.85)  # Paris
        assert fn(-74.0, 40.7) == (-74.0, 40.7)  # New York
    assert bool(coords.out_of_china(2.35, 48.85)) and not bool(coords.out_of_china(113.98, 34.72))


def test_to_wgs84_by_name() -> None:
    g = coords.wgs84_to_gcj02(113.98, 34.72)
    assert coords.to_wgs84(*g, "gcj02") == pytest.approx((113.98, 34.72), abs=1e-9)
    assert coords.to_wgs84(113.98, 34.72, "wgs84") == (113.98, 34.72)
    with pytest.raises(ValueError):
        coords.to_wgs84(1.0, 2.0, "utm")


def test_haversine_known_distance() -> None:
    # one degree of latitude on the mean-radius sphere = 111.195 km
    assert coords.haversine_m(113.0, 34.0, 113.0, 35.0) == pytest.approx(111195.08, abs=0.1)
