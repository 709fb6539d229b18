"""Helpers shared by the import/export tests: a whole-database snapshot and a CLI runner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from typer.testing import CliRunner

from logistics.cli import app
from logistics.persistence.db import get_engine
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
