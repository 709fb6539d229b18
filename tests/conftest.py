"""Test fixtures: every test gets its own freshly migrated database.

SQLite by default (a file in tmp_path). When WASTEROUTE_DB points at PostgreSQL, each
test gets its own schema in that database (search_path set in the URL), migrated with
Alembic and dropped afterwards, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from logistics.persistence import db as dbmod

DATA = Path(__file__).parent / "data"


def _base_url() -> str | None:
    url = os.environ.get("WASTEROUTE_DB", "")
    return url if url.startswith("postgresql") else None


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    base = _base_url()
    if base is None:
        url = f"sqlite:///{tmp_path / 'test.db'}"
        monkeypatch.setenv("WASTEROUTE_DB", url)
        dbmod.upgrade(url)
        yield url
        dbmod.get_engine(url).dispose()
        return
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options=-csearch_path%3D{schema}"
    monkeypatch.setenv("WASTEROUTE_DB", url)
    try:
        dbmod.upgrade(url)
        yield url
    finally:
        dbmod.get_engine(url).dispose()
        dbmod.get_engine.cache_clear()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    s = dbmod.session_factory(db_url)()
    try:
        yield s
    finally:
        s.rollback()
        s.close()
