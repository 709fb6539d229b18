"""The independent checker: every published solution passes, corrupted ones fail."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from optimizer.bench import check_routes
from optimizer.instances import instance_paths, read_bks, read_instance, read_sol

DATA = Path(__file__).parent / "data" / "bench"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"


def _shared(family: str) -> list[Path]:
    if not SHARED.exists():
        return []
    return instance_paths(SHARED, family)


@pytest.mark.parametrize(
    "path",
    _shared("solomon") + _shared("homberger") + _shared("cvrp"),
    ids=lambda p: p.stem,
)
def test_published_solution_is_feasible_at_its_cost(path: Path) -> None:
    family = "cvrp" if path.stem.startswith("X-") else None
    inst = read_instance(path, family)
    sol = read_sol(path.with_suffix(".sol"))
    res = check_routes(inst, sol.routes)
    assert res.feasible, res.errors
    bks = read_bks(SHARED, inst.family)[inst.name]
    assert sol.cost is not None
    assert res.cost == pytest.approx(sol.cost, abs=0.05)
    assert res.cost == pytest.approx(bks.cost, abs=0.05)


def test_tiny_solutions_check_by_hand() -> None:
    t6 = read_instance(DATA / "solomon_100" / "T6.vrp")
    res = check_routes(t6, [[5, 1, 2], [4, 3]])
    assert res.feasible and res.cost == pytest.approx(39.4) and res.vehicles == 2
    x = read_instance(DATA / "cvrplib_x" / "X-n6-k2.vrp")
    assert check_routes(x, [[5, 1, 2], [4, 3]]).cost == 39


@pytest.mark.parametrize(
    ("routes", "needle"),
    [
        ([[5, 1, 2], [4]], "client 3 not served"),
        ([[5, 1, 2], [4, 3, 1]], "served 2 times"),
        ([[5, 1, 2, 3], [4]], "capacity"),
        ([[5, 1, 2], [3, 4]], "due"),
        ([[5, 1, 2], [4, 3], [0]], "not a client"),
        ([[5, 1, 2], [4, 3, 9]], "does not exist"),
        ([[5], [1], [2], [4, 3]], "only 3 vehicles"),
    ],
)
def test_corrupted_solomon_routes_fail(routes: list[list[int]], needle: str) -> None:
    res = check_routes(read_instance(DATA / "solomon_100" / "T6.vrp"), routes)
    assert not res.feasible
    assert any(needle in e for e in res.errors), res.errors


def test_corrupted_published_solution_fails() -> None:
    paths = _shared("solomon")
    if not paths:
        pytest.skip("shared benchmarks not present")
    inst = read_instance(paths[0])
    routes = read_sol(paths[0].with_suffix(".sol")).routes
    swapped = [list(r) for r in routes]
    swapped[0][0], swapped[0][-1] = swapped[0][-1], swapped[0][0]
    assert not check_routes(inst, swapped).feasible
    assert not check_routes(inst, routes[1:]).feasible


KIM = DATA / "kim_wcvrptw" / "5_stop.txt"


def test_kim_route_with_two_trips_is_feasible() -> None:
    res = check_routes(read_instance(KIM), [[2, 3, 1, 4, 1]])
    assert res.feasible, res.errors
    assert res.cost == pytest.approx(8.0)


@pytest.mark.parametrize(
    ("routes", "needle"),
    [
        ([[2, 3, 4, 1]], "capacity"),
        ([[2, 3, 1, 4]], "returns to the depot with load"),
        ([[2, 3, 1]], "client 4 not served"),
        ([[2, 3, 1, 4, 1, 4, 1]], "served 2 times"),
    ],
)
def test_kim_rule_breaks_fail(routes: list[list[int]], needle: str) -> None:
    res = check_routes(read_instance(KIM), routes)
    assert not res.feasible
    assert any(needle in e for e in res.errors), res.errors


def test_kim_daily_cap_and_stop_limit() -> None:
    inst = read_instance(KIM)
    tight = dataclasses.replace(inst, day_cap=14.0)
    assert any("daily cap" in e for e in check_routes(tight, [[2, 3, 1, 4, 1]]).errors)
    few = dataclasses.replace(inst, max_stops=2)
    assert any("stops" in e for e in check_routes(few, [[2, 3, 1, 4, 1]]).errors)


def test_kim_lunch_must_fit() -> None:
    inst = read_instance(KIM)
    tw_start = inst.tw_start.copy()
    tw_end = inst.tw_end.copy()
    # stop 4 only 11:30-11:35 and the depot closes at 12:20: fine without lunch,
    # impossible with a one-hour lunch that must start between 11:00 and 12:00
    tw_start[4], tw_end[4] = 11.5 * 3600, 11.5 * 3600 + 300
    tw_end[0] = 12 * 3600 + 1200
    tight = dataclasses.replace(inst, tw_start=tw_start, tw_end=tw_end)
    no_lunch = dataclasses.replace(tight, break_s=0)
    assert check_routes(no_lunch, [[2, 3, 1, 4, 1]]).feasible
    res = check_routes(tight, [[2, 3, 1, 4, 1]])
    assert not res.feasible
    assert any("lunch" in e or "depot" in e or "node 4" in e for e in res.errors), res.errors
    # a later depot close lets the lunch follow stop 4
    later = tw_end.copy()
    later[0] = 15 * 3600
    assert check_routes(dataclasses.replace(tight, tw_end=later), [[2, 3, 1, 4, 1]]).feasible


def test_kim_travel_uses_manhattan_miles() -> None:
    inst = read_instance(KIM)
    # 3 -> 1 is 1 mile east + 2 miles south = 3 miles (straight line: 2.24)
    coords = inst.coords
    assert np.abs(coords[3] - coords[1]).sum() / 5280 == pytest.approx(3.0)
    # 0-3 2 mi, 3-2 1, 2-1 2 (east + south), 1-4 1, 4-1 1, 1-0 1
    assert check_routes(inst, [[3, 2, 1, 4, 1]]).cost == pytest.approx(8.0)
    assert check_routes(inst, [[2, 3, 1, 4, 1]]).cost == pytest.approx(1 + 1 + 3 + 1 + 1 + 1)


# --------------------------------------------------------------------------- Problem level

from optimizer.bench import check_problem_solution  # noqa: E402
from optimizer.problem import Client, Facility, Problem, Vehicle  # noqa: E402
from optimizer.solution import Reason, Route, Solution, Unassigned, Visit  # noqa: E402


def _tiny() -> Problem:
    xs = np.array([0, 1000, 2000, 3000])
    dist = np.abs(xs[:, None] - xs[None, :])
    return Problem(
        distance_m=dist,
        duration_s=dist // 10,  # 100 s per km
        clients=(Client(2, {"a": 5}, service_s=10), Client(3, {"b": 2}, tw_end_s=1000)),
        vehicles=(
            Vehicle(
                0,
                0,
                {"a": 6, "b": 3},
                shift_end_s=5000,
                break_s=100,
                break_earliest_s=200,
                break_latest_s=400,
            ),
        ),
        facilities=(Facility(1, frozenset({"a", "b"}), unload_s=50, close_s=4000),),
    )


def _route(order: list[tuple[str, int]], p: Problem) -> Solution:
    visits = [Visit("start", None, 0, 0, 0, 0)]
    for kind, i in order:
        loc = p.clients[i].location if kind == "client" else p.facilities[i].location
        amount = dict(p.clients[i].demand) if kind == "client" else {}
        visits.append(Visit(kind, i, loc, 0, 0, 0, amount))  # type: ignore[arg-type]
    visits.append(Visit("end", None, 0, 0, 0, 0))
    return Solution((Route(0, tuple(visits), 0, 0),), ())


def test_problem_checker_recomputes_from_the_order_only() -> None:
    p = _tiny()
    ok = check_problem_solution(p, _route([("client", 0), ("client", 1), ("facility", 0)], p))
    assert ok.feasible, ok.errors
    assert ok.cost == pytest.approx(6.0)  # 0-2-3-1-0 km: 2 + 1 + 2 + 1
    loaded = check_problem_solution(p, _route([("client", 0), ("client", 1)], p))
    assert any("loaded" in e for e in loaded.errors)
    late = check_problem_solution(p, _route([("client", 1), ("client", 0), ("facility", 0)], p))
    assert late.feasible  # client 1 at 300 s, well before 1000
    missing = check_problem_solution(p, _route([("client", 0), ("facility", 0)], p))
    assert any("neither served nor unassigned" in e for e in missing.errors)
    sol = _route([("client", 0), ("facility", 0)], p)
    reported = Solution(sol.routes, (Unassigned(1, {"b": 2}, Reason.CAPACITY),))
    assert check_problem_solution(p, reported).feasible


def test_problem_checker_break_window() -> None:
    p = _tiny()
    v = p.vehicles[0]
    tight = Problem(
        p.distance_m,
        p.duration_s,
        p.clients,
        (
            Vehicle(
                0,
                0,
                v.capacities,
                shift_end_s=5000,
                break_s=100,
                break_earliest_s=0,
                break_latest_s=0,
            ),
        ),
        p.facilities,
    )
    # the break must start at 0, i.e. before leaving: still fine
    assert check_problem_solution(
        tight, _route([("client", 0), ("client", 1), ("facility", 0)], tight)
    ).feasible
    short = Problem(
        p.distance_m,
        p.duration_s,
        p.clients,
        (
            Vehicle(
                0,
                0,
                v.capacities,
                shift_end_s=700,
                break_s=100,
                break_earliest_s=600,
                break_latest_s=650,
            ),
        ),
        p.facilities,
    )
    res = check_problem_solution(
        short, _route([("client", 0), ("client", 1), ("facility", 0)], short)
    )
    assert not res.feasible, res
