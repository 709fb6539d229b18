"""Login flood: does a signed-in dispatcher's ``GET /plans`` stay fast while many
anonymous clients post wrong passwords?

Starts a local ``wasteroute serve`` on 127.0.0.1 (its own SQLite database in a
temporary folder, unless ``--db`` is given) with a dispatcher user, then

1. idle: the dispatcher alone reads ``GET /plans`` for ``--idle-seconds``;
2. flood: ``--clients`` anonymous clients post wrong passwords to ``POST /token``
   (random and real user names) for ``--seconds`` while the dispatcher keeps reading.

Prints the dispatcher's p50/p95 in both phases, their ratio and the flood's answers
by status. Traffic goes only to 127.0.0.1; the run is bounded in time and stops the
server it started. ``--no-throttle`` raises the sign-in limits so that every guess
reaches the (bounded) Argon2 executor: the worst case for the other endpoints.

    python benchmarks/login_flood.py --clients 50 --seconds 30
    python benchmarks/login_flood.py --clients 50 --seconds 30 --no-throttle
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import multiprocessing.queues
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from _common import git_commit

HOST = "127.0.0.1"
USER, PASSWORD = "bench-dispatcher", "bench-pass-1"


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[max(0, min(len(values) - 1, int(round(q / 100 * (len(values) - 1)))))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _wasteroute() -> list[str]:
    return [sys.executable, "-m", "logistics.cli"]


async def _wait_up(base: str, deadline_s: float = 60.0) -> None:
    until = time.monotonic() + deadline_s
    async with httpx.AsyncClient(timeout=2.0) as http:
        while time.monotonic() < until:
            try:
                if (await http.get(base + "/login")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit(f"the server at {base} did not start within {deadline_s:.0f} s")


async def _reader(http: httpx.AsyncClient, base: str, headers: dict[str, str], until: float,
                  lat: list[float], errors: Counter[str]) -> None:
    while time.monotonic() < until:
        t0 = time.perf_counter()
        try:
            r = await http.get(base + "/plans", headers=headers)
        except httpx.HTTPError as exc:
            errors[type(exc).__name__] += 1
            continue
        if r.status_code == 200:
            lat.append(time.perf_counter() - t0)
        else:
            errors[f"HTTP {r.status_code}"] += 1


async def _attacker(i: int, http: httpx.AsyncClient, base: str, until: float,
                    answers: Counter[str]) -> None:
    n = 0
    while time.monotonic() < until:
        name = USER if n % 3 == 0 else f"guess-{i}-{n}"
        n += 1
        try:
            r = await http.post(base + "/token",
                                data={"username": name, "password": f"wrong-{i}-{n}"})
            answers[str(r.status_code)] += 1
        except httpx.HTTPError as exc:
            answers[type(exc).__name__] += 1


async def _flood(base: str, clients: int, seconds: float) -> Counter[str]:
    answers: Counter[str] = Counter()
    until = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients + 10)
    async with httpx.AsyncClient(timeout=30.0, limits=limits) as http:
        await asyncio.gather(*(_attacker(i, http, base, until, answers)
                               for i in range(clients)))
    return answers


def _flood_process(base: str, clients: int, seconds: float,
                   out: multiprocessing.queues.Queue[dict[str, int]], ready: Any) -> None:
    ready.set()
    out.put(dict(asyncio.run(_flood(base, clients, seconds))))


async def measure(base: str, clients: int, seconds: float, idle_s: float) -> dict[str, object]:
    """The dispatcher reads in this process; the attackers run in a process of their
    own (as they would on other machines), so the time their answers take on this
    client's event loop is not counted as the dispatcher's latency."""
    async with httpx.AsyncClient(timeout=30.0) as http:
        r = await http.post(base + "/token", data={"username": USER, "password": PASSWORD})
        r.raise_for_status()
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        idle: list[float] = []
        errors: Counter[str] = Counter()
        await _reader(http, base, headers, time.monotonic() + idle_s, idle, errors)
        flood: list[float] = []
        ctx = multiprocessing.get_context("spawn")
        results: multiprocessing.queues.Queue[dict[str, int]] = ctx.Queue()
        ready = ctx.Event()
        attackers = ctx.Process(target=_flood_process,
                                args=(base, clients, seconds, results, ready))
        attackers.start()
        await asyncio.to_thread(ready.wait, 60)  # its start-up is not part of the flood
        await asyncio.sleep(0.5)
        await _reader(http, base, headers, time.monotonic() + seconds - 1.0, flood, errors)
        answers = Counter(await asyncio.to_thread(results.get, True, seconds + 60))
        attackers.join(30)
    idle_p95, flood_p95 = _percentile(idle, 95), _percentile(flood, 95)
    return {
        "clients": clients, "seconds": seconds,
        "idle": {"requests": len(idle), "p50_ms": round(_percentile(idle, 50) * 1000, 2),
                 "p95_ms": round(idle_p95 * 1000, 2)},
        "flood": {"requests": len(flood), "p50_ms": round(_percentile(flood, 50) * 1000, 2),
                  "p95_ms": round(flood_p95 * 1000, 2)},
        "p95_ratio": round(flood_p95 / idle_p95, 2) if idle_p95 else None,
        "login_answers": dict(answers), "reader_errors": dict(errors),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=30.0, help="length of the flood (max 120)")
    ap.add_argument("--idle-seconds", type=float, default=10.0)
    ap.add_argument("--db", help="database URL (default: a new SQLite file)")
    ap.add_argument("--no-throttle", action="store_true",
                    help="raise the sign-in limits: every guess is hashed")
    args = ap.parse_args()
    seconds = min(max(args.seconds, 1.0), 120.0)
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or f"sqlite:///{Path(tmp) / 'flood.db'}"
        env = {**os.environ, "WASTEROUTE_DB": db}
        env.pop("WASTEROUTE_REDIS", None)
        if args.no_throttle:
            env["WASTEROUTE_LOGIN_LIMIT_ACCOUNT"] = "1000000/minute"
            env["WASTEROUTE_LOGIN_LIMIT_ADDRESS"] = "1000000/minute"
        subprocess.run([*_wasteroute(), "users", "add", USER, "--role", "dispatcher",
                        "--password-stdin"], input=f"{PASSWORD}\n".encode(), env=env,
                       check=True, capture_output=True)
        port = _free_port()
        base = f"http://{HOST}:{port}"
        server = subprocess.Popen([*_wasteroute(), "serve", "--host", HOST, "--port", str(port)],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            asyncio.run(_wait_up(base))
            result = asyncio.run(measure(base, args.clients, seconds, args.idle_seconds))
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
    result["throttle"] = not args.no_throttle
    result["commit"] = git_commit()
    print(json.dumps(result, indent=2))
    print(f"GET /plans p95: idle {result['idle']['p95_ms']} ms "  # type: ignore[index]
          f"-> flood {result['flood']['p95_ms']} ms (x{result['p95_ratio']})",  # type: ignore[index]
          file=sys.stderr)


if __name__ == "__main__":
    main()
