"""Honest periods: what a period covers, its label, and the periods a page offers.

A period counts only through the last day with collection records (or its own end, if
earlier): a period that is still running is *year (month) to date*, never a rate over
days that have not happened. The default periods are the newest complete month and
the year up to it (a complete year when that month is December).
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from typing import Any

from logistics.domain import BadInput
from logistics.persistence import reporting_repo
from logistics.persistence.db import Session


def month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


@dataclass(frozen=True)
class Covered:
    """A requested period [start, end] and the days of it that have data."""

    start: dt.date
    end: dt.date
    #: the newest day with collection records anywhere (None without records)
    last_data_day: dt.date | None

    @property
    def through(self) -> dt.date | None:
        """The last day counted: min(end, last data day); None when the period has no
        day with data (it starts after the data ends, or there is none)."""
        if self.last_data_day is None or self.last_data_day < self.start:
            return None
        return min(self.end, self.last_data_day)

    @property
    def complete(self) -> bool:
        return self.through == self.end

    @property
    def days(self) -> int:
        t = self.through
        return 0 if t is None else (t - self.start).days + 1

    @property
    def kind(self) -> str:
        """day, or year | month | period with ``_to_date`` while the data stops inside it."""
        s, e = self.start, self.end
        if s == e:
            return "day"
        if s == dt.date(s.year, 1, 1) and e == dt.date(s.year, 12, 31):
            base = "year"
        elif s == dt.date(s.year, 1, 1) and e.year == s.year and e == month_end(e):
            return "year_to_date"  # the year up to its newest complete month
        elif s.day == 1 and e == month_end(s):
            base = "month"
        else:
            base = "period"
        return base if self.complete or self.through is None else f"{base}_to_date"

    def label(self, lang: str) -> str:
        s, t = self.start, self.through
        k = self.kind
        if k.startswith("year"):
            name = f"{s.year}年" if lang == "zh" else f"{s.year}"
        elif k.startswith("month"):
            name = f"{s.year}年{s.month}月" if lang == "zh" else f"{s:%B %Y}"
        elif k == "day":
            name = s.isoformat()
        else:
            name = f"{s.isoformat()} — {self.end.isoformat()}"
        if t is None:
            return name + ("（无数据）" if lang == "zh" else " (no data)")
        if k.endswith("_to_date"):
            if k.startswith("year"):
                todate = "年初至今" if lang == "zh" else " year to date"
            elif k.startswith("month"):
                todate = "月初至今" if lang == "zh" else " month to date"
            else:
                todate = "" if lang == "zh" else ""
            through = f"（截至{t.isoformat()}）" if lang == "zh" else f" (through {t.isoformat()})"
            return name + todate + through
        return name

    def as_json(self) -> dict[str, Any]:
        t = self.through
        return {
            "from": self.start.isoformat(),
            "to": None if t is None else t.isoformat(),
            "days": self.days,
            "last_data_day": None if self.last_data_day is None else self.last_data_day.isoformat(),
            "complete": self.complete,
            "kind": self.kind,
            "label": {"zh": self.label("zh"), "en": self.label("en")},
        }


def covered(session: Session, start: dt.date, end: dt.date) -> Covered:
    return Covered(start, end, reporting_repo.last_record_day(session))


def newest_complete_month(last: dt.date) -> tuple[dt.date, dt.date]:
    """The newest month whose every day is at or before ``last``."""
    if last == month_end(last):
        return last.replace(day=1), last
    prev_end = last.replace(day=1) - dt.timedelta(days=1)
    return prev_end.replace(day=1), prev_end


def default_periods(last: dt.date | None, first: dt.date | None = None
                    ) -> dict[str, tuple[dt.date, dt.date]] | None:
    """``{"month": newest complete month, "year": its year up to that month}`` (the
    whole year when the month is December); when no month with data is complete yet
    (the data starts after the newest complete month), the running month and year, to
    date. None without data."""
    if last is None:
        return None
    m0, m1 = newest_complete_month(last)
    if first is not None and m1 < first:
        return {"month": (last.replace(day=1), month_end(last)),
                "year": (dt.date(last.year, 1, 1), dt.date(last.year, 12, 31))}
    return {"month": (m0, m1), "year": (dt.date(m1.year, 1, 1), m1)}


def data_bounds(session: Session) -> tuple[dt.date | None, dt.date | None]:
    """(first, last) day with collection records."""
    return reporting_repo.first_record_day(session), reporting_repo.last_record_day(session)


def offered_periods(last: dt.date | None, first: dt.date | None,
                    months: int = 12) -> list[dict[str, str]]:
    """The periods a page offers, newest first: the default year and month, the running
    year and month to date, every year and the last ``months`` complete months with
    data. Each is
    ``{"key": "FROM..TO", "from", "to", "kind"}``."""
    if last is None or first is None:
        return []
    out: list[tuple[dt.date, dt.date, str]] = []
    d = default_periods(last, first)
    assert d is not None
    out.append((*d["year"], "year"))
    out.append((*d["month"], "month"))
    running_year = (dt.date(last.year, 1, 1), dt.date(last.year, 12, 31))
    running_month = (last.replace(day=1), month_end(last))
    if last != running_year[1]:
        out.append((*running_year, "year_to_date"))
    if last != running_month[1]:
        out.append((*running_month, "month_to_date"))
    for y in range(last.year, first.year - 1, -1):
        out.append((dt.date(y, 1, 1), dt.date(y, 12, 31), "year"))
    m = d["month"][0]
    while m >= first.replace(day=1) and months > 0:
        months -= 1
        out.append((m, month_end(m), "month"))
        m = (m - dt.timedelta(days=1)).replace(day=1)
    seen: set[tuple[dt.date, dt.date]] = set()
    rows = []
    for a, b, k in out:
        if (a, b) in seen:
            continue
        seen.add((a, b))
        rows.append({"key": f"{a.isoformat()}..{b.isoformat()}", "from": a.isoformat(),
                     "to": b.isoformat(), "kind": k})
    return rows


def default_period(session: Session, which: str = "year") -> tuple[dt.date, dt.date]:
    """The default ``year`` or ``month`` (see :func:`default_periods`)."""
    first, last = data_bounds(session)
    d = default_periods(last, first)
    if d is None:
        raise BadInput("no collection records: give --from and --to / 没有收运记录，请指定 --from 和 --to")
    return d[which]
