"""Dashboards: plain data with exact values on the tiny county of test_metrics, then the
figures (through fig.to_dict()) and the static pages."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from dashboards import data as D
from dashboards import figures as F
from dashboards.pages import PAGES, page_figures, render_page, write_dashboards
from logistics.cli import app
from logistics.domain import BadInput
from logistics.reporting.metrics import NO_TOWN
from tests.factories import build_tiny_county, plan_document


@pytest.fixture
def county(session: Session) -> Session:
    build_tiny_county(session)
    return session


def test_monthly_tonnage(county: Session) -> None:
    data = D.compute_monthly_tonnage(county, [2020])
    assert data["categories"] == ["recyclable", "kitchen", "residual"]
    assert data["towns"] == sorted(["A镇", "B镇", NO_TOWN])
    jan = {c: v[0] for c, v in data["t"][""]["2020"].items()}
    assert jan == {"recyclable": 0.4, "kitchen": 0.65, "residual": 10.5}
    assert data["t"]["A镇"]["2020"]["residual"] == [7.0] + [0.0] * 11
    assert data["t"]["B镇"]["2020"]["kitchen"][0] == 0.05
    fig = F.draw_monthly_tonnage(data, "en", "A镇").to_dict()
    assert [t["name"] for t in fig["data"]] == ["Recyclable", "Kitchen", "Residual"]
    assert fig["layout"]["barmode"] == "stack"
    assert list(fig["data"][2]["y"]) == [7.0] + [0.0] * 11


def test_monthly_tonnage_two_years_side_by_side(county: Session) -> None:
    data = D.compute_monthly_tonnage(county, [2019, 2020])
    fig = F.draw_monthly_tonnage(data, "zh").to_dict()
    assert len(fig["data"]) == 6
    assert {t["offsetgroup"] for t in fig["data"]} == {"2019", "2020"}


def test_coverage_trend(county: Session) -> None:
    data = D.compute_coverage_trend(county, 2020)
    assert data["months"][0] == "2020-01" and len(data["months"]) == 12
    assert data["coverage"][""] == [0.7] * 12  # C1 (100) + C3 (600, from Jan 20) of 1000
    assert data["coverage"]["A镇"] == [0.25] * 12
    assert data["coverage"]["B镇"] == [1.0] * 12
    fig = F.draw_coverage_trend(data, "en").to_dict()
    assert fig["data"][-1]["name"] == "County"


def test_disposal_flows(county: Session) -> None:
    data = D.compute_disposal_flows(county, dt.date(2020, 1, 1), dt.date(2020, 1, 31))
    assert [n["id"] for n in data["nodes"]] == [
        "cat:recyclable", "cat:kitchen", "cat:residual", "fac:F1", "fac:F2", "fac:F3", "fac:F4",
        "harmless", "not_harmless"]
    assert data["links"] == [
        {"source": "cat:recyclable", "target": "fac:F4", "t": 0.4},
        {"source": "cat:kitchen", "target": "fac:F3", "t": 0.65},
        {"source": "cat:residual", "target": "fac:F1", "t": 9.0},
        {"source": "cat:residual", "target": "fac:F2", "t": 1.5},
        {"source": "fac:F1", "target": "harmless", "t": 9.0},
        {"source": "fac:F2", "target": "not_harmless", "t": 1.5},
        {"source": "fac:F3", "target": "harmless", "t": 0.65},
        {"source": "fac:F4", "target": "harmless", "t": 0.4},
    ]
    fig = F.draw_disposal_sankey(data, "zh").to_dict()
    sankey = fig["data"][0]
    assert sankey["type"] == "sankey"
    assert list(sankey["link"]["source"])[:2] == [0, 1]
    assert list(sankey["node"]["label"])[:3] == ["可回收物", "厨余垃圾", "其他垃圾"]


def test_county_map(county: Session) -> None:
    data = D.compute_county_map(county)
    assert [p["id"] for p in data["points"]] == ["P1", "P2", "P3", "P4", "P5", "P6"]
    assert data["points"][4]["town"] == NO_TOWN
    [hull] = data["hulls"]["features"]  # only A镇 has 3 points; B镇 has 2
    assert hull["properties"] == {"town": "A镇"}
    ring = hull["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) == 4
    assert {tuple(p) for p in ring} == {(114.0, 34.7), (114.01, 34.7), (114.0, 34.71)}
    fig = F.draw_county_map(data, "zh").to_dict()
    assert {t["type"] for t in fig["data"]} == {"scattermap"}
    assert fig["layout"]["map"]["style"] == "white-bg"
    assert [la["type"] for la in fig["layout"]["map"]["layers"]] == ["fill", "line"]
    kitchen = [t for t in fig["data"] if t["name"] == "厨余垃圾"][0]
    assert kitchen["marker"]["color"] == "#00843D"  # GB/T 19095 green
    only = F.draw_county_map(data, "zh", "recyclable").to_dict()
    assert [t["name"] for t in only["data"]] == ["可回收物", "设施", "车场"]


def test_plan_data_segments_and_load() -> None:
    data = D.plan_data(plan_document())
    v1 = data["routes"][0]
    assert v1["vehicle_id"] == "V1" and v1["trips"] == 1 and v1["kg"] == 1500
    assert v1["segments"] == [
        {"kind": "driving", "start": 6.0, "end": 6.1667},
        {"kind": "collecting", "start": 6.1667, "end": 6.25},
        {"kind": "driving", "start": 6.25, "end": 6.5},
        {"kind": "waiting", "start": 6.5, "end": 6.6667},
        {"kind": "collecting", "start": 6.6667, "end": 6.75},
        {"kind": "driving", "start": 6.75, "end": 7.0},
        {"kind": "unloading", "start": 7.0, "end": 7.25},
        {"kind": "break", "start": 7.25, "end": 7.75},
        {"kind": "driving", "start": 7.75, "end": 8.0},
    ]
    assert v1["load"] == {"h": [6.0, 6.25, 6.75, 7.25, 8.0],
                          "kg": [0.0, 1000.0, 1500.0, 0.0, 0.0]}
    assert v1["unloads"] == [{"id": "F1", "lon": 114.05, "lat": 34.7, "at": 7.0}]
    assert len(v1["path"]) == 5  # the break has no place
    assert data["unassigned"][0]["point_id"] == "P4"
    gantt = F.draw_gantt(data, "en").to_dict()
    driving = [t for t in gantt["data"] if t["name"] == "Driving"][0]
    assert list(driving["base"])[:2] == [6.0, 6.25]
    assert list(driving["x"])[:2] == [0.1667, 0.25]
    load = F.draw_load_profile(data, "en").to_dict()
    assert load["data"][0]["line"]["shape"] == "hv"


def test_plan_day_and_fleet(county: Session) -> None:
    plan = D.compute_plan_day(county, None)  # newest planned day
    assert plan is not None and plan["date"] == "2020-01-08"
    assert D.compute_plan_day(county, dt.date(2020, 1, 9)) is None
    fleet = D.compute_fleet(county, plan, 2020)
    rows = {t["vehicle_id"]: t for t in fleet["trucks"]}
    assert rows["V1"] == {"vehicle_id": "V1", "plate": "豫AV1", "shift_h": 12.0,
                          "day_km": 20.0, "day_t": 1.5, "day_trips": 1, "utilisation": 0.1667,
                          "year_t": 10.5, "year_truck_days": 8}
    assert rows["V3"]["day_km"] is None and rows["V3"]["year_t"] == 0.4
    fig = F.draw_fleet(fleet, "zh").to_dict()
    assert list(fig["data"][0]["y"])[:2] == [0.1667, 0.0833]
    plan_fig = F.draw_plan_map(plan, D.compute_county_map(county), "zh").to_dict()
    assert [t["name"] for t in plan_fig["data"]] == ["V1", "V2", "卸料"]


def test_kpis(county: Session) -> None:
    k = D.compute_kpis(county, 2020)
    cards = {c["key"]: c for c in k["cards"]}
    assert cards["tonnage_collected_t"]["value"] == 11.55
    assert cards["separation_coverage_households"]["inputs"]["on"] == "2020-12-31"
    assert list(cards) == list(D.KPI_KEYS)


def test_static_pages(county: Session, tmp_path: Path) -> None:
    paths = write_dashboards(county, tmp_path / "dash", lang="en")
    names = sorted(p.name for p in paths)
    assert names == sorted(["index.html", *(f"{p}.html" for p in PAGES), "plotly.min.js"])
    assert len(list((tmp_path / "dash").glob("*.js"))) == 1
    for p in PAGES:
        text = (tmp_path / "dash" / f"{p}.html").read_text(encoding="utf-8")
        srcs = re.findall(r'<script src="([^"]+)"', text)
        assert srcs == ["plotly.min.js"]
        assert "https://" not in text.split('<script id="page-data"')[0]
    index = (tmp_path / "dash" / "index.html").read_text(encoding="utf-8")
    assert all(f'href="{p}.html"' in index for p in PAGES)
    overview = (tmp_path / "dash" / "overview.html").read_text(encoding="utf-8")
    assert 'data-key="harmless_disposal_rate"' in overview
    assert 'id="monthly-select"' in overview


def test_page_figures_and_render(county: Session) -> None:
    figs = page_figures(county, "overview", {"lang": "zh", "year": "2020"})
    monthly = figs["figures"][0]
    assert monthly["id"] == "monthly"
    assert set(monthly["variants"]) == {"", "A镇", "B镇", NO_TOWN}
    json.dumps(figs)  # JSON-ready
    html = render_page(county, "plan", {"date": "2020-01-08"}, plotly_src="/static/plotly.js")
    assert '<script src="/static/plotly.js">' in html and "P4" in html
    with pytest.raises(BadInput):
        render_page(county, "nope", {})
    with pytest.raises(BadInput):
        render_page(county, "plan", {"lang": "fr"})


def test_pages_without_data(session: Session, tmp_path: Path) -> None:
    paths = write_dashboards(session, tmp_path, lang="zh")
    assert (tmp_path / "plan.html").read_text(encoding="utf-8").count("没有已保存的计划") == 1
    assert len(paths) == 6


def test_cli_dashboards(county: Session, db_url: str, tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["dashboards", "--db", db_url, "--out", str(tmp_path / "d"),
                                   "--date", "2020-01-08", "--lang", "en"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert (tmp_path / "d" / "plan.html").exists()
    res = CliRunner().invoke(app, ["dashboards", "--db", db_url, "--out", str(tmp_path / "e"),
                                   "--lang", "fr"])
    assert res.exit_code == 2
