"""The migrated schema and the models agree, and categories are seeded."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.orm import Session

from logistics.domain import CATEGORIES
from logistics.persistence.bulk_repo import include_name
from logistics.persistence.db import get_engine
from logistics.persistence.models import Base, CategoryRow


def test_models_match_migrations(db_url: str) -> None:
    with get_engine(db_url).connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": include_name})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == [], f"models and migrations disagree; write a migration: {diff}"


def test_categories_seeded(session: Session) -> None:
    rows = {r.key: r for r in session.scalars(select(CategoryRow))}
    assert set(rows) == {c.key for c in CATEGORIES}
    for c in CATEGORIES:
        assert (rows[c.key].name_zh, rows[c.key].colour) == (c.name_zh, c.colour)
