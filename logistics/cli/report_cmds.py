"""Commands that report: route sheets, metrics, dashboards, reconciliation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from logistics.cli import common
from logistics.cli.common import DbOpt, db_url, migrated_session, print_json, say_path
from logistics.domain import BadInput, parse_category, parse_day
from logistics.persistence.db import session_scope, upgrade
from logistics.reporting.metrics import CO2_KG_PER_KM, compute_metrics
from logistics.reporting.periods import default_period

# Sheets (WeasyPrint), dashboards (Plotly), reconciliation and the tables (the planning
# stack) are imported by the commands that use them: `metrics --json` is a figure a
# script asks for, and starting those libraries took longer than the query.


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
    from logistics.sheets import write_sheets

    url = db_url(db)
    upgrade(url)
    with session_scope(url) as session:
        paths = write_sheets(
            session, date, fmt, out_dir, lang=lang, vehicle=vehicle, base_url=base_url
        )
    for path in paths:
        say_path(path)


def metrics(
    date_from: Annotated[
        str | None, typer.Option("--from", help="first day YYYY-MM-DD (default: --period)")
    ] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="last day YYYY-MM-DD, included (default: --period)")
    ] = None,
    period: Annotated[
        str, typer.Option("--period", help="without --from/--to: year (the year up to the "
                          "newest complete month) or month (the newest complete month)")
    ] = "year",
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
    """Official metrics with their inputs, counted through the last day with data /
    考核指标（只统计到有数据的最后一天）."""
    if period not in ("year", "month"):
        raise BadInput(f"--period must be year or month (got {period})")
    if (date_from is None) != (date_to is None):
        raise BadInput("give both --from and --to, or neither / --from 与 --to 须同时给出")
    cat = None
    if category is not None:
        cat = parse_category(category)
        if cat is None:
            raise BadInput(f"--category: unknown category ({category})")
    with migrated_session(db) as session:
        if date_from is not None and date_to is not None:
            start, end = parse_day(date_from, "--from"), parse_day(date_to, "--to")
        else:
            start, end = default_period(session, period)
        doc = compute_metrics(
            session, start, end, by=by, category=cat, town=town,
            co2_kg_per_km=CO2_KG_PER_KM if co2_kg_per_km is None else co2_kg_per_km,
        )
    if as_json:
        print_json(doc)
    else:
        from logistics.cli import render

        render.show_metrics(common.out, doc)


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

    if lang not in ("zh", "en"):
        raise BadInput(f"--lang must be zh or en (got {lang})")
    day = parse_day(date) if date else None
    with migrated_session(db) as session:
        paths = write_dashboards(session, out_dir, date=day, lang=lang)
    for path in paths:
        say_path(path)
    say_path(
        "maps need http:// / 地图需通过 http 打开: "
        f"python -m http.server -d {out_dir} 8000  ->  http://127.0.0.1:8000/index.html"
    )


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
    from logistics.cli import render
    from logistics.planning.reconcile import reconcile_day

    day = parse_day(date)
    if not (0 <= threshold_pct < float("inf")):
        raise BadInput(f"--threshold-pct must be a number >= 0 (got {threshold_pct})")
    if not (0 < window_min < float("inf")):
        raise BadInput(f"--window-min must be a positive number (got {window_min})")
    with migrated_session(db) as session:
        result = reconcile_day(session, day, threshold_pct=threshold_pct, window_min=window_min)
    if as_json:
        print_json(result)
    else:
        render.show_reconcile(common.out, result)
