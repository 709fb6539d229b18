"""API load test: N concurrent clients read plans and metrics for a while.

Starts nothing itself: run `wasteroute serve` first (see docs/benchmarks.md, command
A1), with a planned day in its database and a user that may read plans and
metrics. Traffic goes only to the given base URL on this machine (127.0.0.1); the
run is bounded in time and stops by itself.

    python benchmarks/api_load.py --base http://127.0.0.1:8000 --user bench \
        --password bench-pass-1 --clients 200 --seconds 60 --date 2021-01-01

Each client loops over: the plans of the day, the plan, its routes with all stops,
the metrics of the month up to the day, and the metrics of the year up to the day
(``--metrics-from`` .. ``--date``, default one year back). Every answer must be 200
within the client timeout (``--timeout``, default 30 s); anything else is an error.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import sys
import time
from collections import Counter
from urllib.parse import urlparse

import httpx


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = max(0, min(len(values) - 1, int(round(q / 100 * (len(values) - 1)))))
    return values[k]


async def _client(i: int, base: str, headers: dict[str, str], paths: list[str],
                  until: float, lat: list[float], errors: Counter[str],
                  http: httpx.AsyncClient, per_path: dict[str, list[float]]) -> None:
    n = i
    while time.monotonic() < until:
        path = paths[n % len(paths)]
        n += 1
        t0 = time.perf_counter()
        try:
            r = await http.get(base + path, headers=headers)
            dt_s = time.perf_counter() - t0
            if r.status_code != 200:
                errors[f"HTTP {r.status_code} {path}"] += 1
            else:
                lat.append(dt_s)
                per_path[path].append(dt_s)
        except httpx.HTTPError as exc:
            errors[type(exc).__name__] += 1


async def run(args: argparse.Namespace) -> dict[str, object]:
    host = urlparse(args.base).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("this load test only targets this machine (127.0.0.1)")
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    async with httpx.AsyncClient(timeout=args.timeout, limits=limits) as http:
        r = await http.post(args.base + "/token",
                            data={"username": args.user, "password": args.password})
        r.raise_for_status()
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        plans = (await http.get(args.base + f"/plans?date={args.date}&status=current",
                                headers=headers)).json()
        if not plans["data"]:
            raise SystemExit(f"no current plan on {args.date}; plan it first")
        plan_id = plans["data"][0]["plan_id"]
        paths = [
            f"/plans?date={args.date}",
            f"/plans/{plan_id}",
            f"/plans/{plan_id}/routes",
            f"/metrics?from={args.date[:8]}01&to={args.date}",
            f"/metrics?from={args.metrics_from}&to={args.date}",
        ]
        per_path: dict[str, list[float]] = {p: [] for p in paths}
        lat: list[float] = []
        errors: Counter[str] = Counter()
        t0 = time.monotonic()
        until = t0 + args.seconds
        await asyncio.gather(*(
            _client(i, args.base, headers, paths, until, lat, errors, http, per_path)
            for i in range(args.clients)
        ))
        wall = time.monotonic() - t0
    ms = [x * 1000 for x in lat]
    return {
        "clients": args.clients,
        "seconds": round(wall, 1),
        "requests_ok": len(lat),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "rps": round(len(lat) / wall, 1),
        "p50_ms": round(_percentile(ms, 50), 1),
        "p95_ms": round(_percentile(ms, 95), 1),
        "p99_ms": round(_percentile(ms, 99), 1),
        "mean_ms": round(statistics.fmean(ms), 1) if ms else None,
        "timeout_s": args.timeout,
        "paths": {p: {"ok": len(v), "p50_ms": round(_percentile([x * 1000 for x in v], 50), 1),
                      "p99_ms": round(_percentile([x * 1000 for x in v], 99), 1)}
                  for p, v in per_path.items()},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default="http://127.0.0.1:8000")
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--date", required=True, help="a planned day YYYY-MM-DD")
    p.add_argument("--metrics-from", default=None,
                   help="first day of the long metrics period (default: one year before --date)")
    p.add_argument("--timeout", type=float, default=30.0, help="client timeout per request, s")
    args = p.parse_args(argv)
    if args.seconds > 600:
        raise SystemExit("--seconds is capped at 600")
    if args.metrics_from is None:
        day = dt.date.fromisoformat(args.date)
        args.metrics_from = (day - dt.timedelta(days=365)).isoformat()
    result = asyncio.run(run(args))
    sys.stdout.write(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
