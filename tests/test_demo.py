"""`wasteroute demo`: the generated county, its export files, and their import.

A small county (``--scale 0.02``) goes through the CLI and the real importer; the
full-size county is checked through the generator only (no import), for its totals.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from logistics.cli import app
from logistics.demo import data as dd
from logistics.demo.export import FILE_NAMES, write_files
from logistics.demo.generate import DemoCounty, generate_county
from logistics.persistence import models as m
from logistics.persistence.db import get_engine, session_scope

SCALE = 0.02
CSV_HEADERS = {
    "depots": ["车场编号", "名称", "经度", "纬度"],
    "facilities": [
        "设施编号", "名称", "类型", "接收类别", "经度", "纬度", "坐标系",
        "开放时间", "关闭时间", "卸料分钟", "日处理能力公斤", "无害化",
    ],
    "communities": ["社区编号", "名称", "乡镇", "户数", "分类开始日期"],
    "points": [
        "点位编号", "名称", "社区编号", "经度", "纬度", "坐标系", "类别",
        "每次公斤", "收运日", "最早", "最晚", "作业分钟", "桶数",
    ],
    "records": ["日期", "点位编号", "公斤", "车辆编号"],
    "tickets": ["磅单号", "设施编号", "时间", "类别", "净重公斤", "毛重公斤", "皮重公斤", "车辆编号",
                "来源设施编号"],
}  # fmt: skip


def _run_demo(out: Path, *extra: str) -> str:
    result = CliRunner().invoke(
        app,
        ["demo", "--out", str(out), "--scale", str(SCALE), "--time-limit", "0", *extra],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return result.output


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, encoding="gb18030", dtype=str, keep_default_na=False)


def _db_counts(url: str) -> dict[str, int]:
    tables = {
        "depots": m.Depot,
        "facilities": m.Facility,
        "vehicles": m.Vehicle,
        "communities": m.Community,
        "points": m.Point,
        "records": m.CollectionRecord,
        "tickets": m.Ticket,
    }
    with session_scope(url) as s:
        return {k: s.scalar(select(func.count()).select_from(t)) or 0 for k, t in tables.items()}


def _file_rows(data: Path) -> dict[str, int]:
    rows = {}
    for kind, name in FILE_NAMES.items():
        path = data / name
        if path.suffix == ".xlsx":
            ws = openpyxl.load_workbook(path, read_only=True).worksheets[0]
            rows[kind] = sum(1 for _ in ws.iter_rows(values_only=True)) - 1
        else:
            rows[kind] = len(_read_csv(path))
    return rows


def test_demo_writes_bureau_files_and_imports_them(tmp_path: Path, db_url: str) -> None:
    out = tmp_path / "demo"
    output = _run_demo(out, "--seed", "7", "--db", db_url)
    data = out / "data"

    # the files a bureau exports: GB18030 (not UTF-8), Chinese headers
    for kind, header in CSV_HEADERS.items():
        raw = (data / FILE_NAMES[kind]).read_bytes()
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
        assert raw.decode("gb18030").splitlines()[0].split(",") == header
    ws = openpyxl.load_workbook(data / "vehicles.xlsx", read_only=True).worksheets[0]
    header = [c.value for c in next(ws.iter_rows(max_row=1))]
    assert header[:6] == ["车辆编号", "车牌号", "车场编号", "车厢", "班次开始", "班次结束"]

    points = _read_csv(data / "points.csv")
    assert (points["坐标系"] == "gcj02").any()
    assert (points["坐标系"] == "").any()
    assert set(points["类别"]) <= {"其他垃圾", "厨余垃圾", "可回收物", "有害垃圾", "果蔬垃圾"}

    # what the files hold is what the database holds
    assert _db_counts(db_url) == _file_rows(data)

    # stored WGS-84: a GCJ-02 row lands a few hundred metres from its written position
    row = points[points["坐标系"] == "gcj02"].iloc[0]
    with session_scope(db_url) as s:
        p = s.get(m.Point, row["点位编号"])
        assert p is not None
        shift_deg = abs(p.lon - float(row["经度"])) + abs(p.lat - float(row["纬度"]))
        assert 0.001 < shift_deg < 0.02

        collected_kg = s.scalar(select(func.sum(m.CollectionRecord.kg))) or 0.0
        # loads the transfer station sent on are the second leg of a tonne already weighed
        delivered_kg = s.scalar(select(func.sum(m.Ticket.net_kg))
                                .where(m.Ticket.source_facility_id.is_(None))) or 0.0
        harmless_kg = (
            s.scalar(
                select(func.sum(m.Ticket.net_kg))
                .join(m.Facility, m.Facility.facility_id == m.Ticket.facility_id)
                .where(m.Facility.harmless.is_(True))
            )
            or 0.0
        )
    expected_t = dd.TARGET_TONNES * SCALE
    assert expected_t * 0.98 < collected_kg / 1000 < expected_t * 1.02
    assert delivered_kg == pytest.approx(collected_kg)
    assert harmless_kg == pytest.approx(collected_kg)

    # the summary says where things are, so that the user can go on
    assert str(data.resolve()) in output
    assert "wasteroute plan --db" in output


def test_rerunning_the_demo_on_the_same_database_updates_rows(tmp_path: Path, db_url: str) -> None:
    out = tmp_path / "demo"
    _run_demo(out, "--db", db_url)
    first = _db_counts(db_url)
    output = _run_demo(out, "--db", db_url)
    assert _db_counts(db_url) == first
    assert "records 收运记录: 0 inserted" in output
    assert "tickets 磅单: 0 inserted" in output


def test_default_database_is_the_demos_own_and_recreated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WASTEROUTE_DB", raising=False)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    out = tmp_path / "demo"
    try:
        output = _run_demo(out, "--seed", "1")
        _run_demo(out, "--seed", "2")
        own = f"sqlite:///{(out / 'wasteroute.db').resolve()}"
        assert (out / "wasteroute.db").exists()
        assert not (cwd / "wasteroute.db").exists()  # the user's default DB is untouched
        assert own in output
        # the second county replaced the first one instead of mixing with it
        assert _db_counts(own) == _file_rows(out / "data")
    finally:
        get_engine(f"sqlite:///{(out / 'wasteroute.db').resolve()}").dispose()


def test_same_seed_gives_identical_files_and_another_seed_differs(tmp_path: Path) -> None:
    def files(seed: int, where: str) -> dict[str, bytes]:
        paths = write_files(generate_county(seed=seed, scale=SCALE), tmp_path / where)
        return {k: p.read_bytes() for k, p in paths.items()}

    a, b, c = files(5, "a"), files(5, "b"), files(6, "c")
    assert a == b
    for kind in ("communities", "points", "records", "tickets", "vehicles"):
        assert a[kind] != c[kind], kind


# --------------------------------------------------------------------------- full size


@pytest.fixture(scope="module")
def county() -> DemoCounty:
    return generate_county(seed=2020, scale=1.0)


def test_full_county_reproduces_zhongmou_2020_in_scale(county: DemoCounty) -> None:
    assert county.tonnage_t() == pytest.approx(dd.TARGET_TONNES, rel=0.02)
    assert 35 <= len(county.vehicles) <= 45
    assert 1100 <= len(county.points) <= 1300
    assert county.communities["households"].sum() == pytest.approx(350_000, rel=0.02)
    assert county.communities["town"].nunique() == len(dd.TOWNS)
    for town in ("黄店镇", "官渡镇", "狼城岗镇", "姚家镇"):
        assert town in set(county.communities["town"])
    # every point within 30 km of the county seat
    dx = (county.points["_lon"] - dd.SEAT_LON) * 111 * np.cos(np.radians(dd.SEAT_LAT))
    dy = (county.points["_lat"] - dd.SEAT_LAT) * 111
    assert float(np.hypot(dx, dy).max()) < 30
    # the average day is about 550 t
    daily_t = county.records.groupby("date")["kg"].sum() / 1000
    assert daily_t.mean() == pytest.approx(550, rel=0.03)


def test_full_county_tickets_are_the_trips_of_the_records(county: DemoCounty) -> None:
    everything, records = county.tickets, county.records
    fac = county.facilities.set_index("facility_id")
    assert not everything.duplicated(["facility_id", "ticket_no"]).any()
    # the transfer station sends on, the same day, exactly what it took in
    sent = everything[everything["source_facility_id"] != ""]
    tickets = everything[everything["source_facility_id"] == ""]
    assert set(sent["source_facility_id"]) == {"F02"}
    into = tickets[tickets["facility_id"] == "F02"]
    assert (into.groupby(into["time"].dt.date)["net_kg"].sum().round(1).to_dict()
            == sent.groupby(sent["time"].dt.date)["net_kg"].sum().round(1).to_dict())
    assert len(into) > 0 and fac.loc[sent["facility_id"].unique(), "harmless"].all()
    assert tickets["net_kg"].sum() == records["kg"].sum()
    assert fac.loc[tickets["facility_id"].unique(), "harmless"].drop("F02").all()
    # each ticket's category is accepted where it is weighed, inside the opening hours
    accepts = tickets["facility_id"].map(fac["accepts"])
    assert all(c in a for c, a in zip(tickets["category"], accepts, strict=True))
    minute = tickets["time"].dt.hour * 60 + tickets["time"].dt.minute
    open_min = tickets["facility_id"].map(fac["open"]).map(_hm)
    close_min = tickets["facility_id"].map(fac["close"]).map(_hm)
    assert ((minute >= open_min) & (minute < close_min)).all()
    out_min = sent["time"].dt.hour * 60 + sent["time"].dt.minute
    assert (out_min < sent["facility_id"].map(fac["close"]).map(_hm)).all()
    assert (sent["gross_kg"] - sent["tare_kg"] == sent["net_kg"]).all()
    # a trip never carries more than its compartment
    caps = county.vehicles.set_index("vehicle_id")["_caps"]
    cap = [caps[v][c] for v, c in zip(tickets["vehicle_id"], tickets["category"], strict=True)]
    assert (tickets["net_kg"].to_numpy() <= np.array(cap)).all()
    assert (tickets["gross_kg"] - tickets["tare_kg"] == tickets["net_kg"]).all()
    # the ticket totals per vehicle-day equal the records per vehicle-day
    t_day = tickets.groupby([tickets["vehicle_id"], tickets["time"].dt.normalize()])["net_kg"].sum()
    r_day = records.groupby(["vehicle_id", "date"])["kg"].sum()
    assert t_day.to_numpy().tolist() == r_day.to_numpy().tolist()


def test_full_county_year_has_the_2020_pattern(county: DemoCounty) -> None:
    rec = county.records.assign(
        category=county.records["point_id"].map(county.points.set_index("point_id")["category"])
    )
    daily = rec.groupby("date")["kg"].sum()
    sf = pd.Timestamp(dd.SPRING_FESTIVAL)
    before = daily[sf - pd.Timedelta(days=11) : sf - pd.Timedelta(days=2)].mean()
    holiday = daily[sf : sf + pd.Timedelta(days=5)].mean()
    assert holiday < 0.8 * before
    dow = pd.DatetimeIndex(daily.index).day_of_week
    weekend = daily[dow >= 5].mean()
    weekday = daily[dow < 5].mean()
    assert weekday < weekend < 1.15 * weekday
    fv = rec[rec["category"] == "fruit_veg"].groupby(rec["date"].dt.month)["kg"].sum()
    assert fv[7] > 1.3 * fv[11]
    # source separation spreads through the year: kitchen waste grows month by month
    kitchen = rec[rec["category"] == "kitchen"].groupby(rec["date"].dt.month)["kg"].sum()
    assert kitchen[12] > 3 * kitchen[1]
    # coverage (households in separating communities) rises and ends high, not complete
    com = county.communities
    since = pd.to_datetime(com["sorting_since"])
    cover = [
        com["households"][since <= pd.Timestamp(2020, mo, 28)].sum() / com["households"].sum()
        for mo in range(1, 13)
    ]
    assert cover == sorted(cover)
    assert cover[0] < 0.3 and 0.75 < cover[-1] < 0.95


def test_records_fall_on_collection_days(county: DemoCounty) -> None:
    pts = county.points.set_index("point_id")
    rec = county.records
    days = rec["point_id"].map(pts["days"])
    iso = (rec["date"].dt.day_of_week + 1).astype(str)
    on_day = [d == "daily" or w in d.split(";") for d, w in zip(days, iso, strict=True)]
    assert all(on_day)
    # kitchen waste only once the community separates at source
    kit = rec[rec["point_id"].map(pts["category"]) == "kitchen"]
    since = pd.to_datetime(kit["point_id"].map(pts["_since"]))
    assert (kit["date"] >= since).all()


def _hm(text: str) -> int:
    h, mi = text.split(":")
    return int(h) * 60 + int(mi)


def test_scale_outside_the_range_is_refused() -> None:
    with pytest.raises(ValueError, match="scale"):
        generate_county(seed=1, scale=0.0)
