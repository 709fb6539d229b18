"""What is to be served: a Problem's clients as solver jobs.

A *job* is one visit the solver must plan: a client, or one piece of a client
whose demand exceeds every compartment that may carry it. Pre-checks find the
clients no plan can serve (no vehicle with the category, a window nobody can
reach, no open facility) and give them a Reason before any solver runs; they
leave the break out, so a job may still be unservable, and what the solver
leaves out is explained by ``reasons.insert_or_explain``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from optimizer.problem import Facility, Problem, Vehicle
from optimizer.solution import Reason, Unassigned

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

    @property
    def worthless(self) -> bool:
        """Optional with a penalty of 0: leaving it out costs nothing, so no pass
        inserts it (as the solver's objective says)."""
        return self.penalty is not None and self.penalty <= 0


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
    """Can vehicle v, leaving loc at ready_s, empty every category and get home?

    Exact (the break aside): every order of facilities that empties the load is
    tried, at most one facility per category.
    """
    dur = problem.duration_s

    def go(here: int, t: int, remaining: frozenset[str]) -> bool:
        if not remaining:
            return t + int(dur[here, v.end_location]) <= v.shift_end_s
        for f in problem.facilities:
            got = remaining & f.accepts
            if not got:
                continue
            start = max(t + int(dur[here, f.location]), f.open_s)
            if start > f.close_s - f.unload_s:
                continue
            if go(f.location, start + f.unload_s, remaining - got):
                return True
        return False

    return go(loc, ready_s, frozenset(categories))


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


def facility_copies(problem: Problem, jobs: Sequence[Job], vehicles: Sequence[int]) -> list[int]:
    """How many visits each facility may get in this sub-problem."""
    vs = [problem.vehicles[v] for v in vehicles]
    demand: dict[str, int] = {}
    for j in jobs:
        for k, q in j.amount.items():
            demand[k] = demand.get(k, 0) + q
    out: list[int] = []
    for f in problem.facilities:
        cats = [k for k in f.accepts if demand.get(k, 0) > 0]
        if not cats or f.close_s - f.unload_s < f.open_s:
            out.append(0)
            continue
        trips = 0
        users = 0
        for k in cats:
            caps = [v.capacities[k] for v in vs if v.capacities.get(k, 0) > 0]
            if caps:
                trips += math.ceil(demand[k] / min(caps))
        users = sum(1 for v in vs if any(v.capacities.get(k, 0) > 0 for k in cats))
        if users == 0:
            out.append(0)
            continue
        need = trips + (users if problem.end_empty else 0) + 2
        out.append(need)
    # many facilities: each gets a fair share (the nearest ones get more through
    # the first solution, see RoutingModel(initial=...)), never the whole need
    accepting = sum(1 for c in out if c > 0)
    if accepting > 2:
        out = [min(c, 4 + math.ceil(2 * c / accepting), 400) if c else 0 for c in out]
    return [min(c, 400) for c in out]


def facility_users(problem: Problem, f: Facility, vehicles: Sequence[int]) -> int:
    """How many of `vehicles` may unload at `f`."""
    acc = f.accepts
    return sum(1 for g in vehicles
               if any(problem.vehicles[g].capacities.get(k, 0) > 0 for k in acc))
