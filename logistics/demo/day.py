"""The demo's day after the data year: plan it, write the route sheets and dashboards.

These steps run after :func:`logistics.demo.run.run_demo` has imported the county; each is
its own transaction (a CLI entry point of its own would be the same), and each prints a
line with where its output went.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from logistics.persistence.db import session_scope

if TYPE_CHECKING:
    from rich.console import Console

log = logging.getLogger(__name__)

#: the demo's records cover 2020; the "next day" is the first day after them
DEMO_PLAN_DATE = dt.date(2021, 1, 1)


@dataclass
class DayOutputs:
    plan_id: str | None = None
    plan_path: Path | None = None
    plan_summary: dict[str, Any] = field(default_factory=dict)
    unassigned_by_reason: dict[str, int] = field(default_factory=dict)
    sheet_paths: dict[str, list[Path]] = field(default_factory=dict)
    dashboard_paths: list[Path] = field(default_factory=list)
    #: reconciliation of the planned day against its (simulated) weighbridge tickets
    reconcile_counts: dict[str, int] = field(default_factory=dict)
    reconcile_path: Path | None = None
    timings_s: dict[str, float] = field(default_factory=dict)


def plan_next_day(
    db_url: str,
    out_dir: Path,
    day: dt.date = DEMO_PLAN_DATE,
    time_limit_s: float = 110.0,
    console: Console | None = None,
) -> DayOutputs:
    """Plan ``day``, store it and write ``OUT/plan-DAY.json``."""
    from logistics.planning.plan import plan_day

    outputs = DayOutputs()
    t0 = time.perf_counter()
    progress_cm: Any = None
    on_progress = None
    if console is not None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        progress_cm = Progress(
            TextColumn(f"[bold]规划 / planning {day.isoformat()}[/bold]"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
    with session_scope(db_url) as session:
        if progress_cm is not None:
            with progress_cm:
                task = progress_cm.add_task("solve", total=1.0)

                def on_progress(fraction: float, _objective: int | None) -> None:
                    progress_cm.update(task, completed=min(1.0, max(0.0, fraction)))

                result = plan_day(session, day, time_limit_s=time_limit_s, progress=on_progress)
        else:
            result = plan_day(session, day, time_limit_s=time_limit_s)
    doc = result.document
    path = out_dir / f"plan-{day.isoformat()}.json"
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    outputs.plan_id = result.plan_id
    outputs.plan_path = path
    outputs.plan_summary = dict(doc.get("summary", {}))
    reasons: dict[str, int] = {}
    for u in doc.get("unassigned", []):
        reasons[u["reason"]] = reasons.get(u["reason"], 0) + 1
    outputs.unassigned_by_reason = reasons
    outputs.timings_s["plan"] = time.perf_counter() - t0
    return outputs


def write_day_sheets(db_url: str, out_dir: Path, day: dt.date, outputs: DayOutputs) -> None:
    """Route sheets of the day: phone pages, GPX and the printable PDFs."""
    from logistics.sheets import write_sheets

    t0 = time.perf_counter()
    sheets_dir = out_dir / "sheets"
    with session_scope(db_url) as session:
        for fmt in ("html", "gpx", "geojson", "xlsx", "pdf"):
            outputs.sheet_paths[fmt] = write_sheets(session, day, fmt, sheets_dir / fmt)
    outputs.timings_s["sheets"] = time.perf_counter() - t0


def write_day_dashboards(
    db_url: str,
    out_dir: Path,
    day: dt.date,
    outputs: DayOutputs,
    writer: Callable[..., Sequence[Path]],
) -> None:
    """Static dashboards; ``writer`` is dashboards.write_dashboards, passed in by the CLI
    (logistics does not import dashboards)."""
    t0 = time.perf_counter()
    with session_scope(db_url) as session:
        outputs.dashboard_paths = list(writer(session, out_dir / "dashboards", date=day, lang="zh"))
    outputs.timings_s["dashboards"] = time.perf_counter() - t0


def reconcile_demo_day(db_url: str, out_dir: Path, day: dt.date, outputs: DayOutputs) -> None:
    """Make the planned day "happen" (records and tickets that follow the plan, with a few
    deliberate discrepancies) and reconcile it: the dispatcher's evening check."""
    from logistics.planning.reconcile import make_reconcile_day, reconcile_day

    t0 = time.perf_counter()
    with session_scope(db_url) as session:
        make_reconcile_day(session, day)
    with session_scope(db_url) as session:
        result = reconcile_day(session, day)
    path = out_dir / f"reconcile-{day.isoformat()}.json"
    path.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    outputs.reconcile_counts = {k: v for k, v in result["counts"].items() if v}
    outputs.reconcile_path = path
    outputs.timings_s["reconcile"] = time.perf_counter() - t0


def print_day(outputs: DayOutputs, console: Console) -> None:
    from rich.table import Table

    s = outputs.plan_summary
    if outputs.plan_id:
        t = Table(title=f"次日计划 / next-day plan {outputs.plan_id}")
        for col in ("points due / 应收点位", "served / 已安排", "vehicles / 车辆",
                    "km / 公里", "t planned / 计划吨数"):
            t.add_column(col, justify="right")
        t.add_row(
            f"{s.get('points_due', 0):,}", f"{s.get('points_served', 0):,}",
            f"{s.get('vehicles_used', 0)}", f"{s.get('distance_km', 0):,.1f}",
            f"{s.get('kg_planned', 0) / 1000:,.1f}",
        )
        console.print(t)
        if outputs.unassigned_by_reason:
            console.print(
                "unassigned / 未安排: "
                + ", ".join(f"{k} {v}" for k, v in sorted(outputs.unassigned_by_reason.items())),
                highlight=False,
            )
    lines = []
    if outputs.plan_path:
        lines.append(f"plan / 计划文件: {outputs.plan_path.resolve()}")
    if outputs.reconcile_path:
        found = ", ".join(f"{k} {v}" for k, v in outputs.reconcile_counts.items()) or "none"
        lines.append(f"reconcile / 对账: {found} -> {outputs.reconcile_path.resolve()}")
    for fmt, paths in outputs.sheet_paths.items():
        if paths:
            lines.append(f"sheets {fmt} / 路线单: {paths[0].parent.resolve()} ({len(paths)} files)")
    if outputs.dashboard_paths:
        index = next((p for p in outputs.dashboard_paths if p.name == "index.html"),
                     outputs.dashboard_paths[0])
        lines.append(f"dashboards / 看板: {index.resolve()}")
        lines.append(
            f"  maps need http / 地图需通过 http 打开: python -m http.server -d '{index.parent.resolve()}' 8000"
            " -> http://127.0.0.1:8000/"
        )
    for line in lines:
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    if outputs.timings_s:
        console.print(
            "time / 用时: " + ", ".join(f"{k} {v:.1f} s" for k, v in outputs.timings_s.items()),
            highlight=False,
        )
