"""`wasteroute plan --mode demand`: points chosen by expected fill, skipped ones reported."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from logistics.cli import app
from logistics.demand.simulate import SimConfig, day_selection, make_demand_document
from logistics.persistence.models import CollectionRecord, Point
from tests.factories import county_history
from tests.plan_checker import assert_plan_ok, check_plan

DAY = dt.date(2026, 11, 27)  # Friday, the day after the history
LIGHT = ("P001", "P003")  # daily kitchen points producing 30 % of their kg_per_visit
SURGE = "P004"  # kitchen, Tue/Thu/Sat: not due on Fridays, now producing 3x


def _county(session: Session) -> None:
    county_history(session)
    session.execute(update(CollectionRecord).where(CollectionRecord.point_id.in_(LIGHT))
                    .values(kg=CollectionRecord.kg * 0.3))
    session.execute(update(CollectionRecord).where(CollectionRecord.point_id == SURGE)
                    .values(kg=CollectionRecord.kg * 3))
    session.flush()


def test_selection_must_optional_and_unscheduled_overflow(session: Session) -> None:
    _county(session)
    sel, info = day_selection(session, DAY)
    assert info[SURGE]["kind"] == "must"
    assert info[SURGE]["why"] == "overflow_before_next_visit"
    assert sel[SURGE][1] is None
    for pid in LIGHT:
        assert info[pid]["kind"] == "optional", info[pid]
        penalty = sel[pid][1]
        assert penalty is not None and penalty >= 1
        assert info[pid]["fill_ratio"] < 0.6
    assert info["P038"]["why"] == "schedule_no_history"  # no records: the schedule
    # a point is chosen by its schedule or because it would overflow before its next visit
    friday = 1 << 4
    masks = {p.point_id: p.days_mask for p in session.scalars(select(Point))}
    for pid, v in info.items():
        assert (masks[pid] & friday) or v["why"] == "overflow_before_next_visit", (pid, v)
    # a daily point with a normal history stays a must (skipping it overflows tomorrow)
    assert masks["P006"] == 0b1111111 and info["P006"]["kind"] == "must"


def test_zero_penalty_skips_every_optional_point(session: Session) -> None:
    _county(session)
    cfg = dataclasses.replace(SimConfig(), penalty_km=0.0)
    doc = make_demand_document(session, DAY, time_limit_s=2, cfg=cfg)
    skipped = {s["point_id"] for s in doc["skipped"]}
    assert set(LIGHT) <= skipped
    assert all(s["reason"] == "low_expected_fill" for s in doc["skipped"])
    assert not skipped & set(doc["demand"]["due_points"])
    assert SURGE in doc["demand"]["due_points"]


def test_plan_cli_demand_mode_end_to_end(db_url: str, session: Session, tmp_path: Path) -> None:
    _county(session)
    session.commit()
    out = tmp_path / "plan.json"
    res = CliRunner().invoke(app, ["plan", "--date", DAY.isoformat(), "--mode", "demand",
                                   "--time-limit", "2", "--out", str(out), "--db", db_url])
    assert res.exit_code == 0, res.output
    assert "demand mode" in res.stdout
    doc = json.loads(out.read_text(encoding="utf-8"))
    dem = doc["demand"]
    assert dem["mode"] == "demand"
    due = set(dem["due_points"])
    skipped = {s["point_id"] for s in doc["skipped"]}
    assert SURGE in due  # added: would overflow before Saturday
    assert skipped <= set(LIGHT)  # only optional points may be skipped
    assert set(LIGHT) <= due | skipped
    assert doc["summary"]["points_due"] == len(due)
    assert_plan_ok(doc, db_url)
    # the checker's "due" follows the document: a skipped point listed as due is caught
    if skipped:
        bad = json.loads(json.dumps(doc))
        bad["demand"]["due_points"].append(sorted(skipped)[0])
        assert any(v.rule in ("demand", "due") for v in check_plan(bad, db_url))
    bad = json.loads(json.dumps(doc))
    bad["skipped"].append({"point_id": SURGE, "reason": "low_expected_fill"})
    assert any(v.rule == "demand" for v in check_plan(bad, db_url))
    res = CliRunner().invoke(app, ["plan", "--date", DAY.isoformat(), "--mode", "fill",
                                   "--db", db_url])
    assert res.exit_code == 2
