"""Commands that bring data in and out: import, export, and the demo county."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from logistics.cli import render
from logistics.cli.common import (
    ClusterOpt,
    DbOpt,
    SolutionLimitOpt,
    db_url,
    migrated_session,
    out,
    say,
    solve_params,
)
from logistics.domain import BadInput

if TYPE_CHECKING:
    from logistics.planning.plan import SolveParams

# the demo, imports and exports start the planning stack and their libraries: imported
# by the commands that use them, so that every other command starts quickly

T = TypeVar("T")


def import_cmd(
    paths: Annotated[list[Path], typer.Argument(help="CSV/XLSX files or folders")],
    kind: Annotated[
        str | None, typer.Option("--kind", help="depots|facilities|vehicles|communities|points|records|tickets")
    ] = None,
    db: DbOpt = None,
) -> None:
    """Import CSV/XLSX files (all in one transaction) / 导入数据文件."""
    from logistics.imports import import_paths

    with migrated_session(db) as session:
        report = import_paths(session, paths, kind=kind)
    for line in report.lines():
        say(line)


def export_cmd(
    kind: Annotated[str, typer.Argument(help="points | facilities")],
    out_path: Annotated[Path, typer.Option("--out", help="file to write: .csv or .geojson (WGS-84)")],
    db: DbOpt = None,
) -> None:
    """Export points or facilities as CSV or GeoJSON (re-importable) / 导出点位或设施."""
    from logistics.reporting.exports import EXPORT_KINDS, EXPORT_SUFFIXES, export_path

    if kind not in EXPORT_KINDS:
        raise BadInput(f"kind must be points or facilities (got {kind!r})")
    if out_path.suffix.lower() not in EXPORT_SUFFIXES:
        raise BadInput(f"--out {out_path}: use a .csv or .geojson file name")
    with migrated_session(db) as session:
        n = export_path(session, kind, out_path)
    say(f"{kind}: {n} rows -> {out_path} (WGS-84)")


def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="output folder")] = Path("wasteroute-demo"),
    seed: Annotated[int, typer.Option(help="random seed (deterministic output)")] = 2020,
    scale: Annotated[
        str,
        typer.Option(help="size relative to the reference county (1.0 = Zhongmou 2020, "
                     "0.001-2), or `city`: a prefecture city of six districts and 50,000 "
                     "points, each district with its own depots, facilities and fleet "
                     "(`city:N`: N points) / 规模"),
    ] = "1.0",
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
    solver_seed: Annotated[
        int, typer.Option("--solver-seed", help="solver random seed of the next-day plan")
    ] = 0,
    solution_limit: SolutionLimitOpt = None,
    cluster: ClusterOpt = None,
) -> None:
    """Build the demo county, import it, plan the next day, write sheets and dashboards /
    生成示范县数据, 导入, 规划次日路线, 生成路线单和看板.

    --scale city: the demo city instead (files and import as for the county; the
    next day is planned on the planning cluster and written as plan-DATE.json; route
    sheets and dashboards come from `wasteroute sheets` / `wasteroute dashboards`)."""
    from dashboards.pages import write_dashboards
    from logistics.demo.run import run_demo, run_next_day

    params = solve_params(solver_seed, solution_limit, cluster)
    kind, _, n_points = scale.strip().lower().partition(":")
    if kind == "city":
        if n_points and not (n_points.isdigit() and 48 <= int(n_points) <= 200_000):
            raise BadInput(f"--scale city:POINTS takes 48-200000 points (got {scale!r})")
        _city_demo(out_dir, seed, db, time_limit, params, int(n_points or 50_000))
        return
    try:
        size = float(scale)
    except ValueError:
        raise BadInput(f"--scale must be a number 0.001-2 or city (got {scale!r})") from None
    if not 0.001 <= size <= 2.0:
        raise BadInput(f"--scale must be a number 0.001-2 or city (got {scale!r})")
    summary = run_demo(out_dir=out_dir, seed=seed, db_url=db_url(db), scale=size)
    render.show_demo_summary(out, summary)
    if time_limit <= 0:
        return
    render.show_demo_day(out, _with_progress(lambda progress: run_next_day(
        summary.db_url, out_dir, write_dashboards, time_limit_s=time_limit,
        params=params, progress=progress, sheets=sheets)))


def _city_demo(out_dir: Path, seed: int, db: str | None, time_limit: float,
               params: SolveParams, points: int) -> None:
    """The demo city: generate, write, import; plan the next day when asked."""
    from logistics.demo.city import run_city_demo
    from logistics.demo.run import DEMO_PLAN_DATE, plan_next_day

    summary = run_city_demo(out_dir, seed=seed, db_url=db_url(db), points=points)
    render.show_demo_summary(out, summary)
    if time_limit <= 0:
        return
    render.show_demo_day(out, _with_progress(lambda progress: plan_next_day(
        summary.db_url, out_dir, DEMO_PLAN_DATE, time_limit, params=params,
        progress=progress)))


def _with_progress(run: Callable[[Callable[[float, int | None], None]], T]) -> T:
    """``run(progress)`` under the demo's planning progress bar."""
    from logistics.demo.run import DEMO_PLAN_DATE

    bar = render.solve_progress(out, f"[bold]规划 / planning {DEMO_PLAN_DATE.isoformat()}[/bold]")
    with bar:
        task = bar.add_task("solve", total=1.0)

        def on_progress(fraction: float, _objective: int | None) -> None:
            bar.update(task, completed=min(1.0, max(0.0, fraction)))

        return run(on_progress)


__all__ = ["demo", "export_cmd", "import_cmd"]
