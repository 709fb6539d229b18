"""`wasteroute demo` end to end at a small scale: it plans the next day, the plan
document passes the independent checker, and the route sheets are written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from logistics.cli import app
from logistics.demand.due import due_points, expected_kg_detail
from logistics.demo.run import DEMO_PLAN_DATE
from logistics.persistence.db import session_scope
from logistics.reporting.metrics import compute_metrics
from tests.plan_checker import assert_plan_ok


def test_demo_plans_next_day_and_writes_sheets(tmp_path: Path, db_url: str) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(
        app,
        ["demo", "--out", str(out), "--scale", "0.02", "--time-limit", "3", "--db", db_url],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    plan_path = out / f"plan-{DEMO_PLAN_DATE.isoformat()}.json"
    assert plan_path.is_file()
    doc = json.loads(plan_path.read_text(encoding="utf-8"))
    assert doc["format"] == "wasteroute.plan/1"
    assert doc["date"] == DEMO_PLAN_DATE.isoformat()
    assert doc["summary"]["points_due"] > 0
    assert doc["summary"]["points_served"] > 0
    # the demo has a year of records: kg due = the forecast (computed here through the
    # demand seam, independently of the planner), not kg_per_visit
    assert doc["demand"]["source"] == "forecast" and doc["demand"]["points_forecast"] > 0
    with session_scope(db_url) as session:
        points = due_points(session, DEMO_PLAN_DATE)
        want, _ = expected_kg_detail(session, points, DEMO_PLAN_DATE)
    assert_plan_ok(doc, db_url, expected_kg=want)
    routes = [r for r in doc["routes"] if any(s["kind"] == "collect" for s in r["stops"])]
    pdfs = sorted((out / "sheets" / "pdf").glob("*.pdf"))
    gpx = sorted((out / "sheets" / "gpx").glob("*.gpx"))
    # one PDF per route plus the combined one; one GPX per route
    assert len(pdfs) == len(routes) + 1
    assert len(gpx) == len(routes)
    assert str(plan_path.resolve()) in result.output.replace("\n", "")
    index = out / "dashboards" / "index.html"
    assert index.is_file()
    # plotly.js written once beside the pages, not inlined per page
    assert (out / "dashboards" / "plotly.min.js").is_file()
    assert all(p.stat().st_size < 2_000_000 for p in (out / "dashboards").glob("*.html"))
    # the dashboards open on the complete year 2020, not on the planned day's 2021
    overview = (out / "dashboards" / "overview.html").read_text(encoding="utf-8")
    assert '<p class="period" data-kind="year"><b>2020年</b>' in overview
    # the transfer station sent on the same evening all it took in on the planned day
    with session_scope(db_url) as session:
        day = compute_metrics(session, DEMO_PLAN_DATE, DEMO_PLAN_DATE)
    held = day["groups"][0]["metrics"]["in_transit_t"]
    assert held["inputs"]["intake_t"] == held["inputs"]["sent_on_t"] and held["value"] == 0.0
    # the evening check: the demo's deliberate discrepancies are found
    rec = json.loads((out / f"reconcile-{DEMO_PLAN_DATE.isoformat()}.json").read_text("utf-8"))
    for kind in ("ticket_unplanned", "unload_missing", "weight_deviation", "point_not_recorded"):
        assert rec["counts"][kind] >= 1, (kind, rec["counts"])


def test_demo_plan_is_the_same_for_a_fixed_seed_and_solution_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The search stops after a number of solutions instead of a time: two runs give the
    same plan (only the wall time differs). Each run on its own new database."""
    monkeypatch.delenv("WASTEROUTE_DB", raising=False)
    plans = []
    for run in ("a", "b"):
        out = tmp_path / run
        result = CliRunner().invoke(
            app,
            ["demo", "--out", str(out), "--scale", "0.02", "--no-sheets", "--time-limit", "60",
             "--solver-seed", "3", "--solution-limit", "20"],
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        doc = json.loads((out / f"plan-{DEMO_PLAN_DATE.isoformat()}.json").read_text("utf-8"))
        doc["solver"].pop("wall_s")
        plans.append(doc)
    assert plans[0]["routes"] and plans[0] == plans[1]
