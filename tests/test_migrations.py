"""The migrated schema and the models agree, categories are seeded, and the migrations
keep rows both ways."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from logistics.domain import CATEGORIES
from logistics.persistence.bulk_repo import include_name
from logistics.persistence.db import alembic_config, get_engine
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


def _migrate(url: str, fn: Any, revision: str) -> None:
    cfg = alembic_config(url)
    with get_engine(url).begin() as conn:
        cfg.attributes["connection"] = conn
        fn(cfg, revision)


def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    with get_engine(url).connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def test_records_and_rollups_survive_the_migrations_both_ways(db_url: str) -> None:
    """Down to 0006 (before the partitions and the rollups) with records in, up again:
    every record kept with its id; the rollups made from the records already there."""
    _migrate(db_url, command.downgrade, "0006")
    with get_engine(db_url).begin() as conn:
        conn.execute(text(
            "INSERT INTO points (point_id, name, lon, lat, category, kg_per_visit, days_mask, "
            "tw_start_min, tw_end_min, service_min) VALUES "
            "('P1', 'p1', 113.9, 34.7, 'residual', 100, 127, 0, 1440, 3), "
            "('P2', 'p2', 113.9, 34.7, 'kitchen', 100, 21, 0, 1440, 3)"))
        conn.execute(text(
            "INSERT INTO collection_records (date, point_id, vehicle_id, kg) VALUES "
            "('2020-01-01', 'P1', 'V1', 10), ('2020-01-01', 'P1', 'V2', 5), "
            "('2020-01-31', 'P1', 'V1', 1.5), ('2020-02-29', 'P2', '', 7)"))
    records = "SELECT id, date, point_id, vehicle_id, kg FROM collection_records ORDER BY id"
    before = _rows(db_url, records)
    _migrate(db_url, command.upgrade, "head")
    assert _rows(db_url, records) == before
    rollups = _rows(db_url, "SELECT month, point_id, kg, records, day_bits FROM record_rollups "
                            "ORDER BY month, point_id")
    assert [(str(m)[:10], *rest) for m, *rest in rollups] == [
        ("2020-01-01", "P1", 16.5, 3, 1 | 1 << 30), ("2020-02-01", "P2", 7.0, 1, 1 << 28)]
    trucks = _rows(db_url, "SELECT date, vehicle_id, kg, records FROM truck_day_rollups "
                           "ORDER BY date, vehicle_id")
    assert [(v, kg, n) for _d, v, kg, n in trucks] == [
        ("V1", 10.0, 1), ("V2", 5.0, 1), ("V1", 1.5, 1), ("", 7.0, 1)]
    _migrate(db_url, command.downgrade, "0006")
    assert _rows(db_url, records) == before
    _migrate(db_url, command.upgrade, "head")
    assert _rows(db_url, records) == before
