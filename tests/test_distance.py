"""Haversine model, the straight-line rule, and from_spec."""

from __future__ import annotations

import math

import numpy as np
import pytest

from optimizer.distance import (
    DistanceModel,
    DistanceSpecError,
    Haversine,
    OsrmTable,
    ValhallaMatrix,
    from_spec,
    haversine_m,
    straight_line_m,
)
from optimizer.problem import Problem, Vehicle

# a few places around Zhongmou county (lon, lat), plus a duplicate point
ZHONGMOU = [
    (113.9760, 34.7190),
    (113.9900, 34.7300),
    (114.0100, 34.7000),
    (113.8500, 34.6200),
    (114.1800, 34.8100),
    (113.9760, 34.7190),
]


def test_haversine_known_values() -> None:
    # one degree of latitude on the mean-radius sphere is pi/180 * R
    assert haversine_m(0.0, 0.0, 0.0, 1.0) == pytest.approx(111_195.08, abs=0.01)
    # a quarter of the equator
    assert haversine_m(0.0, 0.0, 90.0, 0.0) == pytest.approx(math.pi / 2 * 6_371_008.8)
    assert haversine_m(113.9, 34.7, 113.9, 34.7) == 0.0


def test_haversine_is_vectorised_and_symmetric() -> None:
    lon = np.array([p[0] for p in ZHONGMOU])
    lat = np.array([p[1] for p in ZHONGMOU])
    m = haversine_m(lon[:, None], lat[:, None], lon[None, :], lat[None, :])
    assert m.shape == (6, 6)
    assert np.allclose(m, m.T)
    for i in range(6):
        for j in range(6):
            assert m[i, j] == pytest.approx(float(haversine_m(lon[i], lat[i], lon[j], lat[j])))


def test_haversine_model_matrices() -> None:
    model = Haversine(detour_factor=1.3, speed_kmh=25.0)
    dist, dur = model.matrices(ZHONGMOU)
    assert dist.dtype == np.int64 and dur.dtype == np.int64
    assert dist.shape == dur.shape == (6, 6)
    assert (np.diag(dist) == 0).all() and (np.diag(dur) == 0).all()
    assert dist[0, 5] == 0 and dist[5, 0] == 0  # same place
    h = haversine_m(*ZHONGMOU[0], *ZHONGMOU[3])
    assert dist[0, 3] == math.ceil(1.3 * h)
    assert dur[0, 3] == math.ceil(dist[0, 3] / (25.0 / 3.6))
    assert (dist == dist.T).all()


@pytest.mark.parametrize("detour", [1.0, 1.0000001, 1.3])
def test_no_leg_shorter_than_the_straight_line(detour: float) -> None:
    rng = np.random.default_rng(7)
    pts = list(zip(rng.uniform(113.5, 114.5, 40), rng.uniform(34.3, 35.0, 40), strict=True))
    dist, _ = Haversine(detour_factor=detour).matrices(pts)
    lon = np.array([p[0] for p in pts])
    lat = np.array([p[1] for p in pts])
    straight = haversine_m(lon[:, None], lat[:, None], lon[None, :], lat[None, :])
    assert (dist >= straight).all()
    if detour == 1.0:  # rounded up, by less than a metre
        assert (dist - straight < 1.0).all()
    assert (dist >= straight_line_m(pts)).all()


def test_matrices_fit_a_problem() -> None:
    dist, dur = Haversine().matrices(ZHONGMOU)
    problem = Problem(distance_m=dist, duration_s=dur, clients=(),
                      vehicles=(Vehicle(0, 0, {"a": 1}),))
    assert problem.num_locations == 6


def test_describe_matches_the_plan_document() -> None:
    assert Haversine().describe() == {"kind": "haversine", "detour_factor": 1.3, "speed_kmh": 25}
    assert isinstance(Haversine(), DistanceModel)


def test_empty_and_single_point() -> None:
    d, t = Haversine().matrices([])
    assert d.shape == (0, 0) and t.shape == (0, 0)
    d, t = Haversine().matrices([(114.0, 34.7)])
    assert d.tolist() == [[0]] and t.tolist() == [[0]]


@pytest.mark.parametrize(
    "points",
    [[(34.7, 200.0)], [(float("nan"), 34.7)], [(114.0, 34.7, 0.0)], [(181.0, 10.0)]],
)
def test_bad_points_are_rejected(points: list[tuple[float, ...]]) -> None:
    with pytest.raises(DistanceSpecError):
        Haversine().matrices(points)  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs", [{"detour_factor": 0.9}, {"speed_kmh": 0.0},
                                    {"speed_kmh": float("nan")}])
def test_bad_parameters_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(DistanceSpecError):
        Haversine(**kwargs)


def test_from_spec_haversine() -> None:
    m = from_spec("haversine")
    assert isinstance(m, Haversine)
    assert m.describe() == {"kind": "haversine", "detour_factor": 1.3, "speed_kmh": 25}
    m = from_spec("haversine:detour=1.4,speed=30")
    assert m.describe() == {"kind": "haversine", "detour_factor": 1.4, "speed_kmh": 30}
    assert from_spec("  HAVERSINE:speed=12.5 ").describe()["speed_kmh"] == 12.5


def test_from_spec_servers() -> None:
    m = from_spec("osrm:http://127.0.0.1:5000")
    assert isinstance(m, OsrmTable)
    assert m.describe() == {"kind": "osrm", "base_url": "http://127.0.0.1:5000",
                            "profile": "driving"}
    m = from_spec("osrm:http://127.0.0.1:5000/,profile=truck,chunk=25")
    assert isinstance(m, OsrmTable)
    assert (m.base_url, m.profile, m.chunk_size) == ("http://127.0.0.1:5000", "truck", 25)
    v = from_spec("valhalla:http://localhost:8002,costing=truck")
    assert isinstance(v, ValhallaMatrix)
    assert v.describe() == {"kind": "valhalla", "base_url": "http://localhost:8002",
                            "costing": "truck"}


@pytest.mark.parametrize(
    "spec",
    ["", "manhattan", "haversine:detour=abc", "haversine:foo=1", "haversine:detour=0.5",
     "osrm:", "osrm:127.0.0.1:5000", "valhalla:ftp://x", "osm:", "osrm:http://h:5000,x=1"],
)
def test_from_spec_rejects_bad_text(spec: str) -> None:
    with pytest.raises(DistanceSpecError) as err:
        from_spec(spec)
    assert str(err.value)  # a message a person can read
