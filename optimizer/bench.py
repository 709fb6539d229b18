"""Benchmark harness: an independent route checker and ``run_bench``.

The checker recomputes cost and feasibility from the raw instance data
(:class:`optimizer.instances.Instance`) and a list of routes in ``.sol`` numbering
(0-based node index, depot left out; for ``kim`` the routes also list the facility
visits). It uses neither the engine nor the Problem/Solution types, so it is a
second opinion on both.
"""

from __future__ import annotations

import logging
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from optimizer.instances import (
    NODE_CLIENT,
    NODE_FACILITY,
    Bks,
    Instance,
    euclid,
    instance_paths,
    kim_miles,
    kim_travel_s,
    read_bks,
    read_instance,
)
from optimizer.params import SolveParams
from optimizer.problem import Problem
from optimizer.pyvrp_engine import solve_pyvrp
from optimizer.solution import Solution, load_client
from optimizer.solve import solve

log = logging.getLogger(__name__)

BENCH_FORMAT = "wasteroute.bench/1"
#: ours = solve(engine="auto"): PyVRP's HGS where it expresses every rule of the problem,
#: our OR-Tools model otherwise; ours_ortools = our OR-Tools model alone (tuned "auto"
#: strategy); ortools_plain = PATH_CHEAPEST_ARC + GLS on the same model; pyvrp = PyVRP alone
ENGINES = ("ours", "ours_ortools", "ortools_plain", "pyvrp")
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
        if any(not 0 <= c < inst.num_nodes for c in r):
            continue
        load = float(inst.demand[r].sum())
        if load > inst.capacity + EPS:
            errors.append(f"route {k}: load {load:g} > capacity {inst.capacity:g}")
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
        if any(not 0 <= c < inst.num_nodes for c in r):
            continue
        load = float(inst.demand[r].sum())
        if load > inst.capacity + EPS:
            errors.append(f"route {k}: load {load:g} > capacity {inst.capacity:g}")
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
        if any(not 0 <= c < inst.num_nodes for c in r):
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
    problem: Problem, veh: Any, locs: list[int], stops: list[Any], break_gap: int | None
) -> list[str]:
    errs: list[str] = []
    t = int(veh.shift_start_s)
    dur = problem.duration_s
    for g in range(len(locs) - 1):
        travel = int(dur[locs[g], locs[g + 1]])
        if g == break_gap:
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


# --------------------------------------------------------------------------- bench

ProgressFn = Callable[[str], None]
SolveFn = Callable[[Problem, SolveParams], Solution]


def _engine_solver(engine: str) -> tuple[SolveFn, str, str]:
    """The solve function of a bench engine, and the SolveParams engine and strategy."""
    if engine == "ours":
        return solve, "auto", "auto"
    if engine == "ours_ortools":
        return solve, "ortools", "auto"
    if engine == "ortools_plain":
        return solve, "ortools", "plain"
    if engine == "pyvrp":
        return solve_pyvrp, "pyvrp", "auto"
    raise ValueError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")


def _peak_rss_mb() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes
    return ru / (1024 * 1024) if sys.platform == "darwin" else ru / 1024


def run_one(
    inst: Instance, problem: Problem, engine: str, time_limit_s: float, bks: Bks | None,
    solution_limit: int | None = None,
) -> dict[str, Any]:
    """Solve one instance with one engine and check the result independently."""
    fn, engine_name, strategy = _engine_solver(engine)
    params = SolveParams(time_limit_s=time_limit_s, engine=engine_name, strategy=strategy,
                         num_workers=1, solution_limit=solution_limit)
    t0 = time.perf_counter()
    try:
        sol = fn(problem, params)
        error: str | None = None
    except Exception as exc:  # a failing engine must not stop the run
        log.exception("engine %s failed on %s", engine, inst.name)
        sol = None
        error = f"{type(exc).__name__}: {exc}"
    wall = time.perf_counter() - t0
    res: dict[str, Any] = {"instance": inst.name, "engine": engine}
    if sol is None:
        res.update(
            cost=None,
            gap_pct=None,
            feasible=False,
            vehicles=0,
            time_s=round(wall, 2),
            routes=[],
            error=error,
        )
        return res
    routes = solution_routes(sol, problem)
    chk = check_routes(inst, routes)
    try:
        own_errors = len(sol.check(problem))
    except Exception:  # the engine's own checker is a second opinion only
        log.exception("Solution.check failed on %s", inst.name)
        own_errors = None
    cost = round(chk.cost, 3 if inst.family == "kim" else 1)
    res.update(
        cost=cost,
        gap_pct=_gap(cost, bks.cost if bks else None) if chk.feasible else None,
        feasible=chk.feasible,
        vehicles=chk.vehicles,
        time_s=round(wall, 2),
        routes=routes,
        unassigned=len(sol.unassigned),
        solution_check_errors=own_errors,
        #: which engine actually ran (solve(engine="auto") delegates where it can)
        engine_used=sol.engine,
    )
    if not chk.feasible:
        res["errors"] = chk.errors[:10]
        res["gap_pct_infeasible"] = _gap(cost, bks.cost if bks else None)
    return res


def _gap(cost: float | None, bks: float | None) -> float | None:
    if cost is None or not bks:
        return None
    return round(100.0 * (cost - bks) / bks, 2)


def _mean(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return round(sum(vals) / len(vals), 2) if vals else None


def run_bench(
    instances_dir: str | Path,
    family: str,
    only: Sequence[str] | None = None,
    time_limit_s: float = 10,
    engines: Sequence[str] = ENGINES,
    progress: ProgressFn | None = None,
    solution_limit: int | None = None,
) -> dict[str, Any]:
    """Run the benchmark and return the ``wasteroute.bench/1`` document.

    With ``solution_limit`` every run is bounded by solutions (the same on any
    machine) and ``time_limit_s`` is only a safety bound.

    The top-level ``results`` (and ``mean_gap_pct``) are those of the first engine in
    ``engines`` (normally ``"ours"``); every result also carries ``peers``: the other
    engines' results on the same instance. ``means`` holds per-engine aggregates.
    Gaps are only counted for feasible results; ``mean_gap_pct`` is over the
    instances where the engine's result is feasible and a BKS exists.
    """
    engines = list(engines)
    if not engines:
        raise ValueError("no engine selected")
    for e in engines:
        if e not in ENGINES:
            raise ValueError(f"unknown engine {e!r}; expected one of {', '.join(ENGINES)}")
    paths = instance_paths(instances_dir, family, only)
    bks_table = read_bks(instances_dir, family)
    tracemalloc.start()
    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    per_engine: dict[str, list[dict[str, Any]]] = {e: [] for e in engines}
    for i, path in enumerate(paths, 1):
        inst = read_instance(path, family)
        problem = inst.problem()
        bks = bks_table.get(inst.name)
        runs: dict[str, dict[str, Any]] = {}
        for e in engines:
            r = run_one(inst, problem, e, time_limit_s, bks, solution_limit)
            runs[e] = r
            per_engine[e].append(r)
            if progress:
                gap = r.get("gap_pct")
                progress(
                    f"[{i}/{len(paths)}] {inst.name:<12} {e:<13} cost={r['cost']} "
                    f"gap={gap if gap is not None else '-'}% feasible={r['feasible']} "
                    f"veh={r['vehicles']} t={r['time_s']}s"
                )
        main = dict(runs[engines[0]])
        main.pop("engine", None)
        main["bks"] = bks.cost if bks else None
        if bks is not None and family == "kim":
            main["published"] = {
                "vehicles": bks.vehicles,
                "distance_miles": _num(bks.info.get("total_distance_miles")),
                "method": bks.info.get("method"),
                "status": bks.info.get("status"),
            }
        elif bks is not None:
            main["bks_vehicles"] = bks.vehicles
        main["peers"] = {e: _strip(runs[e]) for e in engines[1:]}
        results.append(main)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    means = {e: _aggregate(per_engine[e]) for e in engines}
    return {
        "format": BENCH_FORMAT,
        "family": family,
        "time_limit_s": time_limit_s,
        "engines": engines,
        "main_engine": engines[0],
        "instances_dir": str(instances_dir),
        "gap_reference": _gap_reference(family),
        "results": results,
        "mean_gap_pct": means[engines[0]]["mean_gap_pct"],
        "means": means,
        "wall_s": round(time.perf_counter() - started, 1),
        "peak_python_alloc_mb": round(peak / 2**20, 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
    }


def _num(s: str | None) -> float | None:
    try:
        return float(s) if s else None
    except ValueError:
        return None


def _strip(r: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in r.items() if k not in ("instance", "engine")}


def _aggregate(rs: list[dict[str, Any]]) -> dict[str, Any]:
    feas = [r for r in rs if r["feasible"]]
    return {
        "instances": len(rs),
        "feasible": len(feas),
        "mean_gap_pct": _mean([r["gap_pct"] for r in feas]),
        "total_cost": round(sum(r["cost"] for r in feas), 3) if feas else None,
        "total_vehicles": sum(r["vehicles"] for r in feas),
        "mean_time_s": _mean([r["time_s"] for r in rs]),
    }


def _gap_reference(family: str) -> str:
    return {
        "solomon": "bks_distance_dimacs (DIMACS: arcs floor(10 d)/10, distance only)",
        "homberger": "bks_distance_dimacs (DIMACS: arcs floor(10 d)/10, distance only)",
        "cvrp": "bks_cost_rounded_int (EUC_2D nearest integer)",
        "kim": "none: cost is Manhattan miles; published figures beside it, not a BKS",
    }[family]


def _machine() -> dict[str, Any]:
    import os
    import platform

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


def format_table(doc: dict[str, Any]) -> str:
    """A plain-text table of a bench document (one row per instance, all engines)."""
    engines: list[str] = doc["engines"]
    head = ["instance", "bks"] + [f"{e} cost/gap%/veh" for e in engines]
    rows = [head]
    for r in doc["results"]:
        runs = {engines[0]: r, **r.get("peers", {})}
        bks = r.get("bks")
        if bks is None and r.get("published"):
            p = r["published"]
            bks = f"{p.get('distance_miles')}mi/{p.get('vehicles')}v" if p.get("vehicles") else "-"
        row = [r["instance"], "-" if bks is None else str(bks)]
        for e in engines:
            x = runs[e]
            if x.get("cost") is None:
                row.append("FAILED")
                continue
            gap = x.get("gap_pct")
            mark = "" if x["feasible"] else " INFEASIBLE"
            row.append(f"{x['cost']:g}/{'-' if gap is None else gap}/{x['vehicles']}{mark}")
        rows.append(row)
    mean_row = ["mean gap %", ""] + [
        str(doc["means"][e]["mean_gap_pct"]) + f" ({doc['means'][e]['feasible']}/"
        f"{doc['means'][e]['instances']} feasible)"
        for e in engines
    ]
    rows.append(mean_row)
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(head))]
    lines = [" | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def format_markdown(doc: dict[str, Any]) -> str:
    """A Markdown table of a bench document: cost, gap and vehicles per engine."""
    engines: list[str] = doc["engines"]
    kim = doc["family"] == "kim"
    head = ["instance", "published" if kim else "BKS"]
    for e in engines:
        head += [
            f"{e} {'miles' if kim else 'cost'}",
            "veh" if kim else "gap %",
            *(["veh"] if not kim else []),
        ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in doc["results"]:
        runs = {engines[0]: r, **r.get("peers", {})}
        if kim:
            p = r.get("published") or {}
            ref = f"{p['distance_miles']} mi / {p['vehicles']} veh" if p.get("vehicles") else "-"
        else:
            ref = "-" if r.get("bks") is None else f"{r['bks']:g}"
        row = [r["instance"], ref]
        for e in engines:
            x = runs[e]
            if x.get("cost") is None:
                row += ["failed", ""] + ([""] if not kim else [])
                continue
            cost = f"{x['cost']:.1f}" if kim else f"{x['cost']:g}"
            if not x["feasible"]:
                cost += " (infeasible)"
            if kim:
                row += [cost, str(x["vehicles"])]
            else:
                gap = x.get("gap_pct")
                row += [cost, "-" if gap is None else f"{gap:.2f}", str(x["vehicles"])]
        lines.append("| " + " | ".join(row) + " |")
    means = doc["means"]
    if kim:
        row = ["total", ""]
        for e in engines:
            m = means[e]
            tot = "-" if m["total_cost"] is None else f"{m['total_cost']:.1f}"
            row += [f"{tot} ({m['feasible']}/{m['instances']} feasible)", str(m["total_vehicles"])]
    else:
        row = ["mean", ""]
        for e in engines:
            m = means[e]
            gap = "-" if m["mean_gap_pct"] is None else f"**{m['mean_gap_pct']:.2f}**"
            row += [f"{m['feasible']}/{m['instances']} feasible", gap, str(m["total_vehicles"])]
    lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)
