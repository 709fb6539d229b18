"""Queries and bulk writes. Repositories only flush; the caller owns the transaction.

Master data (depots, facilities, communities, vehicles, points: thousands of rows)
is upserted with SQLAlchemy Core ``INSERT ... ON CONFLICT DO UPDATE`` (PostgreSQL
and SQLite dialects). Records and tickets (hundreds of thousands of rows) go in bulk:
on PostgreSQL ``COPY`` into a temporary table, then one ``INSERT ... SELECT ... ON
CONFLICT DO UPDATE``; on SQLite one ``executemany`` of the same upsert.
"""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Table, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from logistics.persistence.models import (
    Base,
    CollectionRecord,
    Community,
    Compartment,
    Depot,
    Facility,
    Point,
    Ticket,
    Town,
    Vehicle,
)

log = logging.getLogger(__name__)

_CHUNK = 2000

#: import kind -> (table, key columns)
KIND_TABLES: dict[str, tuple[type[Base], tuple[str, ...]]] = {
    "depots": (Depot, ("depot_id",)),
    "facilities": (Facility, ("facility_id",)),
    "communities": (Community, ("community_id",)),
    "vehicles": (Vehicle, ("vehicle_id",)),
    "points": (Point, ("point_id",)),
    "records": (CollectionRecord, ("date", "point_id", "vehicle_id")),
    "tickets": (Ticket, ("facility_id", "ticket_no")),
}


def dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _table(model: type[Base]) -> Table:
    return model.__table__  # type: ignore[return-value]


def existing_ids(session: Session, model: type[Base], column: str) -> set[str]:
    """All values of one id column (master data: small)."""
    col = _table(model).c[column]
    return set(session.execute(select(col)).scalars())


def count_rows(session: Session, model: type[Base]) -> int:
    return int(session.execute(select(func.count()).select_from(_table(model))).scalar_one())


def _insert(session: Session, table: Table) -> Any:
    name = dialect(session)
    if name == "postgresql":
        return pg_insert(table)
    if name == "sqlite":
        return sqlite_insert(table)
    raise NotImplementedError(f"upsert not implemented for {name}")


def upsert(
    session: Session, model: type[Base], rows: Sequence[dict[str, Any]], keys: Sequence[str]
) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE every other given column."""
    if not rows:
        return
    table = _table(model)
    stmt = _insert(session, table)
    cols = [c for c in rows[0] if c not in keys]
    if cols:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys), set_={c: stmt.excluded[c] for c in cols}
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    for i in range(0, len(rows), _CHUNK):
        session.execute(stmt, list(rows[i : i + _CHUNK]))


def ensure_towns(session: Session, names: Iterable[str]) -> None:
    rows = [{"name": n} for n in sorted(set(names))]
    if not rows:
        return
    stmt = _insert(session, _table(Town)).on_conflict_do_nothing(index_elements=["name"])
    for i in range(0, len(rows), _CHUNK):
        session.execute(stmt, rows[i : i + _CHUNK])


def replace_compartments(
    session: Session, vehicle_ids: Sequence[str], rows: Sequence[dict[str, Any]]
) -> None:
    """The compartments of these vehicles become exactly ``rows``."""
    table = _table(Compartment)
    for i in range(0, len(vehicle_ids), 500):
        session.execute(delete(table).where(table.c.vehicle_id.in_(list(vehicle_ids[i : i + 500]))))
    for i in range(0, len(rows), _CHUNK):
        session.execute(table.insert(), list(rows[i : i + _CHUNK]))


def bulk_upsert(
    session: Session,
    model: type[Base],
    frame: pd.DataFrame,
    keys: Sequence[str],
    not_null_text: Sequence[str] = (),
) -> None:
    """Upsert a large frame whose columns are table columns, already in database
    text form (dates 'YYYY-MM-DD', datetimes 'YYYY-MM-DD HH:MM:SS', floats, None)."""
    if frame.empty:
        return
    session.flush()
    table = _table(model)
    cols = list(frame.columns)
    update = [c for c in cols if c not in keys]
    qcols = ", ".join(f'"{c}"' for c in cols)
    qkeys = ", ".join(f'"{c}"' for c in keys)
    qset = ", ".join(f'"{c}" = excluded."{c}"' for c in update)
    # rows that did not change are not rewritten (a re-import of the same file is cheap)
    differs = "IS DISTINCT FROM" if dialect(session) == "postgresql" else "IS NOT"
    qset += " WHERE " + " OR ".join(
        f'"{table.name}"."{c}" {differs} excluded."{c}"' for c in update
    )
    conn = session.connection()
    if dialect(session) == "postgresql":
        tmp = f"_import_{uuid.uuid4().hex[:10]}"
        raw = conn.connection.driver_connection
        with raw.cursor() as cur:  # type: ignore[union-attr]
            cur.execute(
                f'CREATE TEMP TABLE "{tmp}" ON COMMIT DROP AS '
                f'SELECT {qcols} FROM "{table.name}" WITH NO DATA'
            )
            force = ""
            if not_null_text:
                force = ", FORCE_NOT_NULL (" + ", ".join(f'"{c}"' for c in not_null_text) + ")"
            with cur.copy(f'COPY "{tmp}" ({qcols}) FROM STDIN (FORMAT csv{force})') as copy:
                step = 200_000
                for i in range(0, len(frame), step):
                    buf = io.StringIO()
                    frame.iloc[i : i + step].to_csv(buf, header=False, index=False)
                    copy.write(buf.getvalue())
            cur.execute(
                f'INSERT INTO "{table.name}" ({qcols}) SELECT {qcols} FROM "{tmp}" '
                f"ON CONFLICT ({qkeys}) DO UPDATE SET {qset}"
            )
            cur.execute(f'DROP TABLE "{tmp}"')
    else:
        placeholders = ", ".join("?" for _ in cols)
        sql = (
            f'INSERT INTO "{table.name}" ({qcols}) VALUES ({placeholders}) '
            f"ON CONFLICT ({qkeys}) DO UPDATE SET {qset}"
        )
        obj = frame.astype(object).where(frame.notna(), None)
        step = 100_000
        for i in range(0, len(obj), step):
            part = obj.iloc[i : i + step]
            conn.exec_driver_sql(sql, list(part.itertuples(index=False, name=None)))
    session.expire_all()


# ---------------------------------------------------------------- master data, read whole


def all_points(session: Session) -> list[Point]:
    return list(session.execute(select(Point).order_by(Point.point_id)).scalars())


def all_facilities(session: Session) -> list[Facility]:
    return list(session.execute(select(Facility).order_by(Facility.facility_id)).scalars())


def all_depots(session: Session) -> list[Depot]:
    return list(session.execute(select(Depot).order_by(Depot.depot_id)).scalars())


def all_vehicles(session: Session) -> list[Vehicle]:
    return list(session.execute(select(Vehicle).order_by(Vehicle.vehicle_id)).scalars())
