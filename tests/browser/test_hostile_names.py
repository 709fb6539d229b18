"""Town names with markup, in a real browser: the static overview page draws, its town
select lists the names as text, choosing each one redraws, and no script of a name ever
runs (no dialog, no element made from a name)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from dashboards.pages import write_dashboards
from logistics.persistence import models as m
from tests.browser.serve import CHROMIUM, chromium, http_server, open_ready, watched_page
from tests.factories import build_tiny_county

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian chromium not installed (/usr/bin/chromium)"
)
HOSTILE = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>',
           "<svg onload=alert(1)>"]


def test_markup_town_names_never_run(session: Session, tmp_path: Path) -> None:
    pytest.importorskip("playwright")
    build_tiny_county(session)
    session.add_all([m.Town(name=t) for t in HOSTILE])
    session.flush()
    # C1 and C3 have collection records, so their towns are in the town select
    for cid, town in zip(("C3", "C1", "C2"), HOSTILE, strict=True):
        c = session.get(m.Community, cid)
        assert c is not None
        c.town = town
    session.commit()
    out = tmp_path / "dash"
    write_dashboards(session, out, lang="en")
    dialogs: list[str] = []
    with http_server(out) as base, chromium() as browser, \
            watched_page(browser, dialogs) as page:
        open_ready(page, f"{base}/overview.html")
        select = page.locator("#monthly-select")
        texts = select.locator("option").all_text_contents()
        assert set(HOSTILE[:2]) <= set(texts)
        for town in HOSTILE[:2]:
            select.select_option(value=town)
            assert page.evaluate("document.getElementById('monthly-select').value") == town
        assert page.locator("img").count() == 0
        assert page.locator("svg[onload]").count() == 0
    assert dialogs == []


def test_markup_facility_names_in_alerts_and_the_day_view(session: Session,
                                                          tmp_path: Path) -> None:
    pytest.importorskip("playwright")
    build_tiny_county(session)
    # the incinerator, named with markup, runs over its capacity on the last day
    f1 = session.get(m.Facility, "F1")
    assert f1 is not None
    f1.name, f1.daily_capacity_kg = HOSTILE[1], 100.0
    f2 = session.get(m.Facility, "F2")
    assert f2 is not None
    f2.name = HOSTILE[0]
    session.add(m.Ticket(facility_id="F1", ticket_no="H1", time=dt.datetime(2020, 1, 13, 10),
                         category="residual", net_kg=500.0, vehicle_id="V1"))
    session.commit()
    out = tmp_path / "dash"
    write_dashboards(session, out, lang="en")
    index = (out / "index.html").read_text(encoding="utf-8")
    assert 'data-kind="near_capacity"' in index and HOSTILE[1] not in index
    dialogs: list[str] = []
    with http_server(out) as base, chromium() as browser, \
            watched_page(browser, dialogs) as page:
        for name in ("index", "overview", "plan"):
            open_ready(page, f"{base}/{name}.html")
            assert page.locator("img").count() == 0, name
            assert page.locator("script:not([src]):not([type])").count() == 1, name
        open_ready(page, f"{base}/index.html")
        alert = page.locator('li[data-kind="near_capacity"]').inner_text()
        assert HOSTILE[1] in alert  # the name, as text
    assert dialogs == []
