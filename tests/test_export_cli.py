"""`wasteroute export` writes files that `wasteroute import` takes back unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from logistics.cli import app
from logistics.persistence.db import session_factory
from logistics.persistence.models import Facility, Point

DATA = Path(__file__).parent / "data" / "planning"


def _snapshot(url: str) -> tuple[list[tuple], list[tuple]]:
    with session_factory(url)() as s:
        pts = [(p.point_id, p.name, round(p.lon, 7), round(p.lat, 7), p.category, p.kg_per_visit,
                p.days_mask, p.tw_start_min, p.tw_end_min, p.service_min, p.bins)
               for p in s.scalars(select(Point).order_by(Point.point_id))]
        fac = [(f.facility_id, f.kind, sorted(f.accepts), f.open_min, f.close_min, f.harmless)
               for f in s.scalars(select(Facility).order_by(Facility.facility_id))]
    return pts, fac


@pytest.mark.parametrize("suffix", [".csv", ".geojson"])
def test_export_then_import_round_trips(tmp_path: Path, db_url: str, suffix: str) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["import", str(DATA), "--db", db_url])
    assert r.exit_code == 0, r.output
    before = _snapshot(db_url)
    assert before[0] and before[1]
    for kind in ("points", "facilities"):
        path = tmp_path / f"{kind}{suffix}"
        r = runner.invoke(app, ["export", kind, "--out", str(path), "--db", db_url])
        assert r.exit_code == 0, r.output
        r = runner.invoke(app, ["import", str(path), "--kind", kind, "--db", db_url])
        assert r.exit_code == 0, r.output
    assert _snapshot(db_url) == before


def test_export_bad_kind_exit_2(tmp_path: Path, db_url: str) -> None:
    r = CliRunner().invoke(app, ["export", "trucks", "--out", str(tmp_path / "x.csv"), "--db", db_url])
    assert r.exit_code == 2
