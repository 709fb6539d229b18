"""Commands that run or administer the service: serve, users, worker, bench."""

from __future__ import annotations

import ipaddress
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from logistics.cli.common import DbOpt, db_url, err, migrated_session, out, print_json, say
from logistics.domain import BadInput
from logistics.persistence.db import upgrade
from logistics.settings import MIN_SECRET_BYTES, token_secret_env

BENCH_FAMILIES = ("solomon", "homberger", "cvrp", "kim")


def _serve_db(db: str | None) -> None:
    """The server and the worker read the database from the environment (their
    processes and threads open their own sessions)."""
    url = db_url(db)
    if url:
        os.environ["WASTEROUTE_DB"] = url
    upgrade(url)


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may be reached from elsewhere


def check_serve_secret(host: str) -> None:
    """A server reachable from other machines signs tokens with a secret of its own
    (WASTEROUTE_SECRET, at least 32 bytes); else it does not start (exit 2)."""
    if is_loopback(host):
        return
    value = token_secret_env() or ""
    if len(value.encode("utf-8")) < MIN_SECRET_BYTES:
        err.print(f"serve --host {host}: set WASTEROUTE_SECRET to a random secret of at least "
                  f"{MIN_SECRET_BYTES} bytes to serve beyond this machine (e.g. python -c "
                  "'import secrets; print(secrets.token_urlsafe(48))') / 对外监听须设置 "
                  f"WASTEROUTE_SECRET（至少 {MIN_SECRET_BYTES} 字节的随机密钥）",
                  markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2)


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
    import uvicorn

    check_serve_secret(host)
    _serve_db(db)
    err.print(f"wasteroute API on http://{host}:{port}/docs", markup=False, highlight=False)
    # keep-alive 75 s (uvicorn's default is 5 s): a busy client that reuses an idle
    # connection just as the server closes it gets a read error (seen in the load test)
    uvicorn.run("api.main:app", host=host, port=port, workers=workers, log_level="warning",
                access_log=False, timeout_keep_alive=75)


def users_add(
    name: Annotated[str, typer.Argument(help="user name")],
    role: Annotated[str, typer.Option("--role", help="admin|dispatcher|driver|viewer")],
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin",
                     help="read the password from the first line of stdin (scripts); "
                          "else it is asked for twice, or none with --api-key"),
    ] = False,
    vehicle: Annotated[
        str | None, typer.Option("--vehicle", help="the driver's vehicle_id (drivers only)")
    ] = None,
    api_key: Annotated[
        bool, typer.Option("--api-key", help="also make an API key (printed once)")
    ] = False,
    db: DbOpt = None,
) -> None:
    """Add an API user / 添加接口用户.

    The password is never an argument (other users of the machine see arguments):
    it is asked for with confirmation, or read from stdin with --password-stdin."""
    from logistics.ops.users import create_api_key, create_user

    password: str | None = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif not api_key:
        password = typer.prompt("password / 密码", hide_input=True, confirmation_prompt=True)
    with migrated_session(db) as session:
        user = create_user(session, name, role, password, vehicle)
        key = create_api_key(session, user.name) if api_key else None
    say(f"user / 用户 {name} ({role}) added / 已添加")
    if key:
        out.print(f"X-API-Key: {key}", markup=False, highlight=False, soft_wrap=True)


def users_list(db: DbOpt = None) -> None:
    """List API users / 用户列表."""
    from logistics.ops.users import list_users

    with migrated_session(db) as session:
        for u in list_users(session):
            extra = f" vehicle={u.vehicle_id}" if u.vehicle_id else ""
            say(f"{u.name}\t{u.role}{extra}")


def users_deactivate(
    name: Annotated[str, typer.Argument(help="user name")],
    activate: Annotated[bool, typer.Option("--activate", help="reactivate instead")] = False,
    db: DbOpt = None,
) -> None:
    """Deactivate a user (tokens, cookies, API keys stop working) / 停用用户.

    Takes effect at once in this database; a running API process notices within its
    cache time (10 s)."""
    from logistics.ops.users import set_active

    with migrated_session(db) as session:
        set_active(session, name, activate)
    say(f"user / 用户 {name} " + ("activated / 已启用" if activate else "deactivated / 已停用"))


def users_passwd(
    name: Annotated[str, typer.Argument(help="user name")],
    db: DbOpt = None,
) -> None:
    """Set a user's password, asked for (or read from stdin), never an argument / 修改密码.

    The user's earlier tokens and login cookies stop working."""
    from logistics.ops.users import set_password

    if sys.stdin.isatty():
        password = typer.prompt("new password / 新密码", hide_input=True,
                                confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    with migrated_session(db) as session:
        set_password(session, name, password)
    say(f"password of / 密码已修改: {name}")


def users_keys(
    name: Annotated[str, typer.Argument(help="user name")],
    db: DbOpt = None,
) -> None:
    """List a user's API keys by id (the keys themselves are not kept) / API 密钥列表."""
    from logistics.ops.users import list_api_keys

    with migrated_session(db) as session:
        keys = list_api_keys(session, name)
    for k in keys:
        say(f"{k.key_id}\t{k.user}\t{k.created_at:%Y-%m-%d %H:%M}\t{k.label}")
    if not keys:
        say(f"{name}: no API keys / 无 API 密钥")


def users_revoke_key(
    key_id: Annotated[str, typer.Argument(help="the key's id, as `users keys` lists it")],
    db: DbOpt = None,
) -> None:
    """Revoke an API key / 吊销 API 密钥."""
    from logistics.ops.users import revoke_api_key

    with migrated_session(db) as session:
        info = revoke_api_key(session, key_id)
    say(f"API key / 密钥 {info.key_id} of {info.user} revoked / 已吊销")


def worker(
    threads: Annotated[int, typer.Option("--threads", help="jobs run at once", min=1)] = 1,
    db: DbOpt = None,
) -> None:
    """Run planning jobs from the Redis queue (WASTEROUTE_REDIS) / 运行规划任务队列."""
    from logistics.ops.queues import run_worker

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
    from optimizer.bench import ENGINES, format_table, run_bench
    from optimizer.instances import InstanceError

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
