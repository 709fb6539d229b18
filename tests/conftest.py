"""Test fixtures: every test gets its own freshly migrated database.

SQLite by default (a file in tmp_path). When WASTEROUTE_DB points at PostgreSQL, each
test gets its own schema in that database (search_path set in the URL), migrated with
Alembic and dropped afterwards, so tests never see each other's rows.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from logistics.persistence import db as dbmod
from tests.factories import Api, make_api, migrated_db, planning_county_url

DATA = Path(__file__).parent / "data"


def _base_url() -> str | None:
    url = os.environ.get("WASTEROUTE_DB", "")
    return url if url.startswith("postgresql") else None


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    base = _base_url()
    with migrated_db(tmp_path, base) as url:
        monkeypatch.setenv("WASTEROUTE_DB", url)
        yield url
    if base is not None:
        dbmod.get_engine.cache_clear()


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    s = dbmod.session_factory(db_url)()
    try:
        yield s
    finally:
        s.rollback()
        s.close()


@pytest.fixture
def api(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    """The app on the planning county, with a signed-in client per role."""
    yield from make_api(db_url, monkeypatch)


@pytest.fixture
def planning_county(db_url: str) -> str:
    """The planning county imported into the test's database; the URL back."""
    return planning_county_url(db_url)
