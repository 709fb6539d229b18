"""The HTTP API through its public interface (FastAPI TestClient), on the tiny county."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from logistics.imports import import_paths
from logistics.ops.users import create_api_key, create_user
from logistics.persistence.db import session_scope
from logistics.persistence.models import CollectionRecord, Complaint, Depot, Plan
from tests.factories import (
    BAD,
    DRIVER_VEHICLE,
    FRIDAY,
    PASSWORD,
    PLANNING_COUNTY,
    Api,
)


def plan_friday(api: Api, time_limit_s: float = 1.0) -> dict[str, Any]:
    r = api.post("/plans", json={"date": FRIDAY, "time_limit_s": time_limit_s})
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/jobs/{r.json()['job_id']}"
    job = api.wait_job(r.json()["job_id"])
    assert job["status"] == "succeeded", job
    return job


def _is_error(r: Any, status: int, reason: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["reason"] == reason and body["detail"], body


# ---------------------------------------------------------------- auth


def test_login_gives_a_token_and_wrong_passwords_do_not(api: Api) -> None:
    assert api.get("/me", "driver").json() == {
        "name": "driver", "role": "driver", "vehicle_id": DRIVER_VEHICLE, "active": True}
    r = api.client.post("/token", data={"username": "admin", "password": "wrong-password"})
    _is_error(r, 401, "unauthenticated")
    r = api.client.post("/token", data={"username": "nobody", "password": PASSWORD})
    _is_error(r, 401, "unauthenticated")
    _is_error(api.get("/me", None), 401, "unauthenticated")
    r = api.client.get("/me", headers={"Authorization": "Bearer not-a-token"})
    _is_error(r, 401, "unauthenticated")


def test_api_keys_authenticate_machines(api: Api) -> None:
    r = api.post("/users/dispatcher/api-keys")
    assert r.status_code == 201
    key = r.json()["key"]
    r = api.client.get("/points?limit=1", headers={"X-API-Key": key})
    assert r.status_code == 200 and r.json()["count"] == 41
    _is_error(api.client.get("/points", headers={"X-API-Key": key + "x"}), 401, "unauthenticated")


def test_users_are_added_by_admins_with_checked_roles(api: Api) -> None:
    r = api.post("/users", json={"name": "li", "role": "driver", "password": PASSWORD,
                                 "vehicle_id": "V02"})
    assert r.status_code == 201 and r.json()["vehicle_id"] == "V02"
    _is_error(api.post("/users", json={"name": "li", "role": "viewer", "password": PASSWORD}),
              409, "conflict")
    _is_error(api.post("/users", json={"name": "x", "role": "king", "password": PASSWORD}),
              422, "validation")
    _is_error(api.post("/users", json={"name": "y", "role": "driver", "password": PASSWORD}),
              400, "bad_input")
    assert api.get("/users").json()["count"] == 5


def test_secret_is_generated_and_kept_when_not_configured(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WASTEROUTE_SECRET", raising=False)
    monkeypatch.delenv("WASTEROUTE_REDIS", raising=False)
    with session_scope(db_url) as s:
        create_user(s, "root", "admin", PASSWORD)
    with TestClient(create_app(db_url)) as c1:
        token = c1.post("/token", data={"username": "root", "password": PASSWORD}).json()
    with TestClient(create_app(db_url)) as c2:  # another process / a restart
        r = c2.get("/me", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert r.status_code == 200 and r.json()["name"] == "root"


# ---------------------------------------------------------------- lists


def test_lists_are_paged_and_filtered(api: Api) -> None:
    first = api.get("/points?limit=10&offset=0").json()
    second = api.get("/points?limit=10&offset=10").json()
    assert first["count"] == second["count"] == 41
    assert len(first["data"]) == len(second["data"]) == 10
    assert not {p["point_id"] for p in first["data"]} & {p["point_id"] for p in second["data"]}
    kitchen = api.get("/points?category=kitchen&limit=1000").json()
    assert kitchen["count"] == len(kitchen["data"]) > 0
    assert {p["category"] for p in kitchen["data"]} == {"kitchen"}
    town = api.get("/points?town=官渡镇&limit=1000").json()
    assert town["count"] > 0 and {p["community_id"] for p in town["data"]} == {"C02"}
    assert api.get("/communities?town=黄店镇").json()["count"] == 1
    v = api.get("/vehicles/V03").json()
    assert [c["category"] for c in v["compartments"]] == ["recyclable", "hazardous"]
    _is_error(api.get("/points?limit=0"), 422, "validation")


def test_records_filter_by_date_town_and_category(api: Api) -> None:
    for point, kg in (("P001", 300), ("P011", 200)):
        assert api.post("/records", json={"date": FRIDAY, "point_id": point, "kg": kg,
                                          "vehicle_id": "V01"}).status_code == 201
    assert api.post("/records", json={"date": "2026-11-26", "point_id": "P001",
                                      "kg": 1}).status_code == 201
    assert api.get(f"/records?date={FRIDAY}").json()["count"] == 2
    assert api.get(f"/records?date={FRIDAY}&town=官渡镇").json()["count"] == 1
    assert api.get("/records?category=kitchen").json()["count"] == 3
    assert api.get("/records?category=residual").json()["count"] == 0


# ---------------------------------------------------------------- writes: importer rules


def _import_messages(db_url: str, kind: str, row: dict[str, Any]) -> list[tuple[str, str]]:
    """What the importer says about the same row in a CSV file."""
    import tempfile

    from logistics.domain import ImportRejected

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{kind}.csv"
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(list(row))
        w.writerow(["" if v is None else str(v) for v in row.values()])
        path.write_text(buf.getvalue(), encoding="utf-8")
        with session_scope(db_url) as s:
            try:
                import_paths(s, [path], kind=kind)
            except ImportRejected as exc:
                return [(e.column, e.message) for e in exc.errors]
    return []


@pytest.mark.parametrize(
    ("kind", "row"),
    [
        ("points", {"point_id": "PX", "name": "x", "community_id": "C01", "lon": 113.9,
                    "lat": 34.7, "category": "plastic", "kg_per_visit": 10, "days": "daily"}),
        ("points", {"point_id": "PX", "name": "x", "community_id": "C99", "lon": 113.9,
                    "lat": 95, "category": "kitchen", "kg_per_visit": -1, "days": "8"}),
        ("vehicles", {"vehicle_id": "VX", "depot_id": "D1", "compartments": "kitchen:0",
                      "shift_start": "14:00", "shift_end": "06:00"}),
        ("tickets", {"ticket_no": "T1", "facility_id": "F1", "time": "2026-11-27 09:00",
                     "category": "residual", "gross_kg": 100, "tare_kg": 200}),
    ],
)
def test_write_errors_are_the_importers(api: Api, db_url: str, kind: str,
                                        row: dict[str, Any]) -> None:
    expected = _import_messages(db_url, kind, row)
    assert expected, "the row must be bad for the importer too"
    r = api.post(f"/{kind}", json=row)
    _is_error(r, 422, "rejected")
    errors = r.json()["errors"]
    assert [(e["column"], e["message"]) for e in errors] == expected
    assert {(e["file"], e["row"]) for e in errors} == {("body", 1)}


def test_create_replace_delete_and_conflicts(api: Api, db_url: str) -> None:
    body = {"depot_id": "D9", "name": "新车场", "lon": 113.9, "lat": 34.7, "crs": "gcj02"}
    r = api.post("/depots", json=body)
    assert r.status_code == 201
    assert r.json()["lon"] != 113.9  # converted from GCJ-02 like an import
    _is_error(api.post("/depots", json=body), 409, "conflict")
    r = api.put("/depots/D9", json={"name": "改名", "lon": 114.0, "lat": 34.8})
    assert r.status_code == 200 and r.json() == {"depot_id": "D9", "name": "改名",
                                                 "lon": 114.0, "lat": 34.8}
    _is_error(api.put("/depots/NOPE", json=body), 404, "not_found")
    assert api.delete("/depots/D9").status_code == 204
    _is_error(api.get("/depots/D9"), 404, "not_found")
    _is_error(api.delete("/depots/D1"), 409, "conflict")  # vehicles start there
    with session_scope(db_url) as s:
        assert s.get(Depot, "D1") is not None


def test_records_and_tickets_have_numeric_ids(api: Api) -> None:
    r = api.post("/tickets", json={"ticket_no": "T1", "facility_id": "F1",
                                   "time": "2026-11-27 09:00", "category": "residual",
                                   "gross_kg": 300, "tare_kg": 100, "vehicle_id": "V02"})
    assert r.status_code == 201, r.text
    t = r.json()
    assert t["net_kg"] == 200 and t["time"] == "2026-11-27T09:00:00+08:00"
    r = api.put(f"/tickets/{t['id']}", json={"ticket_no": "T1", "facility_id": "F1",
                                             "time": "2026-11-27 10:00", "category": "residual",
                                             "net_kg": 250})
    assert r.status_code == 200 and r.json()["net_kg"] == 250
    assert api.get("/tickets?date=2026-11-27").json()["count"] == 1
    assert api.get("/tickets?date=2026-11-28").json()["count"] == 0


# ---------------------------------------------------------------- imports


def _files(paths: list[Path]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (p.name, p.read_bytes(), "text/csv")) for p in paths]


def test_imports_take_the_cli_files(api: Api) -> None:
    r = api.post("/imports", files=_files([PLANNING_COUNTY / "points.csv", PLANNING_COUNTY / "depots.csv"]))
    assert r.status_code == 200, r.text
    counts = {c["kind"]: (c["inserted"], c["updated"]) for c in r.json()["counts"]}
    assert counts == {"depots": (0, 2), "points": (0, 41)}


def test_a_bad_file_rejects_the_whole_import(api: Api, db_url: str) -> None:
    good = io.BytesIO(b"depot_id,name,lon,lat\nD7,x,113.9,34.7\n")
    r = api.post("/imports", files=[("files", ("depots.csv", good.getvalue(), "text/csv")),
                                    *_files([BAD / "points_unknown_category.csv"])],
                 data={"kind": None})
    _is_error(r, 422, "rejected")
    errors = r.json()["errors"]
    assert errors and set(errors[0]) == {"file", "row", "column", "message", "value"}
    assert {e["file"] for e in errors} == {"points_unknown_category.csv"}
    assert any(e["column"] == "category" for e in errors)
    with session_scope(db_url) as s:
        assert s.get(Depot, "D7") is None  # all or nothing


def test_imports_over_the_size_limit_are_refused(api: Api,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASTEROUTE_MAX_UPLOAD_MB", "0.001")  # 1 KiB
    r = api.post("/imports", files=_files([PLANNING_COUNTY / "points.csv"]))
    _is_error(r, 413, "too_large")


# ---------------------------------------------------------------- plans, drivers


def test_a_plan_job_runs_off_the_event_loop_and_stores_a_version(api: Api) -> None:
    job = plan_friday(api)
    assert job["attempts"] == 1 and job["progress"] == 1.0
    plan = api.get(f"/jobs/{job['job_id']}/result").json()
    assert plan["plan_id"] == f"{FRIDAY}-1" and plan["status"] == "current"
    listed = api.get(f"/plans?date={FRIDAY}").json()
    assert listed["count"] == 1
    routes = api.get(f"/plans/{plan['plan_id']}/routes").json()
    assert routes["count"] >= 2
    assert all(r["stops"][0]["kind"] == "depot" for r in routes["data"])
    # the viewer reads plans, the driver only his own vehicle's routes
    assert api.get(f"/plans/{plan['plan_id']}/routes", "viewer").json() == routes
    own = api.get(f"/plans/{plan['plan_id']}/routes", "driver").json()
    assert {r["vehicle_id"] for r in own["data"]} == {DRIVER_VEHICLE}


def test_bad_plan_requests_are_json_errors(api: Api) -> None:
    _is_error(api.post("/plans", json={"date": "2026-13-01"}), 422, "validation")
    _is_error(api.post("/plans", json={"date": FRIDAY, "time_limit_s": 0}), 422, "validation")
    for v in ("V01", "V02", "V03", "V04"):
        assert api.delete(f"/vehicles/{v}").status_code == 204
    job = api.post("/plans", json={"date": FRIDAY, "time_limit_s": 1}).json()
    done = api.wait_job(job["job_id"])
    assert done["status"] == "failed" and "vehicle" in done["error"]  # nothing to plan with
    _is_error(api.get(f"/jobs/{job['job_id']}/result"), 409, "not_ready")
    _is_error(api.get("/jobs/nope"), 404, "not_found")


def test_drivers_post_weights_only_for_their_own_stops(api: Api, db_url: str) -> None:
    plan_friday(api)
    routes = api.get(f"/plans/{FRIDAY}-1/routes", "driver").json()["data"]
    mine = next(s["ref_id"] for r in routes for s in r["stops"] if s["kind"] == "collect")
    r = api.post("/records", "driver", json={"date": FRIDAY, "point_id": mine, "kg": 123.4,
                                             "vehicle_id": "V02"})
    assert r.status_code == 201, r.text
    assert r.json()["vehicle_id"] == DRIVER_VEHICLE  # forced to the driver's own
    with session_scope(db_url) as s:
        others = {p for (p,) in s.execute(select(CollectionRecord.point_id))}
    assert others == {mine}
    every = api.get(f"/plans/{FRIDAY}-1/routes").json()["data"]
    foreign = next(s["ref_id"] for r in every if r["vehicle_id"] != DRIVER_VEHICLE
                   for s in r["stops"] if s["kind"] == "collect")
    r = api.post("/records", "driver", json={"date": FRIDAY, "point_id": foreign, "kg": 1})
    _is_error(r, 403, "forbidden")
    _is_error(api.post("/tickets", "driver", json={}), 403, "forbidden")


def test_sheets_of_a_planned_day(api: Api) -> None:
    plan_friday(api)
    r = api.get(f"/sheets/{FRIDAY}?format=geojson", "driver")
    assert r.status_code == 200
    assert r.headers["content-type"] in ("application/geo+json", "application/zip")
    _is_error(api.get("/sheets/2030-01-01?format=geojson"), 404, "not_found")


# ---------------------------------------------------------------- events, misc


def test_complaints_are_stored_for_replanning(api: Api, db_url: str) -> None:
    body = {"point_id": "P003", "time": "2026-11-27T07:40:00+08:00", "note": "溢出",
            "kg_estimate": 150}
    r = api.post("/events/complaints", "dispatcher", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["time"] == "2026-11-27T07:40:00+08:00" and r.json()["source"] == "dispatcher"
    _is_error(api.post("/events/complaints", json={**body, "point_id": "P999"}), 404,
              "not_found")
    _is_error(api.post("/events/complaints", json={**body, "kg_estimate": -1}), 422,
              "validation")
    with session_scope(db_url) as s:
        assert [c.point_id for c in s.scalars(select(Complaint))] == ["P003"]
    assert api.get("/events/complaints").json()["count"] == 1


def test_metrics_and_dashboards_for_viewers(api: Api) -> None:
    r = api.get("/metrics?from=2026-11-01&to=2026-11-30", "viewer")
    assert r.status_code == 200 and r.json()["format"] == "wasteroute.metrics/1"
    _is_error(api.get("/metrics?from=2026-11-30&to=2026-11-01", "viewer"), 400, "bad_input")
    assert "overview" in api.get("/dashboards", "viewer").json()
    r = api.get("/dashboards/overview", "viewer")
    assert r.status_code == 200 and "figures" in r.json()
    _is_error(api.get("/dashboards/nope", "viewer"), 400, "bad_input")


def test_metrics_are_computed_once_until_a_write(api: Api) -> None:
    cache = api.client.app.state.read_cache  # type: ignore[attr-defined]
    path = "/metrics?from=2026-11-01&to=2026-11-30"
    first = api.get(path, "viewer")
    before = cache.computed
    again = api.get(path, "dispatcher")
    assert again.status_code == 200 and again.json() == first.json()
    assert cache.computed == before  # answered from the cache
    r = api.post("/records", json={"date": FRIDAY, "point_id": "P001", "kg": 10,
                                   "vehicle_id": DRIVER_VEHICLE})
    assert r.status_code == 201, r.text
    assert api.get(path, "viewer").status_code == 200
    assert cache.computed == before + 1  # a write through this process empties the cache


def test_browsers_sign_in_with_a_cookie_that_opens_get_pages_only(api: Api) -> None:
    c = api.client
    page = c.get("/login?next=/dashboards/map.html")
    assert page.status_code == 200 and 'name="password"' in page.text
    assert 'value="/dashboards/map.html"' in page.text
    r = c.post("/login", data={"username": "viewer", "password": "wrong-password"},
               follow_redirects=False)
    assert r.status_code == 401 and "wasteroute_token" not in r.headers.get("set-cookie", "")
    _is_error(c.get("/dashboards/overview.html"), 401, "unauthenticated")
    r = c.post("/login", data={"username": "viewer", "password": PASSWORD,
                               "next": "https://evil.example/"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/dashboards/overview.html"
    cookie = r.headers["set-cookie"]
    assert "wasteroute_token=" in cookie and "httponly" in cookie.lower()
    r = c.get("/dashboards/overview.html")  # the client sends the cookie
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert 'src="/dashboards/plotly.min.js"' in r.text and 'href="plan.html"' in r.text
    assert c.get("/dashboards/plan.html?lang=en").status_code == 200
    assert c.get("/dashboards/plotly.min.js").status_code == 200
    # the cookie never authorizes a change, and never a route the role may not use
    _is_error(c.post("/events/complaints", json={"point_id": "P003",
                                                 "time": "2026-11-27T07:40:00"}),
              401, "unauthenticated")
    _is_error(c.get("/points"), 403, "forbidden")
    r = c.post("/logout", follow_redirects=False)
    assert r.status_code == 303
    _is_error(c.get("/dashboards/overview.html"), 401, "unauthenticated")


def test_a_token_in_the_link_becomes_the_cookie(api: Api) -> None:
    c = api.client
    token = api.headers["viewer"]["Authorization"].removeprefix("Bearer ")
    r = c.get(f"/dashboards/fleet.html?lang=en&access_token={token}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/dashboards/fleet.html?lang=en"
    assert "wasteroute_token=" in r.headers["set-cookie"]
    assert c.get(r.headers["location"]).status_code == 200
    c.cookies.clear()
    assert c.get(f"/dashboards/fleet?access_token={token}").status_code == 200
    _is_error(c.get("/dashboards/fleet?access_token=not-a-token"), 401, "unauthenticated")
    r = c.post(f"/events/complaints?access_token={token}",
               json={"point_id": "P003", "time": "2026-11-27T07:40:00"})
    _is_error(r, 401, "unauthenticated")  # GET requests only
    driver = api.headers["driver"]["Authorization"].removeprefix("Bearer ")
    _is_error(c.get(f"/metrics?from=2026-11-01&to=2026-11-02&access_token={driver}"), 403,
              "forbidden")


def test_unknown_paths_and_methods_answer_json(api: Api) -> None:
    _is_error(api.get("/nope"), 404, "not_found")
    _is_error(api.client.patch("/points", headers=api.as_("admin")), 405,
              "method_not_allowed")


def test_cors_is_configured_from_the_environment(db_url: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASTEROUTE_CORS", "https://city.example")
    monkeypatch.delenv("WASTEROUTE_REDIS", raising=False)
    with TestClient(create_app(db_url)) as c:
        r = c.options("/points", headers={"Origin": "https://city.example",
                                          "Access-Control-Request-Method": "GET"})
        assert r.headers["access-control-allow-origin"] == "https://city.example"
        r = c.get("/points", headers={"Origin": "https://other.example"})
        assert "access-control-allow-origin" not in r.headers


def test_plans_keep_versions_per_day(api: Api, db_url: str) -> None:
    plan_friday(api)
    plan_friday(api)
    with session_scope(db_url) as s:
        rows = [(p.version, p.status) for p in s.scalars(select(Plan).order_by(Plan.version))]
    assert rows == [(1, "superseded"), (2, "current")]


def test_api_key_helper_refuses_unknown_users(db_url: str) -> None:
    from logistics.domain import NotFound

    with session_scope(db_url) as s, pytest.raises(NotFound):
        create_api_key(s, "ghost")


def test_nul_bytes_are_refused_alike_on_every_database(api: Api, db_url: str) -> None:
    # PostgreSQL cannot store NUL in text, SQLite can: both answer 422 and store nothing
    _is_error(api.get("/points", params={"category": "\x00"}), 422, "validation")
    _is_error(api.get("/points/P%00"), 422, "validation")
    body = {"point_id": "P003", "time": "2026-11-27T07:40:00+08:00", "note": "溢\x00出"}
    _is_error(api.post("/events/complaints", "dispatcher", json=body), 422, "validation")
    with session_scope(db_url) as s:
        assert s.scalars(select(Complaint)).first() is None
    assert api.get("/points", params={"category": "kitchen"}).status_code == 200
