"""PyVRP's iterated local search on the bureau's cost, for real days (breaks, trips).

The plan PyVRP finds is a proposal: every route is read back through an OR-Tools
model of its own (:func:`keep_feasible`), which holds every rule, and what a route
cannot keep is inserted at the cheapest of every position that reads back, else
served by ``eliminate.serve_dropped``; then ``eliminate.eliminate_routes`` takes out
a truck that brought in (:func:`plan`). Where PyVRP's model
differs from ours:

* jobs (``optimizer.jobs``, oversized clients already split) that must be served
  (no penalty, or one worth more than several vehicles) are required clients, the
  others optional with their penalty as prize. When the first part of the search
  finds no plan that serves every required job, they all become optional with a
  prize worth several vehicles, so a day too big for the fleet still gets a plan
  (:func:`search`); one load dimension per compartment, demand a pickup;
* facilities are reload depots of the vehicles whose every compartment they accept
  (a reload empties every dimension); ``max_collected`` bounds the reloads;
* ``end_empty``: a vehicle type ends at a location of its own whose distance from
  ``x`` is the cheapest ``x -> facility -> home``; the facility is written out
  when the routes are decoded;
* breaks: the shift is shortened by the break, and a window that ends after the
  latest break start ends a break earlier, so that the break cannot make a stop
  late (:func:`_break_safe`); OR-Tools places the break when reading back;
* cost: fixed cost and cost per km in integer units of 1 / (1000 K) currency, K
  the smallest power of ten that makes every ``cost_per_km x K`` whole.

A fixed cost far above a route's distance is hardly ever saved by moves that
shift one client at a time, so the search takes vehicles away: the route with
the fewest clients is removed (its type one vehicle short, every type capped at
what it used), the rest warm-starts a new search, and the smaller fleet is kept
when it costs less.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from optimizer.eliminate import eliminate_routes, serve_dropped
from optimizer.jobs import Job
from optimizer.large import route_cost
from optimizer.model import RoutingModel
from optimizer.params import Budget, SolveParams
from optimizer.portfolio import better
from optimizer.problem import Problem, Vehicle
from optimizer.pyvrp_engine import vehicle_key
from optimizer.routes import (
    RawResult,
    RawRoute,
    Stop,
    consume_capacity,
    relabel_clients,
    route_metres,
)

log = logging.getLogger(__name__)

#: share of the search spent on the whole fleet before vehicles are taken away, and
#: share one try with a vehicle less may take: the reference's schedule
#: (benchmarks/pyvrp_reference.py); 0.4 and 0.08 kept all 22 trucks of a roomy
#: 400-point day (seed 23) on a loaded machine where the reference found 14
FIRST_SHARE = 0.5
TRY_SHARE = 0.1
#: scheduling priority of the child process on days without fixed costs
NICE = 10
#: single-client removals tried on a route OR-Tools cannot read back
REMOVALS_TRIED = 40
#: places tried (each read back by OR-Tools) for a job PyVRP's plan left out, and
#: per route: the cheapest of every position. A client a route loses to its break
#: often fits only far down that list (a 400-point day, seed 23: 12 places, at most
#: 2 per route, brought in a 15th truck; every position kept PyVRP's 14)
INSERT_TRIES = 100
INSERT_PER_ROUTE = 100
#: share of the budget (at least REPAIR_MIN_S) kept after the search for reading its
#: routes back, serving what they cannot keep (an 800-point day: 0.3-1.5 s) and
#: taking out the trucks that brought in (``eliminate.eliminate_routes``, tries of 2 s
#: at least; the rest of the time shortens routes)
REPAIR_SHARE = 0.1
REPAIR_MIN_S = 1.0
#: share of the budget (at least 0.3 s) the repair leaves before the deadline
MARGIN_SHARE = 0.01


@dataclass(slots=True)
class HgsModel:
    data: Any  # pyvrp.ProblemData
    #: global vehicle indices per PyVRP vehicle type
    type_vehicles: list[list[int]]
    #: per type, with end_empty: the facility to end at, by location of the last stop
    type_end: list[np.ndarray | None]
    client_job: list[int]
    depot_facility: dict[int, int]
    prize_cap: int
    #: ``data`` with every client optional (a prize), when some are required in ``data``:
    #: the search falls back on it when it finds no plan that serves them all
    relaxed: Any = None


def _comps(v: Vehicle) -> set[str]:
    return {k for k, c in v.capacities.items() if c > 0}


def _cost_units(problem: Problem) -> int:
    for k in (1, 10, 100, 1000):
        if all(abs(v.cost_per_km * k - round(v.cost_per_km * k)) < 1e-9 for v in problem.vehicles):
            return k
    return 1000


def _work_end(v: Vehicle) -> int:
    return int(v.shift_end_s) - (int(v.break_s) if v.has_break else 0)


def _break_safe(problem: Problem) -> Callable[[int, int, int], int]:
    """``late(early, t, service_s)``: the latest time PyVRP may start a service of
    ``service_s`` whose window is ``[early, t]``, so that the break OR-Tools puts in
    when reading back makes no stop late (never before ``early``).

    PyVRP sees no break (the shift is shorter by it). Reading back, the break can
    follow every stop that ends by the latest break start ``L`` (the earliest of the
    fleet's): those keep their times; a stop that ends later comes after the break,
    up to ``break_s`` later (the longest of the fleet's), and must still start within
    its window. A window that ran to its end lost the client when read back and a
    truck was brought in for it (400 generated points, seed 25: 2 clients). Tighter
    windows (ending a break early wherever they end after the earliest break start)
    cost trucks instead: 91 against 86 on 2,000 points, seed 28.
    """
    breaks = [v for v in problem.vehicles if v.has_break]
    if not breaks:
        return lambda early, t, service_s: max(early, t)
    latest = min(int(v.break_latest_s or 0) for v in breaks)
    length = max(int(v.break_s) for v in breaks)
    return lambda early, t, service_s: max(early, min(t, latest - service_s), t - length)


def _end_window(problem: Problem, v: Vehicle, accepting: list[int],
                late: Callable[[int, int, int], int]) -> tuple[list[int], int, int]:
    """Facilities a vehicle may end at and the window of arriving home after them:
    those open over the second half of the shift, else the one that overlaps it most;
    the last unload leaves room for the break (``late``)."""
    dur = problem.duration_s
    start, end = int(v.shift_start_s), _work_end(v)

    def home_window(f: int, safe: bool = False) -> tuple[int, int]:
        fac = problem.facilities[f]
        back = int(dur[fac.location, v.end_location])
        last = int(fac.close_s - fac.unload_s)
        if safe:
            last = late(int(fac.open_s), last, int(fac.unload_s))
        return int(fac.open_s + fac.unload_s + back), int(last + fac.unload_s + back)

    mid = (start + end) // 2
    good = [f for f in accepting if home_window(f)[1] >= end and home_window(f)[0] <= mid]
    if not good and accepting:
        good = [max(accepting, key=lambda f: min(home_window(f)[1], end)
                    - max(home_window(f)[0], start))]
    if not good:
        return [], 0, -1
    lo = max(start, max(home_window(f)[0] for f in good))
    hi = min(end, min(home_window(f, safe=True)[1] for f in good))
    return good, lo, hi


def build_model(problem: Problem, jobs: Sequence[Job]) -> HgsModel | None:
    """``pyvrp.ProblemData`` of ``jobs`` (see the module docstring); None when no
    vehicle can work."""
    import pyvrp

    n = problem.num_locations
    dist = np.asarray(problem.distance_m, dtype=np.int64)
    dur = np.asarray(problem.duration_s, dtype=np.int64)
    dims = sorted(problem.categories)
    k_units = _cost_units(problem)
    scale = 1000 * k_units
    groups: dict[tuple[object, ...], list[int]] = {}
    for g, v in enumerate(problem.vehicles):
        groups.setdefault(vehicle_key(v), []).append(g)

    late = _break_safe(problem)

    depots: list[Any] = []
    home: dict[int, int] = {}
    for v in problem.vehicles:
        for loc in (v.start_location, v.end_location):
            if loc not in home:
                home[loc] = len(depots)
                depots.append(pyvrp.Depot(location=loc))
    fac_depot: dict[int, int] = {}
    for fi, f in enumerate(problem.facilities):
        if f.close_s - f.unload_s >= f.open_s:
            fac_depot[fi] = len(depots)
            depots.append(pyvrp.Depot(location=f.location, tw_early=int(f.open_s),
                                      tw_late=late(int(f.open_s), int(f.close_s - f.unload_s),
                                                   int(f.unload_s)),
                                      service_duration=int(f.unload_s)))
    vtypes: list[Any] = []
    type_vehicles: list[list[int]] = []
    type_end: list[np.ndarray | None] = []
    # virtual ends: (type, distance column, duration column, window)
    ends: list[tuple[int, np.ndarray, np.ndarray, int, int]] = []
    for members in groups.values():
        v = problem.vehicles[members[0]]
        comps = _comps(v)
        if not comps:
            continue
        accepting = [fi for fi in fac_depot if comps <= problem.facilities[fi].accepts]
        tw_early, tw_late = int(v.shift_start_s), _work_end(v)
        end_depot = home[v.end_location]
        choice: np.ndarray | None = None
        if problem.end_empty:
            good, lo, hi = _end_window(problem, v, accepting, late)
            if not good or hi < lo:
                continue
            locs = [problem.facilities[f].location for f in good]
            d = np.stack([dist[:, fl] + dist[fl, v.end_location] for fl in locs])
            t = np.stack([dur[:, fl] + problem.facilities[f].unload_s + dur[fl, v.end_location]
                          for f, fl in zip(good, locs, strict=True)])
            pick = np.argmin(d, axis=0)
            choice = np.asarray(good)[pick]
            ends.append((len(vtypes), d[pick, np.arange(n)], t[pick, np.arange(n)], lo, hi))
            end_depot = -1  # set once every fixed depot is known
            tw_late = min(tw_late, hi)
        if tw_late < tw_early:
            continue
        caps = [int(v.capacities.get(k, 0)) for k in dims]
        extra: dict[str, Any] = {}
        if v.max_collected is not None and sum(caps) > 0:
            extra["max_reloads"] = max(0, v.max_collected // sum(caps) - 1)
        type_vehicles.append(list(members))
        type_end.append(choice)
        vtypes.append(dict(num_available=len(members), capacity=caps,
                           start_depot=home[v.start_location], end_depot=end_depot,
                           fixed_cost=int(round(v.fixed_cost * scale)),
                           tw_early=tw_early, tw_late=tw_late,
                           unit_distance_cost=int(round(v.cost_per_km * k_units)),
                           reload_depots=[fac_depot[f] for f in accepting], **extra))
    if not vtypes:
        return None
    m = n + len(ends)
    dist_x = np.zeros((m, m), dtype=np.int64)
    dur_x = np.zeros((m, m), dtype=np.int64)
    dist_x[:n, :n], dur_x[:n, :n] = dist, dur
    for j, (ti, d_col, t_col, lo, hi) in enumerate(ends):
        back_home = problem.vehicles[type_vehicles[ti][0]].end_location
        dist_x[:n, n + j], dur_x[:n, n + j] = d_col, t_col
        dist_x[n + j, :n], dur_x[n + j, :n] = dist[back_home], dur[back_home]
        vtypes[ti]["end_depot"] = len(depots)
        depots.append(pyvrp.Depot(location=n + j, tw_early=lo, tw_late=hi))

    max_fixed = max(t["fixed_cost"] for t in vtypes)
    max_unit = max(max(1, t["unit_distance_cost"]) for t in vtypes)
    prize_cap = int(4 * (max_fixed + max_unit * 3 * int(dist.max(initial=0)) + 1))
    clients: list[dict[str, Any]] = []
    client_job: list[int] = []
    for ji, job in enumerate(jobs):
        if job.worthless:
            continue  # worth nothing served: never planned, as in the OR-Tools model
        pickup = [int(job.amount.get(k, 0)) for k in dims]
        # a job worth more than several trucks must be served: PyVRP keeps it in and
        # moves the others round it, instead of weighing a prize it rarely gives up
        must = job.penalty is None or int(job.penalty) * scale >= prize_cap
        prize = prize_cap if job.penalty is None else min(int(job.penalty) * scale, prize_cap)
        clients.append(dict(location=job.location, pickup=pickup, delivery=[0] * len(dims),
                            service_duration=int(job.service_s),
                            tw_early=int(job.tw_start_s),
                            tw_late=late(int(job.tw_start_s), int(job.tw_end_s),
                                         int(job.service_s)),
                            prize=max(1, prize), required=must))
        client_job.append(ji)
    coords = problem.extra.get("coords") if isinstance(problem.extra, dict) else None
    xy = [(0.0, 0.0)] * m
    if isinstance(coords, list) and len(coords) == n:
        at = list(range(n)) + [problem.vehicles[type_vehicles[e[0]][0]].end_location
                               for e in ends]
        xy = [(float(coords[i][0]), float(coords[i][1])) for i in at]
    data = pyvrp.ProblemData([pyvrp.Location(x=x, y=y) for x, y in xy],
                             [pyvrp.Client(**c) for c in clients], depots,
                             [pyvrp.VehicleType(**t) for t in vtypes],
                             [dist_x], [dur_x])  # type: ignore[list-item]
    relaxed = data.replace(clients=[pyvrp.Client(**{**c, "required": False}) for c in clients]) \
        if any(c["required"] for c in clients) else None
    return HgsModel(data, type_vehicles, type_end, client_job,
                    {d: f for f, d in fac_depot.items()}, prize_cap, relaxed)


# --------------------------------------------------------------------------- search


def _ils(data: Any, prize_cap: int, seconds: float, seed: int, start: Any = None) -> Any:
    """One run of PyVRP's iterated local search.

    Prizes are worth several vehicles, so with PyVRP's default penalty cap an
    overloaded or late plan looks cheaper than leaving clients out and the search
    stays infeasible: the cap is a tenth of the largest prize, and penalties adapt
    every 100 solutions."""
    import pyvrp
    from pyvrp import PenaltyManager, PenaltyParams
    from pyvrp.exceptions import PenaltyBoundWarning
    from pyvrp.IteratedLocalSearch import IteratedLocalSearchParams
    from pyvrp.search import (
        OPERATORS,
        LocalSearch,
        NeighbourhoodParams,
        PerturbationManager,
        PerturbationParams,
        compute_neighbours,
    )
    from pyvrp.stop import MaxRuntime

    penalties = PenaltyManager(([5e4] * data.num_load_dimensions, 5e4, 5e4),
                               PenaltyParams(max_penalty=max(1e5, prize_cap / 10),
                                             solutions_between_updates=100))
    rng = pyvrp.RandomNumberGenerator(seed=seed)
    search = LocalSearch(data, rng, compute_neighbours(data, NeighbourhoodParams()),
                         PerturbationManager(PerturbationParams()))
    for op in OPERATORS:
        if op.supports(data):
            search.add_operator(op(data))
    first = start if start is not None else pyvrp.Solution.make_random(data, rng)
    first = search(first, penalties.max_cost_evaluator(), exhaustive=True)
    ils = pyvrp.IteratedLocalSearch(data, penalties, search, first, IteratedLocalSearchParams())
    with warnings.catch_warnings():
        # a tight day keeps penalties at their cap: the repair handles what stays out
        warnings.simplefilter("ignore", PenaltyBoundWarning)
        return ils.run(MaxRuntime(max(0.05, seconds)), False)


def _moved(data: Any, routes: Sequence[Any], type_of: Sequence[int] | dict[int, int]) -> Any:
    """``routes`` as a solution of ``data``, vehicle type ``t`` becoming ``type_of[t]``."""
    import pyvrp

    return pyvrp.Solution(data, [pyvrp.Route(data, [pyvrp.Activity(a.type, a.idx)
                                                    for a in list(r.schedule())[1:-1]],
                                             type_of[r.vehicle_type()]) for r in routes])


def search(model: HgsModel, run_s: float, seed: int) -> tuple[Any, dict[str, object]]:
    """The cheapest feasible PyVRP solution found in ``run_s`` (None if none), with
    vehicles taken away while that lowers the cost (module docstring)."""
    t_end = time.monotonic() + run_s
    data = model.data
    same = list(range(data.num_vehicle_types))
    res = _ils(data, model.prize_cap, FIRST_SHARE * run_s, seed)
    relaxed = not res.is_feasible() and model.relaxed is not None
    if relaxed:
        # no plan found in time that serves every required job (PyVRP's model is
        # stricter than ours, and on tight days it finds one late: 400 generated
        # points, seed 31, at 66 s): they become optional, worth their prize, from the
        # search's start, which serves them all. 400 points, seed 29: 16 trucks serve
        # all 400; optional from the outset, 18 left one out
        data = model.relaxed
        res = _ils(data, model.prize_cap, min(t_end - time.monotonic(), TRY_SHARE * run_s),
                   seed, _moved(data, res.best.routes(), same))
    best = res.best if res.is_feasible() else None
    best_cost = res.cost() if best is not None else math.inf
    first = (res.best.num_routes(), res.best.num_clients())
    fleet = [t.num_available for t in (data.vehicle_type(i) for i in range(data.num_vehicle_types))]
    tries = kept = 0
    failed: set[tuple[int, int]] = set()
    while time.monotonic() < t_end - 0.5:
        left = t_end - time.monotonic()
        if best is None:
            res = _ils(data, model.prize_cap, left, seed + 1, res.best)
            if res.is_feasible():
                best, best_cost = res.best, res.cost()
            continue
        order = sorted(best.routes(), key=lambda r: (r.num_clients(), r.distance()))
        victim = next((r for r in order if (r.vehicle_type(), r.num_clients()) not in failed),
                      None)
        used = [0] * data.num_vehicle_types
        for r in best.routes():
            used[r.vehicle_type()] += 1
        if victim is None:
            # every route has been tried: improve the smallest fleet for the rest
            small = data.replace(vehicle_types=[data.vehicle_type(t).replace(
                num_available=max(1, used[t])) for t in range(data.num_vehicle_types)])
            res = _ils(small, model.prize_cap, left, seed + tries + 1,
                       _moved(small, best.routes(), same))
            if res.is_feasible() and res.cost() < best_cost:
                best, best_cost = _moved(data, res.best.routes(), same), res.cost()
            break
        used[victim.vehicle_type()] -= 1
        keep = [t for t in range(data.num_vehicle_types) if used[t] > 0]
        if not keep:
            break
        index = {t: i for i, t in enumerate(keep)}
        small = data.replace(vehicle_types=[data.vehicle_type(t).replace(num_available=used[t])
                                            for t in keep])
        warm = _moved(small, [r for r in best.routes() if r is not victim],
                      index)
        tries += 1
        res = _ils(small, model.prize_cap, min(left, max(1.0, TRY_SHARE * run_s)),
                   seed + tries, warm)
        if res.is_feasible() and res.cost() < best_cost:
            best, best_cost = _moved(data, res.best.routes(), keep), res.cost()
            kept += 1
            failed.clear()
        else:
            failed.add((victim.vehicle_type(), victim.num_clients()))
    return best, {"hgs_feasible": best is not None, "hgs_relaxed": relaxed,
                  "hgs_fleet_tries": tries,
                  "hgs_fleet_kept": kept, "hgs_vehicles": len(best.routes()) if best else 0,
                  "hgs_fleet": sum(fleet), "hgs_first_routes": first[0],
                  "hgs_first_served": first[1]}


def decode(problem: Problem, jobs: Sequence[Job], model: HgsModel,
           best: Any) -> dict[int, list[Stop]]:
    """PyVRP's routes as stop lists per vehicle (job indices; facilities, the end one
    written out; unloads that find the vehicle empty left out)."""
    pool = [list(vs) for vs in model.type_vehicles]
    out: dict[int, list[Stop]] = {}
    for r in best.routes():
        t = r.vehicle_type()
        g = pool[t].pop(0)
        v = problem.vehicles[g]
        stops: list[Stop] = []
        for a in list(r.schedule())[1:-1]:
            if a.is_client():
                stops.append(("client", model.client_job[a.idx]))
            elif a.is_depot() and a.idx in model.depot_facility:
                stops.append(("facility", model.depot_facility[a.idx]))
        choice = model.type_end[t]
        if choice is not None and stops:
            kind, ref = stops[-1]
            last = jobs[ref].location if kind == "client" else problem.facilities[ref].location
            stops.append(("facility", int(choice[last])))
        out[g] = _without_empty_unloads(problem, jobs, v, stops)
    return out


def _without_empty_unloads(problem: Problem, jobs: Sequence[Job], v: Vehicle,
                           stops: list[Stop]) -> list[Stop]:
    on_board: set[str] = set()
    out: list[Stop] = []
    for kind, ref in stops:
        if kind == "client":
            on_board |= {k for k, q in jobs[ref].amount.items() if q > 0}
        else:
            accepts = problem.facilities[ref].accepts
            if not on_board & accepts:
                continue
            on_board -= accepts
        out.append((kind, ref))
    return out


def plan(problem: Problem, jobs: Sequence[Job], params: SolveParams,
         deadline: float) -> RawResult | None:
    """PyVRP's plan of ``jobs``, read back by OR-Tools, by ``deadline``
    (``time.monotonic``); None when PyVRP found nothing feasible."""
    t0, cpu0 = time.monotonic(), time.process_time()
    model = build_model(problem, jobs)
    if model is None or not jobs:
        return None
    left = deadline - time.monotonic()
    best, stats = search(model, max(0.1, left - max(REPAIR_MIN_S, REPAIR_SHARE * left)),
                         params.seed)
    t_search = time.monotonic()
    stats["hgs_search_s"] = round(t_search - t0, 1)
    if best is None:
        return None
    # the parent waits for the plan past the deadline only briefly
    budget = Budget(deadline - max(0.3, MARGIN_SHARE * left))
    raw = keep_feasible(problem, params, jobs, decode(problem, jobs, model, best), budget)
    raw.stats.update(stats)
    if budget.allows(2.5):
        # a client a route loses to its break may bring in a truck of its own: OR-Tools
        # empties the smallest routes into their neighbours, then shortens routes
        routes, dropped, est = eliminate_routes(problem, params, jobs, raw.routes,
                                                list(raw.dropped), budget)
        polished = RawResult(routes, dropped, int(sum(route_cost(problem, jobs, rr)
                                                      for rr in routes)), True, raw.stats)
        if better(problem, jobs, raw, polished) is polished:
            raw = polished
        raw.stats.update({"hgs_eliminate_removed": est.get("eliminate_removed", 0),
                          "hgs_eliminate_tried": est.get("eliminate_tried", 0)})
    raw.stats["hgs_repair_s"] = round(time.monotonic() - t_search, 1)
    # the CPU time it got: on a loaded machine far less than its wall time
    raw.stats["hgs_cpu_s"] = round(time.process_time() - cpu0, 1)
    return raw


# --------------------------------------------------------------------------- keep what holds


def keep_feasible(problem: Problem, params: SolveParams, jobs: Sequence[Job],
                  seqs: dict[int, list[Stop]], budget: Budget) -> RawResult:
    """Routes OR-Tools reads back feasible, each in a model of its own vehicle and
    jobs (facility capacity handed on from route to route); a route that does not
    read loses the client whose removal makes it read (else its last). What is left
    out is served elsewhere (``eliminate.serve_dropped``)."""
    cap_left: list[int | None] = [f.daily_capacity for f in problem.facilities]
    by_vehicle: dict[int, RawRoute] = {
        g: RawRoute(g, [], v.shift_start_s, v.shift_start_s) for g, v in enumerate(problem.vehicles)}
    served: set[int] = set()
    removed = 0
    for g, seq in seqs.items():
        # PyVRP does not know which trucks may serve a job (reachability): a job
        # this truck may not serve is served elsewhere
        seq = [(k, r) for k, r in seq if k != "client" or g in jobs[r].vehicles]
        refs = [ref for kind, ref in seq if kind == "client"]
        local = {ref: i for i, ref in enumerate(refs)}
        lseq: list[Stop] = [(k, local[r] if k == "client" else r) for k, r in seq]
        model = RoutingModel(problem, [jobs[r] for r in refs], [g], params,
                             facility_capacity_left=cap_left, initial=[lseq])
        raw = model.read_result(model.routes_as_indices([lseq]), {})
        while raw is None and any(k == "client" for k, _ in lseq):
            raw, lseq = _lose_one(model, lseq, budget)
            removed += 1
        if raw is None or not raw.routes[0].visits:
            continue
        relabel_clients(raw.routes, refs)
        rr = raw.routes[0]
        consume_capacity(problem, jobs, [rr], cap_left)
        by_vehicle[g] = rr
        served.update(rr.client_refs())
    dropped = [j for j in range(len(jobs)) if j not in served]
    n_left = len(dropped)
    worthless = [j for j in dropped if jobs[j].worthless]
    dropped = [j for j in dropped if not jobs[j].worthless
               and not (budget.allows(0.3) and _insert(problem, params, jobs, by_vehicle, j, budget))]
    if dropped and budget.allows(1.0):
        dropped = serve_dropped(problem, params, jobs, by_vehicle, dropped, budget)
    dropped += worthless
    routes = list(by_vehicle.values())
    cost = sum(route_cost(problem, jobs, rr) for rr in routes)
    return RawResult(routes, dropped, int(cost), True,
                     {"hgs_removed": removed, "hgs_left_out": n_left})


def _insert(problem: Problem, params: SolveParams, jobs: Sequence[Job],
            by_vehicle: dict[int, RawRoute], ji: int, budget: Budget) -> bool:
    """Put job ``ji`` at the cheapest place OR-Tools reads back feasible: before an
    unload that takes it in a route, or alone on an idle vehicle; True when it found
    one (``by_vehicle`` updated)."""
    dist = problem.distance_m
    job = jobs[ji]
    cats = {k for k, q in job.amount.items() if q > 0}
    cands: list[tuple[float, int, list[Stop]]] = []
    for g in job.vehicles:
        rr, v = by_vehicle[g], problem.vehicles[g]
        stops = rr.stops()
        if not stops:
            solo: list[Stop] = [("client", ji)]
            if problem.end_empty:
                fac = [f for f, fc in enumerate(problem.facilities) if cats <= fc.accepts]
                if not fac:
                    continue
                solo.append(("facility", min(fac, key=lambda f: int(
                    dist[job.location, problem.facilities[f].location]
                    + dist[problem.facilities[f].location, v.end_location]))))
            cands.append((1000.0 * v.fixed_cost + v.cost_per_km * route_metres(
                problem, jobs, g, solo), g, solo))
            continue
        locs = [v.start_location] + [
            jobs[r].location if k == "client" else problem.facilities[r].location
            for k, r in stops] + [v.end_location]
        unload_after = [any(k == "facility" and cats <= problem.facilities[r].accepts
                            for k, r in stops[p:]) for p in range(len(stops) + 1)]
        for p in range(len(stops) + 1):
            if problem.end_empty and not unload_after[p]:
                continue
            a, b = locs[p], locs[p + 1]
            extra = int(dist[a, job.location]) + int(dist[job.location, b]) - int(dist[a, b])
            cands.append((v.cost_per_km * extra, g, [*stops[:p], ("client", ji), *stops[p:]]))
    cands.sort(key=lambda c: c[0])
    # the cheapest two places of each route, then idle vehicles (a fixed cost more)
    per_route: dict[int, int] = {}
    short: list[tuple[float, int, list[Stop]]] = []
    idle: list[tuple[float, int, list[Stop]]] = []
    for c in cands:
        if not by_vehicle[c[1]].visits:
            idle.append(c)
        elif per_route.get(c[1], 0) < INSERT_PER_ROUTE:
            per_route[c[1]] = per_route.get(c[1], 0) + 1
            short.append(c)
    for _, g, seq in short[:INSERT_TRIES] + idle[:2]:
        if not budget.allows(0.3):
            break
        cap: list[int | None] = [f.daily_capacity for f in problem.facilities]
        if any(c is not None for c in cap):
            consume_capacity(problem, jobs, [rr for h, rr in by_vehicle.items() if h != g], cap)
        refs = [r for k, r in seq if k == "client"]
        local = {r: i for i, r in enumerate(refs)}
        lseq: list[Stop] = [(k, local[r] if k == "client" else r) for k, r in seq]
        model = RoutingModel(problem, [jobs[r] for r in refs], [g], params,
                             facility_capacity_left=cap, initial=[lseq])
        raw = model.read_result(model.routes_as_indices([lseq]), {})
        if raw is not None and len(raw.routes[0].client_refs()) == len(refs):
            relabel_clients(raw.routes, refs)
            by_vehicle[g] = raw.routes[0]
            return True
    return False


def _lose_one(model: RoutingModel, lseq: list[Stop],
              budget: Budget) -> tuple[RawResult | None, list[Stop]]:
    """The route without one client: the latest whose removal reads back (breaks and
    windows fail late in the day), else without its last client."""
    positions = [i for i, (k, _) in enumerate(lseq) if k == "client"]
    for i in positions[::-1][:REMOVALS_TRIED]:
        if not budget.allows(0.2):
            break
        trial = lseq[:i] + lseq[i + 1:]
        raw = model.read_result(model.routes_as_indices([trial]), {})
        if raw is not None:
            return raw, trial
    trial = lseq[:positions[-1]] + lseq[positions[-1] + 1:]
    return model.read_result(model.routes_as_indices([trial]), {}), trial


def main() -> None:
    """The child interpreter of ``optimizer.portfolio``: (problem, jobs, params,
    deadline) pickled on stdin, (stop lists, stats) or None pickled on stdout."""
    problem, jobs, params, deadline = pickle.load(sys.stdin.buffer)
    if not any(v.fixed_cost > 0 for v in problem.vehicles):
        # without fixed costs PyVRP's search rarely wins (its trucks reload only where
        # every compartment is taken; the demo county: 61 jobs left out, OR-Tools 11):
        # it takes only the CPU the OR-Tools path leaves on a loaded machine
        os.nice(NICE)
    try:
        out: object = plan(problem, jobs, params, deadline)
    except Exception:  # noqa: BLE001 - the parent keeps the OR-Tools plan
        log.exception("hgs engine failed")
        out = None
    sys.stdout.buffer.write(pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL))
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
