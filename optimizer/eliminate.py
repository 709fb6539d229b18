"""Route elimination across the whole day: empty a vehicle's route into its neighbours.

A plan's cost is dominated by the vehicles it uses (each pays its fixed cost), and
no move of a local search empties a route: that takes many moves, each worse than
the last until the route is gone. Here the search is turned around. A route is
taken out, its jobs are put into the routes nearest to it (:func:`group.insert_dropped`:
the cheapest positions, each read back through the full model), a short guided local
search takes what insertion could not place, and the new routes are kept when every
job is served and the day costs less (fixed costs + cost per km). Routes are tried
from the cheapest to remove (fewest visits), across part borders of a large day,
until the budget ends or every route has failed since the last success.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np

from optimizer.group import insert_dropped, spare_unloads
from optimizer.jobs import Job
from optimizer.large import improve_neighbourhoods, nearest_that_fit, route_cost
from optimizer.model import RoutingModel
from optimizer.params import Budget, SolveParams
from optimizer.problem import Problem
from optimizer.routes import RawResult, RawRoute, Stop, consume_capacity, relabel_clients

log = logging.getLogger(__name__)

#: visits of one elimination model (the route taken out and its nearest routes)
ELIMINATE_JOBS = 160
#: share of an attempt's time given to the search after insertion
SEARCH_SHARE = 0.6
#: seconds of search that shorten the routes of a kept elimination
POLISH_S = 2.0


def local_stops(rr: RawRoute, local: dict[int, int]) -> list[Stop]:
    """A route's stops with its job indices turned into those of a sub-problem."""
    return [(kind, local[ref] if kind == "client" else ref) for kind, ref in rr.stops()]


def _sample(jobs: Sequence[Job], rr: RawRoute) -> np.ndarray:
    locs = [jobs[ref].location for ref in rr.client_refs()]
    return np.asarray(locs[:: max(1, len(locs) // 8)] or [0])


def eliminate_routes(problem: Problem, params: SolveParams, jobs: Sequence[Job],
                     routes: list[RawRoute], dropped: list[int], budget: Budget,
                     max_jobs: int = ELIMINATE_JOBS,
                     ) -> tuple[list[RawRoute], list[int], dict[str, object]]:
    """Serve what was left out, then take routes out while the day stays served and
    gets cheaper.

    First, jobs left out are put into the routes nearest to them, an idle vehicle
    that can take them joining (:func:`serve_dropped`). Then routes are taken out one
    at a time, cheapest first; a vehicle set free this way is offered to the jobs
    still left out. When every route has failed, the rest of the budget re-plans
    neighbourhoods of routes (:func:`large.improve_neighbourhoods`). Returns the day's routes (emptied vehicles keep an
    empty route), the jobs left out and stats. Counted budgets try each route once.
    """
    t0 = time.monotonic()
    by_vehicle = {rr.vehicle: rr for rr in routes}
    n_before = len(dropped)
    if dropped:
        # at most half of the phase: the rest takes vehicles out
        serve_budget = budget if budget.counted else budget.until(
            time.monotonic() + 0.5 * budget.left_s())
        dropped = serve_dropped(problem, params, jobs, by_vehicle, dropped, serve_budget,
                                max_jobs)
    failed: set[int] = set()
    tried = removed = 0
    saved = 0.0
    attempts_left = len(routes) if budget.counted else -1
    while attempts_left != 0 and budget.allows(1.0):
        cands = [rr for g, rr in by_vehicle.items() if rr.n_clients and g not in failed]
        if not cands:
            break
        # the cheapest to remove first: fewest visits, then the shortest day
        victim = min(cands, key=lambda rr: (rr.n_clients, rr.end_s - rr.start_s, rr.vehicle))
        attempts_left -= 1
        tried += 1
        failed.add(victim.vehicle)
        moved = victim.client_refs()
        take = _neighbours(problem, jobs, by_vehicle, victim, moved, max_jobs)
        if not take:
            continue
        left = budget.left_s()
        t_try = left if budget.counted else min(left, max(2.0, min(8.0, left / 4)))
        out = _replan(problem, params, jobs, by_vehicle, take, moved, victim.vehicle,
                      budget.until(time.monotonic() + t_try))
        if out is None or out[1]:
            continue
        before = sum(route_cost(problem, jobs, by_vehicle[g]) for g in [*take, victim.vehicle])
        after = sum(route_cost(problem, jobs, rr) for rr in out[0])
        if after >= before - 1e-6:
            continue
        removed += 1
        saved += before - after
        for rr in out[0]:
            by_vehicle[rr.vehicle] = rr
        by_vehicle[victim.vehicle] = RawRoute(victim.vehicle, [], victim.start_s,
                                              victim.start_s, None)
        # neighbours changed: a route that failed before may fit now
        failed = {victim.vehicle}
        if dropped and any(victim.vehicle in jobs[j].vehicles for j in dropped) \
                and budget.allows(1.0):
            # the vehicle set free may serve what was left out
            left = budget.left_s()
            dropped = serve_dropped(problem, params, jobs, by_vehicle, dropped,
                                    budget.until(time.monotonic() + max(3.0, left / 3)),
                                    max_jobs)
    routes = list(by_vehicle.values())
    stats: dict[str, object] = {}
    if budget.allows(1.5):
        # every route has failed: the rest re-plans neighbourhoods (serve more, shorter)
        routes, dropped, stats = improve_neighbourhoods(problem, params, jobs, routes,
                                                        dropped, budget)
    stats.update({"eliminate_tried": tried, "eliminate_removed": removed,
                  "eliminate_saving": round(saved),
                  "served_after_search": n_before - len(dropped),
                  "eliminate_s": round(time.monotonic() - t0, 1)})
    log.debug("route elimination: %s", stats)
    return routes, dropped, stats


def serve_dropped(problem: Problem, params: SolveParams, jobs: Sequence[Job],
                  by_vehicle: dict[int, RawRoute], dropped: list[int], budget: Budget,
                  max_jobs: int = ELIMINATE_JOBS, near: int = 20) -> list[int]:
    """Put jobs left out into the routes nearest to them, with up to two idle
    vehicles that can take them; ``by_vehicle`` is updated in place. Returns the
    jobs still left out."""
    dist = problem.distance_m
    todo = [j for j in dropped if not jobs[j].worthless]
    out: list[int] = [j for j in dropped if jobs[j].worthless]
    while todo and budget.allows(1.0):
        seed = todo[0]
        locs = np.asarray([jobs[j].location for j in todo])
        order = np.argsort(dist[locs, jobs[seed].location], kind="stable")
        extra = [todo[i] for i in order[:near] if set(jobs[todo[i]].vehicles)
                 & set(jobs[seed].vehicles)]
        seed_rr = RawRoute(-1, [], 0, 0)
        take = _neighbours(problem, jobs, by_vehicle, seed_rr, extra, max_jobs)
        idle = [g for g, rr in by_vehicle.items() if not rr.visits
                and any(g in jobs[j].vehicles for j in extra)]
        idle.sort(key=lambda g: int(dist[problem.vehicles[g].start_location,
                                         jobs[seed].location]))
        take += idle[:2]
        res = None
        if take:
            left = budget.left_s()
            t_try = left if budget.counted else min(left, max(2.0, min(8.0, left / 3)))
            res = _replan(problem, params, jobs, by_vehicle, take, extra, None,
                          budget.until(time.monotonic() + t_try))
        todo = [j for j in todo if j not in set(extra)]
        if res is None or len(res[1]) >= len(extra):
            out += extra
            continue
        for rr in res[0]:
            by_vehicle[rr.vehicle] = rr
        out += res[1]
    return out + todo


def _neighbours(problem: Problem, jobs: Sequence[Job], by_vehicle: dict[int, RawRoute],
                victim: RawRoute, moved: list[int], max_jobs: int) -> list[int]:
    """Vehicles of the used routes nearest to the jobs ``moved`` (out of ``victim``)
    that can take them, as many as keep the model within ``max_jobs`` visits; [] when
    some job could go to none of them."""
    dist = problem.distance_m
    need = set().union(*(set(jobs[j].vehicles) for j in moved))
    locs = [jobs[j].location for j in moved]
    seed_locs = np.asarray(locs[:: max(1, len(locs) // 8)])
    scored = []
    for g, rr in by_vehicle.items():
        if g == victim.vehicle or not rr.n_clients or g not in need:
            continue
        d = dist[np.ix_(seed_locs, _sample(jobs, rr))]
        scored.append((float(d.min(axis=1).mean()), g))
    scored.sort()
    take = nearest_that_fit(scored, lambda g: by_vehicle[g].n_clients, len(moved), max_jobs)
    if not take or any(not set(jobs[j].vehicles) & set(take) for j in moved):
        return []
    return take


def _replan(problem: Problem, params: SolveParams, jobs: Sequence[Job],
            by_vehicle: dict[int, RawRoute], take: list[int], extra: list[int],
            gone: int | None, budget: Budget) -> tuple[list[RawRoute], list[int]] | None:
    """The routes of ``take`` re-planned with the jobs ``extra`` added (insertion at
    the cheapest feasible positions, a search for what did not fit, insertion again,
    and a short search to shorten them when all fit); None when nothing was read.
    Returns the new routes (global job indices) and the jobs left out."""
    t0 = time.monotonic()
    sub = [ref for g in take for ref in by_vehicle[g].client_refs()] + extra
    local = {j: i for i, j in enumerate(sub)}
    sub_jobs = [jobs[i] for i in sub]
    plain = [local_stops(by_vehicle[g], local) for g in take]
    cap: list[int | None] = [f.daily_capacity for f in problem.facilities]
    consume_capacity(problem, jobs, [rr for g, rr in by_vehicle.items()
                                     if g not in take and g != gone], cap)
    # spare_unloads bounds the break's delay by its length, which a break that must
    # wait for its own window can exceed: routes its spares make unreadable keep
    # their own stops (800 points, seed 30: every re-plan around one route failed)
    spare = spare_unloads(problem, sub_jobs, take, plain)
    for init in [spare] if spare == plain else [spare, plain]:
        model = RoutingModel(problem, sub_jobs, take, params, initial=init,
                             facility_capacity_left=cap)
        start = model.read_result(model.routes_as_indices(init), {})
        if start is not None:
            break
    if start is None:
        return None
    raw: RawResult = start
    inserted = insert_dropped(problem, sub_jobs, take, model, raw,
                              budget.until(time.monotonic() + (1 - SEARCH_SHARE) * budget.left_s()))
    if inserted is not None:
        raw = inserted
    n_inserted_left = len(raw.dropped)
    if raw.dropped and budget.allows(0.5):
        again = model.solve(budget.left_s(), "auto",
                            initial=model.routes_as_indices([rr.stops() for rr in raw.routes]))
        if again.found and len(again.dropped) < len(raw.dropped):
            raw = again
        if raw.dropped and budget.allows(0.3):
            inserted = insert_dropped(problem, sub_jobs, take, model, raw, budget)
            if inserted is not None:
                raw = inserted
    elif budget.allows(0.5):
        # insertion placed every job where it fits first: a short search shortens the km
        polish = model.solve(min(budget.left_s(), POLISH_S), "auto",
                             initial=model.routes_as_indices([rr.stops() for rr in raw.routes]))
        if polish.found and not polish.dropped and polish.objective < raw.objective:
            raw = polish
    log.debug("replan %d routes + %d jobs: %d left out after insertion, %d at the end, "
              "%.1f s", len(take), len(extra), n_inserted_left, len(raw.dropped),
              time.monotonic() - t0)
    relabel_clients(raw.routes, sub)
    return raw.routes, [sub[i] for i in raw.dropped]
