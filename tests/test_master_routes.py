"""Master routes: weekday patterns that balance tonnage and hours per weekday."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from logistics.cli import app
from logistics.imports import import_paths
from logistics.persistence.models import Point
from logistics.planning.master_routes import balance, days_text, gaps, patterns

COUNTY = Path(__file__).parent / "data" / "planning"


def test_patterns_are_evenly_spread() -> None:
    assert days_text(patterns(3)[0]) in {"1;3;5", "1;3;6", "1;4;6"}
    for n in range(1, 7):
        for m in patterns(n):
            assert bin(m).count("1") == n
            g = [x for x in gaps(m) if x]
            assert sum(g) == 7 and max(g) - min(g) <= 1


def test_lopsided_week_is_balanced_keeping_visits_per_week(session: Session) -> None:
    import_paths(session, [COUNTY])
    # every recyclable point not collected daily goes on Monday only: a lopsided week
    session.execute(update(Point).where(Point.category == "recyclable")
                    .values(days_mask=0b0000001))
    session.flush()
    before = {p.point_id: p.days_mask for p in session.scalars(select(Point))}
    result = balance(session, tolerance=0.5)
    f = result.by_category["recyclable"]
    assert f["max_dev_kg_before"] > 3  # all on one day: 6x the mean
    assert f["max_dev_kg_after"] < f["max_dev_kg_before"] / 3
    assert f["changed"] > 0
    for pid, (old, new) in result.changed.items():
        assert old == before[pid]
        assert bin(old).count("1") == bin(new).count("1")  # visits per week kept
    # daily points never move, and nothing is written
    assert all(before[pid] != 0b1111111 for pid in result.changed)
    assert {p.point_id: p.days_mask for p in session.scalars(select(Point))} == before


def test_balanced_week_stays_as_it_is(session: Session) -> None:
    import_paths(session, [COUNTY])
    session.execute(update(Point).values(days_mask=0b1111111))
    session.flush()
    assert balance(session).changed == {}


def test_master_routes_cli(db_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["import", str(COUNTY), "--db", db_url]).exit_code == 0
    out = tmp_path / "days.csv"
    res = runner.invoke(app, ["master-routes", "--json", "--out", str(out), "--db", db_url])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert set(doc["by_category"]) >= {"kitchen", "residual", "recyclable"}
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "point_id,days_before,days_after"
    assert len(lines) == 1 + len(doc["changed"])


def test_master_routes_apply_writes_days_and_reports_trucks(db_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["import", str(COUNTY), "--db", db_url]).exit_code == 0
    res = runner.invoke(app, ["plan", "--date", "2026-11-27", "--time-limit", "2",
                              "--out", str(tmp_path / "p.json"), "--db", db_url])
    assert res.exit_code == 0, res.output
    from logistics.persistence.db import session_scope

    with session_scope(db_url) as s:
        s.execute(update(Point).where(Point.category == "recyclable")
                  .values(days_mask=0b0000001))
        before = {p.point_id: p.days_mask for p in s.scalars(select(Point))}
    res = runner.invoke(app, ["master-routes", "--json", "--tolerance", "0.5", "--db", db_url])
    assert res.exit_code == 0, res.output
    proposed = json.loads(res.stdout)
    assert proposed["applied"] == 0 and proposed["changed"]
    t = proposed["trucks"]
    assert t["points_with_truck"] > 0 and 0 <= t["same_truck"] <= t["points_with_truck"]
    with session_scope(db_url) as s:  # proposing wrote nothing
        assert {p.point_id: p.days_mask for p in s.scalars(select(Point))} == before
    res = runner.invoke(app, ["master-routes", "--apply", "--tolerance", "0.5", "--db", db_url])
    assert res.exit_code == 0, res.output
    assert "applied" in res.stdout and "same truck" in res.stdout
    with session_scope(db_url) as s:
        after = {p.point_id: p.days_mask for p in s.scalars(select(Point))}
    want = dict(before)
    for c in proposed["changed"]:
        want[c["point_id"]] = sum(1 << (int(d) - 1) for d in c["days_after"].split(";"))
    assert after == want
    # applied: the week is now balanced, so a second run proposes nothing new
    res = runner.invoke(app, ["master-routes", "--json", "--tolerance", "0.5", "--db", db_url])
    assert json.loads(res.stdout)["changed"] == []
