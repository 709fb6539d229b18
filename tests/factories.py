"""Builders and helpers shared by the tests: one place, imported by every test module
that needs them (test modules never import each other)."""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.app import create_app
from logistics.cli import app
from logistics.demand.forecast import gaps, is_public_holiday
from logistics.imports import import_paths
from logistics.ops.users import create_user
from logistics.persistence import models as m
from logistics.persistence.db import get_engine, session_scope, upgrade
from logistics.persistence.models import Base, CollectionRecord, Point
from logistics.persistence.plan_repo import store_plan

DATA = Path(__file__).parent / "data"
PLANNING_COUNTY = DATA / "planning"  # the tiny county of the planning tests (2026-11)
IMPORTS = DATA / "imports"
GOOD = IMPORTS / "good"
BAD = IMPORTS / "bad"
ZH = IMPORTS / "zh"


class FakeClock:
    """Monotonic seconds that move only when a test (or a fake sleep) moves them."""

    def __init__(self, start_s: float = 1000.0) -> None:
        self.now_s = start_s
        self.slept_s: list[float] = []

    def __call__(self) -> float:
        return self.now_s

    def sleep(self, seconds: float) -> None:
        self.slept_s.append(seconds)
        self.now_s += seconds


def wait_until(pred: Callable[[], bool], timeout_s: float, what: str,
               poll_s: float = 0.05) -> None:
    """Poll an observable condition; the deadline only bounds a hang, so the test does
    not depend on how fast the machine is."""
    deadline = time.monotonic() + timeout_s
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(poll_s)


# ---------------------------------------------------------------- databases


@contextmanager
def migrated_db(tmp_path: Path, like_url: str | None = None,
                sqlite_name: str = "test.db") -> Iterator[str]:
    """A freshly migrated database of the backend of ``like_url``: a SQLite file in
    ``tmp_path``, or on PostgreSQL a schema of its own (search_path in the URL),
    dropped afterwards."""
    if not (like_url or "").startswith("postgresql"):
        url = f"sqlite:///{tmp_path / sqlite_name}"
        upgrade(url)
        try:
            yield url
        finally:
            get_engine(url).dispose()
        return
    assert like_url is not None
    base = like_url.split("?options=")[0].split("&options=")[0]
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options=-csearch_path%3D{schema}"
    try:
        upgrade(url)
        yield url
    finally:
        get_engine(url).dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def fresh_db(like_url: str, tmp_path: Path) -> Iterator[str]:
    """A second, freshly migrated database of the same backend as ``like_url``."""
    with migrated_db(tmp_path, like_url, f"fresh_{uuid.uuid4().hex[:6]}.db") as url:
        yield url


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (sorted), to compare a database before and after."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with get_engine(url).connect() as conn:
        for table in Base.metadata.sorted_tables:
            rows = conn.execute(select(table)).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


def counts(url: str) -> dict[str, int]:
    return {k: len(v) for k, v in snapshot(url).items()}


def cli_import(url: str, *paths: Path | str, kind: str | None = None) -> Any:
    args = ["--db", url, "import", *(str(p) for p in paths)]
    if kind:
        args += ["--kind", kind]
    return CliRunner().invoke(app, args)


# ---------------------------------------------------------------- the tiny county of the metrics
# Week 2020-01-06 (Mon) .. 2020-01-12 (Sun), two towns, six points, three trucks, four
# facilities, records, weighbridge tickets and a hand-made plan of 2020-01-08; the
# values that follow from it are worked out in tests/test_metrics.py.

MON_WED_FRI = 1 | 4 | 16


def _iso(h: int, mi: int) -> str:
    return f"2020-01-08T{h:02d}:{mi:02d}:00+08:00"


def plan_document() -> dict[str, Any]:
    """A hand-made plan of 2020-01-08: V1 20 km, V2 10 km, one unload each."""

    def stop(kind: str, sid: str | None, a: tuple[int, int], d: tuple[int, int], *,
             start: tuple[int, int] | None = None, travel_s: int = 0,
             load: dict[str, int] | None = None, kg: int | None = None,
             category: str | None = None, lon: float | None = 114.0) -> dict[str, Any]:
        s: dict[str, Any] = {"kind": kind, "arrival": _iso(*a), "departure": _iso(*d),
                             "travel_s": travel_s}
        if sid is not None:
            s["id"] = sid
        if lon is not None:
            s["lon"], s["lat"] = lon, 34.7
        if start is not None:
            s["start"] = _iso(*start)
        if load is not None:
            s["load_kg"] = load
        if kg is not None:
            s["kg"], s["category"] = kg, category
        return s

    v1 = [
        stop("depot", "D1", (6, 0), (6, 0), load={"residual": 0}),
        stop("collect", "P1", (6, 10), (6, 15), start=(6, 10), travel_s=600,
             load={"residual": 1000}, kg=1000, category="residual"),
        stop("collect", "P3", (6, 30), (6, 45), start=(6, 40), travel_s=900,
             load={"residual": 1500}, kg=500, category="residual", lon=114.02),
        stop("unload", "F1", (7, 0), (7, 15), start=(7, 0), travel_s=900,
             load={"residual": 0}, lon=114.05),
        stop("break", None, (7, 15), (7, 45), lon=None),
        stop("depot", "D1", (8, 0), (8, 0), travel_s=900, load={"residual": 0}),
    ]
    v2 = [
        stop("depot", "D1", (6, 0), (6, 0), load={"kitchen": 0}),
        stop("collect", "P2", (6, 10), (6, 20), start=(6, 10), travel_s=600,
             load={"kitchen": 300}, kg=300, category="kitchen", lon=114.01),
        stop("unload", "F3", (6, 40), (6, 50), start=(6, 40), travel_s=1200,
             load={"kitchen": 0}, lon=114.03),
        stop("depot", "D1", (7, 0), (7, 0), travel_s=600, load={"kitchen": 0}),
    ]
    return {
        "format": "wasteroute.plan/1", "plan_id": "", "date": "2020-01-08",
        "timezone": "Asia/Shanghai",
        "summary": {"points_due": 3, "points_served": 3, "vehicles_used": 2,
                    "distance_km": 30.0, "kg_planned": 1800},
        "routes": [
            {"vehicle_id": "V1", "depot_id": "D1", "distance_km": 20.0, "duration_min": 120,
             "stops": v1},
            {"vehicle_id": "V2", "depot_id": "D1", "distance_km": 10.0, "duration_min": 60,
             "stops": v2},
        ],
        "unassigned": [{"point_id": "P4", "category": "kitchen", "kg": 50,
                        "reason": "no_vehicle_for_category"}],
    }


def build_tiny_county(session: Session, *, plan: bool = True) -> None:
    session.add_all([m.Town(name="A镇"), m.Town(name="B镇")])
    session.add(m.Depot(depot_id="D1", name="车场", lon=114.0, lat=34.7))
    session.flush()
    session.add_all([
        m.Community(community_id="C1", name="一", town="A镇", households=100,
                    sorting_since=dt.date(2020, 1, 1)),
        m.Community(community_id="C2", name="二", town="A镇", households=300,
                    sorting_since=None),
        m.Community(community_id="C3", name="三", town="B镇", households=600,
                    sorting_since=dt.date(2020, 1, 20)),
    ])
    fac = [("F1", "incinerator", "residual", True), ("F2", "transfer_station", "residual", False),
           ("F3", "kitchen_plant", "kitchen", True), ("F4", "recycling_center", "recyclable", True)]
    for i, (fid, kind, acc, harmless) in enumerate(fac):
        session.add(m.Facility(facility_id=fid, name=f"设施{fid}", kind=kind, accepts=[acc],
                               lon=114.05 + i / 100, lat=34.68, harmless=harmless))
    for vid, cat in (("V1", "residual"), ("V2", "kitchen"), ("V3", "recyclable")):
        v = m.Vehicle(vehicle_id=vid, plate=f"豫A{vid}", depot_id="D1", shift_start_min=300,
                      shift_end_min=1020)
        v.compartments.append(m.Compartment(category=cat, capacity_kg=5000))
        session.add(v)
    session.flush()
    pts = [("P1", "C1", "residual", 127, 114.0, 34.7), ("P2", "C1", "kitchen", MON_WED_FRI, 114.01, 34.7),
           ("P3", "C3", "residual", 127, 114.02, 34.72), ("P4", "C3", "kitchen", 127, 114.03, 34.72),
           ("P5", None, "recyclable", 2, 114.04, 34.69), ("P6", "C2", "residual", 0, 114.0, 34.71)]
    for pid, cid, cat, mask, lon, lat in pts:
        session.add(m.Point(point_id=pid, name=f"点{pid}", community_id=cid, lon=lon, lat=lat,
                            category=cat, kg_per_visit=100, days_mask=mask))
    session.flush()
    recs: list[tuple[dt.date, str, str, float]] = []
    for day in range(6, 12):
        recs.append((dt.date(2020, 1, day), "P1", "V1", 1000))
    for day in range(6, 13):
        recs.append((dt.date(2020, 1, day), "P3", "V1", 500))
    recs += [(dt.date(2020, 1, 6), "P2", "V2", 200), (dt.date(2020, 1, 7), "P2", "V2", 100),
             (dt.date(2020, 1, 8), "P2", "V2", 300), (dt.date(2020, 1, 11), "P4", "V2", 50),
             (dt.date(2020, 1, 7), "P5", "V3", 400), (dt.date(2020, 1, 13), "P1", "V1", 1000)]
    for day, pid, vid, kg in recs:
        session.add(m.CollectionRecord(date=day, point_id=pid, vehicle_id=vid, kg=kg))
    tix: list[tuple[str, dt.datetime, str, float, str]] = []
    for day in (6, 8, 9, 10, 11):
        tix.append(("F1", dt.datetime(2020, 1, day, 12), "residual", 1500, "V1"))
    tix += [("F1", dt.datetime(2020, 1, 12, 23, 30), "residual", 500, "V1"),
            ("F2", dt.datetime(2020, 1, 7, 12), "residual", 1500, "V1"),
            ("F3", dt.datetime(2020, 1, 6, 9), "kitchen", 200, "V2"),
            ("F3", dt.datetime(2020, 1, 7, 9), "kitchen", 100, "V2"),
            ("F3", dt.datetime(2020, 1, 8, 9), "kitchen", 300, "V2"),
            ("F3", dt.datetime(2020, 1, 11, 9), "kitchen", 50, "V2"),
            ("F4", dt.datetime(2020, 1, 7, 15), "recyclable", 400, "V3"),
            ("F1", dt.datetime(2020, 1, 14, 0, 0), "residual", 1000, "V1")]
    for i, (fid, when, cat, kg, vid) in enumerate(tix):
        session.add(m.Ticket(facility_id=fid, ticket_no=f"T{i:03d}", time=when, category=cat,
                             net_kg=kg, vehicle_id=vid))
    session.flush()
    if plan:
        store_plan(session, dt.date(2020, 1, 8), plan_document(),
                   created_at=dt.datetime(2020, 1, 7, 18))
    session.commit()


# ---------------------------------------------------------------- replanning the planning county

REPLAN_DATE = "2026-11-27"
REPLAN_AT = "09:00"
TZ8 = dt.timezone(dt.timedelta(hours=8))
REPLAN_AT_T = dt.datetime(2026, 11, 27, 9, 0, tzinfo=TZ8)


def cli_ok(runner: CliRunner, *args: str) -> Any:
    """Invoke the CLI and insist on exit code 0."""
    res = runner.invoke(app, list(args))
    assert res.exit_code == 0, res.output
    return res


def planned_by_cli(runner: CliRunner, url: str, tmp_path: Path) -> dict[str, Any]:
    """The planning county imported and planned on REPLAN_DATE; the plan document."""
    cli_ok(runner, "import", str(PLANNING_COUNTY), "--db", url)
    out = tmp_path / "plan.json"
    cli_ok(runner, "plan", "--date", REPLAN_DATE, "--time-limit", "2", "--out", str(out),
           "--db", url)
    return json.loads(out.read_text(encoding="utf-8"))


def parse_ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


# ---------------------------------------------------------------- collection history

HISTORY_START = dt.date(2026, 9, 7)  # a Monday
HISTORY_END = dt.date(2026, 11, 26)


def county_records(session: Session, start: dt.date, end: dt.date, *, seed: int, noise: float,
             trend: float = 0.0, holiday: dict[str, float] | None = None,
             without: str | None = None) -> None:
    """The county's points with records from ``start`` to ``end``: weekends +10 %,
    a linear ``trend`` over the period, ``holiday[category]`` x on statutory holidays,
    lognormal ``noise``; the point ``without`` gets no history."""
    import_paths(session, [PLANNING_COUNTY])
    rng = random.Random(seed)
    points = list(session.scalars(select(Point)))
    day = start
    while day <= end:
        weekend = 1.1 if day.isoweekday() >= 6 else 0.96
        growth = 1.0 + trend * (day - start).days / max(1, (end - start).days)
        hol = holiday if holiday and is_public_holiday(day) else {}
        for p in points:
            gap = gaps(p.days_mask)[day.isoweekday() - 1]
            if gap == 0 or p.point_id == without:
                continue
            kg = (p.kg_per_visit * gap * weekend * growth * hol.get(p.category, 1.0)
                  * math.exp(rng.gauss(0, noise)))
            session.add(CollectionRecord(date=day, point_id=p.point_id, vehicle_id="",
                                         kg=round(kg, 1)))
        day += dt.timedelta(days=1)
    session.flush()


def county_history(session: Session, seed: int = 1) -> None:
    """Records with a weekday profile (weekends +10 %), a growing trend and noise;
    P038 has no history at all."""
    county_records(session, HISTORY_START, HISTORY_END, seed=seed, noise=0.15, trend=0.2, without="P038")


# ---------------------------------------------------------------- the HTTP API

FRIDAY = "2026-11-27"
PASSWORD = "password-123"
ROLES = ("admin", "dispatcher", "driver", "viewer")
DRIVER_VEHICLE = "V01"


class Api:
    """A TestClient and a bearer header per role."""

    def __init__(self, client: TestClient, headers: dict[str, dict[str, str]]) -> None:
        self.client = client
        self.headers = headers

    def as_(self, role: str | None) -> dict[str, str]:
        return {} if role is None else self.headers[role]

    def get(self, path: str, role: str | None = "admin", **kw: Any) -> Any:
        return self.client.get(path, headers=self.as_(role), **kw)

    def post(self, path: str, role: str | None = "admin", **kw: Any) -> Any:
        return self.client.post(path, headers=self.as_(role), **kw)

    def put(self, path: str, role: str | None = "admin", **kw: Any) -> Any:
        return self.client.put(path, headers=self.as_(role), **kw)

    def delete(self, path: str, role: str | None = "admin", **kw: Any) -> Any:
        return self.client.delete(path, headers=self.as_(role), **kw)

    def wait_job(self, job_id: str, timeout_s: float = 120.0) -> dict[str, Any]:
        """The job once it has finished."""
        last: list[dict[str, Any]] = []

        def finished() -> bool:
            last[:] = [self.get(f"/jobs/{job_id}").json()]
            return last[0]["status"] in ("succeeded", "failed", "cancelled", "superseded")

        wait_until(finished, timeout_s, f"job {job_id} to finish", poll_s=0.2)
        return last[0]


def make_api(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.delenv("WASTEROUTE_REDIS", raising=False)
    monkeypatch.delenv("WASTEROUTE_CORS", raising=False)
    monkeypatch.setenv("WASTEROUTE_SECRET", "test-secret-of-at-least-32-bytes-long!")
    with session_scope(db_url) as s:
        import_paths(s, [PLANNING_COUNTY])
        for role in ROLES:
            create_user(s, role, role, PASSWORD,
                        DRIVER_VEHICLE if role == "driver" else None)
    app = create_app(db_url)
    with TestClient(app) as client:
        headers = {}
        for role in ROLES:
            r = client.post("/token", data={"username": role, "password": PASSWORD})
            assert r.status_code == 200, r.text
            headers[role] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        yield Api(client, headers)


# ---------------------------------------------------------------- planning jobs


def planning_county_url(db_url: str) -> str:
    """The planning county imported into ``db_url``; the URL back, for a fixture."""
    with session_scope(db_url) as s:
        import_paths(s, [PLANNING_COUNTY])
    return db_url


def plans_of_day(url: str, date: dt.date) -> list[tuple[int, str]]:
    """(version, status) of every stored plan of ``date``, oldest first."""
    with session_scope(url) as s:
        return [(p.version, p.status)
                for p in s.scalars(select(m.Plan).where(m.Plan.date == date)
                                   .order_by(m.Plan.version))]


def job_row(url: str, job_id: str) -> m.Job:
    """A job as stored now (detached, safe to read after the session ends)."""
    with session_scope(url) as s:
        job = s.get(m.Job, job_id)
        assert job is not None
        s.expunge(job)
        return job
