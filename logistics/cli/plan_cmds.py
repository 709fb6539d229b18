"""Commands that plan: plan, replan, forecast and master routes."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated, Any

import typer

from logistics.cli import render
from logistics.cli.common import (
    ClusterOpt,
    DbOpt,
    SeedOpt,
    SolutionLimitOpt,
    check_out_file,
    db_url,
    err,
    migrated_session,
    out,
    print_json,
    say,
    solve_params,
    write_document,
)
from logistics.domain import BadInput
from logistics.persistence import plan_repo
from logistics.persistence.db import session_scope, upgrade


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
    seed: SeedOpt = 0,
    solution_limit: SolutionLimitOpt = None,
    cluster: ClusterOpt = None,
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
    from logistics.demand.simulate import make_demand_document
    from logistics.planning.document import Plan
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
    check_out_file(target)
    params = solve_params(seed, solution_limit, cluster)
    url = db_url(db)
    upgrade(url)
    bar = render.solve_progress(err, "[bold]solving / 求解[/bold] {task.description}", best=True)
    with session_scope(url) as session, bar:
        task = bar.add_task(day.isoformat(), total=1.0, best="")

        def on_progress(fraction: float, objective: int | None) -> None:
            best = "" if objective is None else f"cost {objective / 1000:,.1f}"
            bar.update(task, completed=min(1.0, max(0.0, fraction)), best=best)

        if mode == "demand":
            doc = make_demand_document(session, day, time_limit_s=time_limit,
                                       distance_model=model, params=params)
            plan_id = plan_repo.store_plan(session, day, doc).plan_id
            plan = Plan.from_json(doc)
        else:
            result = plan_day(session, day, time_limit_s=time_limit, distance_model=model,
                              params=params, progress=on_progress, margin=margin)
            doc, plan_id, plan = result.document, result.plan_id, result.plan
    write_document(target, doc)
    render.show_plan(out, plan, plan_id, target)


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
    seed: SeedOpt = 0,
    solution_limit: SolutionLimitOpt = None,
    cluster: ClusterOpt = None,
    db: DbOpt = None,
) -> None:
    """Re-plan the rest of a day after an event; served stops stay / 日内重新规划.

    Stores a new version of the day's plan with the changes (moved, dropped,
    added points) under the document's `replan` key and prints them.
    """
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
    if out_path is not None:
        check_out_file(out_path)
    with migrated_session(db) as session:
        reports = open_complaints(session, day, at_s) if complaints else []
        named = {p for p, _ in pairs}
        pairs += [(p, k) for p, k in complaint_points(reports) if p not in named]
        if complaints and not reports:
            err.print("no open complaints up to --at / 无待处理投诉", markup=False)
        result = replan_day(session, day, at_s, vehicles_down=list(vehicle_down or []),
                            add_points=pairs, facilities_closed=list(facility_closed or []),
                            time_limit_s=time_limit, distance_model=distance,
                            keep_trucks=keep_trucks, keep_tolerance=keep_tolerance,
                            params=solve_params(seed, solution_limit, cluster))
        mark_handled(session, reports)
    doc = result.document
    target = out_path or Path(f"plan-{day.isoformat()}-v{result.version}.json")
    write_document(target, doc)
    render.show_replan(out, result.base_plan_id, result.plan, result.diff)
    for vid, load in result.diff["stranded_kg"].items():
        err.print(f"warning / 警告: {vid} cannot unload {load} (stranded / 滞留)",
                  markup=False, highlight=False)
    say(f"plan / 计划 {result.plan_id} -> {target}")


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
    from logistics.demand.due import due_points
    from logistics.demand.forecast import (
        History,
        backtest,
        forecast_day,
        holiday_factors,
        is_public_holiday,
        safety_margin,
    )
    from logistics.planning.plan import parse_date

    url = db_url(db)
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
        else:
            render.show_backtest(out, start, end, result)
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
    else:
        render.show_forecast(out, doc)


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
    from logistics.planning.master_routes import apply, balance, days_text
    from logistics.reporting.exports import spreadsheet_text

    url = db_url(db)
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
            w.writerows({k: spreadsheet_text(v) for k, v in r.items()} for r in changed)
    if as_json:
        print_json({"format": "wasteroute.master-routes/1", "tolerance": tolerance,
                    "by_category": result.by_category, "changed": changed,
                    "trucks": result.truck_figures(), "applied": applied})
        return
    render.show_master_routes(out, result.by_category)
    tf = result.truck_figures()
    say(f"{len(changed)} point(s) change weekdays"
        + (f" -> {out_path}" if out_path else "")
        + (f"; applied to {applied} point(s) / 已写入" if do_apply else
           " (proposed only; --apply writes them)"))
    if tf["points_with_truck"]:
        say(f"same truck / 原车: {tf['same_truck']} of {tf['points_with_truck']} "
            f"({tf['share_same_truck']:.0%})")
