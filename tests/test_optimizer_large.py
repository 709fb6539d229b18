"""Preprocessing and the decomposed (large-day) path on small instances.

Every search here is bounded by a solution limit, not by time: the plans are the
same on any machine, and the time limits are only safety bounds.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from optimizer import Client, Facility, Problem, SolveParams, Vehicle
from optimizer.assemble import assemble
from optimizer.construct import best_greedy, greedy_routes
from optimizer.generate import generate_county_day
from optimizer.jobs import prepare
from optimizer.large import improve_neighbourhoods, route_cost
from optimizer.model import RoutingModel
from optimizer.params import Budget
from optimizer.partition import components, plan_parts, should_decompose
from optimizer.routes import RawRoute, RawVisit
from optimizer.solve import solve

SAFETY_S = 300.0


def counted(limit: int = 30, **kw: Any) -> SolveParams:
    """Parameters of a deterministic search: ``limit`` solutions per search."""
    return SolveParams(time_limit_s=SAFETY_S, solution_limit=limit, **kw)


def counted_budget() -> Budget:
    return Budget(time.monotonic() + SAFETY_S, counted=True)


def grid_problem(n_side: int, *, two_categories: bool = True) -> Problem:
    """Clients on a grid (100 m apart), depot in a corner, facility in the middle."""
    pts = [(0.0, 0.0), (n_side * 50.0, n_side * 50.0)]
    pts += [(100.0 * (i % n_side), 100.0 * (i // n_side)) for i in range(n_side * n_side)]
    xy = np.asarray(pts)
    d = np.rint(np.abs(xy[:, None, :] - xy[None, :, :]).sum(2)).astype(np.int64)
    cats = ["a", "b"] if two_categories else ["a"]
    clients = [Client(2 + i, {cats[i % len(cats)]: 10}, service_s=30)
               for i in range(n_side * n_side)]
    vehicles = [Vehicle(0, 0, {c: 60}) for c in cats for _ in range(4)]
    return Problem(d, d // 5, tuple(clients), tuple(vehicles),
                   (Facility(1, frozenset(cats), unload_s=60),), end_empty=True,
                   extra={"coords": xy.tolist()})


def test_prepare_splits_and_keeps_client_index() -> None:
    d = np.array([[0, 10], [10, 0]])
    p = Problem(d, d, (Client(1, {"a": 25}),), (Vehicle(0, 0, {"a": 10}),),
                (Facility(0, {"a"}),))
    prep = prepare(p)
    assert [j.amount["a"] for j in prep.jobs] == [9, 8, 8]
    assert {j.client for j in prep.jobs} == {0}


def test_components_follow_compartments() -> None:
    p = grid_problem(4)
    comps = components(p, prepare(p).jobs)
    assert len(comps) == 2
    for jobs, vehicles in comps:
        assert len(vehicles) == 4 and len(jobs) == 8


def test_plan_parts_share_out_every_vehicle() -> None:
    p = grid_problem(8)
    parts = plan_parts(p, prepare(p).jobs, chunk=12)
    assert len(parts) >= 4
    assert sorted(v for _, vs in parts for v in vs) == list(range(8))
    assert sorted(j for js, _ in parts for j in js) == list(range(64))


def test_decomposed_solve_is_feasible_and_serves_all() -> None:
    p = grid_problem(8)
    s = solve(p, counted(5, decompose_above=20, chunk_size=16))
    assert s.stats["strategy"] == "decomposed"
    assert s.check(p) == []
    assert not s.unassigned


def test_generated_day_with_breaks_keeps_searching_from_the_greedy_start() -> None:
    """On demo-sized days with breaks, one model over every compartment fails to
    restore the greedy start (status FAIL) and the plan would be the greedy one, with
    clients dropped: each group of compartments gets its own model, restores its
    start and searches from it."""
    p = generate_county_day(80, seed=1)
    assert any(v.has_break for v in p.vehicles)
    s = solve(p, counted())
    assert s.check(p) == []
    groups = s.stats["group_stats"]
    assert isinstance(groups, list) and len(groups) == len(components(p, prepare(p).jobs))
    for g in groups:
        assert g["strategy"] == "greedy+GLS"
        assert g["improve_status"] in ("SUCCESS", "PARTIAL_SUCCESS")
    # a known feasible assignment: the greedy start over the whole day
    jobs = prepare(p).jobs
    seqs = greedy_routes(p, jobs, list(range(len(p.vehicles))))
    greedy_served = {jobs[r].client for seq in seqs for kind, r in seq if kind == "client"}
    served = {v.index for r in s.routes for v in r.client_visits}
    assert len(served) >= len(greedy_served)


def test_generated_day_with_breaks_serves_every_client() -> None:
    """Every client of this day can be served. It takes a greedy start that does not
    keep early-closing windows for the last vehicles, spare unloads so that the
    search can add a trip, and the insertion of left-out clients that local search
    misses."""
    p = generate_county_day(150, seed=0, fleet_slack=1.0)
    assert any(v.has_break for v in p.vehicles)
    s = solve(p, counted())
    assert s.check(p) == []
    assert s.unassigned == ()


def test_zero_kg_visits_are_served_with_their_compartment_group() -> None:
    """A visit expected at 0 kg (e.g. a demand-mode check of a light point) still needs a
    truck that may carry its category; it must not be orphaned by the grouping."""
    base = grid_problem(3)
    zero = [Client(2 + i, {"a" if i % 2 else "b": 0}, service_s=30) for i in range(3)]
    p = Problem(base.distance_m, base.duration_s, base.clients + tuple(zero), base.vehicles,
                base.facilities, end_empty=True, extra=dict(base.extra))
    jobs = prepare(p).jobs
    comps = components(p, jobs)
    assert sorted(j for js, _ in comps for j in js) == list(range(len(jobs)))
    sol = solve(p, counted())
    assert sol.unassigned == ()
    assert sol.check(p) == []


def test_reading_a_start_back_does_not_depend_on_the_first_time_limit_seen() -> None:
    """The time limit a model is closed with also bounds every later
    ``ReadAssignmentFromRoutes``; closed with a short one, reading a large start on a
    loaded machine fails and the day loses its greedy start. A 1 ms limit at closing
    must not make a feasible start unreadable."""
    p = generate_county_day(150, seed=2)
    jobs = prepare(p).jobs
    gj, gv = max(components(p, jobs), key=lambda c: len(c[0]))
    sub = [jobs[i] for i in gj]
    seqs = best_greedy(p, sub, gv)
    assert any(kind == "client" for sq in seqs for kind, _ in sq)
    model = RoutingModel(p, sub, gv, SolveParams(), initial=seqs)
    model.close(model.search_parameters(0.001, "PATH_CHEAPEST_ARC"))
    routes = model.routes_as_indices(seqs)
    for _ in range(3):
        assert model.readable(routes)
    res = model.read_result(routes, {})
    assert res is not None
    assert {rv.ref for rr in res.routes for rv in rr.visits if rv.kind == "client"} == {
        ref for sq in seqs for kind, ref in sq if kind == "client"}


def test_neighbourhoods_replan_crossing_routes_across_parts() -> None:
    """Routes that zig-zag across each other (as parts solved apart can leave them) are
    re-planned together: cheaper, every client still served once, still feasible."""
    p = grid_problem(4, two_categories=False)
    jobs = prepare(p).jobs
    order = [0, 15, 1, 14, 2, 13, 3, 12, 4, 11, 5, 10, 6, 9, 7, 8]
    routes = []
    for vi, chunk in enumerate([order[0:6], order[6:12], order[12:16]]):
        visits = [RawVisit("client", j, 0) for j in chunk] + [RawVisit("facility", 0, 0)]
        routes.append(RawRoute(vi, visits, 0, 0))
    routes.append(RawRoute(3, [], 0, 0))
    before = sum(route_cost(p, jobs, rr) for rr in routes)
    new, dropped, stats = improve_neighbourhoods(p, counted(), jobs, routes, [],
                                                 counted_budget())
    assert stats["neighbourhoods_improved"] >= 1
    after = sum(route_cost(p, jobs, rr) for rr in new)
    assert after < 0.8 * before
    served = [rv.ref for rr in new for rv in rr.visits if rv.kind == "client"]
    assert sorted(served + dropped) == list(range(len(jobs))) and not dropped
    sol = assemble(p, jobs, new, dropped, [], engine="ortools", wall_s=1.0, objective=0,
                   stats={})
    assert sol.check(p) == []


def test_a_big_compartment_group_with_breaks_is_decomposed() -> None:
    """One model for a big group with breaks loses its start in OR-Tools 9.15; such a
    day goes the decomposed way even below ``decompose_above`` visits."""
    p = generate_county_day(120, seed=1)
    assert any(v.has_break for v in p.vehicles)
    biggest = max(len(gj) for gj, _ in components(p, prepare(p).jobs))
    s = solve(p, counted(3, decompose_group_above=biggest - 1, chunk_size=40))
    assert s.stats["strategy"] == "decomposed" and s.check(p) == []
    s = solve(p, counted(decompose_group_above=biggest))
    assert s.stats.get("strategy") != "decomposed" and s.check(p) == []


def test_neighbourhoods_bring_idle_vehicles_to_left_out_jobs() -> None:
    """Parts share vehicles by an estimate: one may leave jobs out while a vehicle
    elsewhere stays idle. A neighbourhood next to left-out jobs takes idle vehicles
    in, and the jobs get served."""
    p = grid_problem(4, two_categories=False)
    jobs = prepare(p).jobs
    routes = [RawRoute(0, [RawVisit("client", j, 0) for j in range(6)]
                       + [RawVisit("facility", 0, 0)], 0, 0)]
    routes += [RawRoute(g, [], 0, 0) for g in (1, 2, 3)]
    left_out = list(range(6, len(jobs)))
    new, dropped, stats = improve_neighbourhoods(p, counted(), jobs, routes, left_out,
                                                 counted_budget())
    assert stats["neighbourhoods_improved"] >= 1
    assert len(dropped) < len(left_out)
    served = [rv.ref for rr in new for rv in rr.visits if rv.kind == "client"]
    assert sorted(served + dropped) == list(range(len(jobs)))
    sol = assemble(p, jobs, new, dropped, [], engine="ortools", wall_s=1.0, objective=0,
                   stats={})
    assert sol.check(p) == []


def rare_compartment_problem() -> Problem:
    """A 10 x 10 grid of 'a' points, every 6th also 'r'-only; 2 of 10 trucks carry 'r'."""
    n = 100
    pts = [(0.0, 0.0), (500.0, 500.0)] + [(100.0 * (i % 10), 100.0 * (i // 10)) for i in range(n)]
    xy = np.asarray(pts)
    d = np.rint(np.abs(xy[:, None, :] - xy[None, :, :]).sum(2)).astype(np.int64)
    clients = [Client(2 + i, {"r": 5} if i % 6 == 0 else {"a": 10}, service_s=30)
               for i in range(n)]
    vehicles = [Vehicle(0, 0, {"a": 80}) for _ in range(8)]
    vehicles += [Vehicle(0, 0, {"a": 80, "r": 40}) for _ in range(2)]
    return Problem(d, d // 5, tuple(clients), tuple(vehicles),
                   (Facility(1, frozenset({"a", "r"}), unload_s=60),), end_empty=True,
                   extra={"coords": xy.tolist()})


def test_parts_keep_jobs_of_a_rare_compartment_with_the_trucks_that_carry_it() -> None:
    """Shared out by geography alone, the two 'r' trucks land in one or two parts and
    the 'r' points of the other parts can only be left out."""
    p = rare_compartment_problem()
    jobs = prepare(p).jobs
    parts = plan_parts(p, jobs, chunk=20)
    assert sorted(j for js, _ in parts for j in js) == list(range(len(jobs)))
    assert sorted(v for _, vs in parts for v in vs) == list(range(10))
    for js, vs in parts:
        for j in js:
            assert set(jobs[j].vehicles) & set(vs), f"job {j} has no truck in its part"


def test_decomposed_day_serves_every_point_of_a_rare_compartment() -> None:
    p = rare_compartment_problem()
    s = solve(p, counted(decompose_above=20, chunk_size=20, neighbourhood_share=0.0))
    assert s.stats["strategy"] == "decomposed" and s.check(p) == []
    assert not s.unassigned
    assert s.stats["dropped_before_repair"] == 0


def test_a_large_start_with_breaks_is_restored_and_improved() -> None:
    """OR-Tools bounds restoring a start by ``lns_time_limit`` (0.1 s by default);
    with breaks, groups of 300-500 visits took longer, and the search ended at once
    with ROUTING_FAIL, keeping the greedy start as the plan."""
    p = generate_county_day(800, seed=1)
    s = solve(p, counted(2, decompose_slack_group_above=10_000))
    groups = s.stats["group_stats"]
    assert len(groups) == 2 and max(g["jobs"] for g in groups) > 450
    for g in groups:
        assert g["first"] == "greedy" and not g.get("restore_failed")
        assert g["improve_status"] != "FAIL"
    assert s.check(p) == []


def test_a_big_group_with_room_is_decomposed_and_a_tight_one_is_not() -> None:
    """Between ``decompose_slack_group_above`` and ``decompose_group_above`` visits a
    group is decomposed only when its greedy start serves all of it."""
    p = generate_county_day(300, seed=1)
    prep = prepare(p)
    biggest = max(len(gj) for gj, _ in components(p, prep.jobs))
    params = SolveParams(decompose_group_above=10_000, decompose_slack_group_above=biggest - 1)
    assert should_decompose(p, params, prep)
    # the same day with a fleet of one truck per compartment kind: the start is short
    kinds: dict[tuple[str, ...], Vehicle] = {}
    for v in p.vehicles:
        kinds.setdefault(tuple(sorted(v.capacities)), v)
    tight = Problem(p.distance_m, p.duration_s, p.clients, tuple(kinds.values()),
                    p.facilities, end_empty=True)
    prep = prepare(tight)
    biggest = max(len(gj) for gj, _ in components(tight, prep.jobs))
    params = SolveParams(decompose_group_above=10_000, decompose_slack_group_above=biggest - 1)
    assert not should_decompose(tight, params, prep)
