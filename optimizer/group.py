"""One group of jobs and vehicles in one model: start, search, insert what it left out.

A group starts from the greedy construction (with a spare unload at the end of
each route), is searched, gets the jobs the search left out inserted where the
model reads the routes back feasible (:func:`insert_dropped`), and is searched
again. :func:`solve_by_groups` runs a whole day this way, one model per group of
compartments, handing the facility capacity left from one group to the next.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from optimizer.construct import best_greedy
from optimizer.jobs import Job
from optimizer.model import RoutingModel
from optimizer.params import Budget, Progress, SolveParams
from optimizer.partition import components
from optimizer.problem import Problem, Vehicle
from optimizer.routes import (
    END,
    RawResult,
    RawRoute,
    Step,
    Stop,
    consume_capacity,
    relabel_clients,
    served_in,
    stop_place,
    walk,
)

log = logging.getLogger(__name__)

#: share of a group's budget searched before the dropped jobs are inserted by hand
INSERT_AT = 0.8
#: seconds per model node to read a set of routes back (ReadAssignmentFromRoutes)
READ_S_PER_NODE = 1.3e-4

#: (departure of the stop before, its location, start of this stop, how much later
#: this stop may start): one position of a route, see :func:`time_room`
Room = tuple[int, int, int, int]


@dataclass(slots=True)
class DayRoutes:
    """Routes of parts solved one after another over one job list."""

    problem: Problem
    jobs: Sequence[Job]
    routes: list[RawRoute] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)
    objective: int = 0
    cap_left: list[int | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cap_left = [f.daily_capacity for f in self.problem.facilities]

    def add(self, ids: Sequence[int], raw: RawResult) -> None:
        """Take a part's result (planned over the jobs ``ids``) into the day."""
        self.objective += raw.objective
        relabel_clients(raw.routes, ids)
        self.routes.extend(raw.routes)
        self.dropped.extend(ids[i] for i in raw.dropped)
        consume_capacity(self.problem, self.jobs, raw.routes, self.cap_left)


def solve_by_groups(problem: Problem, params: SolveParams, jobs: list[Job], t0: float,
                    progress: Progress | None = None) -> RawResult:
    """Every job and vehicle; one OR-Tools model per independent group of compartments.

    Groups of compartments that share no vehicle (``partition.components``) do not
    interact except through facility daily capacities, which are handed from one
    group to the next. Solving them as one model made the search fail on restoring
    the greedy start on demo-sized days with breaks (the plan was then the greedy
    one); apart, each restores and improves, and the budget goes where jobs are left.
    """
    if not jobs:
        return RawResult([], [], 0, True, {})
    budget = Budget.of(params, t0)
    plain = params.strategy == "plain"
    greedy = not plain and params.strategy == "auto" and problem.end_empty and bool(
        problem.facilities)
    day = DayRoutes(problem, jobs)
    if plain:
        groups = [(list(range(len(jobs))), list(range(len(problem.vehicles))))]
    else:
        groups = [(gj, gv) for gj, gv in components(problem, jobs) if gv]
        covered = {j for gj, _ in groups for j in gj}
        day.dropped = [j for j in range(len(jobs)) if j not in covered]
    # greedy starts first (they are cheap): their dropped jobs weigh in the budget split
    starts: list[list[list[Stop]] | None] = []
    weights: list[float] = []
    for gj, gv in groups:
        seqs = None
        if greedy:
            seqs = best_greedy(problem, [jobs[i] for i in gj], gv)
            weights.append(len(gj) + 20.0 * (len(gj) - served_in(seqs)))
        else:
            weights.append(float(len(gj)))
        starts.append(seqs)
    stats: dict[str, object] = {"jobs": len(jobs), "groups": len(groups)}
    group_stats: list[dict[str, object]] = []
    for gi, ((gj, gv), seqs) in enumerate(zip(groups, starts, strict=True)):
        t_g = time.monotonic()
        left = params.time_limit_s - (t_g - t0) - 0.05
        share = left * weights[gi] / max(1e-9, sum(weights[gi:]))
        if greedy and len(groups) > 1:
            # the facility capacity left by earlier groups
            seqs = best_greedy(problem, [jobs[i] for i in gj], gv,
                               facility_capacity_left=day.cap_left)
        raw = solve_group(problem, params, [jobs[i] for i in gj], gv, seqs, day.cap_left,
                          budget.until(t_g + share), plain=plain, progress=progress)
        n_dropped = len(raw.dropped)
        day.add(gj, raw)
        g_stats = dict(raw.stats)
        g_stats.update(jobs=len(gj), vehicles=len(gv), dropped=n_dropped,
                       budget_s=round(share, 2), wall_s=round(time.monotonic() - t_g, 2))
        group_stats.append(g_stats)
    stats["group_stats"] = group_stats
    if len(group_stats) == 1:
        stats.update(group_stats[0])
        stats["jobs"] = len(jobs)
    return RawResult(day.routes, day.dropped, day.objective, True, stats)


def solve_group(problem: Problem, params: SolveParams, jobs: list[Job], vehicles: list[int],
                seqs: list[list[Stop]] | None, cap_left: list[int | None], budget: Budget,
                *, plain: bool = False, progress: Progress | None = None) -> RawResult:
    """One model over ``jobs`` and ``vehicles``, started from ``seqs`` when given."""
    plain_seqs = seqs
    if seqs is not None:
        seqs = spare_unloads(problem, jobs, vehicles, seqs)
    model = RoutingModel(problem, jobs, vehicles, params, initial=seqs,
                         facility_capacity_left=cap_left)
    initial = model.routes_as_indices(seqs) if seqs is not None else None
    if seqs is not None and plain_seqs is not None and seqs != plain_seqs \
            and not model.readable(model.routes_as_indices(seqs)):
        # a spare unload the conservative timing let through does not fit:
        # keep the spares route by route where the start stays feasible
        keep = list(plain_seqs)
        for i, sq in enumerate(seqs):
            if sq != plain_seqs[i] and model.readable(
                    model.routes_as_indices([*keep[:i], sq, *keep[i + 1:]])):
                keep[i] = sq
        seqs = keep
        initial = model.routes_as_indices(seqs)
    left = max(0.2, budget.left_s())
    # the search keeps the last part of its budget for inserting what it left out:
    # at least a share, more when the start left many jobs out (each try reads the
    # whole model back: 0.03-0.09 s for 475-686 nodes on a 2-core machine; reading
    # it before the search made OR-Tools fail to restore the start)
    search_s = left
    if not plain and seqs is not None and not budget.counted:
        left_out = len(jobs) - served_in(seqs)
        t_read = READ_S_PER_NODE * model.num_nodes
        reserve_s = max((1.0 - INSERT_AT) * left, min(0.4 * left, 2 * left_out * t_read))
        search_s = max(0.2, left - reserve_s)
    raw = model.solve(search_s, params.strategy, plain=plain, progress=progress, initial=initial)
    if not plain and raw.found:
        if raw.dropped:
            inserted = insert_dropped(problem, jobs, vehicles, model, raw, budget)
            if inserted is not None:
                raw = inserted
        if budget.allows(1.0):
            # improve again from the (repaired) routes for the rest of the budget
            again = model.solve(budget.left_s(), params.strategy, progress=progress,
                                initial=model.routes_as_indices([rr.stops() for rr in raw.routes]))
            # kept when it serves more, or as many for less (a restart may fail to
            # restore its start and find something worse from scratch)
            if again.found and (len(again.dropped) < len(raw.dropped) or (
                    len(again.dropped) == len(raw.dropped)
                    and again.objective <= raw.objective)):
                again.stats.update({k: v for k, v in raw.stats.items()
                                    if k not in again.stats})
                raw = again
    raw.stats["nodes"] = model.num_nodes
    if seqs is not None:
        raw.stats["greedy_dropped"] = len(jobs) - served_in(seqs)
    return raw


def time_room(vehicle: Vehicle, steps: Sequence[Step]) -> list[Room]:
    """Per position of a walked route (its stops, then its end): the departure time and
    location of the stop before it, its start time, and how much later it may start
    without a later stop missing its window, its hours or the shift (forward time
    slack). The walk is the earliest schedule of the visit order, the break left
    out (the model's own times may sit anywhere in their windows): optimistic, so
    it only rules out what cannot fit."""
    out: list[Room] = [(0, 0, 0, 0)] * len(steps)
    room = 1 << 60
    for i in range(len(steps) - 1, -1, -1):
        s = steps[i]
        room = min(s.latest_s - s.start_s, room)
        prev_loc, prev_dep = (vehicle.start_location, vehicle.shift_start_s) if i == 0 else \
            (steps[i - 1].location, steps[i - 1].departure_s)
        out[i] = (prev_dep, prev_loc, s.start_s, room)
        room += s.wait_s
    return out


def fits_in_time(problem: Problem, jobs: Sequence[Job], vehicle: int, room: Room,
                 next_loc: int, stops: Sequence[Stop]) -> bool:
    """Whether inserting ``stops`` before a position (its :func:`time_room` row) can
    keep the route's times."""
    t, loc, start_next, slack = room
    steps = walk(problem, jobs, vehicle, stops, depart_s=t, location=loc)
    if any(s.start_s > s.latest_s for s in steps):
        return False
    last = steps[-1]
    arrive = last.departure_s + int(problem.duration_s[last.location, next_loc])
    return max(arrive, start_next) - start_next <= slack


def insert_dropped(problem: Problem, jobs: Sequence[Job], vehicles: Sequence[int],
                   model: RoutingModel, raw: RawResult, budget: Budget,
                   tries: int = 30) -> RawResult | None:
    """Put dropped jobs back one at a time where the model says the routes stay feasible.

    OR-Tools' local search did not insert a dropped client even where a one-node
    insertion (before a spare unload) is feasible and saves its whole penalty;
    this pass tries, per dropped job, the cheapest positions (just before an
    unload that takes its compartments, a new trip between two trips, or a new
    last trip), each checked on the full model. Reading a demo-sized model back
    takes about 0.1 s, so positions where the load or the times cannot fit are
    not tried. Returns the new RawResult, or None.
    """
    seqs = [rr.stops() for rr in raw.routes]
    done = 0
    for ji in sorted(raw.dropped, key=lambda i: jobs[i].tw_end_s):
        if not budget.allows(0.3):
            break
        if jobs[ji].worthless:
            continue
        cands = _positions(problem, jobs, vehicles, model, seqs, ji)
        # the cheapest few positions of each route, so that one route does not take
        # every try; an empty route (an idle truck: a trip of its own) always has one
        cands.sort(key=lambda c: c[0])
        per_route: dict[int, int] = {}
        short: list[tuple[int, int, list[Stop]]] = []
        for c in cands:
            n = per_route.get(c[1], 0)
            if n < 3 and (len(short) < tries or not seqs[c[1]]):
                short.append(c)
                per_route[c[1]] = n + 1
        log.debug("insert job %d: %d positions, %d tried, %.1f s left", ji, len(cands),
                  len(short), budget.left_s())
        for _, ri, new in short:
            if not budget.allows(0.3):
                break
            trial = [*seqs[:ri], new, *seqs[ri + 1:]]
            used = [0] * len(problem.facilities)
            for sq in trial:
                for kind, ref in sq:
                    if kind == "facility":
                        used[ref] += 1
            if any(u > len(model.fac_nodes[fi]) for fi, u in enumerate(used)):
                continue
            if model.readable(model.routes_as_indices(trial)):
                seqs = trial
                done += 1
                break
    if not done:
        return None
    res = model.read_result(model.routes_as_indices(seqs), dict(raw.stats))
    if res is None:
        return None
    res.stats["inserted_after_search"] = done
    return res


def _positions(problem: Problem, jobs: Sequence[Job], vehicles: Sequence[int],
               model: RoutingModel, seqs: Sequence[list[Stop]],
               ji: int) -> list[tuple[int, int, list[Stop]]]:
    """(extra metres, route, new stop list) for each place job ``ji`` could go where
    its load and times may fit."""
    dist = problem.distance_m
    j = jobs[ji]
    cats = {k for k, q in j.amount.items() if q > 0}
    unloads = [fi for fi, f in enumerate(problem.facilities)
               if cats <= f.accepts and model.fac_nodes[fi]]
    cands: list[tuple[int, int, list[Stop]]] = []
    for ri, (g, seq) in enumerate(zip(vehicles, seqs, strict=True)):
        if g not in j.vehicles:
            continue
        v = problem.vehicles[g]
        steps = walk(problem, jobs, g, [*seq, END], depart_s=v.shift_start_s)
        room = time_room(v, steps)
        prev = v.start_location
        for pos, s in enumerate(steps):
            fits = all(s.load_on_arrival.get(k, 0) + q <= v.capacities.get(k, 0)
                       for k, q in j.amount.items())
            options: list[list[Stop]] = []
            if fits and s.kind == "facility" and cats <= problem.facilities[s.ref].accepts:
                options.append([("client", ji)])
            if fits and (pos == 0 or s.kind == "end" or seq[pos - 1][0] == "facility"):
                # a new trip (client + unload) between two trips, or at the end
                options += [[("client", ji), ("facility", fi)] for fi in unloads]
            for stops in options:
                if not fits_in_time(problem, jobs, g, room[pos], s.location, stops):
                    continue
                locs = [prev] + [stop_place(problem, jobs, g, st)[0] for st in stops]
                cost = int(sum(dist[a, b] for a, b in zip(locs, [*locs[1:], s.location],
                                                          strict=True))
                           - dist[prev, s.location])
                cands.append((cost, ri, [*seq[:pos], *stops, *seq[pos:]]))
            prev = s.location
    return cands


def spare_unloads(problem: Problem, jobs: Sequence[Job], vehicles: Sequence[int],
                  seqs: list[list[Stop]]) -> list[list[Stop]]:
    """Give each route that ends with an unload a second, empty one at the same place.

    It costs no distance, so the search keeps it, and a client inserted before it
    is a new last trip: one-node moves can then add a trip, which they otherwise
    cannot (a client needs an unload after it). Added only where the shift leaves
    room for it (the route's earliest times and its break); empty unloads
    left at the end are removed when the routes are read back.
    """
    out: list[list[Stop]] = []
    for g, seq in zip(vehicles, seqs, strict=True):
        if not seq or seq[-1][0] != "facility":
            out.append(seq)
            continue
        v = problem.vehicles[g]
        # the earliest times, then the break's length (more only where the break
        # must wait for its own window: eliminate._replan reads the spares back).
        # A walk started a break late was no bound, since waiting for a window
        # absorbed it (800 generated points, seed 30: a spare 14 min past the shift end)
        t = walk(problem, jobs, g, seq, depart_s=v.shift_start_s)[-1].departure_s + v.break_s
        f = problem.facilities[seq[-1][1]]
        if t <= f.close_s - f.unload_s and \
                t + f.unload_s + int(problem.duration_s[f.location, v.end_location]) \
                <= v.shift_end_s:
            out.append([*seq, seq[-1]])
        else:
            out.append(seq)
    return out
