"""OsmRoadNetwork on the small Finnish extract that pyrosm ships (test.osm.pbf).

The data is bundled inside the pyrosm wheel (pyrosm/data/test.osm.pbf), so
these tests run offline. They are skipped when the ``osm`` extra is not installed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from optimizer.distance import DistanceServiceError, from_spec, haversine_m

pyrosm = pytest.importorskip("pyrosm")

from optimizer.distance.osm import OsmRoadNetwork, directions  # noqa: E402

# Hiidenkirnuntie (OSM way 41417076) is tagged oneway=yes (tertiary); these are
# its nodes 3680689342 -> 876278368, 78.0 m apart along the way, in its direction.
ONEWAY_FROM = (26.9596086, 60.5320744)
ONEWAY_TO = (26.9583740, 60.5324256)


@pytest.fixture(scope="module")
def pbf() -> Path:
    path = Path(pyrosm.get_data("test_pbf"))
    assert path.is_file()
    return path


@pytest.fixture(scope="module")
def network(pbf: Path) -> OsmRoadNetwork:
    return OsmRoadNetwork(pbf, use_cache=False)


def test_bundled_extract_has_the_one_way_street(pbf: Path) -> None:
    # independent of our code: what pyrosm reads from the file
    _, edges = pyrosm.OSM(str(pbf)).get_network(network_type="driving", nodes=True)
    way = edges[(edges["u"] == 3680689342) & (edges["v"] == 876278368)]
    assert len(way) == 1
    assert way.iloc[0]["oneway"] == "yes"
    assert way.iloc[0]["length"] == pytest.approx(78.0, abs=0.1)


def test_one_way_street_gives_asymmetric_distances_and_times(network: OsmRoadNetwork) -> None:
    dist, dur = network.matrices([ONEWAY_FROM, ONEWAY_TO])
    # with the flow: the way itself (78.011 m rounded up), at 40 km/h for a tertiary road
    assert dist[0, 1] == 79
    assert dur[0, 1] == pytest.approx(78.011 / (40 / 3.6), abs=1)
    # against it: round the block, several times longer
    assert dist[1, 0] > 4 * dist[0, 1]
    assert dur[1, 0] > 4 * dur[0, 1]


def test_two_way_street_is_symmetric(network: OsmRoadNetwork) -> None:
    # Hurukselantie (secondary, no oneway tag): nodes 36156596 -> 2316826913, 20.1 m
    a, b = (26.943103, 60.525798), (26.942948, 60.525962)
    dist, dur = network.matrices([a, b])
    assert dist[0, 1] == dist[1, 0]
    assert dur[0, 1] == dur[1, 0]
    assert 20 <= dist[0, 1] <= 22


def test_matrices_are_complete_and_never_below_the_straight_line(
    network: OsmRoadNetwork,
) -> None:
    rng = np.random.default_rng(3)
    pts = list(zip(rng.uniform(26.931, 26.969, 25), rng.uniform(60.521, 60.539, 25),
                   strict=True))
    dist, dur = network.matrices(pts)
    assert dist.dtype == np.int64 and dur.dtype == np.int64
    assert dist.shape == dur.shape == (25, 25)
    assert (np.diag(dist) == 0).all() and (np.diag(dur) == 0).all()
    off = ~np.eye(25, dtype=bool)
    assert (dist[off] > 0).all() and (dur[off] > 0).all()
    lon = np.array([p[0] for p in pts])
    lat = np.array([p[1] for p in pts])
    straight = haversine_m(lon[:, None], lat[:, None], lon[None, :], lat[None, :])
    assert (dist >= straight).all()


def test_distances_follow_the_quickest_paths_lengths(pbf: Path) -> None:
    """With one speed everywhere the quickest path is the shortest one, so the
    reported metres must equal a plain shortest-path search on lengths."""
    from scipy.sparse.csgraph import dijkstra

    same = {k: 30.0 for k in ("motorway", "motorway_link", "secondary", "tertiary",
                              "residential", "unclassified", "living_street")}
    net = OsmRoadNetwork(pbf, speeds_kmh=same, fallback_speed_kmh=30.0,
                         honour_maxspeed=False, use_cache=False)
    g = net.graph()
    nodes = g.core[:: max(1, len(g.core) // 12)][:12]
    pts = list(zip(g.lon[nodes], g.lat[nodes], strict=True))
    dist, dur = net.matrices(pts)
    shortest = dijkstra(g.length_m, directed=True, indices=nodes)[:, nodes]
    expected = np.maximum(np.ceil(shortest - 1e-6), 0)
    off = ~np.eye(len(nodes), dtype=bool)
    assert np.abs(dist[off] - expected[off]).max() <= 1
    assert np.abs(dur[off] - shortest[off] / (30 / 3.6)).max() <= 1.01


def test_points_off_the_road_are_snapped_with_the_snap_leg(network: OsmRoadNetwork) -> None:
    # 50 m north of each end of the one-way street
    north = 50.0 / 111_195.0
    a = (ONEWAY_FROM[0], ONEWAY_FROM[1] + north)
    b = (ONEWAY_TO[0], ONEWAY_TO[1] + north)
    on_road, _ = network.matrices([ONEWAY_FROM, ONEWAY_TO])
    off_road, _ = network.matrices([a, b])
    # each end gains at most the 50 m snap leg (nearest node may be another one)
    assert on_road[0, 1] < off_road[0, 1] <= on_road[0, 1] + 2 * 50 + 2


def test_cache_is_written_and_reused(pbf: Path, tmp_path: Path) -> None:
    pts = [ONEWAY_FROM, ONEWAY_TO, (26.95, 60.53)]
    first = OsmRoadNetwork(pbf, cache_dir=tmp_path)
    d1, t1 = first.matrices(pts)
    path = first.cache_path(pts)
    assert path.parent == tmp_path and path.is_file()
    assert first.last_from_cache is False

    second = OsmRoadNetwork(pbf, cache_dir=tmp_path)
    d2, t2 = second.matrices(pts)
    assert second.last_from_cache is True
    assert (d1 == d2).all() and (t1 == t2).all()

    # the file really is what is read: alter it and a new instance returns the altered values
    np.savez_compressed(path, distance_m=d1 + 1000, duration_s=t1 + 7)
    d3, t3 = OsmRoadNetwork(pbf, cache_dir=tmp_path).matrices(pts)
    assert (d3 == d1 + 1000).all() and (t3 == t1 + 7).all()


def test_cache_key_depends_on_points_and_parameters(pbf: Path, tmp_path: Path) -> None:
    pts = [ONEWAY_FROM, ONEWAY_TO]
    base = OsmRoadNetwork(pbf, cache_dir=tmp_path)
    assert base.cache_path(pts) == OsmRoadNetwork(pbf, cache_dir=tmp_path).cache_path(pts)
    assert base.cache_path(pts) != base.cache_path(pts[::-1])
    slower = OsmRoadNetwork(pbf, cache_dir=tmp_path, speeds_kmh={"tertiary": 20})
    assert base.cache_path(pts) != slower.cache_path(pts)
    d_slow, t_slow = slower.matrices(pts)
    _, t_base = base.matrices(pts)
    assert slower.last_from_cache is False and t_slow[0, 1] > t_base[0, 1]


def test_unreadable_cache_file_is_recomputed(pbf: Path, tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    pts = [ONEWAY_FROM, ONEWAY_TO]
    net = OsmRoadNetwork(pbf, cache_dir=tmp_path)
    net.cache_path(pts).write_bytes(b"not a numpy file")
    with caplog.at_level(logging.WARNING):
        dist, _ = net.matrices(pts)
    assert dist[0, 1] == 79 and net.last_from_cache is False
    assert "unreadable cache" in caplog.text


def test_describe(network: OsmRoadNetwork) -> None:
    d = network.describe()
    assert d["kind"] == "osm" and d["pbf"] == "test.osm.pbf"
    assert len(d["pbf_sha256"]) == 64
    assert d["speeds_kmh"]["residential"] == 25.0


def test_from_spec_osm(pbf: Path, tmp_path: Path) -> None:
    model = from_spec(f"osm:{pbf},cache={tmp_path},access_speed=5")
    assert isinstance(model, OsmRoadNetwork)
    assert model.cache_dir == tmp_path and model.access_speed_kmh == 5.0
    dist, _ = model.matrices([ONEWAY_FROM, ONEWAY_TO])
    assert dist[0, 1] == 79


def test_missing_or_broken_file_is_a_service_error(tmp_path: Path) -> None:
    missing = OsmRoadNetwork(tmp_path / "nope.osm.pbf")
    with pytest.raises(DistanceServiceError, match="not found"):
        missing.matrices([ONEWAY_FROM, ONEWAY_TO])
    assert missing.describe()["pbf_sha256"] is None  # usable in the error message
    broken = tmp_path / "broken.osm.pbf"
    broken.write_bytes(b"\x00\x00\x00\x0dthis is not a pbf file at all")
    with pytest.raises(DistanceServiceError):
        OsmRoadNetwork(broken, use_cache=False).matrices([ONEWAY_FROM, ONEWAY_TO])


def test_one_way_rules() -> None:
    highway = np.array(["residential", "residential", "residential", "motorway",
                        "motorway", "tertiary", "tertiary"], dtype=object)
    oneway = np.array(["", "yes", "-1", "", "no", "", "true"], dtype=object)
    junction = np.array(["", "", "", "", "", "roundabout", ""], dtype=object)
    fwd, bwd = directions(highway, oneway, junction)
    assert fwd.tolist() == [True, True, False, True, True, True, True]
    assert bwd.tolist() == [True, False, True, False, True, False, False]
