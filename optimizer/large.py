"""A large day: solved part by part, then repaired and re-planned across part borders.

The parts (``partition.plan_parts``) are solved one after another like a day's
groups (``group.solve_group``), the budget shared by size. Jobs the parts left
out are repaired with the unused vehicles and the nearest routes
(:func:`repair`), and neighbourhoods of routes are re-planned together
(:func:`improve_neighbourhoods`), since no move of a part's model crosses its border.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from optimizer.construct import best_greedy, greedy_routes
from optimizer.group import DayRoutes, solve_group
from optimizer.jobs import Job
from optimizer.model import COST_SCALE, RoutingModel
from optimizer.params import Budget, Progress, SolveParams
from optimizer.partition import plan_parts
from optimizer.problem import Problem
from optimizer.routes import (
    RawResult,
    RawRoute,
    Stop,
    consume_capacity,
    relabel_clients,
    route_metres,
)

#: at most this many rounds of repair
REPAIR_ROUNDS = 6
#: visits of a repair model (the jobs left out and the routes nearest to them)
REPAIR_JOBS = 450


def solve_large(problem: Problem, params: SolveParams, jobs: list[Job], t0: float,
                progress: Progress | None = None) -> RawResult:
    """Decomposed solve: components x clusters, budget split by size, then repair and
    neighbourhood re-planning."""
    whole = Budget.of(params, t0)
    chunk = max(10, int(params.chunk_size))
    parts = plan_parts(problem, jobs, chunk, params.seed)
    total_jobs = max(1, sum(len(p[0]) for p in parts))
    budget = params.time_limit_s - (time.monotonic() - t0)
    # the last share of the budget re-plans neighbouring routes across part borders
    improve_s = max(0.0, min(1.0, params.neighbourhood_share)) * budget
    reserve = max(0.12 * budget, min(2.0, 0.3 * budget)) + improve_s
    day = DayRoutes(problem, jobs)
    stats: dict[str, object] = {"parts": len(parts), "strategy": "decomposed"}
    done_jobs = 0
    for pj, pv in parts:
        if not pv:
            day.dropped.extend(pj)
            continue
        left = params.time_limit_s - (time.monotonic() - t0) - reserve
        tl = left * len(pj) / max(1, total_jobs - done_jobs)
        t_build = time.monotonic()
        sub_jobs = [jobs[i] for i in pj]
        seqs = None
        if problem.end_empty and problem.facilities:
            seqs = best_greedy(problem, sub_jobs, pv, facility_capacity_left=day.cap_left)
        # same path as a whole day's group: spare unloads, search, insertion of
        # what the search left out, search again
        raw = solve_group(problem, params, sub_jobs, pv, seqs, day.cap_left,
                          whole.until(t_build + max(0.3, tl)))
        done_jobs += len(pj)
        day.add(pj, raw)
        if progress is not None:
            progress(min(0.99, (time.monotonic() - t0) / params.time_limit_s), day.objective)
    stats["dropped_before_repair"] = len(day.dropped)
    # repair: dropped jobs with unused vehicles and the emptiest used routes
    repair_budget = whole.until(t0 + params.time_limit_s - 0.5 - improve_s)
    rounds = 0
    while day.dropped and rounds < REPAIR_ROUNDS and repair_budget.allows(0.5):
        before = len(day.dropped)
        left = repair_budget.left_s()
        slice_s = left if left < 6 or whole.counted else max(3.0, left / 2)
        day.routes, day.dropped = repair(problem, jobs, day.routes, day.dropped, params,
                                         slice_s, day.cap_left)
        rounds += 1
        day.cap_left = [f.daily_capacity for f in problem.facilities]
        consume_capacity(problem, jobs, day.routes, day.cap_left)
        if len(day.dropped) >= before and rounds >= 2:
            break
    stats["repair_rounds"] = rounds
    stats["dropped_after_repair"] = len(day.dropped)
    neighbourhoods = whole.until(t0 + params.time_limit_s - 0.3)
    if improve_s > 0 and neighbourhoods.allows(1.5):
        day.routes, day.dropped, nstats = improve_neighbourhoods(
            problem, params, jobs, day.routes, day.dropped, neighbourhoods)
        stats.update(nstats)
    return RawResult(day.routes, day.dropped, day.objective, True, stats)


def nearest_that_fit(scored: Sequence[tuple[float, int]], size: Callable[[int], int],
                     n: int, limit: int) -> list[int]:
    """Keys of ``scored`` (sorted nearest first) while the visits stay within ``limit``,
    ``n`` being taken already."""
    take: list[int] = []
    for _, key in scored:
        k = size(key)
        if n + k > limit:
            break
        take.append(key)
        n += k
    return take


def route_cost(problem: Problem, jobs: Sequence[Job], rr: RawRoute) -> float:
    """A route's cost in the model's units (cost per km x metres, fixed cost x 1000)."""
    if not rr.visits:
        return 0.0
    v = problem.vehicles[rr.vehicle]
    metres = route_metres(problem, jobs, rr.vehicle, rr.stops())
    return float(v.cost_per_km) * float(metres) + COST_SCALE * float(v.fixed_cost)


def _local_stops(rr: RawRoute, local: dict[int, int]) -> list[Stop]:
    """A route's stops with its job indices turned into those of a sub-problem."""
    return [(kind, local[ref] if kind == "client" else ref) for kind, ref in rr.stops()]


def improve_neighbourhoods(problem: Problem, params: SolveParams, jobs: Sequence[Job],
                           routes: list[RawRoute], dropped: list[int], budget: Budget,
                           max_jobs: int = 200
                           ) -> tuple[list[RawRoute], list[int], dict[str, object]]:
    """Re-plan a route together with its nearest routes, one neighbourhood at a time.

    Parts are solved apart, so no move crosses a part's border; here a seed route
    and the routes nearest to it (up to ``max_jobs`` visits, plus nearby jobs left
    out) form a small model started from their current routes (small models restore
    their start), and the result replaces them when it serves more or serves as
    many for less. Seeds go round in random order until the budget ends; counted,
    there are as many rounds as routes with visits.
    """
    rng = np.random.default_rng(params.seed)
    dist = problem.distance_m
    by_vehicle = {rr.vehicle: rr for rr in routes}
    tried = accepted = 0
    saved = 0.0
    order = [rr.vehicle for rr in routes if rr.visits]
    rng.shuffle(order)
    rounds_left = len(order) if budget.counted else -1

    def sample(rr: RawRoute) -> np.ndarray:
        locs = [jobs[ref].location for ref in rr.client_refs()]
        return np.asarray(locs[:: max(1, len(locs) // 8)] or [0])

    while order and rounds_left != 0 and budget.allows(1.0):
        rounds_left -= 1
        seed_v = order.pop(0)
        if dropped and tried % 2 == 0:
            # every other neighbourhood is seeded next to a job left out (parts
            # share vehicles by an estimate and some leave jobs out)
            j = jobs[dropped[int(rng.integers(len(dropped)))]]
            cands = [(float(dist[sample(rr), j.location].min()), g)
                     for g, rr in by_vehicle.items() if rr.visits and g in j.vehicles]
            if cands:
                order.append(seed_v)
                seed_v = min(cands)[1]
        if not by_vehicle[seed_v].visits:
            continue

        seed_locs = sample(by_vehicle[seed_v])
        scored = []
        for g, rr in by_vehicle.items():
            if g == seed_v or not rr.n_clients:
                continue
            d = dist[np.ix_(seed_locs, sample(rr))]
            scored.append((float(d.min(axis=1).mean()), g))
        scored.sort()
        take = [seed_v, *nearest_that_fit(scored, lambda g: by_vehicle[g].n_clients,
                                          by_vehicle[seed_v].n_clients, max_jobs)]
        # idle vehicles that could take the left-out jobs near the seed join in
        idle = [g for g, rr in by_vehicle.items() if not rr.visits]
        if dropped and idle:
            dl = np.asarray([jobs[j].location for j in dropped])
            close = [dropped[i] for i in np.argsort(
                dist[np.ix_(dl, seed_locs)].min(axis=1))[:20]]
            fit = [g for g in idle if any(g in jobs[j].vehicles for j in close)]
            fit.sort(key=lambda g: float(dist[problem.vehicles[g].start_location, seed_locs].min()))
            take += fit[:2]
        if len(take) < 2:
            continue
        sub = [ref for g in take for ref in by_vehicle[g].client_refs()]
        served_before = len(sub)
        allowed = set(take)
        near = [j for j in dropped if allowed & set(jobs[j].vehicles)]
        if near:
            d = dist[np.ix_(np.asarray([jobs[j].location for j in near]), seed_locs)].min(axis=1)
            near = [near[i] for i in np.argsort(d)[:20]]
            sub += near
        local = {j: i for i, j in enumerate(sub)}
        init = [_local_stops(by_vehicle[g], local) for g in take]
        cap: list[int | None] = [f.daily_capacity for f in problem.facilities]
        consume_capacity(problem, jobs, [rr for g, rr in by_vehicle.items() if g not in allowed],
                         cap)
        cost_before = sum(route_cost(problem, jobs, by_vehicle[g]) for g in take)
        left = budget.left_s()
        t_sub = left if budget.counted else min(left, max(2.0, min(6.0, left / 3)))
        raw = solve_group(problem, params, [jobs[i] for i in sub], take, init, cap,
                          budget.until(time.monotonic() + t_sub))
        tried += 1
        if not raw.found:
            continue
        relabel_clients(raw.routes, sub)
        served_after = len(sub) - len(raw.dropped)
        cost_after = sum(route_cost(problem, jobs, rr) for rr in raw.routes)
        if served_after > served_before or (served_after == served_before
                                            and cost_after < cost_before - 1e-6):
            accepted += 1
            saved += cost_before - cost_after
            for rr in raw.routes:
                by_vehicle[rr.vehicle] = rr
            in_sub = set(sub)
            dropped = [j for j in dropped if j not in in_sub] + [sub[i] for i in raw.dropped]
    stats: dict[str, object] = {"neighbourhoods_tried": tried, "neighbourhoods_improved": accepted,
                                "neighbourhood_saving": round(saved)}
    return list(by_vehicle.values()), dropped, stats


def repair(problem: Problem, jobs: Sequence[Job], routes: list[RawRoute], dropped: list[int],
           params: SolveParams, time_s: float,
           cap_left: list[int | None]) -> tuple[list[RawRoute], list[int]]:
    """Re-plan the jobs left out with the unused vehicles and the used routes nearest
    to them; returns the day's routes and the jobs still left out."""
    used = {rr.vehicle for rr in routes if rr.visits}
    unused = [v for v in range(len(problem.vehicles)) if v not in used]
    drop_locs = np.asarray([jobs[i].location for i in dropped])
    # used routes nearest to the dropped jobs, as many as keeps the model small
    scored = []
    for ri, rr in enumerate(routes):
        if not rr.visits:
            continue
        locs = [jobs[ref].location for ref in rr.client_refs()]
        if not locs:
            continue
        d = problem.distance_m[np.ix_(np.asarray(locs[:50]), drop_locs[:200])]
        scored.append((float(d.min()), ri))
    scored.sort()
    take = nearest_that_fit(scored, lambda ri: routes[ri].n_clients, len(dropped), REPAIR_JOBS)
    sub = list(dropped)
    veh = list(unused)
    for ri in take:
        sub.extend(routes[ri].client_refs())
        veh.append(routes[ri].vehicle)
    if not veh:
        return routes, dropped
    local = {g: i for i, g in enumerate(sub)}
    # capacity used by the routes being re-planned goes back to the pool
    freed: list[int | None] = [0] * len(problem.facilities)
    consume_capacity(problem, jobs, [routes[ri] for ri in take], freed)
    back = [None if c is None else c - (f or 0) for c, f in zip(cap_left, freed, strict=True)]
    fresh: dict[int, list[Stop]] = {}
    if unused:
        # dropped jobs come first in `sub`, so their positions are local indices
        seqs = greedy_routes(problem, jobs, unused, job_ids=dropped,
                             facility_capacity_left=cap_left)
        fresh = dict(zip(unused, seqs, strict=True))
    init: list[list[Stop]] = []
    for v in veh:
        seq: list[Stop] = fresh.get(v, [])
        for ri in take:
            if routes[ri].vehicle == v:
                seq = _local_stops(routes[ri], local)
        init.append(seq)
    model = RoutingModel(problem, [jobs[i] for i in sub], veh, params,
                         facility_capacity_left=back, initial=init)
    raw = model.solve(time_s, "auto", initial=model.routes_as_indices(init))
    if not raw.found:
        return routes, dropped
    keep = [rr for ri, rr in enumerate(routes) if ri not in set(take)]
    relabel_clients(raw.routes, sub)
    keep.extend(raw.routes)
    return keep, [sub[i] for i in raw.dropped]
