"""Collection records in bulk on PostgreSQL: binary COPY into month partitions.

``collection_records`` is partitioned by month of ``date`` (``collection_records_YYYY_MM``
plus ``collection_records_default`` for rows of a month that has no partition yet, such
as one record added through the API). The importer (``imports.bulk``) reads and checks
a file itself and hands over a :class:`RecordBatch`, columns of stored values sorted by
the natural key; :func:`load_records` writes it:

1. months without rows so far get new tables, each filled by one binary ``COPY ...
   FREEZE`` (no text for the database to parse, no staging table, no index to keep up
   row by row), given their keys (two index builds over rows already in key order),
   analysed, then attached as partitions, which checks the foreign key in one query;
2. their rollup rows (``record_rollups``, ``truck_day_rollups``, migration 0008) are
   worked out from the batch with numpy and COPYed in: rows loaded before the attach
   pass no trigger of the parent;
3. rows of months that already hold rows go through a temporary table and ``INSERT ...
   ON CONFLICT DO UPDATE`` on the natural key, whose triggers keep the rollups.

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

import numpy as np
import psycopg
from psycopg import sql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from logistics.persistence.reporting_repo import month_after

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


# ---------------------------------------------------------------- binary COPY


@dataclass(frozen=True)
class RecordBatch:
    """Records as columns of stored values, sorted by the natural key (date, point_id,
    vehicle_id), each key once: ``point`` and ``vehicle`` index ``point_ids`` and
    ``vehicle_ids`` (each sorted)."""

    date: np.ndarray  # datetime64[D]
    point: np.ndarray
    point_ids: Sequence[str]
    vehicle: np.ndarray
    vehicle_ids: Sequence[str]
    kg: np.ndarray


_PG_EPOCH = np.datetime64("2000-01-01", "D")
_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
#: rows per piece of a binary COPY built at once (bounds the index arrays' memory)
_PIECE_ROWS = 1 << 18


def _pg_days(date: np.ndarray) -> np.ndarray:
    """Dates as PostgreSQL's binary ``date``: days since 2000-01-01."""
    return (date.astype("datetime64[D]") - _PG_EPOCH).astype(">i4")


def _binary_rows(fixed: Sequence[np.ndarray],
                 texts: Sequence[tuple[np.ndarray, _Texts]]) -> Iterator[bytes]:
    """Rows in PostgreSQL's binary COPY format (header and trailer included): the
    ``fixed`` columns (numpy arrays) first, then the ``texts`` (codes into encoded
    values), in this order. Built with numpy, no Python object per row: rows of one
    combination of text lengths share a layout (a structured array); several layouts
    are put back into row order by their byte offsets."""
    yield _HEADER
    n = len(fixed[0])
    lengths = [table.lengths for _, table in texts]
    tables = [table.values for _, table in texts]
    head: list[tuple[str, Any]] = [("n", ">i2")]
    for i, col in enumerate(fixed):
        head += [(f"l{i}", ">i4"), (f"f{i}", col.dtype.newbyteorder(">"))]
    fixed_len = 2 + sum(4 + col.dtype.itemsize for col in fixed) + 4 * len(texts)
    for lo in range(0, n, _PIECE_ROWS):
        hi = min(n, lo + _PIECE_ROWS)
        lens = np.stack([ln[codes[lo:hi]] for (codes, _), ln in zip(texts, lengths,
                                                                    strict=True)], axis=1)
        # one number per combination of text lengths
        combo = lens @ np.cumprod([1] + [int(ln.max(initial=0)) + 1 for ln in lengths[:-1]])
        if (combo == combo[0]).all():
            kinds, which = lens[:1], np.zeros(hi - lo, dtype=np.int64)
        else:
            _, first, which = np.unique(combo, return_index=True, return_inverse=True)
            kinds, which = lens[first], which.reshape(-1)
        out = offsets = None
        if len(kinds) > 1:
            row_len = fixed_len + lens.sum(axis=1)
            offsets = np.concatenate(([0], np.cumsum(row_len)[:-1]))
            out = np.empty(int(row_len.sum()), dtype=np.uint8)
        for k, kind in enumerate(kinds):
            rows = np.arange(lo, hi) if out is None else lo + np.flatnonzero(which == k)
            layout: list[tuple[str, Any]] = list(head)
            for j, width in enumerate(kind):
                layout.append((f"m{j}", ">i4"))
                if width:  # an empty text is its length alone
                    layout.append((f"t{j}", f"S{int(width)}"))
            arr = np.empty(len(rows), dtype=np.dtype(layout))
            arr["n"] = len(fixed) + len(texts)
            for i, col in enumerate(fixed):
                arr[f"l{i}"] = col.dtype.itemsize
                arr[f"f{i}"] = col[rows]
            for j, ((codes, _), table) in enumerate(zip(texts, tables, strict=True)):
                arr[f"m{j}"] = int(kind[j])
                if kind[j]:
                    arr[f"t{j}"] = table[codes[rows]]
            if out is None:
                yield arr.tobytes()
                continue
            assert offsets is not None
            at = offsets[rows - lo][:, None] + np.arange(arr.dtype.itemsize)
            out[at] = arr.view(np.uint8).reshape(len(rows), arr.dtype.itemsize)
        if out is not None:
            yield out.tobytes()
    yield b"\xff\xff"


def _copy_binary(cur: psycopg.Cursor[Any], table: sql.Composable, columns: Sequence[str],
                 pieces: Iterator[bytes], freeze: bool = False) -> int:
    """COPY binary rows into ``columns`` of ``table``; FREEZE for a table created in
    this (sub)transaction: its rows are written frozen and all-visible, so no later
    read or VACUUM rewrites them for hint bits and index-only scans work at once."""
    opts = sql.SQL("FORMAT binary, FREEZE") if freeze else sql.SQL("FORMAT binary")
    stmt = sql.SQL("COPY {} ({}) FROM STDIN ({})").format(
        table, sql.SQL(", ").join(map(sql.Identifier, columns)), opts)
    t = time.perf_counter()
    with cur.copy(stmt) as copy:
        for piece in pieces:
            view = memoryview(piece)
            for i in range(0, len(view), _CHUNK):
                copy.write(view[i : i + _CHUNK])
    log.debug("%.2f s  COPY %d rows into %s", time.perf_counter() - t, cur.rowcount,
              table.as_string(cur))
    return int(cur.rowcount)


def _reserve_ids(cur: psycopg.Cursor[Any], n: int) -> int:
    """Take ``n`` ids of the records' sequence at once; the first of them. (A sequence
    default is volatile, and a volatile default makes COPY insert row by row instead of
    in batches; another writer's id taken in between would clash on the primary key
    when the partition is attached: the load is then refused and the import goes the
    row-wise way.)"""
    _run(cur, "SELECT setval(s, nextval(s) + %s - 1) FROM "
              "pg_get_serial_sequence(%s, 'id') AS s", (n, TABLE))
    return int(cur.fetchone()[0]) - n + 1  # type: ignore[index]


@dataclass(frozen=True)
class _Texts:
    """Distinct texts encoded once: UTF-8 bytes (NUL-padded) and their lengths."""

    values: np.ndarray
    lengths: np.ndarray


def _encoded(values: Sequence[str]) -> _Texts:
    raw = [v.encode("utf-8") for v in values]
    lengths = np.fromiter(map(len, raw), np.int64, len(raw))
    return _Texts(np.asarray(raw, dtype=f"S{max(1, int(lengths.max(initial=0)))}"), lengths)


# ---------------------------------------------------------------- loading


@dataclass(frozen=True)
class LoadCounts:
    inserted: int
    updated: int


def _bounds(month: dt.date) -> sql.Composable:
    return sql.SQL("FOR VALUES FROM ({}) TO ({})").format(
        sql.Literal(month.isoformat()), sql.Literal(month_after(month).isoformat()))


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
    lo, hi = month, month_after(month)
    _run(cur, sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS)").format(
        name, sql.Identifier(TABLE)))
    _run(cur, sql.SQL("WITH moved AS (DELETE FROM {} WHERE date >= %s AND date < %s "
                        "RETURNING id, date, point_id, vehicle_id, kg) "
                        "INSERT INTO {} SELECT * FROM moved").format(
        sql.Identifier(DEFAULT_PARTITION), name), (lo, hi))
    _run(cur, sql.SQL("ALTER TABLE {} ATTACH PARTITION {} {}").format(
        sql.Identifier(TABLE), name, _bounds(month)))


def load_records(session: Session, batch: RecordBatch) -> LoadCounts:
    """Write the batch into ``collection_records``; rows whose natural key exists
    update its kg.

    Each month without rows so far gets a new table, filled by one binary ``COPY
    FREEZE`` (rows in key order with ids in that order), its keys added (two index
    builds over sorted rows), ``ANALYZE``d, and attached as a partition, which takes
    those keys as the partitioned table's and checks the foreign key in one query. Its
    rollup rows, worked out here from the same columns, are COPYed into the rollup
    tables (rows loaded before the attach pass no trigger of the parent). Rows of months
    that hold rows are upserted (through the triggers)."""
    n = len(batch.kg)
    month = batch.date.astype("datetime64[M]")
    months = _runs(month)
    cuts = np.searchsorted(month, months, side="left").tolist() + [n]
    with _raw(session).cursor() as cur:
        _run(cur, "SET LOCAL jit = off")
        _run(cur, "SET LOCAL maintenance_work_mem = '256MB'")
        # the work in this backend (a shared two-core machine gains nothing from
        # workers, and a worker's CPU would escape the import's own measure)
        _run(cur, "SET LOCAL max_parallel_maintenance_workers = 0")
        _run(cur, "SET LOCAL max_parallel_workers_per_gather = 0")
        # one bulk load at a time makes and attaches partitions
        _run(cur, "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.' || %s))",
             (TABLE,))
        have = _partitions(cur)
        new_rows = np.zeros(n, dtype=bool)
        old: list[tuple[dt.date, int, int]] = []
        new: list[tuple[dt.date, int, int]] = []
        for i, m64 in enumerate(months):
            m = dt.date.fromisoformat(str(m64) + "-01")
            span = (m, cuts[i], cuts[i + 1])
            if partition_name(m) in have:
                old.append(span)
            elif _exists(cur, sql.SQL("SELECT 1 FROM {} WHERE date >= %s AND date < %s")
                         .format(sql.Identifier(DEFAULT_PARTITION)), m, month_after(m)):
                _split_from_default(cur, m)
                old.append(span)
            else:
                new.append(span)
                new_rows[cuts[i]:cuts[i + 1]] = True
        points, vehicles = _encoded(batch.point_ids), _encoded(batch.vehicle_ids)
        n_new = int(new_rows.sum())
        first_id = _reserve_ids(cur, n_new) if n_new else 0
        loaded = 0
        for m, lo, hi in new:
            ids = np.arange(first_id + loaded, first_id + loaded + hi - lo, dtype=np.int64)
            loaded += _new_month(cur, m, ids, batch, lo, hi, points, vehicles)
        if loaded != n_new:
            raise BulkRefused(f"{n_new} rows of new months but {loaded} reached the table")
        if n_new:
            _roll_up(cur, batch, new_rows, points, vehicles)
        inserted = n_new
        if old:
            rest = sql.Identifier(f"_records_rest_{uuid.uuid4().hex[:10]}")
            _run(cur, sql.SQL("CREATE TEMP TABLE {} (date date NOT NULL, point_id varchar(64) "
                                "NOT NULL, vehicle_id varchar(64) NOT NULL, kg double "
                                "precision NOT NULL) ON COMMIT DROP").format(rest))
            take = np.concatenate([np.arange(lo, hi) for _, lo, hi in old])
            _copy_binary(cur, rest, ["date", "kg", "point_id", "vehicle_id"], _binary_rows(
                [_pg_days(batch.date[take]), batch.kg[take].astype(">f8")],
                [(batch.point[take], points), (batch.vehicle[take], vehicles)]))
            inserted += _upsert(cur, rest, [m for m, _, _ in old])
            _run(cur, sql.SQL("DROP TABLE {}").format(rest))
        _run(cur, "ANALYZE record_rollups, truck_day_rollups")
    return LoadCounts(inserted, n - inserted)


def _new_month(cur: psycopg.Cursor[Any], month: dt.date, ids: np.ndarray, batch: RecordBatch,
               lo: int, hi: int, points: _Texts, vehicles: _Texts) -> int:
    """Rows ``lo:hi`` of the batch (one month that has no rows yet) as its partition."""
    name = partition_name(month)
    part, target = sql.Identifier(name), sql.Identifier(TABLE)
    check = sql.Identifier(f"{name}_bounds")
    _run(cur, sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS, CONSTRAINT {} "
                        "CHECK (date >= {} AND date < {}))").format(
        part, target, check, sql.Literal(month.isoformat()),
        sql.Literal(month_after(month).isoformat())))
    n = _copy_binary(cur, part, ["id", "date", "kg", "point_id", "vehicle_id"], _binary_rows(
        [ids.astype(">i8"), _pg_days(batch.date[lo:hi]), batch.kg[lo:hi].astype(">f8")],
        [(batch.point[lo:hi], points), (batch.vehicle[lo:hi], vehicles)]), freeze=True)
    # the keys the partitioned table's are made of (names as PostgreSQL gives them to a
    # partition it creates), built over rows already in their order
    _run(cur, sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY (id, date), "
                        "ADD CONSTRAINT {} UNIQUE (date, point_id, vehicle_id)").format(
        part, sql.Identifier(f"{name}_pkey"),
        sql.Identifier(f"{name}_date_point_id_vehicle_id_key")))
    # planner statistics now (autovacuum may be off), also for the foreign key's check
    _run(cur, sql.SQL("ANALYZE {}").format(part))
    # the CHECK constraint spares the attach a scan of the partition
    _run(cur, sql.SQL("ALTER TABLE {} ATTACH PARTITION {} {}").format(
        target, part, _bounds(month)))
    _run(cur, sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(part, check))
    return n


def _runs(sorted_values: np.ndarray) -> np.ndarray:
    """The distinct values of a sorted array (no sort needed)."""
    first = np.ones(len(sorted_values), dtype=bool)
    first[1:] = sorted_values[1:] != sorted_values[:-1]
    return sorted_values[first]


def _per_period_and_id(period: np.ndarray, periods: np.ndarray, ids: np.ndarray, n_ids: int,
                       kg: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's group (its period among the sorted ``periods`` x its id), and the
    records and kg of every group, empty groups included."""
    group = np.searchsorted(periods, period) * n_ids + ids
    size = len(periods) * n_ids
    return (group, np.bincount(group, minlength=size),
            np.bincount(group, weights=kg, minlength=size))


def _roll_up(cur: psycopg.Cursor[Any], batch: RecordBatch, rows: np.ndarray,
             points: _Texts, vehicles: _Texts) -> None:
    """The rollup rows (migration 0008) of the batch's ``rows`` (months that had no
    rows, so no rollup rows either), COPYed in: per point and month kg, records and a
    bit per day; per truck and day kg and records."""
    date, point, vehicle = batch.date[rows], batch.point[rows], batch.vehicle[rows]
    kg = batch.kg[rows]
    month = date.astype("datetime64[M]")
    months = _runs(month)
    n_p = len(batch.point_ids)
    group, records, kg_sum = _per_period_and_id(month, months, point, n_p, kg)
    # one bit per (day, point): rows are in key order, so a day's rows of a point follow
    # each other
    first = np.ones(len(date), dtype=bool)
    first[1:] = (date[1:] != date[:-1]) | (point[1:] != point[:-1])
    day = (date - month.astype("datetime64[D]")).astype(np.int64)
    bits = np.bincount(group[first], weights=np.left_shift(1, day[first]).astype(np.float64),
                       minlength=len(records))
    keep = np.flatnonzero(records)
    _copy_binary(cur, sql.Identifier("record_rollups"),
                 ["month", "kg", "records", "day_bits", "point_id"], _binary_rows(
        [_pg_days(months[keep // n_p].astype("datetime64[D]")), kg_sum[keep].astype(">f8"),
         records[keep].astype(">i4"), bits[keep].astype(">i4")],
        [(keep % n_p, points)]))
    days = _runs(date)
    n_v = len(batch.vehicle_ids)
    _, records, kg_sum = _per_period_and_id(date, days, vehicle, n_v, kg)
    keep = np.flatnonzero(records)
    _copy_binary(cur, sql.Identifier("truck_day_rollups"),
                 ["date", "kg", "records", "vehicle_id"], _binary_rows(
        [_pg_days(days[keep // n_v]), kg_sum[keep].astype(">f8"), records[keep].astype(">i4")],
        [(keep % n_v, vehicles)]))


def _upsert(cur: psycopg.Cursor[Any], rest: sql.Identifier, months: Sequence[dt.date]) -> int:
    """Upsert the rows of ``rest`` (months that already hold rows); returns how many
    were new."""
    target = sql.Identifier(TABLE)
    where = sql.SQL(" OR ").join(
        sql.SQL("(date >= {} AND date < {})").format(
            sql.Literal(m.isoformat()), sql.Literal(month_after(m).isoformat()))
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
