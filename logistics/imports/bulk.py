"""Records CSV files in bulk on PostgreSQL: COPY, check each distinct cell, load.

The row-wise path (``reading`` -> ``validate`` -> ``repositories.bulk_upsert``) reads
every cell into Python; for ten million records that is most of the import. Here the
database reads the file: :func:`stage_records` sends each records CSV as it is to
``COPY`` into a text staging table, asks for the distinct cells of each column, and
checks those with the very parsers the row-wise path uses (``cells.date_iso``,
``cells.number``, ``cells.max_length``, the references to points and vehicles); the
stored value of each distinct cell comes from the same parse. ``bulk_repo`` then loads
the staged rows into month partitions.

The bulk path only accepts what the row-wise path accepts: anything it does not vouch
for (a problem in any cell, a blank or short row, a quoted field, an encoding other
than plain UTF-8/GB18030 text, a duplicate key refused by the database) makes
:func:`stage_records` answer ``None`` or the load raise ``BulkRefused``, and the import
runs the row-wise path, whose errors (``FILE:ROW: COLUMN: message (value)``) are the
ones users see. So errors are identical by construction, and nothing is written.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import re
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

#: numbers the database reads exactly as Python's float() does (correctly rounded)
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
#: COPY's end-of-data marker: a line that is only a backslash and a dot
_END_MARK = re.compile(r"(?:^|[\r\n])\\\.(?:[\r\n]|$)")


@dataclass(frozen=True)
class StagedRecords:
    stage: bulk_repo.Stage
    maps: list[bulk_repo.ColumnMap]
    months: list[dt.date]
    rows: int
    #: each file's stage columns and data rows, when they may be COPYed typed as they
    #: are (every cell in stored form, no other column); else empty
    files: list[tuple[list[str], bytes]]


def enabled(session: Session) -> bool:
    return bulk_repo.partitioned(session)


def _header(text: str) -> tuple[list[str], int] | None:
    """The first line's cells and where the data rows begin, or None when the header
    is not one plain line."""
    end = text.find("\n")
    if end < 0:
        return None
    first = text[:end].rstrip("\r")
    if '"' in first or "\r" in first:
        return None
    return next(csv.reader([first])), end + 1


def _copy_columns(header: list[str], extra_base: int) -> tuple[list[str], int] | None:
    """Stage column per header cell (records columns by name, others ``xN``), or None
    when the header lacks a required column or names one twice."""
    lookup = header_lookup("records")
    out: list[str] = []
    seen: set[str] = set()
    extra = extra_base
    for cell in header:
        name = lookup.get(normalise_header(cell))
        if name is None:
            out.append(f"x{extra}")
            extra += 1
        elif name in seen:
            return None
        else:
            seen.add(name)
            out.append(name)
    if any(col.required and col.name not in seen for col in COLUMNS["records"]):
        return None
    return out, extra


def stage_records(session: Session, files: Sequence[Path], points: set[str],
                  vehicles: set[str]) -> StagedRecords | None:
    """Stage and check records CSV files; None when the row-wise path must judge them."""
    texts: list[tuple[list[str], bytes]] = []
    extra = 0
    for path in files:
        if path.suffix.lower() != ".csv":
            return None
        text = decode(path.read_bytes(), str(path), ErrorLog())
        if text is None or '"' in text or ("\\." in text and _END_MARK.search(text)):
            return None
        head = _header(text)
        if head is None:
            return None
        cols = _copy_columns(head[0], extra)
        if cols is None:
            return None
        columns, extra = cols
        texts.append((columns, text[head[1]:].encode("utf-8")))
        del text
    stage = bulk_repo.create_stage(session, extra)
    rows = 0
    for columns, payload in texts:
        n = bulk_repo.copy_into_stage(session, stage, columns, payload)
        if n == 0:
            return None
        rows += n
    checked = _check(session, stage, points, vehicles)
    if checked is None:
        return None
    maps, months = checked
    log.info("staged %d records in %d file(s), months %s", rows, len(files),
             ", ".join(f"{m:%Y-%m}" for m in months))
    plain = all(m.pairs is None for m in maps) and all(
        sorted(columns) == sorted(bulk_repo.COLUMNS) for columns, _ in texts)
    return StagedRecords(stage, maps, months, rows, texts if plain else [])


def _distinct(session: Session, stage: bulk_repo.Stage,
              column: str) -> tuple[list[str], pd.Series]:
    """Distinct raw cells and the texts the row-wise reader makes of them."""
    raw = bulk_repo.distinct_texts(session, stage, column)
    clean = pd.Series([cell_text(r) for r in raw], dtype=object)
    return raw, clean


def _ok(msgs: np.ndarray) -> bool:
    return bool(pd.isna(np.asarray(msgs, dtype=object)).all())


def _check(session: Session, stage: bulk_repo.Stage, points: set[str],
           vehicles: set[str]) -> tuple[list[bulk_repo.ColumnMap], list[dt.date]] | None:
    """Each column's distinct cells through the row-wise checks: the column maps, the
    months present; None at the first problem."""
    maps: list[bulk_repo.ColumnMap] = []

    def identity(col: str, raw: list[str], stored: Sequence[object]) -> None:
        same = all(r == s for r, s in zip(raw, stored, strict=True))
        maps.append(bulk_repo.ColumnMap(col, None if same else list(zip(raw, stored,
                                                                        strict=True))))

    raw, clean = _distinct(session, stage, "date")
    if (clean == "").any():
        return None
    iso, msgs = c.date_iso(clean)
    if not _ok(msgs):
        return None
    identity("date", raw, list(iso))
    months = sorted({dt.date.fromisoformat(str(d)).replace(day=1) for d in iso})

    raw, clean = _distinct(session, stage, "point_id")
    if (clean == "").any() or not _ok(c.max_length(clean, ID_LEN)):
        return None
    if not set(clean) <= points:
        return None
    identity("point_id", raw, list(clean))

    raw, clean = _distinct(session, stage, "vehicle_id")
    if not _ok(c.max_length(clean, ID_LEN)):
        return None
    if not {v for v in clean if v != ""} <= vehicles:
        return None
    identity("vehicle_id", raw, list(clean))

    raw, clean = _distinct(session, stage, "kg")
    if (clean == "").any():
        return None
    kg, msgs = c.number(clean, min_value=0)
    if not _ok(msgs):
        return None
    castable = all(
        r == s and _DECIMAL.fullmatch(r) is not None and float(r) == v
        for r, s, v in zip(raw, clean, kg, strict=True)
    )
    maps.append(bulk_repo.ColumnMap(
        "kg", None if castable else [(r, float(v)) for r, v in zip(raw, kg, strict=True)]))
    return maps, months


def load(session: Session, staged: StagedRecords) -> bulk_repo.LoadCounts:
    """Write the staged records (raises ``bulk_repo.BulkRefused`` on a database
    refusal, e.g. a key twice in the files)."""
    return bulk_repo.load_records(session, staged.stage, staged.maps, staged.months,
                                  staged.rows, staged.files)
