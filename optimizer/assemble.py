"""Solver routes -> a Solution: breaks placed, loaded ends repaired, empty unloads gone.

Reading a plan: ``Visit.arrival_s`` is the previous departure plus the travel
time (plus the break when the break happens on that leg), ``start_s`` the start
of service (client) or unload (facility), ``departure_s`` = start + service.
A break is ``Visit("break", None, None, b, b, b + break_s)`` placed between the
two stops of the leg during which it is taken.

The jobs the solver left out then go through ``reasons.insert_or_explain``: each is
inserted where an exact schedule finds room, else given the reason that holds.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from optimizer.jobs import Job
from optimizer.problem import Problem
from optimizer.reasons import insert_or_explain, merge_unassigned
from optimizer.routes import RawRoute, RawVisit, consume_capacity, walk_raw
from optimizer.solution import Route, Solution, Unassigned, Visit, VisitKind

#: time bound of the pass over left-out jobs, as a share of the solve's wall time
#: (at least REASONS_MIN_S, at most REASONS_MAX_S)
REASONS_SHARE = 0.1
REASONS_MIN_S = 2.0
REASONS_MAX_S = 60.0


def assemble(problem: Problem, jobs: Sequence[Job], raw_routes: Sequence[RawRoute],
             dropped: Sequence[int], pre: Sequence[Unassigned], *, engine: str,
             wall_s: float, objective: int, stats: dict[str, object],
             deadline: float | None = None) -> Solution:
    """The Solution of solver routes over ``jobs``; ``pre`` are the clients no plan serves.

    The ``dropped`` jobs are inserted where they fit, the rest explained
    (``reasons.insert_or_explain``) by ``deadline`` (``time.monotonic()``; ``solve()``
    passes the end of its time limit), else within ``REASONS_SHARE`` of ``wall_s``.
    """
    dropped = list(dropped)
    # an unload added at the end of a route takes only what a facility has room for
    cap_left: list[int | None] = [f.daily_capacity for f in problem.facilities]
    consume_capacity(problem, jobs, raw_routes, cap_left)
    for rr in raw_routes:
        place_break(problem, jobs, rr)
        dropped.extend(fix_loaded_end(problem, jobs, rr, cap_left))
        drop_empty_unloads(problem, jobs, rr)
        dropped.extend(fix_loaded_end(problem, jobs, rr, cap_left))
    routes = [build_route(problem, jobs, rr) for rr in raw_routes]
    routes = [r for r in routes if r.client_visits]
    t0 = time.monotonic()
    if deadline is None:
        deadline = t0 + min(REASONS_MAX_S, max(REASONS_MIN_S, REASONS_SHARE * wall_s))
    res = insert_or_explain(problem, routes, [jobs[ji] for ji in dropped], deadline)
    unassigned = [*pre, *merge_unassigned(res.left_out)]
    unassigned.sort(key=lambda u: u.client)
    return Solution(routes=tuple(res.routes), unassigned=tuple(unassigned), engine=engine,
                    wall_s=wall_s + time.monotonic() - t0, objective=objective,
                    stats={**stats, **res.stats})


def build_route(problem: Problem, jobs: Sequence[Job], raw: RawRoute) -> Route:
    """Turn a solver route (sequence + service start times + break) into a Route."""
    veh = problem.vehicles[raw.vehicle]
    load = {k: 0 for k in veh.capacities}
    visits: list[Visit] = [Visit("start", None, veh.start_location, raw.start_s, raw.start_s,
                                 raw.start_s, {}, load)]
    total_m = 0
    for s in walk_raw(problem, jobs, raw, end=True, with_break=True):
        if s.after_break:
            assert raw.break_start_s is not None
            b = raw.break_start_s
            visits.append(Visit("break", None, None, b, b, b + veh.break_s))
        total_m += s.leg_m
        amount: dict[str, int] = {}
        index: int | None = None
        kind: VisitKind = "end"
        if s.kind == "client":
            kind, index, amount = "client", jobs[s.ref].client, dict(jobs[s.ref].amount)
        elif s.kind == "facility":
            kind, index = "facility", s.ref
        visits.append(Visit(kind, index, s.location, s.arrival_s, s.start_s, s.departure_s,
                            amount, s.load_after))
    end = visits[-1]
    return Route(raw.vehicle, tuple(visits), total_m, end.arrival_s - visits[0].departure_s)


def _last_departure(problem: Problem, jobs: Sequence[Job], raw: RawRoute) -> tuple[int, int]:
    """(location, departure) of a solver route's last visit, or of its start."""
    if not raw.visits:
        return problem.vehicles[raw.vehicle].start_location, raw.start_s
    last = walk_raw(problem, jobs, raw)[-1]
    return last.location, last.departure_s


def fix_loaded_end(problem: Problem, jobs: Sequence[Job], raw: RawRoute,
                   cap_left: list[int | None] | None = None) -> list[int]:
    """Make a route that ends loaded end empty: add an unload, else drop its last trip.

    Returns the jobs dropped. Only needed when the solver's soft end-empty
    penalty was not driven to zero. ``cap_left``: daily capacity left per facility
    (an unload goes only where the load fits; taken off when added).
    """
    if not problem.end_empty or not raw.visits:
        return []
    veh = problem.vehicles[raw.vehicle]
    dur, dist = problem.duration_s, problem.distance_m
    steps = walk_raw(problem, jobs, raw)
    loaded = {k for k, q in steps[-1].load_after.items() if q > 0}
    if not loaded:
        return []
    loc, dep = steps[-1].location, steps[-1].departure_s
    pending = (veh.has_break and raw.break_start_s is not None and raw.break_start_s >= dep)
    brk = raw.break_start_s if pending else None
    best: tuple[int, int, int, int] | None = None
    amount = sum(q for q in steps[-1].load_after.values() if q > 0)
    for fi, f in enumerate(problem.facilities):
        if not loaded <= f.accepts:
            continue
        room = None if cap_left is None else cap_left[fi]
        if room is not None and room < amount:
            continue
        t = dep + int(dur[loc, f.location])
        if brk is not None:
            t = max(t + veh.break_s, brk + veh.break_s)
        t = max(t, f.open_s)
        if t > f.close_s - f.unload_s:
            continue
        end = t + f.unload_s + int(dur[f.location, veh.end_location])
        if end > veh.shift_end_s:
            continue
        detour = int(dist[loc, f.location]) + int(dist[f.location, veh.end_location])
        if best is None or detour < best[0]:
            best = (detour, fi, t, end)
    if best is not None:
        raw.visits.append(RawVisit("facility", best[1], best[2]))
        raw.end_s = best[3]
        if cap_left is not None and cap_left[best[1]] is not None:
            cap_left[best[1]] = int(cap_left[best[1]] or 0) - amount
        return []
    # no unload fits: give up the last client still on board, then try again
    gone: int | None = None
    for pos in range(len(raw.visits) - 1, -1, -1):
        rv = raw.visits[pos]
        if rv.kind == "client" and set(jobs[rv.ref].amount) & loaded:
            gone = rv.ref
            del raw.visits[pos]
            break
    if gone is None:
        return []
    # the end time follows the (now shorter) route
    loc, dep = _last_departure(problem, jobs, raw)
    end = dep + int(dur[loc, veh.end_location])
    if veh.has_break and raw.break_start_s is not None and raw.break_start_s >= dep:
        end = max(end + veh.break_s, raw.break_start_s + veh.break_s)
    raw.end_s = max(end, raw.end_s)
    return [gone, *fix_loaded_end(problem, jobs, raw, cap_left)]


def drop_empty_unloads(problem: Problem, jobs: Sequence[Job], raw: RawRoute) -> None:
    """Remove facility visits with nothing to unload when the schedule still holds."""
    veh = problem.vehicles[raw.vehicle]
    dur = problem.duration_s
    steps = walk_raw(problem, jobs, raw, end=True)
    keep: list[RawVisit] = []
    prev_loc, prev_dep = veh.start_location, raw.start_s
    for i, rv in enumerate(raw.visits):
        s = steps[i]
        if rv.kind == "facility" and not s.unloaded:
            # the next stop must still be reached in time without this one
            nxt = steps[i + 1]
            need = prev_dep + int(dur[prev_loc, nxt.location])
            nstart = raw.visits[i + 1].start_s if i + 1 < len(raw.visits) else raw.end_s
            b = raw.break_start_s
            if veh.has_break and b is not None and prev_dep <= b <= nstart:
                need = max(need + veh.break_s, b + veh.break_s)
            if need <= nstart:
                continue
        keep.append(rv)
        prev_loc, prev_dep = s.location, s.departure_s
    raw.visits[:] = keep


def place_break(problem: Problem, jobs: Sequence[Job], raw: RawRoute) -> None:
    """Set the break start of a solver route: the first leg with room for it."""
    veh = problem.vehicles[raw.vehicle]
    if not veh.has_break or raw.break_start_s is not None or not raw.visits:
        return
    assert veh.break_earliest_s is not None and veh.break_latest_s is not None
    dep = raw.start_s
    for s, rv in zip(walk_raw(problem, jobs, raw, end=True), [*raw.visits, None], strict=True):
        b = max(dep, veh.break_earliest_s)
        if rv is None:
            if b <= veh.break_latest_s:
                # last leg: the route may end later than the solver's earliest end
                raw.break_start_s = b
                raw.end_s = max(raw.end_s, s.arrival_s + veh.break_s, b + veh.break_s)
            return
        if b <= veh.break_latest_s and b + veh.break_s <= rv.start_s \
                and s.arrival_s + veh.break_s <= rv.start_s:
            raw.break_start_s = b
            return
        dep = s.departure_s
