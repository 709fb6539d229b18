"""The demo year's metrics computed independently (pandas over the generator's own records
and tickets, not the engine and not the database) against ``compute_metrics`` on the
imported database. A small county (scale 0.02) goes through the real importer."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from logistics.demo.export import write_files
from logistics.demo.generate import generate_county
from logistics.demo.run import import_files
from logistics.persistence.db import session_scope
from logistics.reporting.metrics import compute_metrics

SCALE = 0.02


@pytest.fixture(scope="module")
def county():  # type: ignore[no-untyped-def]
    return generate_county(seed=7, scale=SCALE)


def _mask(days: str) -> int:
    if days == "daily":
        return 127
    return sum(1 << (int(d) - 1) for d in days.split(";"))


def test_demo_year_metrics_match_an_independent_computation(
    county, db_url: str, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    import_files(db_url, write_files(county, tmp_path / "data"))
    with session_scope(db_url) as s:
        doc = compute_metrics(s, dt.date(2020, 1, 1), dt.date(2020, 12, 31))
        by_town = compute_metrics(s, dt.date(2020, 1, 1), dt.date(2020, 12, 31), by="town")
    got = {k: v["value"] for k, v in doc["groups"][0]["metrics"].items()}

    rec, tic, pts = county.records, county.tickets, county.points
    fac = county.facilities.set_index("facility_id")
    com = county.communities
    collected = float(rec["kg"].sum())
    assert got["tonnage_collected_t"] == pytest.approx(collected / 1000, abs=1e-3)
    harmless = float(tic.loc[tic["facility_id"].map(fac["harmless"]).astype(bool), "net_kg"].sum())
    assert got["harmless_disposal_rate"] == round(harmless / collected, 4)
    kind = tic["facility_id"].map(fac["kind"])
    recycled = tic.loc[(tic["category"] == "recyclable")
                       & kind.isin(["recycling_center", "sorting_center"]), "net_kg"].sum()
    kitchen = tic.loc[(tic["category"] == "kitchen")
                      & kind.isin(["kitchen_plant", "composting"]), "net_kg"].sum()
    assert got["resource_utilisation_rate"] == round(float(recycled + kitchen) / collected, 4)

    end = dt.date(2020, 12, 31)
    covered = com["sorting_since"].map(lambda d: isinstance(d, dt.date) and d <= end)
    assert got["separation_coverage_households"] == round(
        float(com.loc[covered, "households"].sum()) / float(com["households"].sum()), 4)
    assert got["separation_coverage_communities"] == round(float(covered.mean()), 4)

    # due: each day of 2020 whose weekday is in the point's days; separated streams only
    # once the community separates
    days = pd.date_range("2020-01-01", "2020-12-31", freq="D")
    since = pts["community_id"].map(com.set_index("community_id")["sorting_since"])
    gated = pts["category"].isin(["kitchen", "recyclable", "hazardous"])
    due_total = 0
    due_pairs: set[tuple[str, np.datetime64]] = set()
    for pid, d, g, sv in zip(pts["point_id"], pts["days"], gated, since, strict=True):
        m = _mask(d)
        for day in days:
            if not m & (1 << day.weekday()):
                continue
            if g and not (isinstance(sv, dt.date) and sv <= day.date()):
                continue
            due_total += 1
            due_pairs.add((pid, np.datetime64(day.date())))
    served = sum(
        1 for p, d in zip(rec["point_id"], rec["date"], strict=True)
        if (p, np.datetime64(pd.Timestamp(d).date())) in due_pairs
    )
    assert got["collection_coverage"] == round(served / due_total, 4)
    assert got["collection_coverage"] > 0.99  # the demo misses about 0.15% of visits

    truck_days = rec.groupby(["vehicle_id", "date"]).ngroups
    assert got["t_per_truck_day"] == round(collected / 1000 / truck_days, 3)
    cat = rec["point_id"].map(pts.set_index("point_id")["category"])
    for c, kg in rec.groupby(cat)["kg"].sum().items():
        assert got[f"tonnage_{c}_t"] == pytest.approx(kg / 1000, abs=1e-3)

    # per town: tonnage from the records' towns; the towns add up to the county
    town = rec["point_id"].map(pts.set_index("point_id")["community_id"]).map(
        com.set_index("community_id")["town"])
    by = rec.groupby(town)["kg"].sum() / 1000
    groups = {g["group"]: g["metrics"] for g in by_town["groups"]}
    for t, tonnes in by.items():
        assert groups[t]["tonnage_collected_t"]["value"] == pytest.approx(tonnes, abs=1e-3)
    harmless_towns = sum(g["harmless_disposal_rate"]["inputs"]["harmless_t"]
                         for g in groups.values())
    assert harmless_towns == pytest.approx(harmless / 1000, abs=0.05)
    assert "notes" not in by_town
