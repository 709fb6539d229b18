"""A large day planned by regions, the regions run as tasks on the planning cluster.

A :class:`~optimizer.city.CityProblem` (no full matrix) is cut, stream by stream
(compartments linked by the vehicles that carry them), into geographic regions
of about ``SolveParams.region_size`` clients (k-means on the points); each region
gets the vehicles it needs by load and work, nearest depots first, and the
facilities nearest to it that take its categories, each facility's daily
capacity shared by the regions' loads. A region is an ordinary
:class:`~optimizer.problem.Problem` with a dense matrix of its own locations, solved
by ``solve()`` as a task on the cluster (:mod:`optimizer.cluster`); its parts, repair
and neighbourhood re-planning run inside the task.

The routes are stitched back into the day, then repaired across region borders:
clients a region left out, grouped by place, are re-planned together with the
routes nearest to them (a k-d tree over the visits: sparse nearest-neighbour lists,
never a matrix of the day) and the vehicles left idle; a repair is kept when it
serves more, or as many for less. Each region's budget is its share of
``time_limit_s`` and at least ``region_s_per_visit`` per client, so the solver time
of the day does not depend on the number of workers: with W workers it takes
about 1/W of the wall time.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
from scipy.cluster.vq import kmeans2
from scipy.spatial import cKDTree

from optimizer.city import CityProblem
from optimizer.cluster import connect
from optimizer.distance.base import DistanceModel
from optimizer.distance.lazy import part_matrices
from optimizer.params import Progress, SolveParams
from optimizer.partition import CategoryLinks
from optimizer.problem import Client, Facility, Problem, Vehicle
from optimizer.solution import Reason, Route, Solution, Unassigned, Visit

log = logging.getLogger(__name__)

#: solve(problem, params) -> Solution, run inside each task (``optimizer.solve.solve``)
SolveFn = Callable[[Problem, SolveParams], Solution]

#: facilities per category offered to a region (the nearest ones that take it)
FACILITIES_PER_CATEGORY = 3
#: a repair model holds the clients left out and the nearest routes up to this many clients
REPAIR_CLIENTS = 350
#: left-out clients per repair group
REPAIR_GROUP = 60
#: rounds of repair across region borders
REPAIR_ROUNDS = 3
#: nearest visits looked up per left-out client (the sparse neighbour list)
NEIGHBOURS = 24
_KM_PER_DEG = 111.195


# ------------------------------------------------------------------ plain values
# Tasks travel to other processes: only plain values (the engine's nouns hold
# read-only mappings, which do not pickle).


def _plain(obj: Any) -> dict[str, Any]:
    return {f.name: dict(v) if isinstance(v, Mapping) else v
            for f in fields(obj) for v in [getattr(obj, f.name)]}


@dataclass
class PartTask:
    """One region (or repair group) to solve: plain values, local location numbers."""

    name: str
    points: np.ndarray
    model: DistanceModel
    clients: list[dict[str, Any]]
    vehicles: list[dict[str, Any]]
    facilities: list[dict[str, Any]]
    end_empty: bool
    params: SolveParams
    solve: SolveFn
    #: local -> global numbers
    locations: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    client_ids: list[int] = field(default_factory=list)
    vehicle_ids: list[int] = field(default_factory=list)
    facility_ids: list[int] = field(default_factory=list)


@dataclass
class PartResult:
    """A task's Solution as plain values (local numbers)."""

    routes: list[tuple[int, list[dict[str, Any]], int, int]]
    unassigned: list[tuple[int, dict[str, int], str]]
    wall_s: float
    objective: int
    stats: dict[str, Any]


def run_part(task: PartTask) -> PartResult:
    """Build the part's Problem (its own dense matrices) and solve it: the task body."""
    t0 = time.monotonic()
    dist, dur = part_matrices(task.model, task.points)
    problem = Problem(
        distance_m=dist, duration_s=dur,
        clients=tuple(Client(**c) for c in task.clients),
        vehicles=tuple(Vehicle(**v) for v in task.vehicles),
        facilities=tuple(Facility(**f) for f in task.facilities),
        end_empty=task.end_empty, name=task.name,
        extra={"coords": [tuple(p) for p in task.points.tolist()]})
    del dist, dur
    sol = task.solve(problem, task.params)
    routes = [(r.vehicle, [_plain(v) for v in r.visits], r.distance_m, r.duration_s)
              for r in sol.routes if r.client_visits]
    unassigned = [(u.client, dict(u.amount), str(u.reason)) for u in sol.unassigned]
    stats = {"wall_s": round(time.monotonic() - t0, 2), "clients": len(task.clients),
             "vehicles": len(task.vehicles), "locations": int(task.points.shape[0]),
             "served": len(task.clients) - len({u[0] for u in unassigned})}
    return PartResult(routes, unassigned, float(sol.wall_s), int(sol.objective), stats)


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
        needs = []
        for g, centre in zip(groups, centres, strict=True):
            near = [float(np.hypot(*(fxy[fi] - centre)))
                    for fi in nearest_facilities(problem, fxy, cats, centre)]
            needs.append(vehicle_need(problem, g, vs,
                                      xy[[problem.clients[c].location for c in g]],
                                      min(near) if near else 0.0, s_per_km))
        share = share_fleet(needs, len(vs))
        vxy = xy[[problem.vehicles[v].start_location for v in vs]]
        fleets = assign_vehicles(vxy, vs, centres, share)
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


# ------------------------------------------------------------------ tasks


def make_task(problem: CityProblem, name: str, clients: Sequence[int],
              vehicles: Sequence[int], facilities: Sequence[int],
              capacity: Mapping[int, int | None], params: SolveParams, solve: SolveFn,
              demand: Mapping[int, Mapping[str, int]] | None = None) -> PartTask:
    """A task over these global clients, vehicles and facilities (``demand``: what is
    left to collect of a client, when not its whole demand)."""
    locs: list[int] = []
    local: dict[int, int] = {}

    def at(loc: int) -> int:
        if loc not in local:
            local[loc] = len(locs)
            locs.append(loc)
        return local[loc]

    vs = []
    for v in vehicles:
        d = _plain(problem.vehicles[v])
        d["start_location"], d["end_location"] = at(d["start_location"]), at(d["end_location"])
        vs.append(d)
    fs = []
    for fi in facilities:
        d = _plain(problem.facilities[fi])
        d["location"] = at(d["location"])
        d["daily_capacity"] = capacity.get(fi, d["daily_capacity"])
        fs.append(d)
    cs = []
    for c in clients:
        d = _plain(problem.clients[c])
        d["location"] = at(d["location"])
        if demand is not None and c in demand:
            d["demand"] = dict(demand[c])
        cs.append(d)
    arr = np.asarray(locs, dtype=np.int64)
    return PartTask(name=name, points=np.array(problem.points[arr]), model=problem.model,
                    clients=cs, vehicles=vs, facilities=fs, end_empty=problem.end_empty,
                    params=params, solve=solve, locations=arr, client_ids=list(clients),
                    vehicle_ids=list(vehicles), facility_ids=list(facilities))


def part_budget(params: SolveParams, n: int, total: int) -> float:
    """Seconds for a part of ``n`` of the day's ``total`` clients."""
    return max(params.time_limit_s * n / max(1, total), params.region_s_per_visit * n, 2.0)


def global_routes(task: PartTask, res: PartResult) -> list[Route]:
    """A task's routes in the day's numbers."""
    out = []
    for vl, visits, metres, secs in res.routes:
        vv = []
        for d in visits:
            d = dict(d)
            if d["index"] is not None:
                ids = task.client_ids if d["kind"] == "client" else task.facility_ids
                d["index"] = ids[d["index"]]
            if d["location"] is not None:
                d["location"] = int(task.locations[d["location"]])
            vv.append(Visit(**d))
        out.append(Route(task.vehicle_ids[vl], tuple(vv), metres, secs))
    return out


def global_unassigned(task: PartTask, res: PartResult) -> list[Unassigned]:
    return [Unassigned(task.client_ids[c], amount, Reason(reason))
            for c, amount, reason in res.unassigned]


# ------------------------------------------------------------------ the day


@dataclass
class Day:
    """The day being stitched: one route per vehicle, unassigned per client."""

    problem: CityProblem
    routes: dict[int, Route] = field(default_factory=dict)
    unassigned: dict[int, Unassigned] = field(default_factory=dict)

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
    day = Day(problem)
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
        rounds = []
        for rnd in range(REPAIR_ROUNDS):
            if not any(u.reason != Reason.NO_VEHICLE_FOR_CATEGORY for u in day.unassigned.values()):
                break
            rounds.append(repair_round(day, params, solve, cluster, rnd))
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


@dataclass
class RepairGroup:
    left: list[int]
    vehicles: list[int]
    #: client -> what the taken routes collect of it (its part of a split client)
    demand: dict[int, dict[str, int]]
    facilities: list[int]


def repair_groups(day: Day, params: SolveParams) -> list[RepairGroup]:
    """Left-out clients grouped by place, each with the routes nearest to them (found
    through a k-d tree of the visits) and idle vehicles; no route in two groups."""
    p = day.problem
    xy = planar_km(p.points)
    left = sorted(c for c, u in day.unassigned.items()
                  if u.reason != Reason.NO_VEHICLE_FOR_CATEGORY)
    visit_loc: list[int] = []
    visit_route: list[int] = []
    for vi, r in day.routes.items():
        for v in r.client_visits:
            assert v.location is not None
            visit_loc.append(v.location)
            visit_route.append(vi)
    # a route with a piece of a client that another route serves too stays out of
    # repair (the pieces must keep adding up to the client's demand)
    seen: dict[int, set[int]] = {}
    for vi, r in day.routes.items():
        for v in r.client_visits:
            assert v.index is not None
            seen.setdefault(v.index, set()).add(vi)
    shared = {vi for vis in seen.values() if len(vis) > 1 for vi in vis}
    used = set(day.routes)
    idle = [vi for vi in range(len(p.vehicles)) if vi not in used]
    taken: set[int] = set()
    groups: list[RepairGroup] = []
    for cl, vs in streams(p):
        mine = sorted(set(cl) & set(left))
        if not mine or not vs:
            continue
        allowed = set(vs)
        # the stream's own visits: another stream's routes cannot take these clients
        own = [i for i, vi in enumerate(visit_route) if vi in allowed]
        tree = cKDTree(xy[[visit_loc[i] for i in own]]) if own else None
        lxy = xy[[p.clients[c].location for c in mine]]
        for g in cluster_places(lxy, REPAIR_GROUP, params.seed):
            cs = [mine[i] for i in g]
            centre = lxy[g].mean(axis=0)
            routes: list[int] = []
            n = len(cs)
            if tree is not None:
                k = min(NEIGHBOURS, len(own))
                dist, idx = tree.query(lxy[g], k=k)
                order = np.argsort(np.asarray(dist).ravel(), kind="stable")
                for j in np.asarray(idx).ravel()[order]:
                    vi = visit_route[own[int(j)]]
                    if vi in taken or vi in routes or vi not in allowed or vi in shared:
                        continue
                    size = len(day.routes[vi].client_visits)
                    if n + size > REPAIR_CLIENTS:
                        continue
                    routes.append(vi)
                    n += size
            spare = sorted((v for v in idle if v in allowed and v not in taken),
                           key=lambda v: float(np.hypot(*(xy[p.vehicles[v].start_location]
                                                          - centre))))
            vehicles = routes + spare[:max(2, len(cs) // 15)]
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
            cats = {k2 for c in cs for k2, q in p.clients[c].demand.items() if q > 0}
            fxy = xy[[f.location for f in p.facilities]] if p.facilities else np.zeros((0, 2))
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
    groups = repair_groups(day, params)
    tasks = []
    for gi, g in enumerate(groups):
        skip = set(g.vehicles)
        used = day.facility_load(skip)
        cap = {fi: (None if p.facilities[fi].daily_capacity is None else
                    max(0, int(p.facilities[fi].daily_capacity or 0) - used.get(fi, 0)))
               for fi in g.facilities}
        clients = g.left + sorted(g.demand)
        n = len(clients)
        sub = replace(params, time_limit_s=max(3.0, params.region_s_per_visit * n * 2),
                      cluster=None, seed=params.seed + rnd)
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


__all__ = ["PartResult", "PartTask", "Region", "SolveFn", "plan_regions", "run_part",
           "solve_city", "streams"]
