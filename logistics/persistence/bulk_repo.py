"""Collection records in bulk on PostgreSQL: a text staging table, month partitions.

``collection_records`` is partitioned by month of ``date`` (``collection_records_YYYY_MM``
plus ``collection_records_default`` for rows of a month that has no partition yet, such
as one record added through the API). A large import goes:

1. :func:`create_stage` + :func:`copy_into_stage`: the file's data rows, as text, by
   ``COPY`` into an UNLOGGED staging table (dropped again before the commit);
2. :func:`distinct_texts`: the distinct cells of a column (a year of records has a few
   hundred dates and some thousand points), which the importer checks with the same
   cell parsers as the row-wise path and maps to stored values (:class:`ColumnMap`);
3. :func:`load_records`: months without rows so far get new tables, filled by one
   ``INSERT ... SELECT`` (no index to maintain row by row), then attached as partitions,
   which builds their indexes by sorting and checks the foreign key in one query; months
   that already hold rows get ``INSERT ... ON CONFLICT DO UPDATE`` on the natural key.
   The rollups the metrics read (``record_rollups``, ``truck_day_rollups``) are kept by
   triggers of ``collection_records`` (migration 0008), which rows loaded into a table
   before it is attached never pass: each new month's rollup rows come from one GROUP
   BY of its partition; the upserted rows pass the triggers.

Any database error (a duplicate key, a row COPY cannot read) raises :class:`BulkRefused`
inside :func:`savepoint`, which rolls back to where the import began, so the caller can
check the files row by row instead. Everything runs in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

TABLE = "collection_records"
DEFAULT_PARTITION = f"{TABLE}_default"
#: names of the partitions (made by imports and by migration 0007, not by Alembic's
#: autogenerate, which therefore leaves them out: :func:`include_name`)
PARTITION_NAME = re.compile(rf"^{TABLE}_(\d{{4}}_\d{{2}}|default)$")
#: the stored columns of a record, without its id
COLUMNS = ("date", "point_id", "vehicle_id", "kg")
_CASTS = {"date": "date", "point_id": "varchar(64)", "vehicle_id": "varchar(64)",
          "kg": "double precision"}
#: bytes per COPY message
_CHUNK = 8 << 20


class BulkRefused(Exception):
    """The database refused a bulk step; the import rolled back to its savepoint."""


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic ``include_name`` hook: month partitions are not in the models."""
    return not (type_ == "table" and name is not None and PARTITION_NAME.match(name))


def partitioned(session: Session) -> bool:
    """Whether records live in month partitions here (PostgreSQL) and load in bulk."""
    return session.get_bind().dialect.name == "postgresql"


def partition_name(month: dt.date) -> str:
    return f"{TABLE}_{month:%Y_%m}"


def _run(cur: psycopg.Cursor[Any], stmt: str | sql.SQL | sql.Composed,
         params: Any = None) -> None:
    """Execute one statement, logging its wall time (the benchmark's breakdown)."""
    t = time.perf_counter()
    try:
        cur.execute(stmt, params)
    finally:
        if log.isEnabledFor(logging.DEBUG):
            text = stmt if isinstance(stmt, str) else stmt.as_string(cur)
            log.debug("%.2f s  %s", time.perf_counter() - t, text[:160])


def _raw(session: Session) -> psycopg.Connection[Any]:
    return session.connection().connection.driver_connection  # type: ignore[return-value]


@contextmanager
def savepoint(session: Session) -> Iterator[None]:
    """A savepoint: on a database error everything since is rolled back and
    :class:`BulkRefused` raised; other exceptions roll back and propagate."""
    session.flush()
    nested = session.begin_nested()
    try:
        yield
    except (psycopg.Error, DBAPIError) as exc:
        nested.rollback()
        session.expire_all()
        raise BulkRefused(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc
    except BaseException:
        nested.rollback()
        session.expire_all()
        raise
    nested.commit()
    session.expire_all()


# ---------------------------------------------------------------- staging


@dataclass(frozen=True)
class Stage:
    """An UNLOGGED table of text cells: one column per record column, ``x0``, ``x1``
    ... for a file's other columns."""

    name: str
    extra: int


def create_stage(session: Session, extra: int) -> Stage:
    stage = Stage(f"_records_stage_{uuid.uuid4().hex[:10]}", extra)
    cols = [sql.SQL("{} text NOT NULL DEFAULT ''").format(sql.Identifier(c)) for c in COLUMNS]
    cols += [sql.SQL("{} text").format(sql.Identifier(f"x{i}")) for i in range(extra)]
    with _raw(session).cursor() as cur:
        _run(cur, "SET LOCAL jit = off")
        _run(cur, sql.SQL("CREATE UNLOGGED TABLE {} ({})").format(
            sql.Identifier(stage.name), sql.SQL(", ").join(cols)))
    return stage


def copy_into_stage(session: Session, stage: Stage, columns: Sequence[str],
                    payload: bytes) -> int:
    """COPY CSV data rows (UTF-8, no header) whose fields are ``columns`` (names of
    the stage's columns, in the file's order); returns the number of rows."""
    with _raw(session).cursor() as cur:
        return _copy_csv(cur, sql.Identifier(stage.name), columns, payload)


def _chunks(payload: bytes) -> Iterator[memoryview]:
    view = memoryview(payload)
    for i in range(0, len(view), _CHUNK):
        yield view[i : i + _CHUNK]


def _numbered(payload: bytes, first_id: int) -> Iterator[bytes]:
    """CSV data rows with an id in front of each, numbered from ``first_id``."""
    pos, next_id = 0, first_id
    while pos < len(payload):
        end = payload.find(b"\n", pos + _CHUNK)
        end = len(payload) if end < 0 else end + 1
        lines = payload[pos:end].split(b"\n")
        if lines[-1] == b"":
            lines.pop()
        yield b"".join([b"%d,%b\n" % (i, line) for i, line in enumerate(lines, next_id)])
        next_id += len(lines)
        pos = end


def _reserve_ids(cur: psycopg.Cursor[Any], n: int) -> int:
    """Take ``n`` ids of the records' sequence at once; the first of them. (Another
    writer's id taken in between would clash on the primary key when the partitions are
    attached: the load is then refused and the import goes the row-wise way.)"""
    _run(cur, "SELECT setval(s, nextval(s) + %s - 1) FROM "
              "pg_get_serial_sequence(%s, 'id') AS s", (n, TABLE))
    return int(cur.fetchone()[0]) - n + 1  # type: ignore[index]


def _copy_csv(cur: psycopg.Cursor[Any], table: sql.Identifier, columns: Sequence[str],
              payload: bytes, first_id: int | None = None) -> int:
    """COPY CSV data rows into ``columns`` of ``table``; with ``first_id`` each row gets
    its id here, since a sequence default (volatile) makes COPY insert row by row
    instead of in batches (about 40 % of a typed COPY's time)."""
    known = [c for c in columns if c in COLUMNS]
    opts: sql.Composable = sql.SQL("FORMAT csv")
    if known:
        opts += sql.SQL(", FORCE_NOT_NULL ({})").format(
            sql.SQL(", ").join(map(sql.Identifier, known)))
    if first_id is not None:
        columns = ["id", *columns]
    stmt = sql.SQL("COPY {} ({}) FROM STDIN ({})").format(
        table, sql.SQL(", ").join(map(sql.Identifier, columns)), opts)
    chunks = _chunks(payload) if first_id is None else _numbered(payload, first_id)
    t = time.perf_counter()
    with cur.copy(stmt) as copy:
        for chunk in chunks:
            copy.write(chunk)
    log.debug("%.2f s  COPY %d rows into %s", time.perf_counter() - t, cur.rowcount,
              table.as_string(cur))
    return int(cur.rowcount)


def distinct_texts(session: Session, stage: Stage, column: str) -> list[str]:
    """Every distinct cell of one column of the stage."""
    with _raw(session).cursor() as cur:
        _run(cur, sql.SQL("SELECT DISTINCT {} FROM {}").format(
            sql.Identifier(column), sql.Identifier(stage.name)))
        return [r[0] for r in cur.fetchall()]


@dataclass(frozen=True)
class ColumnMap:
    """How a staged text column becomes its stored value: a plain cast where every cell
    is already in the stored form (``pairs`` None), else a lookup of each distinct text."""

    column: str
    pairs: Sequence[tuple[str, Any]] | None = None


def _value_exprs(cur: psycopg.Cursor[Any], stage: Stage,
                 maps: Sequence[ColumnMap]) -> tuple[list[sql.Composable], sql.Composable]:
    """The SELECT list (in :data:`COLUMNS` order) and FROM clause turning staged text
    into stored values; lookup tables are created (temporary) for mapped columns."""
    by_col = {m.column: m for m in maps}
    exprs: list[sql.Composable] = []
    source: sql.Composable = sql.SQL("{} s").format(sql.Identifier(stage.name))
    for col in COLUMNS:
        m = by_col.get(col)
        cast = sql.SQL(_CASTS[col])
        if m is None or m.pairs is None:
            exprs.append(sql.SQL("s.{}::{}").format(sql.Identifier(col), cast))
            continue
        table = sql.Identifier(f"{stage.name}_{col}")
        _run(cur, sql.SQL("CREATE TEMP TABLE {} (raw text PRIMARY KEY, val {}) "
                            "ON COMMIT DROP").format(table, cast))
        with cur.copy(sql.SQL("COPY {} (raw, val) FROM STDIN").format(table)) as copy:
            for raw, val in m.pairs:
                copy.write_row((raw, val))
        _run(cur, sql.SQL("ANALYZE {}").format(table))
        alias = sql.Identifier(f"m_{col}")
        source = sql.SQL("{} JOIN {} {} ON {}.raw = s.{}").format(
            source, table, alias, alias, sql.Identifier(col))
        exprs.append(sql.SQL("{}.val").format(alias))
    return exprs, source


# ---------------------------------------------------------------- loading


@dataclass(frozen=True)
class LoadCounts:
    inserted: int
    updated: int


def _month_after(month: dt.date) -> dt.date:
    return dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _bounds(month: dt.date) -> sql.Composable:
    return sql.SQL("FOR VALUES FROM ({}) TO ({})").format(
        sql.Literal(month.isoformat()), sql.Literal(_month_after(month).isoformat()))


def _exists(cur: psycopg.Cursor[Any], query: sql.Composable, *args: Any) -> bool:
    _run(cur, sql.SQL("SELECT EXISTS ({})").format(query), args)
    row = cur.fetchone()
    return bool(row and row[0])


def _partitions(cur: psycopg.Cursor[Any]) -> set[str]:
    _run(cur,
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = %s::regclass", (TABLE,))
    return {r[0] for r in cur.fetchall()}


def _split_from_default(cur: psycopg.Cursor[Any], month: dt.date) -> None:
    """Give ``month`` its own partition, moving its rows out of the default partition."""
    name = sql.Identifier(partition_name(month))
    lo, hi = month, _month_after(month)
    _run(cur, sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS)").format(
        name, sql.Identifier(TABLE)))
    _run(cur, sql.SQL("WITH moved AS (DELETE FROM {} WHERE date >= %s AND date < %s "
                        "RETURNING id, date, point_id, vehicle_id, kg) "
                        "INSERT INTO {} SELECT * FROM moved").format(
        sql.Identifier(DEFAULT_PARTITION), name), (lo, hi))
    _run(cur, sql.SQL("ALTER TABLE {} ATTACH PARTITION {} {}").format(
        sql.Identifier(TABLE), name, _bounds(month)))


def load_records(session: Session, stage: Stage, maps: Sequence[ColumnMap],
                 months: Sequence[dt.date], rows: int,
                 files: Sequence[tuple[Sequence[str], bytes]] = ()) -> LoadCounts:
    """Write every staged row (``rows`` of them, in ``months``, first days) into
    ``collection_records``; rows whose natural key exists update its kg.

    ``files`` (the staged files' columns and data rows again) may be given when every
    cell is already in stored form (no map) and the files have exactly the record
    columns: they are then COPYed typed, which costs the database less than casting
    the staged text."""
    with _raw(session).cursor() as cur:
        _run(cur, "SET LOCAL jit = off")
        _run(cur, "SET LOCAL maintenance_work_mem = '256MB'")
        # one bulk load at a time makes and attaches partitions
        _run(cur, "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.' || %s))",
             (TABLE,))
        have = _partitions(cur)
        new: list[dt.date] = []
        old: list[dt.date] = []
        for m in sorted(set(months)):
            name = partition_name(m)
            if name in have:
                old.append(m)
            elif _exists(cur, sql.SQL("SELECT 1 FROM {} WHERE date >= %s AND date < %s")
                         .format(sql.Identifier(DEFAULT_PARTITION)), m, _month_after(m)):
                _split_from_default(cur, m)
                old.append(m)
            else:
                new.append(m)
        exprs, source = _value_exprs(cur, stage, maps)
        loader = sql.Identifier(f"{stage.name}_load")
        rest = sql.Identifier(f"{stage.name}_rest")
        target = sql.Identifier(TABLE)
        _run(cur, sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS) "
                            "PARTITION BY RANGE (date)").format(loader, target))
        for m in new:
            part = sql.Identifier(partition_name(m))
            check = sql.Identifier(f"{partition_name(m)}_bounds")
            _run(cur, sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS, CONSTRAINT {} "
                                "CHECK (date >= {} AND date < {}))").format(
                part, target, check, sql.Literal(m.isoformat()),
                sql.Literal(_month_after(m).isoformat())))
            _run(cur, sql.SQL("ALTER TABLE {} ATTACH PARTITION {} {}").format(
                loader, part, _bounds(m)))
        _run(cur, sql.SQL("CREATE TABLE {} PARTITION OF {} DEFAULT").format(rest, loader))
        if files:
            first_id = _reserve_ids(cur, rows)
            loaded = 0
            for columns, payload in files:
                loaded += _copy_csv(cur, loader, columns, payload, first_id + loaded)
        else:
            cols = sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
            _run(cur, sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
                loader, cols, sql.SQL(", ").join(exprs), source))
            loaded = cur.rowcount
        if loaded != rows:
            raise BulkRefused(f"staged {rows} rows but {loaded} reached the table")
        for m in new:
            _roll_up(cur, sql.Identifier(partition_name(m)), m)
        for m in new:
            _run(cur, sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(
                loader, sql.Identifier(partition_name(m))))
        _run(cur, sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(loader, rest))
        _run(cur, sql.SQL("DROP TABLE {}").format(loader))
        for m in new:
            name = partition_name(m)
            # the CHECK constraint spares the attach a scan; the attach builds the
            # indexes (sorted) and checks the foreign key in one query
            _run(cur, sql.SQL("ALTER TABLE {} ATTACH PARTITION {} {}").format(
                target, sql.Identifier(name), _bounds(m)))
            _run(cur, sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                sql.Identifier(name), sql.Identifier(f"{name}_bounds")))
            # planner statistics now: autovacuum may be off, and would come later anyway
            _run(cur, sql.SQL("ANALYZE {}").format(sql.Identifier(name)))
        _run(cur, sql.SQL("SELECT count(*) FROM {}").format(rest))
        n_rest = int(cur.fetchone()[0])  # type: ignore[index]
        inserted = rows - n_rest
        if n_rest:
            inserted += _upsert(cur, rest, old)
        _run(cur, sql.SQL("DROP TABLE {}").format(rest))
        _run(cur, sql.SQL("DROP TABLE {}").format(sql.Identifier(stage.name)))
        _run(cur, "ANALYZE record_rollups, truck_day_rollups")
    return LoadCounts(inserted, rows - inserted)


def _roll_up(cur: psycopg.Cursor[Any], part: sql.Identifier, month: dt.date) -> None:
    """Add a month partition's rows, loaded before it is attached (so past the triggers
    that keep the rollups, migration 0008), to ``record_rollups`` and
    ``truck_day_rollups``: one GROUP BY each."""
    _run(cur, sql.SQL(
        "INSERT INTO record_rollups AS r (month, point_id, kg, records, day_bits) "
        "SELECT {m}, point_id, sum(kg), count(*), bit_or(1 << (date - {m})) "
        "FROM {p} GROUP BY point_id "
        "ON CONFLICT (month, point_id) DO UPDATE SET kg = r.kg + excluded.kg, "
        "records = r.records + excluded.records, day_bits = r.day_bits | excluded.day_bits"
    ).format(m=sql.Literal(month.isoformat()) + sql.SQL("::date"), p=part))
    _run(cur, sql.SQL(
        "INSERT INTO truck_day_rollups AS r (date, vehicle_id, kg, records) "
        "SELECT date, vehicle_id, sum(kg), count(*) FROM {p} GROUP BY date, vehicle_id "
        "ON CONFLICT (date, vehicle_id) DO UPDATE SET kg = r.kg + excluded.kg, "
        "records = r.records + excluded.records").format(p=part))


def _upsert(cur: psycopg.Cursor[Any], rest: sql.Identifier, months: Sequence[dt.date]) -> int:
    """Upsert the rows of ``rest`` (months that already hold rows); returns how many
    were new."""
    target = sql.Identifier(TABLE)
    where = sql.SQL(" OR ").join(
        sql.SQL("(date >= {} AND date < {})").format(
            sql.Literal(m.isoformat()), sql.Literal(_month_after(m).isoformat()))
        for m in months)
    count = sql.SQL("SELECT count(*) FROM {} WHERE {}").format(target, where)
    _run(cur, count)
    before = int(cur.fetchone()[0])  # type: ignore[index]
    cols = sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
    _run(cur, sql.SQL(
        "INSERT INTO {t} AS r ({c}) SELECT {c} FROM {rest} "
        "ON CONFLICT (date, point_id, vehicle_id) DO UPDATE SET kg = excluded.kg "
        "WHERE r.kg IS DISTINCT FROM excluded.kg").format(t=target, c=cols, rest=rest))
    _run(cur, count)
    return int(cur.fetchone()[0]) - before  # type: ignore[index]


def stage_names(session: Session) -> list[str]:
    """Staging tables left in the current schema (none after any import)."""
    with _raw(session).cursor() as cur:
        _run(cur, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                    "AND tablename LIKE '\\_records\\_stage\\_%%'")
        return [r[0] for r in cur.fetchall()]


def partitions_of_records(session: Session) -> list[str]:
    """The partitions of ``collection_records``, by name."""
    with _raw(session).cursor() as cur:
        return sorted(_partitions(cur))
