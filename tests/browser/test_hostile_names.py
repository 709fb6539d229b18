"""Town names with markup, in a real browser: the static overview page draws, its town
select lists the names as text, choosing each one redraws, and no script of a name ever
runs (no dialog, no element made from a name)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from dashboards.pages import write_dashboards
from logistics.persistence import models as m
from tests.browser.serve import CHROMIUM, chromium, http_server
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
    with http_server(out) as base, chromium() as browser:
        page = browser.new_page()

        def seen(d: Any) -> None:
            dialogs.append(d.message)
            d.dismiss()

        page.on("dialog", seen)
        page.goto(f"{base}/overview.html")
        page.wait_for_function("window.WASTEROUTE_READY !== undefined")
        page.evaluate("window.WASTEROUTE_READY.then(() => true)")
        select = page.locator("#monthly-select")
        texts = select.locator("option").all_text_contents()
        assert set(HOSTILE[:2]) <= set(texts)
        for town in HOSTILE[:2]:
            select.select_option(value=town)
            assert page.evaluate("document.getElementById('monthly-select').value") == town
        assert page.locator("img").count() == 0
        assert page.locator("svg[onload]").count() == 0
        page.close()
    assert dialogs == []
