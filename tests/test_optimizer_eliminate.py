"""Route elimination across the day (optimizer.eliminate) on small grids.

Every search is bounded by a solution limit (deterministic); time limits are only
safety bounds.
"""

from __future__ import annotations

import time

import numpy as np

from optimizer import Client, Facility, Problem, SolveParams, Vehicle, hgs
from optimizer.assemble import assemble
from optimizer.eliminate import eliminate_routes, local_stops
from optimizer.generate import generate_county_day
from optimizer.group import spare_unloads
from optimizer.jobs import prepare
from optimizer.large import route_cost
from optimizer.model import RoutingModel
from optimizer.params import Budget
from optimizer.routes import RawRoute, RawVisit
from optimizer.solve import elimination_share, solve

SAFETY_S = 300.0


def counted() -> SolveParams:
    return SolveParams(time_limit_s=SAFETY_S, solution_limit=30)


def budget() -> Budget:
    return Budget(time.monotonic() + SAFETY_S, counted=True)


def grid(shift_end_s: int = 24 * 3600, fixed_cost: int = 5000, n_vehicles: int = 4) -> Problem:
    """16 clients on a 4 x 4 grid 100 m apart, 10 units each; trucks of 60 units."""
    pts = [(0.0, 0.0), (200.0, 200.0)] + [(100.0 * (i % 4), 100.0 * (i // 4)) for i in range(16)]
    xy = np.asarray(pts)
    d = np.rint(np.abs(xy[:, None, :] - xy[None, :, :]).sum(2)).astype(np.int64)
    clients = tuple(Client(2 + i, {"a": 10}, service_s=600) for i in range(16))
    vehicles = tuple(Vehicle(0, 0, {"a": 60}, shift_end_s=shift_end_s, fixed_cost=fixed_cost)
                     for _ in range(n_vehicles))
    return Problem(d, d // 5, clients, vehicles, (Facility(1, frozenset({"a"}), unload_s=60),),
                   end_empty=True, extra={"coords": xy.tolist()})


def four_routes() -> list[RawRoute]:
    """Each truck serves one row of the grid and unloads."""
    return [RawRoute(g, [RawVisit("client", 4 * g + k, 0) for k in range(4)]
                     + [RawVisit("facility", 0, 0)], 0, 0) for g in range(4)]


def served(routes: list[RawRoute]) -> list[int]:
    return sorted(rv.ref for rr in routes for rv in rr.visits if rv.kind == "client")


def test_routes_are_emptied_into_the_others_when_the_day_gets_cheaper() -> None:
    p = grid()
    jobs = prepare(p).jobs
    routes = four_routes()
    before = sum(route_cost(p, jobs, rr) for rr in routes)
    new, dropped, stats = eliminate_routes(p, counted(), jobs, routes, [], budget())
    used = [rr for rr in new if rr.visits]
    # 16 x 10 units, 60 per trip and no shift limit: fewer trucks carry it all
    assert stats["eliminate_removed"] >= 1 and len(used) < 4
    assert sum(route_cost(p, jobs, rr) for rr in new) < before
    assert served(new) == list(range(16)) and dropped == []
    sol = assemble(p, jobs, new, dropped, [], engine="ortools", wall_s=1.0, objective=0,
                   stats={})
    assert sol.check(p) == [] and sol.vehicles_used == len(used)


def test_no_route_is_emptied_when_the_others_have_no_time_left() -> None:
    # 4 visits of 10 min plus an unload fill each 1-hour shift: nothing can move
    p = grid(shift_end_s=3600)
    jobs = prepare(p).jobs
    new, dropped, stats = eliminate_routes(p, counted(), jobs, four_routes(), [], budget())
    assert stats["eliminate_removed"] == 0
    assert sum(1 for rr in new if rr.visits) == 4
    assert served(new) == list(range(16)) and dropped == []


def test_left_out_jobs_go_to_the_routes_near_them_or_an_idle_truck() -> None:
    # one row served, the other twelve left out, three idle trucks of 1-hour shifts
    p = grid(shift_end_s=3600)
    jobs = prepare(p).jobs
    routes = [four_routes()[0]] + [RawRoute(g, [], 0, 0) for g in (1, 2, 3)]
    left_out = list(range(4, 16))
    new, dropped, stats = eliminate_routes(p, counted(), jobs, routes, left_out, budget())
    assert stats["served_after_search"] == len(left_out) - len(dropped)
    assert len(dropped) < len(left_out)
    assert sorted(served(new) + dropped) == list(range(16))
    sol = assemble(p, jobs, new, dropped, [], engine="ortools", wall_s=1.0, objective=0,
                   stats={})
    assert sol.check(p) == []


def test_elimination_gets_its_share_only_where_trucks_cost_something() -> None:
    params = SolveParams(time_limit_s=10, eliminate_share=0.25, eliminate_max_jobs=100)
    assert elimination_share(grid(), params, 16) == 0.25
    # no fixed cost: no route is worth emptying; plain: the peer runs unchanged
    assert elimination_share(grid(fixed_cost=0), params, 16) == 0.0
    assert elimination_share(grid(), SolveParams(strategy="plain"), 16) == 0.0
    # a very large day keeps every second for its parts
    assert elimination_share(grid(), params, 101) == 0.0


def test_a_solve_with_fixed_costs_empties_routes_and_keeps_every_rule() -> None:
    p = grid(n_vehicles=4)
    sol = solve(p, SolveParams(time_limit_s=SAFETY_S, solution_limit=30))
    assert sol.unassigned == () and sol.check(p) == []
    # 160 units in trips of 60 and no shift limit: one truck suffices
    assert sol.vehicles_used == 1
    assert {"eliminate_tried", "eliminate_removed"} <= set(sol.stats)


def test_a_spare_unload_is_added_only_where_the_route_keeps_it() -> None:
    # a spare unload at the end of a route must leave it readable: the neighbourhoods
    # re-planned around such a route (elimination, left-out jobs) start from it
    day = generate_county_day(800, seed=30)
    jobs = prepare(day).jobs
    model = hgs.build_model(day, jobs)
    assert model is not None
    best, _ = hgs.search(model, 6.0, 0)
    raw = hgs.keep_feasible(day, SolveParams(), jobs, hgs.decode(day, jobs, model, best),
                            Budget(time.monotonic() + 30.0))
    with_spare = 0
    for rr in raw.routes:
        if not rr.visits:
            continue
        refs = rr.client_refs()
        local = {j: i for i, j in enumerate(refs)}
        sub = [jobs[j] for j in refs]
        seqs = spare_unloads(day, sub, [rr.vehicle], [local_stops(rr, local)])
        with_spare += len(seqs[0]) > len(rr.visits)
        m = RoutingModel(day, sub, [rr.vehicle], SolveParams(), initial=seqs)
        assert m.read_result(m.routes_as_indices(seqs), {}) is not None, rr.vehicle
    assert with_spare > 0  # the rule is exercised
