"""A city day planned by regions on the planning cluster, with 1 and 2 workers.

    python benchmarks/city_day.py --clients 50000 --workers 1,2 --json out.json

The city (:func:`generated_city`): ``--districts`` generated county days
(``optimizer.generate.generate_county_day``: clustered clients, 2-4 compartment
categories, multi-trip vehicles from their own depots, facilities with hours,
time windows, breaks) laid side by side as districts of one city, in WGS-84
degrees, measured by haversine x 1.3 at 25 km/h without any full matrix
(``optimizer.city.CityProblem``). Each run plans the same day with the product's
defaults (``SolveParams()``) on a local cluster of N workers and reports wall time,
clients served, vehicles, km, the peak memory of all processes (this one and the
cluster's workers, sampled every 0.5 s) and both checkers: ``Solution.check`` and the
independent ``optimizer.checker.check_problem_solution``.

``--product DIR`` plans the demo city through the product instead: ``wasteroute demo
--scale city:N`` into ``DIR``, then ``wasteroute plan --cluster local:W`` for each W
(wall time, CPU time and peak memory of the command and all its processes; served,
trucks and km from the plan document; ``rule_problems`` = breaks found by
``Solution.check``; ``plan_checker_problems`` = those found by the independent plan
checker of the tests, which reads the world straight from the database).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from _common import git_commit

from optimizer.checker import check_problem_solution
from optimizer.city import CityProblem, city_problem
from optimizer.distance import Haversine
from optimizer.generate import generate_county_day
from optimizer.params import SolveParams
from optimizer.problem import Client, Facility, Vehicle
from optimizer.solve import solve

#: the city lies around here (a prefecture seat in Henan)
CENTRE = (113.65, 34.76)
M_PER_DEG = 111_195.0


def generated_city(n_clients: int, districts: int = 6, seed: int = 0,
                   area_km: float = 30.0) -> CityProblem:
    """``districts`` generated districts of ``area_km`` side by side (3 per row)."""
    lon0, lat0 = CENTRE
    cos0 = math.cos(math.radians(lat0))
    points: list[tuple[float, float]] = []
    clients: list[Client] = []
    vehicles: list[Vehicle] = []
    facilities: list[Facility] = []
    per = [n_clients // districts + (1 if d < n_clients % districts else 0)
           for d in range(districts)]
    for d in range(districts):
        p = generate_county_day(per[d], seed + d, n_categories=4, area_km=area_km,
                                n_depots=max(2, per[d] // 2500))
        assert p.extra is not None
        xy = np.asarray(p.extra["coords"], dtype=float)
        ox, oy = (d % 3) * area_km * 1000.0, (d // 3) * area_km * 1000.0
        base = len(points)
        for x, y in xy:
            points.append((lon0 + (x + ox) / (M_PER_DEG * cos0), lat0 + (y + oy) / M_PER_DEG))
        clients += [replace(c, location=c.location + base, label=f"D{d + 1}-{c.label}")
                    for c in p.clients]
        vehicles += [replace(v, start_location=v.start_location + base,
                             end_location=v.end_location + base, label=f"D{d + 1}-{v.label}")
                     for v in p.vehicles]
        facilities += [replace(f, location=f.location + base, label=f"D{d + 1}-{f.label}")
                       for f in p.facilities]
    return city_problem(points, Haversine(1.3, 25.0), clients=clients, vehicles=vehicles,
                        facilities=facilities, name=f"city of {n_clients} clients")


class PeakMemory:
    """Peak resident memory of this process and all its children, sampled; with the
    CPU seconds they used meanwhile (``cpu_s``: each process's last sample, so a child
    that ends between two samples loses at most ``every_s`` of it)."""

    def __init__(self, every_s: float = 0.5) -> None:
        self.peak = 0
        self.every_s = every_s
        self._cpu: dict[int, float] = {}
        self._cpu0 = self._cpu_of(psutil.Process())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _cpu_of(proc: psutil.Process) -> float:
        t = proc.cpu_times()
        return float(t.user + t.system)

    @property
    def cpu_s(self) -> float:
        return sum(self._cpu.values()) - self._cpu0

    def _sample(self) -> int:
        me = psutil.Process()
        total = 0
        for proc in [me, *me.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
                self._cpu[proc.pid] = self._cpu_of(proc)
            except psutil.Error:
                continue
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self.every_s)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._sample())


def run_one(problem: CityProblem, workers: int, params: SolveParams) -> dict[str, Any]:
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        sol = solve(problem, replace(params, cluster=f"local:{workers}"))
        wall = time.perf_counter() - t0
    own = sol.check(problem)
    indep = check_problem_solution(problem, sol)
    n = len(problem.clients)
    served = n - len({u.client for u in sol.unassigned})
    stats = dict(sol.stats)
    return {
        "workers": workers, "wall_s": round(wall, 1), "cpu_s": round(mem.cpu_s, 1),
        "clients": n, "served": served,
        "served_share": round(served / n, 4), "vehicles": sol.vehicles_used,
        "vehicles_available": len(problem.vehicles), "km": round(sol.distance_m / 1000, 1),
        "peak_memory_gb": round(mem.peak / 1e9, 2),
        "solution_check_errors": len(own), "independent_check_feasible": indep.feasible,
        "independent_check_errors": indep.errors[:5],
        "regions": stats.get("regions"), "regions_s": stats.get("regions_s"),
        "left_out_before_repair": stats.get("left_out_before_repair"),
        "repair_rounds": stats.get("repair_rounds"),
    }


def run_product(out_dir: Path, workers: list[int], points: int) -> dict[str, Any]:
    """The demo city through the product: ``wasteroute demo --scale city`` (generate,
    write, import), then ``wasteroute plan`` with its defaults on N local workers; wall
    time and peak memory of the command and all its processes."""
    # the tests' independent plan checker (reads the world from the database itself)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.plan_checker import check_plan

    exe = str(Path(sys.executable).with_name("wasteroute"))
    db = f"sqlite:///{(out_dir / 'wasteroute.db').resolve()}"
    t0 = time.perf_counter()
    subprocess.run([exe, "demo", "--scale", f"city:{points}", "--out", str(out_dir),
                    "--time-limit", "0"], check=True, stdout=subprocess.DEVNULL)
    demo_s = time.perf_counter() - t0
    rows = []
    for w in workers:
        plan = out_dir / f"plan-{w}.json"
        with PeakMemory() as mem:
            t0 = time.perf_counter()
            subprocess.run([exe, "plan", "--date", "2021-01-01", "--db", db, "--out", str(plan),
                            "--cluster", f"local:{w}"], check=True, stdout=subprocess.DEVNULL)
            wall = time.perf_counter() - t0
        doc = json.loads(plan.read_text(encoding="utf-8"))
        s = doc["summary"]
        problems = check_plan(doc, db)
        row = {"workers": w, "wall_s": round(wall, 1), "cpu_s": round(mem.cpu_s, 1),
               "points_due": s["points_due"],
               "served": s["points_served"],
               "served_share": round(s["points_served"] / s["points_due"], 4),
               "vehicles": s["vehicles_used"], "km": s["distance_km"],
               "peak_memory_gb": round(mem.peak / 1e9, 2),
               "rule_problems": doc["solver"].get("rule_problems") or 0,
               "plan_checker_problems": len(problems),
               "plan_checker_first": [str(p) for p in problems[:3]],
               "solver_wall_s": doc["solver"]["wall_s"]}
        print(json.dumps(row), flush=True)  # noqa: T201 - a benchmark script
        rows.append(row)
    return {"demo_s": round(demo_s, 1), "rows": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=50_000)
    ap.add_argument("--districts", type=int, default=6)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--time-limit", type=float, default=None,
                    help="SolveParams.time_limit_s (default: the product's default)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--product", type=Path, default=None, metavar="DIR",
                    help="plan the demo city through wasteroute demo / plan in DIR instead")
    args = ap.parse_args(argv)
    workers = [int(x) for x in args.workers.split(",")]
    if args.product is not None:
        res = run_product(args.product, workers, args.clients)
        doc = {"format": "wasteroute.bench-city/1", "commit": git_commit(),
               "when": datetime.now(UTC).isoformat(timespec="seconds"),
               "machine": {"cpus": psutil.cpu_count(), "python": platform.python_version()},
               "command": " ".join([Path(sys.executable).name, *sys.argv]),
               "through": "wasteroute demo --scale city + wasteroute plan", **res}
        if args.json:
            args.json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        return 0
    t0 = time.perf_counter()
    problem = generated_city(args.clients, args.districts, args.seed)
    build_s = time.perf_counter() - t0
    params = SolveParams() if args.time_limit is None else SolveParams(
        time_limit_s=args.time_limit)
    rows = []
    for w in workers:
        row = run_one(problem, w, params)
        rows.append(row)
        print(json.dumps(row), flush=True)  # noqa: T201 - a benchmark script
    doc = {"format": "wasteroute.bench-city/1", "commit": git_commit(),
           "when": datetime.now(UTC).isoformat(timespec="seconds"),
           "machine": {"cpus": psutil.cpu_count(), "python": platform.python_version()},
           "command": " ".join([Path(sys.executable).name, *sys.argv]),
           "city": {"clients": args.clients, "districts": args.districts, "seed": args.seed,
                    "vehicles": len(problem.vehicles), "facilities": len(problem.facilities),
                    "locations": problem.num_locations, "build_s": round(build_s, 1)},
           "time_limit_s": params.time_limit_s, "region_size": params.region_size,
           "region_s_per_visit": params.region_s_per_visit, "rows": rows}
    if len(rows) >= 2 and rows[-1]["wall_s"]:
        doc["speedup"] = round(rows[0]["wall_s"] / rows[-1]["wall_s"], 2)
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
