"""The static dashboard pages in headless Debian Chromium (Playwright), served over a real
HTTP server on 127.0.0.1: no console errors, no request leaves 127.0.0.1, every figure is
drawn (maps: the map's canvas), a filter select redraws with other data. Screenshots go
to test-artifacts/ (gitignored)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from sqlalchemy.orm import Session

from dashboards.pages import PAGES, write_dashboards
from tests.browser.serve import CHROMIUM, chromium, http_server, wait_ready
from tests.factories import build_tiny_county

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian chromium not installed (/usr/bin/chromium)"
)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
#: console lines of Chromium's software GL, not of our pages
BENIGN = ("GL Driver Message", "GPU stall", "WebGL")


_ROOTS: dict[str, Path] = {}


def base_dir(site: tuple[str, Any]) -> Path:
    return _ROOTS[site[0]]


@pytest.fixture
def site(session: Session, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    pytest.importorskip("playwright")
    build_tiny_county(session)
    out = tmp_path / "dash"
    write_dashboards(session, out, lang="zh")
    with http_server(out) as base, chromium() as browser:
        _ROOTS[base] = out
        yield base, browser


def _local(url: str) -> bool:
    u = urlparse(url)
    return u.scheme in ("data", "blob", "about") or (
        u.scheme == "http" and u.hostname == "127.0.0.1"
    )


def _open(browser: Any, url: str) -> tuple[Any, list[str], list[str]]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    outside: list[str] = []
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and not any(b in m.text for b in BENIGN) else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"failed {r.url}"))

    def route(r: Any) -> None:
        if _local(r.request.url):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(url)
    wait_ready(page)
    return page, errors, outside


def test_every_page_draws_offline(site: tuple[str, Any]) -> None:
    base, browser = site
    ARTIFACTS.mkdir(exist_ok=True)
    others = sorted(p.name for p in Path(base_dir(site)).glob("overview_*.html"))
    assert others  # the periods the overview's selector offers
    for name in (*PAGES, others[0].removesuffix(".html")):
        page, errors, outside = _open(browser, f"{base}/{name}.html")
        assert page.locator("nav a").count() == len(PAGES)
        n_figs = page.evaluate("JSON.parse(document.getElementById('page-data').textContent)"
                               ".figures.length")
        assert n_figs >= 1, name
        page.wait_for_function(
            f"document.querySelectorAll('.js-plotly-plot').length === {n_figs}")
        maps = page.evaluate(
            "JSON.parse(document.getElementById('page-data').textContent).figures"
            ".filter(f => f.map).map(f => f.id)")
        for fid in maps:
            # maplibre's map: wait for its 'load' (loaded() true) and its canvas
            page.wait_for_function(
                "(() => { const gd = document.getElementById('FID');"
                " const sub = gd._fullLayout && gd._fullLayout.map && gd._fullLayout.map._subplot;"
                " return !!(sub && sub.map && sub.map.loaded()); })()".replace("FID", fid),
                timeout=30000)
            assert page.locator(f"#{fid} canvas.maplibregl-canvas").count() == 1
        page.wait_for_timeout(300)
        page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)
        assert errors == [], (name, errors)
        assert outside == [], (name, outside)
        page.close()


def test_truck_select_redraws_the_day_map(site: tuple[str, Any]) -> None:
    base, browser = site
    page, errors, outside = _open(browser, f"{base}/plan.html")
    names = "Array.from(document.getElementById('plan_map').data.map(t => t.name))"
    grey = ("Array.from(document.getElementById('plan_map').data[0].lon)"
            ".filter(x => x !== null).length")
    assert "V1 · 其他垃圾" in page.evaluate(names)
    v1_grey = page.evaluate(grey)
    page.evaluate("window._reacted = 0; document.getElementById('plan_map')"
                  ".on('plotly_afterplot', () => { window._reacted += 1; })")
    page.select_option("#plan_map-select", "V2")
    page.wait_for_function("window._reacted > 0")
    after = page.evaluate(names)
    assert "V2 · 厨余垃圾" in after and not any(n and n.startswith("V1") for n in after)
    assert page.evaluate(grey) != v1_grey  # now V1's route is the grey one
    assert "V2" in page.evaluate("document.getElementById('plan_map').layout.title.text")
    # the rest of the day view: the Gantt, the loads, unassigned and plan versus actual
    assert page.locator("#gantt .js-plotly-plot, #gantt.js-plotly-plot").count() == 1
    assert page.locator("table.unassigned tr").count() == 2
    assert page.locator("h2", has_text="计划与实际").count() == 1
    assert errors == [] and outside == []
    page.close()


def test_period_select_opens_that_period(site: tuple[str, Any]) -> None:
    base, browser = site
    page, errors, outside = _open(browser, f"{base}/overview.html")
    options = page.evaluate("Array.from(document.querySelectorAll('#period-select option'))"
                            ".map(o => [o.value, o.dataset.href])")
    value, href = next((v, h) for v, h in options if h != "overview.html")
    page.select_option("#period-select", value)
    page.wait_for_url(f"{base}/{href}")
    wait_ready(page)
    assert page.evaluate("document.getElementById('period-select').value") == value
    assert page.locator(".card").count() >= 1
    assert errors == [] and outside == []
    page.close()


def test_town_select_redraws_with_react(site: tuple[str, Any]) -> None:
    base, browser = site
    page, errors, outside = _open(browser, f"{base}/overview.html")
    residual_y = ("(() => { const gd = document.getElementById('monthly');"
                  " return Array.from(gd.data[2].y); })()")
    before = page.evaluate(residual_y)
    assert before[0] == 10.5  # all towns, January residual t
    page.evaluate("window._reacted = 0; document.getElementById('monthly')"
                  ".on('plotly_afterplot', () => { window._reacted += 1; })")
    page.select_option("#monthly-select", "A镇")
    page.wait_for_function("window._reacted > 0")
    after = page.evaluate(residual_y)
    assert after[0] == 7.0
    assert "A镇" in page.evaluate("document.getElementById('monthly').layout.title.text")
    page.select_option("#monthly-select", "")
    page.wait_for_function(f"{residual_y}[0] === 10.5")
    assert errors == [] and outside == []
    page.close()


def test_category_select_on_the_map(site: tuple[str, Any]) -> None:
    base, browser = site
    page, errors, outside = _open(browser, f"{base}/map.html")
    names = "Array.from(document.getElementById('county_map').data.map(t => t.name))"
    assert page.evaluate(names)[:3] == ["可回收物", "厨余垃圾", "其他垃圾"]
    page.select_option("#county_map-select", "kitchen")
    page.wait_for_function(f"{names}.length === 3")
    assert page.evaluate(names) == ["厨余垃圾", "设施", "车场"]
    assert errors == [] and outside == []
    page.close()
