"""The one walk of a route's load and time, and searches that give the same plan anywhere."""

from __future__ import annotations

import time

import numpy as np

from optimizer import Client, Facility, Problem, SolveParams, Vehicle
from optimizer.generate import generate_county_day
from optimizer.jobs import prepare
from optimizer.params import Budget
from optimizer.routes import END, RawRoute, RawVisit, consume_capacity, walk
from optimizer.solve import solve


def line_day(**vehicle: int) -> Problem:
    """Depot at 0 m, clients at 100 and 200 m, a facility at 50 m; 10 m/s."""
    xs = [0, 100, 200, 50]
    d = np.array([[abs(a - b) for b in xs] for a in xs], dtype=np.int64)
    clients = (Client(1, {"a": 6}, service_s=10), Client(2, {"a": 3}, service_s=10))
    return Problem(d, d // 10, clients, (Vehicle(0, 0, {"a": 10}, **vehicle),),
                   (Facility(3, {"a"}, unload_s=20, daily_capacity=100),))


def test_walk_gives_earliest_times_loads_and_legs() -> None:
    p = line_day()
    jobs = prepare(p).jobs
    steps = walk(p, jobs, 0, [("client", 0), ("client", 1), ("facility", 0), END], depart_s=0)
    assert [(s.kind, s.arrival_s, s.start_s, s.departure_s) for s in steps] == [
        ("client", 10, 10, 20), ("client", 30, 30, 40), ("facility", 55, 55, 75),
        ("end", 80, 80, 80)]
    assert [s.load_after["a"] for s in steps] == [6, 9, 0, 0]
    assert [s.load_on_arrival["a"] for s in steps] == [0, 6, 9, 0]
    assert [s.unloaded for s in steps] == [0, 0, 9, 0]
    assert [s.leg_m for s in steps] == [100, 100, 150, 50]


def test_walk_on_given_times_takes_the_break_on_the_first_leg_it_fits() -> None:
    p = line_day(break_s=30, break_earliest_s=0, break_latest_s=100)
    jobs = prepare(p).jobs
    steps = walk(p, jobs, 0, [("client", 0), ("client", 1), END], depart_s=0,
                 starts_s=[10, 60, 200], break_start_s=20)
    assert [(s.after_break, s.arrival_s, s.start_s) for s in steps] == [
        (False, 10, 10), (True, 60, 60), (False, 90, 90)]


def test_walk_from_a_place_and_time_and_window_waits() -> None:
    xs = [0, 100]
    d = np.array([[abs(a - b) for b in xs] for a in xs], dtype=np.int64)
    p = Problem(d, d // 10, (Client(1, {"a": 1}, tw_start_s=500, service_s=5),),
                (Vehicle(0, 0, {"a": 10}),), end_empty=False)
    (step,) = walk(p, prepare(p).jobs, 0, [("client", 0)], depart_s=100, location=0)
    assert (step.arrival_s, step.start_s, step.wait_s, step.departure_s) == (110, 500, 390, 505)


def test_unloads_come_off_the_facility_capacity() -> None:
    p = line_day()
    jobs = prepare(p).jobs
    rr = RawRoute(0, [RawVisit("client", 0, 10), RawVisit("facility", 0, 40),
                      RawVisit("client", 1, 80), RawVisit("facility", 0, 120)], 0, 150)
    cap: list[int | None] = [100]
    consume_capacity(p, jobs, [rr], cap)
    assert cap == [91]


def test_a_counted_budget_ignores_margins_but_keeps_its_safety_bound() -> None:
    soon = time.monotonic() + 0.5
    assert Budget(soon, counted=True).allows(10.0)
    assert not Budget(soon).allows(10.0)
    assert not Budget(time.monotonic() - 1.0, counted=True).allows(0.0)
    assert Budget(soon, counted=True).until(soon + 100).deadline == soon


def test_the_same_solution_limit_and_seed_give_the_same_plan_whatever_the_time_limit() -> None:
    p = generate_county_day(60, seed=1)

    def plan(time_limit_s: float) -> list[tuple[int, list[tuple[str, int | None, int]]]]:
        s = solve(p, SolveParams(time_limit_s=time_limit_s, solution_limit=10, seed=3))
        assert s.check(p) == []
        return [(r.vehicle, [(v.kind, v.index, v.start_s) for v in r.visits]) for r in s.routes]

    first = plan(120.0)
    assert first and first == plan(600.0)
