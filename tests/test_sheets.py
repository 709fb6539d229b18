"""Route sheets: PDF, phone HTML, GPX, GeoJSON, XLSX from a plan document.

A tiny database (inserted through the models) and a hand-written plan document that
refers to its ids; every format is read back and compared with the document.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any

import gpxpy
import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from logistics.cli import app
from logistics.coords import wgs84_to_bd09, wgs84_to_gcj02
from logistics.domain import BadInput, NotFound
from logistics.persistence import plan_repo
from logistics.persistence.models import (
    Community,
    Compartment,
    Depot,
    Facility,
    Point,
    Town,
    Vehicle,
)
from logistics.sheets import write_sheets

DATE = dt.date(2026, 11, 27)

POINTS = {
    # id: (name, community, lon, lat, category, bins, tw)
    "P0001": ("建业小区东门", "C1", 113.9901, 34.7302, "kitchen", 4, (330, 540)),
    "P0002": ("青年路菜市场", "C1", 113.9952, 34.7261, "kitchen", 6, (0, 1440)),
    "P0003": ("县第一中学食堂", "C2", 113.9790, 34.7215, "kitchen", 3, (360, 600)),
    "P0004": ("官渡镇卫生院", "C3", 114.0422, 34.6935, "kitchen", 2, (480, 720)),
    "P0005": ("商都花园3号楼", "C2", 113.9711, 34.7188, "residual", 8, (0, 1440)),
    "P0006": ("黄店镇政府", "C4", 113.9002, 34.6801, "residual", 2, (0, 1440)),
}


def _t(hhmm: str) -> str:
    return f"{DATE.isoformat()}T{hhmm}:00+08:00"


def seed(session: Session) -> None:
    """Depot, facilities, two trucks, four communities, six points."""
    session.add_all([Town(name="城关镇"), Town(name="官渡镇"), Town(name="黄店镇")])
    session.flush()  # no ORM relationship orders towns before communities
    session.add_all(
        [
            Community(community_id="C1", name="建业社区", town="城关镇", households=1200),
            Community(community_id="C2", name="商都社区", town="城关镇", households=900),
            Community(community_id="C3", name="官渡村", town="官渡镇", households=400),
            Community(community_id="C4", name="黄店村", town="黄店镇", households=300),
        ]
    )
    session.add(Depot(depot_id="D1", name="中牟县环卫车场", lon=113.98, lat=34.72))
    session.add_all(
        [
            Facility(
                facility_id="F1",
                name="汽车园垃圾站",
                kind="transfer_station",
                accepts=["kitchen", "residual"],
                lon=114.0101,
                lat=34.7003,
                open_min=360,
                close_min=1200,
                unload_min=15,
                harmless=False,
            ),
            Facility(
                facility_id="F2",
                name="中牟县生活垃圾焚烧厂",
                kind="incinerator",
                accepts=["residual"],
                lon=113.9502,
                lat=34.7505,
                open_min=0,
                close_min=1440,
                unload_min=20,
                harmless=True,
            ),
        ]
    )
    session.flush()
    session.add_all(
        [
            Vehicle(
                vehicle_id="V01",
                plate="豫A·12345",
                depot_id="D1",
                shift_start_min=330,
                shift_end_min=810,
                break_min=30,
                break_earliest_min=600,
                break_latest_min=720,
                compartments=[Compartment(category="kitchen", capacity_kg=5000, position=0)],
            ),
            Vehicle(
                vehicle_id="V02",
                plate="豫A·67890",
                depot_id="D1",
                shift_start_min=360,
                shift_end_min=840,
                compartments=[Compartment(category="residual", capacity_kg=8000, position=0)],
            ),
        ]
    )
    session.flush()
    for pid, (name, cid, lon, lat, cat, bins, (tw0, tw1)) in POINTS.items():
        session.add(
            Point(
                point_id=pid,
                name=name,
                community_id=cid,
                lon=lon,
                lat=lat,
                category=cat,
                kg_per_visit=200,
                days_mask=0b1111111,
                tw_start_min=tw0,
                tw_end_min=tw1,
                bins=bins,
            )
        )
    session.flush()


def _collect(pid: str, kg: float, arr: str, dep: str, load: float) -> dict[str, Any]:
    _, _, lon, lat, cat, _, _ = POINTS[pid]
    return {
        "kind": "collect",
        "id": pid,
        "lon": lon,
        "lat": lat,
        "category": cat,
        "kg": kg,
        "arrival": _t(arr),
        "start": _t(arr),
        "departure": _t(dep),
        "load_kg": {cat: load},
    }


def document() -> dict[str, Any]:
    """A plan document (wasteroute.plan/1) over the seeded ids: two routes, one unassigned."""
    depot = {"id": "D1", "lon": 113.98, "lat": 34.72}
    f1 = {"id": "F1", "lon": 114.0101, "lat": 34.7003}
    f2 = {"id": "F2", "lon": 113.9502, "lat": 34.7505}
    return {
        "format": "wasteroute.plan/1",
        "plan_id": "2026-11-27-1",
        "date": DATE.isoformat(),
        "timezone": "Asia/Shanghai",
        "distance_model": {"kind": "haversine", "detour_factor": 1.3, "speed_kmh": 25},
        "solver": {"engine": "ortools", "time_limit_s": 5, "wall_s": 5.0},
        "summary": {
            "points_due": 6,
            "points_served": 5,
            "vehicles_used": 2,
            "distance_km": 41.7,
            "kg_planned": 1400,
        },
        "routes": [
            {
                "vehicle_id": "V01",
                "depot_id": "D1",
                "distance_km": 28.4,
                "duration_min": 412,
                "stops": [
                    {
                        "kind": "depot",
                        **depot,
                        "arrival": _t("05:30"),
                        "departure": _t("05:30"),
                        "load_kg": {"kitchen": 0},
                    },
                    _collect("P0001", 240, "05:41", "05:44", 240),
                    _collect("P0002", 310, "05:52", "05:56", 550),
                    _collect("P0003", 180, "06:05", "06:08", 730),
                    {
                        "kind": "unload",
                        **f1,
                        "arrival": _t("06:30"),
                        "start": _t("06:30"),
                        "departure": _t("06:45"),
                        "load_kg": {"kitchen": 0},
                    },
                    {"kind": "break", "arrival": _t("10:00"), "departure": _t("10:30")},
                    _collect("P0004", 220, "10:45", "10:48", 220),
                    {
                        "kind": "unload",
                        **f1,
                        "arrival": _t("11:05"),
                        "start": _t("11:05"),
                        "departure": _t("11:20"),
                        "load_kg": {"kitchen": 0},
                    },
                    {
                        "kind": "depot",
                        **depot,
                        "arrival": _t("11:42"),
                        "departure": _t("11:42"),
                        "load_kg": {"kitchen": 0},
                    },
                ],
            },
            {
                "vehicle_id": "V02",
                "depot_id": "D1",
                "distance_km": 13.3,
                "duration_min": 95,
                "stops": [
                    {
                        "kind": "depot",
                        **depot,
                        "arrival": _t("06:00"),
                        "departure": _t("06:00"),
                        "load_kg": {"residual": 0},
                    },
                    _collect("P0005", 450, "06:07", "06:12", 450),
                    {
                        "kind": "unload",
                        **f2,
                        "arrival": _t("06:30"),
                        "start": _t("06:30"),
                        "departure": _t("06:50"),
                        "load_kg": {"residual": 0},
                    },
                    {
                        "kind": "depot",
                        **depot,
                        "arrival": _t("07:35"),
                        "departure": _t("07:35"),
                        "load_kg": {"residual": 0},
                    },
                ],
            },
        ],
        "unassigned": [
            {
                "point_id": "P0006",
                "category": "residual",
                "kg": 300,
                "reason": "no_vehicle_for_category",
            }
        ],
    }


def store_plan(session: Session, doc: dict[str, Any]) -> None:
    plan_repo.store_plan(session, DATE, doc, created_at=dt.datetime(2026, 11, 26, 18, 0))


@pytest.fixture
def planned(session: Session) -> Session:
    seed(session)
    store_plan(session, document())
    session.commit()
    return session


def _stop_names(route_index: int) -> list[str]:
    """Names the sheet should list for a route, in order (collect points and facilities)."""
    names = {pid: p[0] for pid, p in POINTS.items()} | {
        "F1": "汽车园垃圾站",
        "F2": "中牟县生活垃圾焚烧厂",
    }
    route = document()["routes"][route_index]
    return [names[s["id"]] for s in route["stops"] if s["kind"] in ("collect", "unload")]


# ---------------------------------------------------------------- PDF


def _pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)


def _embedded_fonts(path: Path) -> dict[str, bool]:
    """Base font name -> whether its program is embedded, for every font of the PDF."""
    fonts: dict[str, bool] = {}
    for page in PdfReader(path).pages:
        resources = page.get("/Resources")
        if resources is None:
            continue
        for font in (resources.get_object().get("/Font") or {}).values():
            font = font.get_object()
            descendants = font.get("/DescendantFonts")
            desc_font = descendants[0].get_object() if descendants else font
            descriptor = desc_font.get("/FontDescriptor")
            embedded = descriptor is not None and any(
                k in descriptor.get_object() for k in ("/FontFile", "/FontFile2", "/FontFile3")
            )
            fonts[str(font.get("/BaseFont"))] = embedded
    return fonts


def _in_order(text: str, names: list[str]) -> bool:
    pos = 0
    for name in names:
        found = text.find(name, pos)
        if found < 0:
            return False
        pos = found + len(name)
    return True


def test_pdf_lists_every_stop_in_order_with_chinese_headings(
    planned: Session, tmp_path: Path
) -> None:
    paths = write_sheets(planned, DATE, "pdf", tmp_path)
    names = [p.name for p in paths]
    assert names == [
        "route-2026-11-27-01-V01.pdf",
        "route-2026-11-27-02-V02.pdf",
        "routes-2026-11-27.pdf",
    ]
    text = _pdf_text(paths[0])
    assert _in_order(text, _stop_names(0)), text
    for heading in (
        "生活垃圾收运路线单",
        "序号",
        "点位 / 社区",
        "类别",
        "桶数",
        "预计公斤",
        "时间窗",
        "计划到达",
        "累计载重",
        "已收",
        "实收公斤",
        "磅单号",
        "休息",
    ):
        assert heading in text, heading
    assert "豫A·12345" in text and "中牟县环卫车场" in text and "厨余垃圾" in text
    assert "第 1 页 / 共" in text
    assert "建业社区" in text  # the community under the point name
    assert "06:00–20:00" in text  # opening hours of the transfer station
    assert "10:00–12:00" in text  # the break window
    # the totals: 4 collect stops, 950 kg, 2 trips
    assert re.search(r"4\s+28\.4 公里\s+950 公斤\s+2", text), text


def test_pdf_embeds_a_cjk_font(planned: Session, tmp_path: Path) -> None:
    path = write_sheets(planned, DATE, "pdf", tmp_path, vehicle="V01")[0]
    fonts = _embedded_fonts(path)
    cjk = {name: emb for name, emb in fonts.items() if "CJK" in name}
    assert cjk and all(cjk.values()), fonts
    assert all(fonts.values()), fonts  # nothing left for the printer to substitute
    if shutil.which("pdffonts"):
        out = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True).stdout
        cjk_lines = [line for line in out.splitlines() if "CJK" in line]
        assert cjk_lines and all(" yes " in line for line in cjk_lines), out


def test_combined_pdf_has_summary_and_every_route(planned: Session, tmp_path: Path) -> None:
    combined = write_sheets(planned, DATE, "pdf", tmp_path)[-1]
    text = _pdf_text(combined)
    assert "收运计划汇总" in text and "未安排的收运" in text
    assert "黄店镇政府" in text and "no_vehicle_for_category" in text
    assert _in_order(text, _stop_names(0) + _stop_names(1))
    singles = sum(len(PdfReader(p).pages) for p in sorted(tmp_path.glob("route-*.pdf")))
    assert len(PdfReader(combined).pages) == singles + 1


def test_pdf_in_english(planned: Session, tmp_path: Path) -> None:
    path = write_sheets(planned, DATE, "pdf", tmp_path, lang="en", vehicle="V02")[0]
    text = _pdf_text(path)
    assert "Waste collection route sheet" in text and "Page 1 of" in text
    assert "Residual" in text and "商都花园3号楼" in text


def test_qr_points_to_the_phone_page(planned: Session, tmp_path: Path) -> None:
    path = write_sheets(
        planned, DATE, "pdf", tmp_path, vehicle="V01", base_url="https://hw.example.cn/sheets/"
    )[0]
    text = _pdf_text(path)
    assert "https://hw.example.cn/sheets/route-2026-11-27-01-V01.html" in text.replace("\n", "")


# ---------------------------------------------------------------- phone page


def test_phone_page_navigation_uses_gcj02_and_bd09(planned: Session, tmp_path: Path) -> None:
    paths = write_sheets(planned, DATE, "html", tmp_path)
    page = next(p for p in paths if p.name == "route-2026-11-27-01-V01.html")
    html = page.read_text(encoding="utf-8")
    assert "<link" not in html and 'src="http' not in html  # self-contained
    assert 'name="viewport"' in html
    amap = re.findall(r'href="(https://uri\.amap\.com/marker\?[^"]+)"', html)
    baidu = re.findall(r'href="(https://api\.map\.baidu\.com/marker\?[^"]+)"', html)
    located = [s for s in document()["routes"][0]["stops"] if s["kind"] in ("collect", "unload")]
    assert len(amap) == len(located) == len(baidu)
    for url, bd_url, stop in zip(amap, baidu, located, strict=True):
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(url.replace("&amp;", "&")).query)
        lon, lat = map(float, q["position"][0].split(","))
        glon, glat = wgs84_to_gcj02(stop["lon"], stop["lat"])
        assert lon == pytest.approx(glon, abs=1e-6) and lat == pytest.approx(glat, abs=1e-6)
        assert abs(lon - stop["lon"]) > 1e-4  # really converted, not WGS-84
        qb = urllib.parse.parse_qs(urllib.parse.urlsplit(bd_url.replace("&amp;", "&")).query)
        blat, blon = map(float, qb["location"][0].split(","))
        elon, elat = wgs84_to_bd09(stop["lon"], stop["lat"])
        assert blon == pytest.approx(elon, abs=1e-6) and blat == pytest.approx(elat, abs=1e-6)
        assert qb["coord_type"] == ["bd09ll"]
    assert _in_order(html, _stop_names(0))


# ---------------------------------------------------------------- GPX / GeoJSON / XLSX


def test_gpx_has_the_route_and_one_waypoint_per_stop(planned: Session, tmp_path: Path) -> None:
    paths = write_sheets(planned, DATE, "gpx", tmp_path)
    assert [p.name for p in paths] == ["route-2026-11-27-01-V01.gpx", "route-2026-11-27-02-V02.gpx"]
    for path, raw in zip(paths, document()["routes"], strict=True):
        gpx = gpxpy.parse(path.read_text(encoding="utf-8"))
        located = [s for s in raw["stops"] if "lon" in s]
        assert len(gpx.waypoints) == len(located)
        assert len(gpx.routes) == 1
        rte = gpx.routes[0].points
        assert [(p.longitude, p.latitude) for p in rte] == [(s["lon"], s["lat"]) for s in located]
        assert [(w.longitude, w.latitude) for w in gpx.waypoints] == [
            (s["lon"], s["lat"]) for s in located
        ]
    gpx = gpxpy.parse(paths[0].read_text(encoding="utf-8"))
    names = [w.name for w in gpx.waypoints]
    assert names[1].startswith("01") and "建业小区东门" in names[1]
    assert "厨余垃圾" in (gpx.waypoints[1].description or "")
    assert "240" in (gpx.waypoints[1].description or "")


def test_geojson_points_and_legs(planned: Session, tmp_path: Path) -> None:
    path = write_sheets(planned, DATE, "geojson", tmp_path, vehicle="V01")[0]
    fc = json.loads(path.read_text(encoding="utf-8"))
    assert fc["type"] == "FeatureCollection"
    raw = document()["routes"][0]
    located = [s for s in raw["stops"] if "lon" in s]
    points = [f for f in fc["features"] if f["geometry"]["type"] == "Point"]
    legs = [f for f in fc["features"] if f["geometry"]["type"] == "LineString"]
    assert [f["geometry"]["coordinates"] for f in points] == [[s["lon"], s["lat"]] for s in located]
    assert len(legs) == len(located) - 1
    assert legs[0]["geometry"]["coordinates"] == [[113.98, 34.72], [113.9901, 34.7302]]
    p1 = points[1]["properties"]
    assert p1["id"] == "P0001" and p1["name"] == "建业小区东门" and p1["kg"] == 240
    assert p1["category"] == "kitchen" and p1["colour"] == "#00843D"
    assert p1["arrival"] == _t("05:41")


def test_xlsx_matches_the_plan(planned: Session, tmp_path: Path) -> None:
    (path,) = write_sheets(planned, DATE, "xlsx", tmp_path)
    wb = load_workbook(path)
    assert wb.sheetnames[0] == "汇总"
    assert len(wb.sheetnames) == 4  # summary, two routes, unassigned
    summary = list(wb["汇总"].iter_rows(values_only=True))
    header = summary[0]
    assert "车辆" in header and "收运点" in header
    by_vehicle = {r[header.index("车辆")]: r for r in summary[1:] if r[0] is not None}
    assert by_vehicle["V01"][header.index("收运点")] == 4
    assert by_vehicle["V01"][header.index("预计公斤")] == 950
    ws = wb[wb.sheetnames[1]]
    rows = list(ws.iter_rows(values_only=True))
    head = rows[0]
    for col in ("序号", "类型", "名称", "类别", "预计公斤", "计划到达", "实收公斤", "磅单号"):
        assert col in head, col
    raw = document()["routes"][0]["stops"]
    body = rows[1 : 1 + len(raw)]
    assert rows[1 + len(raw)] == (None,) * len(head)  # a blank row, then the totals
    names = [r[head.index("名称")] for r in body if r[head.index("类型")] in ("收运", "卸料")]
    assert names == _stop_names(0)
    kgs = [r[head.index("预计公斤")] for r in body if r[head.index("类型")] == "收运"]
    assert kgs == [s["kg"] for s in raw if s["kind"] == "collect"]
    unassigned = list(wb[wb.sheetnames[-1]].iter_rows(values_only=True))
    assert unassigned[1][0] == "P0006"


# ---------------------------------------------------------------- errors and CLI


def test_unknown_vehicle_format_and_missing_plan(planned: Session, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        write_sheets(planned, DATE, "pdf", tmp_path, vehicle="V99")
    with pytest.raises(BadInput):
        write_sheets(planned, DATE, "docx", tmp_path)
    with pytest.raises(NotFound):
        write_sheets(planned, DATE + dt.timedelta(days=1), "gpx", tmp_path)


def test_cli_writes_sheets_and_exits_2_without_plan(
    planned: Session, db_url: str, tmp_path: Path
) -> None:
    runner = CliRunner()
    ok = runner.invoke(
        app,
        [
            "sheets",
            "--date",
            "2026-11-27",
            "--format",
            "gpx",
            "--out",
            str(tmp_path / "out"),
            "--db",
            db_url,
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "out" / "route-2026-11-27-01-V01.gpx").exists()
    missing = runner.invoke(
        app,
        [
            "sheets",
            "--date",
            "2026-11-28",
            "--format",
            "pdf",
            "--out",
            str(tmp_path / "none"),
            "--db",
            db_url,
        ],
    )
    assert missing.exit_code == 2
    assert "2026-11-28" in missing.output and "Traceback" not in missing.output
    bad = runner.invoke(
        app,
        [
            "sheets",
            "--date",
            "27.11.2026",
            "--format",
            "pdf",
            "--out",
            str(tmp_path / "none"),
            "--db",
            db_url,
        ],
    )
    assert bad.exit_code == 2
