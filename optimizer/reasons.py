"""Left-out jobs: served where an exact insertion fits, else given the reason that holds.

:func:`insert_or_explain` takes a day's routes and the jobs a search left out. Each
job (tightest window first) is tried in every route of a vehicle allowed to carry
it, nearest route first, at every position: the job alone, the job followed by an
unload, or (where the load on board leaves no room) an unload, the job, and
optionally an unload again at the same facility; then on an idle truck of each kind
(the job and the unloads that empty it). Positions that the route's earliest schedule
without the break or its load on arrival rule out are skipped (those filters are
optimistic, so they skip only what cannot fit); every other one is scheduled
exactly (:func:`plan_route`: windows, shift, the break on whichever leg fits,
compartments, loads, unloads and facility hours, daily capacity left, ``max_stops``,
``max_collected``, ``end_empty``), cheapest first, and the first feasible one is
kept. A job is served wherever that finds room.

What stays left out gets, in this order:

* ``time_window_unreachable``: no allowed truck, alone, reaches its window and gets
  home within its shift (break included; travel times are taken to obey the
  triangle inequality, as shortest paths rounded up do);
* ``facility_closed``: that trip exists, but none also unloads at a facility that
  takes the job's compartments within its hours and the shift;
* ``capacity``: such trips exist, but each unloads at a facility whose daily
  capacity left after the plan's unloads is smaller than the job, or every allowed
  truck has collected its ``max_collected`` and none is idle;
* ``not_enough_vehicles``: every route and idle truck was tried and none has room.

A job with a penalty (an optional point) is only inserted where the added cost (km
times the truck's ``cost_per_km``, plus ``fixed_cost`` for an idle truck) is below
its penalty, as the solver's objective has it (a penalty of 0: never).

The first three are proofs (for the plan's unloads in the case of capacity). The
last is a proof over the neighbourhood above (positions with at most two added
unloads; the route's other stops keep their order) when the job's share of the time
bound sufficed to try every allowed route, and no job was inserted after that try;
otherwise (the nearest routes tried, or routes changed since) the reason is a bound,
counted in ``stats["left_out_bounded"]``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from optimizer.group import time_room
from optimizer.jobs import Job
from optimizer.problem import Problem, Vehicle
from optimizer.routes import END, Stop, walk
from optimizer.solution import Reason, Route, Solution, Unassigned, Visit


@dataclass(slots=True)
class Planned:
    """A route scheduled by :func:`plan_route`, with what it unloads per facility."""

    route: Route
    intake: dict[int, int]
    collected: int


@dataclass(slots=True)
class Explained:
    """The day after :func:`insert_or_explain`: routes, the jobs still left out with
    their reasons (job, reason), and figures for the solution's stats."""

    routes: list[Route]
    left_out: list[tuple[Job, Reason]]
    stats: dict[str, object] = field(default_factory=dict)


def _loads(problem: Problem, jobs: Sequence[Job], veh: Vehicle, stops: Sequence[Stop],
           end_empty: bool) -> tuple[list[dict[str, int]], dict[int, int], int] | None:
    """Load after each stop, units unloaded per facility and units collected; None when a
    compartment is missing or overfull, the truck ends loaded, or a daily cap is passed."""
    caps = veh.capacities
    load = {k: 0 for k in caps}
    after: list[dict[str, int]] = []
    intake: dict[int, int] = {}
    collected = n = 0
    for kind, ref in stops:
        if kind == "client":
            n += 1
            for k, q in jobs[ref].amount.items():
                if q <= 0:
                    continue
                if k not in caps or load[k] + q > caps[k]:
                    return None
                load[k] += q
                collected += q
        else:
            acc = problem.facilities[ref].accepts
            got = 0
            for k in load:
                if k in acc:
                    got += load[k]
                    load[k] = 0
            intake[ref] = intake.get(ref, 0) + got
        after.append(dict(load))
    if end_empty and any(q > 0 for q in load.values()):
        return None
    if veh.max_stops is not None and n > veh.max_stops:
        return None
    if veh.max_collected is not None and collected > veh.max_collected:
        return None
    return after, intake, collected


Place = tuple[int, int, int, int]


def _schedule(dur: np.ndarray, veh: Vehicle, places: Sequence[Place], with_break: bool
              ) -> tuple[list[tuple[int, int]], tuple[int, int] | None] | None:
    """Earliest (arrival, start) per place from the shift start, and (leg, start) of the
    break, or None. Two states per stop, break still to come or taken (earliest start
    of each, and the leg of the break): an earlier start is never worse, so keeping
    the earliest of each state is exact, and every leg is considered for the break."""
    b_lo = veh.break_earliest_s if veh.break_earliest_s is not None else 0
    b_hi = veh.break_latest_s if veh.break_latest_s is not None else -1
    loc = veh.start_location
    dep0: int | None = veh.shift_start_s
    dep1: int | None = None
    before: list[tuple[int, int]] = []
    #: (arrival, start, leg of the break) per place in the break-taken state
    after: list[tuple[int, int, int, int] | None] = []
    for k, (here, earliest, latest, service) in enumerate(places):
        leg = int(dur[loc, here])
        best: tuple[int, int, int, int] | None = None
        if dep1 is not None:
            prev = after[k - 1]
            assert prev is not None
            arr = dep1 + leg
            if max(arr, earliest) <= latest:
                best = (arr, max(arr, earliest), prev[2], prev[3])
        if with_break and dep0 is not None:
            b = max(dep0, b_lo)
            if b <= b_hi:
                arr = max(dep0 + leg + veh.break_s, b + veh.break_s)
                start = max(arr, earliest)
                if start <= latest and (best is None or start < best[1]):
                    best = (arr, start, k, b)
        after.append(best)
        dep1 = None if best is None else best[1] + service
        if dep0 is not None:
            arr = dep0 + leg
            start = max(arr, earliest)
            if start <= latest:
                before.append((arr, start))
                dep0 = start + service
            else:
                dep0 = None
        if dep0 is None and dep1 is None:
            return None
        loc = here
    if not with_break:
        return (before, None) if dep0 is not None else None
    last = after[-1]
    if last is None:
        return None
    k, b = last[2], last[3]
    times = before[:k] + [(a[0], a[1]) for a in after[k:] if a is not None]
    return times, (k, b)


def plan_route(problem: Problem, jobs: Sequence[Job], vehicle: int, stops: Sequence[Stop],
               *, end_empty: bool | None = None) -> Planned | None:
    """The route of ``vehicle`` through ``stops`` on its earliest feasible schedule, or
    None when no schedule keeps every rule of the route (daily facility capacity is the
    caller's: it spans routes). ``end_empty`` overrides the problem's."""
    veh = problem.vehicles[vehicle]
    loads = _loads(problem, jobs, veh, stops,
                   problem.end_empty if end_empty is None else end_empty)
    if loads is None:
        return None
    after, intake, collected = loads
    places: list[Place] = []
    for kind, ref in stops:
        if kind == "client":
            j = jobs[ref]
            places.append((j.location, j.tw_start_s, j.tw_end_s, j.service_s))
        else:
            f = problem.facilities[ref]
            places.append((f.location, f.open_s, f.close_s - f.unload_s, f.unload_s))
    places.append((veh.end_location, veh.shift_start_s, veh.shift_end_s, 0))
    n_clients = sum(1 for kind, _ in stops if kind == "client")
    sched = _schedule(problem.duration_s, veh, places, veh.has_break and n_clients > 0)
    if sched is None:
        return None
    times, brk = sched
    t0 = veh.shift_start_s
    if times and (brk is None or brk[0] > 0):
        # leave later instead of waiting at the first stop
        t0 += times[0][1] - times[0][0]
        times[0] = (times[0][1], times[0][1])
    zero = {k: 0 for k in veh.capacities}
    visits = [Visit("start", None, veh.start_location, t0, t0, t0, {}, zero)]
    dist = problem.distance_m
    total_m = 0
    prev = veh.start_location
    for i, (arr, start) in enumerate(times):
        if brk is not None and brk[0] == i:
            visits.append(Visit("break", None, None, brk[1], brk[1], brk[1] + veh.break_s))
        here, _, _, service = places[i]
        total_m += int(dist[prev, here])
        prev = here
        if i == len(stops):
            visits.append(Visit("end", None, here, arr, arr, arr, {},
                                after[-1] if after else zero))
        elif stops[i][0] == "client":
            j = jobs[stops[i][1]]
            visits.append(Visit("client", j.client, here, arr, start, start + service,
                                dict(j.amount), after[i]))
        else:
            visits.append(Visit("facility", stops[i][1], here, arr, start, start + service,
                                {}, after[i]))
    route = Route(vehicle, tuple(visits), total_m, visits[-1].arrival_s - t0)
    return Planned(route, intake, collected)


def route_jobs(problem: Problem, route: Route, jobs: list[Job]) -> list[Stop]:
    """The stops of a planned route, its client visits appended to ``jobs`` as jobs."""
    stops: list[Stop] = []
    for v in route.visits:
        if v.kind == "client" and v.index is not None and v.location is not None:
            c = problem.clients[v.index]
            jobs.append(Job(client=v.index, location=v.location, amount=dict(v.amount),
                            service_s=v.departure_s - v.start_s, tw_start_s=c.tw_start_s,
                            tw_end_s=c.tw_end_s, penalty=c.penalty, vehicles=(route.vehicle,)))
            stops.append(("client", len(jobs) - 1))
        elif v.kind == "facility" and v.index is not None:
            stops.append(("facility", v.index))
    return stops


@dataclass(slots=True)
class _Shape:
    """What the filters read of a route: per position (its stops, then its end)."""

    locs: list[int]
    rooms: list[tuple[int, int, int, int]]
    load_in: list[dict[str, int]]
    #: compartments emptied by an unload at this position or after it
    later: list[frozenset[str]]
    near: np.ndarray
    clients: int
    #: per position as arrays: departure and place of the stop before, start of this
    #: stop and its forward slack (``time_room``), this stop's place, the facility it
    #: is (-1: none)
    prev_dep: np.ndarray
    prev_loc: np.ndarray
    start: np.ndarray
    slack: np.ndarray
    here: np.ndarray
    facility: np.ndarray
    #: per compartment: load on arrival; load on arrival at the first unload emptying
    #: it at this position or after it (what a job put here rides with); whether one
    #: does
    load_k: dict[str, np.ndarray]
    peak_k: dict[str, np.ndarray]
    later_k: dict[str, np.ndarray]


class _Day:
    """The routes being filled: stop lists, schedules, unloads and capacity left."""

    def __init__(self, problem: Problem, routes: Sequence[Route]) -> None:
        self.problem = problem
        self.jobs: list[Job] = []
        self.stops: dict[int, list[Stop]] = {}
        self.routes: dict[int, Route] = {}
        self.intake: dict[int, dict[int, int]] = {}
        self.collected: dict[int, int] = {}
        self.shapes: dict[int, _Shape] = {}
        self.cap_left: list[int | None] = [f.daily_capacity for f in problem.facilities]
        for r in routes:
            if not r.client_visits:
                continue
            stops = route_jobs(problem, r, self.jobs)
            loads = _loads(problem, self.jobs, problem.vehicles[r.vehicle], stops, False)
            intake, collected = ({}, 0) if loads is None else (loads[1], loads[2])
            self.stops[r.vehicle], self.routes[r.vehicle] = stops, r
            self.intake[r.vehicle], self.collected[r.vehicle] = intake, collected
            for fi, q in intake.items():
                c = self.cap_left[fi]
                if c is not None:
                    self.cap_left[fi] = c - q

    def shape(self, g: int) -> _Shape:
        got = self.shapes.get(g)
        if got is not None:
            return got
        p, veh = self.problem, self.problem.vehicles[g]
        seq = self.stops[g]
        steps = walk(p, self.jobs, g, [*seq, END], depart_s=veh.shift_start_s)
        n = len(steps)
        later: list[frozenset[str]] = [frozenset()] * n
        peak: list[dict[str, int]] = [{}] * n
        acc: frozenset[str] = frozenset()
        cur = dict(steps[-1].load_on_arrival)
        for i in range(n - 1, -1, -1):
            if steps[i].kind == "facility":
                here = p.facilities[steps[i].ref].accepts
                acc = acc | here
                cur = {k: steps[i].load_on_arrival.get(k, 0) if k in here else q
                       for k, q in cur.items()}
            later[i], peak[i] = acc, cur
        locs = [s.location for s in steps]
        rooms = time_room(veh, steps)
        cols = np.array(rooms, dtype=np.int64).reshape(n, 4)
        load_in = [s.load_on_arrival for s in steps]
        got = _Shape(
            locs, rooms, load_in, later, np.array([veh.start_location, *locs], dtype=np.int64),
            sum(1 for s in steps if s.kind == "client"),
            cols[:, 0], cols[:, 1], cols[:, 2], cols[:, 3], np.array(locs, dtype=np.int64),
            np.array([s.ref if s.kind == "facility" else -1 for s in steps], dtype=np.int64),
            {k: np.array([x.get(k, 0) for x in load_in], dtype=np.int64) for k in veh.capacities},
            {k: np.array([x.get(k, 0) for x in peak], dtype=np.int64) for k in veh.capacities},
            {k: np.array([k in x for x in later], dtype=bool) for k in veh.capacities})
        self.shapes[g] = got
        return got

    def fits_capacity(self, intake: Mapping[int, int], old: Mapping[int, int]) -> bool:
        for fi, q in intake.items():
            c = self.cap_left[fi]
            if c is not None and q - old.get(fi, 0) > c:
                return False
        return True

    def take(self, g: int, stops: list[Stop], planned: Planned) -> None:
        old = self.intake.get(g, {})
        for fi in set(old) | set(planned.intake):
            c = self.cap_left[fi]
            if c is not None:
                self.cap_left[fi] = c - planned.intake.get(fi, 0) + old.get(fi, 0)
        self.stops[g], self.routes[g] = stops, planned.route
        self.intake[g], self.collected[g] = planned.intake, planned.collected
        self.shapes.pop(g, None)


#: (added cost, vehicle, position in its stops, stops inserted there)
Cand = tuple[float, int, int, list[Stop]]
#: routes tried per job even when its share of the time bound is spent
MIN_ROUTES = 3
#: passes over the jobs still left out (each after the last one inserted some)
SWEEPS = 3


def _on_time(dur: np.ndarray, places: Sequence[Place], dep: int, loc: int, nxt: int,
             start_next: int, slack: int) -> bool:
    """Whether ``places`` fit between a stop left at ``dep`` and the next one (its start
    and forward slack) on the earliest schedule without the break (optimistic)."""
    for here, earliest, latest, service in places:
        start = max(dep + int(dur[loc, here]), earliest)
        if start > latest:
            return False
        loc, dep = here, start + service
    return max(dep + int(dur[loc, nxt]), start_next) - start_next <= slack


def _route_cands(day: _Day, g: int, ji: int, unload_to: Sequence[int]) -> list[Cand]:
    """Positions of job ``ji`` in the route of ``g`` that the filters let through: where
    the load on arrival has room, the job alone or followed by an unload (checked on
    every position at once); elsewhere an unload before it."""
    p = day.problem
    j, veh = day.jobs[ji], p.vehicles[g]
    dur, dist = p.duration_s, p.distance_m
    sh = day.shape(g)
    if veh.max_stops is not None and sh.clients >= veh.max_stops:
        return []
    if veh.max_collected is not None and day.collected.get(g, 0) + j.total > veh.max_collected:
        return []
    caps = veh.capacities
    amount = [(k, q) for k, q in j.amount.items() if q > 0]
    if any(k not in caps for k, _ in amount):
        return []
    c = j.location
    pl, nx, sn, sl = sh.prev_loc, sh.here, sh.start, sh.slack
    arr = np.maximum(sh.prev_dep + dur[pl, c], j.tw_start_s)
    on_time = arr <= j.tw_end_s
    fits = np.ones(len(nx), dtype=bool)
    for k, q in amount:
        fits &= sh.load_k[k] + q <= caps[k]
    base = on_time & fits
    dep_c = arr + j.service_s
    to_c = dist[pl, c]
    skip = dist[pl, nx]
    per_m = veh.cost_per_km / 1000.0
    out: list[Cand] = []
    alone = base & (np.maximum(dep_c + dur[c, nx], sn) - sn <= sl)
    for k, q in amount:
        alone &= sh.peak_k[k] + q <= caps[k]
        if p.end_empty:
            alone &= sh.later_k[k]
    extra = to_c + dist[c, nx] - skip
    out += [(float(extra[pos]) * per_m, g, int(pos), [("client", ji)])
            for pos in np.flatnonzero(alone)]
    for fi in unload_to:
        f = p.facilities[fi]
        t_f = np.maximum(dep_c + int(dur[c, f.location]), f.open_s)
        ok = base & (t_f <= f.close_s - f.unload_s) & (sh.facility != fi) & (
            np.maximum(t_f + f.unload_s + dur[f.location, nx], sn) - sn <= sl)
        extra = to_c + int(dist[c, f.location]) + dist[f.location, nx] - skip
        out += [(float(extra[pos]) * per_m, g, int(pos), [("client", ji), ("facility", fi)])
                for pos in np.flatnonzero(ok)]
    # a full truck: an unload first (then optionally again after the job)
    cats = frozenset(k for k, _ in amount)
    me: Place = (c, j.tw_start_s, j.tw_end_s, j.service_s)
    for pos in np.flatnonzero(~fits & (sh.prev_dep <= j.tw_end_s)):
        prev_dep, prev_loc, start_next, slack = sh.rooms[pos]
        nxt, load = sh.locs[pos], sh.load_in[pos]
        on_board = {k for k, q in load.items() if q > 0}
        for fi, f in enumerate(p.facilities):
            acc = f.accepts
            if not on_board & acc or not all(
                    (0 if k in acc else load.get(k, 0)) + q <= caps[k] for k, q in amount):
                continue
            fac: Place = (f.location, f.open_s, f.close_s - f.unload_s, f.unload_s)
            options: list[list[Stop]] = []
            if (not p.end_empty or cats <= sh.later[pos]) and _on_time(
                    dur, [fac, me], prev_dep, prev_loc, nxt, start_next, slack):
                options.append([("facility", fi), ("client", ji)])
            if cats & acc and _on_time(dur, [fac, me, fac], prev_dep, prev_loc, nxt,
                                       start_next, slack):
                options.append([("facility", fi), ("client", ji), ("facility", fi)])
            for stops in options:
                places = [prev_loc] + [c if kind == "client" else f.location
                                       for kind, _ in stops] + [nxt]
                metres = sum(int(dist[a, b]) for a, b in zip(places, places[1:], strict=False))
                out.append(((metres - int(dist[prev_loc, nxt])) * per_m, g, int(pos), stops))
    return out


def _trips(problem: Problem, ji: int, job: Job) -> list[list[Stop]]:
    """A route of its own for a job: the job, then unloads that empty it (each
    emptying a compartment the ones before it did not)."""
    cats = frozenset(k for k, q in job.amount.items() if q > 0)
    if not problem.end_empty or not cats:
        return [[("client", ji)]]
    out: list[list[Stop]] = []

    def more(trip: list[Stop], left: frozenset[str]) -> None:
        if not left:
            out.append(trip)
            return
        for fi, f in enumerate(problem.facilities):
            if left & f.accepts:
                more([*trip, ("facility", fi)], left - f.accepts)

    more([("client", ji)], cats)
    return out


def _idle_cands(problem: Problem, ji: int, job: Job, idle: Sequence[int]) -> list[Cand]:
    """A route of its own for job ``ji`` on one idle truck of each kind."""
    dist = problem.distance_m
    out: list[Cand] = []
    for g in _kinds(problem, idle):
        v = problem.vehicles[g]
        for trip in _trips(problem, ji, job):
            locs = [v.start_location] + [job.location if k == "client"
                                         else problem.facilities[r].location
                                         for k, r in trip] + [v.end_location]
            metres = sum(int(dist[a, b]) for a, b in zip(locs, locs[1:], strict=False))
            out.append((v.fixed_cost + v.cost_per_km * metres / 1000.0, g, 0, trip))
    return out


def _kinds(problem: Problem, vehicles: Sequence[int]) -> list[int]:
    """One vehicle of each kind (same depots, shift, break, compartments, caps, costs)."""
    seen: dict[tuple[object, ...], int] = {}
    for g in vehicles:
        v = problem.vehicles[g]
        key = (v.start_location, v.end_location, v.shift_start_s, v.shift_end_s, v.break_s,
               v.break_earliest_s, v.break_latest_s, tuple(sorted(v.capacities.items())),
               v.max_collected, v.max_stops, v.fixed_cost, v.cost_per_km)
        seen.setdefault(key, g)
    return list(seen.values())


def _reason(day: _Day, ji: int, idle: Sequence[int]) -> Reason:
    """Why job ``ji``, which fits nowhere, is left out (module docstring)."""
    p, j = day.problem, day.jobs[ji]
    if not j.vehicles:
        carry = any(all(v.capacities.get(k, 0) > 0 for k, q in j.amount.items() if q > 0)
                    for v in p.vehicles)
        return Reason.CAPACITY if carry else Reason.NO_VEHICLE_FOR_CATEGORY
    kinds = _kinds(p, j.vehicles)
    if not any(plan_route(p, day.jobs, g, [("client", ji)], end_empty=False) is not None
               for g in kinds):
        return Reason.TIME_WINDOW_UNREACHABLE
    trips = [t for g in kinds for trip in _trips(p, ji, j)
             if (t := plan_route(p, day.jobs, g, trip)) is not None]
    if not trips:
        return Reason.FACILITY_CLOSED
    if all(not day.fits_capacity(t.intake, {}) for t in trips):
        return Reason.CAPACITY
    if not idle and all(p.vehicles[g].max_collected is not None
                        and day.collected.get(g, 0) + j.total > (p.vehicles[g].max_collected or 0)
                        for g in j.vehicles):
        return Reason.CAPACITY
    return Reason.NOT_ENOUGH_VEHICLES


def _serve(day: _Day, ji: int, until: float) -> tuple[bool, bool]:
    """Insert job ``ji`` at the cheapest position an exact schedule accepts: (served,
    every allowed route tried)."""
    p, job = day.problem, day.jobs[ji]
    dist = p.distance_m
    cats = {k for k, q in job.amount.items() if q > 0}
    unload_to = [fi for fi, f in enumerate(p.facilities) if cats & f.accepts] \
        if p.end_empty else []
    busy = [g for g in job.vehicles if g in day.stops]
    busy.sort(key=lambda g: int(dist[job.location, day.shape(g).near].min()))
    cands: list[Cand] = []
    complete = True
    for n_routes, g in enumerate(busy):
        if n_routes >= MIN_ROUTES and time.monotonic() > until:
            complete = False
            break
        cands += _route_cands(day, g, ji, unload_to)
    # the cheapest feasible position over every route and idle truck tried
    cands += _idle_cands(p, ji, job, [g for g in job.vehicles if g not in day.stops])
    if job.penalty is not None:
        # an optional point is left out where serving it costs its penalty or more
        cands = [c for c in cands if c[0] < job.penalty]
    cands.sort(key=lambda c: c[0])
    for n_tried, (_, g, pos, new) in enumerate(cands):
        if n_tried and time.monotonic() > until:
            return False, False
        seq = day.stops.get(g, [])
        stops = [*seq[:pos], *new, *seq[pos:]]
        planned = plan_route(p, day.jobs, g, stops)
        if planned is not None and day.fits_capacity(planned.intake, day.intake.get(g, {})):
            day.take(g, stops, planned)
            return True, complete
    return False, complete


def insert_or_explain(problem: Problem, routes: Sequence[Route], left_out: Sequence[Job],
                      deadline: float) -> Explained:
    """Serve what fits of ``left_out`` in ``routes`` (or on idle trucks); give the rest a
    reason (module docstring). ``deadline`` (``time.monotonic()``) bounds the routes
    tried per job: each gets an equal share of the time left, nearest routes first.
    A job that found no room is tried again after later jobs changed the routes (a
    truck they brought in may have room), up to ``SWEEPS`` times."""
    t0 = time.monotonic()
    day = _Day(problem, routes)
    order = sorted(range(len(left_out)), key=lambda i: (left_out[i].tw_end_s,
                                                        -left_out[i].total))
    pending: list[int] = []
    for i in order:
        day.jobs.append(left_out[i])
        pending.append(len(day.jobs) - 1)
    complete: dict[int, bool] = {}
    #: insertions made before each job's last try: a proof holds for the routes it saw
    seen: dict[int, int] = {}
    inserted = 0
    for _ in range(SWEEPS):
        failed: list[int] = []
        for n_done, ji in enumerate(pending):
            share = max(0.0, deadline - time.monotonic()) / (len(pending) - n_done)
            seen[ji] = inserted
            done, complete[ji] = _serve(day, ji, time.monotonic() + share)
            if done:
                inserted += 1
            else:
                failed.append(ji)
        if len(failed) == len(pending) or time.monotonic() > deadline:
            pending = failed
            break
        pending = failed
    still: list[tuple[Job, Reason]] = []
    bounded = 0
    for ji in sorted(pending):
        idle = [g for g in day.jobs[ji].vehicles if g not in day.stops]
        reason = _reason(day, ji, idle)
        if reason is Reason.NOT_ENOUGH_VEHICLES and not (complete[ji]
                                                         and seen[ji] == inserted):
            bounded += 1
        still.append((day.jobs[ji], reason))
    had = {r.vehicle for r in routes}
    busy_before = {r.vehicle for r in routes if r.client_visits}
    out = [day.routes.get(r.vehicle, r) for r in routes]
    out += [day.routes[g] for g in sorted(day.routes) if g not in had]
    stats: dict[str, object] = {
        "left_out_tried": len(left_out), "left_out_inserted": inserted,
        "left_out_bounded": bounded,
        "left_out_added_m": sum(r.distance_m for r in out) - sum(r.distance_m for r in routes),
        "left_out_new_routes": sum(1 for g in day.routes if g not in busy_before),
        "reasons_s": round(time.monotonic() - t0, 3)}
    return Explained(out, still, stats)


def merge_unassigned(left_out: Sequence[tuple[Job, Reason]]) -> list[Unassigned]:
    """One Unassigned per client (its pieces' amounts added; the first piece's reason)."""
    by_client: dict[int, tuple[dict[str, int], Reason]] = {}
    for j, reason in left_out:
        amt, r = by_client.get(j.client, ({}, reason))
        for k, q in j.amount.items():
            amt[k] = amt.get(k, 0) + q
        by_client[j.client] = (amt, r)
    return [Unassigned(ci, amt, r) for ci, (amt, r) in sorted(by_client.items())]


def left_out_jobs(problem: Problem, unassigned: Sequence[Unassigned]) -> list[Job]:
    """Jobs for unassigned amounts: split where they exceed every compartment that can
    carry them, each allowed on the vehicles it fits in."""
    out: list[Job] = []
    for u in unassigned:
        c = problem.clients[u.client]
        amount = {k: q for k, q in u.amount.items() if q > 0}
        carry = [g for g, v in enumerate(problem.vehicles)
                 if all(v.capacities.get(k, 0) > 0 for k in amount)]
        parts = 1
        for k, q in amount.items():
            big = max((min(problem.vehicles[g].capacities[k],
                           problem.vehicles[g].max_collected or q) for g in carry), default=0)
            parts = max(parts, -(-q // big) if big > 0 else 1)
        total = max(1, sum(amount.values()))
        for piece in range(parts):
            share = {k: q // parts + (1 if piece < q % parts else 0) for k, q in amount.items()}
            fit = tuple(g for g in carry if all(q <= problem.vehicles[g].capacities[k]
                                                for k, q in share.items()))
            out.append(Job(client=u.client, location=c.location, amount=share,
                           service_s=-(-c.service_s * sum(share.values()) // total)
                           if parts > 1 else c.service_s,
                           tw_start_s=c.tw_start_s, tw_end_s=c.tw_end_s, penalty=c.penalty,
                           vehicles=fit, piece=piece, pieces=parts))
    return out


def explain_solution(problem: Problem, solution: Solution, deadline: float) -> Solution:
    """Another engine's Solution with its ``not_enough_vehicles`` points served where they
    fit and the rest given the reason that holds (:func:`insert_or_explain`)."""
    unsure = [u for u in solution.unassigned if u.reason is Reason.NOT_ENOUGH_VEHICLES]
    if not unsure:
        return solution
    res = insert_or_explain(problem, solution.routes, left_out_jobs(problem, unsure), deadline)
    kept = [u for u in solution.unassigned if u.reason is not Reason.NOT_ENOUGH_VEHICLES]
    unassigned = sorted([*kept, *merge_unassigned(res.left_out)], key=lambda u: u.client)
    return Solution(routes=tuple(res.routes), unassigned=tuple(unassigned),
                    engine=solution.engine, wall_s=solution.wall_s,
                    objective=solution.objective, stats={**solution.stats, **res.stats})
