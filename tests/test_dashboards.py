"""Dashboards: plain data with exact values on the tiny county of test_metrics, then the
figures (through fig.to_dict()) and the static pages."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from dashboards import data as D
from dashboards import figures as F
from dashboards.pages import PAGES, page_figures, render_page, write_dashboards
from logistics.cli import app
from logistics.domain import BadInput
from logistics.persistence import dashboard_repo
from logistics.persistence.models import CollectionRecord, Point
from logistics.reporting.metrics import NO_TOWN
from tests.factories import build_tiny_county, county_history, plan_document


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
        "harmless", "not_harmless", "in_transit"]
    assert data["links"] == [
        {"source": "cat:recyclable", "target": "fac:F4", "t": 0.4},
        {"source": "cat:kitchen", "target": "fac:F3", "t": 0.65},
        {"source": "cat:residual", "target": "fac:F1", "t": 9.0},
        {"source": "cat:residual", "target": "fac:F2", "t": 1.5},
        {"source": "fac:F1", "target": "harmless", "t": 9.0},
        {"source": "fac:F2", "target": "in_transit", "t": 1.5},  # a transfer station
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
    k = D.compute_kpis(county, dt.date(2020, 1, 1), dt.date(2020, 12, 31))
    cards = {c["key"]: c for c in k["cards"]}
    assert cards["tonnage_collected_t"]["value"] == 11.55
    # the data ends on 13 January: the year is counted to date, coverage read that day
    assert cards["separation_coverage_households"]["inputs"]["on"] == "2020-01-13"
    assert k["covers"]["to"] == "2020-01-13" and k["covers"]["kind"] == "year_to_date"
    assert list(cards) == list(D.KPI_KEYS)


def test_static_pages(county: Session, tmp_path: Path) -> None:
    paths = write_dashboards(county, tmp_path / "dash", lang="en")
    names = sorted(p.name for p in paths)
    # data 6..13 January 2020: the newest complete month is none before the data, so the
    # default year is the running one; the selector offers it and January to date
    periods = sorted(n for n in names if n.startswith("overview_"))
    assert names == sorted([*(f"{p}.html" for p in PAGES), "plotly.min.js", *periods])
    for n in periods:
        assert f'data-href="{n}"' in (tmp_path / "dash" / "overview.html").read_text("utf-8")
    assert len(list((tmp_path / "dash").glob("*.js"))) == 1
    for p in PAGES:
        text = (tmp_path / "dash" / f"{p}.html").read_text(encoding="utf-8")
        srcs = re.findall(r'<script src="([^"]+)"', text)
        assert srcs == ["plotly.min.js"]
        assert "https://" not in text.split('<script id="page-data"')[0]
    index = (tmp_path / "dash" / "index.html").read_text(encoding="utf-8")
    assert all(f'href="{p}.html"' in index for p in PAGES)
    assert 'data-key="in_transit_t"' in index
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


# --------------------------------------------------------------------------- landing page

METRICS_DATA = Path(__file__).parent / "data" / "metrics"


@pytest.fixture
def chain(session: Session) -> Session:
    """The county of test_metrics_transfer (a transfer station sending loads on)."""
    from logistics.imports import import_paths

    import_paths(session, sorted(METRICS_DATA.glob("*.csv")))
    session.commit()
    return session


def _raw_days() -> dict[str, Any]:
    """Daily figures of the last days, computed from the CSV rows with pandas."""
    import pandas as pd

    r = pd.read_csv(METRICS_DATA / "records.csv")
    t = pd.read_csv(METRICS_DATA / "tickets.csv", dtype=str, keep_default_na=False)
    t.columns = ["no", "facility_id", "time", "category", "kg", "vehicle", "source"]
    t["kg"] = t["kg"].astype(float)
    t["day"] = pd.to_datetime(t["time"]).dt.date.astype(str)
    f = pd.read_csv(METRICS_DATA / "facilities.csv").set_index("facility_id")
    harmless = {k for k, v in f["harmless"].astype(str).str.lower().eq("true").items() if v}
    kind = f["kind"].to_dict()
    t_by = r.groupby("date")["kg"].sum()
    final = t[(t["facility_id"].map(kind) != "transfer_station")
              & t["facility_id"].isin(harmless)].groupby("day")["kg"].sum()
    into = t[t["facility_id"].map(kind) == "transfer_station"].groupby("day")["kg"].sum()
    out = t[t["source"].map(kind) == "transfer_station"].groupby("day")["kg"].sum()
    days = sorted(set(r["date"]))
    stock, stocks = 0.0, {}
    for d in sorted(set(days) | set(t["day"])):
        stock += float(into.get(d, 0.0)) - float(out.get(d, 0.0))
        stocks[d] = round(stock / 1000, 3)
    return {"last": days[-1], "t": {d: round(float(t_by[d]) / 1000, 3) for d in days},
            "harmless": {d: round(float(final.get(d, 0.0)) / float(t_by[d]), 4) for d in days},
            "stock": stocks, "records": r}


def test_landing_series_and_cards_from_the_raw_rows(chain: Session) -> None:
    from dashboards.landing import compute_landing

    raw = _raw_days()
    data = compute_landing(chain)
    assert data["last"] == raw["last"] == "2020-04-10"
    s = data["series"]
    assert s["days"][-1] == "2020-04-10" and len(s["days"]) == 41  # from the first day
    for i, d in enumerate(s["days"]):
        assert s["t"][i] == raw["t"][d], d
        assert s["harmless"][i] == raw["harmless"][d], d
        assert s["transfer_t"][i] == pytest.approx(raw["stock"][d], abs=1e-3), d
    [day, ytd, done] = data["blocks"]
    # the newest complete month is March: the third block is the year through March
    assert done["covers"]["label"]["en"] == "2020 year to date (through 2020-03-31)"
    assert (day["kind"], day["covers"]["label"]["en"]) == ("day", "2020-04-10")
    assert ytd["covers"]["label"]["en"] == "2020 year to date (through 2020-04-10)"
    cards = {c["key"]: c for c in day["cards"]}
    assert cards["tonnage_collected_t"]["value"] == raw["t"]["2020-04-10"]
    assert cards["in_transit_t"]["value"] == pytest.approx(raw["stock"]["2020-04-10"], abs=1e-3)


def test_landing_alerts(chain: Session, tmp_path: Path) -> None:
    from dashboards.landing import compute_alerts, compute_landing
    from logistics.imports import import_paths

    # a heavy day at the landfill (capacity 100 t) and a low harmless rate that day
    (tmp_path / "tickets.csv").write_text(
        "ticket_no,facility_id,time,category,net_kg\n"
        "H1,L1,2020-04-10 15:00,residual,95000\n", encoding="utf-8")
    import_paths(chain, [tmp_path / "tickets.csv"])
    data = compute_landing(chain)
    kinds = {a["kind"]: a for a in data["alerts"]}
    near = kinds["near_capacity"]
    assert (near["facility_id"], near["share"], near["severity"]) == ("L1", 0.95, "warn")
    # points due on Friday 10 April without a record, from the rows
    import pandas as pd

    pts = pd.read_csv(METRICS_DATA / "points.csv", dtype=str, keep_default_na=False)
    rec = _raw_days()["records"]
    done = set(rec.loc[rec["date"] == "2020-04-10", "point_id"])
    # Friday = 5; P4 (C3 kitchen) is due since C3 separates from 20 March
    due = [p for p, d in zip(pts["point_id"], pts["days"], strict=True)
           if d == "daily" or "5" in d.split(";")]
    missed = sorted(set(due) - done)
    if missed:
        assert kinds["points_missed"]["points"] == missed
        assert kinds["points_missed"]["due"] == len(due)
    else:
        assert "points_missed" not in kinds
    # the landfill is not harmless: the day's rate falls below 95 %
    assert {"kind": "harmless_below_target", "severity": "high", "scope": "day",
            "value": data["series"]["harmless"][-1], "target": 0.95} in data["alerts"]
    # stock growing three days in a row
    series = {"days": ["a", "b", "c", "d"], "t": [1, 1, 1, 1], "harmless": [1.0] * 4,
              "coverage": [1.0] * 4, "transfer_t": [0.0, 1.0, 2.5, 3.0]}
    ytd = {"cards": [{"key": "harmless_disposal_rate", "value": 1.0}]}
    grow = [a for a in compute_alerts(chain, dt.date(2020, 4, 10), series, ytd)
            if a["kind"] == "transfer_stock_growing"]
    assert grow == [{"kind": "transfer_stock_growing", "severity": "warn", "days": 3,
                     "from_t": 0.0, "to_t": 3.0}]
    series["transfer_t"] = [0.0, 1.0, 1.0, 3.0]
    assert not [a for a in compute_alerts(chain, dt.date(2020, 4, 10), series, ytd)
                if a["kind"] == "transfer_stock_growing"]


def test_sankey_counts_a_tonne_once_where_it_ends(chain: Session) -> None:
    data = D.compute_disposal_flows(chain, dt.date(2020, 3, 1), dt.date(2020, 3, 31))
    links = {(li["source"], li["target"]): li["t"] for li in data["links"]}
    assert ("fac:T1", "fac:I1") in links  # the loads sent on
    assert ("fac:T1", "in_transit") in links  # what waits over the month end
    from logistics.reporting.metrics import compute_metrics

    m = compute_metrics(chain, dt.date(2020, 3, 1), dt.date(2020, 3, 31))["groups"][0]["metrics"]
    harmless_t = sum(t for (s, tgt), t in links.items() if tgt == "harmless")
    assert harmless_t == pytest.approx(m["harmless_disposal_rate"]["inputs"]["harmless_t"],
                                       abs=0.01)
    assert links[("fac:T1", "in_transit")] == pytest.approx(m["in_transit_t"]["value"], abs=0.01)
    fig = F.draw_disposal_sankey(data, "en").to_dict()
    assert "In transit" in list(fig["data"][0]["node"]["label"])


def test_overview_period_selector_and_to_date_label(chain: Session) -> None:
    html = render_page(chain, "overview", {"lang": "en"})
    # the newest complete month is March: the default year runs to its end
    assert "2020 year to date (through 2020-03-31)" in html
    assert 'value="2020-03-01..2020-03-31" data-href="overview_2020-03-01_2020-03-31.html"' in html
    served = render_page(chain, "overview", {"lang": "en", "period": "2020-04-01..2020-04-30"},
                         static=False)
    assert "April 2020 month to date (through 2020-04-10)" in served
    assert 'data-href="overview.html?period=2020-03-01..2020-03-31&amp;lang=en"' in served
    with pytest.raises(BadInput):
        render_page(chain, "overview", {"period": "2020-05-01..2020-04-01"})


# --------------------------------------------------------------------------- the day view


def test_truck_map_one_truck_coloured_by_stream(county: Session) -> None:
    plan = D.compute_plan_day(county, None)
    assert plan is not None
    v1 = plan["routes"][0]
    assert list(v1["streams"]) == ["residual"]
    leg = v1["streams"]["residual"]
    # legs to each stop after the first collect, None between legs
    assert leg["lon"].count(None) == len(v1["path"]) - 1
    m = D.compute_county_map(county)
    fig = F.draw_truck_map(plan, m, "V1", "en").to_dict()
    names = [t.get("name") for t in fig["data"]]
    assert names[0] == "Other trucks" and "V1 · Residual" in names and names[-1] == "Unload"
    others = fig["data"][0]
    v2_path = plan["routes"][1]["path"]
    assert [x for x in others["lon"] if x is not None] == [p[0] for p in v2_path]
    assert others["line"]["color"] == F.GREY


def test_day_view_page(county: Session) -> None:
    content = page_figures(county, "plan", {"lang": "en"})
    plan_map = content["figures"][0]
    assert plan_map["id"] == "plan_map"
    assert set(plan_map["variants"]) == {"V1", "V2"}
    html = render_page(county, "plan", {"lang": "en"})
    assert 'id="plan_map-select"' in html and "Unassigned points (1)" in html
    assert "Plan versus actual" in html


@pytest.mark.parametrize(("start", "end"), [
    (dt.date(2026, 9, 1), dt.date(2026, 11, 30)),   # whole months: rollups only
    (dt.date(2026, 9, 10), dt.date(2026, 11, 20)),  # cut at both ends
    (dt.date(2026, 10, 3), dt.date(2026, 10, 17)),  # inside one month
])
def test_sums_by_month_day_and_truck_equal_the_records(
        session: Session, start: dt.date, end: dt.date) -> None:
    # the dashboards read the rollups the records' triggers keep: their sums must be
    # the records' own, also after records are changed in place
    county_history(session)
    session.execute(update(CollectionRecord).where(CollectionRecord.point_id < "P020")
                    .values(vehicle_id="V01"))
    session.execute(update(CollectionRecord).where(CollectionRecord.point_id >= "P030")
                    .values(vehicle_id="V02"))
    session.flush()
    rec = pd.DataFrame(session.execute(
        select(CollectionRecord.date, CollectionRecord.vehicle_id, CollectionRecord.kg,
               Point.category)
        .join(Point, Point.point_id == CollectionRecord.point_id)
        .where(CollectionRecord.date >= start, CollectionRecord.date <= end)).all(),
        columns=["date", "vehicle", "kg", "category"])
    assert len(rec) > 100

    got = dashboard_repo.monthly_kg(session, start, end)
    want = rec.assign(month=rec["date"].map(lambda d: f"{d:%Y-%m}")) \
        .groupby(["month", "category"])["kg"].sum()
    have = got.groupby(["month", "category"])["kg"].sum()
    assert sorted(have.index) == sorted(want.index)
    for key, kg in want.items():
        assert have[key] == pytest.approx(kg, rel=1e-9)

    days = dashboard_repo.daily_records(session, start, end).set_index("day")
    per_day = rec.groupby("date")["kg"].agg(["sum", "count"])
    assert sorted(days.index) == sorted(per_day.index)
    for day, row in per_day.iterrows():
        assert days.loc[day, "kg"] == pytest.approx(row["sum"], rel=1e-9)
        assert int(days.loc[day, "records"]) == row["count"]

    trucks = {v: (kg, n) for v, kg, n in dashboard_repo.truck_day_totals(session, start, end)}
    named = rec[rec["vehicle"] != ""]
    assert set(trucks) == {"V01", "V02"}
    for v, g in named.groupby("vehicle"):
        assert trucks[v][0] == pytest.approx(g["kg"].sum(), rel=1e-9)
        assert trucks[v][1] == g["date"].nunique()
