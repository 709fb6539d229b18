"""The `wasteroute` command line: the composition root. Only this module prints."""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from logistics.domain import DomainError, ImportRejected

app = typer.Typer(
    name="wasteroute",
    help="wasteroute: waste collection planning for county sanitation bureaus / 县域环卫收运规划",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()
err = Console(stderr=True)

DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="SQLAlchemy URL (default: $WASTEROUTE_DB or sqlite:///wasteroute.db)"),
]

F = TypeVar("F", bound=Callable[..., Any])


#: options given before the command (wasteroute --db URL plan ...)
_GLOBAL: dict[str, Any] = {}


def _db(db: str | None) -> str | None:
    """Per-command --db wins over the global one; None means environment/default."""
    return db or _GLOBAL.get("db")


def user_errors(fn: F) -> F:
    """Turn domain errors (bad files, bad requests) into messages and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ImportRejected as exc:
            for e in exc.errors:
                err.print(str(e), markup=False, highlight=False, soft_wrap=True)
            err.print(
                f"rejected / 已拒绝: {len(exc.errors)} problem(s), nothing written / 未写入任何数据",
                markup=False,
            )
            raise typer.Exit(2) from None
        except DomainError as exc:
            err.print(f"error / 错误: {exc}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


@app.callback()
def main(
    db: DbOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log progress")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    _GLOBAL["db"] = db


def _not_yet(what: str, issue: int) -> None:
    err.print(f"`wasteroute {what}` is not implemented yet (issue {issue}) / 尚未实现")
    raise typer.Exit(1)


def print_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n")


@app.command("import")
@user_errors
def import_cmd(
    paths: Annotated[list[Path], typer.Argument(help="CSV/XLSX files or folders")],
    kind: Annotated[
        str | None, typer.Option("--kind", help="depots|facilities|vehicles|communities|points|records|tickets")
    ] = None,
    db: DbOpt = None,
) -> None:
    """Import CSV/XLSX files (all in one transaction) / 导入数据文件."""
    from logistics.imports import import_paths
    from logistics.persistence.db import session_scope, upgrade

    url = _db(db)
    upgrade(url)
    with session_scope(url) as session:
        report = import_paths(session, paths, kind=kind)
    for line in report.lines():
        out.print(line, markup=False, highlight=False)


@app.command("export")
@user_errors
def export_cmd(
    kind: Annotated[str, typer.Argument(help="points | facilities")],
    out_path: Annotated[Path, typer.Option("--out", help="file to write: .csv or .geojson (WGS-84)")],
    db: DbOpt = None,
) -> None:
    """Export points or facilities as CSV or GeoJSON (re-importable) / 导出点位或设施."""
    from logistics.domain import BadInput
    from logistics.persistence.db import session_scope, upgrade
    from logistics.reporting.exports import export_path

    if kind not in ("points", "facilities"):
        raise BadInput(f"kind must be points or facilities (got {kind!r})")
    if out_path.suffix.lower() not in (".csv", ".geojson"):
        raise BadInput(f"--out {out_path}: use a .csv or .geojson file name")
    url = _db(db)
    upgrade(url)
    with session_scope(url) as session:
        n = export_path(session, kind, out_path)  # type: ignore[arg-type]  # checked above
    out.print(f"{kind}: {n} rows -> {out_path} (WGS-84)", markup=False, highlight=False)


@app.command()
@user_errors
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="output folder")] = Path("wasteroute-demo"),
    seed: Annotated[int, typer.Option(help="random seed (deterministic output)")] = 2020,
    scale: Annotated[
        float,
        typer.Option(help="size relative to the reference county (1.0 = Zhongmou 2020)", min=0.001, max=2.0),
    ] = 1.0,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="SQLAlchemy URL (default: $WASTEROUTE_DB, else OUT/wasteroute.db, recreated on each run)",
        ),
    ] = None,
    time_limit: Annotated[
        float, typer.Option("--time-limit", help="solver seconds for the next-day plan (0 = skip planning)")
    ] = 110.0,
    sheets: Annotated[bool, typer.Option("--sheets/--no-sheets", help="write route sheets")] = True,
) -> None:
    """Build the demo county, import it, plan the next day, write sheets and dashboards /
    生成示范县数据, 导入, 规划次日路线, 生成路线单和看板."""
    from logistics.demo.day import (
        DEMO_PLAN_DATE,
        plan_next_day,
        print_day,
        reconcile_demo_day,
        write_day_dashboards,
        write_day_sheets,
    )
    from logistics.demo.run import run_demo

    summary = run_demo(out_dir=out_dir, seed=seed, db_url=_db(db), console=out, scale=scale)
    if time_limit <= 0:
        return
    day = plan_next_day(summary.db_url, out_dir, DEMO_PLAN_DATE, time_limit_s=time_limit,
                        console=out)
    if sheets:
        write_day_sheets(summary.db_url, out_dir, DEMO_PLAN_DATE, day)
    from dashboards import write_dashboards

    reconcile_demo_day(summary.db_url, out_dir, DEMO_PLAN_DATE, day)
    write_day_dashboards(summary.db_url, out_dir, DEMO_PLAN_DATE, day, write_dashboards)
    print_day(day, out)


@app.command()
@user_errors
def plan(
    date: Annotated[str, typer.Option("--date", help="the day to plan, YYYY-MM-DD")],
    time_limit: Annotated[
        float, typer.Option("--time-limit", help="solver time limit in seconds (a county day of ~1,200 points needs about 90-110)")
    ] = 110.0,
    out_path: Annotated[
        Path | None,
        typer.Option("--out", help="plan document to write (default: ./plan-YYYY-MM-DD.json)"),
    ] = None,
    distance: Annotated[
        str | None,
        typer.Option(
            "--distance",
            help="distance model: haversine[:detour=1.3,speed=25] | osm:FILE.osm.pbf | "
            "osrm:URL | valhalla:URL (default haversine)",
        ),
    ] = None,
    mode: Annotated[
        str, typer.Option("--mode", help="schedule (weekday days) | demand (expected fill)")
    ] = "schedule",
    margin: Annotated[
        float | None,
        typer.Option("--margin", help="forecast safety margin, fraction "
                     "(default $WASTEROUTE_FORECAST_MARGIN or 0)"),
    ] = None,
    db: DbOpt = None,
) -> None:
    """Plan the collections due on a date, store the plan, write plan.json / 规划某日收运路线.

    kg per point: the forecast from collection records where a point has history
    (times 1 + --margin), else kg_per_visit (WASTEROUTE_FORECAST=off: always).
    --mode demand chooses the points by expected fill (docs/operations.md): optional
    points the solver leaves out are listed under `skipped`.

    Each run stores a new version of the day's plan (DATE-1, DATE-2, ...) and marks
    the previous one superseded; if planning fails the previous plan stays current.
    Exit 0 when a plan was made (even with unassigned points), 2 on bad input.
    """
    from collections import Counter, defaultdict

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from logistics.domain import BadInput
    from logistics.persistence.db import session_scope, upgrade
    from logistics.planning.plan import parse_date, plan_day, resolve_distance_model

    day = parse_date(date)
    if not (time_limit > 0 and time_limit < float("inf")):
        raise BadInput(f"--time-limit must be a positive number of seconds (got {time_limit})")
    if mode not in ("schedule", "demand"):
        raise BadInput(f"--mode must be schedule or demand (got {mode!r})")
    if margin is not None and not (0 <= margin < 10):
        raise BadInput(f"--margin must be a fraction >= 0 (got {margin})")
    model = resolve_distance_model(distance)
    target = out_path or Path(f"plan-{day.isoformat()}.json")
    if target.is_dir():
        raise BadInput(f"--out {target} is a folder; give a file name")
    if not target.parent.exists():
        raise BadInput(f"--out {target}: folder {target.parent} does not exist")
    url = _db(db)
    upgrade(url)
    progress_bar = Progress(
        TextColumn("[bold]solving / 求解[/bold] {task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[best]}"),
        console=err,
        transient=True,
    )
    with session_scope(url) as session, progress_bar:
        task = progress_bar.add_task(day.isoformat(), total=1.0, best="")

        def on_progress(fraction: float, objective: int | None) -> None:
            best = "" if objective is None else f"cost {objective / 1000:,.1f}"
            progress_bar.update(task, completed=min(1.0, max(0.0, fraction)), best=best)

        if mode == "demand":
            from logistics.demand.simulate import make_demand_document
            from logistics.persistence import plan_repo

            doc = make_demand_document(session, day, time_limit_s=time_limit,
                                       distance_model=model)
            plan_id = plan_repo.store_plan(session, day, doc).plan_id
        else:
            result = plan_day(session, day, time_limit_s=time_limit, distance_model=model,
                              progress=on_progress, margin=margin)
            doc, plan_id = result.document, result.plan_id
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    tmp.replace(target)

    table = Table(title=f"plan {plan_id} / 收运计划")
    for col in ("vehicle / 车辆", "stops / 点位", "trips / 趟", "km / 公里", "kg / 公斤",
                "hours / 小时"):
        table.add_column(col, justify="left" if col.startswith("vehicle") else "right")
    for r in doc["routes"]:
        collects = sum(1 for s in r["stops"] if s["kind"] == "collect")
        trips = sum(1 for s in r["stops"] if s["kind"] == "unload")
        kg = sum(s.get("kg", 0) for s in r["stops"] if s["kind"] == "collect")
        table.add_row(r["vehicle_id"], str(collects), str(trips), f"{r['distance_km']:.1f}",
                      f"{kg:,}", f"{r['duration_min'] / 60:.1f}")
    sm = doc["summary"]
    table.add_section()
    table.add_row("total / 合计", str(sum(1 for r in doc["routes"] for s in r["stops"]
                                          if s["kind"] == "collect")),
                  str(sum(1 for r in doc["routes"] for s in r["stops"] if s["kind"] == "unload")),
                  f"{sm['distance_km']:.1f}", f"{sm['kg_planned']:,}",
                  f"{sum(r['duration_min'] for r in doc['routes']) / 60:.1f}")
    out.print(table)
    out.print(
        f"points due / 应收点位 {sm['points_due']}, served / 已安排 {sm['points_served']}, "
        f"vehicles / 车辆 {sm['vehicles_used']}, solver {doc['solver']['engine']} "
        f"{doc['solver']['wall_s']} s",
        markup=False, highlight=False,
    )
    if doc["unassigned"]:
        by_reason: Counter[str] = Counter()
        kg_by_reason: defaultdict[str, int] = defaultdict(int)
        for u in doc["unassigned"]:
            by_reason[u["reason"]] += 1
            kg_by_reason[u["reason"]] += int(u["kg"])
        ut = Table(title="unassigned / 未安排")
        ut.add_column("reason / 原因")
        ut.add_column("points / 点位", justify="right")
        ut.add_column("kg / 公斤", justify="right")
        ut.add_column("examples / 示例")
        for reason, n in by_reason.most_common():
            ids = [u["point_id"] for u in doc["unassigned"] if u["reason"] == reason]
            ut.add_row(reason, str(n), f"{kg_by_reason[reason]:,}",
                       ", ".join(ids[:5]) + (" ..." if len(ids) > 5 else ""))
        out.print(ut)
    dem = doc.get("demand") or {}
    if dem.get("mode") == "demand":
        out.print(f"demand mode / 按需: selected {dem['selected']} "
                  f"({', '.join(f'{k} {n}' for k, n in sorted(dem['counts'].items()))}), "
                  f"skipped / 跳过 {len(doc['skipped'])} (low expected fill)",
                  markup=False, highlight=False)
    elif dem:
        out.print(f"kg source / 产量来源: {dem['source']} (forecast {dem['points_forecast']}, "
                  f"kg_per_visit {dem['points_static']}, margin {dem['margin']:.0%})",
                  markup=False, highlight=False)
    out.print(f"plan / 计划 {plan_id} -> {target}", markup=False, highlight=False)


@app.command()
@user_errors
def sheets(
    date: Annotated[str, typer.Option("--date", help="plan date YYYY-MM-DD")],
    fmt: Annotated[
        str, typer.Option("--format", help="pdf|html|gpx|geojson|xlsx")
    ] = "pdf",
    lang: Annotated[str, typer.Option("--lang", help="zh|en")] = "zh",
    vehicle: Annotated[
        str | None, typer.Option("--vehicle", help="only this vehicle (id or plate)")
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", help="where the phone pages are served (QR codes on the PDF)"),
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="output folder")] = Path("sheets"),
    db: DbOpt = None,
) -> None:
    """Route sheets for drivers, one per route / 司机路线单（每条路线一份）."""
    from logistics.persistence.db import session_scope, upgrade
    from logistics.sheets import write_sheets

    url = _db(db)
    upgrade(url)
    with session_scope(url) as session:
        paths = write_sheets(
            session, date, fmt, out_dir, lang=lang, vehicle=vehicle, base_url=base_url
        )
    for path in paths:
        out.print(str(path), markup=False, highlight=False, soft_wrap=True)


@app.command()
@user_errors
def metrics(
    date_from: Annotated[str, typer.Option("--from", help="first day YYYY-MM-DD")],
    date_to: Annotated[str, typer.Option("--to", help="last day YYYY-MM-DD (included)")],
    by: Annotated[str, typer.Option("--by", help="county|town")] = "county",
    category: Annotated[
        str | None, typer.Option("--category", help="only this category (key or Chinese name)")
    ] = None,
    town: Annotated[str | None, typer.Option("--town", help="only this town")] = None,
    co2_kg_per_km: Annotated[
        float | None,
        typer.Option("--co2-kg-per-km", help="CO2 factor (default: docs/dashboards.md)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="the metrics document on stdout")] = False,
    db: DbOpt = None,
) -> None:
    """Official metrics with their inputs / 考核指标."""
    from rich.table import Table

    from logistics.domain import BadInput, parse_category
    from logistics.persistence.db import session_scope, upgrade
    from logistics.planning.plan import parse_date
    from logistics.reporting.metrics import CO2_KG_PER_KM, REGISTRY, compute_metrics

    start, end = parse_date(date_from), parse_date(date_to)
    cat = None
    if category is not None:
        cat = parse_category(category)
        if cat is None:
            raise BadInput(f"--category: unknown category ({category})")
    url = _db(db)
    upgrade(url)
    with session_scope(url) as session:
        doc = compute_metrics(
            session, start, end, by=by, category=cat, town=town,
            co2_kg_per_km=CO2_KG_PER_KM if co2_kg_per_km is None else co2_kg_per_km,
        )
    if as_json:
        print_json(doc)
        return
    title = f"metrics / 考核指标 {doc['from']} .. {doc['to']}"
    for g in doc["groups"]:
        table = Table(title=f"{title} - {g['group']}")
        table.add_column("metric / 指标")
        table.add_column("value / 数值", justify="right")
        table.add_column("inputs / 依据")
        for key, m in g["metrics"].items():
            spec = REGISTRY.get(key)
            label = f"{spec.name_zh} {key}" if spec else key
            v = m["value"]
            if v is None:
                shown = "missing / 缺失"
            elif spec is not None and spec.unit == "fraction":
                shown = f"{v:.1%}"
            else:
                shown = f"{v:,.3f}".rstrip("0").rstrip(".")
            inputs = ", ".join(f"{k}={x}" for k, x in m["inputs"].items())
            if m.get("missing"):
                inputs = f"{m['missing']}; {inputs}" if inputs else m["missing"]
            table.add_row(label, shown, inputs)
        out.print(table)
    for note in doc.get("notes", []):
        out.print(f"note / 说明: {note}", markup=False, highlight=False)


@app.command()
@user_errors
def dashboards(
    out_dir: Annotated[Path, typer.Option("--out", help="output folder")] = Path("dashboards"),
    date: Annotated[
        str | None, typer.Option("--date", help="plan day to show (default: newest plan)")
    ] = None,
    lang: Annotated[str, typer.Option("--lang", help="zh|en")] = "zh",
    db: DbOpt = None,
) -> None:
    """Static dashboard pages / 静态看板."""
    from dashboards.pages import write_dashboards
    from logistics.domain import BadInput
    from logistics.persistence.db import session_scope, upgrade
    from logistics.planning.plan import parse_date

    if lang not in ("zh", "en"):
        raise BadInput(f"--lang must be zh or en (got {lang})")
    day = parse_date(date) if date else None
    url = _db(db)
    upgrade(url)
    with session_scope(url) as session:
        paths = write_dashboards(session, out_dir, date=day, lang=lang)
    for path in paths:
        out.print(str(path), markup=False, highlight=False, soft_wrap=True)
    out.print(
        "maps need http:// / 地图需通过 http 打开: "
        f"python -m http.server -d {out_dir} 8000  ->  http://127.0.0.1:8000/index.html",
        markup=False, highlight=False, soft_wrap=True,
    )


@app.command()
@user_errors
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
    import os

    import uvicorn

    from logistics.persistence.db import upgrade

    url = _db(db)
    if url:
        os.environ["WASTEROUTE_DB"] = url
    upgrade(url)
    err.print(f"wasteroute API on http://{host}:{port}/docs", markup=False, highlight=False)
    # keep-alive 75 s (uvicorn's default is 5 s): a busy client that reuses an idle
    # connection just as the server closes it gets a read error (seen in the load test)
    uvicorn.run("api.main:app", host=host, port=port, workers=workers, log_level="warning",
                access_log=False, timeout_keep_alive=75)


users_app = typer.Typer(help="API users / 接口用户", no_args_is_help=True)
app.add_typer(users_app, name="users")


@users_app.command("add")
@user_errors
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
    from logistics.ops.users import create_api_key, create_user
    from logistics.persistence.db import session_scope, upgrade

    if password is None and not api_key:
        password = typer.prompt("password / 密码", hide_input=True, confirmation_prompt=True)
    url = _db(db)
    upgrade(url)
    with session_scope(url) as session:
        user = create_user(session, name, role, password, vehicle)
        key = create_api_key(session, user.name) if api_key else None
    out.print(f"user / 用户 {name} ({role}) added / 已添加", markup=False, highlight=False)
    if key:
        out.print(f"X-API-Key: {key}", markup=False, highlight=False, soft_wrap=True)


@users_app.command("list")
@user_errors
def users_list(db: DbOpt = None) -> None:
    """List API users / 用户列表."""
    from logistics.ops.users import list_users
    from logistics.persistence.db import session_scope, upgrade

    url = _db(db)
    upgrade(url)
    with session_scope(url) as session:
        for u in list_users(session):
            extra = f" vehicle={u.vehicle_id}" if u.vehicle_id else ""
            out.print(f"{u.name}\t{u.role}{extra}", markup=False, highlight=False)


@app.command()
@user_errors
def worker(
    threads: Annotated[int, typer.Option("--threads", help="jobs run at once", min=1)] = 1,
    db: DbOpt = None,
) -> None:
    """Run planning jobs from the Redis queue (WASTEROUTE_REDIS) / 运行规划任务队列."""
    import os
    import signal
    import threading

    from logistics.ops.jobs import run_worker
    from logistics.persistence.db import upgrade

    url = _db(db)
    if url:
        os.environ["WASTEROUTE_DB"] = url
    upgrade(url)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    err.print("worker: waiting for jobs / 等待任务 (Ctrl-C stops)", markup=False)
    run_worker(stop, threads=threads)


@app.command()
@user_errors
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
    from logistics.domain import BadInput
    from optimizer.bench import ENGINES, format_table, run_bench
    from optimizer.instances import InstanceError

    families = ("solomon", "homberger", "cvrp", "kim")
    if family not in families:
        raise BadInput(f"--family must be one of {', '.join(families)} (got {family!r})")
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


@app.command()
@user_errors
def replan(
    date: Annotated[str, typer.Option("--date", help="plan date YYYY-MM-DD")],
    at: Annotated[str, typer.Option("--at", help="time of the event HH:MM (local)")],
    vehicle_down: Annotated[
        list[str] | None, typer.Option("--vehicle-down", help="vehicle that broke down")
    ] = None,
    add_point: Annotated[
        list[str] | None, typer.Option("--add-point", help="point to serve as well")
    ] = None,
    kg: Annotated[
        list[float] | None, typer.Option("--kg", help="kg of the --add-point (in order)")
    ] = None,
    facility_closed: Annotated[
        list[str] | None, typer.Option("--facility-closed", help="facility closed from --at")
    ] = None,
    out_path: Annotated[
        Path | None,
        typer.Option("--out", help="plan document to write (default: ./plan-DATE-vN.json)"),
    ] = None,
    time_limit: Annotated[
        float, typer.Option("--time-limit", help="solver time limit in seconds")
    ] = 10.0,
    distance: Annotated[
        str | None, typer.Option("--distance", help="distance model (default: the plan's)")
    ] = None,
    keep_trucks: Annotated[
        bool, typer.Option("--keep-trucks/--free-trucks",
                           help="keep open stops on their truck where that serves as many")
    ] = True,
    keep_tolerance: Annotated[
        float, typer.Option("--keep-tolerance",
                            help="fraction of the open points keeping trucks may serve less")
    ] = 0.0,
    complaints: Annotated[
        bool, typer.Option("--complaints",
                           help="add the day's open overflow reports (POST /events/complaints) "
                                "received up to --at as urgent points, and mark them handled")
    ] = False,
    db: DbOpt = None,
) -> None:
    """Re-plan the rest of a day after an event; served stops stay / 日内重新规划.

    Stores a new version of the day's plan with the changes (moved, dropped,
    added points) under the document's `replan` key and prints them.
    """
    from rich.table import Table

    from logistics.domain import BadInput
    from logistics.persistence.db import session_scope, upgrade
    from logistics.planning.plan import parse_date
    from logistics.planning.replan import (
        complaint_points,
        mark_handled,
        open_complaints,
        parse_at,
        replan_day,
    )

    day = parse_date(date)
    at_s = parse_at(at)
    adds = list(add_point or [])
    kgs = list(kg or [])
    if len(kgs) > len(adds):
        raise BadInput("--kg needs an --add-point before it")
    pairs: list[tuple[str, float | None]] = [
        (p, kgs[i] if i < len(kgs) else None) for i, p in enumerate(adds)]
    if out_path is not None and out_path.is_dir():
        raise BadInput(f"--out {out_path} is a folder; give a file name")
    if out_path is not None and not out_path.parent.exists():
        raise BadInput(f"--out {out_path}: folder {out_path.parent} does not exist")
    url = _db(db)
    upgrade(url)
    with session_scope(url) as session:
        reports = open_complaints(session, day, at_s) if complaints else []
        named = {p for p, _ in pairs}
        pairs += [(p, k) for p, k in complaint_points(reports) if p not in named]
        if complaints and not reports:
            err.print("no open complaints up to --at / 无待处理投诉", markup=False)
        result = replan_day(session, day, at_s, vehicles_down=list(vehicle_down or []),
                            add_points=pairs, facilities_closed=list(facility_closed or []),
                            time_limit_s=time_limit, distance_model=distance,
                            keep_trucks=keep_trucks, keep_tolerance=keep_tolerance)
        mark_handled(session, reports)
    doc = result.document
    target = out_path or Path(f"plan-{day.isoformat()}-v{result.version}.json")
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    tmp.replace(target)
    diff = result.diff
    table = Table(title=f"changes / 变更 {result.base_plan_id} -> {result.plan_id}")
    table.add_column("point / 点位")
    table.add_column("change / 变更")
    table.add_column("from / 原")
    table.add_column("to / 新")
    for m in diff["moved"]:
        table.add_row(m["point_id"], "moved / 调车", m["from"], m["to"])
    for m in diff["dropped"]:
        table.add_row(m["point_id"], "dropped / 未安排", m["from"], m["reason"])
    for m in diff["newly_served"]:
        table.add_row(m["point_id"], "now served / 新安排", m["was"], m["to"])
    for m in diff["added"]:
        table.add_row(m["point_id"], f"added / 新增 {m['kg']:g} kg", "-",
                      m["to"] or m["reason"] or "-")
    out.print(table)
    sm = doc["summary"]
    out.print(
        f"served before / 已收 {diff['served_before']}, kept on their truck / 原车 "
        f"{len(diff['kept'])}, moved / 调车 {len(diff['moved'])}, dropped / 未安排 "
        f"{len(diff['dropped'])} ({diff['assignment']}); points served / 已安排 {sm['points_served']} of "
        f"{sm['points_due']}, {sm['distance_km']} km",
        markup=False, highlight=False,
    )
    for vid, load in diff["stranded_kg"].items():
        err.print(f"warning / 警告: {vid} cannot unload {load} (stranded / 滞留)",
                  markup=False, highlight=False)
    out.print(f"plan / 计划 {result.plan_id} -> {target}", markup=False, highlight=False)


@app.command()
@user_errors
def forecast(
    date: Annotated[str | None, typer.Option("--date", help="day to forecast YYYY-MM-DD")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = False,
    margin: Annotated[
        float | None,
        typer.Option("--margin", help="safety margin, fraction (default $WASTEROUTE_FORECAST_MARGIN or 0)"),
    ] = None,
    run_backtest: Annotated[
        bool, typer.Option("--backtest", help="MAPE and bias against the same-weekday baseline")
    ] = False,
    date_from: Annotated[str | None, typer.Option("--from", help="backtest start")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="backtest end")] = None,
    db: DbOpt = None,
) -> None:
    """Expected kg per point for a day, or a backtest of the forecast / 产量预测."""
    from rich.table import Table

    from logistics.demand.due import due_points
    from logistics.demand.forecast import (
        History,
        backtest,
        forecast_day,
        holiday_factors,
        is_public_holiday,
        safety_margin,
    )
    from logistics.domain import BadInput
    from logistics.persistence.db import session_scope, upgrade
    from logistics.planning.plan import parse_date

    url = _db(db)
    upgrade(url)
    if run_backtest:
        if not date_from or not date_to:
            raise BadInput("--backtest needs --from and --to")
        start, end = parse_date(date_from, "--from"), parse_date(date_to, "--to")
        if end < start:
            raise BadInput("--to is before --from")
        with session_scope(url) as session:
            result = backtest(session, start, end)
        if as_json:
            print_json(result)
            return
        hol = result["holidays"]
        for title, part in ((f"forecast backtest / 预测回测 {start} .. {end}", result),
                            (f"statutory holidays / 法定节假日 ({hol['days']} days)", hol)):
            if not part["all"]:
                continue
            table = Table(title=title)
            for col in ("category / 类别", "visits / 次", "MAPE %", "bias %", "naive MAPE %",
                        "naive bias %"):
                table.add_column(col, justify="left" if col.startswith("category") else "right")
            for cat, f in [*part["by_category"].items(), ("all / 合计", part["all"])]:
                table.add_row(cat, str(f["visits"]), f"{f['model_mape_pct']:.1f}",
                              f"{f['model_bias_pct']:+.1f}", f"{f['naive_mape_pct']:.1f}",
                              f"{f['naive_bias_pct']:+.1f}")
            out.print(table)
        return
    if not date:
        raise BadInput("--date is required (or --backtest --from D --to D)")
    day = parse_date(date)
    m = safety_margin(margin)
    with session_scope(url) as session:
        points = due_points(session, day)
        h = History.load_for(session, day)
        fc = forecast_day(h, day, [p.point_id for p in points])
        # the factors this day's forecast used (1 for a category not listed)
        hol = {c: round(f.factor, 3) for c, f in holiday_factors(h, day).items()} if (
            is_public_holiday(day)) else None
    rows = [{"point_id": str(pid), "category": r["category"],
             "kg": round(float(r["kg"]) * (1 + m), 1), "source": r["source"]}
            for pid, r in fc.iterrows()]
    doc: dict[str, Any] = {"format": "wasteroute.forecast/1", "date": day.isoformat(),
                           "margin": m, "points": rows,
                           "kg_total": round(sum(r["kg"] for r in rows), 1)}
    if hol is not None:
        doc["holiday_factors"] = hol
    if as_json:
        print_json(doc)
        return
    table = Table(title=f"forecast / 产量预测 {day}")
    for col in ("category / 类别", "points / 点位", "kg / 公斤", "from history / 有历史"):
        table.add_column(col, justify="left" if col.startswith("category") else "right")
    cats: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        cats.setdefault(r["category"], []).append(r)
    for cat, rs in sorted(cats.items()):
        table.add_row(cat, str(len(rs)), f"{sum(r['kg'] for r in rs):,.0f}",
                      str(sum(1 for r in rs if r["source"] == "model")))
    out.print(table)
    out.print(f"total / 合计 {doc['kg_total']:,.0f} kg, margin / 余量 {m:.0%}", markup=False,
              highlight=False)
    if hol is not None:
        factors = ", ".join(f"{c} x{f:.2f}" for c, f in sorted(hol.items())) or "none / 无"
        out.print(f"statutory holiday / 法定节假日: factors / 系数 {factors}", markup=False,
                  highlight=False)


@app.command()
@user_errors
def reconcile(
    date: Annotated[str, typer.Option("--date", help="plan date YYYY-MM-DD")],
    as_json: Annotated[bool, typer.Option("--json", help="the findings as JSON on stdout")] = False,
    threshold_pct: Annotated[
        float, typer.Option("--threshold-pct", help="net weight deviation that is flagged, %")
    ] = 20.0,
    window_min: Annotated[
        float, typer.Option("--window-min", help="ticket time within this of the planned unload")
    ] = 180.0,
    db: DbOpt = None,
) -> None:
    """Plan versus weighbridge tickets and collection records; stores the findings /
    计划与过磅、收运记录对账."""
    from rich.table import Table

    from logistics.domain import BadInput
    from logistics.persistence.db import session_scope, upgrade
    from logistics.planning.plan import parse_date
    from logistics.planning.reconcile import reconcile_day

    day = parse_date(date)
    if not (0 <= threshold_pct < float("inf")):
        raise BadInput(f"--threshold-pct must be a number >= 0 (got {threshold_pct})")
    if not (0 < window_min < float("inf")):
        raise BadInput(f"--window-min must be a positive number (got {window_min})")
    url = _db(db)
    upgrade(url)
    with session_scope(url) as session:
        result = reconcile_day(session, day, threshold_pct=threshold_pct, window_min=window_min)
    if as_json:
        print_json(result)
        return
    table = Table(title=f"plan {result['plan_id']} versus actual / 计划与实际")
    for col in ("finding / 问题", "vehicle / 车辆", "trip / 趟", "facility / 设施",
                "ticket / 磅单", "point / 点位", "planned kg / 计划", "actual kg / 实际", "%"):
        table.add_column(col)
    for f in result["findings"]:
        table.add_row(f["kind"], f.get("vehicle_id", ""), str(f.get("trip", "")),
                      f.get("facility_id", ""), f.get("ticket_no", ""), f.get("point_id", ""),
                      f"{f['planned_kg']:g}" if "planned_kg" in f else "",
                      f"{f['actual_kg']:g}" if "actual_kg" in f else "",
                      f"{f['deviation_pct']:+.1f}" if "deviation_pct" in f else "")
    out.print(table)
    c = result["counts"]
    out.print(
        f"deliveries planned / 计划卸料 {result['planned']['deliveries']}, matched / 对上 "
        f"{result['matched']['deliveries']}; points planned / 计划点位 "
        f"{result['planned']['points']}, recorded / 有记录 {result['matched']['points']}; "
        + ", ".join(f"{k} {n}" for k, n in c.items()),
        markup=False, highlight=False,
    )


@app.command("master-routes")
@user_errors
def master_routes(
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = False,
    out_path: Annotated[
        Path | None, typer.Option("--out", help="CSV of the points whose weekdays change")
    ] = None,
    tolerance: Annotated[float, typer.Option("--tolerance", help="fraction of the mean")] = 0.10,
    do_apply: Annotated[
        bool, typer.Option("--apply", help="write the proposed days into the points "
                           "(one transaction; default: propose only)")
    ] = False,
    db: DbOpt = None,
) -> None:
    """Weekly visit days that balance tonnage and hours per weekday / 周收运日排布.

    Each point keeps its usual truck (from the recent plans) unless that truck's
    shift is full on its new days; the share kept is reported."""
    import csv

    from rich.table import Table

    from logistics.persistence.db import session_scope, upgrade
    from logistics.planning.master_routes import apply, balance, days_text

    url = _db(db)
    upgrade(url)
    applied = 0
    with session_scope(url) as session:
        result = balance(session, tolerance=tolerance)
        if do_apply:
            applied = apply(session, result)  # committed with the session, all or nothing
        else:
            session.rollback()  # proposes only; nothing is changed
    changed = [{"point_id": pid, "days_before": days_text(a), "days_after": days_text(b)}
               for pid, (a, b) in sorted(result.changed.items())]
    if out_path is not None:
        with out_path.open("w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["point_id", "days_before", "days_after"])
            w.writeheader()
            w.writerows(changed)
    if as_json:
        print_json({"format": "wasteroute.master-routes/1", "tolerance": tolerance,
                    "by_category": result.by_category, "changed": changed,
                    "trucks": result.truck_figures(), "applied": applied})
        return
    table = Table(title="master routes / 周排班 (max deviation from the weekday mean)")
    for col in ("category / 类别", "points", "changed", "kg before", "kg after",
                "hours before", "hours after", "ok"):
        table.add_column(col)
    for cat, f in result.by_category.items():
        table.add_row(cat, str(f["points"]), str(f["changed"]),
                      f"{f['max_dev_kg_before']:.0%}", f"{f['max_dev_kg_after']:.0%}",
                      f"{f['max_dev_hours_before']:.0%}", f"{f['max_dev_hours_after']:.0%}",
                      "yes" if f["within_tolerance"] else "no")
    out.print(table)
    tf = result.truck_figures()
    out.print(f"{len(changed)} point(s) change weekdays"
              + (f" -> {out_path}" if out_path else "")
              + (f"; applied to {applied} point(s) / 已写入" if do_apply else
                 " (proposed only; --apply writes them)"), markup=False, highlight=False)
    if tf["points_with_truck"]:
        out.print(f"same truck / 原车: {tf['same_truck']} of {tf['points_with_truck']} "
                  f"({tf['share_same_truck']:.0%})", markup=False, highlight=False)
