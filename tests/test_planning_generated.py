"""Generated days of 100 to 2,000 points pass the independent plan checker.

The county is written as import CSVs into tmp_path (formats.md), imported through
the importer, planned with `plan_day`, and checked. 100 and 300 points run in the
default suite; 2,000 points only with `-m slow`.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import random
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from logistics.imports import import_paths
from logistics.planning.plan import plan_day
from tests.plan_checker import assert_plan_ok

FRIDAY = dt.date(2026, 11, 27)
SEAT = (113.98, 34.72)

#: category -> (share of points, kg range per visit)
MIX = {"kitchen": (0.42, (80, 300)), "residual": (0.36, (100, 350)),
       "recyclable": (0.16, (20, 150)), "hazardous": (0.06, (5, 25))}


def _write(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def generate_county(folder: Path, n_points: int, seed: int = 1) -> Path:
    """Import CSVs of a county with ``n_points`` points and a fleet sized to it."""
    rnd = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    lon0, lat0 = SEAT
    spread = 0.05 + 0.09 * min(1.0, n_points / 1000)  # degrees: ~5 to ~14 km
    depots = [("D1", lon0, lat0), ("D2", lon0 + spread * 0.6, lat0 + spread * 0.4),
              ("D3", lon0 - spread * 0.6, lat0 - spread * 0.4)]
    _write(folder / "depots.csv", ["depot_id", "name", "lon", "lat"],
           [[d, f"车场{d}", f"{x:.5f}", f"{y:.5f}"] for d, x, y in depots])
    _write(folder / "facilities.csv",
           ["facility_id", "name", "kind", "accepts", "lon", "lat", "open", "close",
            "unload_min", "daily_capacity_kg", "harmless"],
           [["F1", "转运站", "transfer_station", "kitchen;residual", lon0 + 0.01, lat0 - 0.01,
             "04:00", "22:00", "15", "", "true"],
            ["F2", "焚烧厂", "incinerator", "residual", lon0 + spread * 0.8, lat0, "00:00",
             "24:00", "10", "", "true"],
            ["F3", "厨余处理厂", "kitchen_plant", "kitchen", lon0 - spread * 0.8, lat0 + 0.01,
             "05:00", "20:00", "15", "", "true"],
            ["F4", "再生资源回收站", "recycling_center", "recyclable", lon0 - 0.02, lat0 + 0.03,
             "07:00", "18:00", "10", "", "false"],
            ["F5", "有害垃圾暂存点", "hazardous_site", "hazardous", lon0 + 0.03, lat0 + 0.02,
             "07:00", "17:00", "10", "", "true"]])
    points: list[list[object]] = []
    counts = dict.fromkeys(MIX, 0)
    cats = list(MIX)
    weights = [MIX[c][0] for c in cats]
    for i in range(n_points):
        cat = rnd.choices(cats, weights)[0]
        lo, hi = MIX[cat][1]
        kg: float = rnd.randint(lo, hi)
        days = rnd.choices(["daily", "1;3;5", "2;4"], [0.85, 0.1, 0.05])[0]
        if days != "2;4":
            counts[cat] += 1
        tw = rnd.choices([("", ""), ("06:00", "10:00"), ("07:00", "11:30"), ("08:00", "14:00")],
                         [0.6, 0.15, 0.15, 0.1])[0]
        points.append([f"G{i:05d}", f"点位{i}", "", f"{lon0 + rnd.uniform(-spread, spread):.5f}",
                       f"{lat0 + rnd.uniform(-spread, spread) * 0.8:.5f}", cat, kg, days, *tw,
                       rnd.choice([2, 3, 3, 4]), rnd.randint(1, 6)])
    # a market heavier than every kitchen compartment, and a stream no vehicle carries
    points.append(["G90000", "果蔬市场", "", f"{lon0 + 0.005:.5f}", f"{lat0 + 0.004:.5f}",
                   "kitchen", 7000, "daily", "05:30", "12:00", 15, 10])
    points.append(["G90001", "大件垃圾点", "", f"{lon0 - 0.004:.5f}", f"{lat0:.5f}", "bulky",
                   300, "daily", "", "", 10, ""])
    counts["kitchen"] += 1
    _write(folder / "points.csv",
           ["point_id", "name", "community_id", "lon", "lat", "category", "kg_per_visit", "days",
            "tw_start", "tw_end", "service_min", "bins"], points)
    vehicles: list[list[object]] = []

    def fleet(prefix: str, compartments: str, stops: int, n: int) -> None:
        for k in range(max(1, math.ceil(n / stops))):
            depot = depots[k % len(depots)][0]
            start = ["05:30", "06:00", "06:30"][k % 3]
            vehicles.append([f"{prefix}{k + 1:02d}", "", depot, compartments, start, "15:00",
                             "30", "10:30", "13:00", "1.5", "100"])

    fleet("K", "kitchen:5000", 28, counts["kitchen"] + 6)
    fleet("R", "residual:6000", 28, counts["residual"])
    fleet("H", "recyclable:2000;hazardous:300", 30, counts["recyclable"] + counts["hazardous"])
    _write(folder / "vehicles.csv",
           ["vehicle_id", "plate", "depot_id", "compartments", "shift_start", "shift_end",
            "break_min", "break_earliest", "break_latest", "cost_per_km", "fixed_cost"], vehicles)
    return folder


def _plan_and_check(session: Session, tmp_path: Path, n: int, limit_s: float) -> None:
    import_paths(session, [generate_county(tmp_path / f"county{n}", n)])
    session.flush()
    doc = plan_day(session, FRIDAY, time_limit_s=limit_s).document
    assert_plan_ok(doc, session)
    sm = doc["summary"]
    reasons = {u["point_id"]: u["reason"] for u in doc["unassigned"]}
    assert reasons.get("G90001") == "no_vehicle_for_category"
    assert "G90000" not in reasons  # the heavy market is split and served
    # a fleet sized to the day serves most of it (how much depends on the time the
    # solver gets on a busy machine, so only a floor that a broken pipeline misses)
    assert sm["points_served"] >= 0.5 * (sm["points_due"] - 1), sm
    assert sm["points_served"] + len(doc["unassigned"]) == sm["points_due"]
    # the bureau's cost: every truck of this file costs 100 a day and 1.5 per km
    km = sum(r["distance_km"] for r in doc["routes"])
    assert sm["cost_fixed"] == pytest.approx(100 * len(doc["routes"]))
    assert sm["cost_distance"] == pytest.approx(1.5 * km, abs=0.1)
    assert sm["cost"] == pytest.approx(100 * len(doc["routes"]) + 1.5 * km, abs=0.1)


@pytest.mark.parametrize(("n", "limit_s"), [(100, 4.0), (300, 8.0)])
def test_generated_day_passes_the_checker(
    session: Session, tmp_path: Path, n: int, limit_s: float
) -> None:
    _plan_and_check(session, tmp_path, n, limit_s)


@pytest.mark.slow
def test_generated_day_of_2000_points_passes_the_checker(session: Session, tmp_path: Path) -> None:
    # about a minute (the decomposed path: parts, repair, neighbourhoods); runs in CI,
    # `-m "not slow"` leaves it out locally
    _plan_and_check(session, tmp_path, 2000, 60.0)
