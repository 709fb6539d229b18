"""PyVRP engine: what it claims to support, and Solutions that pass Solution.check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from optimizer.bench import check_routes, solution_routes
from optimizer.instances import read_instance
from optimizer.params import SolveParams
from optimizer.problem import Client, Facility, Problem, Vehicle
from optimizer.pyvrp_engine import solve_pyvrp, supports, unsupported_rules
from optimizer.solution import Reason

DATA = Path(__file__).parent / "data" / "bench"
#: bounded by iterations, not time: the same plan on any machine
FAST = SolveParams(time_limit_s=60.0, engine="pyvrp", solution_limit=200)


def _line_problem(**kw: object) -> Problem:
    """Depot at 0, facility at 1 km, clients at 2..5 km on a line (60 s per km)."""
    xs = np.array([0, 1000, 2000, 3000, 4000, 5000])
    dist = np.abs(xs[:, None] - xs[None, :])
    clients = kw.pop("clients", None) or (
        Client(2, {"a": 4}, service_s=30),
        Client(3, {"a": 4}, service_s=30),
        Client(4, {"b": 3}, service_s=30),
        Client(5, {"a": 2, "b": 2}, service_s=30, tw_start_s=600, tw_end_s=3600),
    )
    vehicles = kw.pop("vehicles", None) or (
        Vehicle(0, 0, {"a": 6, "b": 5}, shift_start_s=0, shift_end_s=8 * 3600),
        Vehicle(0, 0, {"a": 6, "b": 5}, shift_start_s=0, shift_end_s=8 * 3600),
    )
    facilities = kw.pop("facilities", None) or (
        Facility(1, frozenset({"a", "b"}), open_s=0, close_s=10 * 3600, unload_s=120),
    )
    return Problem(
        distance_m=dist,
        duration_s=dist * 60 // 1000,
        clients=clients,  # type: ignore[arg-type]
        vehicles=vehicles,  # type: ignore[arg-type]
        facilities=facilities,  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def test_supports_plain_rich_problems_but_not_breaks_or_caps() -> None:
    p = _line_problem()
    assert supports(p) and unsupported_rules(p) == []
    with_break = _line_problem(
        vehicles=(
            Vehicle(0, 0, {"a": 6, "b": 5}, break_s=600, break_earliest_s=0, break_latest_s=3600),
        )
    )
    assert not supports(with_break)
    assert any("break" in r for r in unsupported_rules(with_break))
    capped = _line_problem(vehicles=(Vehicle(0, 0, {"a": 6, "b": 5}, max_collected=10),))
    assert not supports(capped)
    partial = _line_problem(facilities=(Facility(1, frozenset({"a"})),))
    assert not supports(partial)


def test_multi_compartment_multi_trip_solution_checks() -> None:
    p = _line_problem(vehicles=(Vehicle(0, 0, {"a": 6, "b": 5}, shift_end_s=8 * 3600),))
    sol = solve_pyvrp(p, FAST)
    assert sol.engine == "pyvrp"
    assert sol.check(p) == []
    assert not sol.unassigned
    (route,) = sol.routes
    # 10 units of "a" on a 6-unit compartment: at least one unload before the end,
    # and the vehicle comes home empty
    assert sum(1 for v in route.visits if v.kind == "facility") >= 2
    assert route.visits[-2].kind == "facility"
    assert all(q == 0 for q in route.visits[-1].load_after.values())
    c3 = next(v for v in route.visits if v.kind == "client" and v.index == 3)
    assert 600 <= c3.start_s <= 3600


def test_client_without_a_compartment_is_unassigned_with_reason() -> None:
    clients = (Client(2, {"a": 1}), Client(3, {"z": 1}))
    sol = solve_pyvrp(_line_problem(clients=clients), FAST)
    assert [(u.client, u.reason) for u in sol.unassigned] == [(1, Reason.NO_VEHICLE_FOR_CATEGORY)]
    assert sol.check(_line_problem(clients=clients)) == []


def test_optional_client_left_out_when_prize_is_small() -> None:
    clients = (Client(2, {"a": 1}), Client(5, {"a": 1}, penalty=1))
    p = _line_problem(clients=clients, end_empty=False)
    sol = solve_pyvrp(p, FAST)
    assert [u.client for u in sol.unassigned] == [1]
    assert sol.check(p) == []


def test_break_is_inserted_into_the_schedule() -> None:
    v = Vehicle(
        0,
        0,
        {"a": 6, "b": 5},
        shift_end_s=8 * 3600,
        break_s=1800,
        break_earliest_s=300,
        break_latest_s=900,
    )
    p = _line_problem(vehicles=(v, v))
    sol = solve_pyvrp(p, FAST)
    assert sol.check(p) == []
    for r in sol.routes:
        if r.client_visits:
            breaks = [x for x in r.visits if x.kind == "break"]
            assert len(breaks) == 1 and 300 <= breaks[0].start_s <= 900


def test_solomon_result_passes_both_checkers() -> None:
    inst = read_instance(DATA / "solomon_100" / "T6.vrp")
    p = inst.problem()
    sol = solve_pyvrp(p, FAST)
    assert sol.check(p) == []
    res = check_routes(inst, solution_routes(sol, p))
    assert res.feasible, res.errors
    assert res.cost == pytest.approx(39.4)  # the hand-made optimum


def test_kim_result_passes_both_checkers() -> None:
    inst = read_instance(DATA / "kim_wcvrptw" / "5_stop.txt")
    p = inst.problem()
    sol = solve_pyvrp(p, FAST)
    assert sol.check(p) == []
    res = check_routes(inst, solution_routes(sol, p))
    assert res.feasible, res.errors
