"""What the commands show: rich tables and lines built from plain data (documents,
summaries, results). Each ``show_*`` prints on the console it is given."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from logistics.domain import CATEGORY_BY_KEY
from logistics.planning.document import Plan, Route, Summary, Unassigned
from logistics.reporting.metrics import REGISTRY

if TYPE_CHECKING:  # the demo starts the planning stack; only its types are named here
    from logistics.demo.run import DayOutputs, DemoSummary

#: at most this many point ids are shown per reason of an unassigned point
EXAMPLES_SHOWN = 5


def _line(console: Console, text: str) -> None:
    console.print(text, markup=False, highlight=False)


def _long_line(console: Console, text: str) -> None:
    """Paths and URLs: one line each, never wrapped, so that they can be copied."""
    console.print(text, highlight=False, markup=False, soft_wrap=True)


def _table(title: str, columns: tuple[str, ...], right_from: int = 0) -> Table:
    """A table whose columns from ``right_from`` on are right-aligned (numbers)."""
    table = Table(title=title)
    for i, col in enumerate(columns):
        table.add_column(col, justify="right" if i >= right_from else "left")
    return table


def solve_progress(console: Console, title: str, *, best: bool = False) -> Progress:
    """A transient progress bar over the solver's time limit; with ``best`` a last
    column shows the best cost found so far (task field ``best``)."""
    columns: list[Any] = [
        TextColumn(title),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    ]
    if best:
        columns.append(TextColumn("{task.fields[best]}"))
    return Progress(*columns, console=console, transient=True)


def _timings(console: Console, timings_s: dict[str, float]) -> None:
    console.print(
        "time / 用时: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings_s.items()),
        highlight=False,
    )


# --------------------------------------------------------------------------- demo


def display_url(url: str) -> str:
    """The URL without a password."""
    return re.sub(r"(://[^:/@]+):[^@]+@", r"\1:***@", url)


def show_demo_summary(console: Console, summary: DemoSummary) -> None:
    for line in summary.import_lines:
        _long_line(console, line)
    t = _table(
        f"示范县 / demo county (seed {summary.seed}, scale {summary.scale:g})",
        ("table / 表", "file rows / 文件行数", "in database / 数据库"),
        right_from=1,
    )
    for kind, n in summary.db_counts.items():
        written = summary.generated.get(kind)
        t.add_row(kind, "" if written is None else f"{written:,}", f"{n:,}")
    console.print(t)

    s = _table("2020 清运量 / tonnage collected", ("stream / 类别", "t", "share / 占比"), 1)
    total = summary.tonnage_t or 1.0
    for cat, tonnes in summary.tonnage_by_category_t.items():
        c = CATEGORY_BY_KEY.get(cat)
        label = f"{c.name_zh} {cat}" if c else cat
        s.add_row(label, f"{tonnes:,.1f}", f"{tonnes / total:.1%}")
    s.add_row("合计 total", f"{summary.tonnage_t:,.1f}", "")
    console.print(s)
    rate = summary.delivered_harmless_t / summary.tonnage_t if summary.tonnage_t else None
    console.print(
        f"weighbridge / 过磅: {summary.delivered_t:,.1f} t delivered, "
        f"{summary.delivered_harmless_t:,.1f} t to harmless facilities"
        + (f" (无害化处理率 {rate:.1%})" if rate is not None else ""),
        highlight=False,
    )
    url = display_url(summary.db_url)
    for line in (
        f"files / 数据文件: {summary.data_dir.resolve()}",
        f"database / 数据库: {url}",
        f"next / 下一步: wasteroute plan --db '{url}' --date 2021-01-01",
    ):
        _long_line(console, line)
    _timings(console, summary.timings_s)


def show_demo_day(console: Console, outputs: DayOutputs) -> None:
    s = outputs.plan_summary
    if outputs.plan_id:
        t = _table(
            f"次日计划 / next-day plan {outputs.plan_id}",
            ("points due / 应收点位", "served / 已安排", "vehicles / 车辆", "km / 公里",
             "t planned / 计划吨数"),
        )
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
        _long_line(console, line)
    if outputs.timings_s:
        _timings(console, outputs.timings_s)


# --------------------------------------------------------------------------- plans


def show_plan(console: Console, plan: Plan, plan_id: str, target: Path) -> None:
    """The routes of a plan, what is unassigned and why, and where it went."""
    table = _table(
        f"plan {plan_id} / 收运计划",
        ("vehicle / 车辆", "stops / 点位", "trips / 趟", "km / 公里", "kg / 公斤", "hours / 小时"),
        right_from=1,
    )
    for r in plan.routes:
        kg = sum(s.kg or 0 for s in r.collects)
        table.add_row(r.vehicle_id, str(len(r.collects)), str(_unloads(r)),
                      f"{r.distance_km:.1f}", f"{kg:,}", f"{r.duration_min / 60:.1f}")
    sm = _summary(plan)
    table.add_section()
    table.add_row("total / 合计", str(sum(len(r.collects) for r in plan.routes)),
                  str(sum(_unloads(r) for r in plan.routes)),
                  f"{sm.distance_km:.1f}", f"{sm.kg_planned:,}",
                  f"{sum(r.duration_min for r in plan.routes) / 60:.1f}")
    console.print(table)
    solver = plan.solver
    _line(
        console,
        f"points due / 应收点位 {sm.points_due}, served / 已安排 {sm.points_served}, "
        f"vehicles / 车辆 {sm.vehicles_used}, km / 公里 {sm.distance_km:,.1f}, "
        f"solver {solver.engine if solver else ''} {solver.wall_s if solver else ''} s",
    )
    if sm.cost is not None:
        _line(console, f"cost / 成本 {sm.cost:,.1f} = vehicles / 车辆固定成本 "
                       f"{(sm.cost_fixed or 0):,.1f} + km / 里程成本 {(sm.cost_distance or 0):,.1f}")
    if plan.unassigned:
        console.print(_unassigned_table(plan.unassigned))
    dem = plan.demand or {}
    if dem.get("mode") == "demand":
        _line(console, f"demand mode / 按需: selected {dem['selected']} "
                       f"({', '.join(f'{k} {n}' for k, n in sorted(dem['counts'].items()))}), "
                       f"skipped / 跳过 {len(plan.extra.get('skipped', []))} (low expected fill)")
    elif dem:
        _line(console, f"kg source / 产量来源: {dem['source']} (forecast {dem['points_forecast']}, "
                       f"kg_per_visit {dem['points_static']}, margin {dem['margin']:.0%})")
    _line(console, f"plan / 计划 {plan_id} -> {target}")


def _unloads(route: Route) -> int:
    """Trips to a facility: the route's unload stops."""
    return sum(1 for s in route.stops if s.kind == "unload")


def _summary(plan: Plan) -> Summary:
    if plan.summary is None:
        raise ValueError(f"plan {plan.plan_id} has no summary")
    return plan.summary


def _unassigned_table(unassigned: Sequence[Unassigned]) -> Table:
    by_reason: Counter[str] = Counter()
    kg_by_reason: defaultdict[str, int] = defaultdict(int)
    for u in unassigned:
        by_reason[u.reason] += 1
        kg_by_reason[u.reason] += int(u.kg)
    ut = _table("unassigned / 未安排",
                ("reason / 原因", "points / 点位", "kg / 公斤", "examples / 示例"), right_from=1)
    ut.columns[-1].justify = "left"
    for reason, n in by_reason.most_common():
        ids = [u.point_id for u in unassigned if u.reason == reason]
        more = " ..." if len(ids) > EXAMPLES_SHOWN else ""
        ut.add_row(reason, str(n), f"{kg_by_reason[reason]:,}",
                   ", ".join(ids[:EXAMPLES_SHOWN]) + more)
    return ut


def show_replan(console: Console, base_plan_id: str, plan: Plan, diff: Mapping[str, Any]) -> None:
    plan_id = str(plan.plan_id)
    summary = _summary(plan)
    table = _table(f"changes / 变更 {base_plan_id} -> {plan_id}",
                   ("point / 点位", "change / 变更", "from / 原", "to / 新"), right_from=4)
    for m in diff["moved"]:
        table.add_row(m["point_id"], "moved / 调车", m["from"], m["to"])
    for m in diff["dropped"]:
        table.add_row(m["point_id"], "dropped / 未安排", m["from"], m["reason"])
    for m in diff["newly_served"]:
        table.add_row(m["point_id"], "now served / 新安排", m["was"], m["to"])
    for m in diff["added"]:
        table.add_row(m["point_id"], f"added / 新增 {m['kg']:g} kg", "-",
                      m["to"] or m["reason"] or "-")
    console.print(table)
    _line(
        console,
        f"served before / 已收 {diff['served_before']}, kept on their truck / 原车 "
        f"{len(diff['kept'])}, moved / 调车 {len(diff['moved'])}, dropped / 未安排 "
        f"{len(diff['dropped'])} ({diff['assignment']}); points served / 已安排 "
        f"{summary.points_served} of {summary.points_due}, {summary.distance_km} km",
    )


# --------------------------------------------------------------------------- reports


def _metric_value(spec: Any, v: float | None) -> str:
    if v is None:
        return "missing / 缺失"
    if spec is not None and spec.unit == "fraction":
        return f"{v:.1%}"
    return f"{v:,.3f}".rstrip("0").rstrip(".")


def show_metrics(console: Console, doc: dict[str, Any]) -> None:
    title = f"metrics / 考核指标 {doc['from']} .. {doc['to']}"
    cov = doc.get("covers")
    if cov:  # the days counted: a period running past the data is to date
        title = (f"metrics / 考核指标 {cov['label']['zh']} / {cov['label']['en']}"
                 f" ({cov['days']} d)")
    for g in doc["groups"]:
        table = _table(f"{title} - {g['group']}",
                       ("metric / 指标", "value / 数值", "inputs / 依据"), right_from=1)
        table.columns[2].justify = "left"
        for key, m in g["metrics"].items():
            spec = REGISTRY.get(key)
            label = f"{spec.name_zh} {key}" if spec else key
            inputs = ", ".join(f"{k}={x}" for k, x in m["inputs"].items())
            if m.get("missing"):
                inputs = f"{m['missing']}; {inputs}" if inputs else m["missing"]
            table.add_row(label, _metric_value(spec, m["value"]), inputs)
        console.print(table)
    for note in doc.get("notes", []):
        _line(console, f"note / 说明: {note}")


def show_backtest(console: Console, start: dt.date, end: dt.date, result: dict[str, Any]) -> None:
    hol = result["holidays"]
    for title, part in ((f"forecast backtest / 预测回测 {start} .. {end}", result),
                        (f"statutory holidays / 法定节假日 ({hol['days']} days)", hol)):
        if not part["all"]:
            continue
        table = _table(title, ("category / 类别", "visits / 次", "MAPE %", "bias %",
                               "naive MAPE %", "naive bias %"), right_from=1)
        for cat, f in [*part["by_category"].items(), ("all / 合计", part["all"])]:
            table.add_row(cat, str(f["visits"]), f"{f['model_mape_pct']:.1f}",
                          f"{f['model_bias_pct']:+.1f}", f"{f['naive_mape_pct']:.1f}",
                          f"{f['naive_bias_pct']:+.1f}")
        console.print(table)


def show_forecast(console: Console, doc: dict[str, Any]) -> None:
    table = _table(f"forecast / 产量预测 {doc['date']}",
                   ("category / 类别", "points / 点位", "kg / 公斤", "from history / 有历史"), 1)
    cats: dict[str, list[dict[str, Any]]] = {}
    for r in doc["points"]:
        cats.setdefault(r["category"], []).append(r)
    for cat, rs in sorted(cats.items()):
        table.add_row(cat, str(len(rs)), f"{sum(r['kg'] for r in rs):,.0f}",
                      str(sum(1 for r in rs if r["source"] == "model")))
    console.print(table)
    _line(console, f"total / 合计 {doc['kg_total']:,.0f} kg, margin / 余量 {doc['margin']:.0%}")
    hol = doc.get("holiday_factors")
    if hol is not None:
        factors = ", ".join(f"{c} x{f:.2f}" for c, f in sorted(hol.items())) or "none / 无"
        _line(console, f"statutory holiday / 法定节假日: factors / 系数 {factors}")


def show_reconcile(console: Console, result: dict[str, Any]) -> None:
    table = _table(f"plan {result['plan_id']} versus actual / 计划与实际",
                   ("finding / 问题", "vehicle / 车辆", "trip / 趟", "facility / 设施",
                    "ticket / 磅单", "point / 点位", "planned kg / 计划", "actual kg / 实际", "%"),
                   right_from=9)
    for f in result["findings"]:
        table.add_row(f["kind"], f.get("vehicle_id", ""), str(f.get("trip", "")),
                      f.get("facility_id", ""), f.get("ticket_no", ""), f.get("point_id", ""),
                      f"{f['planned_kg']:g}" if "planned_kg" in f else "",
                      f"{f['actual_kg']:g}" if "actual_kg" in f else "",
                      f"{f['deviation_pct']:+.1f}" if "deviation_pct" in f else "")
    console.print(table)
    c = result["counts"]
    _line(
        console,
        f"deliveries planned / 计划卸料 {result['planned']['deliveries']}, matched / 对上 "
        f"{result['matched']['deliveries']}; points planned / 计划点位 "
        f"{result['planned']['points']}, recorded / 有记录 {result['matched']['points']}; "
        + ", ".join(f"{k} {n}" for k, n in c.items()),
    )


def show_master_routes(console: Console, by_category: dict[str, dict[str, Any]]) -> None:
    table = _table("master routes / 周排班 (max deviation from the weekday mean)",
                   ("category / 类别", "points", "changed", "kg before", "kg after",
                    "hours before", "hours after", "ok"), right_from=8)
    for cat, f in by_category.items():
        table.add_row(cat, str(f["points"]), str(f["changed"]),
                      f"{f['max_dev_kg_before']:.0%}", f"{f['max_dev_kg_after']:.0%}",
                      f"{f['max_dev_hours_before']:.0%}", f"{f['max_dev_hours_after']:.0%}",
                      "yes" if f["within_tolerance"] else "no")
    console.print(table)
