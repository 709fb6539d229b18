"""Commands that run or administer the service: serve, users, worker, bench."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from logistics.cli.common import DbOpt, db_url, err, out, print_json, say
from logistics.domain import BadInput
from logistics.ops.jobs import run_worker
from logistics.ops.users import create_api_key, create_user, list_users
from logistics.persistence.db import session_scope, upgrade
from optimizer.bench import ENGINES, format_table, run_bench
from optimizer.instances import InstanceError

BENCH_FAMILIES = ("solomon", "homberger", "cvrp", "kim")


def _serve_db(db: str | None) -> None:
    """The server and the worker read the database from the environment (their
    processes and threads open their own sessions)."""
    url = db_url(db)
    if url:
        os.environ["WASTEROUTE_DB"] = url
    upgrade(url)


def serve(
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="port", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option("--workers", help="uvicorn worker processes", min=1)] = 1,
    db: DbOpt = None,
) -> None:
    """HTTP API and live dashboards / 接口与实时看板.

    Planning jobs run on `wasteroute worker` processes when WASTEROUTE_REDIS is set,
    else in a process pool inside the server. See docs/api.md for a production run.
    """
    _serve_db(db)
    err.print(f"wasteroute API on http://{host}:{port}/docs", markup=False, highlight=False)
    # keep-alive 75 s (uvicorn's default is 5 s): a busy client that reuses an idle
    # connection just as the server closes it gets a read error (seen in the load test)
    uvicorn.run("api.main:app", host=host, port=port, workers=workers, log_level="warning",
                access_log=False, timeout_keep_alive=75)


def users_add(
    name: Annotated[str, typer.Argument(help="user name")],
    role: Annotated[str, typer.Option("--role", help="admin|dispatcher|driver|viewer")],
    password: Annotated[
        str | None,
        typer.Option("--password", help="password (asked for when not given; none with --api-key)"),
    ] = None,
    vehicle: Annotated[
        str | None, typer.Option("--vehicle", help="the driver's vehicle_id (drivers only)")
    ] = None,
    api_key: Annotated[
        bool, typer.Option("--api-key", help="also make an API key (printed once)")
    ] = False,
    db: DbOpt = None,
) -> None:
    """Add an API user / 添加接口用户."""
    if password is None and not api_key:
        password = typer.prompt("password / 密码", hide_input=True, confirmation_prompt=True)
    url = db_url(db)
    upgrade(url)
    with session_scope(url) as session:
        user = create_user(session, name, role, password, vehicle)
        key = create_api_key(session, user.name) if api_key else None
    say(f"user / 用户 {name} ({role}) added / 已添加")
    if key:
        out.print(f"X-API-Key: {key}", markup=False, highlight=False, soft_wrap=True)


def users_list(db: DbOpt = None) -> None:
    """List API users / 用户列表."""
    url = db_url(db)
    upgrade(url)
    with session_scope(url) as session:
        for u in list_users(session):
            extra = f" vehicle={u.vehicle_id}" if u.vehicle_id else ""
            say(f"{u.name}\t{u.role}{extra}")


def worker(
    threads: Annotated[int, typer.Option("--threads", help="jobs run at once", min=1)] = 1,
    db: DbOpt = None,
) -> None:
    """Run planning jobs from the Redis queue (WASTEROUTE_REDIS) / 运行规划任务队列."""
    _serve_db(db)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    err.print("worker: waiting for jobs / 等待任务 (Ctrl-C stops)", markup=False)
    run_worker(stop, threads=threads)


def bench(
    instances: Annotated[
        Path, typer.Option("--instances", help="folder with the benchmark families (../shared/benchmarks)")
    ],
    family: Annotated[str, typer.Option("--family", help="solomon | homberger | cvrp | kim")],
    only: Annotated[
        str | None, typer.Option("--only", help="comma-separated instance names, e.g. C101,R101")
    ] = None,
    time_limit: Annotated[float, typer.Option("--time-limit", help="seconds per instance and engine")] = 10.0,
    engines: Annotated[
        str, typer.Option("--engines", help="comma-separated: ours, ortools_plain, pyvrp (same run)")
    ] = "ours,ortools_plain,pyvrp",
    as_json: Annotated[bool, typer.Option("--json", help="print the wasteroute.bench/1 document")] = False,
) -> None:
    """Benchmarks against best-known solutions, beside plain OR-Tools and PyVRP / 基准测试.

    Every solution is verified by an independent checker that recomputes the cost under
    the family's rounding rule (DIMACS for Solomon/Homberger)."""
    if family not in BENCH_FAMILIES:
        raise BadInput(f"--family must be one of {', '.join(BENCH_FAMILIES)} (got {family!r})")
    if not instances.is_dir():
        raise BadInput(f"--instances {instances}: not a folder")
    chosen = [e.strip() for e in engines.split(",") if e.strip()]
    unknown = [e for e in chosen if e not in ENGINES]
    if unknown or not chosen:
        raise BadInput(f"--engines: unknown {', '.join(unknown) or '(none)'}; use {', '.join(ENGINES)}")
    names = [o for o in (only or "").split(",") if o.strip()] or None
    try:
        doc = run_bench(instances, family, only=names, time_limit_s=time_limit, engines=chosen,
                        progress=lambda line: err.print(line, markup=False, highlight=False,
                                                        soft_wrap=True))
    except (InstanceError, FileNotFoundError) as exc:
        raise BadInput(str(exc)) from None
    if as_json:
        print_json(doc)
    else:
        sys.stdout.write(format_table(doc) + "\n")
