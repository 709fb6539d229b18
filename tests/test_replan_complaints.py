"""`wasteroute replan --complaints`: overflow reports from the city-management platform
(stored by POST /events/complaints) become urgent points of the re-plan, then handled."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from logistics.persistence.db import session_scope
from logistics.persistence.models import Complaint
from tests.factories import REPLAN_AT, REPLAN_AT_T, REPLAN_DATE, cli_ok, parse_ts, planned_by_cli


def _complaint(point: str, hhmm: str, kg: float | None, handled: bool = False) -> Complaint:
    h, m = map(int, hhmm.split(":"))
    now = dt.datetime(2026, 11, 27, h, m)
    return Complaint(point_id=point, time=now, note="满溢", kg_estimate=kg, source="数字城管",
                     received_at=now, handled=handled)


def test_open_complaints_before_the_event_are_served_and_marked_handled(
    db_url: str, tmp_path: Path
) -> None:
    runner = CliRunner()
    planned_by_cli(runner, db_url, tmp_path)
    with session_scope(db_url) as s:
        s.add_all([
            _complaint("P903", "08:10", 300.0),
            _complaint("P903", "08:40", 500.0),  # same point: the larger estimate wins
            _complaint("P037", "10:30", 200.0),  # after the event: not yet known
            _complaint("P038", "07:00", 100.0, handled=True),  # already dealt with
        ])
    out = tmp_path / "replan.json"
    cli_ok(runner, "replan", "--date", REPLAN_DATE, "--at", REPLAN_AT, "--complaints", "--out", str(out),
        "--time-limit", "3", "--db", db_url)
    doc = json.loads(out.read_text(encoding="utf-8"))
    p903 = [stop for r in doc["routes"] for stop in r["stops"]
            if stop["kind"] == "collect" and stop["id"] == "P903"]
    assert sum(stop["kg"] for stop in p903) == 500
    assert all(parse_ts(stop["start"]) > REPLAN_AT_T for stop in p903)
    # only the complaints received before the event and not yet handled are added
    assert [a["point_id"] for a in doc["replan"]["diff"]["added"]] == ["P903"]
    with session_scope(db_url) as s:
        state = {(c.point_id, c.time.strftime("%H:%M")): c.handled
                 for c in s.scalars(select(Complaint))}
    assert state == {("P903", "08:10"): True, ("P903", "08:40"): True,
                     ("P037", "10:30"): False, ("P038", "07:00"): True}
