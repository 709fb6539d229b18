"""Planning a day of the tiny county (tests/data/planning): demand, the plan document,
plan versions. Every plan made here must pass the independent checker."""

from __future__ import annotations

import copy
import datetime as dt
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from logistics.demand.due import due_points, expected_kg
from logistics.domain import BadInput
from logistics.imports import import_paths
from logistics.persistence import plan_repo
from logistics.persistence.db import session_factory, session_scope
from logistics.persistence.models import Plan, PlanStop, PlanUnassigned, Point, Vehicle
from logistics.planning import translate
from logistics.planning.document import DocumentError
from logistics.planning.plan import parse_date, plan_day
from tests.factories import wait_until
from tests.plan_checker import assert_plan_ok, check_plan

COUNTY = Path(__file__).parent / "data" / "planning"
FRIDAY = dt.date(2026, 11, 27)
TUESDAY = dt.date(2026, 11, 24)
LIMIT_S = 2.0


@pytest.fixture
def county(session: Session) -> Session:
    import_paths(session, [COUNTY])
    session.flush()
    return session


def test_due_points_follow_the_weekday_schedule(county: Session) -> None:
    friday = {p.point_id for p in due_points(county, FRIDAY)}
    tuesday = {p.point_id for p in due_points(county, TUESDAY)}
    assert len(friday) == 36
    assert "P903" not in friday and "P903" in tuesday  # days 2;4
    assert {"P901", "P902"} <= friday & tuesday  # daily
    assert "P004" not in friday and "P004" in tuesday  # days 2;4;6
    assert "P002" in friday and "P002" not in tuesday  # days 1;3;5;7


def test_expected_kg_is_kg_per_visit_for_now(county: Session) -> None:
    points = due_points(county, FRIDAY)
    kg = expected_kg(county, points, FRIDAY)
    assert kg["P901"] == 8000.0
    assert kg == {p.point_id: p.kg_per_visit for p in points}


def test_plan_of_the_tiny_county_keeps_every_rule(county: Session) -> None:
    result = plan_day(county, FRIDAY, time_limit_s=LIMIT_S)
    doc = result.document
    assert_plan_ok(doc, county)
    assert result.plan_id == doc["plan_id"] == "2026-11-27-1" and result.version == 1
    assert doc["format"] == "wasteroute.plan/1"
    assert doc["timezone"] == "Asia/Shanghai"
    assert doc["distance_model"] == {"kind": "haversine", "detour_factor": 1.3, "speed_kmh": 25}
    assert doc["solver"]["engine"] and doc["solver"]["time_limit_s"] == LIMIT_S
    assert doc["routes"][0]["stops"][0]["arrival"].endswith("+08:00")
    # the bulky point: no vehicle has a bulky compartment
    assert [(u["point_id"], u["reason"]) for u in doc["unassigned"]] == [
        ("P902", "no_vehicle_for_category")
    ]
    # the market (8000 kg) exceeds every kitchen compartment (5000, 3000): split
    market = [s["kg"] for r in doc["routes"] for s in r["stops"] if s.get("id") == "P901"]
    assert len(market) >= 2 and sum(market) == 8000
    sm = doc["summary"]
    assert sm["points_due"] == 36 and sm["points_served"] == 35
    assert sm["kg_planned"] == sum(
        s["kg"] for r in doc["routes"] for s in r["stops"] if s["kind"] == "collect")
    kinds = {s["kind"] for r in doc["routes"] for s in r["stops"]}
    assert kinds == {"depot", "collect", "unload", "break"}


def test_stored_rows_mirror_the_document(county: Session) -> None:
    result = plan_day(county, FRIDAY, time_limit_s=LIMIT_S)
    doc = result.document
    county.expire_all()
    plan = plan_repo.get_plan(county, result.plan_id)
    assert plan is not None and plan.status == "current" and plan.date == FRIDAY
    assert plan.document == doc and plan.summary == doc["summary"]
    assert [(r.vehicle_id, r.distance_km, len(r.stops)) for r in plan.routes] == [
        (r["vehicle_id"], r["distance_km"], len(r["stops"])) for r in doc["routes"]
    ]
    first = plan.routes[0].stops[1]
    assert (first.kind, first.ref_id, first.kg) == (
        "collect", doc["routes"][0]["stops"][1]["id"], doc["routes"][0]["stops"][1]["kg"])
    assert [(u.point_id, u.reason, u.kg) for u in plan.unassigned] == [
        ("P902", "no_vehicle_for_category", 400.0)]


def test_replanning_makes_a_new_version_and_supersedes_the_old(county: Session) -> None:
    one = plan_day(county, FRIDAY, time_limit_s=1.0)
    two = plan_day(county, FRIDAY, time_limit_s=1.0)
    assert (one.plan_id, two.plan_id) == ("2026-11-27-1", "2026-11-27-2")
    county.expire_all()
    plans = plan_repo.list_plans(county, FRIDAY)
    assert [(p.plan_id, p.version, p.status) for p in plans] == [
        ("2026-11-27-1", 1, "superseded"), ("2026-11-27-2", 2, "current")]
    current = plan_repo.current_plan(county, FRIDAY)
    assert current is not None and current.plan_id == "2026-11-27-2"
    old = plan_repo.get_plan(county, "2026-11-27-1")
    assert old is not None and old.document["plan_id"] == "2026-11-27-1"
    assert plan_repo.current_plan(county, TUESDAY) is None
    assert plan_repo.get_plan(county, "2026-11-27-9") is None
    assert [p.plan_id for p in plan_repo.list_plans(county, status="current")] == ["2026-11-27-2"]
    assert_plan_ok(two.document, county)


def test_a_failed_plan_leaves_the_current_one_intact(db_url: str) -> None:
    with session_scope(db_url) as s:
        import_paths(s, [COUNTY])
    with session_scope(db_url) as s:
        first = plan_day(s, FRIDAY, time_limit_s=1.0).document
    for bad in ({"distance_model": "osrm:http://127.0.0.1:9"}, {"time_limit_s": 0.0},
                {"distance_model": "nonsense"}):
        kwargs = {"time_limit_s": 1.0} | bad
        with pytest.raises(BadInput), session_scope(db_url) as s:
            plan_day(s, FRIDAY, **kwargs)  # type: ignore[arg-type]
    with session_scope(db_url) as s:
        plans = plan_repo.list_plans(s, FRIDAY)
        assert [(p.plan_id, p.status) for p in plans] == [("2026-11-27-1", "current")]
        assert plans[0].document == first
        assert s.scalar(select(func.count()).select_from(PlanStop)) == sum(
            len(r["stops"]) for r in first["routes"])
        assert s.scalar(select(func.count()).select_from(PlanUnassigned)) == 1


def test_a_store_failure_rolls_back_the_superseding(db_url: str) -> None:
    with session_scope(db_url) as s:
        import_paths(s, [COUNTY])
        plan_day(s, FRIDAY, time_limit_s=1.0)
    doc = {"summary": {}, "routes": [{"vehicle_id": "V01"}], "unassigned": []}  # broken
    with pytest.raises(DocumentError), session_scope(db_url) as s:
        plan_repo.store_plan(s, FRIDAY, doc)
    with session_scope(db_url) as s:
        assert [(p.plan_id, p.status) for p in plan_repo.list_plans(s)] == [
            ("2026-11-27-1", "current")]


def test_nothing_to_plan_with_is_bad_input(county: Session) -> None:
    for p in county.scalars(select(Point)):
        p.days_mask = 0b0000001  # Mondays only
    county.flush()
    with pytest.raises(BadInput, match="no collections due"):
        plan_day(county, FRIDAY, time_limit_s=1.0)
    for v in county.scalars(select(Vehicle)):
        county.delete(v)
    county.flush()
    with pytest.raises(BadInput, match="no vehicles"):
        plan_day(county, dt.date(2026, 11, 30), time_limit_s=1.0)
    assert county.scalar(select(func.count()).select_from(Plan)) == 0


@pytest.mark.parametrize("text", ["2026-13-01", "27.11.2026", "20261127", "", "tomorrow"])
def test_parse_date_rejects_other_forms(text: str) -> None:
    with pytest.raises(BadInput, match="YYYY-MM-DD"):
        parse_date(text)


def test_checker_sees_the_same_rules_on_a_plan_of_another_weekday(county: Session) -> None:
    doc = plan_day(county, TUESDAY, time_limit_s=LIMIT_S).document
    assert check_plan(doc, county) == []
    assert doc["summary"]["points_due"] == len(due_points(county, TUESDAY))


def test_a_solver_crash_leaves_the_current_plan_intact(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope(db_url) as s:
        import_paths(s, [COUNTY])
        first = plan_day(s, FRIDAY, time_limit_s=1.0).document

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("engine crashed")

    monkeypatch.setattr(translate, "solve", crash)
    with pytest.raises(RuntimeError, match="engine crashed"), session_scope(db_url) as s:
        plan_day(s, FRIDAY, time_limit_s=1.0)
    with session_scope(db_url) as s:
        plans = plan_repo.list_plans(s, FRIDAY)
        assert [(p.plan_id, p.status, p.document) for p in plans] == [
            ("2026-11-27-1", "current", first)]


def test_two_stores_of_one_day_at_once_get_the_next_versions(db_url: str) -> None:
    """A plan stored while another store of the same day is still open waits for it
    and takes the next version (it used to read the same version and fail)."""
    with session_scope(db_url) as s:
        import_paths(s, [COUNTY])
        plan_day(s, FRIDAY, time_limit_s=1.0)
    with session_scope(db_url) as s:
        doc = plan_repo.list_plans(s, FRIDAY)[0].document
    first = session_factory(db_url)()
    plan_repo.store_plan(first, FRIDAY, copy.deepcopy(doc))  # open: holds the day
    pg = db_url.startswith("postgresql")
    errors: list[BaseException] = []
    pids: list[int] = []

    def second() -> None:
        try:
            with session_scope(db_url) as s2:
                if pg:
                    pids.append(s2.scalar(text("SELECT pg_backend_pid()")))
                plan_repo.store_plan(s2, FRIDAY, copy.deepcopy(doc))
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    t = threading.Thread(target=second)
    t.start()
    if pg:  # wait until the second store is blocked behind the first
        with session_scope(db_url) as w:
            def blocked() -> bool:
                w.rollback()  # a fresh snapshot of pg_stat_activity each time
                return not t.is_alive() or bool(pids) and bool(w.scalar(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = :p "
                    "AND wait_event_type = 'Lock'"), {"p": pids[0]}))
            wait_until(blocked, 30, "the second store to wait for the first")
    else:  # SQLite: one writer at a time; give the second store time to reach it
        t.join(1.0)
    first.commit()
    first.close()
    t.join(60)
    assert errors == []
    with session_scope(db_url) as s:
        assert sorted((p.plan_id, p.status) for p in plan_repo.list_plans(s, FRIDAY)) == [
            ("2026-11-27-1", "superseded"), ("2026-11-27-2", "superseded"),
            ("2026-11-27-3", "current")]
