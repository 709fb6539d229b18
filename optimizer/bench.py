"""Benchmark harness: ``run_bench`` solves instances with each engine and checks every
result with the independent checker (:mod:`optimizer.checker`)."""

from __future__ import annotations

import logging
import os
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from optimizer.checker import CheckResult, check_problem_solution, check_routes, solution_routes
from optimizer.instances import Bks, Instance, instance_paths, read_bks, read_instance
from optimizer.params import SolveParams
from optimizer.problem import Problem
from optimizer.pyvrp_engine import solve_pyvrp
from optimizer.solution import Solution
from optimizer.solve import solve

log = logging.getLogger(__name__)

#: the checker's names, as callers of the harness know them
__all__ = [
    "BENCH_FORMAT", "ENGINES", "CheckResult", "check_problem_solution", "check_routes",
    "format_markdown", "format_table", "run_bench", "run_one", "solution_routes",
]

BENCH_FORMAT = "wasteroute.bench/1"
#: ours = solve(engine="auto"): PyVRP's HGS where it expresses every rule of the problem,
#: our OR-Tools model otherwise; ours_ortools = our OR-Tools model alone (tuned "auto"
#: strategy); ortools_plain = PATH_CHEAPEST_ARC + GLS on the same model; pyvrp = PyVRP alone
ENGINES = ("ours", "ours_ortools", "ortools_plain", "pyvrp")


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
    # "ours" is the product's default (both cores); the OR-Tools engines run that path
    # alone (no PyVRP process beside it)
    params = SolveParams(time_limit_s=time_limit_s, engine=engine_name, strategy=strategy,
                         num_workers=1, solution_limit=solution_limit,
                         engines="ortools" if engine_name == "ortools" else "parallel")
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
        # relative to the working folder: a results file names no machine's paths
        "instances_dir": os.path.relpath(instances_dir),
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
