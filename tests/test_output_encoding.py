"""Output encoding: hostile names (markup, spreadsheet formulas) come out as text in every
format we write, non-ASCII download names are RFC 6266 encoded, and every answer of the
API carries the security headers.

Names are set on the stored rows (as an import or an API write would leave them, plus
tab- and CR-leading ones that only a database edit can make); the outputs are taken
from outside: the CLI (``dashboards``, ``sheets``, ``export``) and the HTTP API.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.app import create_app
from logistics.cli import app
from logistics.ops.users import create_user
from logistics.persistence import models as m
from logistics.persistence.db import session_scope
from logistics.persistence.plan_repo import store_plan
from tests.factories import Api, build_tiny_county, plan_document

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
FORMULAS = ['=HYPERLINK("http://x","y")', "+1+1", "@SUM(A1)", "-2+3", "\t=1+1", "\r=1+1"]
CN_VEHICLE = "环卫一号"
PASSWORD = "password-123"


def _ok(*args: str) -> Any:
    res = CliRunner().invoke(app, list(args))
    assert res.exit_code == 0, res.output
    return res


# ---------------------------------------------------------------- HTML: dashboards


class _Tags(HTMLParser):
    """Every start tag with its attributes, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.options: list[tuple[str | None, str]] = []
        self._in_option: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "option":
            self._in_option = dict(attrs).get("value")
            self.options.append((self._in_option, ""))

    def handle_data(self, data: str) -> None:
        if self._in_option is not None:
            v, t = self.options[-1]
            self.options[-1] = (v, t + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "option":
            self._in_option = None


@pytest.fixture
def hostile_towns(session: Session) -> list[str]:
    """The tiny county with its towns renamed to markup (C3 -> SCRIPT, C1/C2 -> IMG)."""
    build_tiny_county(session)
    session.add_all([m.Town(name=SCRIPT), m.Town(name=IMG)])
    session.flush()
    for cid, town in (("C1", IMG), ("C2", IMG), ("C3", SCRIPT)):
        c = session.get(m.Community, cid)
        assert c is not None
        c.town = town
    session.commit()
    return [SCRIPT, IMG]


def test_dashboard_town_markup_is_text(hostile_towns: list[str], db_url: str,
                                       tmp_path: Path) -> None:
    out = tmp_path / "dash"
    _ok("dashboards", "--out", str(out), "--db", db_url, "--lang", "en")
    for name in ("overview", "map", "plan", "fleet"):
        text = (out / f"{name}.html").read_text(encoding="utf-8")
        parsed = _Tags()
        parsed.feed(text)
        tags = [t for t, _ in parsed.tags]
        assert "img" not in tags, name
        # the plotly.js loader, the page data (JSON, not run) and the page's own script
        assert tags.count("script") == 3, (name, tags)
        assert all(not k.startswith("on") for _, a in parsed.tags for k in a), name
        assert SCRIPT not in text and "<img" not in text, name
        if name == "overview":
            # the town select shows the names as text, with the names as values
            assert (SCRIPT, SCRIPT) in parsed.options and (IMG, IMG) in parsed.options
        # data for the scripts: JSON with <, > and & escaped, still the same names
        blob = text.split('<script id="page-data" type="application/json">')[1]
        blob = blob.split("</script>")[0]
        assert "<" not in blob and ">" not in blob and "&" not in blob
        if name == "overview":
            data = json.loads(blob)
            opts = next(f for f in data["figures"] if f["id"] == "monthly")["select"]["options"]
            assert [SCRIPT, SCRIPT] in opts and [IMG, IMG] in opts


# ---------------------------------------------------------------- spreadsheets


@pytest.fixture
def hostile_points(session: Session) -> dict[str, str]:
    """The tiny county (plan of 2020-01-08) with point, community, facility and depot
    names that a spreadsheet would take for formulas; returns point id -> name."""
    build_tiny_county(session)
    names = {"P1": FORMULAS[0], "P2": FORMULAS[1], "P3": FORMULAS[2], "P4": FORMULAS[3],
             "P5": FORMULAS[4], "P6": FORMULAS[5]}
    for pid, name in names.items():
        p = session.get(m.Point, pid)
        assert p is not None
        p.name = name
    p5 = session.get(m.Point, "P5")
    assert p5 is not None
    p5.lon = -0.5  # a negative number stays a number
    p6 = session.get(m.Point, "P6")
    assert p6 is not None
    p6.days_mask = 127  # (never due in the tiny county; an export needs days to re-import)
    c1, f1, d1 = session.get(m.Community, "C1"), session.get(m.Facility, "F1"), \
        session.get(m.Depot, "D1")
    assert c1 is not None and f1 is not None and d1 is not None
    c1.name, f1.name, d1.name = "-SUM(1)", "=1+2", "@depot"
    session.commit()
    return names


def test_xlsx_route_sheet_formula_names_are_text(hostile_points: dict[str, str], db_url: str,
                                                 tmp_path: Path) -> None:
    out = tmp_path / "sheets"
    _ok("sheets", "--date", "2020-01-08", "--format", "xlsx", "--lang", "en", "--out", str(out),
        "--db", db_url)
    [path] = list(out.glob("*.xlsx"))
    wb = load_workbook(path)
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row
             if c.value is not None]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    texts = {c.value: c for c in cells if isinstance(c.value, str)}
    for name in (FORMULAS[0], FORMULAS[1], FORMULAS[2], FORMULAS[3], "-SUM(1)", "=1+2",
                 "@depot"):
        assert name in texts, name  # the very name, as a text cell
        assert texts[name].data_type == "s"
        assert texts[name].quotePrefix, name  # Excel keeps it text when the cell is edited
    # numbers (kg, distances) are still numbers
    numbers = [c for c in cells if c.data_type == "n"]
    assert any(c.value == 1000 for c in numbers) and any(c.value == 500 for c in numbers)


def test_csv_export_neutralises_formulas_and_round_trips(hostile_points: dict[str, str],
                                                         db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "points.csv"
    _ok("export", "points", "--out", str(path), "--db", db_url)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = {r["point_id"]: r for r in csv.DictReader(fh)}
    for pid, name in hostile_points.items():
        assert rows[pid]["name"] == "'" + name, pid
    assert rows["P5"]["lon"] == "-0.5"  # a number: written as a number
    fac = tmp_path / "facilities.csv"
    _ok("export", "facilities", "--out", str(fac), "--db", db_url)
    with fac.open(encoding="utf-8-sig", newline="") as fh:
        assert {r["facility_id"]: r["name"] for r in csv.DictReader(fh)}["F1"] == "'=1+2"
    # the export imports back to the same names (the quote is taken off again)
    with session_scope(db_url) as s:
        for pid in hostile_points:
            p = s.get(m.Point, pid)
            assert p is not None
            p.name = "changed"
    _ok("import", str(path), "--kind", "points", "--db", db_url)
    _ok("import", str(fac), "--kind", "facilities", "--db", db_url)
    with session_scope(db_url) as s:
        got = {pid: s.get(m.Point, pid).name for pid in hostile_points}  # type: ignore[union-attr]
        assert s.get(m.Facility, "F1").name == "=1+2"  # type: ignore[union-attr]
        assert s.get(m.Point, "P5").lon == -0.5  # type: ignore[union-attr]
    assert got == hostile_points  # tab- and CR-leading ones too: inside the quote


# ---------------------------------------------------------------- downloads and headers


@pytest.fixture
def cn_client(session: Session, db_url: str, monkeypatch: pytest.MonkeyPatch
              ) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The tiny county whose V1 is called CN_VEHICLE in the plan of 2020-01-08."""
    monkeypatch.delenv("WASTEROUTE_REDIS", raising=False)
    monkeypatch.setenv("WASTEROUTE_SECRET", "test-secret-of-at-least-32-bytes-long!")
    build_tiny_county(session, plan=False)
    v = m.Vehicle(vehicle_id=CN_VEHICLE, plate="豫A环卫", depot_id="D1", shift_start_min=300,
                  shift_end_min=1020)
    v.compartments.append(m.Compartment(category="residual", capacity_kg=5000))
    session.add(v)
    doc = json.loads(json.dumps(plan_document(), ensure_ascii=False)
                     .replace('"V1"', json.dumps(CN_VEHICLE, ensure_ascii=False)))
    store_plan(session, dt.date(2020, 1, 8), doc, created_at=dt.datetime(2020, 1, 7, 18))
    create_user(session, "admin", "admin", PASSWORD)
    session.commit()
    with TestClient(create_app(db_url)) as client:
        r = client.post("/token", data={"username": "admin", "password": PASSWORD})
        assert r.status_code == 200, r.text
        yield client, {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.mark.parametrize("fmt", ["gpx", "geojson"])
def test_chinese_vehicle_download_name(cn_client: tuple[TestClient, dict[str, str]],
                                       fmt: str) -> None:
    client, auth = cn_client
    r = client.get("/sheets/2020-01-08", params={"format": fmt, "vehicle": CN_VEHICLE},
                   headers=auth)
    assert r.status_code == 200, r.text
    cd = r.headers["content-disposition"]
    cd.encode("ascii")  # a header is ASCII
    assert cd.startswith("attachment; ")
    fallback = cd.split('filename="')[1].split('"')[0]
    assert fallback.isascii() and fallback.endswith(f".{fmt}") and "/" not in fallback
    encoded = cd.split("filename*=UTF-8''")[1].split(";")[0]
    assert unquote(encoded, encoding="utf-8") == f"route-2020-01-08-01-{CN_VEHICLE}.{fmt}"


def test_ascii_download_name_unchanged(cn_client: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = cn_client
    r = client.get("/sheets/2020-01-08", params={"format": "gpx", "vehicle": "V2"}, headers=auth)
    assert r.status_code == 200, r.text
    assert 'filename="route-2020-01-08-02-V2.gpx"' in r.headers["content-disposition"]


def _assert_security_headers(headers: Any, *, outside: bool = False) -> None:
    csp = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    assert "*" not in csp and "'unsafe-eval'" not in csp
    if not outside:  # only this server: no other origin, no inline script but by hash
        assert "http:" not in csp and "https:" not in csp and "'unsafe-inline'" not in (
            csp.split("script-src")[1].split(";")[0])
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"


def test_security_headers_on_every_answer(api: Api) -> None:
    answers = {
        "json": api.get("/plans"),
        "html": api.get("/login", role=None),
        "dashboard page": api.get("/dashboards/overview.html"),
        "not found": api.get("/plans/no-such-plan"),
        "unauthenticated": api.get("/plans", role=None),
        "validation": api.get("/sheets/not-a-date"),
        "no route": api.get("/no/such/path"),
        # FastAPI's docs page loads Swagger UI from its CDN: the one page that may
        "api docs": api.get("/docs", role=None),
        "docs lookalike": api.get("/docsx", role=None),
    }
    assert "https://cdn.jsdelivr.net" in answers["api docs"].headers["content-security-policy"]
    assert answers["json"].status_code == 200
    assert answers["html"].status_code == 200
    assert answers["dashboard page"].status_code == 200
    assert answers["not found"].status_code == 404
    assert answers["unauthenticated"].status_code == 401
    assert answers["validation"].status_code == 422
    for what, r in answers.items():
        try:
            _assert_security_headers(r.headers, outside=what == "api docs")
        except (AssertionError, KeyError) as exc:
            raise AssertionError(f"{what}: {dict(r.headers)}") from exc


def test_master_routes_csv_neutralises_formula_ids(db_url: str, tmp_path: Path) -> None:
    county = Path(__file__).parent / "data" / "planning"
    _ok("import", str(county), "--db", db_url)
    # every recyclable point on Monday only, most of them with formula-like ids
    extra = tmp_path / "points.csv"
    ids = ["=R1", "+R2", "-R3", "@R4", "=R5", "+R6", "-R7", "@R8"]
    extra.write_text(
        "point_id,name,community_id,lon,lat,category,kg_per_visit,days\n"
        + "".join(f"{pid},x,C01,113.97,34.66,recyclable,300,1\n" for pid in ids),
        encoding="utf-8")
    _ok("import", str(extra), "--db", db_url)
    with session_scope(db_url) as s:
        for p in s.query(m.Point).filter(m.Point.category == "recyclable"):
            p.days_mask = 1
    out = tmp_path / "days.csv"
    _ok("master-routes", "--tolerance", "0.5", "--json", "--out", str(out), "--db", db_url)
    with out.open(encoding="utf-8", newline="") as fh:
        changed = [r["point_id"] for r in csv.DictReader(fh)]
    formula = [c for c in changed if c.lstrip("'") in ids]
    assert formula, changed
    assert all(c.startswith("'") and c[1:] in ids for c in formula), formula


def test_phone_pages_markup_names_are_text(session: Session, db_url: str,
                                           tmp_path: Path) -> None:
    build_tiny_county(session)
    for model, key, name in ((m.Point, "P1", SCRIPT), (m.Point, "P3", IMG),
                             (m.Depot, "D1", IMG), (m.Facility, "F1", SCRIPT),
                             (m.Community, "C1", IMG)):
        row = session.get(model, key)
        assert row is not None
        row.name = name
    session.commit()
    out = tmp_path / "phone"
    _ok("sheets", "--date", "2020-01-08", "--format", "html", "--out", str(out), "--db", db_url)
    pages = sorted(out.glob("*.html"))
    assert len(pages) == 3  # two routes and the index
    for path in pages:
        text = path.read_text(encoding="utf-8")
        parsed = _Tags()
        parsed.feed(text)
        tags = [t for t, _ in parsed.tags]
        assert "img" not in tags and SCRIPT not in text, path.name
        assert tags.count("script") == (0 if path.name.startswith("routes-") else 1), path.name
        assert all(not k.startswith("on") for _, a in parsed.tags for k in a), path.name
    assert "&lt;script&gt;" in (out / "route-2020-01-08-01-V1.html").read_text(encoding="utf-8")
