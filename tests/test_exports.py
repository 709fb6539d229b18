"""Exports of points and facilities round-trip through the importer."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from logistics.imports import import_paths
from logistics.persistence.db import session_scope
from logistics.reporting.exports import FACILITY_COLUMNS, POINT_COLUMNS, export_path
from tests.factories import GOOD, ZH, fresh_db, snapshot


def _export(url: str, folder: Path, suffix: str) -> list[Path]:
    folder.mkdir()
    paths = [folder / f"points{suffix}", folder / f"facilities{suffix}"]
    with session_scope(url) as s:
        assert export_path(s, "points", paths[0]) > 0
        assert export_path(s, "facilities", paths[1]) > 0
    return paths


@pytest.mark.parametrize("suffix", [".csv", ".geojson"])
@pytest.mark.parametrize("source", [GOOD, ZH], ids=["good", "zh"])
def test_export_reimport_gives_identical_rows(
    db_url: str, tmp_path: Path, suffix: str, source: Path
) -> None:
    with session_scope(db_url) as s:
        import_paths(s, [source])
    paths = _export(db_url, tmp_path / "out", suffix)
    with fresh_db(db_url, tmp_path) as other:
        with session_scope(other) as s:
            # the points refer to communities, which these exports do not carry
            report = import_paths(
                s, [source / ("communities.csv" if source == GOOD else "社区.csv"), *paths]
            )
        assert report.counts["points"].inserted > 0
        a, b = snapshot(db_url), snapshot(other)
        assert b["points"] == a["points"]
        assert b["facilities"] == a["facilities"]
        # and exporting again gives the same bytes
        again = _export(other, tmp_path / "again", suffix)
        for p, q in zip(paths, again, strict=True):
            assert p.read_bytes() == q.read_bytes()


def test_csv_export_format(db_url: str, tmp_path: Path) -> None:
    with session_scope(db_url) as s:
        import_paths(s, [GOOD])
    points, facilities = _export(db_url, tmp_path / "out", ".csv")
    assert points.read_bytes().startswith(b"\xef\xbb\xbf")  # BOM for Excel
    with points.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == POINT_COLUMNS
    by_id = {r["point_id"]: r for r in rows}
    assert {
        k: by_id["P1"][k] for k in ("crs", "days", "tw_start", "tw_end", "bins", "kg_per_visit")
    } == {
        "crs": "wgs84",
        "days": "daily",
        "tw_start": "05:00",
        "tw_end": "09:00",
        "bins": "4",
        "kg_per_visit": "240",
    }
    assert (by_id["P2"]["days"], by_id["P2"]["tw_end"], by_id["P2"]["bins"]) == (
        "1;3;5",
        "24:00",
        "",
    )
    assert by_id["P3"]["days"] == "2;4" and by_id["P3"]["community_id"] == ""
    with facilities.open(encoding="utf-8-sig", newline="") as fh:
        frows = {r["facility_id"]: r for r in csv.DictReader(fh)}
    assert tuple(next(iter(frows.values()))) == FACILITY_COLUMNS
    assert (frows["F1"]["accepts"], frows["F1"]["harmless"], frows["F3"]["harmless"]) == (
        "kitchen;residual",
        "true",
        "false",
    )
    assert (frows["F2"]["open"], frows["F2"]["close"], frows["F2"]["daily_capacity_kg"]) == (
        "00:00",
        "24:00",
        "",
    )


def test_geojson_export_format(db_url: str, tmp_path: Path) -> None:
    with session_scope(db_url) as s:
        import_paths(s, [GOOD])
    points, _ = _export(db_url, tmp_path / "out", ".geojson")
    doc = json.loads(points.read_text(encoding="utf-8"))
    assert doc["type"] == "FeatureCollection"
    assert "WGS-84" in doc["crs_note"]
    assert doc["crs"]["properties"]["name"].endswith("CRS84")
    f = {x["properties"]["point_id"]: x for x in doc["features"]}
    p2 = f["P2"]
    assert p2["geometry"]["type"] == "Point"
    assert p2["geometry"]["coordinates"] == [p2["properties"]["lon"], p2["properties"]["lat"]]
    assert tuple(p2["properties"]) == POINT_COLUMNS
    assert p2["properties"]["crs"] == "wgs84" and p2["properties"]["days"] == "1;3;5"


def test_geojson_import_reads_geometry_in_given_crs(session, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from logistics import coords

    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [113.98, 34.72]},
                "properties": {"depot_id": "D1", "name": "gcj depot", "crs": "gcj02"},
            },
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [[1, 2], [3, 4]]},
                "properties": {"depot_id": "D2", "name": "bad"},
            },
        ],
    }
    path = tmp_path / "depots.geojson"
    path.write_text(json.dumps(doc), encoding="utf-8")
    from logistics.domain import ImportRejected

    with pytest.raises(ImportRejected) as exc:
        import_paths(session, [path])
    assert [(e.row, e.column) for e in exc.value.errors][0] == (3, "geometry")
    doc["features"] = doc["features"][:1]
    path.write_text(json.dumps(doc), encoding="utf-8")
    import_paths(session, [path])
    from logistics.persistence.models import Depot

    d = session.get(Depot, "D1")
    assert (d.lon, d.lat) == pytest.approx(coords.gcj02_to_wgs84(113.98, 34.72), abs=1e-12)
