"""One JSON row through the importer: the same rules and messages as a CSV file.

The row is written as a one-row CSV (``<kind>.csv``, UTF-8) in a private temporary
folder and given to :func:`logistics.imports.import_paths`, which validates it
(cells, duplicates, references to the database) and upserts it in the request's
transaction. Row errors come back with ``file = "body"`` and ``row = 1``.
"""

from __future__ import annotations

import csv
import math
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from logistics.domain import ImportRejected, RowError
from logistics.imports import ImportReport, import_paths

BODY = "body"


def cell(value: Any) -> str:
    """A JSON value as the text of a spreadsheet cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return repr(value)
    if isinstance(value, list | tuple):
        return ";".join(cell(v) for v in value)
    if isinstance(value, dict):
        return ";".join(f"{k}:{cell(v)}" for k, v in value.items())
    return str(value)


def import_row(session: Session, kind: str, row: dict[str, Any]) -> ImportReport:
    """Validate and upsert one row of ``kind``; raises ImportRejected like a file would."""
    with tempfile.TemporaryDirectory(prefix="wasteroute-row-") as tmp:
        path = Path(tmp) / f"{kind}.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(list(row))
            writer.writerow([cell(v) for v in row.values()])
        try:
            return import_paths(session, [path], kind=kind)
        except ImportRejected as exc:
            raise ImportRejected([
                RowError(BODY if e.file == str(path) else e.file, max(1, e.row - 1), e.column,
                         e.message, e.value)
                for e in exc.errors
            ]) from None
