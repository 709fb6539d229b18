"""Good files: what lands in the database, re-imports, XLSX, GB18030, kinds."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from logistics import coords
from logistics.domain import ImportRejected
from logistics.imports import import_paths
from logistics.persistence.models import (
    ALL_DAYS_MASK,
    CollectionRecord,
    Community,
    Facility,
    Point,
    Ticket,
    Vehicle,
)
from tests.factories import GOOD, ZH, cli_import, counts, snapshot


def _all(session: Session, model: type) -> list:  # type: ignore[type-arg]
    return list(session.execute(select(model)).scalars())


def test_good_files_land_with_converted_values(session: Session) -> None:
    report = import_paths(session, [GOOD])
    session.commit()
    assert {k: (c.inserted, c.updated) for k, c in report.counts.items()} == {
        "depots": (2, 0),
        "facilities": (3, 0),
        "communities": (2, 0),
        "vehicles": (2, 0),
        "points": (3, 0),
        "records": (4, 0),
        "tickets": (3, 0),
    }
    assert report.lines()[-1].startswith("imported / 已导入: 19 rows from 7 file(s)")
    points = {p.point_id: p for p in _all(session, Point)}
    p1, p2, p3 = points["P1"], points["P2"], points["P3"]
    assert (p1.lon, p1.lat, p1.days_mask, p1.tw_start_min, p1.tw_end_min, p1.bins) == (
        113.99,
        34.73,
        ALL_DAYS_MASK,
        300,
        540,
        4,
    )
    # gcj02 / bd09 rows are stored as WGS-84
    assert (p2.lon, p2.lat) == pytest.approx(coords.gcj02_to_wgs84(114.01, 34.71), abs=1e-12)
    assert (p3.lon, p3.lat) == pytest.approx(coords.bd09_to_wgs84(113.97, 34.74), abs=1e-12)
    assert coords.haversine_m(114.01, 34.71, p2.lon, p2.lat) > 100  # really moved
    assert p2.category == "kitchen"  # 厨余垃圾
    assert (p2.days_mask, p2.tw_start_min, p2.tw_end_min, p2.service_min, p2.bins) == (
        0b10101,
        0,
        1440,
        3.0,
        None,
    )
    assert p3.days_mask == 0b1010 and p3.tw_end_min == 1440 and p3.community_id is None
    f = {x.facility_id: x for x in _all(session, Facility)}
    assert f["F1"].accepts == ["kitchen", "residual"] and f["F1"].open_min == 300
    assert f["F3"].accepts == ["recyclable", "hazardous"] and f["F3"].harmless is False
    assert (f["F2"].open_min, f["F2"].close_min, f["F2"].daily_capacity_kg) == (0, 1440, None)
    assert f["F3"].unload_min == 15.0
    v = {x.vehicle_id: x for x in _all(session, Vehicle)}
    assert [(c.category, c.capacity_kg) for c in v["V2"].compartments] == [
        ("recyclable", 2000.0),
        ("hazardous", 300.0),
    ]
    assert (v["V1"].break_earliest_min, v["V1"].break_latest_min, v["V2"].break_min) == (
        630,
        720,
        0.0,
    )
    c1 = session.get(Community, "C1")
    assert c1 is not None and c1.sorting_since == dt.date(2020, 3, 1)
    recs = {(r.date, r.point_id, r.vehicle_id): r.kg for r in _all(session, CollectionRecord)}
    assert recs[(dt.date(2020, 3, 3), "P1", "")] == 250.0
    tickets = {(t.facility_id, t.ticket_no): t for t in _all(session, Ticket)}
    t2 = tickets[("F1", "T0002")]
    assert (t2.net_kg, t2.gross_kg, t2.tare_kg) == (4000.0, 12000.0, 8000.0)
    assert t2.time == dt.datetime(2020, 3, 2, 13, 40, 10)
    assert tickets[("F3", "T0001")].time == dt.datetime(2020, 3, 3, 11, 0)


def test_reimport_is_idempotent(db_url: str) -> None:
    assert cli_import(db_url, GOOD).exit_code == 0
    first = snapshot(db_url)
    result = cli_import(db_url, GOOD)
    assert result.exit_code == 0
    assert "0 inserted / 新增, 4 updated / 更新 (records.csv)" in result.stdout
    assert snapshot(db_url) == first


def test_ticket_twice_is_an_update(session: Session, tmp_path: Path) -> None:
    import_paths(session, [GOOD])
    path = tmp_path / "tickets.csv"
    path.write_text(
        "ticket_no,facility_id,time,category,net_kg\nT0001,F1,2020-03-02 10:20,kitchen,4600\n"
    )
    report = import_paths(session, [path])
    assert (report.counts["tickets"].inserted, report.counts["tickets"].updated) == (0, 1)
    rows = [t for t in _all(session, Ticket) if t.ticket_no == "T0001"]
    assert sorted((t.facility_id, t.net_kg) for t in rows) == [("F1", 4600.0), ("F3", 800.0)]
    assert len(_all(session, Ticket)) == 3


def test_record_upsert_on_date_point_vehicle(session: Session, tmp_path: Path) -> None:
    import_paths(session, [GOOD])
    path = tmp_path / "records-2020-03.csv"  # kind from the name prefix
    path.write_text("date,point_id,kg,vehicle_id\n2020-03-02,P1,231,V1\n2020-03-02,P1,5,V2\n")
    report = import_paths(session, [path])
    assert (report.counts["records"].inserted, report.counts["records"].updated) == (1, 1)
    got = {
        (r.point_id, r.vehicle_id): r.kg
        for r in _all(session, CollectionRecord)
        if r.date == dt.date(2020, 3, 2) and r.point_id == "P1"
    }
    assert got == {("P1", "V1"): 231.0, ("P1", "V2"): 5.0}


def test_gb18030_chinese_headers_and_names(session: Session) -> None:
    report = import_paths(session, [ZH])
    assert report.counts["points"].inserted == 2
    p1, p2 = session.get(Point, "P1"), session.get(Point, "P2")
    assert p1 is not None and p2 is not None
    assert (p1.category, p1.days_mask, p1.name) == ("kitchen", ALL_DAYS_MASK, "官渡一号点")
    assert (p2.category, p2.days_mask) == ("recyclable", 0b10101)
    f1 = session.get(Facility, "F1")
    assert f1 is not None
    assert (f1.kind, f1.accepts, f1.harmless) == ("transfer_station", ["kitchen", "residual"], True)
    v1 = session.get(Vehicle, "V1")
    assert v1 is not None and [(c.category, c.capacity_kg) for c in v1.compartments] == [
        ("kitchen", 5000.0)
    ]
    (t,) = _all(session, Ticket)
    assert (t.ticket_no, t.category, t.net_kg) == ("B001", "kitchen", 4500.0)
    c1 = session.get(Community, "C1")
    assert c1 is not None and (c1.town, c1.sorting_since) == ("官渡镇", dt.date(2020, 3, 1))


def test_xlsx_first_sheet_with_typed_cells(session: Session, tmp_path: Path) -> None:
    from openpyxl import Workbook

    import_paths(session, [GOOD / "depots.csv", GOOD / "communities.csv"])
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(
        [
            "点位编号",
            "名称",
            "社区编号",
            "经度",
            "纬度",
            "类别",
            "每次公斤",
            "收运日",
            "最早",
            "最晚",
        ]
    )
    ws.append(
        ["P10", "十号点", "C1", 113.991, 34.731, "湿垃圾", 150, "每天", dt.time(6, 30), "11:00"]
    )
    ws.append([1011, "数字编号点", None, 113.992, 34.732, "其他垃圾", 80.5, 3, None, None])
    wb.create_sheet("ignored").append(["not", "read"])
    path = tmp_path / "点位.xlsx"
    wb.save(path)
    records = tmp_path / "records.xlsx"
    wb2 = Workbook()
    ws2 = wb2.active
    assert ws2 is not None
    ws2.append(["date", "point_id", "kg"])
    ws2.append([dt.datetime(2020, 3, 5), "P10", 140])
    wb2.save(records)
    report = import_paths(session, [records, path])
    assert report.counts["points"].inserted == 2 and report.counts["records"].inserted == 1
    p10, p1011 = session.get(Point, "P10"), session.get(Point, "1011")
    assert p10 is not None and p1011 is not None
    assert (p10.tw_start_min, p10.tw_end_min, p10.category) == (390, 660, "kitchen")
    assert (p1011.days_mask, p1011.kg_per_visit, p1011.community_id) == (0b100, 80.5, None)
    (rec,) = _all(session, CollectionRecord)
    assert (rec.date, rec.point_id, rec.kg) == (dt.date(2020, 3, 5), "P10", 140.0)


def test_xlsx_errors_use_sheet_rows(session: Session, tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["depot_id", "name", "lon", "lat"])
    ws.append(["D1", "ok", 113.9, 34.7])
    ws.append(["D2", "bad", "东经113", 34.7])
    ws.append(["D3", "extra", 113.9, 34.7, None, "x"])
    path = tmp_path / "depots.xlsx"
    wb.save(path)
    with pytest.raises(ImportRejected) as exc:
        import_paths(session, [path])
    shown = [str(e) for e in exc.value.errors]
    assert [s.split(": ")[:2] for s in shown] == [[f"{path}:3", "lon"], [f"{path}:4", "F (extra)"]]
    path2 = tmp_path / "depots2.xlsx"
    ws.delete_rows(4)
    wb.save(path2)
    with pytest.raises(ImportRejected) as exc:
        import_paths(session, [path2], kind="车场")
    assert [str(e) for e in exc.value.errors] == [
        f"{path2}:3: lon: not a number / 不是数字 (东经113)"
    ]


def test_headers_ignore_case_and_spaces_and_extra_columns(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "my depots.csv"
    path.write_text(
        "\ufeff Depot ID ,NAME,Lon,LAT,remarks\nD1,one,113.9,34.7,whatever\n", encoding="utf-8"
    )
    report = import_paths(session, [path], kind="depots")
    assert report.counts["depots"].inserted == 1


def test_rejected_call_leaves_session_clean(session: Session, tmp_path: Path) -> None:
    import_paths(session, [GOOD])
    session.commit()
    shutil.copy(GOOD / "depots.csv", tmp_path / "depots.csv")
    (tmp_path / "points.csv").write_text(
        "point_id,name,lon,lat,category,kg_per_visit,days\nP1,x,113.9,34.7,kitchen,1,daily\nP1,y,113.9,34.7,kitchen,1,daily\n"
    )
    with pytest.raises(ImportRejected) as exc:
        import_paths(session, [tmp_path])
    assert [(e.row, e.column) for e in exc.value.errors] == [(3, "point_id")]
    assert not session.new and not session.dirty


def test_many_bad_rows_are_summed_up(session: Session, tmp_path: Path) -> None:
    import_paths(session, [GOOD])
    path = tmp_path / "records.csv"
    lines = ["date,point_id,kg"] + [f"2020-04-01,P{i},1" for i in range(1000, 1300)]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ImportRejected) as exc:
        import_paths(session, [path])
    errs = exc.value.errors
    assert len(errs) == 51
    assert "250 more row(s)" in errs[-1].message


def test_gross_minus_tare_must_not_be_negative(session: Session, tmp_path: Path) -> None:
    import_paths(session, [GOOD])
    path = tmp_path / "tickets.csv"
    path.write_text(
        "ticket_no,facility_id,time,category,gross_kg,tare_kg\n"
        "X1,F1,2020-03-02 10:15,kitchen,7000,8000\n"
        "X2,F1,2020-03-02 25:15,kitchen,9000,8000\n"
        "X3,F1,2020-03-02 10:15,kitchen,,8000\n"
    )
    with pytest.raises(ImportRejected) as exc:
        import_paths(session, [path])
    assert [(e.row, e.column) for e in exc.value.errors] == [
        (2, "tare_kg"),
        (3, "time"),
        (4, "net_kg"),
    ]


def test_counts_after_cli_import(db_url: str) -> None:
    assert cli_import(db_url, ZH).exit_code == 0
    got = counts(db_url)
    assert (got["points"], got["collection_records"], got["tickets"], got["towns"]) == (2, 2, 1, 1)


@pytest.mark.parametrize(
    ("stem", "kind"),
    [
        ("points", "points"),
        ("Points", "points"),
        ("point", "points"),
        ("点位", "points"),
        ("收运记录", "records"),
        ("records_2020-01", "records"),
        ("磅单-3月", "tickets"),
        ("车场", "depots"),
        ("设施", "facilities"),
        ("社区", "communities"),
        ("车辆", "vehicles"),
        ("pointsx", None),
        ("notes", None),
    ],
)
def test_kind_from_stem(stem: str, kind: str | None) -> None:
    from logistics.imports import kind_from_stem

    assert kind_from_stem(stem) == kind
