"""The LIVE dashboard pages: ``wasteroute serve`` (real uvicorn, a subprocess on 127.0.0.1)
on the test database, opened in headless Debian Chromium (Playwright) after signing in the
way a browser does (the login form's cookie, or ``?access_token=`` from ``POST /token``).

Every page: no console errors, no request leaves 127.0.0.1, plotly.js comes from the
server itself, every figure is drawn (maps: maplibre's ``loaded()`` and its canvas). The
town and category selects redraw with other data, and so do the ``?date=`` and ``?year=``
query parameters. Without a login a page answers 401 JSON. Screenshots go to
test-artifacts/live-*.png (gitignored).

Data: the tiny county of tests/test_metrics.py (plan of 2020-01-08: V1 and V2), plus a
plan of 2020-01-10 with V1 only (so the newest plan day differs from ``?date=2020-01-08``)
and one record of 2019 (so ``?year=2019``, the default complete year, differs from 2020).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from dashboards.pages import PAGES
from logistics.cli import app
from logistics.persistence import models as m
from logistics.persistence.plan_repo import store_plan
from tests.browser.serve import CHROMIUM, chromium, wait_ready
from tests.factories import build_tiny_county, plan_document

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian chromium not installed (/usr/bin/chromium)"
)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
#: console lines of Chromium's software GL, not of our pages
BENIGN = ("GL Driver Message", "GPU stall", "WebGL")
VIEWER, PASSWORD = "anzhi", "viewer-pass-2020"
#: how long the server may take to start (migrations, imports); not a performance limit
START_TIMEOUT_S = 90.0
PAGE_DATA = "JSON.parse(document.getElementById('page-data').textContent)"


@dataclass
class Live:
    base: str
    browser: Any
    log: Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310 (127.0.0.1 only)
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def _build(session: Session) -> None:
    build_tiny_county(session)
    later = json.loads(json.dumps(plan_document()).replace("2020-01-08", "2020-01-10"))
    later["routes"] = [r for r in later["routes"] if r["vehicle_id"] == "V1"]
    later["unassigned"] = []
    store_plan(session, dt.date(2020, 1, 10), later, created_at=dt.datetime(2020, 1, 9, 18))
    session.add(m.CollectionRecord(date=dt.date(2019, 3, 5), point_id="P1", vehicle_id="V1",
                                   kg=700))
    session.commit()


def _wasteroute() -> list[str]:
    exe = Path(sys.executable).parent / "wasteroute"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "logistics.cli"]


@pytest.fixture
def live(session: Session, db_url: str, tmp_path: Path) -> Iterator[Live]:
    pytest.importorskip("playwright")
    _build(session)
    session.close()
    added = CliRunner().invoke(app, ["users", "add", VIEWER, "--role", "viewer",
                                     "--password-stdin", "--db", db_url], input=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    env = dict(os.environ, WASTEROUTE_DB=db_url)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*_wasteroute(), "serve", "--host", "127.0.0.1", "--port", str(port),
             "--db", db_url],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert proc.poll() is None, f"wasteroute serve exited:\n{log.read_text()}"
            try:
                status, _, _ = _get(f"{base}/dashboards/plotly.min.js")
                if status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"server did not answer:\n{log.read_text()}"
            time.sleep(0.2)
        with chromium() as browser:
            yield Live(base, browser, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def _local(url: str) -> bool:
    u = urllib.parse.urlparse(url)
    return u.scheme in ("data", "blob", "about") or (
        u.scheme == "http" and u.hostname == "127.0.0.1"
    )


class Watched:
    """A browser context with every request intercepted: console errors, requests that
    would leave 127.0.0.1 (aborted) and the URLs answered."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.answered: list[tuple[str, int]] = []
        self.context.route("**/*", self._route)

    def _route(self, r: Any) -> None:
        if _local(r.request.url):
            r.continue_()
        else:
            self.outside.append(r.request.url)
            r.abort()

    def new_page(self) -> Any:
        page = self.context.new_page()
        page.on("console", lambda msg: self.errors.append(msg.text)
                if msg.type == "error" and not any(b in msg.text for b in BENIGN) else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("requestfailed", lambda r: self.errors.append(f"failed {r.url}"))
        page.on("response", lambda r: self.answered.append((r.url, r.status)))
        return page

    def close(self) -> None:
        self.context.close()


def _sign_in(w: Watched, base: str, next_path: str) -> Any:
    """The login form, as a person fills it in; lands on ``next_path``."""
    page = w.new_page()
    page.goto(f"{base}/login?next={urllib.parse.quote(next_path)}")
    page.fill("input[name=username]", VIEWER)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation(url=f"{base}{next_path}"):
        page.click("button[type=submit]")
    return page


def _drawn(page: Any, name: str) -> int:
    """Wait until every figure of the page has drawn; return how many there are."""
    wait_ready(page)
    n_figs: int = page.evaluate(f"{PAGE_DATA}.figures.length")
    assert n_figs >= 1, name
    page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot').length === {n_figs}")
    for fid in page.evaluate(f"{PAGE_DATA}.figures.filter(f => f.map).map(f => f.id)"):
        page.wait_for_function(
            "(() => { const gd = document.getElementById('FID');"
            " const sub = gd._fullLayout && gd._fullLayout.map && gd._fullLayout.map._subplot;"
            " return !!(sub && sub.map && sub.map.loaded()); })()".replace("FID", fid),
            timeout=30000)
        assert page.locator(f"#{fid} canvas.maplibregl-canvas").count() == 1, (name, fid)
    return n_figs


def _trace_data(page: Any, fid: str) -> list[Any]:
    data: list[Any] = page.evaluate(
        f"Array.from(document.getElementById('{fid}').data).map(t => ({{name: t.name,"
        " x: t.x ? Array.from(t.x) : null, y: t.y ? Array.from(t.y) : null,"
        " lon: t.lon ? Array.from(t.lon) : null}))")
    return data


def test_every_live_page_draws_from_the_server(live: Live) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    w = Watched(live.browser)
    page = _sign_in(w, live.base, "/dashboards/overview.html")
    for name in PAGES:
        url = f"{live.base}/dashboards/{name}.html"
        if page.url != url:
            page.goto(url)
        _drawn(page, name)
        # plotly.js is the server's own copy
        assert page.evaluate("typeof Plotly.newPlot") == "function"
        assert page.evaluate("document.querySelector('script[src]').src") == (
            f"{live.base}/dashboards/plotly.min.js")
        page.wait_for_timeout(300)
        page.screenshot(path=str(ARTIFACTS / f"live-{name}.png"), full_page=True)
        assert w.errors == [], (name, w.errors)
        assert w.outside == [], (name, w.outside)
    assert (f"{live.base}/dashboards/plotly.min.js", 200) in w.answered
    assert all(_local(u) for u, _ in w.answered)
    # the nav links are relative and work with the cookie
    page.click("nav a[href='map.html']")
    page.wait_for_url(f"{live.base}/dashboards/map.html")
    _drawn(page, "map")
    assert w.errors == [] and w.outside == []
    w.close()


def test_access_token_link_moves_into_the_cookie(live: Live) -> None:
    body = urllib.parse.urlencode({"username": VIEWER, "password": PASSWORD}).encode()
    req = urllib.request.Request(f"{live.base}/token", data=body, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310 (127.0.0.1 only)
        token = json.loads(r.read())["access_token"]
    w = Watched(live.browser)
    page = w.new_page()
    page.goto(f"{live.base}/dashboards/fleet.html?year=2020&access_token={token}")
    # the token is out of the address, the page drawn with the cookie
    assert page.url == f"{live.base}/dashboards/fleet.html?year=2020"
    assert _drawn(page, "fleet") == 2
    cookies = {c["name"]: c for c in w.context.cookies()}
    assert cookies["wasteroute_token"]["httpOnly"] is True
    page.goto(f"{live.base}/dashboards/plan.html")
    _drawn(page, "plan")
    assert w.errors == [] and w.outside == []
    w.close()


def test_filters_redraw_with_other_data(live: Live) -> None:
    w = Watched(live.browser)
    page = _sign_in(w, live.base, "/dashboards/overview.html")
    _drawn(page, "overview")
    # the data run into January 2020: the default period is the newest complete year
    assert page.locator(".period").inner_text().startswith("2019")
    page.goto(f"{live.base}/dashboards/overview.html?year=2020")
    _drawn(page, "overview")
    assert "年初至今" in page.locator(".period").inner_text()
    # town select: Plotly.react with the town's data
    residual_2020 = ("(() => { const gd = document.getElementById('monthly');"
                     " const t = gd.data.find(t => t.name.includes('其他垃圾')"
                     " && t.name.includes('2020')) || gd.data.find(t => t.name.includes('其他垃圾'));"
                     " return Array.from(t.y); })()")
    all_towns = _trace_data(page, "monthly")
    before = page.evaluate(residual_2020)
    page.evaluate("window._reacted = 0; document.getElementById('monthly')"
                  ".on('plotly_afterplot', () => { window._reacted += 1; })")
    page.select_option("#monthly-select", "A镇")
    page.wait_for_function("window._reacted > 0")
    assert page.evaluate(residual_2020) != before
    assert _trace_data(page, "monthly") != all_towns
    assert "A镇" in page.evaluate("document.getElementById('monthly').layout.title.text")

    # ?year=: the server draws another year
    page.goto(f"{live.base}/dashboards/overview.html?year=2019")
    _drawn(page, "overview")
    y2019 = _trace_data(page, "monthly")
    assert y2019 != all_towns
    assert page.locator(".period").inner_text().startswith("2019")
    # 2019 has records but no weighbridge tickets: a note instead of an empty sankey
    assert page.evaluate("document.getElementById('sankey').data.length") == 0
    assert "无过磅" in page.evaluate(
        "document.getElementById('sankey').layout.annotations[0].text")

    # category select on the map
    page.goto(f"{live.base}/dashboards/map.html")
    _drawn(page, "map")
    names = "Array.from(document.getElementById('county_map').data.map(t => t.name))"
    assert page.evaluate(names)[:3] == ["可回收物", "厨余垃圾", "其他垃圾"]
    page.select_option("#county_map-select", "kitchen")
    page.wait_for_function(f"{names}.length === 3")
    assert page.evaluate(names) == ["厨余垃圾", "设施", "车场"]

    # ?date=: the newest plan day (2020-01-10, V1 only) against 2020-01-08 (V1 and V2)
    page.goto(f"{live.base}/dashboards/plan.html")
    _drawn(page, "plan")
    newest = _trace_data(page, "gantt")
    newest_map = _trace_data(page, "plan_map")
    page.goto(f"{live.base}/dashboards/plan.html?date=2020-01-08")
    _drawn(page, "plan")
    assert _trace_data(page, "gantt") != newest
    older_map = _trace_data(page, "plan_map")
    assert older_map != newest_map
    # the other truck (V2) is drawn in grey beneath V1 on the older day only
    assert [x for x in older_map[0]["lon"] if x is not None]
    assert not [x for x in newest_map[0]["lon"] if x is not None]
    page.screenshot(path=str(ARTIFACTS / "live-plan-2020-01-08.png"), full_page=True)
    assert w.errors == [] and w.outside == [], (w.errors, w.outside)
    w.close()


def test_without_login_a_page_answers_401_json(live: Live) -> None:
    for name in PAGES:
        status, headers, body = _get(f"{live.base}/dashboards/{name}.html")
        assert status == 401, name
        assert headers["content-type"].startswith("application/json")
        doc = json.loads(body)
        assert doc["reason"] == "unauthenticated"
        assert "/login" in doc["detail"]
        assert "Traceback" not in body.decode()
    # a bad token is no better than none
    status, _, body = _get(f"{live.base}/dashboards/overview.html",
                           {"Cookie": "wasteroute_token=not-a-token"})
    assert status == 401 and json.loads(body)["reason"] == "unauthenticated"
    # the browser sees the same JSON, not a page
    w = Watched(live.browser)
    page = w.new_page()
    response = page.goto(f"{live.base}/dashboards/plan.html")
    assert response.status == 401
    assert json.loads(page.inner_text("body"))["reason"] == "unauthenticated"
    assert w.outside == []
    assert "Traceback" not in live.log.read_text()
    w.close()
