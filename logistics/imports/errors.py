"""Collecting row errors, one by one or for a whole column at once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from logistics.domain import ImportRejected, RowError

#: at most this many errors of one kind (file, column, message) are kept; the rest are
#: summed up in one extra line, so a file with a million bad rows stays readable
MAX_PER_PROBLEM = 50


class ErrorLog:
    def __init__(self, files: Sequence[str] = ()) -> None:
        self.errors: list[RowError] = []
        self._seen: Counter[tuple[str, str, str]] = Counter()
        self._more: Counter[tuple[str, str, str]] = Counter()
        self._more_row: dict[tuple[str, str, str], int] = {}
        self._file_order = {f: i for i, f in enumerate(files)}

    def set_file_order(self, files: Sequence[str]) -> None:
        """Errors are listed file by file in this order (then by row)."""
        self._file_order = {f: i for i, f in enumerate(files)}

    def __bool__(self) -> bool:
        return bool(self.errors) or bool(self._more)

    def add(self, file: str, row: int, column: str, message: str, value: Any = "") -> None:
        key = (file, column, message)
        self._seen[key] += 1
        if self._seen[key] > MAX_PER_PROBLEM:
            self._more[key] += 1
            self._more_row.setdefault(key, row)
            return
        self.errors.append(RowError(file, int(row), column, message, _shown(value)))

    def add_mask(
        self,
        file: str,
        rows: np.ndarray | pd.Series,
        values: pd.Series | np.ndarray | None,
        mask: pd.Series | np.ndarray,
        column: str,
        message: str,
    ) -> None:
        """One error per row where ``mask`` is true (vectorised checks)."""
        m = np.asarray(mask, dtype=bool)
        if not m.any():
            return
        idx = np.flatnonzero(m)
        rows_a = np.asarray(rows)
        vals = np.asarray(values, dtype=object) if values is not None else None
        for i in idx[: MAX_PER_PROBLEM + 1]:
            self.add(file, int(rows_a[i]), column, message, "" if vals is None else vals[i])
        rest = len(idx) - (MAX_PER_PROBLEM + 1)
        if rest > 0:
            key = (file, column, message)
            self._more[key] += rest

    def add_messages(
        self,
        file: str,
        rows: np.ndarray | pd.Series,
        values: pd.Series,
        messages: np.ndarray | pd.Series,
        column: str,
    ) -> None:
        """Errors whose message varies per row: ``messages[i]`` is None where row i is fine."""
        msgs = pd.Series(np.asarray(messages, dtype=object))
        bad = msgs.notna().to_numpy()
        if not bad.any():
            return
        rows_a = np.asarray(rows)
        vals = np.asarray(values, dtype=object)
        for msg in pd.unique(msgs[bad]):
            m = bad & (msgs == msg).to_numpy()
            self.add_mask(file, rows_a, vals, m, column, str(msg))

    def rejected(self) -> ImportRejected:
        out = list(self.errors)
        for key, n in self._more.items():
            file, column, message = key
            row = self._more_row.get(key, max((e.row for e in out if e.file == file), default=1))
            out.append(
                RowError(
                    file,
                    row,
                    column,
                    f"{message}: {n} more row(s) like this / 另有 {n} 行同样问题",
                    "",
                )
            )
        order = self._file_order
        out.sort(key=lambda e: (order.get(e.file, len(order)), e.file, e.row))
        return ImportRejected(out)


def _shown(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float) and np.isnan(value):
        return ""
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."
