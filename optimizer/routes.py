"""Raw routes (a solver's visit order and times) and the one walk of a route's load and time.

A route is a list of stops: ``("client", job index)``, ``("facility", facility index)``
and, where the way home matters, ``("end", -1)``. :func:`walk` follows such a list
from a place and a time and tells, stop by stop, where the vehicle is, when it
arrives and starts, and what it has on board; every part of the optimizer that
needs a route's load or times reads them from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from optimizer.jobs import Job
from optimizer.problem import Problem

StopKind = Literal["client", "facility", "end"]
VisitKind = Literal["client", "facility"]
#: (kind, job index or facility index); the end carries -1
Stop = tuple[StopKind, int]
END: Stop = ("end", -1)


@dataclass(slots=True)
class RawVisit:
    kind: VisitKind
    #: job index (of the job list the route was planned over) or facility index
    ref: int
    start_s: int


@dataclass(slots=True)
class RawRoute:
    #: global vehicle index
    vehicle: int
    visits: list[RawVisit]
    start_s: int
    end_s: int
    break_start_s: int | None = None

    def stops(self) -> list[Stop]:
        return [(rv.kind, rv.ref) for rv in self.visits]

    def client_refs(self) -> list[int]:
        return [rv.ref for rv in self.visits if rv.kind == "client"]

    @property
    def n_clients(self) -> int:
        return sum(1 for rv in self.visits if rv.kind == "client")


@dataclass(slots=True)
class RawResult:
    routes: list[RawRoute]
    #: job indices left out
    dropped: list[int]
    objective: int
    found: bool
    stats: dict[str, object] = field(default_factory=dict)


def served_in(seqs: Sequence[Sequence[Stop]]) -> int:
    """Client visits of per-vehicle stop lists (a greedy start)."""
    return sum(1 for sq in seqs for kind, _ in sq if kind == "client")


def relabel_clients(routes: Sequence[RawRoute], ids: Sequence[int]) -> None:
    """Turn the job indices of routes planned over a sub-list into indices of the full list."""
    for rr in routes:
        for rv in rr.visits:
            if rv.kind == "client":
                rv.ref = ids[rv.ref]


def stop_place(problem: Problem, jobs: Sequence[Job], vehicle: int,
               stop: Stop) -> tuple[int, int, int, int]:
    """(location, earliest start, latest start, service s) of a stop: a client, an
    unload, or the vehicle's end (whose latest start is the end of the shift)."""
    kind, ref = stop
    if kind == "client":
        j = jobs[ref]
        return j.location, j.tw_start_s, j.tw_end_s, j.service_s
    if kind == "facility":
        f = problem.facilities[ref]
        return f.location, f.open_s, f.close_s, f.unload_s
    v = problem.vehicles[vehicle]
    return v.end_location, 0, v.shift_end_s, 0


@dataclass(frozen=True, slots=True)
class Step:
    """One stop of a walk: where, when, and the load on board (units per compartment)."""

    kind: StopKind
    ref: int
    location: int
    earliest_s: int
    latest_s: int
    service_s: int
    #: metres of the leg into this stop
    leg_m: int
    arrival_s: int
    start_s: int
    #: the vehicle's break was taken on the leg into this stop
    after_break: bool
    load_on_arrival: dict[str, int]
    load_after: dict[str, int]

    @property
    def departure_s(self) -> int:
        return self.start_s + self.service_s

    @property
    def wait_s(self) -> int:
        return self.start_s - self.arrival_s

    @property
    def unloaded(self) -> int:
        """Units emptied here (at a facility; 0 elsewhere)."""
        if self.kind != "facility":
            return 0
        return sum(self.load_on_arrival.values()) - sum(self.load_after.values())


def walk(problem: Problem, jobs: Sequence[Job], vehicle: int, stops: Sequence[Stop], *,
         depart_s: int, location: int | None = None, starts_s: Sequence[int] | None = None,
         break_start_s: int | None = None) -> list[Step]:
    """Follow ``stops`` leaving ``location`` (the vehicle's start by default) at ``depart_s``.

    A stop starts at its given time (``starts_s``, a solver's schedule) or else as
    early as its window allows, never before the vehicle arrives; the end starts on
    arrival. With ``break_start_s`` (given starts only) the break is taken on the
    first leg where it begins after the previous departure and ends before the
    stop's given start; it delays that arrival. A facility empties every
    compartment it accepts.
    """
    veh = problem.vehicles[vehicle]
    dur, dist = problem.duration_s, problem.distance_m
    loc = veh.start_location if location is None else location
    dep = depart_s
    load = {k: 0 for k in veh.capacities}
    brk = break_start_s if veh.has_break else None
    steps: list[Step] = []
    for i, stop in enumerate(stops):
        kind, ref = stop
        here, earliest, latest, service = stop_place(problem, jobs, vehicle, stop)
        arrival = dep + int(dur[loc, here])
        after_break = False
        if starts_s is None:
            start = max(arrival, earliest)
        else:
            given = starts_s[i]
            if brk is not None and brk >= dep and brk + veh.break_s <= given:
                arrival = max(arrival + veh.break_s, brk + veh.break_s)
                after_break, brk = True, None
            start = arrival if kind == "end" else max(given, arrival)
        before = dict(load)
        if kind == "client":
            for k, q in jobs[ref].amount.items():
                load[k] = load.get(k, 0) + q
        elif kind == "facility":
            accepts = problem.facilities[ref].accepts
            for k in load:
                if k in accepts:
                    load[k] = 0
        steps.append(Step(kind, ref, here, earliest, latest, service, int(dist[loc, here]),
                          arrival, start, after_break, before, dict(load)))
        loc, dep = here, start + service
    return steps


def walk_raw(problem: Problem, jobs: Sequence[Job], rr: RawRoute, *, end: bool = False,
             with_break: bool = False) -> list[Step]:
    """:func:`walk` of a solver route on its own times (its end too when ``end``)."""
    stops = rr.stops()
    starts = [rv.start_s for rv in rr.visits]
    if end:
        stops.append(END)
        starts.append(rr.end_s)
    return walk(problem, jobs, rr.vehicle, stops, depart_s=rr.start_s, starts_s=starts,
                break_start_s=rr.break_start_s if with_break else None)


def route_metres(problem: Problem, jobs: Sequence[Job], vehicle: int,
                 stops: Sequence[Stop]) -> int:
    """Metres of a stop list from the vehicle's start to its end (0 when empty)."""
    if not stops:
        return 0
    v = problem.vehicles[vehicle]
    steps = walk(problem, jobs, vehicle, [*stops, END], depart_s=v.shift_start_s)
    return sum(s.leg_m for s in steps)


def consume_capacity(problem: Problem, jobs: Sequence[Job], routes: Sequence[RawRoute],
                     cap_left: list[int | None]) -> None:
    """Take what ``routes`` unload off each facility's daily capacity left."""
    for rr in routes:
        for s in walk(problem, jobs, rr.vehicle, rr.stops(), depart_s=rr.start_s):
            c = cap_left[s.ref] if s.kind == "facility" else None
            if c is not None:
                cap_left[s.ref] = c - s.unloaded
