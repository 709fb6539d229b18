"""An independent route checker for benchmark instances and for Problem/Solution pairs.

:func:`check_routes` recomputes cost and feasibility from the raw instance data
(:class:`optimizer.instances.Instance`) and a list of routes in ``.sol`` numbering
(0-based node index, depot left out; for ``kim`` the routes also list the facility
visits): it uses neither the engine nor the Problem/Solution types, so it is a
second opinion on both. :func:`check_problem_solution` recomputes a Solution's
schedule from its visit order alone (only the loading rule is shared with
``Solution.check``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from optimizer.instances import (
    NODE_CLIENT,
    NODE_FACILITY,
    Instance,
    euclid,
    kim_miles,
    kim_travel_s,
)
from optimizer.problem import Problem, Vehicle
from optimizer.solution import Solution, Visit, load_client

EPS = 1e-6


# --------------------------------------------------------------------------- checker


@dataclass
class CheckResult:
    feasible: bool
    #: cost under the family's rounding rule (kim: miles)
    cost: float
    vehicles: int
    errors: list[str] = field(default_factory=list)


def check_routes(inst: Instance, routes: Sequence[Sequence[int]]) -> CheckResult:
    """Recompute cost and check every rule of ``inst.family`` for ``routes``."""
    rs = [[int(c) for c in r] for r in routes if len(r) > 0]
    if inst.family in ("solomon", "homberger"):
        return _check_dimacs(inst, rs)
    if inst.family == "cvrp":
        return _check_cvrp(inst, rs)
    if inst.family == "kim":
        return _check_kim(inst, rs)
    raise ValueError(f"unknown family {inst.family!r}")


def _check_cover(inst: Instance, routes: list[list[int]], allow_facilities: bool) -> list[str]:
    errors: list[str] = []
    n = inst.num_nodes
    seen: dict[int, int] = {}
    for k, r in enumerate(routes):
        for c in r:
            if not 0 <= c < n:
                errors.append(f"route {k}: node {c} does not exist")
                continue
            t = int(inst.node_type[c])
            if t == NODE_CLIENT:
                seen[c] = seen.get(c, 0) + 1
            elif t == NODE_FACILITY and allow_facilities:
                continue
            else:
                errors.append(f"route {k}: node {c} is not a client")
    for c in inst.client_nodes:
        cnt = seen.get(c, 0)
        if cnt == 0:
            errors.append(f"client {c} not served")
        elif cnt > 1:
            errors.append(f"client {c} served {cnt} times")
    return errors


def _in_range(inst: Instance, route: list[int]) -> bool:
    """Every node of the route exists (the cover check reports the others)."""
    return all(0 <= c < inst.num_nodes for c in route)


def _load_errors(inst: Instance, k: int, route: list[int]) -> list[str]:
    """The single-capacity check shared by the Solomon/Homberger and CVRP rules."""
    load = float(inst.demand[route].sum())
    if load > inst.capacity + EPS:
        return [f"route {k}: load {load:g} > capacity {inst.capacity:g}"]
    return []


def _check_dimacs(inst: Instance, routes: list[list[int]]) -> CheckResult:
    # everything in exact integers x10: distances floor(10 d), times x10
    d10 = np.floor(10.0 * euclid(inst.coords) + 1e-9).astype(np.int64)
    ready = np.rint(inst.tw_start * 10).astype(np.int64)
    due = np.rint(inst.tw_end * 10).astype(np.int64)
    serv = np.rint(inst.service * 10).astype(np.int64)
    errors = _check_cover(inst, routes, allow_facilities=False)
    if inst.max_vehicles is not None and len(routes) > inst.max_vehicles:
        errors.append(f"{len(routes)} routes but only {inst.max_vehicles} vehicles")
    dep = inst.depot
    total = 0
    for k, r in enumerate(routes):
        if not _in_range(inst, r):
            continue
        errors.extend(_load_errors(inst, k, r))
        t = int(ready[dep])
        prev = dep
        for c in r:
            total += int(d10[prev, c])
            t = max(t + int(d10[prev, c]), int(ready[c]))
            if t > due[c]:
                errors.append(f"route {k}: client {c} starts at {t / 10:g} > due {due[c] / 10:g}")
            t += int(serv[c])
            prev = c
        total += int(d10[prev, dep])
        t += int(d10[prev, dep])
        if t > due[dep]:
            errors.append(f"route {k}: back at depot at {t / 10:g} > {due[dep] / 10:g}")
    return CheckResult(not errors, round(total / 10.0, 1), len(routes), errors)


def _check_cvrp(inst: Instance, routes: list[list[int]]) -> CheckResult:
    d = np.floor(euclid(inst.coords) + 0.5).astype(np.int64)
    errors = _check_cover(inst, routes, allow_facilities=False)
    dep = inst.depot
    total = 0
    for k, r in enumerate(routes):
        if not _in_range(inst, r):
            continue
        errors.extend(_load_errors(inst, k, r))
        seq = [dep, *r, dep]
        total += int(sum(d[a, b] for a, b in zip(seq, seq[1:], strict=False)))
    return CheckResult(not errors, float(total), len(routes), errors)


def _kim_schedule(
    inst: Instance, seq: list[int], travel: np.ndarray, break_gap: int | None
) -> tuple[float, list[str]]:
    """Simulate one Kim route ``seq`` (depot ... depot) with the break in gap ``break_gap``.

    The break is taken between leaving ``seq[g]`` and starting at ``seq[g + 1]``
    (waiting there, or pulled over on the way): it starts at ``s = max(departure,
    break_earliest)``, which must not be later than ``break_latest``, and the next
    arrival is ``max(departure + travel, s) + break``. Returns end time and violations.
    """
    errs: list[str] = []
    dep = seq[0]
    t = float(inst.tw_start[dep])
    for g in range(len(seq) - 1):
        a, b = seq[g], seq[g + 1]
        if break_gap == g:
            ls = max(t, float(inst.break_earliest_s))
            if ls > inst.break_latest_s + EPS:
                errs.append(f"break would start at {ls:.0f} s")
            t = max(t + float(travel[a, b]), ls) + inst.break_s
        else:
            t += float(travel[a, b])
        if g + 1 == len(seq) - 1:
            if t > inst.tw_end[b] + EPS:
                errs.append(f"back at depot at {t:.0f} s > {inst.tw_end[b]:.0f}")
            break
        t = max(t, float(inst.tw_start[b]))
        if t > inst.tw_end[b] + EPS:
            errs.append(f"node {b} starts at {t:.0f} s > {inst.tw_end[b]:.0f}")
        t += float(inst.service[b])
    return t, errs


def _check_kim(inst: Instance, routes: list[list[int]]) -> CheckResult:
    miles = kim_miles(inst)
    travel = kim_travel_s(inst)
    errors = _check_cover(inst, routes, allow_facilities=True)
    dep = inst.depot
    total = 0.0
    assert inst.day_cap is not None
    for k, r in enumerate(routes):
        if not _in_range(inst, r):
            continue
        seq = [dep, *r, dep]
        total += float(sum(miles[a, b] for a, b in zip(seq, seq[1:], strict=False)))
        load = 0.0
        collected = 0.0
        stops = 0
        for c in r:
            if inst.node_type[c] == NODE_FACILITY:
                load = 0.0
                continue
            load += float(inst.demand[c])
            collected += float(inst.demand[c])
            stops += 1
            if load > inst.capacity + EPS:
                errors.append(f"route {k}: load {load:g} > capacity {inst.capacity:g} at {c}")
        if load > EPS:
            errors.append(f"route {k}: returns to the depot with load {load:g}")
        if collected > inst.day_cap + EPS:
            errors.append(f"route {k}: collects {collected:g} > daily cap {inst.day_cap:g}")
        if inst.max_stops is not None and stops > inst.max_stops:
            errors.append(f"route {k}: {stops} stops > {inst.max_stops}")
        # time: the break goes into the first gap where the whole route fits
        best: list[str] | None = None
        if inst.break_s <= 0:
            _, best = _kim_schedule(inst, seq, travel, None)
        else:
            for g in range(len(seq) - 1):
                _, errs = _kim_schedule(inst, seq, travel, g)
                if best is None or len(errs) < len(best):
                    best = errs
                if not best:
                    break
        errors.extend(f"route {k}: {e}" for e in (best or []))
    return CheckResult(not errors, total, len(routes), errors)


# --------------------------------------------------------------------------- solutions


def solution_routes(sol: Solution, problem: Problem) -> list[list[int]]:
    """Routes of a Solution in ``.sol`` numbering (location = node index), facility
    visits included, depot visits at the ends left out."""
    out: list[list[int]] = []
    for route in sol.routes:
        seq: list[int] = []
        for v in route.visits:
            if v.kind == "client" and v.index is not None:
                seq.append(problem.clients[v.index].location)
            elif v.kind == "facility" and v.index is not None:
                seq.append(problem.facilities[v.index].location)
        if route.client_visits:
            out.append(seq)
    return out


# --------------------------------------------------------------------------- problems


def check_problem_solution(problem: Problem, sol: Solution) -> CheckResult:
    """Check ``sol`` against ``problem`` using only the ORDER of its visits.

    Times, loads and distances are recomputed here from the Problem (earliest
    schedule from the shift start, the break in the first gap where the route fits),
    so this is independent of what the engine reports. Cost is the distance in km.
    Rules: each client's demand served exactly (possibly split) or reported
    unassigned, compartments and capacities, unloads only of accepted categories
    within facility hours (the unload ends by closing time), empty at the end when
    ``end_empty``, time windows, shift, break window, daily cap, stop limit, one
    route per vehicle, facility daily capacity.
    """
    errors: list[str] = []
    served: dict[int, dict[str, int]] = {}
    fac_in: dict[int, int] = {}
    seen: set[int] = set()
    total_m = 0
    used = 0
    for r in sol.routes:
        where = f"vehicle {r.vehicle}"
        if not 0 <= r.vehicle < len(problem.vehicles):
            errors.append(f"{where}: no such vehicle")
            continue
        if r.vehicle in seen:
            errors.append(f"{where}: two routes")
        seen.add(r.vehicle)
        veh = problem.vehicles[r.vehicle]
        stops = [v for v in r.visits if v.kind in ("client", "facility")]
        if not any(v.kind == "client" for v in stops):
            continue
        used += 1
        locs = [veh.start_location]
        for v in stops:
            if v.index is None:
                errors.append(f"{where}: {v.kind} visit without index")
                continue
            if v.kind == "client":
                locs.append(problem.clients[v.index].location)
            else:
                locs.append(problem.facilities[v.index].location)
        locs.append(veh.end_location)
        total_m += int(
            sum(int(problem.distance_m[a, b]) for a, b in zip(locs, locs[1:], strict=False))
        )
        # loads
        load = dict.fromkeys(veh.capacities, 0)
        collected = 0
        n_stops = 0
        for v in stops:
            if v.index is None:
                continue
            if v.kind == "client":
                n_stops += 1
                units, broken = load_client(load, veh.capacities, v.amount,
                                            served.setdefault(v.index, {}))
                collected += units
                errors.extend(f"{where}: client {v.index}: {e}" for e in broken)
            else:
                f = problem.facilities[v.index]
                for k in load:
                    if k in f.accepts:
                        fac_in[v.index] = fac_in.get(v.index, 0) + load[k]
                        load[k] = 0
        if problem.end_empty and any(q > 0 for q in load.values()):
            errors.append(f"{where}: comes back loaded {dict(load)}")
        if veh.max_collected is not None and collected > veh.max_collected:
            errors.append(f"{where}: collected {collected} > daily cap {veh.max_collected}")
        if veh.max_stops is not None and n_stops > veh.max_stops:
            errors.append(f"{where}: {n_stops} stops > {veh.max_stops}")
        # time
        gaps: list[int | None] = list(range(len(locs) - 1)) if veh.has_break else [None]
        best: list[str] | None = None
        for gap in gaps:
            errs = _problem_schedule(problem, veh, locs, stops, gap)
            if best is None or len(errs) < len(best):
                best = errs
            if not best:
                break
        errors.extend(f"{where}: {e}" for e in (best or []))
    for ci, c in enumerate(problem.clients):
        got = served.get(ci, {})
        want = {k: q for k, q in c.demand.items() if q > 0}
        if not got:
            continue
        if {k: q for k, q in got.items() if q > 0} != want:
            errors.append(f"client {ci}: served {got}, demand {want}")
    unassigned = {u.client for u in sol.unassigned}
    for ci in range(len(problem.clients)):
        if ci in served and ci in unassigned:
            errors.append(f"client {ci}: both served and unassigned")
        if ci not in served and ci not in unassigned:
            errors.append(f"client {ci}: neither served nor unassigned")
    for fi, q in fac_in.items():
        cap = problem.facilities[fi].daily_capacity
        if cap is not None and q > cap:
            errors.append(f"facility {fi}: receives {q} > daily capacity {cap}")
    return CheckResult(not errors, total_m / 1000.0, used, errors)


def _problem_schedule(
    problem: Problem, veh: Vehicle, locs: list[int], stops: Sequence[Visit],
    break_gap: int | None,
) -> list[str]:
    """What breaks the earliest schedule of a route's locations, the break taken on
    leg ``break_gap``."""
    errs: list[str] = []
    t = int(veh.shift_start_s)
    dur = problem.duration_s
    for g in range(len(locs) - 1):
        travel = int(dur[locs[g], locs[g + 1]])
        if g == break_gap:
            assert veh.break_earliest_s is not None and veh.break_latest_s is not None
            bs = max(t, int(veh.break_earliest_s))
            if bs > veh.break_latest_s:
                errs.append(f"break would start at {bs}")
            t = max(t + travel, bs) + int(veh.break_s)
        else:
            t += travel
        if g + 1 == len(locs) - 1:
            if t > veh.shift_end_s:
                errs.append(f"back at {t} > shift end {veh.shift_end_s}")
            break
        v = stops[g]
        assert v.index is not None
        if v.kind == "client":
            c = problem.clients[v.index]
            t = max(t, int(c.tw_start_s))
            if t > c.tw_end_s:
                errs.append(f"client {v.index} starts at {t} > {c.tw_end_s}")
            t += int(c.service_s)
        else:
            f = problem.facilities[v.index]
            t = max(t, int(f.open_s))
            if t + f.unload_s > f.close_s:
                errs.append(f"facility {v.index}: unload {t}+{f.unload_s} after close {f.close_s}")
            t += int(f.unload_s)
    return errs
