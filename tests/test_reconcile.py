"""`wasteroute reconcile`: each deliberate discrepancy is found, a clean day has none."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from logistics.cli import app
from logistics.persistence.db import session_scope
from logistics.persistence.models import Ticket
from logistics.planning.reconcile import make_reconcile_day, stored_findings

COUNTY = Path(__file__).parent / "data" / "planning"
DATE = "2026-11-27"
DAY = dt.date(2026, 11, 27)


@pytest.fixture
def planned(db_url: str, tmp_path: Path) -> str:
    runner = CliRunner()
    res = runner.invoke(app, ["import", str(COUNTY), "--db", db_url])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["plan", "--date", DATE, "--time-limit", "1", "--out",
                              str(tmp_path / "p.json"), "--db", db_url])
    assert res.exit_code == 0, res.output
    return db_url


def _reconcile(url: str, *args: str) -> dict[str, Any]:
    res = CliRunner().invoke(app, ["reconcile", "--date", DATE, "--json", "--db", url, *args])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_clean_day_has_no_findings(planned: str) -> None:
    with session_scope(planned) as s:
        assert make_reconcile_day(s, DAY, discrepancies=False) == []
    doc = _reconcile(planned)
    assert doc["format"] == "wasteroute.reconcile/1"
    assert doc["findings"] == [], doc["findings"]
    assert doc["matched"]["deliveries"] == doc["planned"]["deliveries"] > 0
    assert doc["matched"]["points"] == doc["planned"]["points"] > 0


def test_each_deliberate_discrepancy_is_found_and_stored(planned: str) -> None:
    with session_scope(planned) as s:
        made = make_reconcile_day(s, DAY, seed=3)
    assert sorted(m["kind"] for m in made) == [
        "point_not_recorded", "ticket_unplanned", "unload_missing", "weight_deviation"]
    doc = _reconcile(planned)
    found = doc["findings"]
    assert len(found) == 4, found
    for m in made:
        hits = [f for f in found if f["kind"] == m["kind"]
                and all(f.get(k) == v for k, v in m.items())]
        assert len(hits) == 1, (m, found)
    heavy = next(f for f in found if f["kind"] == "weight_deviation")
    assert heavy["deviation_pct"] == pytest.approx(40.0, abs=0.2)
    with session_scope(planned) as s:
        rows = stored_findings(s, DAY)
        assert sorted(r.kind for r in rows) == sorted(m["kind"] for m in made)
    # a second run replaces the stored findings; a higher threshold hides the deviation
    doc2 = _reconcile(planned, "--threshold-pct", "50")
    assert "weight_deviation" not in {f["kind"] for f in doc2["findings"]}
    with session_scope(planned) as s:
        assert len(stored_findings(s, DAY)) == 3


def test_ticket_without_vehicle_is_matched_by_facility_and_time(planned: str) -> None:
    with session_scope(planned) as s:
        make_reconcile_day(s, DAY, discrepancies=False)
        t = s.scalars(select(Ticket).order_by(Ticket.time)).first()
        assert t is not None
        t.vehicle_id = ""
    assert _reconcile(planned)["findings"] == []


def test_reconcile_without_plan_is_a_clear_error(db_url: str) -> None:
    res = CliRunner().invoke(app, ["reconcile", "--date", DATE, "--db", db_url])
    assert res.exit_code == 2 and "no plan" in res.output


def test_reconcile_table_names_the_findings(planned: str) -> None:
    with session_scope(planned) as s:
        made = make_reconcile_day(s, DAY, seed=5)
    res = CliRunner().invoke(app, ["reconcile", "--date", DATE, "--db", planned])
    assert res.exit_code == 0, res.output
    for m in made:
        assert m["kind"] in res.stdout
