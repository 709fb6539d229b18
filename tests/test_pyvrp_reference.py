"""benchmarks/pyvrp_reference.py: a feasible PyVRP reference for the bureau's cost.

Small days, a fixed iteration budget and seed (the time limit is only a safety
bound), so the results do not depend on the machine's speed. No timed assertions.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from optimizer.bench import check_problem_solution
from optimizer.generate import generate_county_day
from optimizer.problem import Client, Facility, Problem, Vehicle
from optimizer.solution import Route, Solution, Visit

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
H = 3600


@pytest.fixture(scope="module")
def ref() -> ModuleType:
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module("pyvrp_reference")
    finally:
        sys.path.remove(str(BENCH))


def _recomputed_cost(problem: Problem, sol: Solution) -> float:
    total = 0.0
    for r in sol.routes:
        if not any(v.kind == "client" for v in r.visits):
            continue
        veh = problem.vehicles[r.vehicle]
        locs = [v.location for v in r.visits if v.location is not None]
        metres = sum(int(problem.distance_m[a, b]) for a, b in zip(locs, locs[1:], strict=False))
        total += veh.fixed_cost + veh.cost_per_km * metres / 1000.0
    return total


@pytest.fixture(scope="module")
def day(ref: Any) -> tuple[Problem, Solution]:
    """80 clients, 4 categories, breaks, facilities with hours; cost_per_km 2.5."""
    problem = generate_county_day(80, 2, fleet_slack=2.5)
    problem = dataclasses.replace(
        problem,
        vehicles=tuple(dataclasses.replace(v, cost_per_km=2.5) for v in problem.vehicles),
    )
    return problem, ref.solve_reference(problem, 600.0, seed=0, max_iterations=80)


def test_day_passes_both_checkers(day: tuple[Problem, Solution]) -> None:
    problem, sol = day
    assert sol.check(problem) == []
    result = check_problem_solution(problem, sol)
    assert result.errors == []
    assert result.feasible
    # the rules under test are really there: breaks, unloads between trips, end empty
    assert all(any(v.kind == "break" for v in r.visits) for r in sol.routes)
    assert any(
        v.kind == "facility" and any(w.kind == "client" for w in r.visits[i:])
        for r in sol.routes
        for i, v in enumerate(r.visits)
    )
    assert all(r.visits[-2].kind == "facility" for r in sol.routes)
    assert sol.stats["served"] == len(problem.clients) - len({u.client for u in sol.unassigned})
    assert sol.stats["served"] >= 0.95 * len(problem.clients)


def test_cost_is_fixed_plus_per_km(ref: Any, day: tuple[Problem, Solution]) -> None:
    problem, sol = day
    want = _recomputed_cost(problem, sol)
    assert sol.stats["cost"] == pytest.approx(want, abs=0.01)
    assert ref.bureau_cost(problem, sol) == pytest.approx(want)
    assert sol.objective == round(want)
    assert sol.stats["vehicles_used"] == sum(1 for r in sol.routes if r.client_visits)
    km = check_problem_solution(problem, sol).cost
    assert sol.stats["distance_km"] == pytest.approx(km, abs=1e-3)
    # PyVRP optimised the same objective, in integer units (x 1000 K)
    assert sol.stats["cost_units_per_currency"] == 10_000


def test_unused_vehicles_cost_nothing(ref: Any, day: tuple[Problem, Solution]) -> None:
    problem, sol = day
    assert sol.vehicles_used < len(problem.vehicles)
    assert all(r.client_visits for r in sol.routes)  # no empty route is reported
    fixed = sum(problem.vehicles[r.vehicle].fixed_cost for r in sol.routes)
    assert fixed == sol.vehicles_used * problem.vehicles[0].fixed_cost
    # an idle vehicle (start and end only) adds no fixed cost
    idle = next(k for k in range(len(problem.vehicles)) if k not in {r.vehicle for r in sol.routes})
    home = problem.vehicles[idle].start_location
    t = problem.vehicles[idle].shift_start_s
    empty = Route(idle, (Visit("start", None, home, t, t, t), Visit("end", None, home, t, t, t)), 0, 0)
    with_idle = dataclasses.replace(sol, routes=(*sol.routes, empty))
    assert ref.bureau_cost(problem, with_idle) == pytest.approx(ref.bureau_cost(problem, sol))


def _two_towns(fixed_cost: int) -> Problem:
    """Two towns 20 km apart, each with its own depot, truck and facility.

    With no fixed cost each town's truck serves it (about 7 km in all); with a high
    fixed cost one truck serves both (about 50 km, one truck less)."""
    km = 1000.0
    xy = [(0, 0), (20 * km, 0), (0, 1 * km), (20 * km, 1 * km)]  # depots, facilities
    rng = np.random.default_rng(0)
    for cx in (1 * km, 19 * km):
        xy += [(cx + rng.uniform(-300, 300), rng.uniform(-300, 300)) for _ in range(4)]
    pts = np.asarray(xy)
    straight = np.sqrt(((pts[:, None, :] - pts[None, :, :]) ** 2).sum(axis=2))
    dist = np.rint(straight * 1.3).astype(np.int64)
    dur = np.rint(dist / (25 / 3.6)).astype(np.int64)
    clients = tuple(
        Client(location=4 + i, demand={"c0": 200}, service_s=180, tw_start_s=6 * H,
               tw_end_s=15 * H, penalty=1_000_000)
        for i in range(8)
    )
    facilities = (
        Facility(location=2, accepts=frozenset({"c0"}), open_s=0, close_s=24 * H, unload_s=600),
        Facility(location=3, accepts=frozenset({"c0"}), open_s=0, close_s=24 * H, unload_s=600),
    )
    vehicles = tuple(
        Vehicle(start_location=d, end_location=d, capacities={"c0": 5000}, shift_start_s=6 * H,
                shift_end_s=15 * H, break_s=1800, break_earliest_s=10 * H,
                break_latest_s=12 * H, fixed_cost=fixed_cost, cost_per_km=1.0)
        for d in (0, 1)
    )
    return Problem(dist, dur, clients, vehicles, facilities, end_empty=True, name="two-towns")


def test_high_fixed_cost_uses_fewer_trucks(ref: Any) -> None:
    cheap = _two_towns(fixed_cost=0)
    dear = _two_towns(fixed_cost=1_000_000)
    a = ref.solve_reference(cheap, 600.0, seed=0, max_iterations=50)
    b = ref.solve_reference(dear, 600.0, seed=0, max_iterations=50)
    for problem, sol in ((cheap, a), (dear, b)):
        assert sol.check(problem) == []
        assert check_problem_solution(problem, sol).feasible
        assert sol.stats["served"] == 8
        assert sol.stats["cost"] == pytest.approx(_recomputed_cost(problem, sol), abs=0.01)
    assert a.vehicles_used == 2
    assert b.vehicles_used == 1
    # each is the cheaper plan under its own cost
    assert a.stats["cost"] < b.stats["distance_km"]
    assert b.stats["cost"] < 2 * 1_000_000


def test_facility_daily_capacity_is_kept(ref: Any) -> None:
    """A facility too small for the day is left out and the day solved again."""
    problem = _two_towns(fixed_cost=0)
    small = dataclasses.replace(problem.facilities[0], daily_capacity=300)
    problem = dataclasses.replace(problem, facilities=(small, problem.facilities[1]))
    sol = ref.solve_reference(problem, 600.0, seed=0, max_iterations=50)
    assert sol.check(problem) == []
    assert check_problem_solution(problem, sol).feasible
    assert sol.stats["served"] == 8
    assert sol.stats["attempts"] == 2
    assert not any(v.kind == "facility" and v.index == 0 for r in sol.routes for v in r.visits)
    assert math.isfinite(sol.stats["cost"])
