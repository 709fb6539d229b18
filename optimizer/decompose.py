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

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from optimizer.problem import Problem, Vehicle
from optimizer.solution import Reason, Unassigned

log = logging.getLogger(__name__)

#: a client is split into at most this many visits; beyond it is "capacity"
MAX_SPLIT = 50


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
    for ci, c in enumerate(problem.clients):
        demand = {k: q for k, q in c.demand.items() if q > 0}
        allowed = [vi for vi, v in enumerate(problem.vehicles) if _carries(v, demand)]
        if not allowed:
            out.unassigned.append(Unassigned(ci, dict(c.demand), Reason.NO_VEHICLE_FOR_CATEGORY))
            continue
        # time window reachable from some allowed vehicle within its shift
        reach: list[int] = []
        for vi in allowed:
            v = problem.vehicles[vi]
            start = max(v.shift_start_s + int(dur[v.start_location, c.location]), c.tw_start_s)
            if start > c.tw_end_s:
                continue
            if start + c.service_s + int(dur[c.location, v.end_location]) > v.shift_end_s:
                continue
            reach.append(vi)
        if not reach:
            out.unassigned.append(Unassigned(ci, dict(c.demand), Reason.TIME_WINDOW_UNREACHABLE))
            continue
        if demand and problem.end_empty:
            ok: list[int] = []
            for vi in reach:
                v = problem.vehicles[vi]
                start = max(v.shift_start_s + int(dur[v.start_location, c.location]),
                            c.tw_start_s)
                if _unload_reachable(problem, v, c.location, start + c.service_s, list(demand)):
                    ok.append(vi)
            if not ok:
                out.unassigned.append(Unassigned(ci, dict(c.demand), Reason.FACILITY_CLOSED))
                continue
            reach = ok
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
