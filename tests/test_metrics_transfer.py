"""Official metrics against an independent computation from the raw rows.

The county in tests/data/metrics/ (March 2020 to 10 April 2020) has a transfer station
(T1) whose intake is sent on to the incinerator every fourth day (so stock is carried
over the month end), a non-harmless landfill, tickets after the last day with records,
and a community that starts separating on 20 March. The expected figures are computed
here with pandas from the CSV files, written separately from the product's SQL.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from logistics.cli import app
from logistics.imports import import_paths
from logistics.reporting.metrics import compute_metrics
from tests.factories import cli_import, snapshot

DATA = Path(__file__).parent / "data" / "metrics"
D = dt.date
SEPARATED = {"kitchen", "recyclable", "hazardous"}


# --------------------------------------------------------------------------- the raw rows


def _raw() -> dict[str, pd.DataFrame]:
    t = pd.read_csv(DATA / "tickets.csv", dtype=str, keep_default_na=False)
    t.columns = ["ticket_no", "facility_id", "time", "category", "net_kg", "vehicle_id",
                 "source_facility_id"]
    t["time"] = pd.to_datetime(t["time"])
    t["net_kg"] = t["net_kg"].astype(float)
    r = pd.read_csv(DATA / "records.csv", dtype={"kg": float})
    r["date"] = pd.to_datetime(r["date"]).dt.date
    f = pd.read_csv(DATA / "facilities.csv")
    f["harmless"] = f["harmless"].astype(str).str.lower() == "true"
    p = pd.read_csv(DATA / "points.csv", dtype=str, keep_default_na=False)
    c = pd.read_csv(DATA / "communities.csv", dtype=str, keep_default_na=False)
    return {"tickets": t, "records": r, "facilities": f, "points": p, "communities": c}


def expected(start: dt.date, end: dt.date) -> dict[str, Any]:
    """The county's figures by the definitions in docs/dashboards.md, from the rows."""
    raw = _raw()
    r, t, f, p, c = (raw[k] for k in ("records", "tickets", "facilities", "points",
                                      "communities"))
    last = max(r["date"])
    through = min(end, last)
    rec = r[(r["date"] >= start) & (r["date"] <= through)]
    lo = pd.Timestamp(start)
    hi = pd.Timestamp(through + dt.timedelta(days=1))
    kind = dict(zip(f["facility_id"], f["kind"], strict=True))
    harmless_fac = set(f.loc[f["harmless"], "facility_id"])
    in_period = t[(t["time"] >= lo) & (t["time"] < hi)]
    final = in_period[in_period["facility_id"].map(kind) != "transfer_station"]
    harmless_kg = final.loc[final["facility_id"].isin(harmless_fac), "net_kg"].sum()
    kitchen_kg = final.loc[(final["category"] == "kitchen")
                           & final["facility_id"].map(kind).isin(["kitchen_plant"]), "net_kg"].sum()
    recycled_kg = final.loc[(final["category"] == "recyclable")
                            & final["facility_id"].map(kind).isin(["recycling_center"]),
                            "net_kg"].sum()
    upto = t[t["time"] < hi]
    into_transfer = upto.loc[upto["facility_id"].map(kind) == "transfer_station", "net_kg"].sum()
    sent_on = upto.loc[upto["source_facility_id"].map(kind) == "transfer_station",
                       "net_kg"].sum()
    # visits: every (point, day) of the covered days whose weekday the point has; a
    # separated stream of a community only once the community separates
    since = dict(zip(c["community_id"], c["sorting_since"], strict=True))
    due = served = 0
    rec_days = set(zip(rec["point_id"], rec["date"], strict=True))
    for pt in p.itertuples():
        wds = set(range(1, 8)) if pt.days == "daily" else {int(x) for x in pt.days.split(";")}
        s = since.get(pt.community_id, "")
        for i in range((through - start).days + 1):
            day = start + dt.timedelta(days=i)
            if day.isoweekday() not in wds:
                continue
            if pt.category in SEPARATED and pt.community_id and (
                    not s or D.fromisoformat(s) > day):
                continue
            due += 1
            served += (pt.point_id, day) in rec_days
    collected = rec["kg"].sum()
    return {
        "through": through.isoformat(),
        "collected_t": round(collected / 1000, 3),
        "harmless_t": round(harmless_kg / 1000, 3),
        "harmless_rate": round(harmless_kg / collected, 4),
        "resource_rate": round((kitchen_kg + recycled_kg) / collected, 4),
        "in_transit_t": round((into_transfer - sent_on) / 1000, 3),
        "due": due,
        "served": served,
        "coverage": round(served / due, 4),
        "records": len(rec),
    }


@pytest.fixture
def county(session: Session) -> Session:
    import_paths(session, sorted(DATA.glob("*.csv")))
    session.commit()
    return session


PERIODS = [
    (D(2020, 3, 1), D(2020, 3, 31)),   # a complete month, stock carried out of it
    (D(2020, 4, 1), D(2020, 4, 30)),   # runs past the data (through 10 April)
    (D(2020, 1, 1), D(2020, 12, 31)),  # the year to date
    (D(2020, 3, 10), D(2020, 3, 17)),  # before the community separates
    (D(2020, 3, 18), D(2020, 4, 3)),
]


@pytest.mark.parametrize(("start", "end"), PERIODS)
def test_county_metrics_equal_an_independent_computation(
    county: Session, start: dt.date, end: dt.date
) -> None:
    want = expected(start, end)
    doc = compute_metrics(county, start, end)
    m = doc["groups"][0]["metrics"]
    assert doc["covers"]["to"] == want["through"]
    assert doc["covers"]["complete"] == (want["through"] == end.isoformat())
    assert m["tonnage_collected_t"] == {"value": want["collected_t"],
                                        "inputs": {"records": want["records"]}}
    h = m["harmless_disposal_rate"]
    assert (h["value"], h["inputs"]["harmless_t"], h["inputs"]["collected_t"]) == (
        want["harmless_rate"], want["harmless_t"], want["collected_t"])
    assert h["inputs"]["in_transit_t"] == want["in_transit_t"]
    assert m["in_transit_t"]["value"] == want["in_transit_t"]
    assert m["resource_utilisation_rate"]["value"] == want["resource_rate"]
    assert m["collection_coverage"] == {
        "value": want["coverage"],
        "inputs": {"served_visits": want["served"], "due_visits": want["due"]}}


def test_stock_carried_over_the_month_end_is_in_transit(county: Session) -> None:
    march = compute_metrics(county, D(2020, 3, 1), D(2020, 3, 31))
    april = compute_metrics(county, D(2020, 4, 1), D(2020, 4, 30))
    m, a = (d["groups"][0]["metrics"]["in_transit_t"] for d in (march, april))
    assert m["value"] > 0  # the 31st's intake waits for the 4 April load
    assert a["inputs"]["opening_t"] == m["value"]
    assert a["value"] == pytest.approx(
        a["inputs"]["opening_t"] + a["inputs"]["intake_t"] - a["inputs"]["sent_on_t"], abs=2e-3)
    assert set(a["inputs"]["stations"]) == {"T1"}


def test_a_period_past_the_data_is_labelled_to_date(county: Session) -> None:
    doc = compute_metrics(county, D(2020, 1, 1), D(2020, 12, 31))
    cov = doc["covers"]
    assert (cov["from"], cov["to"], cov["last_data_day"]) == ("2020-01-01", "2020-04-10",
                                                             "2020-04-10")
    assert cov["kind"] == "year_to_date" and not cov["complete"]
    assert "2020-04-10" in cov["label"]["en"] and "year to date" in cov["label"]["en"]
    assert "年初至今" in cov["label"]["zh"]
    # separation coverage is read on the last day counted
    sep = doc["groups"][0]["metrics"]["separation_coverage_households"]
    assert sep["inputs"]["on"] == "2020-04-10"


def test_a_period_after_the_data_has_every_figure_missing(county: Session) -> None:
    doc = compute_metrics(county, D(2020, 5, 1), D(2020, 5, 31))
    assert doc["covers"]["to"] is None and doc["covers"]["days"] == 0
    m = doc["groups"][0]["metrics"]
    for key in ("tonnage_collected_t", "harmless_disposal_rate", "collection_coverage",
                "resource_utilisation_rate", "in_transit_t"):
        assert m[key]["value"] is None, key
        assert m[key]["missing"]


def test_by_town_sums_to_the_county_and_sends_loads_on_by_intake_share(
        county: Session) -> None:
    start, end = D(2020, 3, 1), D(2020, 3, 31)
    county_doc = compute_metrics(county, start, end)
    towns = compute_metrics(county, start, end, by="town")
    harmless = sum(g["metrics"]["harmless_disposal_rate"]["inputs"]["harmless_t"]
                   for g in towns["groups"])
    # per town, loads the transfer station sent on are shared by the towns' intake there
    # (not what it still holds): the towns' harmless tonnage is the county's
    want = county_doc["groups"][0]["metrics"]["harmless_disposal_rate"]["inputs"]["harmless_t"]
    assert harmless == pytest.approx(want, abs=0.01)


def test_cli_metrics_json_default_period_is_the_newest_complete_month_year(
        county: Session, db_url: str) -> None:
    res = CliRunner().invoke(app, ["--db", db_url, "metrics", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    # data end on 10 April: the newest complete month is March; the year runs to its end
    assert (doc["from"], doc["to"]) == ("2020-01-01", "2020-03-31")
    assert doc["covers"]["complete"] is True
    res = CliRunner().invoke(app, ["--db", db_url, "metrics", "--period", "month", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert (doc["from"], doc["to"]) == ("2020-03-01", "2020-03-31")
    want = expected(D(2020, 3, 1), D(2020, 3, 31))
    assert doc["groups"][0]["metrics"]["tonnage_collected_t"]["value"] == want["collected_t"]


# --------------------------------------------------------------------------- import


def _copy(tmp_path: Path) -> Path:
    out = tmp_path / "in"
    shutil.copytree(DATA, out)
    return out


@pytest.mark.parametrize(("source", "words"), [
    ("I1", "not a transfer station"),   # an incinerator sends nothing on
    ("X9", "no such facility"),
    ("K1,", "extra cells"),
])
def test_a_bad_source_facility_rejects_the_file(
        tmp_path: Path, db_url: str, source: str, words: str) -> None:
    folder = _copy(tmp_path)
    tickets = folder / "tickets.csv"
    lines = tickets.read_text(encoding="utf-8").splitlines()
    lines[4] = lines[4].rsplit(",", 1)[0] + "," + source
    tickets.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = snapshot(db_url)
    res = cli_import(db_url, folder)
    assert res.exit_code == 2
    err = res.stderr
    if words != "extra cells":
        assert f"{tickets}:5: source_facility_id:" in err and words in err
    assert snapshot(db_url) == before


def test_source_facility_cannot_be_the_facility_itself(tmp_path: Path, db_url: str) -> None:
    folder = _copy(tmp_path)
    (folder / "tickets.csv").write_text(
        "ticket_no,facility_id,time,category,net_kg,source_facility_id\n"
        "Z1,T1,2020-03-02 10:00,residual,100,T1\n", encoding="utf-8")
    res = cli_import(db_url, folder)
    assert res.exit_code == 2
    assert f"{folder / 'tickets.csv'}:2: source_facility_id:" in res.stderr


def test_source_facility_is_stored(county: Session) -> None:
    from logistics.persistence.models import Ticket

    sent = county.query(Ticket).filter(Ticket.source_facility_id.is_not(None)).all()
    raw = _raw()["tickets"]
    assert len(sent) == int((raw["source_facility_id"] != "").sum())
    assert {t.source_facility_id for t in sent} == {"T1"}


def test_api_metrics_default_period(api: Any, session: Session) -> None:
    r = api.get("/metrics?from=2026-11-01", "viewer")
    assert r.status_code == 400 and r.json()["reason"] == "bad_input"
    r = api.get("/metrics", "viewer")
    if r.status_code == 400:  # a county without records: no default period
        assert "--from" in r.json()["detail"]
        import_paths(session, sorted(DATA.glob("*.csv")))
        session.commit()
        api.client.app.state.read_cache.clear()
        r = api.get("/metrics", "viewer")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["covers"]["last_data_day"] is not None
    month = api.get("/metrics?period=month", "viewer").json()
    assert month["covers"]["kind"] == "month" and month["covers"]["complete"] is True
