"""The typed plan document reads and writes ``wasteroute.plan/1`` exactly: the same keys
in the same order, so plan.json keeps its bytes through ``Plan.from_json(...).to_json()``."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from logistics.imports import import_paths
from logistics.persistence import db as dbmod
from logistics.persistence import plan_repo
from logistics.planning.document import DocumentError, Plan, Stop, deliveries
from logistics.planning.plan import plan_day
from logistics.planning.replan import replan_day

COUNTY = Path(__file__).parent / "data" / "planning"
FRIDAY = dt.date(2026, 11, 27)


def _t(hhmm: str) -> str:
    return f"2026-11-27T{hhmm}:00+08:00"


def _text(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def full_document() -> dict[str, Any]:
    """Every key the planner and the re-planner write, plus one nobody knows."""
    depot = {"id": "D1", "name": "车场", "lon": 113.98, "lat": 34.72}
    return {
        "format": "wasteroute.plan/1",
        "plan_id": "2026-11-27-2",
        "date": "2026-11-27",
        "timezone": "Asia/Shanghai",
        "distance_model": {"kind": "haversine", "detour_factor": 1.3, "speed_kmh": 25},
        "solver": {"engine": "ortools", "time_limit_s": 10.0, "wall_s": 9.8,
                   "objective": 41200, "rule_problems": 1},
        "summary": {"points_due": 3, "points_served": 2, "vehicles_used": 1,
                    "distance_km": 12.5, "kg_planned": 550, "kg_due": 850, "unassigned": 1,
                    "cost": 318.8, "cost_fixed": 300, "cost_distance": 18.8},
        "routes": [{
            "vehicle_id": "V01", "depot_id": "D1", "distance_km": 12.5, "duration_min": 95.0,
            "trips": 1, "kg_collected": 550,
            "stops": [
                {"kind": "depot", **depot, "arrival": _t("05:30"), "departure": _t("05:30"),
                 "load_kg": {"kitchen": 0}, "leg_m": 0, "travel_s": 0},
                {"kind": "collect", "id": "P1", "name": "东门", "lon": 113.99, "lat": 34.73,
                 "category": "kitchen", "kg": 240, "arrival": _t("05:41"),
                 "start": _t("05:41"), "departure": _t("05:44"), "load_kg": {"kitchen": 240},
                 "leg_m": 1800, "travel_s": 660},
                {"kind": "break", "arrival": _t("06:00"), "departure": _t("06:30")},
                {"kind": "collect", "id": "P2", "name": "菜市场", "lon": 113.995,
                 "lat": 34.726, "category": "kitchen", "kg": 310.5, "arrival": _t("06:40"),
                 "start": _t("06:45"), "departure": _t("06:49"),
                 "load_kg": {"kitchen": 550.5}, "leg_m": 900, "travel_s": 600,
                 "note": "kept as it is"},
                {"kind": "unload", "id": "F1", "name": "转运站", "lon": 114.01, "lat": 34.70,
                 "arrival": _t("07:10"), "start": _t("07:10"), "departure": _t("07:25"),
                 "unloaded_kg": {"kitchen": 550.5}, "load_kg": {"kitchen": 0},
                 "leg_m": 4000, "travel_s": 1260},
                {"kind": "depot", **depot, "arrival": _t("07:05"), "departure": _t("07:05"),
                 "load_kg": {"kitchen": 0}, "leg_m": 5800, "travel_s": 1500},
            ],
        }],
        "unassigned": [{"point_id": "P3", "name": "卫生院", "category": "kitchen", "kg": 300,
                        "reason": "no_vehicle_for_category"}],
        "demand": {"source": "forecast", "margin": 0.1, "points_forecast": 2,
                   "points_static": 1, "expected_kg": {"P1": 240, "P2": 310, "P3": 300}},
        "replan": {"base_plan_id": "2026-11-27-1", "at": _t("06:35"),
                   "event": {"vehicles_down": ["V02"], "facilities_closed": ["F2"],
                             "add_points": [{"point_id": "P2", "kg": 310.5}]},
                   "diff": {"moved": [], "kept": ["P2"], "dropped": [], "newly_served": [],
                            "still_unassigned": [], "added": [], "served_before": 1,
                            "assignment": "kept", "stranded_kg": {}, "rule_problems": []}},
        "issued_by": "dispatcher",
    }


def test_a_document_with_every_key_round_trips_in_order() -> None:
    raw = full_document()
    plan = Plan.from_json(json.loads(_text(raw)))
    assert _text(plan.to_json()) == _text(raw)
    assert plan.extra == {"issued_by": "dispatcher"}
    assert plan.routes[0].stops[3].extra == {"note": "kept as it is"}
    assert plan.solver is not None and plan.solver.rule_problems == 1
    assert plan.replan is not None and plan.replan.base_plan_id == "2026-11-27-1"
    assert plan.served_points() == {"P1", "P2"}
    assert plan.with_id("x").plan_id == "x" and plan.plan_id == "2026-11-27-2"


def test_the_formats_page_example_round_trips() -> None:
    raw = {
        "format": "wasteroute.plan/1", "plan_id": "2026-11-27-1", "date": "2026-11-27",
        "timezone": "Asia/Shanghai",
        "distance_model": {"kind": "haversine", "detour_factor": 1.3, "speed_kmh": 25},
        "solver": {"engine": "ortools", "time_limit_s": 30, "wall_s": 29.6},
        "summary": {"points_due": 1, "points_served": 1, "vehicles_used": 1,
                    "distance_km": 2.0, "kg_planned": 240},
        "routes": [{"vehicle_id": "V01", "depot_id": "D1", "distance_km": 2.0,
                    "duration_min": 412, "stops": [
                        {"kind": "depot", "id": "D1", "lon": 113.98, "lat": 34.72,
                         "arrival": _t("05:30"), "departure": _t("05:30"),
                         "load_kg": {"kitchen": 0}},
                        {"kind": "collect", "id": "P0001", "lon": 113.99, "lat": 34.73,
                         "category": "kitchen", "kg": 240, "arrival": _t("05:41"),
                         "start": _t("05:41"), "departure": _t("05:44"),
                         "load_kg": {"kitchen": 240}},
                        {"kind": "unload", "id": "F2", "lon": 114.01, "lat": 34.70,
                         "arrival": _t("06:00"), "start": _t("06:00"),
                         "departure": _t("06:15"), "load_kg": {"kitchen": 0}},
                        {"kind": "depot", "id": "D1", "arrival": _t("06:30"),
                         "departure": _t("06:30"), "load_kg": {"kitchen": 0}}]}],
        "unassigned": [{"point_id": "P0099", "category": "kitchen", "kg": 300,
                        "reason": "no_vehicle_for_category"}],
    }
    plan = Plan.from_json(raw)
    assert _text(plan.to_json()) == _text(raw)
    # without unloaded_kg, an unload delivers what the load dropped by
    ((stop, kg),) = deliveries(plan.routes[0].stops)
    assert stop.id == "F2" and kg == {"kitchen": 240.0}


@pytest.mark.parametrize("breakage", [
    ("format", "wasteroute.plan/2"),
    ("date", "27.11.2026"),
    ("routes", {"V01": []}),
    ("summary", {"points_due": 3, "points_served": 2, "vehicles_used": 1, "distance_km": 12.5,
                 "kg_planned": 550, "cost": "318.8"}),
])
def test_a_malformed_document_is_refused(breakage: tuple[str, Any]) -> None:
    raw = full_document()
    raw[breakage[0]] = breakage[1]
    with pytest.raises(DocumentError):
        Plan.from_json(raw)


@pytest.mark.parametrize("key,value", [
    ("kind", "teleport"), ("arrival", "2026-11-27T05:41:00"), ("kg", "240"),
    ("load_kg", {"kitchen": "240"}), ("id", None),
])
def test_a_malformed_stop_is_refused(key: str, value: Any) -> None:
    raw = copy.deepcopy(full_document()["routes"][0]["stops"][1])
    raw[key] = value
    with pytest.raises(DocumentError):
        Stop.from_json(raw)


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('document') / 'plan.db'}"
    dbmod.upgrade(url)
    with dbmod.session_scope(url) as s:
        import_paths(s, [COUNTY])
    with dbmod.session_scope(url) as s:
        plan_day(s, FRIDAY, time_limit_s=2.0)
    yield url
    dbmod.get_engine(url).dispose()


def test_a_planned_day_round_trips(planned: str) -> None:
    with dbmod.session_scope(planned) as s:
        row = plan_repo.current_plan(s, FRIDAY)
        assert row is not None
        raw = json.loads(_text(row.document))
        plan = Plan.from_json(raw)
        assert _text(plan.to_json()) == _text(raw)
        assert plan.plan_id == row.plan_id and plan.demand is not None
        assert plan_repo.load_plan(row) == plan


def test_a_replanned_day_round_trips(planned: str) -> None:
    with dbmod.session_scope(planned) as s:
        row = plan_repo.current_plan(s, FRIDAY)
        assert row is not None
        everyone = sorted({r.vehicle_id for r in plan_repo.load_plan(row).routes})
        result = replan_day(s, FRIDAY, 9 * 3600, vehicles_down=everyone, time_limit_s=1.0,
                            store=False)
        raw = json.loads(_text(result.document))
        assert "replan" in raw
        assert _text(Plan.from_json(raw).to_json()) == _text(raw)
        s.rollback()
