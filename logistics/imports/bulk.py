"""Records CSV files in bulk on PostgreSQL: read once, check each distinct cell, load.

The row-wise path (``reading`` -> ``validate`` -> ``repositories.bulk_upsert``) turns
every cell into a Python object; for ten million records that is most of the import.
Here each file is tokenised by the very ``pandas.read_csv`` call the row-wise reader
makes, but into categorical columns: each column is a few hundred dates or some
thousand points plus one small integer code per row. The distinct cells are checked
with the row-wise path's own parsers (``cells.date_iso``, ``cells.number``,
``cells.max_length``, the references to points and vehicles), and the stored value of
each comes from that same parse. The rows, as columns of stored values sorted by their
natural key, go to ``bulk_repo``, which writes them by binary ``COPY``.

The bulk path only accepts what the row-wise path accepts: anything it does not vouch
for (a problem in any cell, a blank or ragged row, an XLSX file, a key given twice)
makes :func:`stage_records` answer ``None`` or the load raise ``BulkRefused``, and the
import runs the row-wise path, whose errors (``FILE:ROW: COLUMN: message (value)``)
are the ones users see. So errors are identical by construction, and nothing is
written.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from logistics.imports import cells as c
from logistics.imports.errors import ErrorLog
from logistics.imports.reading import cell_text, decode
from logistics.imports.schema import COLUMNS, header_lookup, normalise_header
from logistics.imports.validate import ID_LEN
from logistics.persistence import bulk_repo
from logistics.persistence.db import Session

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class StagedRecords:
    """Checked records held in memory, ready for :func:`load`."""

    batch: bulk_repo.RecordBatch

    @property
    def rows(self) -> int:
        return len(self.batch.kg)


@dataclass(frozen=True)
class _FileColumns:
    """One file's record columns: per column the codes of its rows (header row
    dropped) and the stored value of each code (checked)."""

    date: tuple[np.ndarray, np.ndarray]
    point_id: tuple[np.ndarray, list[str]]
    vehicle_id: tuple[np.ndarray, list[str]]
    kg: tuple[np.ndarray, np.ndarray]


def enabled(session: Session) -> bool:
    return bulk_repo.partitioned(session)


def _positions(header: list[str]) -> dict[str, int] | None:
    """Position of each record column in the header, or None when it lacks a required
    column or names one twice (the row-wise path reports that)."""
    lookup = header_lookup("records")
    out: dict[str, int] = {}
    for i, cell in enumerate(header):
        name = lookup.get(normalise_header(cell))
        if name is None:
            continue
        if name in out:
            return None
        out[name] = i
    if any(col.required and col.name not in out for col in COLUMNS["records"]):
        return None
    return out


#: rows tokenised at once: pandas' own chunks of a categorical read are merged by
#: index operations that cost more than the tokenising; ours are merged by codes
_READ_ROWS = 1 << 20

#: per record column: the codes of every row (header row first) and the raw cells
Cells = dict[str, tuple[np.ndarray, list[str]]]


def _cells(path: Path) -> tuple[Cells, int] | None:
    """The file tokenised as ``reading.read_csv`` does (all columns, so that a row
    longer than the header is seen), the record columns as codes of raw cells, and the
    number of data rows; None for anything unusual."""
    if path.suffix.lower() != ".csv":
        return None
    payload = path.read_bytes()
    if not payload.isascii() or b"\x00" in payload:
        # as the row-wise reader decodes it (UTF-8 with or without BOM, GB18030), then
        # UTF-8 for the tokeniser; plain ASCII (no NUL) is read as it is
        text = decode(payload, str(path), ErrorLog())
        if text is None:
            return None
        payload = text.encode("utf-8")
        del text
    try:
        header = next(csv.reader(io.TextIOWrapper(io.BytesIO(payload), encoding="utf-8",
                                                  newline="")))
    except (StopIteration, csv.Error):
        return None
    positions = _positions(header)
    if positions is None:
        return None
    parts: dict[str, list[np.ndarray]] = {name: [] for name in positions}
    raw: dict[str, dict[str, int]] = {name: {} for name in positions}
    try:
        with pd.read_csv(io.BytesIO(payload), header=None,
                         names=list(range(len(header))), dtype="category",
                         keep_default_na=False, na_filter=False, skip_blank_lines=False,
                         engine="c", encoding="utf-8", low_memory=False,
                         chunksize=_READ_ROWS) as reader:
            for chunk in reader:
                for name, pos in positions.items():
                    col, index = chunk[pos].cat, raw[name]
                    to_file = np.array([index.setdefault(r, len(index)) for r in
                                        col.categories.to_numpy(dtype=object).tolist()],
                                       dtype=np.int32)
                    parts[name].append(to_file[col.codes.to_numpy()])
    except (pd.errors.ParserError, ValueError):
        return None
    cells = {name: (np.concatenate(parts[name]), list(raw[name])) for name in positions}
    rows = len(cells["date"][0]) - 1
    return (cells, rows) if rows > 0 else None


def _column(cells: Cells, rows: int, name: str) -> tuple[np.ndarray, pd.Series]:
    """A column's codes per data row and the texts the row-wise reader makes of each
    code's cell (None for codes no data row uses, e.g. the header's)."""
    if name not in cells:  # an optional column the file lacks: every cell empty
        return np.zeros(rows, dtype=np.int8), pd.Series([""], dtype=object)
    all_codes, values = cells[name]
    codes = all_codes[1:]
    used = np.bincount(codes, minlength=len(values)) > 0
    clean = pd.Series([cell_text(r) if u else None for r, u in zip(values, used, strict=True)],
                      dtype=object)
    return codes, clean


def _ok(msgs: np.ndarray) -> bool:
    return bool(pd.isna(np.asarray(msgs, dtype=object)).all())


def _check_file(cells: Cells, rows: int, points: set[str],
                vehicles: set[str]) -> _FileColumns | None:
    """Each column's distinct cells through the row-wise checks; None at the first
    problem."""
    codes, clean = _column(cells, rows, "date")
    live = clean.dropna()
    if (live == "").any():
        return None
    iso, msgs = c.date_iso(live)
    if not _ok(msgs):
        return None
    days = np.zeros(len(clean), dtype="datetime64[D]")
    days[live.index.to_numpy()] = np.asarray(list(iso), dtype="datetime64[D]")
    date = (codes, days)

    codes, clean = _column(cells, rows, "point_id")
    live = clean.dropna()
    if (live == "").any() or not _ok(c.max_length(live, ID_LEN)) or not set(live) <= points:
        return None
    point = (codes, [str(v) if v is not None else "" for v in clean])

    codes, clean = _column(cells, rows, "vehicle_id")
    live = clean.dropna()
    if not _ok(c.max_length(live, ID_LEN)) or not {v for v in live if v != ""} <= vehicles:
        return None
    vehicle = (codes, [str(v) if v is not None else "" for v in clean])

    codes, clean = _column(cells, rows, "kg")
    live = clean.dropna()
    if (live == "").any():
        return None
    kg, msgs = c.number(live, min_value=0)
    if not _ok(msgs):
        return None
    values = np.zeros(len(clean), dtype=np.float64)
    values[live.index.to_numpy()] = np.asarray(kg, dtype=np.float64)
    return _FileColumns(date, point, vehicle, (codes, values))


def _global(parts: Sequence[tuple[np.ndarray, list[str]]]) -> tuple[np.ndarray, list[str]]:
    """Codes of several files' text columns as indices into one sorted table."""
    table = sorted({v for codes, values in parts for v in np.asarray(values, dtype=object)[
        np.flatnonzero(np.bincount(codes, minlength=len(values)))]})
    index = {v: i for i, v in enumerate(table)}
    out = [np.asarray([index.get(v, 0) for v in values], dtype=np.int32)[codes]
           for codes, values in parts]
    return np.concatenate(out), table


def stage_records(session: Session, files: Sequence[Path], points: set[str],
                  vehicles: set[str]) -> StagedRecords | None:
    """Read and check records CSV files; None when the row-wise path must judge them.
    (Nothing is written: the session only says which database this is.)"""
    checked: list[_FileColumns] = []
    for path in files:
        read = _cells(path)
        if read is None:
            return None
        cols = _check_file(*read, points, vehicles)
        del read
        if cols is None:
            return None
        checked.append(cols)
    date = np.concatenate([f.date[1][f.date[0]] for f in checked])
    kg = np.concatenate([f.kg[1][f.kg[0]] for f in checked])
    point, point_ids = _global([f.point_id for f in checked])
    vehicle, vehicle_ids = _global([f.vehicle_id for f in checked])
    order = _key_order(date, point, vehicle)
    if order is None:
        return None
    if order is not True:
        date, point, vehicle, kg = date[order], point[order], vehicle[order], kg[order]
    log.info("read %d records in %d file(s)", len(kg), len(files))
    return StagedRecords(bulk_repo.RecordBatch(date, point, point_ids, vehicle, vehicle_ids,
                                               kg))


def _key_order(date: np.ndarray, point: np.ndarray,
               vehicle: np.ndarray) -> np.ndarray | bool | None:
    """True when the rows are in natural-key order already, else the order that sorts
    them; None when a key is given twice (the row-wise path names the rows). Sorted
    rows make the database's index builds a pass instead of a sort."""
    day = date.astype(np.int64)
    day -= day.min()
    n_p, n_v = int(point.max()) + 1, int(vehicle.max()) + 1
    if (int(day.max()) + 1) * n_p * n_v < 1 << 62:
        key = (day * n_p + point) * n_v + vehicle
        step = np.diff(key)
        if (step > 0).all():
            return True
        order = np.argsort(key, kind="stable")
        if not (np.diff(key[order]) > 0).all():
            return None
        return order
    order = np.lexsort((vehicle, point, day))
    d, p, v = day[order], point[order], vehicle[order]
    if ((d[1:] == d[:-1]) & (p[1:] == p[:-1]) & (v[1:] == v[:-1])).any():
        return None
    return order


def load(session: Session, staged: StagedRecords) -> bulk_repo.LoadCounts:
    """Write the checked records (raises ``bulk_repo.BulkRefused`` on a database
    refusal)."""
    return bulk_repo.load_records(session, staged.batch)
