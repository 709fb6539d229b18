"""The independent plan checker catches a broken document, one rule at a time.

One real plan of the tiny county is made once (SQLite in a temporary folder: these
tests are about the checker, not the database); each test breaks one thing, in the
document or (inside a rolled-back transaction) in the data it is checked against.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, text

from logistics.imports import import_paths
from logistics.persistence import db as dbmod
from logistics.planning.plan import plan_day
from tests.plan_checker import ALL_RULES, check_plan

COUNTY = Path(__file__).parent / "data" / "planning"
FRIDAY = dt.date(2026, 11, 27)
Doc = dict[str, Any]


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Doc]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('checker') / 'plan.db'}"
    dbmod.upgrade(url)
    with dbmod.session_scope(url) as s:
        import_paths(s, [COUNTY])
    with dbmod.session_scope(url) as s:
        doc = plan_day(s, FRIDAY, time_limit_s=2.0).document
    yield url, doc
    dbmod.get_engine(url).dispose()


@pytest.fixture
def conn(planned: tuple[str, Doc]) -> Iterator[Connection]:
    """A connection whose changes are rolled back after the test."""
    with dbmod.get_engine(planned[0]).connect() as c:
        yield c
        c.rollback()


def rules(doc: Doc, db: Any) -> set[str]:
    return {v.rule for v in check_plan(doc, db)}


def stops(doc: Doc, kind: str) -> list[tuple[dict[str, Any], int, dict[str, Any]]]:
    """(route, index, stop) of every stop of a kind."""
    return [(r, i, s) for r in doc["routes"] for i, s in enumerate(r["stops"])
            if s["kind"] == kind]


def moved_leg(doc: Doc) -> tuple[dict[str, Any], int, dict[str, Any]]:
    """A collect stop reached over a real leg (> 200 m) straight from a place."""
    for r, i, s in stops(doc, "collect"):
        if s["leg_m"] > 200 and r["stops"][i - 1]["kind"] != "break":
            return r, i, s
    raise AssertionError("no collect stop with a leg")


def test_the_real_plan_is_clean(planned: tuple[str, Doc]) -> None:
    url, doc = planned
    assert check_plan(doc, url) == []
    assert stops(doc, "break") and stops(doc, "unload") and doc["unassigned"]


# ---- broken documents: (rule that must fire, how to break the plan)

def _format(d: Doc) -> None:
    d["format"] = "wasteroute.plan/0"


def _plan_id(d: Doc) -> None:
    d["plan_id"] = "2026-11-28-1"


def _times(d: Doc) -> None:
    stops(d, "collect")[0][2]["arrival"] = "2026-11-27 07:00:00"


def _times_offset(d: Doc) -> None:
    s = stops(d, "collect")[0][2]
    s["start"] = s["start"].replace("+08:00", "+00:00")


def _coords(d: Doc) -> None:
    stops(d, "collect")[0][2]["lon"] += 0.01


def _coords_range(d: Doc) -> None:
    stops(d, "collect")[0][2]["lat"] = 134.7


def _vehicle_unknown(d: Doc) -> None:
    d["routes"][0]["vehicle_id"] = "V99"


def _vehicle_twice(d: Doc) -> None:
    d["routes"][1]["vehicle_id"] = d["routes"][0]["vehicle_id"]


def _vehicle_depot(d: Doc) -> None:
    d["routes"][0]["depot_id"] = "D9"


def _depot_last(d: Doc) -> None:
    r = d["routes"][0]
    r["stops"][-1]["id"] = "D2" if r["depot_id"] == "D1" else "D1"


def _due_missing(d: Doc) -> None:
    r, i, _ = next(x for x in stops(d, "collect") if x[2]["id"] != "P901")
    del r["stops"][i]


def _due_twice(d: Doc) -> None:
    s = next(x for x in stops(d, "collect") if x[2]["id"] != "P901")[2]
    d["unassigned"].append({"point_id": s["id"], "category": s["category"], "kg": s["kg"],
                            "reason": "capacity"})


def _due_not_due(d: Doc) -> None:
    d["unassigned"].append({"point_id": "P903", "category": "residual", "kg": 300,
                            "reason": "capacity"})


def _due_kg(d: Doc) -> None:
    d["unassigned"][0]["kg"] += 50


def _due_split_small(d: Doc) -> None:
    r, i, s = next(x for x in stops(d, "collect") if x[2]["id"] != "P901" and x[2]["kg"] > 10)
    half = dict(s, kg=s["kg"] // 2)
    s["kg"] -= half["kg"]
    r["stops"].insert(i, half)


def _reason_text(d: Doc) -> None:
    d["unassigned"][0]["reason"] = "No vehicle!"


def _reason_unknown(d: Doc) -> None:
    d["unassigned"][0]["reason"] = "too_far"


def _reason_false(d: Doc) -> None:
    s = next(x for x in stops(d, "collect") if x[2]["id"] != "P901")
    del s[0]["stops"][s[1]]
    d["unassigned"].append({"point_id": s[2]["id"], "category": s[2]["category"],
                            "kg": s[2]["kg"], "reason": "no_vehicle_for_category"})


def _category(d: Doc) -> None:
    s = next(x for x in stops(d, "collect") if x[2]["category"] == "kitchen")[2]
    s["category"] = "residual"


def _capacity(d: Doc) -> None:
    s = stops(d, "collect")[0][2]
    s["load_kg"][s["category"]] = 10**6  # more than any compartment of the county


def _capacity_foreign(d: Doc) -> None:
    stops(d, "collect")[0][2]["load_kg"]["bulky"] = 0  # no vehicle has a bulky compartment


def _load(d: Doc) -> None:
    s = stops(d, "collect")[0][2]
    s["load_kg"][s["category"]] += 1


def _unload_not_emptied(d: Doc) -> None:
    for r, i, s in stops(d, "unload"):
        before = next(x for x in reversed(r["stops"][:i]) if "load_kg" in x)["load_kg"]
        if any(before.values()):
            s["load_kg"] = dict(before)
            return
    raise AssertionError("no unload of a loaded vehicle")


def _unload_wrong_facility(d: Doc) -> None:
    r, _, s = next(x for x in stops(d, "unload") if x[2]["id"] == "F1")
    s.update(id="F2", lon=113.95, lat=34.74)  # recyclables only


def _unload_short(d: Doc) -> None:
    s = stops(d, "unload")[0][2]
    s["departure"] = s["start"]


def _end_empty(d: Doc) -> None:
    r = d["routes"][0]
    k = next(iter(r["stops"][-1]["load_kg"]))
    r["stops"][-1]["load_kg"][k] = 10


def _window(d: Doc) -> None:  # service starts later than the stored window allows
    s = next(x for x in stops(d, "collect") if x[2]["id"] == "P001")[2]  # window 06:00-12:00
    day = s["start"][:11]
    s["start"], s["departure"] = day + "23:00:00+08:00", day + "23:05:00+08:00"


def _break_window(d: Doc) -> None:
    s = stops(d, "break")[0][2]
    day = s["arrival"][:11]
    s["arrival"], s["departure"] = day + "03:00:00+08:00", day + "03:30:00+08:00"


def _break_short(d: Doc) -> None:
    s = stops(d, "break")[0][2]
    s["departure"] = s["arrival"]


def _break_missing(d: Doc) -> None:
    r, i, _ = stops(d, "break")[0]
    del r["stops"][i]


def _break_twice(d: Doc) -> None:
    r, i, s = stops(d, "break")[0]
    r["stops"].insert(i, dict(s))


def _order(d: Doc) -> None:
    s = stops(d, "collect")[0][2]
    s["arrival"], s["departure"] = s["departure"], s["arrival"]


def _travel(d: Doc) -> None:
    r, i, s = moved_leg(d)
    s["arrival"] = r["stops"][i - 1]["departure"]


def _distance(d: Doc) -> None:
    d["routes"][0]["distance_km"] += 1.0


def _distance_leg(d: Doc) -> None:
    moved_leg(d)[2]["leg_m"] += 300


def _straight(d: Doc) -> None:
    r, _, s = moved_leg(d)
    r["distance_km"] = round(r["distance_km"] - s["leg_m"] / 1000 + 0.001, 3)
    s["leg_m"] = 1


def _summary(d: Doc) -> None:
    d["summary"]["points_served"] -= 1


def _summary_km(d: Doc) -> None:
    d["summary"]["distance_km"] += 0.2


def _duration(d: Doc) -> None:
    d["routes"][0]["duration_min"] += 5


def _demand_kg(d: Doc) -> None:
    """The document's own expected kg disagrees with kg_per_visit."""
    d["demand"]["expected_kg"] = {k: v + 7 for k, v in d["demand"]["expected_kg"].items()}


BROKEN: list[tuple[str, Callable[[Doc], None]]] = [
    ("demand", _demand_kg),
    ("format", _format), ("format", _plan_id), ("times", _times), ("times", _times_offset),
    ("coords", _coords), ("coords", _coords_range), ("vehicle", _vehicle_unknown),
    ("vehicle", _vehicle_twice), ("vehicle", _vehicle_depot), ("depot", _depot_last),
    ("due", _due_missing), ("due", _due_twice), ("due", _due_not_due), ("due", _due_kg),
    ("due", _due_split_small), ("reason", _reason_text), ("reason", _reason_unknown),
    ("reason", _reason_false), ("category", _category), ("capacity", _capacity),
    ("capacity", _capacity_foreign), ("load", _load), ("unload", _unload_not_emptied),
    ("unload", _unload_wrong_facility), ("unload", _unload_short), ("end_empty", _end_empty),
    ("window", _window), ("break", _break_window), ("break", _break_short),
    ("break", _break_missing), ("break", _break_twice), ("order", _order), ("travel", _travel),
    ("distance", _distance), ("distance", _distance_leg), ("straight", _straight),
    ("summary", _summary), ("summary", _summary_km), ("summary", _duration),
]


@pytest.mark.parametrize(("rule", "breaker"), BROKEN, ids=[f.__name__[1:] for _, f in BROKEN])
def test_checker_catches_a_broken_document(
    planned: tuple[str, Doc], rule: str, breaker: Callable[[Doc], None]
) -> None:
    url, doc = planned
    broken = copy.deepcopy(doc)
    breaker(broken)
    assert rule in rules(broken, url)


# ---- the same plan against changed data: rules that depend on stored facts

def _facility_closes_early(c: Connection, d: Doc) -> None:
    c.execute(text("UPDATE facilities SET close_min = 300"))


def _facility_small(c: Connection, d: Doc) -> None:
    c.execute(text("UPDATE facilities SET daily_capacity_kg = 100"))


def _window_stored(c: Connection, d: Doc) -> None:
    c.execute(text("UPDATE points SET tw_start_min = 0, tw_end_min = 60"))


def _service_longer(c: Connection, d: Doc) -> None:
    c.execute(text("UPDATE points SET service_min = 30"))


def _shift_short(c: Connection, d: Doc) -> None:
    c.execute(text("UPDATE vehicles SET shift_end_min = 480"))


def _shift_late(c: Connection, d: Doc) -> None:
    c.execute(text("UPDATE vehicles SET shift_start_min = 720"))


def _break_window_stored(c: Connection, d: Doc) -> None:
    c.execute(text("UPDATE vehicles SET break_earliest_min = 900, break_latest_min = 960"))


def _no_break(c: Connection, d: Doc) -> None:
    c.execute(text("UPDATE vehicles SET break_min = 0"))


def _compartment_gone(c: Connection, d: Doc) -> None:
    c.execute(text("DELETE FROM compartments WHERE category = 'hazardous'"))


def _point_moved(c: Connection, d: Doc) -> None:
    c.execute(text("UPDATE points SET lon = lon + 0.001"))


def _more_due(c: Connection, d: Doc) -> None:
    c.execute(text("UPDATE points SET days_mask = 127"))


def _heavier(c: Connection, d: Doc) -> None:
    c.execute(text("UPDATE points SET kg_per_visit = kg_per_visit + 10"))


CHANGED: list[tuple[str, Callable[[Connection, Doc], None]]] = [
    ("unload", _facility_closes_early), ("facility_capacity", _facility_small),
    ("window", _window_stored), ("window", _service_longer), ("shift", _shift_short),
    ("shift", _shift_late), ("break", _break_window_stored), ("break", _no_break),
    ("category", _compartment_gone), ("coords", _point_moved), ("due", _more_due),
    ("due", _heavier),
]


@pytest.mark.parametrize(("rule", "change"), CHANGED, ids=[f.__name__[1:] for _, f in CHANGED])
def test_checker_reads_the_facts_from_the_database(
    planned: tuple[str, Doc], conn: Connection, rule: str,
    change: Callable[[Connection, Doc], None],
) -> None:
    _, doc = planned
    assert check_plan(doc, conn) == []
    change(conn, doc)
    assert rule in rules(doc, conn)


def test_every_rule_has_a_failing_case() -> None:
    covered = {r for r, _ in BROKEN} | {r for r, _ in CHANGED}
    assert covered == set(ALL_RULES)


def test_distance_model_other_than_haversine_uses_the_listed_legs(
    planned: tuple[str, Doc],
) -> None:
    url, doc = planned
    other = copy.deepcopy(doc)
    other["distance_model"] = {"kind": "osrm", "base_url": "http://127.0.0.1:5000"}
    assert check_plan(other, url) == []
    _straight(other)
    assert "straight" in rules(other, url)
