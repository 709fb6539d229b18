"""Commands that bring data in and out: import, export, and the demo county."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dashboards.pages import write_dashboards
from logistics.cli import render
from logistics.cli.common import (
    DbOpt,
    SolutionLimitOpt,
    db_url,
    migrated_session,
    out,
    say,
    solve_params,
)
from logistics.demo.run import DEMO_PLAN_DATE, run_demo, run_next_day
from logistics.domain import BadInput
from logistics.imports import import_paths
from logistics.reporting.exports import EXPORT_KINDS, EXPORT_SUFFIXES, export_path


def import_cmd(
    paths: Annotated[list[Path], typer.Argument(help="CSV/XLSX files or folders")],
    kind: Annotated[
        str | None, typer.Option("--kind", help="depots|facilities|vehicles|communities|points|records|tickets")
    ] = None,
    db: DbOpt = None,
) -> None:
    """Import CSV/XLSX files (all in one transaction) / 导入数据文件."""
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
    solver_seed: Annotated[
        int, typer.Option("--solver-seed", help="solver random seed of the next-day plan")
    ] = 0,
    solution_limit: SolutionLimitOpt = None,
) -> None:
    """Build the demo county, import it, plan the next day, write sheets and dashboards /
    生成示范县数据, 导入, 规划次日路线, 生成路线单和看板."""
    summary = run_demo(out_dir=out_dir, seed=seed, db_url=db_url(db), scale=scale)
    render.show_demo_summary(out, summary)
    if time_limit <= 0:
        return
    bar = render.solve_progress(out, f"[bold]规划 / planning {DEMO_PLAN_DATE.isoformat()}[/bold]")
    with bar:
        task = bar.add_task("solve", total=1.0)

        def on_progress(fraction: float, _objective: int | None) -> None:
            bar.update(task, completed=min(1.0, max(0.0, fraction)))

        day = run_next_day(
            summary.db_url, out_dir, write_dashboards, time_limit_s=time_limit,
            params=solve_params(solver_seed, solution_limit), progress=on_progress,
            sheets=sheets,
        )
    render.show_demo_day(out, day)


__all__ = ["demo", "export_cmd", "import_cmd"]
