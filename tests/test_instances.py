"""Benchmark readers: tiny checked-in files, plus the shared sets when present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from optimizer.instances import (
    FAMILIES,
    InstanceError,
    instance_paths,
    read_bks,
    read_instance,
    read_sol,
    write_sol,
)

DATA = Path(__file__).parent / "data" / "bench"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"


def test_solomon_reader_scales_by_ten_and_truncates() -> None:
    inst = read_instance(DATA / "solomon_100" / "T6.vrp")
    assert inst.family == "solomon" and inst.name == "T6"
    assert inst.client_nodes == [1, 2, 3, 4, 5]
    p = inst.problem()
    assert len(p.vehicles) == 3  # VEHICLES : 3
    # node 3 -> node 4 is sqrt(90) = 9.486..., DIMACS keeps 9.4, held as 94
    assert p.distance_m[3, 4] == 94
    assert (p.duration_s == p.distance_m).all()
    c3 = p.clients[2]
    assert c3.location == 3 and (c3.tw_start_s, c3.tw_end_s, c3.service_s) == (200, 300, 10)
    assert dict(c3.demand) == {"load": 3}
    assert p.vehicles[0].shift_end_s == 1000 and p.vehicles[0].capacities["load"] == 10


def test_cvrp_reader_rounds_to_nearest_and_leaves_slack_vehicles() -> None:
    inst = read_instance(DATA / "cvrplib_x" / "X-n6-k2.vrp")
    assert inst.family == "cvrp"
    p = inst.problem()
    assert p.distance_m[3, 4] == 9 and p.distance_m[0, 5] == 1 and p.distance_m[5, 1] == 4
    assert len(p.vehicles) > 2 and not p.end_empty


def test_kim_reader_units() -> None:
    inst = read_instance(DATA / "kim_wcvrptw" / "5_stop.txt")
    assert inst.family == "kim"
    assert (inst.capacity, inst.day_cap, inst.max_stops, inst.break_s, inst.speed_mph) == (
        10.0,
        15.0,
        3,
        3600,
        60.0,
    )
    assert inst.facility_nodes == [1] and inst.client_nodes == [2, 3, 4]
    p = inst.problem()
    assert p.end_empty and len(p.facilities) == 1
    f = p.facilities[0]
    # a mile east; 60 mph: 60 s; the window bounds the start, so close = 24:00 + unload
    assert p.duration_s[0, 1] == 60 and p.distance_m[0, 1] == round(5280 * 0.3048)
    assert (f.open_s, f.close_s, f.unload_s) == (0, 86400 + 600, 600)
    v = p.vehicles[0]
    assert (v.capacities["load"], v.max_collected, v.max_stops) == (1000, 1500, 3)
    assert (v.shift_start_s, v.shift_end_s) == (4 * 3600, 15 * 3600)
    assert (v.break_s, v.break_earliest_s, v.break_latest_s) == (3600, 11 * 3600, 12 * 3600)
    assert p.clients[2].tw_start_s == 8 * 3600 and dict(p.clients[2].demand) == {"load": 500}


def test_kim_example_from_the_authors() -> None:
    path = SHARED / "kim_wcvrptw" / "102_stop.txt"
    if not path.exists():
        pytest.skip("shared benchmarks not present")
    inst = read_instance(path)
    from optimizer.instances import kim_miles, kim_travel_s

    # benchmark.html: stops 0 -> 1 are 15 387 ft = 2.914 mi, 262.3 s at 40 mph
    assert kim_miles(inst)[0, 1] == pytest.approx(15387 / 5280)
    assert kim_travel_s(inst)[0, 1] == pytest.approx(262.3, abs=0.05)
    assert len(inst.client_nodes) == 99 and len(inst.facility_nodes) == 2


def test_sol_round_trip(tmp_path: Path) -> None:
    sol = read_sol(DATA / "solomon_100" / "T6.sol")
    assert sol.routes == [[5, 1, 2], [4, 3]] and sol.cost == pytest.approx(39.4)
    write_sol(tmp_path / "x.sol", sol.routes, 39.4)
    assert read_sol(tmp_path / "x.sol") == sol


def test_bks_tables() -> None:
    assert read_bks(DATA, "solomon")["T6"].cost == pytest.approx(39.4)
    assert read_bks(DATA, "cvrp")["X-n6-k2"].cost == 39
    kim = read_bks(DATA, "kim")
    assert set(kim) == {"5_stop"} and kim["5_stop"].cost is None and kim["5_stop"].vehicles == 1


def test_instance_paths_filters_and_rejects_unknown_names() -> None:
    assert [p.name for p in instance_paths(DATA, "kim")] == ["5_stop.txt"]
    assert [p.name for p in instance_paths(DATA, "solomon", only=["T6"])] == ["T6.vrp"]
    with pytest.raises(InstanceError):
        instance_paths(DATA, "solomon", only=["nope"])
    with pytest.raises(InstanceError):
        instance_paths(DATA, "tsp")


@pytest.mark.parametrize("family", FAMILIES)
def test_every_shared_instance_reads(family: str) -> None:
    if not SHARED.exists():
        pytest.skip("shared benchmarks not present")
    paths = instance_paths(SHARED, family)
    assert paths
    bks = read_bks(SHARED, family)
    for path in paths:
        inst = read_instance(path, family)
        p = inst.problem()
        assert inst.name in bks
        assert len(p.clients) == len(inst.client_nodes) == int((inst.node_type == 1).sum())
        assert np.all(np.diag(p.distance_m) == 0)
