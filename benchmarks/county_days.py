"""Synthetic county days: our solve() against PyVRP references on the same matrices.

    python benchmarks/county_days.py --sizes 400,800,1500 --seeds 21,22 --engines ours,reference \
        --time-limit 60 --json out.json

Each day comes from ``optimizer.generate.generate_county_day`` (clustered clients,
2-4 compartment categories, multi-compartment vehicles, facilities with hours that
accept subsets, time windows, breaks). PyVRP gets the rules its model can express
(``optimizer.pyvrp_engine``; breaks are inserted afterwards); ``reference`` is the
cost-aware PyVRP script of ``benchmarks/pyvrp_reference.py`` whose plans keep every
rule. Each row reports the bureau's cost (fixed cost per truck used + cost per km).
Every result is
checked twice: by ``Solution.check`` (the engine package's checker) and by
``optimizer.bench.check_problem_solution`` (recomputes the schedule from the visit
order alone).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import git_commit
from pyvrp_reference import bureau_cost, solve_reference

from optimizer.bench import check_problem_solution
from optimizer.generate import generate_county_day
from optimizer.params import SolveParams
from optimizer.pyvrp_engine import solve_pyvrp, unsupported_rules
from optimizer.solve import solve

ENGINES = {
    # the product defaults, as `wasteroute plan` runs them
    "ours": lambda p, t: solve(p, SolveParams(time_limit_s=t)),
    # each engine of ours alone (optimizer.portfolio)
    "ortools": lambda p, t: solve(p, SolveParams(time_limit_s=t, engines="ortools")),
    "hgs": lambda p, t: solve(p, SolveParams(time_limit_s=t, engines="hgs")),
    "pyvrp": lambda p, t: solve_pyvrp(p, SolveParams(time_limit_s=t, engine="pyvrp")),
    "reference": lambda p, t: solve_reference(p, t),
}


def run(sizes: list[int], seeds: list[int], time_limit_s: float,
        engines: list[str]) -> dict[str, Any]:
    commit = git_commit()
    rows: list[dict[str, Any]] = []
    for n, seed in ((n, s) for s in seeds for n in sizes):
        problem = generate_county_day(n, seed)
        for name in engines:
            t0, cpu0 = time.perf_counter(), _cpu_s()
            try:
                sol = ENGINES[name](problem, time_limit_s)
            except Exception as exc:  # report, keep going
                logging.exception("%s failed on %d clients", name, n)
                rows.append({"clients": n, "seed": seed, "engine": name, "error": repr(exc)})
                continue
            wall, cpu = time.perf_counter() - t0, _cpu_s() - cpu0
            own = sol.check(problem)
            mine = check_problem_solution(problem, sol)
            served = len(problem.clients) - len(sol.unassigned)
            rows.append(
                {
                    "clients": n,
                    "seed": seed,
                    "engine": name,
                    "won": sol.engine,
                    "categories": len(problem.categories),
                    "vehicles_available": len(problem.vehicles),
                    "facilities": len(problem.facilities),
                    "cost": round(bureau_cost(problem, sol), 1),
                    "km": round(sol.distance_m / 1000, 1),
                    "vehicles": sol.vehicles_used,
                    "served": served,
                    "served_share": round(served / len(problem.clients), 4),
                    "unassigned_reasons": _count(str(u.reason) for u in sol.unassigned),
                    "solution_check_errors": len(own),
                    "independent_check_feasible": mine.feasible,
                    "independent_check_errors": mine.errors[:5],
                    "independent_km": round(mine.cost, 1),
                    "wall_s": round(wall, 1),
                    "cpu_s": round(cpu, 1),
                    "dropped_rules": unsupported_rules(problem) if name == "pyvrp" else [],
                    # both engines of ours (optimizer.portfolio): cost and jobs left out
                    "engines": {k: v for k, v in sol.stats.items()
                                if k.startswith(("cost_", "dropped_", "hgs_", "elim"))},
                    "loadavg": _loadavg(),
                }
            )
            print(_line(rows[-1]), file=sys.stderr, flush=True)
    return {
        "format": "wasteroute.countydays/1",
        "seeds": seeds,
        "time_limit_s": time_limit_s,
        "rows": rows,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "commit": commit,
    }


def _cpu_s() -> float:
    """CPU seconds of this process and of its finished children (the HGS child)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _loadavg() -> str:
    """The 1/5/15-minute load averages when the row ended (timings on a shared machine)."""
    try:
        return " ".join(Path("/proc/loadavg").read_text(encoding="utf-8").split()[:3])
    except OSError:
        return ""


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in items:
        out[i] = out.get(i, 0) + 1
    return out


def _line(r: dict[str, Any]) -> str:
    if "error" in r:
        return f"{r['clients']:>5} {r['engine']:<6} ERROR {r['error']}"
    return (
        f"{r['clients']:>5} s{r['seed']:<3} {r['engine']:<9} cost={r['cost']:<10} km={r['km']:<8} veh={r['vehicles']}/"
        f"{r['vehicles_available']} served={r['served_share']:.1%} "
        f"check_errors={r['solution_check_errors']} "
        f"independent={'ok' if r['independent_check_feasible'] else 'FAIL'} t={r['wall_s']}s "
        f"cpu={r['cpu_s']}s"
    )


def table(doc: dict[str, Any]) -> str:
    head = ("| clients | seed | engine | cost | km | vehicles used/avail | served |"
            " Solution.check | independent check | wall s | CPU s |")
    lines = [head, "|" + "---|" * 11]
    for r in doc["rows"]:
        if "error" in r:
            lines.append(f"| {r['clients']} | {r['seed']} | {r['engine']} | error: {r['error']} |"
                         " | | | | | | |")
            continue
        lines.append(
            f"| {r['clients']} | {r['seed']} | {r['engine']} | {r['cost']} | {r['km']} | "
            f"{r['vehicles']}/"
            f"{r['vehicles_available']} | {r['served_share']:.1%} | "
            f"{'ok' if r['solution_check_errors'] == 0 else str(r['solution_check_errors']) + ' errors'} | "
            f"{'ok' if r['independent_check_feasible'] else 'FAIL'} | {r['wall_s']} | "
            f"{r['cpu_s']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="400,800,1500")
    ap.add_argument("--seeds", default="1", help="comma-separated generator seeds")
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per engine and day")
    ap.add_argument("--engines", default="ours,reference",
                    help="ours, reference, ortools, hgs, pyvrp")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    doc = run(
        [int(s) for s in args.sizes.split(",") if s.strip()],
        [int(s) for s in args.seeds.split(",") if s.strip()],
        args.time_limit,
        [e.strip() for e in args.engines.split(",") if e.strip()],
    )
    doc["command"] = "python benchmarks/county_days.py " + " ".join(argv or sys.argv[1:])
    if args.json:
        args.json.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    print(table(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
