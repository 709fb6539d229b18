"""Preprocessing and decomposition of a Problem into solver jobs and sub-problems.

A *job* is one visit the solver must plan: a client, or one piece of a client
whose demand exceeds every compartment that may carry it. Pre-checks find the
clients no plan can serve (no vehicle with the category, a window nobody can
reach, no open facility) and give them a Reason before any solver runs.

Large days are cut into sub-problems: per group of categories (vehicles that
share no compartment never interact), then per geographic cluster, with the
vehicles shared out by demand.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from optimizer.problem import Problem, Vehicle
from optimizer.solution import Reason, Unassigned

log = logging.getLogger(__name__)

#: a client is split into at most this many visits; beyond it is "capacity"
MAX_SPLIT = 50
#: greedy construction: weight of a job's slack (window end - start) against the
#: time to reach it, so that jobs whose window closes soon are taken first
URGENCY = 0.0


@dataclass(frozen=True, slots=True)
class Job:
    """One visit to plan (a whole client or a piece of a split client)."""

    client: int
    location: int
    amount: Mapping[str, int]
    service_s: int
    tw_start_s: int
    tw_end_s: int
    #: penalty for leaving this job out (None: the model picks a large one)
    penalty: int | None
    #: global indices of the vehicles allowed to serve it
    vehicles: tuple[int, ...]
    piece: int = 0
    pieces: int = 1

    @property
    def total(self) -> int:
        return sum(self.amount.values())


@dataclass(slots=True)
class Prepared:
    jobs: list[Job]
    unassigned: list[Unassigned] = field(default_factory=list)


def _carries(v: Vehicle, demand: Mapping[str, int]) -> bool:
    return all(k in v.capacities and v.capacities[k] > 0 for k, q in demand.items() if q > 0)


def _split(demand: Mapping[str, int], parts: int) -> list[dict[str, int]]:
    out: list[dict[str, int]] = [{} for _ in range(parts)]
    for k, q in demand.items():
        base, rest = divmod(q, parts)
        for i in range(parts):
            out[i][k] = base + (1 if i < rest else 0)
    return out


def _unload_reachable(problem: Problem, v: Vehicle, loc: int, ready_s: int,
                      categories: Sequence[str]) -> bool:
    """Can vehicle v, leaving loc at ready_s, empty every category and get home?"""
    dur = problem.duration_s
    t = ready_s
    here = loc
    # greedy: for each category visit the facility that finishes earliest
    remaining = [k for k in categories]
    while remaining:
        best: tuple[int, int, set[str]] | None = None
        for f in problem.facilities:
            got = {k for k in remaining if k in f.accepts}
            if not got:
                continue
            start = max(t + int(dur[here, f.location]), f.open_s)
            if start > f.close_s - f.unload_s:
                continue
            done = start + f.unload_s
            if done + int(dur[f.location, v.end_location]) > v.shift_end_s:
                continue
            if best is None or (len(got), -done) > (len(best[2]), -best[0]):
                best = (done, f.location, got)
        if best is None:
            return False
        t, here = best[0], best[1]
        remaining = [k for k in remaining if k not in best[2]]
    return True


def prepare(problem: Problem) -> Prepared:
    """Jobs to plan and the clients that no plan can serve (with a Reason)."""
    dur = problem.duration_s
    out = Prepared(jobs=[])
    # vehicles that look the same to the pre-checks are checked once
    types: dict[tuple[object, ...], list[int]] = {}
    for vi, v in enumerate(problem.vehicles):
        key = (v.start_location, v.end_location, v.shift_start_s, v.shift_end_s,
               tuple(sorted(v.capacities.items())))
        types.setdefault(key, []).append(vi)
    reps = [(problem.vehicles[m[0]], m) for m in types.values()]
    for ci, c in enumerate(problem.clients):
        demand = {k: q for k, q in c.demand.items() if q > 0}
        allowed = [(v, m) for v, m in reps if _carries(v, demand)]
        if not allowed:
            out.unassigned.append(Unassigned(ci, dict(c.demand), Reason.NO_VEHICLE_FOR_CATEGORY))
            continue
        # time window reachable from some allowed vehicle within its shift
        reach_t: list[tuple[Vehicle, list[int], int]] = []
        for v, m in allowed:
            start = max(v.shift_start_s + int(dur[v.start_location, c.location]), c.tw_start_s)
            if start > c.tw_end_s:
                continue
            if start + c.service_s + int(dur[c.location, v.end_location]) > v.shift_end_s:
                continue
            reach_t.append((v, m, start))
        if not reach_t:
            out.unassigned.append(Unassigned(ci, dict(c.demand), Reason.TIME_WINDOW_UNREACHABLE))
            continue
        if demand and problem.end_empty:
            reach_t = [(v, m, st) for v, m, st in reach_t
                       if _unload_reachable(problem, v, c.location, st + c.service_s,
                                            list(demand))]
            if not reach_t:
                out.unassigned.append(Unassigned(ci, dict(c.demand), Reason.FACILITY_CLOSED))
                continue
        reach = sorted(vi for _, m, _ in reach_t for vi in m)
        # split when the demand exceeds the biggest usable compartment
        parts = 1
        for k, q in demand.items():
            biggest = 0
            for vi in reach:
                v = problem.vehicles[vi]
                cap = v.capacities[k]
                if v.max_collected is not None:
                    cap = min(cap, v.max_collected)
                biggest = max(biggest, cap)
            parts = max(parts, math.ceil(q / biggest) if biggest > 0 else MAX_SPLIT + 1)
        if parts > MAX_SPLIT:
            out.unassigned.append(Unassigned(ci, dict(c.demand), Reason.CAPACITY))
            continue
        pieces = _split(demand, parts) if parts > 1 else [dict(demand)]
        if parts > 1:
            # a piece may only go on a vehicle it fits in
            reach = [vi for vi in reach
                     if all(q <= problem.vehicles[vi].capacities[k]
                            for k, q in pieces[0].items())]
        total = max(1, sum(demand.values()))
        for p, amount in enumerate(pieces):
            share = sum(amount.values()) / total if parts > 1 else 1.0
            out.jobs.append(Job(
                client=ci, location=c.location, amount=amount,
                service_s=math.ceil(c.service_s * share), tw_start_s=c.tw_start_s,
                tw_end_s=c.tw_end_s, penalty=c.penalty, vehicles=tuple(reach),
                piece=p, pieces=parts,
            ))
    return out


# --------------------------------------------------------------------------- clustering


def _kmeans(points: np.ndarray, k: int, seed: int, iters: int = 25) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = points.shape[0]
    # k-means++ seeding
    centres = [points[rng.integers(n)]]
    d2 = ((points - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        s = d2.sum()
        idx = int(rng.choice(n, p=d2 / s)) if s > 0 else int(rng.integers(n))
        centres.append(points[idx])
        d2 = np.minimum(d2, ((points - points[idx]) ** 2).sum(1))
    c = np.array(centres, dtype=float)
    labels = np.zeros(n, dtype=int)
    for _ in range(iters):
        dist = ((points[:, None, :] - c[None, :, :]) ** 2).sum(2)
        new = dist.argmin(1)
        if (new == labels).all() and _ > 0:
            break
        labels = new
        for j in range(k):
            m = labels == j
            if m.any():
                c[j] = points[m].mean(0)
    return labels


def embed(problem: Problem, locations: Sequence[int], dims: int = 2) -> np.ndarray:
    """Coordinates for clustering: given ones, or an MDS-like embedding of the matrix."""
    coords = problem.extra.get("coords") if problem.extra else None
    locs = np.asarray(locations, dtype=int)
    if coords is not None:
        arr = np.asarray(coords, dtype=float)
        return arr[locs, :2]
    # landmark embedding: distances to a few far-apart landmarks (cheap, matrix rows only)
    d = problem.distance_m
    first = int(locs[0])
    lm = [first]
    far = np.asarray(d[first, locs], dtype=float)
    for _ in range(max(dims * 3, 6) - 1):
        nxt = int(locs[int(far.argmax())])
        lm.append(nxt)
        far = np.minimum(far, np.asarray(d[nxt, locs], dtype=float))
    rows = np.stack([np.asarray(d[j, locs], dtype=float) + np.asarray(d[locs, j], dtype=float)
                     for j in lm], axis=1) / 2.0
    return rows


def cluster_jobs(problem: Problem, jobs: Sequence[Job], size: int, seed: int = 0) -> list[list[int]]:
    """Split job indices into geographic groups of about `size` jobs."""
    n = len(jobs)
    if n <= size:
        return [list(range(n))]
    k = math.ceil(n / size)
    # pieces of a split client go together: cluster client locations
    pts = embed(problem, [j.location for j in jobs])
    labels = _kmeans(pts, k, seed)
    groups = [list(np.flatnonzero(labels == g)) for g in range(k)]
    return [[int(i) for i in g] for g in groups if g]


# --------------------------------------------------------------------------- large days


def components(problem: Problem, jobs: Sequence[Job]) -> list[tuple[list[int], list[int]]]:
    """Independent (jobs, vehicles) groups: categories linked through shared vehicles."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for v in problem.vehicles:
        ks = [k for k, c in v.capacities.items() if c > 0]
        for k in ks:
            find(k)
        for a, b in zip(ks, ks[1:], strict=False):
            parent[find(a)] = find(b)
    for j in jobs:
        ks = list(j.amount)
        for k in ks:
            find(k)
        for a, b in zip(ks, ks[1:], strict=False):
            parent[find(a)] = find(b)
    groups: dict[str, tuple[list[int], list[int]]] = {}
    for ji, j in enumerate(jobs):
        if j.amount:
            root = find(next(iter(j.amount)))
        else:
            # nothing to carry (a visit expected at 0 kg): the group of an allowed vehicle
            ks = [k for vi in j.vehicles[:1]
                  for k, c in problem.vehicles[vi].capacities.items() if c > 0]
            root = find(ks[0]) if ks else "__none__"
        groups.setdefault(root, ([], []))[0].append(ji)
    for vi, v in enumerate(problem.vehicles):
        ks = [k for k, c in v.capacities.items() if c > 0]
        if ks:
            root = find(ks[0])
            groups.setdefault(root, ([], []))[1].append(vi)
    return [g for g in groups.values() if g[0]]


def _vehicle_need(problem: Problem, jobs: Sequence[Job], idx: Sequence[int],
                  vehicles: Sequence[int]) -> float:
    """Rough number of vehicles a group of jobs needs (by load, stops and time)."""
    if not vehicles or not idx:
        return 0.0
    vs = [problem.vehicles[v] for v in vehicles]
    per_day = []
    for v in vs:
        cap = sum(v.capacities.values())
        if v.max_collected is not None:
            per_day.append(min(v.max_collected, cap * 4))
        else:
            per_day.append(cap * (4 if problem.facilities else 1))
    load = sum(jobs[i].total for i in idx) / max(1.0, float(np.mean(per_day)))
    shift = float(np.mean([v.shift_end_s - v.shift_start_s - v.break_s for v in vs]))
    work = sum(jobs[i].service_s for i in idx) * 1.6 / max(1.0, shift)
    stops = max((len(idx) / v.max_stops) if v.max_stops else 0.0 for v in vs)
    return max(load, work, stops, 1.0)


def plan_parts(problem: Problem, jobs: Sequence[Job], chunk: int,
               seed: int = 0) -> list[tuple[list[int], list[int]]]:
    """(job indices, vehicle indices) per sub-problem, vehicles shared out by need."""
    parts: list[tuple[list[int], list[int]]] = []
    for comp_jobs0, comp_veh0 in components(problem, jobs):
        if not comp_veh0:
            parts.append((comp_jobs0, []))
            continue
        for comp_jobs, comp_veh in vehicle_classes(problem, jobs, comp_jobs0, comp_veh0):
            parts.extend(_share_out(problem, jobs, comp_jobs, comp_veh, chunk, seed))
    return parts


def vehicle_classes(problem: Problem, jobs: Sequence[Job], comp_jobs: list[int],
                    comp_veh: list[int]) -> list[tuple[list[int], list[int]]]:
    """Jobs only a few of the group's vehicles may serve, apart with those vehicles.

    Shared out by geography alone, the few vehicles that carry a rare compartment
    (say 3 of 35) end in one or two parts, and the rare jobs of every other part
    are left out. So jobs whose allowed vehicles are at most half of the group
    form their own part(s) with those vehicles (overlapping sets merged); the
    other jobs share the remaining vehicles. Neighbourhood re-planning later lets
    the common jobs use what the few vehicles have left. Only compartments count:
    a window that only early shifts reach must not take those shifts apart.
    """
    full = set(comp_veh)
    kinds: dict[frozenset[str], frozenset[int]] = {}
    allowed: dict[int, frozenset[int]] = {}
    for i in comp_jobs:
        cats = frozenset(k for k, q in jobs[i].amount.items() if q > 0)
        if cats not in kinds:
            kinds[cats] = frozenset(g for g in comp_veh if all(
                problem.vehicles[g].capacities.get(k, 0) > 0 for k in cats))
        allowed[i] = kinds[cats]
    rare = {s for s in set(allowed.values()) if s and len(s) <= len(full) // 2}
    if not rare:
        return [(comp_jobs, comp_veh)]
    # merge rare vehicle sets that overlap
    merged: list[set[int]] = []
    for s in sorted(rare, key=len):
        hit = [m for m in merged if m & s]
        for m in hit:
            merged.remove(m)
        merged.append(set(s).union(*hit))
    rest_veh = full.difference(*merged)
    out: list[tuple[list[int], list[int]]] = [([], sorted(m)) for m in merged]
    rest: list[int] = []
    for i in comp_jobs:
        a = allowed[i]
        if a in rare or not a & rest_veh:
            # rare, or only the rare vehicles can take it: with the vehicles it shares most
            k = max(range(len(merged)), key=lambda k: len(merged[k] & a))
            out[k][0].append(i)
        else:
            rest.append(i)
    if rest:
        out.append((rest, sorted(rest_veh)))
    return [o for o in out if o[0]]


def _share_out(problem: Problem, jobs: Sequence[Job], comp_jobs: list[int],
               comp_veh: list[int], chunk: int,
               seed: int) -> list[tuple[list[int], list[int]]]:
    """Geographic clusters of about ``chunk`` jobs, the vehicles shared by need."""
    parts: list[tuple[list[int], list[int]]] = []
    sub = [jobs[i] for i in comp_jobs]
    groups = [[comp_jobs[i] for i in g] for g in cluster_jobs(problem, sub, chunk, seed)]
    needs = [_vehicle_need(problem, jobs, g, comp_veh) for g in groups]
    total = sum(needs)
    nv = len(comp_veh)
    # largest-remainder share, at least one vehicle per group when possible
    raw = [nv * n / total for n in needs]
    share = [max(1 if nv >= len(groups) else 0, int(x)) for x in raw]
    while sum(share) > nv:
        i = max(range(len(share)), key=lambda i: share[i] - raw[i])
        share[i] -= 1
    order = sorted(range(len(groups)), key=lambda i: raw[i] - share[i], reverse=True)
    k = 0
    while sum(share) < nv:
        share[order[k % len(order)]] += 1
        k += 1
    # give each group the vehicles whose depot is nearest to it
    pool = list(comp_veh)
    dist = problem.distance_m
    for g, s in sorted(zip(groups, share, strict=True), key=lambda t: -t[1]):
        if not pool:
            parts.append((g, []))
            continue
        locs = np.asarray([jobs[i].location for i in g[:200]])
        scores = [float(np.mean(dist[problem.vehicles[v].start_location, locs]))
                  for v in pool]
        pick = [pool[i] for i in np.argsort(scores)[:s]]
        pool = [v for v in pool if v not in set(pick)]
        parts.append((g, pick))
    return parts


def solve_large(problem: Problem, params: object, prep: Prepared, t0: float,
                progress: object = None) -> object:
    """Decomposed solve: components x clusters, budget split by size, then a repair pass."""
    import time as _time

    from optimizer.model import RawRoute
    from optimizer.params import SolveParams
    from optimizer.solve import _solve_group, assemble

    assert isinstance(params, SolveParams)
    jobs = prep.jobs
    chunk = max(10, int(params.chunk_size))
    parts = plan_parts(problem, jobs, chunk, params.seed)
    total_jobs = max(1, sum(len(p[0]) for p in parts))
    budget = params.time_limit_s - (_time.monotonic() - t0)
    # the last share of the budget re-plans neighbouring routes across part borders
    improve_s = max(0.0, min(1.0, params.neighbourhood_share)) * budget
    reserve = max(0.12 * budget, min(2.0, 0.3 * budget)) + improve_s
    routes: list[RawRoute] = []
    dropped: list[int] = []
    cap_left: list[int | None] = [f.daily_capacity for f in problem.facilities]
    stats: dict[str, object] = {"parts": len(parts), "strategy": "decomposed"}
    objective = 0
    done_jobs = 0
    for pj, pv in parts:
        if not pv:
            dropped.extend(pj)
            continue
        spent = _time.monotonic() - t0
        left = params.time_limit_s - spent - reserve
        remaining = total_jobs - done_jobs
        tl = left * len(pj) / max(1, remaining)
        if params.counted:
            # each part bounded by counts; the day's time limit is only a safety bound
            tl = params.time_limit_s - spent
        t_build = _time.monotonic()
        sub_jobs = [jobs[i] for i in pj]
        seqs = None
        if problem.end_empty and problem.facilities:
            seqs = best_greedy(problem, sub_jobs, pv, facility_capacity_left=cap_left)
        # same path as a whole day's group: spare unloads, search, insertion of
        # what the search left out, search again
        raw = _solve_group(problem, params, sub_jobs, pv, seqs, cap_left,
                           t_build + max(0.3, tl), False, None)
        done_jobs += len(pj)
        objective += raw.objective
        for rr in raw.routes:
            for rv in rr.visits:
                if rv.kind == "client":
                    rv.ref = pj[rv.ref]
            routes.append(rr)
        dropped.extend(pj[i] for i in raw.dropped)
        _consume_capacity(problem, jobs, raw.routes, cap_left)
        if callable(progress):
            progress(min(0.99, (_time.monotonic() - t0) / params.time_limit_s), objective)
    stats["dropped_before_repair"] = len(dropped)
    # repair: dropped jobs with unused vehicles and the emptiest used routes
    rounds = 0
    while dropped:
        left = params.time_limit_s - (_time.monotonic() - t0) - 0.5 - improve_s
        if params.counted:
            left = params.time_limit_s - (_time.monotonic() - t0)
            if left <= 0 or rounds >= 6:
                break
        elif left <= 0.5 or rounds >= 6:
            break
        before = len(dropped)
        slice_s = left if left < 6 or params.counted else max(3.0, left / 2)
        routes, dropped = _repair(problem, jobs, routes, dropped, params, slice_s, cap_left)
        rounds += 1
        cap_left = [f.daily_capacity for f in problem.facilities]
        _consume_capacity(problem, jobs, routes, cap_left)
        if len(dropped) >= before and rounds >= 2:
            break
    stats["repair_rounds"] = rounds
    stats["dropped_after_repair"] = len(dropped)
    t_end = t0 + params.time_limit_s - 0.3
    if params.counted and improve_s > 0:
        t_end = t0 + params.time_limit_s
    if improve_s > 0 and t_end - _time.monotonic() > (0 if params.counted else 1.5):
        routes, dropped, nstats = improve_neighbourhoods(problem, params, jobs, routes, dropped,
                                                         t_end)
        stats.update(nstats)
    return assemble(problem, jobs, routes, dropped, prep.unassigned, engine="ortools",
                    wall_s=_time.monotonic() - t0, objective=objective, stats=stats)


def _n_clients(rr: Any) -> int:
    """Client visits of a RawRoute."""
    return sum(1 for x in rr.visits if x.kind == "client")


def served_in(seqs: Sequence[Sequence[tuple[str, int]]]) -> int:
    """Client visits of (kind, ref) route sequences (a greedy start)."""
    return sum(1 for sq in seqs for kind, _ in sq if kind == "client")


def _nearest_that_fit(scored: Sequence[tuple[float, int]], size: Callable[[int], int],
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


def _route_cost(problem: Problem, jobs: Sequence[Job], rr: object) -> float:
    """A route's cost in the model's units (cost per km x metres, fixed cost x 1000)."""
    from optimizer.model import COST_SCALE, RawRoute

    assert isinstance(rr, RawRoute)
    if not rr.visits:
        return 0.0
    v = problem.vehicles[rr.vehicle]
    locs = [v.start_location]
    locs += [jobs[x.ref].location if x.kind == "client" else problem.facilities[x.ref].location
             for x in rr.visits]
    locs.append(v.end_location)
    d = problem.distance_m[np.asarray(locs[:-1]), np.asarray(locs[1:])]
    return float(v.cost_per_km) * float(d.sum()) + COST_SCALE * float(v.fixed_cost)


def improve_neighbourhoods(problem: Problem, params: object, jobs: Sequence[Job],
                           routes: list, dropped: list[int], t_end: float,
                           max_jobs: int = 200) -> tuple[list, list[int], dict[str, object]]:
    """Re-plan a route together with its nearest routes, one neighbourhood at a time.

    Parts are solved apart, so no move crosses a part's border; here a seed route
    and the routes nearest to it (up to ``max_jobs`` visits, plus nearby jobs left
    out) form a small model started from their current routes (small models restore
    their start; docs/benchmarks.md), and the result replaces them when it serves
    more or serves as many for less. Seeds go round in random order until ``t_end``.
    """
    import time as _time

    from optimizer.params import SolveParams
    from optimizer.solve import _solve_group

    assert isinstance(params, SolveParams)
    rng = np.random.default_rng(params.seed)
    dist = problem.distance_m
    by_vehicle = {rr.vehicle: rr for rr in routes}
    tried = accepted = 0
    saved = 0.0
    order = [rr.vehicle for rr in routes if rr.visits]
    rng.shuffle(order)

    def sample(rr: object) -> np.ndarray:
        locs = [jobs[x.ref].location for x in rr.visits if x.kind == "client"]  # type: ignore[attr-defined]
        return np.asarray(locs[:: max(1, len(locs) // 8)] or [0])

    # counted: one neighbourhood per route with visits, whatever the clock says
    rounds_left = len(order) if params.counted else -1
    while order and _time.monotonic() < t_end - (0 if params.counted else 1.0):
        if rounds_left == 0:
            break
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
            if g == seed_v or not any(x.kind == "client" for x in rr.visits):
                continue
            d = dist[np.ix_(seed_locs, sample(rr))]
            scored.append((float(d.min(axis=1).mean()), g))
        scored.sort()
        take = [seed_v, *_nearest_that_fit(scored, lambda g: _n_clients(by_vehicle[g]),
                                           _n_clients(by_vehicle[seed_v]), max_jobs)]
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
        sub = [x.ref for g in take for x in by_vehicle[g].visits if x.kind == "client"]
        served_before = len(sub)
        allowed = set(take)
        near = [j for j in dropped if allowed & set(jobs[j].vehicles)]
        if near:
            d = dist[np.ix_(np.asarray([jobs[j].location for j in near]), seed_locs)].min(axis=1)
            near = [near[i] for i in np.argsort(d)[:20]]
            sub += near
        local = {j: i for i, j in enumerate(sub)}
        init = [[(x.kind, local[x.ref] if x.kind == "client" else x.ref)
                 for x in by_vehicle[g].visits] for g in take]
        cap: list[int | None] = [f.daily_capacity for f in problem.facilities]
        _consume_capacity(problem, jobs, [rr for g, rr in by_vehicle.items() if g not in allowed],
                          cap)
        cost_before = sum(_route_cost(problem, jobs, by_vehicle[g]) for g in take)
        left = t_end - _time.monotonic()
        t_sub = left if params.counted else min(left, max(2.0, min(6.0, left / 3)))
        raw = _solve_group(problem, params, [jobs[i] for i in sub], take, init, cap,
                           _time.monotonic() + t_sub, False, None)
        tried += 1
        if not raw.found:
            continue
        for rr in raw.routes:
            for rv in rr.visits:
                if rv.kind == "client":
                    rv.ref = sub[rv.ref]
        served_after = len(sub) - len(raw.dropped)
        cost_after = sum(_route_cost(problem, jobs, rr) for rr in raw.routes)
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


def _consume_capacity(problem: Problem, jobs: Sequence[Job], raw_routes: Sequence[object],
                      cap_left: list[int | None]) -> None:
    from optimizer.model import RawRoute

    for rr in raw_routes:
        assert isinstance(rr, RawRoute)
        load: dict[str, int] = {}
        for rv in rr.visits:
            if rv.kind == "client":
                for k, q in jobs[rv.ref].amount.items():
                    load[k] = load.get(k, 0) + q
            else:
                f = problem.facilities[rv.ref]
                got = sum(q for k, q in load.items() if k in f.accepts)
                c = cap_left[rv.ref]
                if c is not None:
                    cap_left[rv.ref] = c - got
                load = {k: q for k, q in load.items() if k not in f.accepts}


def _repair(problem: Problem, jobs: Sequence[Job], routes: list, dropped: list[int],
            params: object, time_s: float, cap_left: list[int | None]) -> tuple[list, list[int]]:
    from optimizer.model import RoutingModel

    used = {rr.vehicle for rr in routes if rr.visits}
    unused = [v for v in range(len(problem.vehicles)) if v not in used]
    drop_locs = np.asarray([jobs[i].location for i in dropped])
    # used routes nearest to the dropped jobs, as many as keeps the model small
    scored = []
    for ri, rr in enumerate(routes):
        if not rr.visits:
            continue
        locs = [jobs[v.ref].location for v in rr.visits if v.kind == "client"]
        if not locs:
            continue
        d = problem.distance_m[np.ix_(np.asarray(locs[:50]), drop_locs[:200])]
        scored.append((float(d.min()), ri))
    scored.sort()
    take = _nearest_that_fit(scored, lambda ri: _n_clients(routes[ri]), len(dropped), 450)
    sub = list(dropped)
    veh = list(unused)
    for ri in take:
        sub.extend(v.ref for v in routes[ri].visits if v.kind == "client")
        veh.append(routes[ri].vehicle)
    if not veh:
        return routes, dropped
    local = {g: i for i, g in enumerate(sub)}
    # capacity used by the routes being re-planned goes back to the pool
    back: list[int | None] = list(cap_left)
    freed = [0] * len(problem.facilities)
    _consume_capacity(problem, jobs, [routes[ri] for ri in take], freed)  # type: ignore[arg-type]
    back = [None if c is None else c - f for c, f in zip(back, freed, strict=True)]
    init: list[list[tuple[str, int]]] = []
    fresh: dict[int, list[tuple[str, int]]] = {}
    if unused:
        # dropped jobs come first in `sub`, so their positions are local indices
        seqs = greedy_routes(problem, jobs, unused, job_ids=dropped,
                             facility_capacity_left=cap_left)
        fresh = dict(zip(unused, seqs, strict=True))
    for v in veh:
        seq: list[tuple[str, int]] = fresh.get(v, [])
        for ri in take:
            if routes[ri].vehicle == v:
                seq = [(rv.kind, local[rv.ref] if rv.kind == "client" else rv.ref)
                       for rv in routes[ri].visits]
        init.append(seq)
    model = RoutingModel(problem, [jobs[i] for i in sub], veh, params,  # type: ignore[arg-type]
                         facility_capacity_left=back, initial=init)
    raw = model.solve(time_s, "auto", initial=model.routes_as_indices(init))
    if not raw.found:
        return routes, dropped
    keep = [rr for ri, rr in enumerate(routes) if ri not in set(take)]
    for rr in raw.routes:
        for rv in rr.visits:
            if rv.kind == "client":
                rv.ref = sub[rv.ref]
        keep.append(rr)
    return keep, [sub[i] for i in raw.dropped]


# --------------------------------------------------------------------------- construction


def greedy_routes(problem: Problem, jobs: Sequence[Job], vehicles: Sequence[int],
                  job_ids: Sequence[int] | None = None,
                  facility_capacity_left: Sequence[int | None] | None = None,
                  urgency: float = URGENCY,
                  parallel: bool = False,
                  ) -> list[list[tuple[str, int]]]:
    """Time-oriented nearest neighbour, multi-trip: a first solution for the model.

    Builds one vehicle's day after another: next the job that can start soonest
    (and still lets the vehicle unload and get home), an unload when nothing
    fits any more, and the break as soon as its window opens. Returns per
    vehicle a sequence of ("client", position in ``job_ids``) and
    ("facility", facility index). Feasibility is re-checked by the solver.
    """
    ids = list(job_ids) if job_ids is not None else list(range(len(jobs)))
    if not ids:
        return [[] for _ in vehicles]
    dur = problem.duration_s
    sub = [jobs[i] for i in ids]
    locs = np.asarray([j.location for j in sub], dtype=np.int64)
    tw0 = np.asarray([j.tw_start_s for j in sub], dtype=np.int64)
    tw1 = np.asarray([j.tw_end_s for j in sub], dtype=np.int64)
    svc = np.asarray([j.service_s for j in sub], dtype=np.int64)
    tot = np.asarray([j.total for j in sub], dtype=np.int64)
    cats = sorted({k for j in sub for k in j.amount})
    amt = np.asarray([[j.amount.get(k, 0) for k in cats] for j in sub], dtype=np.int64)
    free = np.ones(len(sub), dtype=bool)
    facs = list(enumerate(problem.facilities))
    # facility legs needed for the return check: per facility, time from every job
    fac_locs = [f.location for _, f in facs]
    to_fac = (np.asarray(dur[np.ix_(locs, np.asarray(fac_locs, dtype=np.int64))],
                         dtype=np.int64)
              if fac_locs else np.zeros((len(sub), 0), dtype=np.int64))
    fcap: list[int | None] = (list(facility_capacity_left) if facility_capacity_left is not None
                              else [f.daily_capacity for f in problem.facilities])
    out: list[list[tuple[str, int]]] = [[] for _ in vehicles]

    def build(slot: int, g: int) -> Iterator[int]:
        """One vehicle's day; yields its clock before each step."""
        v = problem.vehicles[g]
        allowed = np.asarray([g in j.vehicles for j in sub], dtype=bool)
        cap = np.asarray([v.capacities.get(k, 0) for k in cats], dtype=np.int64)
        fac_home = np.asarray([int(dur[f.location, v.end_location]) for _, f in facs],
                              dtype=np.int64)
        seq: list[tuple[str, int]] = []
        t, loc = v.shift_start_s, v.start_location
        load = np.zeros(len(cats), dtype=np.int64)
        collected, stops = 0, 0
        brk_left = v.has_break
        max_coll = v.max_collected if v.max_collected is not None else 1 << 60
        max_stops = v.max_stops if v.max_stops is not None else 1 << 30

        def unload_options(where_t: np.ndarray, from_fac_rows: np.ndarray,
                           need: np.ndarray, extra: int, v: Vehicle = v,
                           fac_home: np.ndarray = fac_home) -> np.ndarray:
            """Per candidate: can it reach an open facility accepting `need` and get home."""
            ok = np.zeros(where_t.shape[0], dtype=bool)
            for fi, (_, f) in enumerate(facs):
                if not all(cats[c] in f.accepts for c in np.flatnonzero(need)):
                    continue
                st = np.maximum(where_t + from_fac_rows[:, fi] + extra, f.open_s)
                good = (st <= f.close_s - f.unload_s) & (
                    st + f.unload_s + fac_home[fi] <= v.shift_end_s)
                ok |= good
            return ok

        while True:
            yield t
            cand = free & allowed & np.all(load[None, :] + amt <= cap[None, :], axis=1)
            cand &= collected + tot <= max_coll
            if stops >= max_stops:
                cand[:] = False
            idx = np.flatnonzero(cand)
            chosen = -1
            if idx.size:
                arr = t + np.asarray(dur[loc, locs[idx]], dtype=np.int64)
                extra = 0
                take_break_now = False
                if brk_left:
                    assert v.break_earliest_s is not None and v.break_latest_s is not None
                    if t >= v.break_earliest_s:
                        take_break_now = True
                        extra = v.break_s
                st = np.maximum(arr + extra, tw0[idx])
                done = st + svc[idx]
                ok = st <= tw1[idx]
                if brk_left and not take_break_now:
                    assert v.break_latest_s is not None
                    # must not run past the latest break start without breaking
                    ok &= done <= v.break_latest_s
                later = 0 if (not brk_left or take_break_now) else v.break_s
                if problem.end_empty and fac_locs:
                    need = (load[None, :] + amt[idx]) > 0
                    ok2 = np.zeros(idx.size, dtype=bool)
                    for pat in {tuple(r) for r in need.tolist()}:
                        m = np.all(need == np.asarray(pat, dtype=bool)[None, :], axis=1)
                        ok2[m] = unload_options(done[m], to_fac[idx[m]],
                                                np.asarray(pat, dtype=bool), later)
                    ok &= ok2
                else:
                    home = np.asarray(dur[locs[idx], v.end_location], dtype=np.int64)
                    ok &= done + home + later <= v.shift_end_s
                if ok.any():
                    # soonest start, with jobs whose window closes early pulled forward
                    key = (st - t) + urgency * (tw1[idx] - st)
                    score = np.where(ok, key, np.inf)
                    chosen = int(idx[int(score.argmin())])
                    if take_break_now:
                        brk_left = False
            if chosen >= 0:
                j = chosen
                arr_t = t + int(dur[loc, locs[j]])
                if not brk_left and take_break_now:
                    arr_t = max(arr_t + v.break_s, t + v.break_s)
                    take_break_now = False
                t = max(arr_t, int(tw0[j])) + int(svc[j])
                loc = int(locs[j])
                load += amt[j]
                collected += int(tot[j])
                stops += 1
                free[j] = False
                seq.append(("client", j))
                continue
            # nothing fits before the break window closes: take the break here
            if brk_left and v.break_earliest_s is not None and v.break_latest_s is not None \
                    and t <= v.break_latest_s:
                t = max(t, v.break_earliest_s) + v.break_s
                brk_left = False
                continue
            # nothing fits: unload if loaded, else the day is over
            if load.any() and fac_locs:
                best = None
                for fi, (_, f) in enumerate(facs):
                    if not any(cats[c] in f.accepts for c in np.flatnonzero(load)):
                        continue
                    st0 = t + int(dur[loc, f.location])
                    brk_here = brk_left and v.break_earliest_s is not None and (
                        st0 + f.unload_s > (v.break_latest_s or 0) or t >= v.break_earliest_s)
                    if brk_here:
                        st0 = max(st0 + v.break_s, max(t, v.break_earliest_s or 0) + v.break_s)
                    fst = max(st0, f.open_s)
                    if fst > f.close_s - f.unload_s:
                        continue
                    if fst + f.unload_s + int(fac_home[fi]) + (
                            v.break_s if brk_left and not brk_here else 0) > v.shift_end_s:
                        continue
                    got = sum(1 for c in np.flatnonzero(load) if cats[c] in f.accepts)
                    units = int(sum(load[c] for c in range(len(cats)) if cats[c] in f.accepts))
                    room = fcap[fi]
                    if room is not None and units > room:
                        continue
                    key = (-got, fst)
                    if best is None or key < best[0]:
                        best = (key, fi, fst, brk_here)
                if best is not None:
                    _, fi, fst, brk_here = best
                    f = problem.facilities[fi]
                    if brk_here:
                        brk_left = False
                    seq.append(("facility", fi))
                    room = fcap[fi]
                    if room is not None:
                        fcap[fi] = room - int(sum(load[c] for c in range(len(cats))
                                                  if cats[c] in f.accepts))
                    t = fst + f.unload_s
                    loc = f.location
                    for c in range(len(cats)):
                        if cats[c] in f.accepts:
                            load[c] = 0
                    if load.any():
                        continue
                    if stops >= max_stops or collected >= max_coll:
                        break
                    continue
            break
        out[slot] = seq

    if not parallel:
        for slot, g in enumerate(vehicles):
            for _ in build(slot, g):
                pass
        return out
    # parallel: the vehicle whose clock is earliest takes the next step, so that
    # jobs with early windows are shared out over the fleet
    heap: list[tuple[int, int, Iterator[int]]] = []
    for slot, g in enumerate(vehicles):
        gen = build(slot, g)
        first = next(gen, None)
        if first is not None:
            heapq.heappush(heap, (first, slot, gen))
    while heap:
        _, slot, gen = heapq.heappop(heap)
        nxt = next(gen, None)
        if nxt is not None:
            heapq.heappush(heap, (nxt, slot, gen))
    return out


#: urgency weights tried by best_greedy (0 = plain soonest start)
GREEDY_URGENCIES = (0.0, 0.02, 0.05, 0.1, 0.2)


def best_greedy(problem: Problem, jobs: Sequence[Job], vehicles: Sequence[int],
                facility_capacity_left: Sequence[int | None] | None = None,
                ) -> list[list[tuple[str, int]]]:
    """The greedy construction that serves the most jobs over a few urgency weights.

    One weight never suits every day: without it the jobs with early-closing
    windows are left to the last vehicles; with a large one vehicles cross the
    area for them. Each run costs a fraction of a second.
    """
    best: tuple[tuple[int, int], list[list[tuple[str, int]]]] | None = None
    dist = problem.distance_m
    for u in GREEDY_URGENCIES:
        seqs = greedy_routes(problem, jobs, vehicles,
                             facility_capacity_left=facility_capacity_left, urgency=u)
        served = served_in(seqs)
        metres = 0
        for g, s in zip(vehicles, seqs, strict=True):
            v = problem.vehicles[g]
            here = v.start_location
            for kind, ref in s:
                loc = jobs[ref].location if kind == "client" else problem.facilities[ref].location
                metres += int(dist[here, loc])
                here = loc
            if s:
                metres += int(dist[here, v.end_location])
        key = (-served, metres)
        if best is None or key < best[0]:
            best = (key, seqs)
        if served == len(jobs):
            break
    assert best is not None
    return best[1]
