"""Greedy multi-trip construction: a first solution for the model.

Time-oriented nearest neighbour, one vehicle's day after another (or all at
once, the earliest clock first): the next job is the one that can start soonest
and still lets the vehicle unload and get home; an unload when nothing fits any
more; the break as soon as its window opens.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence

import numpy as np

from optimizer.jobs import Job
from optimizer.problem import Problem, Vehicle
from optimizer.routes import Stop, route_metres, served_in

#: weight of a job's slack (window end - start) against the time to reach it, so
#: that jobs whose window closes soon are taken first
URGENCY = 0.0
#: urgency weights tried by best_greedy (0 = plain soonest start)
GREEDY_URGENCIES = (0.0, 0.02, 0.05, 0.1, 0.2)


def greedy_routes(problem: Problem, jobs: Sequence[Job], vehicles: Sequence[int],
                  job_ids: Sequence[int] | None = None,
                  facility_capacity_left: Sequence[int | None] | None = None,
                  urgency: float = URGENCY,
                  parallel: bool = False,
                  ) -> list[list[Stop]]:
    """Time-oriented nearest neighbour, multi-trip: a first solution for the model.

    Builds one vehicle's day after another: next the job that can start soonest
    (and still lets the vehicle unload and get home), an unload when nothing
    fits any more, and the break as soon as its window opens. Returns per
    vehicle a sequence of ("client", position in ``job_ids``) and
    ("facility", facility index). Feasibility is re-checked by the solver.
    """
    ids = list(job_ids) if job_ids is not None else list(range(len(jobs)))
    if not ids:
        return [[] for _ in vehicles]
    dur = problem.duration_s
    sub = [jobs[i] for i in ids]
    locs = np.asarray([j.location for j in sub], dtype=np.int64)
    tw0 = np.asarray([j.tw_start_s for j in sub], dtype=np.int64)
    tw1 = np.asarray([j.tw_end_s for j in sub], dtype=np.int64)
    svc = np.asarray([j.service_s for j in sub], dtype=np.int64)
    tot = np.asarray([j.total for j in sub], dtype=np.int64)
    cats = sorted({k for j in sub for k in j.amount})
    amt = np.asarray([[j.amount.get(k, 0) for k in cats] for j in sub], dtype=np.int64)
    free = np.ones(len(sub), dtype=bool)
    facs = list(enumerate(problem.facilities))
    # facility legs needed for the return check: per facility, time from every job
    fac_locs = [f.location for _, f in facs]
    to_fac = (np.asarray(dur[np.ix_(locs, np.asarray(fac_locs, dtype=np.int64))],
                         dtype=np.int64)
              if fac_locs else np.zeros((len(sub), 0), dtype=np.int64))
    fcap: list[int | None] = (list(facility_capacity_left) if facility_capacity_left is not None
                              else [f.daily_capacity for f in problem.facilities])
    out: list[list[Stop]] = [[] for _ in vehicles]

    def build(slot: int, g: int) -> Iterator[int]:
        """One vehicle's day; yields its clock before each step."""
        v = problem.vehicles[g]
        allowed = np.asarray([g in j.vehicles for j in sub], dtype=bool)
        cap = np.asarray([v.capacities.get(k, 0) for k in cats], dtype=np.int64)
        fac_home = np.asarray([int(dur[f.location, v.end_location]) for _, f in facs],
                              dtype=np.int64)
        seq: list[Stop] = []
        t, loc = v.shift_start_s, v.start_location
        load = np.zeros(len(cats), dtype=np.int64)
        collected, stops = 0, 0
        brk_left = v.has_break
        max_coll = v.max_collected if v.max_collected is not None else 1 << 60
        max_stops = v.max_stops if v.max_stops is not None else 1 << 30

        def unload_options(where_t: np.ndarray, from_fac_rows: np.ndarray,
                           need: np.ndarray, extra: int, v: Vehicle = v,
                           fac_home: np.ndarray = fac_home) -> np.ndarray:
            """Per candidate: can it reach an open facility accepting `need` and get home."""
            ok = np.zeros(where_t.shape[0], dtype=bool)
            for fi, (_, f) in enumerate(facs):
                if not all(cats[c] in f.accepts for c in np.flatnonzero(need)):
                    continue
                st = np.maximum(where_t + from_fac_rows[:, fi] + extra, f.open_s)
                good = (st <= f.close_s - f.unload_s) & (
                    st + f.unload_s + fac_home[fi] <= v.shift_end_s)
                ok |= good
            return ok

        while True:
            yield t
            cand = free & allowed & np.all(load[None, :] + amt <= cap[None, :], axis=1)
            cand &= collected + tot <= max_coll
            if stops >= max_stops:
                cand[:] = False
            idx = np.flatnonzero(cand)
            chosen = -1
            if idx.size:
                arr = t + np.asarray(dur[loc, locs[idx]], dtype=np.int64)
                extra = 0
                take_break_now = False
                if brk_left:
                    assert v.break_earliest_s is not None and v.break_latest_s is not None
                    if t >= v.break_earliest_s:
                        take_break_now = True
                        extra = v.break_s
                st = np.maximum(arr + extra, tw0[idx])
                done = st + svc[idx]
                ok = st <= tw1[idx]
                if brk_left and not take_break_now:
                    assert v.break_latest_s is not None
                    # must not run past the latest break start without breaking
                    ok &= done <= v.break_latest_s
                later = 0 if (not brk_left or take_break_now) else v.break_s
                if problem.end_empty and fac_locs:
                    need = (load[None, :] + amt[idx]) > 0
                    ok2 = np.zeros(idx.size, dtype=bool)
                    for pat in {tuple(r) for r in need.tolist()}:
                        m = np.all(need == np.asarray(pat, dtype=bool)[None, :], axis=1)
                        ok2[m] = unload_options(done[m], to_fac[idx[m]],
                                                np.asarray(pat, dtype=bool), later)
                    ok &= ok2
                else:
                    home = np.asarray(dur[locs[idx], v.end_location], dtype=np.int64)
                    ok &= done + home + later <= v.shift_end_s
                if ok.any():
                    # soonest start, with jobs whose window closes early pulled forward
                    key = (st - t) + urgency * (tw1[idx] - st)
                    score = np.where(ok, key, np.inf)
                    chosen = int(idx[int(score.argmin())])
                    if take_break_now:
                        brk_left = False
            if chosen >= 0:
                j = chosen
                arr_t = t + int(dur[loc, locs[j]])
                if not brk_left and take_break_now:
                    arr_t = max(arr_t + v.break_s, t + v.break_s)
                    take_break_now = False
                t = max(arr_t, int(tw0[j])) + int(svc[j])
                loc = int(locs[j])
                load += amt[j]
                collected += int(tot[j])
                stops += 1
                free[j] = False
                seq.append(("client", j))
                continue
            # nothing fits before the break window closes: take the break here
            if brk_left and v.break_earliest_s is not None and v.break_latest_s is not None \
                    and t <= v.break_latest_s:
                t = max(t, v.break_earliest_s) + v.break_s
                brk_left = False
                continue
            # nothing fits: unload if loaded, else the day is over
            if load.any() and fac_locs:
                best = None
                for fi, (_, f) in enumerate(facs):
                    if not any(cats[c] in f.accepts for c in np.flatnonzero(load)):
                        continue
                    st0 = t + int(dur[loc, f.location])
                    brk_here = brk_left and v.break_earliest_s is not None and (
                        st0 + f.unload_s > (v.break_latest_s or 0) or t >= v.break_earliest_s)
                    if brk_here:
                        st0 = max(st0 + v.break_s, max(t, v.break_earliest_s or 0) + v.break_s)
                    fst = max(st0, f.open_s)
                    if fst > f.close_s - f.unload_s:
                        continue
                    if fst + f.unload_s + int(fac_home[fi]) + (
                            v.break_s if brk_left and not brk_here else 0) > v.shift_end_s:
                        continue
                    got = sum(1 for c in np.flatnonzero(load) if cats[c] in f.accepts)
                    units = int(sum(load[c] for c in range(len(cats)) if cats[c] in f.accepts))
                    room = fcap[fi]
                    if room is not None and units > room:
                        continue
                    key = (-got, fst)
                    if best is None or key < best[0]:
                        best = (key, fi, fst, brk_here)
                if best is not None:
                    _, fi, fst, brk_here = best
                    f = problem.facilities[fi]
                    if brk_here:
                        brk_left = False
                    seq.append(("facility", fi))
                    room = fcap[fi]
                    if room is not None:
                        fcap[fi] = room - int(sum(load[c] for c in range(len(cats))
                                                  if cats[c] in f.accepts))
                    t = fst + f.unload_s
                    loc = f.location
                    for c in range(len(cats)):
                        if cats[c] in f.accepts:
                            load[c] = 0
                    if load.any():
                        continue
                    if stops >= max_stops or collected >= max_coll:
                        break
                    continue
            break
        out[slot] = seq

    if not parallel:
        for slot, g in enumerate(vehicles):
            for _ in build(slot, g):
                pass
        return out
    # parallel: the vehicle whose clock is earliest takes the next step, so that
    # jobs with early windows are shared out over the fleet
    heap: list[tuple[int, int, Iterator[int]]] = []
    for slot, g in enumerate(vehicles):
        gen = build(slot, g)
        first = next(gen, None)
        if first is not None:
            heapq.heappush(heap, (first, slot, gen))
    while heap:
        _, slot, gen = heapq.heappop(heap)
        nxt = next(gen, None)
        if nxt is not None:
            heapq.heappush(heap, (nxt, slot, gen))
    return out


def best_greedy(problem: Problem, jobs: Sequence[Job], vehicles: Sequence[int],
                facility_capacity_left: Sequence[int | None] | None = None,
                ) -> list[list[Stop]]:
    """The greedy construction that serves the most jobs over a few urgency weights.

    One weight never suits every day: without it the jobs with early-closing
    windows are left to the last vehicles; with a large one vehicles cross the
    area for them. Each run costs a fraction of a second.
    """
    best: tuple[tuple[int, int], list[list[Stop]]] | None = None
    for u in GREEDY_URGENCIES:
        seqs = greedy_routes(problem, jobs, vehicles,
                             facility_capacity_left=facility_capacity_left, urgency=u)
        served = served_in(seqs)
        metres = sum(route_metres(problem, jobs, g, s)
                     for g, s in zip(vehicles, seqs, strict=True))
        key = (-served, metres)
        if best is None or key < best[0]:
            best = (key, seqs)
        if served == len(jobs):
            break
    assert best is not None
    return best[1]
