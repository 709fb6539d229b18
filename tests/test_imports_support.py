"""Helpers shared by the import/export tests: a whole-database snapshot and a CLI runner."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select, text
from typer.testing import CliRunner

from logistics.cli import app
from logistics.persistence.db import get_engine, upgrade
from logistics.persistence.models import Base

DATA = Path(__file__).parent / "data" / "imports"
GOOD = DATA / "good"
BAD = DATA / "bad"
ZH = DATA / "zh"


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


@contextmanager
def fresh_db(like_url: str, tmp_path: Path) -> Iterator[str]:
    """A second, freshly migrated database of the same backend as ``like_url``."""
    if not like_url.startswith("postgresql"):
        url = f"sqlite:///{tmp_path / f'fresh_{uuid.uuid4().hex[:6]}.db'}"
        upgrade(url)
        try:
            yield url
        finally:
            get_engine(url).dispose()
        return
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
