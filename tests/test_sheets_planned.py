"""Route sheets of a plan made by the planner (tiny county of tests/data/planning):
the sheets read what `plan_day` writes, not only hand-written documents."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import gpxpy
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from logistics.imports import import_paths
from logistics.persistence.models import Facility, Point
from logistics.planning.plan import plan_day
from logistics.sheets import write_sheets

COUNTY = Path(__file__).parent / "data" / "planning"
FRIDAY = dt.date(2026, 11, 27)


def test_sheets_of_a_planned_day(session: Session, tmp_path: Path) -> None:
    import_paths(session, [COUNTY])
    session.flush()
    doc = plan_day(session, FRIDAY, time_limit_s=2.0).document
    session.commit()
    names = {p.point_id: p.name for p in session.scalars(select(Point))} | {
        f.facility_id: f.name for f in session.scalars(select(Facility))
    }

    pdfs = write_sheets(session, FRIDAY, "pdf", tmp_path)
    assert len(pdfs) == len(doc["routes"]) + 1
    for path, route in zip(pdfs, doc["routes"], strict=False):
        text = "".join(p.extract_text() or "" for p in PdfReader(path).pages).replace("\n", "")
        pos = 0
        for stop in route["stops"]:
            if stop["kind"] in ("collect", "unload"):
                found = text.find(names[stop["id"]], pos)
                assert found >= 0, (path.name, stop["id"])
                pos = found

    gpxs = write_sheets(session, FRIDAY, "gpx", tmp_path)
    for path, route in zip(gpxs, doc["routes"], strict=True):
        gpx = gpxpy.parse(path.read_text(encoding="utf-8"))
        assert len(gpx.waypoints) == sum(1 for s in route["stops"] if "lon" in s)

    (xlsx,) = write_sheets(session, FRIDAY, "xlsx", tmp_path)
    rows = list(load_workbook(xlsx)["汇总"].iter_rows(values_only=True))
    head = rows[0]
    body = rows[1 : 1 + len(doc["routes"])]
    assert [r[head.index("车辆")] for r in body] == [r["vehicle_id"] for r in doc["routes"]]
    assert sum(r[head.index("预计公斤")] for r in body) == doc["summary"]["kg_planned"]
