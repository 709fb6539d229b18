"""`wasteroute replan` end to end on the tiny county (tests/data/planning)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from logistics.cli import app
from logistics.persistence import plan_repo
from logistics.persistence.db import session_scope
from logistics.planning.replan import replan_day
from optimizer.params import SolveParams
from tests.factories import (
    PLANNING_COUNTY,
    REPLAN_AT,
    REPLAN_AT_T,
    REPLAN_DATE,
    cli_ok,
    parse_ts,
    planned_by_cli,
)
from tests.plan_checker import assert_plan_ok, check_plan


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _served(doc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Per vehicle the stops left by REPLAN_AT (departure <= REPLAN_AT)."""
    return {r["vehicle_id"]: [s for s in r["stops"] if parse_ts(s["departure"]) <= REPLAN_AT_T]
            for r in doc["routes"]}


def _open_points(doc: dict[str, Any], vid: str | None = None) -> set[str]:
    return {s["id"] for r in doc["routes"] if vid is None or r["vehicle_id"] == vid
            for s in r["stops"] if s["kind"] == "collect" and parse_ts(s["departure"]) > REPLAN_AT_T}


def _spare(tmp_path: Path, url: str, runner: CliRunner) -> None:
    """A spare truck on standby at D1 (imported after the plan was made)."""
    f = tmp_path / "vehicles.csv"
    f.write_text(
        "vehicle_id,plate,depot_id,compartments,shift_start,shift_end,break_min,"
        "break_earliest,break_latest,cost_per_km,fixed_cost\n"
        "V05,豫A·H0005,D1,kitchen:6000;residual:6000,06:00,18:00,30,11:00,14:00,1.5,100\n",
        encoding="utf-8")
    cli_ok(runner, "import", str(f), "--db", url)


def test_vehicle_down_keeps_served_stops_and_serves_the_rest(
    runner: CliRunner, db_url: str, tmp_path: Path
) -> None:
    base = planned_by_cli(runner, db_url, tmp_path)
    # the truck with the most collections still to do after 09:00 breaks down
    down = max(base["routes"], key=lambda r: len(_open_points(base, r["vehicle_id"])))
    vid = down["vehicle_id"]
    assert _open_points(base, vid), "the test needs a truck with work left after 09:00"
    _spare(tmp_path, db_url, runner)
    out = tmp_path / "replan.json"
    res = cli_ok(runner, "replan", "--date", REPLAN_DATE, "--at", REPLAN_AT, "--vehicle-down", vid,
              "--out", str(out), "--time-limit", "5", "--db", db_url)
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["plan_id"] == f"{REPLAN_DATE}-2"
    assert doc["replan"]["base_plan_id"] == f"{REPLAN_DATE}-1"
    assert_plan_ok(doc, db_url)
    # every stop left by 09:00 stays exactly as it was, in front of its route
    new_routes = {r["vehicle_id"]: r for r in doc["routes"]}
    for v, stops in _served(base).items():
        if any(s["kind"] == "collect" for s in stops):
            assert new_routes[v]["stops"][: len(stops)] == stops
    # the broken truck collects nothing after 09:00 and ends empty at its depot
    late = [s for s in new_routes[vid]["stops"] if s["kind"] == "collect"
            and parse_ts(s["departure"]) > REPLAN_AT_T]
    assert late == []
    # with a spare truck every remaining point is served; P902 (bulky) stays unassigned
    served = {s["id"] for r in doc["routes"] for s in r["stops"] if s["kind"] == "collect"}
    assert _open_points(base) <= served
    assert [u["point_id"] for u in doc["unassigned"]] == ["P902"]
    # the diff names each moved point with its old and new truck, and is printed
    moved = {m["point_id"]: m for m in doc["replan"]["diff"]["moved"]}
    assert set(moved) >= _open_points(base, vid) - {
        s["id"] for s in new_routes[vid]["stops"] if s["kind"] == "collect"}
    for pid, m in moved.items():
        assert m["to"] != vid and pid in res.stdout
    # stored as the new current version, the old one superseded
    with session_scope(db_url) as s:
        assert plan_repo.current_plan(s, dt.date(2026, 11, 27)).plan_id == f"{REPLAN_DATE}-2"  # type: ignore[union-attr]
        stored = plan_repo.get_plan(s, f"{REPLAN_DATE}-2")
        assert stored is not None and stored.document == doc
        assert plan_repo.get_plan(s, f"{REPLAN_DATE}-1").status == "superseded"  # type: ignore[union-attr]


def test_closed_facility_is_not_used_after_the_event(
    runner: CliRunner, db_url: str, tmp_path: Path
) -> None:
    planned_by_cli(runner, db_url, tmp_path)
    f = tmp_path / "facilities.csv"
    f.write_text(
        "facility_id,name,kind,accepts,lon,lat,open,close,unload_min,daily_capacity_kg,harmless\n"
        "F4,备用转运站,transfer_station,kitchen;residual,113.990,34.690,05:00,20:00,15,,true\n",
        encoding="utf-8")
    cli_ok(runner, "import", str(f), "--db", db_url)
    out = tmp_path / "replan.json"
    cli_ok(runner, "replan", "--date", REPLAN_DATE, "--at", REPLAN_AT, "--facility-closed", "F1",
        "--out", str(out), "--time-limit", "3", "--db", db_url)
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert_plan_ok(doc, db_url)
    after = [s for r in doc["routes"] for s in r["stops"]
             if s["kind"] == "unload" and s["id"] == "F1" and parse_ts(s["start"]) > REPLAN_AT_T]
    assert after == []
    assert any(s["kind"] == "unload" and s["id"] == "F4" for r in doc["routes"]
               for s in r["stops"])


def test_added_point_is_served_with_its_kg(
    runner: CliRunner, db_url: str, tmp_path: Path
) -> None:
    planned_by_cli(runner, db_url, tmp_path)
    out = tmp_path / "replan.json"
    # P903 is not due on Fridays: the city platform reports it overflowing
    res = cli_ok(runner, "replan", "--date", REPLAN_DATE, "--at", REPLAN_AT, "--add-point", "P903",
              "--kg", "500", "--out", str(out), "--time-limit", "3", "--db", db_url)
    doc = json.loads(out.read_text(encoding="utf-8"))
    stops = [s for r in doc["routes"] for s in r["stops"]
             if s["kind"] == "collect" and s["id"] == "P903"]
    assert sum(s["kg"] for s in stops) == 500
    assert all(parse_ts(s["start"]) > REPLAN_AT_T for s in stops)
    assert "P903" in res.stdout
    # the only complaints of the checker: P903 is not due by its schedule
    problems = check_plan(doc, db_url)
    assert problems and all(
        (p.rule == "due" and p.where == "P903") or (p.rule == "summary" and
                                                    p.where == "points_due")
        for p in problems), problems


def test_replan_refuses_bad_requests_and_writes_nothing(
    runner: CliRunner, db_url: str, tmp_path: Path
) -> None:
    cli_ok(runner, "import", str(PLANNING_COUNTY), "--db", db_url)
    res = runner.invoke(app, ["replan", "--date", REPLAN_DATE, "--at", REPLAN_AT, "--db", db_url])
    assert res.exit_code == 2 and "no plan" in res.output
    cli_ok(runner, "plan", "--date", REPLAN_DATE, "--time-limit", "1", "--out",
        str(tmp_path / "p.json"), "--db", db_url)
    for args in (["--at", "25:00"], ["--at", REPLAN_AT, "--vehicle-down", "NOPE"],
                 ["--at", REPLAN_AT, "--add-point", "NOPE"], ["--at", REPLAN_AT, "--facility-closed", "X"]):
        res = runner.invoke(app, ["replan", "--date", REPLAN_DATE, *args, "--db", db_url])
        assert res.exit_code == 2, res.output
        assert "Traceback" not in res.output
    with session_scope(db_url) as s:
        assert [p.plan_id for p in plan_repo.list_plans(s)] == [f"{REPLAN_DATE}-1"]


def test_a_replan_with_a_seed_and_solution_limit_is_reproducible(
    runner: CliRunner, db_url: str, tmp_path: Path
) -> None:
    """The same event, seed and solution limit give the same rest of the day, whatever
    the machine's speed (the generous time limit is only a safety bound)."""
    base = planned_by_cli(runner, db_url, tmp_path)
    down = max(base["routes"], key=lambda r: len(_open_points(base, r["vehicle_id"])))
    day = dt.date.fromisoformat(REPLAN_DATE)
    at_s = 9 * 3600
    docs = []
    for _ in range(2):
        with session_scope(db_url) as session:
            result = replan_day(session, day, at_s, vehicles_down=[down["vehicle_id"]],
                                time_limit_s=600, store=False,
                                params=SolveParams(seed=3, solution_limit=5))
        doc = result.document
        doc["solver"].pop("wall_s", None)
        docs.append(doc)
    assert docs[0]["routes"] == docs[1]["routes"]
    assert docs[0]["unassigned"] == docs[1]["unassigned"]
    assert docs[0] == docs[1]
    assert down["vehicle_id"] not in {v for v, stops in _served_after(docs[0]).items() if stops}


def _served_after(doc: dict[str, Any]) -> dict[str, list[str]]:
    """Per vehicle the collect stops after REPLAN_AT."""
    return {r["vehicle_id"]: [s["id"] for s in r["stops"] if s["kind"] == "collect"
                              and parse_ts(s["departure"]) > REPLAN_AT_T] for r in doc["routes"]}
