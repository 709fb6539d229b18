"""Metrics on a tiny county built in the test (exact values worked out by hand below).

Week 2020-01-06 (Mon) .. 2020-01-12 (Sun). Towns A镇 (C1 100 households separating since
2020-01-01; C2 300 not separating) and B镇 (C3 600, separating from 2020-01-20).

points: P1 C1 residual daily | P2 C1 kitchen Mon/Wed/Fri | P3 C3 residual daily |
        P4 C3 kitchen daily (C3 not separating yet: never due in the week) |
        P5 no community, recyclable Tue | P6 C2 residual, never due (mask 0)
due:    P1 7 + P2 3 + P3 7 + P4 0 + P5 1 = 18
records (kg): P1 1000 x 6 (missed Sun 12) V1; P2 Mon 200, Tue 100 (not due), Wed 300 V2;
        P3 500 x 7 V1; P4 Sat 50 V2; P5 Tue 400 V3; outside: P1 Mon 13th 1000.
served: 6 + 2 + 7 + 0 + 1 = 16
tickets: V1 F1 (incinerator, harmless) 1500 on 6th, 8th-11th, 500 on 12th; V1 F2 (transfer,
        not harmless) 1500 on 7th; V2 F3 (kitchen plant) 200, 100, 300, 50 on 6, 7, 8, 11;
        V3 F4 (recycling centre) 400 on 7th; outside: F1 1000 on the 14th.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from typing import Any

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from logistics.cli import app
from logistics.domain import BadInput
from logistics.persistence import models as m
from logistics.reporting.metrics import (
    CO2_KG_PER_KM,
    NO_TOWN,
    REGISTRY,
    compute_metrics,
    due_visits,
)
from tests.factories import build_tiny_county

D = dt.date
START, END = D(2020, 1, 6), D(2020, 1, 12)

@pytest.fixture
def county(session: Session) -> Session:
    build_tiny_county(session)
    return session


def _values(doc: dict[str, Any], group: str = "county") -> dict[str, Any]:
    g = next(g for g in doc["groups"] if g["group"] == group)
    return {k: v["value"] for k, v in g["metrics"].items()}


def test_county_metrics_exact(county: Session) -> None:
    doc = compute_metrics(county, START, END)
    assert doc["format"] == "wasteroute.metrics/1"
    assert (doc["from"], doc["to"], doc["by"]) == ("2020-01-06", "2020-01-12", "county")
    [g] = doc["groups"]
    mt = g["metrics"]
    assert mt["tonnage_collected_t"] == {"value": 10.55, "inputs": {"records": 18}}
    assert mt["harmless_disposal_rate"] == {
        "value": 0.8578, "inputs": {"harmless_t": 9.05, "collected_t": 10.55,
                                    "in_transit_t": 1.5}}
    assert mt["separation_coverage_households"] == {
        "value": 0.1, "inputs": {"covered_households": 100, "households": 1000,
                                 "on": "2020-01-12"}}
    assert mt["separation_coverage_communities"] == {
        "value": 0.3333, "inputs": {"covered": 1, "communities": 3, "on": "2020-01-12"}}
    assert mt["resource_utilisation_rate"] == {
        "value": 0.0995,
        "inputs": {"recycled_t": 0.4, "kitchen_treated_t": 0.65, "collected_t": 10.55}}
    assert mt["collection_coverage"] == {
        "value": 0.8889, "inputs": {"served_visits": 16, "due_visits": 18}}
    assert mt["t_per_truck_day"] == {
        "value": 0.879, "inputs": {"collected_t": 10.55, "truck_days": 12}}
    assert mt["km_per_t"]["value"] == 16.667
    assert mt["km_per_t"]["inputs"] == {"distance_km": 30.0, "planned_t": 1.8, "plans": 1,
                                        "source": "plans"}
    assert mt["trips_per_truck_day"]["value"] == 1.0
    assert mt["co2_t"]["value"] == round(30 * CO2_KG_PER_KM / 1000, 3)
    assert mt["co2_t"]["inputs"]["kg_co2_per_km"] == CO2_KG_PER_KM
    assert "DESNZ" in mt["co2_t"]["inputs"]["factor_source"]
    assert mt["tonnage_residual_t"] == {"value": 9.5, "inputs": {"records": 13}}
    assert mt["tonnage_kitchen_t"] == {"value": 0.65, "inputs": {"records": 4}}
    assert mt["tonnage_recyclable_t"] == {"value": 0.4, "inputs": {"records": 1}}
    assert set(REGISTRY) <= set(mt)


def test_by_town_splits_tickets_by_the_trucks_records(county: Session) -> None:
    doc = compute_metrics(county, START, END, by="town")
    assert [g["group"] for g in doc["groups"]] == ["A镇", "B镇", NO_TOWN]
    a, b, none = (_values(doc, g) for g in ("A镇", "B镇", NO_TOWN))
    assert (a["tonnage_collected_t"], b["tonnage_collected_t"], none["tonnage_collected_t"]) == (
        6.6, 3.55, 0.4)
    # A: 2/3 of V1's harmless 7500 kg + its kitchen 600 kg; B: 1/3 + the 12th + 50 kg kitchen
    assert (a["harmless_disposal_rate"], b["harmless_disposal_rate"]) == (0.8485, 0.8592)
    assert none["harmless_disposal_rate"] == 1.0
    assert (a["resource_utilisation_rate"], b["resource_utilisation_rate"]) == (0.0909, 0.0141)
    assert (a["collection_coverage"], b["collection_coverage"]) == (0.8, 1.0)
    assert (a["separation_coverage_households"], b["separation_coverage_households"]) == (
        0.25, 0.0)
    assert (a["separation_coverage_communities"], b["separation_coverage_communities"]) == (
        0.5, 0.0)
    # fleet figures are county-wide
    fleet = next(g for g in doc["groups"] if g["group"] == "A镇")["metrics"]["t_per_truck_day"]
    assert fleet["value"] is None and "county-wide" in fleet["missing"]
    assert "notes" not in doc  # every ticket matched records of its truck


def test_town_and_category_filters(county: Session) -> None:
    doc = compute_metrics(county, START, END, town="B镇")
    assert [g["group"] for g in doc["groups"]] == ["B镇"] and doc["town"] == "B镇"
    assert _values(doc, "B镇")["harmless_disposal_rate"] == 0.8592
    doc = compute_metrics(county, START, END, category="kitchen")
    v = _values(doc)
    assert v["tonnage_collected_t"] == 0.65
    assert v["harmless_disposal_rate"] == 1.0  # 650 kg kitchen to the kitchen plant
    assert v["collection_coverage"] == round(2 / 3, 4)  # P2: Mon, Wed served of Mon/Wed/Fri
    assert list(k for k in doc["groups"][0]["metrics"] if k.startswith("tonnage_")) == [
        "tonnage_collected_t", "tonnage_kitchen_t"]


def test_missing_inputs_are_null_never_zero(county: Session) -> None:
    doc = compute_metrics(county, D(2021, 1, 1), D(2021, 1, 31))
    g = doc["groups"][0]["metrics"]
    for key in ("tonnage_collected_t", "harmless_disposal_rate", "resource_utilisation_rate",
                "collection_coverage", "t_per_truck_day", "km_per_t", "co2_t"):
        assert g[key]["value"] is None, key
        assert g[key]["missing"], key
    # coverage is a fact of the communities table: known
    assert g["separation_coverage_households"]["value"] == 0.7
    # records but no weighbridge ticket on the 13th
    g = compute_metrics(county, D(2020, 1, 13), D(2020, 1, 13))["groups"][0]["metrics"]
    assert g["tonnage_collected_t"]["value"] == 1.0
    assert g["harmless_disposal_rate"]["value"] is None
    assert g["harmless_disposal_rate"]["missing"] == "no weighbridge tickets in the period"


def test_unattributed_tickets_are_noted(county: Session) -> None:
    county.add(m.Ticket(facility_id="F1", ticket_no="X1", time=dt.datetime(2020, 1, 9, 13),
                        category="residual", net_kg=800, vehicle_id=""))
    county.flush()
    doc = compute_metrics(county, START, END, by="town")
    assert any("0.8 t" in n for n in doc["notes"])
    county_doc = compute_metrics(county, START, END)
    assert _values(county_doc)["harmless_disposal_rate"] == round(9850 / 10550, 4)


def test_a_truck_day_of_0_kg_shares_its_ticket_out_to_no_town(county: Session) -> None:
    # V9 weighed 0 kg at P1 (A镇) and P3 (B镇) on the 9th, yet a 300 kg ticket names it:
    # the county counts the ticket, no town gets any of it, and it is not "unattributed"
    before = compute_metrics(county, START, END, by="town")
    county.add_all([
        m.CollectionRecord(date=D(2020, 1, 9), point_id=pid, vehicle_id="V9", kg=0.0)
        for pid in ("P1", "P3")])
    county.add(m.Ticket(facility_id="F1", ticket_no="Z1", time=dt.datetime(2020, 1, 9, 14),
                        category="residual", net_kg=300, vehicle_id="V9"))
    county.flush()
    doc = compute_metrics(county, START, END, by="town")
    assert "notes" not in doc
    for town in ("A镇", "B镇"):
        old, new = (next(g for g in d["groups"] if g["group"] == town)["metrics"]
                    for d in (before, doc))
        assert new["harmless_disposal_rate"] == old["harmless_disposal_rate"]
        assert new["tonnage_collected_t"]["value"] == old["tonnage_collected_t"]["value"]
    harmless = _values(compute_metrics(county, START, END))["harmless_disposal_rate"]
    assert harmless == round(9350 / 10550, 4)


def test_due_visits_equal_the_days_counted_one_by_one() -> None:
    rng = random.Random(15)
    for _ in range(2000):
        start = D(2020, 1, 1) + dt.timedelta(days=rng.randrange(400))
        end = start + dt.timedelta(days=rng.randrange(-3, 80))
        mask, gated = rng.randrange(128), rng.random() < 0.5
        since = (None if rng.random() < 0.2
                 else start + dt.timedelta(days=rng.randrange(-40, 100)))
        days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
        expected = sum(1 for d in days if mask >> d.weekday() & 1
                       and (not gated or (since is not None and since <= d)))
        assert due_visits(mask, gated, since, start, end) == expected, (mask, gated, since)


def test_bad_scope(county: Session) -> None:
    with pytest.raises(BadInput):
        compute_metrics(county, END, START)
    with pytest.raises(BadInput):
        compute_metrics(county, START, END, by="province")


def test_cli_metrics_json_and_table(county: Session, db_url: str) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["metrics", "--db", db_url, "--from", "2020-01-06", "--to",
                              "2020-01-12", "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc == compute_metrics(county, START, END)
    res = runner.invoke(app, ["metrics", "--db", db_url, "--from", "2020-01-06", "--to",
                              "2020-01-12", "--by", "town", "--category", "厨余垃圾"])
    assert res.exit_code == 0, res.output
    assert "A镇" in res.stdout and "B镇" in res.stdout
    res = runner.invoke(app, ["metrics", "--db", db_url, "--from", "2020-01-12", "--to",
                              "2020-01-06", "--json"])
    assert res.exit_code == 2
