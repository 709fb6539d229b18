"""A large day planned by regions, the regions run as tasks on the planning cluster.

A :class:`~optimizer.city.CityProblem` (no full matrix) is cut, stream by stream
(compartments linked by the vehicles that carry them), into geographic regions
of about ``SolveParams.region_size`` clients (k-means on the points); each region
gets the vehicles it needs by load and work, for each set of trucks that can carry
some of its clients (scarce carriers first), nearest depots first, and the
facilities nearest to it that take its categories, each facility's daily
capacity shared by the regions' loads. A region is an ordinary
:class:`~optimizer.problem.Problem` with a dense matrix of its own locations, solved
by ``solve()`` as a task on the cluster (:mod:`optimizer.cluster`).

The routes are stitched back into the day, then repaired across region borders:
clients a region left out, grouped by place and by the trucks that can carry them,
are re-planned together with those trucks' nearest routes (a k-d tree over the
visits: sparse nearest-neighbour lists, never a matrix of the day) and idle ones
from any depot; a repair is kept when it serves more, or as many for less. Rounds
go on, reaching further, while they serve more and the repair's budget (a share of
the regions' wall time) lasts. Each region's budget is its share of
``time_limit_s`` and at least ``region_s_per_visit`` per client, so the solver time
of the day does not depend on the number of workers: with W workers it takes
about 1/W of the wall time.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy.cluster.vq import kmeans2
from scipy.spatial import cKDTree

from optimizer.city import (
    CityProblem,
    SolveFn,
    global_routes,
    global_unassigned,
    make_task,
    run_part,
)
from optimizer.cluster import connect
from optimizer.params import Progress, SolveParams
from optimizer.partition import CategoryLinks
from optimizer.problem import Problem
from optimizer.solution import Reason, Route, Solution, Unassigned

log = logging.getLogger(__name__)

#: facilities per category offered to a region (the nearest ones that take it)
FACILITIES_PER_CATEGORY = 3
#: a repair model holds the clients left out and the nearest routes up to this many
#: clients (more in later rounds: REPAIR_GROWTH per round)
REPAIR_CLIENTS = 350
REPAIR_GROWTH = 100
#: left-out clients per repair group
REPAIR_GROUP = 60
#: rounds of repair across region borders at most; they stop earlier when a round
#: serves no one more or the repair has used REPAIR_SHARE of the regions' wall time
#: (at least ``time_limit_s``): the repair's budget follows the day's work
REPAIR_ROUNDS = 8
REPAIR_SHARE = 0.5
#: nearest visits looked up per left-out client (the sparse neighbour list); more in
#: later rounds, so that a group reaches past the routes an earlier round tried
NEIGHBOURS = 24
_KM_PER_DEG = 111.195


# ------------------------------------------------------------------ streams and regions


def streams(problem: Problem) -> list[tuple[list[int], list[int]]]:
    """(clients, vehicles) per group of compartments linked by the vehicles carrying
    them; clients no vehicle can carry form a group without vehicles."""
    links = CategoryLinks()
    for v in problem.vehicles:
        links.link(k for k, c in v.capacities.items() if c > 0)
    find = links.find
    groups: dict[str, tuple[list[int], list[int]]] = {}
    for vi, v in enumerate(problem.vehicles):
        ks = [k for k, c in v.capacities.items() if c > 0]
        if ks:
            groups.setdefault(find(ks[0]), ([], []))[1].append(vi)
    for ci, c in enumerate(problem.clients):
        ks = [k for k, q in c.demand.items() if q > 0] or list(c.demand)
        roots = {find(k) for k in ks}
        root = roots.pop() if len(roots) == 1 else "\x00none"
        if root not in groups or not groups[root][1]:
            root = "\x00none"
        groups.setdefault(root, ([], []))[0].append(ci)
    return [g for g in groups.values() if g[0]]


def planar_km(points: np.ndarray) -> np.ndarray:
    """(lon, lat) -> (x, y) km on a plane through the points' mean latitude."""
    lat0 = math.radians(float(np.mean(points[:, 1]))) if len(points) else 0.0
    return np.column_stack([points[:, 0] * _KM_PER_DEG * math.cos(lat0),
                            points[:, 1] * _KM_PER_DEG])


def cluster_places(xy: np.ndarray, size: int, seed: int) -> list[np.ndarray]:
    """Row indices of ``xy`` in geographic groups of about ``size`` (k-means; groups
    over twice the size are cut again)."""
    n = len(xy)
    if n <= size:
        return [np.arange(n)]
    k = math.ceil(n / size)
    _, labels = kmeans2(xy, k, minit="++", seed=seed, iter=20)
    out: list[np.ndarray] = []
    for g in range(k):
        idx = np.flatnonzero(labels == g)
        if len(idx) > 2 * size:
            out += [idx[sub] for sub in cluster_places(xy[idx], size, seed + 1)]
        elif len(idx):
            out.append(idx)
    return out


def seconds_per_km(problem: CityProblem, xy: np.ndarray, samples: int = 200,
                   seed: int = 0) -> float:
    """Travel seconds per straight-line km, from a sample of client legs read from the
    problem's own (lazy) matrices: whatever the distance model."""
    locs = np.asarray([c.location for c in problem.clients], dtype=np.int64)
    if len(locs) < 2:
        return 3600.0 / 25.0
    rng = np.random.default_rng(seed)
    a = rng.choice(locs, size=min(samples, len(locs)))
    tree = cKDTree(xy[locs])
    _, j = tree.query(xy[a], k=min(6, len(locs)))
    b = locs[np.asarray(j)[:, -1]]
    straight = np.hypot(*(xy[a] - xy[b]).T).sum()
    secs = float(problem.lazy_duration.pairs(a, b).sum())
    return secs / straight if straight > 0 else 3600.0 / 25.0


def vehicle_need(problem: Problem, clients: Sequence[int], vehicles: Sequence[int],
                 cxy: np.ndarray, to_facility_km: float, s_per_km: float) -> float:
    """Rough number of vehicles a region needs, by load (a few trips a day) and by work:
    service, driving to the nearest neighbour, and trips to the nearest facility."""
    vs = [problem.vehicles[v] for v in vehicles]
    trips = 4 if problem.facilities else 1
    cap = float(np.mean([sum(v.capacities.values()) for v in vs]))
    kg = sum(sum(problem.clients[c].demand.values()) for c in clients)
    load = kg / max(1.0, cap * trips)
    shift = float(np.mean([v.shift_end_s - v.shift_start_s - v.break_s for v in vs]))
    drive_km = 0.0
    if len(cxy) > 1:
        d, _ = cKDTree(cxy).query(cxy, k=2)
        drive_km = float(np.asarray(d)[:, 1].sum())
    n_trips = kg / max(1.0, cap) if problem.facilities else 0.0
    work = (sum(problem.clients[c].service_s for c in clients) + s_per_km * drive_km
            + n_trips * (2 * s_per_km * to_facility_km + 900.0))
    return max(load, 1.15 * work / max(1.0, shift), 1.0)


def share_fleet(needs: Sequence[float], n_vehicles: int) -> list[int]:
    """Vehicles per region in proportion to need (largest remainder), at least one each
    while there are enough."""
    total = sum(needs) or 1.0
    raw = [n_vehicles * x / total for x in needs]
    share = [max(1 if n_vehicles >= len(needs) else 0, int(x)) for x in raw]
    while sum(share) > n_vehicles:
        i = max(range(len(share)), key=lambda i: (share[i] - raw[i], share[i]))
        share[i] -= 1
    order = sorted(range(len(share)), key=lambda i: raw[i] - share[i], reverse=True)
    k = 0
    while sum(share) < n_vehicles:
        share[order[k % len(order)]] += 1
        k += 1
    return share


@dataclass
class Region:
    clients: list[int]
    vehicles: list[int]
    facilities: list[int]
    centre_km: np.ndarray
    #: facility -> daily capacity share of this region (None: unlimited)
    capacity: dict[int, int | None] = field(default_factory=dict)


def assign_vehicles(vxy: np.ndarray, vehicles: Sequence[int], centres: np.ndarray,
                    share: Sequence[int]) -> list[list[int]]:
    """Vehicles to regions, nearest depot first, each region up to its share."""
    out: list[list[int]] = [[] for _ in share]
    if not len(vehicles):
        return out
    d = np.hypot(vxy[:, None, 0] - centres[None, :, 0], vxy[:, None, 1] - centres[None, :, 1])
    left = list(share)
    taken = np.zeros(len(vehicles), dtype=bool)
    for flat in np.argsort(d, axis=None, kind="stable"):
        vi, ri = divmod(int(flat), len(share))
        if taken[vi] or left[ri] <= 0:
            continue
        taken[vi] = True
        left[ri] -= 1
        out[ri].append(int(vehicles[vi]))
    return out


def nearest_facilities(problem: Problem, fxy: np.ndarray, cats: set[str],
                       centre: np.ndarray) -> list[int]:
    """The facilities nearest to ``centre`` that take each of ``cats``."""
    d = np.hypot(fxy[:, 0] - centre[0], fxy[:, 1] - centre[1]) if len(fxy) else np.zeros(0)
    chosen: set[int] = set()
    for k in sorted(cats):
        ok = [fi for fi in np.argsort(d, kind="stable") if k in problem.facilities[fi].accepts]
        chosen.update(int(fi) for fi in ok[:FACILITIES_PER_CATEGORY])
    return sorted(chosen)


def carriers(problem: Problem, clients: Sequence[int],
             vehicles: Sequence[int]) -> dict[frozenset[int], list[int]]:
    """Clients by the set of ``vehicles`` that can carry all their categories (an
    empty set: none of them can)."""
    cats = [frozenset(k for k, c in problem.vehicles[v].capacities.items() if c > 0)
            for v in vehicles]
    out: dict[frozenset[int], list[int]] = {}
    seen: dict[frozenset[str], frozenset[int]] = {}
    for c in clients:
        need = frozenset(k for k, q in problem.clients[c].demand.items() if q > 0)
        if need not in seen:
            seen[need] = frozenset(v for v, ks in zip(vehicles, cats, strict=True)
                                   if need <= ks)
        out.setdefault(seen[need], []).append(c)
    return out


def share_by_carriers(problem: Problem, groups: Sequence[Sequence[int]],
                      vehicles: Sequence[int], vxy: np.ndarray, centres: np.ndarray,
                      need: Callable[[int, list[int], list[int]], float]) -> list[list[int]]:
    """Vehicles per region, nearest depot first, with each region's clients' carriers in
    mind: a stream's trucks differ (a small compartment only some carry), and a region
    given trucks by total need alone can hold none that carry some of its clients.

    Sets of carriers go scarcest first; a set's need in a region counts the clients
    only its trucks (or fewer) can carry, less the set's trucks the region holds
    already (``need(region, clients, carriers)``). The widest set, last, shares every
    truck left in proportion to need (with one set: plain shares by need)."""
    by_set = [carriers(problem, g, vehicles) for g in groups]
    sets = sorted({t for d in by_set for t in d if t}, key=lambda t: (len(t), sorted(t)))
    where = {v: i for i, v in enumerate(vehicles)}
    fleets: list[list[int]] = [[] for _ in groups]
    free = set(vehicles)
    for si, t in enumerate(sets):
        last = si == len(sets) - 1
        pool = [v for v in vehicles if v in free and v in t]
        if not pool:
            continue
        extra = []
        for r, d in enumerate(by_set):
            mine = [c for u, cs in d.items() if u and u <= t for c in cs]
            have = sum(1 for v in fleets[r] if v in t)
            extra.append(max(0.0, need(r, mine, sorted(t)) - have) if mine else 0.0)
        want = [math.ceil(x) for x in extra]
        if last or sum(want) > len(pool):
            active = [r for r, x in enumerate(extra) if x > 0 or last]
            shares = share_fleet([extra[r] for r in active], len(pool)) if active else []
            want = [0] * len(groups)
            for r, k in zip(active, shares, strict=True):
                want[r] = k
        got = assign_vehicles(vxy[[where[v] for v in pool]], pool, centres, want)
        for r, vs_r in enumerate(got):
            fleets[r] += vs_r
            free.difference_update(vs_r)
    return fleets


def plan_regions(problem: CityProblem, size: int,
                 seed: int = 0) -> tuple[list[Region], list[int]]:
    """Regions of the day (clients, vehicles, facilities, capacity shares) and the
    clients no vehicle can carry."""
    xy = planar_km(problem.points)
    regions: list[Region] = []
    no_vehicle: list[int] = []
    fxy = xy[[f.location for f in problem.facilities]] if problem.facilities else np.zeros((0, 2))
    s_per_km = seconds_per_km(problem, xy, seed=seed)
    for cl, vs in streams(problem):
        if not vs:
            no_vehicle += cl
            continue
        cxy = xy[[problem.clients[c].location for c in cl]]
        groups = [[cl[i] for i in g] for g in cluster_places(cxy, size, seed)]
        centres = np.array([xy[[problem.clients[c].location for c in g]].mean(axis=0)
                            for g in groups])
        cats = {k for c in cl for k, q in problem.clients[c].demand.items() if q > 0}
        to_facility_km = []
        for centre in centres:
            near = [float(np.hypot(*(fxy[fi] - centre)))
                    for fi in nearest_facilities(problem, fxy, cats, centre)]
            to_facility_km.append(min(near) if near else 0.0)

        def need(r: int, clients: list[int], trucks: list[int],
                 km: Sequence[float] = to_facility_km) -> float:
            return vehicle_need(problem, clients, trucks,
                                xy[[problem.clients[c].location for c in clients]],
                                km[r], s_per_km)

        vxy = xy[[problem.vehicles[v].start_location for v in vs]]
        fleets = share_by_carriers(problem, groups, vs, vxy, centres, need)
        for g, fleet, centre in zip(groups, fleets, centres, strict=True):
            regions.append(Region(g, fleet, nearest_facilities(problem, fxy, cats, centre),
                                  centre))
    share_capacity(problem, regions)
    return regions, no_vehicle


def share_capacity(problem: Problem, regions: Sequence[Region]) -> None:
    """Each facility's daily capacity shared by the regions offered it, by their load of
    what it accepts (the shares never add up to more than the capacity)."""
    for fi, f in enumerate(problem.facilities):
        users = [r for r in regions if fi in r.facilities]
        if f.daily_capacity is None:
            for r in users:
                r.capacity[fi] = None
            continue
        w = [sum(q for c in r.clients for k, q in problem.clients[c].demand.items()
                 if k in f.accepts) for r in users]
        total = sum(w) or 1
        for r, wr in zip(users, w, strict=True):
            r.capacity[fi] = int(f.daily_capacity * wr // total)


def part_budget(params: SolveParams, n: int, total: int) -> float:
    """Seconds for a part of ``n`` of the day's ``total`` clients. Counted searches keep
    the whole limit as their outer safety bound: a share of it could stop them early
    on a loaded machine, and the plan would depend on the load."""
    if params.counted:
        return params.time_limit_s
    return max(params.time_limit_s * n / max(1, total), params.region_s_per_visit * n, 2.0)


# ------------------------------------------------------------------ the day


@dataclass
class Day:
    """The day being stitched: one route per vehicle, unassigned per client."""

    problem: CityProblem
    routes: dict[int, Route] = field(default_factory=dict)
    unassigned: dict[int, Unassigned] = field(default_factory=dict)
    #: clients no vehicle of the day can carry: never repaired
    final: set[int] = field(default_factory=set)

    def repairable(self) -> list[int]:
        return sorted(c for c in self.unassigned if c not in self.final)

    def cost(self, routes: Sequence[Route]) -> float:
        """The bureau's cost: fixed cost per vehicle used + cost per km."""
        out = 0.0
        for r in routes:
            if r.client_visits:
                v = self.problem.vehicles[r.vehicle]
                out += float(v.fixed_cost) + float(v.cost_per_km) * r.distance_m / 1000.0
        return out

    def facility_load(self, skip: set[int]) -> dict[int, int]:
        """Units unloaded per facility by the routes of vehicles not in ``skip``."""
        used: dict[int, int] = {}
        for vi, r in self.routes.items():
            if vi in skip:
                continue
            load: dict[str, int] = {}
            for v in r.visits:
                if v.kind == "client":
                    for k, q in v.amount.items():
                        load[k] = load.get(k, 0) + q
                elif v.kind == "facility" and v.index is not None:
                    acc = self.problem.facilities[v.index].accepts
                    got = sum(q for k, q in load.items() if k in acc)
                    used[v.index] = used.get(v.index, 0) + got
                    load = {k: q for k, q in load.items() if k not in acc}
        return used


def solve_city(problem: CityProblem, params: SolveParams, solve: SolveFn,
               progress: Progress | None = None) -> Solution:
    """Plan a CityProblem by regions on the planning cluster (module docstring)."""
    t0 = time.monotonic()
    size = max(50, int(params.region_size))
    regions, no_vehicle = plan_regions(problem, size, params.seed)
    total = sum(len(r.clients) for r in regions)
    day = Day(problem, final=set(no_vehicle))
    for c in no_vehicle:
        day.unassigned[c] = Unassigned(c, dict(problem.clients[c].demand),
                                       Reason.NO_VEHICLE_FOR_CATEGORY)
    tasks = []
    for i, r in enumerate(regions):
        if not r.vehicles:
            for c in r.clients:
                day.unassigned[c] = Unassigned(c, dict(problem.clients[c].demand),
                                               Reason.NOT_ENOUGH_VEHICLES)
            continue
        sub = replace(params, time_limit_s=part_budget(params, len(r.clients), total),
                      cluster=None)
        tasks.append(make_task(problem, f"{problem.name} region {i + 1}", r.clients,
                               r.vehicles, r.facilities, r.capacity, sub, solve))
    stats: dict[str, Any] = {"strategy": "regions", "regions": len(tasks), "clients": total,
                             "region_size": size, "plan_regions_s": round(time.monotonic() - t0, 2)}
    with connect(params.cluster) as cluster:
        stats["cluster"] = cluster.address
        stats["workers"] = cluster.workers
        region_stats: list[dict[str, Any]] = [{} for _ in tasks]
        finished = cluster.map(run_part, tasks, [len(t.clients) for t in tasks])
        for done, (i, res) in enumerate(finished, start=1):
            for route in global_routes(tasks[i], res):
                day.routes[route.vehicle] = route
            for u in global_unassigned(tasks[i], res):
                day.unassigned[u.client] = u
            region_stats[i] = res.stats
            if progress is not None:
                progress(min(0.95, 0.9 * done / max(1, len(tasks))), None)
        stats["region_stats"] = region_stats
        stats["regions_s"] = round(time.monotonic() - t0, 2)
        stats["left_out_before_repair"] = len(day.unassigned) - len(no_vehicle)
        budget_s = max(params.time_limit_s, REPAIR_SHARE * (time.monotonic() - t0))
        rounds = repair(day, params, solve, cluster, budget_s)
        stats["repair_rounds"] = rounds
    stats["left_out"] = len(day.unassigned)
    stats["wall_s"] = round(time.monotonic() - t0, 2)
    routes = tuple(sorted(day.routes.values(), key=lambda r: r.vehicle))
    sol = Solution(routes=routes,
                   unassigned=tuple(sorted(day.unassigned.values(), key=lambda u: u.client)),
                   engine="ortools", wall_s=time.monotonic() - t0,
                   objective=int(round(1000 * day.cost(routes))), stats=stats)
    if progress is not None:
        progress(1.0, sol.objective)
    return sol


# ------------------------------------------------------------------ repair across borders


def repair(day: Day, params: SolveParams, solve: SolveFn, cluster: Any,
           budget_s: float) -> list[dict[str, Any]]:
    """Repair rounds across region borders while ``budget_s`` lasts (a round is not
    started when it would end past it) until two rounds in a row serve no one more
    (the second reaches further); counted searches (``params.counted``) never read
    the clock."""
    t0 = time.monotonic()
    rounds: list[dict[str, Any]] = []
    for rnd in range(REPAIR_ROUNDS):
        left = len(day.repairable())
        if rounds:
            # a round takes about as long as the last one per client left out
            last = rounds[-1]
            guess = last["wall_s"] * min(1.0, left / max(1, last["left_out"]))
            late = not params.counted and time.monotonic() - t0 + guess > budget_s
            stuck = len(rounds) >= 2 and not last["served_more"] \
                and not rounds[-2]["served_more"]
            if stuck or late:
                break
        if not left:
            break
        rounds.append({"left_out": left, **repair_round(day, params, solve, cluster, rnd)})
    return rounds


@dataclass
class RepairGroup:
    left: list[int]
    vehicles: list[int]
    #: client -> what the taken routes collect of it (its part of a split client)
    demand: dict[int, dict[str, int]]
    facilities: list[int]


def repair_groups(day: Day, params: SolveParams, rnd: int = 0) -> list[RepairGroup]:
    """Left-out clients grouped by place and by the trucks that can carry them (scarce
    carriers first), each group with the nearest routes of those trucks (found through
    a k-d tree of their visits) and idle ones of them, nearest depot first, from any
    district; no route in two groups. Later rounds reach further (``rnd``)."""
    p = day.problem
    xy = planar_km(p.points)
    left = day.repairable()
    visit_loc: list[int] = []
    visit_route: list[int] = []
    seen: dict[int, set[int]] = {}
    for vi, r in day.routes.items():
        for v in r.client_visits:
            assert v.location is not None and v.index is not None
            visit_loc.append(v.location)
            visit_route.append(vi)
            seen.setdefault(v.index, set()).add(vi)
    # a route with a piece of a client that another route serves too stays out of
    # repair (the pieces must keep adding up to the client's demand)
    shared = {vi for vis in seen.values() if len(vis) > 1 for vi in vis}
    idle = [vi for vi in range(len(p.vehicles)) if vi not in day.routes]
    per_route = max(1.0, len(visit_loc) / max(1, len(day.routes)))
    limit = REPAIR_CLIENTS + REPAIR_GROWTH * rnd
    neighbours = NEIGHBOURS * (1 + rnd)
    fxy = xy[[f.location for f in p.facilities]] if p.facilities else np.zeros((0, 2))
    taken: set[int] = set()
    groups: list[RepairGroup] = []
    by_set = carriers(p, left, range(len(p.vehicles)))
    for allowed, mine in sorted(by_set.items(), key=lambda kv: (len(kv[0]), kv[1])):
        if not allowed:
            continue
        own = [i for i, vi in enumerate(visit_route) if vi in allowed and vi not in shared]
        tree = cKDTree(xy[[visit_loc[i] for i in own]]) if own else None
        lxy = xy[[p.clients[c].location for c in mine]]
        for g in cluster_places(lxy, REPAIR_GROUP, params.seed + rnd):
            cs = [mine[i] for i in g]
            centre = lxy[g].mean(axis=0)
            routes: list[int] = []
            n = len(cs)
            if tree is not None:
                dist, idx = tree.query(lxy[g], k=min(neighbours, len(own)))
                order = np.argsort(np.asarray(dist).ravel(), kind="stable")
                for j in np.asarray(idx).ravel()[order]:
                    vi = visit_route[own[int(j)]]
                    if vi in taken or vi in routes:
                        continue
                    size = len(day.routes[vi].client_visits)
                    if n + size > limit:
                        continue
                    routes.append(vi)
                    n += size
            spare = sorted((v for v in idle if v in allowed and v not in taken),
                           key=lambda v: float(np.hypot(*(xy[p.vehicles[v].start_location]
                                                          - centre))))
            vehicles = routes + spare[:max(2, math.ceil(len(cs) / per_route) + 1)]
            if not vehicles:
                continue
            taken.update(vehicles)
            demand: dict[int, dict[str, int]] = {}
            for vi in routes:
                for v in day.routes[vi].client_visits:
                    assert v.index is not None
                    got = demand.setdefault(v.index, {})
                    for k2, q in v.amount.items():
                        got[k2] = got.get(k2, 0) + q
            cats = {k2 for c in list(cs) + list(demand)
                    for k2, q in p.clients[c].demand.items() if q > 0}
            facs = set(nearest_facilities(p, fxy, cats, centre))
            for vi in routes:
                facs.update(v.index for v in day.routes[vi].visits
                            if v.kind == "facility" and v.index is not None)
            groups.append(RepairGroup(cs, vehicles, demand, sorted(facs)))
    return groups


def repair_round(day: Day, params: SolveParams, solve: SolveFn, cluster: Any,
                 rnd: int) -> dict[str, Any]:
    """One round of repair groups, solved as tasks; each kept when it serves more, or
    as many for less."""
    t0 = time.monotonic()
    p = day.problem
    groups = repair_groups(day, params, rnd)
    tasks = []
    for gi, g in enumerate(groups):
        skip = set(g.vehicles)
        used = day.facility_load(skip)
        cap = {fi: (None if p.facilities[fi].daily_capacity is None else
                    max(0, int(p.facilities[fi].daily_capacity or 0) - used.get(fi, 0)))
               for fi in g.facilities}
        clients = g.left + sorted(g.demand)
        n = len(clients)
        # later rounds have fewer clients left out and larger groups: more time each
        limit = params.time_limit_s if params.counted else \
            max(3.0, params.region_s_per_visit * n * (2 + rnd))
        sub = replace(params, time_limit_s=limit, cluster=None, seed=params.seed + rnd)
        tasks.append(make_task(p, f"{p.name} repair {rnd + 1}.{gi + 1}", clients, g.vehicles,
                               g.facilities, cap, sub, solve, demand=g.demand))
    kept = served_more = 0
    for i, res in cluster.map(run_part, tasks, [len(t.clients) for t in tasks]):
        g, task = groups[i], tasks[i]
        before_served = len(g.demand)
        before_cost = day.cost([day.routes[v] for v in g.vehicles if v in day.routes])
        new_routes = global_routes(task, res)
        lost = global_unassigned(task, res)
        after_served = len(task.clients) - len({u.client for u in lost})
        if after_served < before_served or (after_served == before_served
                                            and day.cost(new_routes) >= before_cost - 1e-6):
            continue
        kept += 1
        served_more += after_served - before_served
        for v in g.vehicles:
            day.routes.pop(v, None)
        for r in new_routes:
            day.routes[r.vehicle] = r
        for c in g.left:
            day.unassigned.pop(c, None)
        for u in lost:
            # a client the taken routes served in part keeps its whole demand unassigned
            day.unassigned[u.client] = Unassigned(
                u.client, dict(p.clients[u.client].demand), u.reason)
    return {"groups": len(groups), "kept": kept, "served_more": served_more,
            "wall_s": round(time.monotonic() - t0, 2)}


__all__ = ["Region", "plan_regions", "solve_city", "streams"]
