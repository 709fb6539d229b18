"""solve(problem, params) -> Solution. Never prints; logs through `logging`.

Strategies (``SolveParams.strategy``):

* ``"plain"``: the peer in benchmark tables: the same model, PATH_CHEAPEST_ARC +
  GUIDED_LOCAL_SEARCH, OR-Tools defaults otherwise, no decomposition, no greedy start.
* ``"auto"`` (default): one OR-Tools model per independent group of compartments
  (``decompose.components``; facility daily capacity handed on from group to
  group), the budget shared by jobs and by what the greedy start left out. For
  days that must end empty at facilities the first solution is the best of a few
  greedy multi-trip constructions (``decompose.best_greedy``) with a spare unload
  at the end of each route; otherwise LOCAL_CHEAPEST_INSERTION, SAVINGS,
  PARALLEL_CHEAPEST_INSERTION and PATH_CHEAPEST_ARC are tried in turn within 30 %
  of the budget. Then GLS; after at most 80 % of the budget (less when the greedy
  start left many jobs out) the dropped jobs are inserted where the model reads
  the routes back feasible (``insert_dropped``), and GLS again. Above
  ``params.decompose_above`` visits, or for big groups with breaks (``_decompose``),
  the day is cut into sub-problems (``decompose.solve_large``) followed by repair
  rounds and neighbourhood re-planning.
* any OR-Tools first-solution strategy name: that one, then GLS.

Engines: ``"ortools"`` (default); ``"pyvrp"`` / ``"auto"`` use
``optimizer.pyvrp_engine`` when ``supports(problem)`` says its model covers every
rule, else OR-Tools.

Reading a plan: ``Visit.arrival_s`` is the previous departure plus the travel
time (plus the break when the break happens on that leg), ``start_s`` the start
of service (client) or unload (facility), ``departure_s`` = start + service.
A break is ``Visit("break", None, None, b, b, b + break_s)`` placed between the
two stops of the leg during which it is taken.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from optimizer.decompose import Job, Prepared, prepare, served_in
from optimizer.params import SolveParams
from optimizer.problem import Problem
from optimizer.solution import Reason, Route, Solution, Unassigned, Visit, VisitKind

log = logging.getLogger(__name__)

Progress = Callable[[float, int | None], None]

#: share of a group's budget searched before the dropped jobs are inserted by hand
INSERT_AT = 0.8
#: seconds per model node to read a set of routes back (ReadAssignmentFromRoutes)
READ_S_PER_NODE = 1.3e-4



def solve(problem: Problem, params: SolveParams | None = None,
          progress: Progress | None = None) -> Solution:
    """Plan routes for `problem` within `params.time_limit_s`.

    `progress(fraction_of_time_used, best_objective_or_None)` is called now and
    then (from the solver thread) so a caller can draw a progress bar.
    """
    params = params or SolveParams()
    t0 = time.monotonic()
    if params.engine in ("pyvrp", "auto"):
        sol = _try_pyvrp(problem, params)
        if sol is not None:
            return sol
    prep = prepare(problem)
    if params.strategy != "plain" and _decompose(problem, params, prep):
        from optimizer.decompose import solve_large

        res = solve_large(problem, params, prep, t0, progress)
        assert isinstance(res, Solution)
        sol = res
    else:
        sol = solve_jobs(problem, params, prep, t0, progress)
    if progress is not None:
        progress(1.0, sol.objective)
    return sol


def _decompose(problem: Problem, params: SolveParams, prep: Prepared) -> bool:
    """Large days, and days with breaks whose compartment groups are big: above
    ``decompose_group_above`` always, above ``decompose_slack_group_above`` when the
    greedy start serves the whole group (small models improve faster; a tight
    group keeps the global moves of one model)."""
    if len(prep.jobs) > params.decompose_above:
        return True
    low = min(params.decompose_group_above, params.decompose_slack_group_above)
    if len(prep.jobs) <= low or not any(v.has_break for v in problem.vehicles):
        return False
    from optimizer.decompose import best_greedy, components

    for gj, gv in components(problem, prep.jobs):
        if len(gj) > params.decompose_group_above:
            return True
        if len(gj) > params.decompose_slack_group_above and gv and problem.end_empty \
                and problem.facilities:
            seqs = best_greedy(problem, [prep.jobs[i] for i in gj], gv)
            if served_in(seqs) == len(gj):
                return True
    return False


def _try_pyvrp(problem: Problem, params: SolveParams) -> Solution | None:
    try:
        mod = importlib.import_module("optimizer.pyvrp_engine")
    except ImportError:
        log.info("pyvrp engine not available; using OR-Tools")
        return None
    try:
        if not mod.supports(problem):
            return None
        sol = mod.solve_pyvrp(problem, params)
    except Exception:  # noqa: BLE001 - any failure of the optional engine falls back
        log.exception("pyvrp engine failed; using OR-Tools")
        return None
    return sol if isinstance(sol, Solution) else None


def solve_jobs(problem: Problem, params: SolveParams, prep: Prepared, t0: float,
               progress: Progress | None = None) -> Solution:
    """Every job and vehicle; one OR-Tools model per independent group of compartments.

    Groups of compartments that share no vehicle (``decompose.components``) do not
    interact except through facility daily capacities, which are handed from one
    group to the next. Solving them as one model made the search fail on restoring
    the greedy start on demo-sized days with breaks (the plan was then the greedy
    one); apart, each restores and improves, and the budget goes where jobs are left.
    """
    from optimizer.decompose import _consume_capacity, best_greedy, components

    jobs = prep.jobs
    if not jobs:
        return assemble(problem, jobs, [], [], prep.unassigned, engine="ortools",
                        wall_s=time.monotonic() - t0, objective=0, stats={})
    plain = params.strategy == "plain"
    greedy = not plain and params.strategy == "auto" and problem.end_empty and bool(
        problem.facilities)
    if plain:
        groups = [(list(range(len(jobs))), list(range(len(problem.vehicles))))]
    else:
        groups = [(gj, gv) for gj, gv in components(problem, jobs) if gv]
        covered = {j for gj, _ in groups for j in gj}
        orphans = [j for j in range(len(jobs)) if j not in covered]
    cap_left: list[int | None] = [f.daily_capacity for f in problem.facilities]
    # greedy starts first (they are cheap): their dropped jobs weigh in the budget split
    starts: list[list[list[tuple[str, int]]] | None] = []
    weights: list[float] = []
    for gj, gv in groups:
        seqs = None
        if greedy:
            seqs = best_greedy(problem, [jobs[i] for i in gj], gv)
            served = served_in(seqs)
            weights.append(len(gj) + 20.0 * (len(gj) - served))
        else:
            weights.append(float(len(gj)))
        starts.append(seqs)
    routes: list[object] = []
    dropped: list[int] = [] if plain else list(orphans)
    objective = 0
    stats: dict[str, object] = {"jobs": len(jobs), "groups": len(groups)}
    group_stats: list[dict[str, object]] = []
    for gi, ((gj, gv), seqs) in enumerate(zip(groups, starts, strict=True)):
        t_g = time.monotonic()
        left = params.time_limit_s - (t_g - t0) - 0.05
        share = left * weights[gi] / max(1e-9, sum(weights[gi:]))
        if params.counted:
            # the whole day's time limit is only a safety bound for each group
            share = left
        if greedy and len(groups) > 1:
            # the facility capacity left by earlier groups
            seqs = best_greedy(problem, [jobs[i] for i in gj], gv, facility_capacity_left=cap_left)
        raw = _solve_group(problem, params, [jobs[i] for i in gj], gv, seqs, cap_left,
                           t_g + share, plain, progress)
        objective += raw.objective
        for rr in raw.routes:
            for rv in rr.visits:
                if rv.kind == "client":
                    rv.ref = gj[rv.ref]
        routes.extend(raw.routes)
        dropped.extend(gj[i] for i in raw.dropped)
        _consume_capacity(problem, jobs, raw.routes, cap_left)
        g_stats = dict(raw.stats)
        g_stats.update(jobs=len(gj), vehicles=len(gv), dropped=len(raw.dropped),
                       budget_s=round(share, 2), wall_s=round(time.monotonic() - t_g, 2))
        group_stats.append(g_stats)
    stats["group_stats"] = group_stats
    if len(group_stats) == 1:
        stats.update(group_stats[0])
        stats["jobs"] = len(jobs)
    return assemble(problem, jobs, routes, dropped, prep.unassigned,
                    engine="ortools", wall_s=time.monotonic() - t0,
                    objective=objective, stats=stats)


def _solve_group(problem: Problem, params: SolveParams, jobs: list[Job], vehicles: list[int],
                 seqs: list[list[tuple[str, int]]] | None, cap_left: list[int | None],
                 deadline: float, plain: bool, progress: Progress | None) -> Any:
    from optimizer.model import RoutingModel

    plain_seqs = seqs
    if seqs is not None:
        seqs = spare_unloads(problem, jobs, vehicles, seqs)
    model = RoutingModel(problem, jobs, vehicles, params, initial=seqs,
                         facility_capacity_left=cap_left)
    initial = model.routes_as_indices(seqs) if seqs is not None else None
    if seqs is not None and plain_seqs is not None and seqs != plain_seqs:
        assert initial is not None
        if not model.readable(initial):
            # a spare unload the conservative timing let through does not fit:
            # keep the spares route by route where the start stays feasible
            keep = list(plain_seqs)
            for i, sq in enumerate(seqs):
                if sq != plain_seqs[i] and model.readable(
                        model.routes_as_indices([*keep[:i], sq, *keep[i + 1:]])):
                    keep[i] = sq
            seqs = keep
            initial = model.routes_as_indices(seqs)
    left = max(0.2, deadline - time.monotonic())
    # the search keeps the last part of its budget for inserting what it left out:
    # at least a share, more when the start left many jobs out (each try reads the
    # whole model back: 0.03-0.09 s for 475-686 nodes on this machine; reading it
    # before the search made OR-Tools fail to restore the start)
    search_s = left
    if not plain and seqs is not None and not params.counted:
        left_out = len(jobs) - served_in(seqs)
        t_read = READ_S_PER_NODE * model.num_nodes
        reserve_s = max((1.0 - INSERT_AT) * left, min(0.4 * left, 2 * left_out * t_read))
        search_s = max(0.2, left - reserve_s)
    raw = model.solve(search_s, params.strategy, plain=plain, progress=progress, initial=initial)
    if not plain and raw.found:
        if raw.dropped:
            inserted = insert_dropped(problem, jobs, vehicles, model, raw, deadline,
                                      margin_s=0.0 if params.counted else 0.3)
            if inserted is not None:
                raw = inserted
        left = deadline - time.monotonic()
        if left > (0 if params.counted else 1.0):
            # improve again from the (repaired) routes for the rest of the budget
            seqs2 = [[(rv.kind, rv.ref) for rv in rr.visits] for rr in raw.routes]
            again = model.solve(left, params.strategy, progress=progress,
                                initial=model.routes_as_indices(seqs2))
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


def _stop(problem: Problem, jobs: Sequence[Job], vehicle: int, kind: str,
          ref: int) -> tuple[int, int, int, int]:
    """(location, earliest start, latest start, service s) of a route stop: a client,
    an unload (kind "facility") or the vehicle's end (any other kind)."""
    if kind == "client":
        j = jobs[ref]
        return j.location, j.tw_start_s, j.tw_end_s, j.service_s
    if kind == "facility":
        f = problem.facilities[ref]
        return f.location, f.open_s, f.close_s, f.unload_s
    v = problem.vehicles[vehicle]
    return v.end_location, 0, v.shift_end_s, 0


def _time_room(problem: Problem, jobs: Sequence[Job], vehicle: int,
               seq: Sequence[tuple[str, int]]) -> list[tuple[int, int, int, int]]:
    """Per position of a route (its stops, then its end): the departure time and
    location of the stop before it, its start time, and how much later it may start
    without a later stop missing its window, its hours or the shift (forward time
    slack). Times are the earliest schedule of the visit order, the break left
    out (the model's own times may sit anywhere in their windows): optimistic, so
    it only rules out what cannot fit."""
    v = problem.vehicles[vehicle]
    dur = problem.duration_s
    rows: list[tuple[int, int, int, int, int]] = []  # loc, start, latest, departure, wait
    loc, dep = v.start_location, v.shift_start_s
    for kind, ref in [*seq, ("end", -1)]:
        here, earliest, latest, service = _stop(problem, jobs, vehicle, kind, ref)
        arrive = dep + int(dur[loc, here])
        start = max(arrive, earliest)
        rows.append((here, start, latest, start + service, start - arrive))
        loc, dep = here, start + service
    out: list[tuple[int, int, int, int]] = [(0, 0, 0, 0)] * len(rows)
    room = 1 << 60
    for i in range(len(rows) - 1, -1, -1):
        here, start, latest, _, wait = rows[i]
        room = min(latest - start, room)
        prev_loc, prev_dep = (v.start_location, v.shift_start_s) if i == 0 else \
            (rows[i - 1][0], rows[i - 1][3])
        out[i] = (prev_dep, prev_loc, start, room)
        room += wait
    return out


def _fits_in_time(problem: Problem, jobs: Sequence[Job], vehicle: int,
                  room: tuple[int, int, int, int], next_loc: int,
                  stops: Sequence[tuple[str, int]]) -> bool:
    """Whether inserting ``stops`` before a position (its ``_time_room`` row) can keep
    the route's times."""
    dur = problem.duration_s
    t, loc, start_next, slack = room
    for kind, ref in stops:
        here, earliest, latest, service = _stop(problem, jobs, vehicle, kind, ref)
        t = max(t + int(dur[loc, here]), earliest)
        if t > latest:
            return False
        t, loc = t + service, here
    return max(t + int(dur[loc, next_loc]), start_next) - start_next <= slack


def insert_dropped(problem: Problem, jobs: Sequence[Job], vehicles: Sequence[int],
                   model: Any, raw: Any, deadline: float, tries: int = 30,
                   margin_s: float = 0.3) -> Any:
    """Put dropped jobs back one at a time where the model says the routes stay feasible.

    OR-Tools' local search did not insert a dropped client even where a one-node
    insertion (before a spare unload) is feasible and saves its whole penalty;
    this pass tries, per dropped job, the cheapest positions (just before an
    unload that takes its compartments, a new trip between two trips, or a new
    last trip), each checked on the full model. Reading a demo-sized model back
    takes about 0.1 s, so positions where the load or the times cannot fit are
    not tried. Returns the new RawResult, or None.
    """
    dist = problem.distance_m
    seqs = [[(rv.kind, rv.ref) for rv in rr.visits] for rr in raw.routes]
    dropped = list(raw.dropped)
    done = 0
    for ji in sorted(dropped, key=lambda i: jobs[i].tw_end_s):
        if time.monotonic() >= deadline - margin_s:
            break
        j = jobs[ji]
        cats = {k for k, q in j.amount.items() if q > 0}
        unloads = [fi for fi, f in enumerate(problem.facilities)
                   if cats <= f.accepts and model.fac_nodes[fi]]
        cands: list[tuple[int, int, list[tuple[str, int]]]] = []
        for ri, (g, seq) in enumerate(zip(vehicles, seqs, strict=True)):
            if g not in j.vehicles:
                continue
            v = problem.vehicles[g]
            room = _time_room(problem, jobs, g, seq)
            prev = v.start_location
            # load on board on arrival at each position
            load: dict[str, int] = {}
            for pos, (kind, ref) in enumerate([*seq, ("end", -1)]):
                loc = _stop(problem, jobs, g, kind, ref)[0]
                fits = all(load.get(k, 0) + q <= v.capacities.get(k, 0)
                           for k, q in j.amount.items())
                options: list[list[tuple[str, int]]] = []
                if fits and kind == "facility" and cats <= problem.facilities[ref].accepts:
                    options.append([("client", ji)])
                if fits and (pos == 0 or kind == "end" or seq[pos - 1][0] == "facility"):
                    # a new trip (client + unload) between two trips, or at the end
                    options += [[("client", ji), ("facility", fi)] for fi in unloads]
                for stops in options:
                    if not _fits_in_time(problem, jobs, g, room[pos], loc, stops):
                        continue
                    locs = [prev] + [_stop(problem, jobs, g, k, r)[0] for k, r in stops]
                    cost = int(sum(dist[a, b] for a, b in zip(locs, [*locs[1:], loc],
                                                              strict=True))
                               - dist[prev, loc])
                    cands.append((cost, ri, [*seq[:pos], *stops, *seq[pos:]]))
                if kind == "client":
                    for k, q in jobs[ref].amount.items():
                        load[k] = load.get(k, 0) + q
                elif kind == "facility":
                    load = {k: q for k, q in load.items()
                            if k not in problem.facilities[ref].accepts}
                prev = loc
        # the cheapest few positions of each route, so that one route does not take
        # every try; an empty route (an idle truck: a trip of its own) always has one
        cands.sort(key=lambda c: c[0])
        per_route: dict[int, int] = {}
        short: list[tuple[int, int, list[tuple[str, int]]]] = []
        for c in cands:
            n = per_route.get(c[1], 0)
            if n < 3 and (len(short) < tries or not seqs[c[1]]):
                short.append(c)
                per_route[c[1]] = n + 1
        log.debug("insert job %d: %d positions, %d tried, %.1f s left", ji, len(cands),
                  len(short), deadline - time.monotonic())
        for _, ri, new in short:
            if time.monotonic() >= deadline - margin_s:
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


def spare_unloads(problem: Problem, jobs: Sequence[Job], vehicles: Sequence[int],
                  seqs: list[list[tuple[str, int]]]) -> list[list[tuple[str, int]]]:
    """Give each route that ends with an unload a second, empty one at the same place.

    It costs no distance, so the search keeps it, and a client inserted before it
    is a new last trip: one-node moves can then add a trip, which they otherwise
    cannot (a client needs an unload after it). Added only where the shift leaves
    room for it (times simulated conservatively, break included); empty unloads
    left at the end are removed when the routes are read back.
    """
    dur = problem.duration_s
    out: list[list[tuple[str, int]]] = []
    for g, seq in zip(vehicles, seqs, strict=True):
        if not seq or seq[-1][0] != "facility":
            out.append(seq)
            continue
        v = problem.vehicles[g]
        t, loc = v.shift_start_s + v.break_s, v.start_location
        for kind, ref in seq:
            here, earliest, _, service = _stop(problem, jobs, g, kind, ref)
            t = max(t + int(dur[loc, here]), earliest) + service
            loc = here
        f = problem.facilities[seq[-1][1]]
        if t <= f.close_s - f.unload_s and \
                t + f.unload_s + int(dur[f.location, v.end_location]) <= v.shift_end_s:
            out.append([*seq, seq[-1]])
        else:
            out.append(seq)
    return out


# --------------------------------------------------------------------------- assembly


def build_route(problem: Problem, jobs: Sequence[Job], raw: object) -> Route:
    """Turn a solver route (sequence + service start times + break) into a Route."""
    from optimizer.model import RawRoute

    assert isinstance(raw, RawRoute)
    veh = problem.vehicles[raw.vehicle]
    dur, dist = problem.duration_s, problem.distance_m
    load = {k: 0 for k in veh.capacities}
    visits: list[Visit] = [Visit("start", None, veh.start_location, raw.start_s, raw.start_s,
                                 raw.start_s, {}, dict(load))]
    brk = raw.break_start_s
    brk_done = brk is None or not veh.has_break
    prev_loc, prev_dep = veh.start_location, raw.start_s
    total_m = 0
    stops: list[tuple[str, int | None, int, int, int]] = []
    for rv in raw.visits:
        if rv.kind == "client":
            j = jobs[rv.ref]
            stops.append(("client", rv.ref, j.location, rv.start_s, j.service_s))
        else:
            f = problem.facilities[rv.ref]
            stops.append(("facility", rv.ref, f.location, rv.start_s, f.unload_s))
    stops.append(("end", None, veh.end_location, raw.end_s, 0))
    for kind, ref, loc, start_s, service_s in stops:
        travel = int(dur[prev_loc, loc])
        arrival = prev_dep + travel
        if not brk_done and brk is not None and brk >= prev_dep and brk + veh.break_s <= start_s:
            visits.append(Visit("break", None, None, brk, brk, brk + veh.break_s))
            arrival = max(prev_dep + travel + veh.break_s, brk + veh.break_s)
            brk_done = True
        if kind == "end":
            start_s = max(arrival, min(start_s, arrival))
        start_s = max(start_s, arrival)
        total_m += int(dist[prev_loc, loc])
        amount: dict[str, int] = {}
        index: int | None = None
        if kind == "client":
            assert ref is not None
            j = jobs[ref]
            index = j.client
            amount = dict(j.amount)
            for k, q in amount.items():
                load[k] = load.get(k, 0) + q
        elif kind == "facility":
            assert ref is not None
            index = ref
            for k in load:
                if k in problem.facilities[ref].accepts:
                    load[k] = 0
        kind_lit: VisitKind = ("client" if kind == "client" else
                               "facility" if kind == "facility" else "end")
        dep = start_s + service_s
        visits.append(Visit(kind_lit, index, loc, arrival, start_s, dep, amount, dict(load)))
        prev_loc, prev_dep = loc, dep
    end = visits[-1]
    return Route(raw.vehicle, tuple(visits), total_m, end.arrival_s - visits[0].departure_s)


def _post_reason(problem: Problem, job: Job) -> Reason:
    """Why a job the solver dropped could not be served (best guess)."""
    for k, q in job.amount.items():
        if q <= 0:
            continue
        caps = [f.daily_capacity for f in problem.facilities if k in f.accepts]
        if problem.end_empty and caps and all(c is not None for c in caps):
            total = sum(c.demand.get(k, 0) for c in problem.clients)
            if total > sum(c for c in caps if c is not None):
                return Reason.CAPACITY
        mc = [problem.vehicles[v].max_collected for v in job.vehicles]
        if mc and all(x is not None for x in mc):
            total = sum(c.demand.get(k, 0) for c in problem.clients)
            if total > sum(x for x in mc if x is not None):
                return Reason.CAPACITY
    return Reason.NOT_ENOUGH_VEHICLES


def fix_loaded_end(problem: Problem, jobs: Sequence[Job], raw: object) -> list[int]:
    """Make a route that ends loaded end empty: add an unload, else drop its last trip.

    Returns the jobs dropped. Only needed when the solver's soft end-empty
    penalty was not driven to zero.
    """
    from optimizer.model import RawRoute, RawVisit

    assert isinstance(raw, RawRoute)
    if not problem.end_empty:
        return []
    veh = problem.vehicles[raw.vehicle]
    dur, dist = problem.duration_s, problem.distance_m
    load: dict[str, int] = {}
    for rv in raw.visits:
        if rv.kind == "client":
            for k, q in jobs[rv.ref].amount.items():
                load[k] = load.get(k, 0) + q
        else:
            acc = problem.facilities[rv.ref].accepts
            load = {k: q for k, q in load.items() if k not in acc}
    loaded = {k for k, q in load.items() if q > 0}
    if not loaded:
        return []

    def tail(upto: int) -> tuple[int, int]:
        if upto < 0:
            return veh.start_location, raw.start_s
        rv = raw.visits[upto]
        if rv.kind == "client":
            j = jobs[rv.ref]
            return j.location, rv.start_s + j.service_s
        f = problem.facilities[rv.ref]
        return f.location, rv.start_s + f.unload_s

    loc, dep = tail(len(raw.visits) - 1)
    pending = (veh.has_break and raw.break_start_s is not None and raw.break_start_s >= dep)
    brk = raw.break_start_s if pending else None
    best: tuple[int, int, int, int] | None = None
    for fi, f in enumerate(problem.facilities):
        if not loaded <= f.accepts:
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
    loc, dep = tail(len(raw.visits) - 1)
    end = dep + int(dur[loc, veh.end_location])
    if veh.has_break and raw.break_start_s is not None and raw.break_start_s >= dep:
        end = max(end + veh.break_s, raw.break_start_s + veh.break_s)
    raw.end_s = max(end, raw.end_s)
    return [gone, *fix_loaded_end(problem, jobs, raw)]


def drop_empty_unloads(problem: Problem, jobs: Sequence[Job], raw: object) -> None:
    """Remove facility visits with nothing to unload when the schedule still holds."""
    from optimizer.model import RawRoute

    assert isinstance(raw, RawRoute)
    veh = problem.vehicles[raw.vehicle]
    dur = problem.duration_s
    i = 0
    load: dict[str, int] = {}
    prev_loc, prev_dep = veh.start_location, raw.start_s
    while i < len(raw.visits):
        rv = raw.visits[i]
        if rv.kind == "client":
            j = jobs[rv.ref]
            for k, q in j.amount.items():
                load[k] = load.get(k, 0) + q
            prev_loc, prev_dep = j.location, rv.start_s + j.service_s
            i += 1
            continue
        f = problem.facilities[rv.ref]
        if any(load.get(k, 0) > 0 for k in f.accepts):
            load = {k: q for k, q in load.items() if k not in f.accepts}
            prev_loc, prev_dep = f.location, rv.start_s + f.unload_s
            i += 1
            continue
        if i + 1 < len(raw.visits):
            nxt = raw.visits[i + 1]
            nloc = (jobs[nxt.ref].location if nxt.kind == "client"
                    else problem.facilities[nxt.ref].location)
            nstart = nxt.start_s
        else:
            nloc, nstart = veh.end_location, raw.end_s
        need = prev_dep + int(dur[prev_loc, nloc])
        b = raw.break_start_s
        if veh.has_break and b is not None and prev_dep <= b <= nstart:
            need = max(need + veh.break_s, b + veh.break_s)
        if need <= nstart:
            del raw.visits[i]
            continue
        prev_loc, prev_dep = f.location, rv.start_s + f.unload_s
        i += 1


def place_break(problem: Problem, jobs: Sequence[Job], raw: object) -> None:
    """Set the break start of a solver route: the first leg with room for it."""
    from optimizer.model import RawRoute

    assert isinstance(raw, RawRoute)
    veh = problem.vehicles[raw.vehicle]
    if not veh.has_break or raw.break_start_s is not None or not raw.visits:
        return
    assert veh.break_earliest_s is not None and veh.break_latest_s is not None
    dur = problem.duration_s
    loc, dep = veh.start_location, raw.start_s
    legs: list[tuple[int, int]] = []
    for rv in raw.visits:
        if rv.kind == "client":
            j = jobs[rv.ref]
            legs.append((loc, j.location))
            nxt_loc, svc = j.location, j.service_s
        else:
            f = problem.facilities[rv.ref]
            nxt_loc, svc = f.location, f.unload_s
        travel = int(dur[loc, nxt_loc])
        b = max(dep, veh.break_earliest_s)
        if b <= veh.break_latest_s and b + veh.break_s <= rv.start_s \
                and dep + travel + veh.break_s <= rv.start_s:
            raw.break_start_s = b
            return
        loc, dep = nxt_loc, rv.start_s + svc
    travel = int(dur[loc, veh.end_location])
    b = max(dep, veh.break_earliest_s)
    if b <= veh.break_latest_s:
        # last leg: the route may end later than the solver's earliest end
        raw.break_start_s = b
        raw.end_s = max(raw.end_s, dep + travel + veh.break_s, b + veh.break_s)


def assemble(problem: Problem, jobs: Sequence[Job], raw_routes: Sequence[object],
             dropped: Sequence[int], pre: Sequence[Unassigned], *, engine: str,
             wall_s: float, objective: int, stats: dict[str, object]) -> Solution:
    dropped = list(dropped)
    for rr in raw_routes:
        place_break(problem, jobs, rr)
        dropped.extend(fix_loaded_end(problem, jobs, rr))
        drop_empty_unloads(problem, jobs, rr)
        dropped.extend(fix_loaded_end(problem, jobs, rr))
    routes = [build_route(problem, jobs, rr) for rr in raw_routes]
    routes = [r for r in routes if r.client_visits]
    unassigned = list(pre)
    by_client: dict[int, tuple[dict[str, int], Reason]] = {}
    for ji in dropped:
        j = jobs[ji]
        amt, reason = by_client.get(j.client, ({}, _post_reason(problem, j)))
        for k, q in j.amount.items():
            amt[k] = amt.get(k, 0) + q
        by_client[j.client] = (amt, reason)
    for ci, (amt, reason) in sorted(by_client.items()):
        unassigned.append(Unassigned(ci, amt, reason))
    unassigned.sort(key=lambda u: u.client)
    return Solution(routes=tuple(routes), unassigned=tuple(unassigned), engine=engine,
                    wall_s=wall_s, objective=objective, stats=stats)
