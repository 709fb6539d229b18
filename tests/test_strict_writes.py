"""Strict writes: API bodies and import files parse dates and numbers the same way,
numbers are bounded to what the database holds, a PUT changes its own row only, and a
driver records weights only for collect stops of his own vehicle in the current plan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.factories import DRIVER_VEHICLE, FRIDAY, Api, cli_import, snapshot


def _is_error(r: Any, status: int, reason: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = r.json()
    assert body["reason"] == reason and body["detail"], body
    return body


def _plan_friday(api: Api) -> None:
    r = api.post("/plans", json={"date": FRIDAY, "time_limit_s": 1})
    assert r.status_code == 202, r.text
    assert api.wait_job(r.json()["job_id"])["status"] == "succeeded"


def _stops(api: Api, role: str = "admin") -> list[dict[str, Any]]:
    routes = api.get(f"/plans/{FRIDAY}-1/routes", role).json()["data"]
    return [{**s, "vehicle_id": r["vehicle_id"]} for r in routes for s in r["stops"]]


# ---------------------------------------------------------------- dates


def test_a_record_date_with_spaces_is_read_as_the_importer_reads_it(api: Api) -> None:
    r = api.post("/records", json={"date": " 2026-11-27 ", "point_id": " P001",
                                   "kg": " 12.5 ", "vehicle_id": "V01 "})
    assert r.status_code == 201, r.text
    assert {k: r.json()[k] for k in ("date", "point_id", "vehicle_id", "kg")} == {
        "date": "2026-11-27", "point_id": "P001", "vehicle_id": "V01", "kg": 12.5}
    _is_error(api.post("/records", json={"date": "2026-11-27\t", "point_id": "P001",
                                         "kg": 1, "vehicle_id": "V01"}), 409, "conflict")
    body = _is_error(api.post("/records", json={"date": "27.11.2026", "point_id": "P001",
                                                "kg": 1}), 422, "rejected")
    assert [(e["file"], e["row"], e["column"]) for e in body["errors"]] == [("body", 1, "date")]


# ---------------------------------------------------------------- numbers


BAD_HOUSEHOLDS = [1e30, 10**40, -1, "NaN", "inf", "1e30", 2**31]


@pytest.mark.parametrize("households", BAD_HOUSEHOLDS, ids=str)
def test_out_of_range_numbers_are_refused_by_the_api(api: Api, db_url: str,
                                                    households: Any) -> None:
    before = snapshot(db_url)
    body = {"community_id": "C9", "name": "新社区", "town": "城关镇", "households": households}
    r = _is_error(api.post("/communities", json=body), 422, "rejected")
    assert [(e["file"], e["row"], e["column"]) for e in r["errors"]] == [
        ("body", 1, "households")]
    r = _is_error(api.put("/communities/C01", json=body), 422, "rejected")
    assert r["errors"][0]["column"] == "households"
    assert snapshot(db_url) == before


@pytest.mark.parametrize("kg", [1e300, 10**40, "-0.5", "nan", "-inf"], ids=str)
def test_out_of_range_weights_are_refused(api: Api, db_url: str, kg: Any) -> None:
    before = snapshot(db_url)
    r = _is_error(api.post("/records", json={"date": FRIDAY, "point_id": "P001", "kg": kg,
                                             "vehicle_id": "V01"}), 422, "rejected")
    assert r["errors"][0]["column"] == "kg"
    assert snapshot(db_url) == before


@pytest.mark.parametrize("households", ["1e30", str(10**40), "-1", "NaN", "inf"])
def test_out_of_range_numbers_are_refused_by_the_cli_import(db_url: str, tmp_path: Path,
                                                            households: str) -> None:
    before = snapshot(db_url)
    path = tmp_path / "communities.csv"
    path.write_text("community_id,name,town,households\n"
                    "C1,一社区,城关镇,100\n"
                    f"C2,二社区,城关镇,{households}\n", encoding="utf-8")
    r = cli_import(db_url, path)
    assert r.exit_code == 2, r.output
    assert f"{path}:3: households: " in r.stderr and f"({households})" in r.stderr
    assert "Traceback" not in r.output + r.stderr
    assert snapshot(db_url) == before


# ---------------------------------------------------------------- PUT


def _record(api: Api, point: str, kg: float) -> dict[str, Any]:
    r = api.post("/records", json={"date": FRIDAY, "point_id": point, "kg": kg,
                                   "vehicle_id": "V01"})
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def test_put_with_the_natural_key_of_another_record_is_a_conflict(api: Api) -> None:
    one, two = _record(api, "P001", 10), _record(api, "P002", 20)
    r = api.put(f"/records/{one['id']}", json={"date": FRIDAY, "point_id": "P002",
                                               "kg": 99, "vehicle_id": "V01"})
    body = _is_error(r, 409, "conflict")
    assert str(two["id"]) in body["detail"]
    assert api.get(f"/records/{one['id']}").json() == one
    assert api.get(f"/records/{two['id']}").json() == two
    # a free natural key: the record changes in place and keeps its id
    r = api.put(f"/records/{one['id']}", json={"date": " 2026-11-26 ", "point_id": "P001",
                                               "kg": 11, "vehicle_id": "V01"})
    assert r.status_code == 200, r.text
    assert r.json() == {**one, "date": "2026-11-26", "kg": 11}
    assert api.get("/records").json()["count"] == 2


def test_put_with_the_natural_key_of_another_ticket_is_a_conflict(api: Api) -> None:
    def ticket(no: str, net: float) -> dict[str, Any]:
        return {"ticket_no": no, "facility_id": "F1", "time": "2026-11-27 09:00",
                "category": "residual", "net_kg": net, "vehicle_id": "V02"}

    a = api.post("/tickets", json=ticket("T1", 100)).json()
    b = api.post("/tickets", json=ticket("T2", 200)).json()
    _is_error(api.put(f"/tickets/{a['id']}", json=ticket("T2", 5)), 409, "conflict")
    assert api.get(f"/tickets/{a['id']}").json() == a
    assert api.get(f"/tickets/{b['id']}").json() == b
    r = api.put(f"/tickets/{a['id']}", json=ticket("T3", 150))
    assert r.status_code == 200 and r.json() == {**a, "ticket_no": "T3", "net_kg": 150}


def test_a_rejected_put_changes_nothing(api: Api, db_url: str) -> None:
    one = _record(api, "P001", 10)
    before = snapshot(db_url)
    r = api.put(f"/records/{one['id']}", json={"date": "2026-11-26", "point_id": "P999",
                                               "kg": 11, "vehicle_id": "V01"})
    assert _is_error(r, 422, "rejected")["errors"][0]["column"] == "point_id"
    assert snapshot(db_url) == before


# ---------------------------------------------------------------- drivers


def test_drivers_record_only_collect_stops_of_their_own_vehicle(api: Api, db_url: str) -> None:
    _plan_friday(api)
    stops = _stops(api)
    mine = next(s["ref_id"] for s in stops
                if s["kind"] == "collect" and s["vehicle_id"] == DRIVER_VEHICLE)
    foreign = next(s["ref_id"] for s in stops if s["kind"] == "collect"
                   and s["vehicle_id"] != DRIVER_VEHICLE
                   and s["ref_id"] not in {t["ref_id"] for t in stops
                                           if t["vehicle_id"] == DRIVER_VEHICLE})
    unload = next(s["ref_id"] for s in stops
                  if s["kind"] == "unload" and s["vehicle_id"] == DRIVER_VEHICLE)
    points = {p["point_id"] for p in api.get("/points?limit=500").json()["data"]}
    unplanned = sorted(points - {s["ref_id"] for s in stops})[0]
    before = snapshot(db_url)
    for body in (
        {"date": FRIDAY, "point_id": foreign, "kg": 1},
        {"date": f" {FRIDAY} ", "point_id": foreign, "kg": 1},  # spaces do not get around it
        {"date": FRIDAY.replace("-", "/"), "point_id": foreign, "kg": 1},
        {"date": FRIDAY, "point_id": f" {foreign} ", "kg": 1},
        {"date": FRIDAY, "point_id": foreign, "kg": 1, "vehicle_id": "V02"},
        {"date": FRIDAY, "point_id": unplanned, "kg": 1},  # no stop of that day
        {"date": "2026-11-26", "point_id": mine, "kg": 1},  # no plan that day
    ):
        _is_error(api.post("/records", "driver", json=body), 403, "forbidden")
    r = api.post("/records", "driver", json={"date": "not a date", "point_id": mine, "kg": 1})
    assert _is_error(r, 422, "rejected")["errors"][0]["column"] == "date"
    r = api.post("/records", "driver", json={"date": FRIDAY, "point_id": unload, "kg": 1})
    assert _is_error(r, 422, "rejected")["errors"][0]["column"] == "point_id"  # a facility
    assert snapshot(db_url) == before
    r = api.post("/records", "driver", json={"date": f" {FRIDAY}", "point_id": mine, "kg": 5})
    assert r.status_code == 201, r.text
    assert r.json()["vehicle_id"] == DRIVER_VEHICLE and r.json()["date"] == FRIDAY
