"""Cutting a day into parts: groups of compartments, then geographic clusters.

Vehicles that share no compartment never interact, so each group of linked
compartments is its own problem (:func:`components`). A large group is cut into
clusters of about ``chunk_size`` jobs, the vehicles shared out by need, and jobs
only a few vehicles may serve are kept with those vehicles (:func:`plan_parts`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from optimizer.construct import best_greedy
from optimizer.jobs import Job, Prepared
from optimizer.params import SolveParams
from optimizer.problem import Problem
from optimizer.routes import served_in


def should_decompose(problem: Problem, params: SolveParams, prep: Prepared) -> bool:
    """Large days, and days with breaks whose compartment groups are big: above
    ``decompose_group_above`` always, above ``decompose_slack_group_above`` when the
    greedy start serves the whole group (small models improve faster; a tight
    group keeps the global moves of one model)."""
    if len(prep.jobs) > params.decompose_above:
        return True
    low = min(params.decompose_group_above, params.decompose_slack_group_above)
    if len(prep.jobs) <= low or not any(v.has_break for v in problem.vehicles):
        return False
    for gj, gv in components(problem, prep.jobs):
        if len(gj) > params.decompose_group_above:
            return True
        if len(gj) > params.decompose_slack_group_above and gv and problem.end_empty \
                and problem.facilities:
            seqs = best_greedy(problem, [prep.jobs[i] for i in gj], gv)
            if served_in(seqs) == len(gj):
                return True
    return False


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


class CategoryLinks:
    """Union-find over compartment categories: the categories one vehicle carries (or
    one job asks for) are linked, so their work can only be planned together."""

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        parent = self._parent
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def link(self, keys: Iterable[str]) -> None:
        ks = list(keys)
        for k in ks:
            self.find(k)
        for a, b in zip(ks, ks[1:], strict=False):
            self._parent[self.find(a)] = self.find(b)


def components(problem: Problem, jobs: Sequence[Job]) -> list[tuple[list[int], list[int]]]:
    """Independent (jobs, vehicles) groups: categories linked through shared vehicles."""
    links = CategoryLinks()
    for v in problem.vehicles:
        links.link(k for k, c in v.capacities.items() if c > 0)
    for j in jobs:
        links.link(j.amount)
    find = links.find
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
