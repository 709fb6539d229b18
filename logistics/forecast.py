"""Expected kg per point and day from collection records (issue 7; docs/operations.md).

Model, per point ``p`` and day ``D`` (history strictly before ``D``):

    kg(p, D) = level(p) * gap(p, D) * weekday(c, D) * festival(D) * holiday(c, D)

* ``gap(p, D)``: days of waste a visit on D picks up by the point's schedule
  (a Monday visit of a ``1;3;5`` point collects 3 days: Fri, Sat, Sun);
* ``weekday(c, w)``: the category's ISO-weekday profile, from the last
  ``profile_days`` (56) of records, after removing gaps and festival factors;
* ``festival(D)``: the Spring Festival (春节) peak and drop, by days from the
  lunar new year: the 10 days before (shopping and cleaning) x1.15, 除夕..初七
  x0.85, 初八..元宵 x1.08 - estimated from the previous year's records around its
  festival when they exist, these defaults otherwise;
* ``holiday(c, D)``: other statutory holidays (``chinese_calendar`` finds them); the
  factor per category is meant to be the mean ratio actual / expected on such days
  in the last year, but that estimate is NOT implemented yet: it is 1 (issue 7);
* ``level(p)``: recency-weighted mean (half-life 14 days, last ``level_days``
  = 28) of the visits with all the factors above divided out - this follows a
  trend (and a community starting source separation) within about two weeks.

Points with fewer than ``min_visits`` (3) records in the level window fall back
to ``kg_per_visit``. ``safety_margin`` (env ``WASTEROUTE_FORECAST_MARGIN``,
fraction, default 0) is added on top for planning.

The baseline for the backtest is the naive same-weekday forecast: the kg of the
same point 7 days earlier (``kg_per_visit`` when there is none).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from logistics.persistence.models import CollectionRecord, Point

log = logging.getLogger(__name__)

#: 春节 (lunar new year, 初一) per year
LUNAR_NEW_YEAR = {
    2016: dt.date(2016, 2, 8), 2017: dt.date(2017, 1, 28), 2018: dt.date(2018, 2, 16),
    2019: dt.date(2019, 2, 5), 2020: dt.date(2020, 1, 25), 2021: dt.date(2021, 2, 12),
    2022: dt.date(2022, 2, 1), 2023: dt.date(2023, 1, 22), 2024: dt.date(2024, 2, 10),
    2025: dt.date(2025, 1, 29), 2026: dt.date(2026, 2, 17), 2027: dt.date(2027, 2, 6),
    2028: dt.date(2028, 1, 26), 2029: dt.date(2029, 2, 13), 2030: dt.date(2030, 2, 3),
}
#: (first offset, last offset, default factor) of the festival windows
FESTIVAL_WINDOWS = ((-11, -2, 1.15), (-1, 6, 0.85), (7, 14, 1.08))
MARGIN_ENV = "WASTEROUTE_FORECAST_MARGIN"


def safety_margin(value: float | None = None) -> float:
    """The fraction added to forecasts for planning (option, else env, else 0)."""
    if value is not None:
        return float(value)
    try:
        return max(0.0, float(os.environ.get(MARGIN_ENV, "0") or 0))
    except ValueError:
        log.warning("%s is not a number; no safety margin", MARGIN_ENV)
        return 0.0


def festival_window(day: dt.date) -> int | None:
    """Index into FESTIVAL_WINDOWS of ``day``, or None."""
    for year in (day.year, day.year + 1):
        lny = LUNAR_NEW_YEAR.get(year)
        if lny is None:
            continue
        off = (day - lny).days
        for i, (lo, hi, _) in enumerate(FESTIVAL_WINDOWS):
            if lo <= off <= hi:
                return i
    return None


def is_public_holiday(day: dt.date) -> bool:
    """A statutory holiday other than the Spring Festival (chinese_calendar)."""
    try:
        import chinese_calendar
        on, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:  # year not covered by the package
        return False
    return bool(on and name and name != "Spring Festival")


def gaps(days_mask: int) -> np.ndarray:
    """Days of waste collected per ISO weekday (index 0 = Monday); 0 = no visit."""
    wds = [w for w in range(1, 8) if days_mask & (1 << (w - 1))]
    out = np.zeros(7)
    for i, w in enumerate(wds):
        prev = wds[i - 1] if i else wds[-1] - 7
        out[w - 1] = w - prev
    return out


@dataclass
class History:
    """Records and points as frames (one load for many forecasts)."""

    records: pd.DataFrame  # date (datetime64), point_id, kg
    points: pd.DataFrame  # index point_id: category, kg_per_visit, days_mask

    @classmethod
    def load(cls, session: Session, start: dt.date, end: dt.date) -> History:
        rows = session.execute(
            select(CollectionRecord.date, CollectionRecord.point_id, CollectionRecord.kg)
            .where(CollectionRecord.date >= start, CollectionRecord.date < end)).all()
        rec = pd.DataFrame(rows, columns=["date", "point_id", "kg"])
        rec["date"] = pd.to_datetime(rec["date"])
        rec["kg"] = rec["kg"].astype(float)
        rec = pd.DataFrame(rec.groupby(["date", "point_id"], as_index=False)["kg"].sum())
        prow = session.execute(select(Point.point_id, Point.category, Point.kg_per_visit,
                                      Point.days_mask)).all()
        pts = pd.DataFrame(prow, columns=["point_id", "category", "kg_per_visit", "days_mask"])
        return cls(rec, pts.set_index("point_id"))

    @classmethod
    def load_for(cls, session: Session, day: dt.date, *, profile_days: int = 56) -> History:
        """Just what :func:`forecast_day` reads for ``day``, in ONE SQL aggregate:
        kg per (date, point) over the last ``profile_days`` and around the previous
        year's Spring Festival (for its factors). Planning uses this (fast)."""
        lny = LUNAR_NEW_YEAR.get(day.year - 1)
        recent = and_(CollectionRecord.date >= day - dt.timedelta(days=profile_days),
                      CollectionRecord.date < day)
        cond = recent
        if lny is not None:
            cond = or_(recent, and_(CollectionRecord.date >= lny - dt.timedelta(days=40),
                                    CollectionRecord.date <= lny + dt.timedelta(days=45),
                                    CollectionRecord.date < day))
        rows = session.execute(
            select(CollectionRecord.date, CollectionRecord.point_id,
                   func.sum(CollectionRecord.kg))
            .where(cond).group_by(CollectionRecord.date, CollectionRecord.point_id)).all()
        rec = pd.DataFrame(rows, columns=["date", "point_id", "kg"])
        rec["date"] = pd.to_datetime(rec["date"])
        rec["kg"] = rec["kg"].astype(float)
        prow = session.execute(select(Point.point_id, Point.category, Point.kg_per_visit,
                                      Point.days_mask)).all()
        pts = pd.DataFrame(prow, columns=["point_id", "category", "kg_per_visit", "days_mask"])
        return cls(rec, pts.set_index("point_id"))


def _festival_factors(h: History, day: dt.date) -> dict[int, dict[str, float]]:
    """Per window, per category: factor estimated from last year's festival, else default."""
    out = {i: {} for i in range(len(FESTIVAL_WINDOWS))}  # type: dict[int, dict[str, float]]
    prev = LUNAR_NEW_YEAR.get(day.year - 1) if day >= LUNAR_NEW_YEAR.get(
        day.year, dt.date.max) else LUNAR_NEW_YEAR.get(day.year - 1)
    if prev is not None and not h.records.empty:
        rec = h.records
        off = (rec["date"] - pd.Timestamp(prev)).dt.days
        base = rec[(off >= -40) & (off <= -15) | (off >= 20) & (off <= 45)]
        cat = h.points["category"]
        if len(base) > 0:
            base_mean = base.groupby(base["point_id"].map(cat))["kg"].mean()
            for i, (lo, hi, _) in enumerate(FESTIVAL_WINDOWS):
                w = rec[(off >= lo) & (off <= hi)]
                if len(w) >= 20:
                    m = w.groupby(w["point_id"].map(cat))["kg"].mean()
                    for c, v in (m / base_mean).dropna().items():
                        out[i][str(c)] = float(v)
    return out


def _day_factor(day: pd.Timestamp, cat: str, fest: dict[int, dict[str, float]],
                hol: dict[str, float]) -> float:
    d = day.date()
    f = 1.0
    w = festival_window(d)
    if w is not None:
        f *= fest.get(w, {}).get(cat, FESTIVAL_WINDOWS[w][2])
    elif is_public_holiday(d):
        f *= hol.get(cat, 1.0)
    return f


def forecast_day(
    h: History,
    day: dt.date,
    point_ids: Sequence[str] | None = None,
    *,
    level_days: int = 28,
    profile_days: int = 56,
    min_visits: int = 3,
    half_life_days: float = 14.0,
) -> pd.DataFrame:
    """Forecast for ``day``: frame indexed by point_id with kg, source (model|kg_per_visit)."""
    pts = h.points if point_ids is None else h.points.loc[list(point_ids)]
    t = pd.Timestamp(day)
    rec = h.records[(h.records["date"] < t)
                    & (h.records["date"] >= t - pd.Timedelta(days=profile_days))]
    rec = rec[rec["point_id"].isin(pts.index) & (rec["kg"] > 0)].copy()
    gap_tab = {pid: gaps(int(m)) for pid, m in h.points["days_mask"].items()}
    fest = _festival_factors(h, day)
    hol: dict[str, float] = {}
    if not rec.empty:
        rec["cat"] = rec["point_id"].map(h.points["category"])
        rec["wd"] = rec["date"].dt.day_of_week
        rec["gap"] = [gap_tab[p][w] for p, w in zip(rec["point_id"], rec["wd"], strict=True)]
        rec = rec[rec["gap"] > 0]
        days = rec["date"].drop_duplicates()
        fcache = {(d, c): _day_factor(d, c, fest, hol) for d in days
                  for c in rec["cat"].unique()}
        rec["f"] = [fcache[(d, c)] for d, c in zip(rec["date"], rec["cat"], strict=True)]
        rec["x"] = rec["kg"] / rec["gap"] / rec["f"]
        # weekday profile per category: x relative to the point's mean
        rec["rel"] = rec["x"] / rec.groupby("point_id")["x"].transform("mean")
        prof = rec.groupby(["cat", "wd"])["rel"].mean()
        prof = prof / prof.groupby(level=0).transform("mean")
        rec["prof"] = [prof.get((c, w), 1.0) for c, w in zip(rec["cat"], rec["wd"], strict=True)]
        lvl = rec[rec["date"] >= t - pd.Timedelta(days=level_days)].copy()
        age = (t - lvl["date"]).dt.days.to_numpy(dtype=float)
        lvl["w"] = 0.5 ** (age / half_life_days)
        lvl["wx"] = lvl["w"] * lvl["x"] / lvl["prof"]
        g = lvl.groupby("point_id")
        level = g["wx"].sum() / g["w"].sum()
        count = g.size()
    else:
        prof = pd.Series(dtype=float)
        level = pd.Series(dtype=float)
        count = pd.Series(dtype=int)
    wd = t.day_of_week
    out_kg = []
    source = []
    for pid, p in pts.iterrows():
        gap = gap_tab[str(pid)][wd] or 1.0
        if count.get(pid, 0) >= min_visits:
            f = _day_factor(t, p["category"], fest, hol)
            out_kg.append(float(level.loc[str(pid)]) * gap * float(prof.get((p["category"], wd), 1.0)) * f)
            source.append("model")
        else:
            out_kg.append(float(p["kg_per_visit"]))
            source.append("kg_per_visit")
    return pd.DataFrame({"kg": out_kg, "source": source,
                         "category": pts["category"].to_numpy()}, index=pts.index)


def expected_kg_forecast(
    session: Session, point_ids: Sequence[str], day: dt.date, *, margin: float | None = None
) -> dict[str, float]:
    """Forecast kg (with the safety margin) for the points with enough history (the
    others are left out: the caller keeps ``kg_per_visit``); {} when there is none."""
    h = History.load_for(session, day)
    if h.records.empty:
        return {}
    fc = forecast_day(h, day, [p for p in point_ids if p in h.points.index])
    m = safety_margin(margin)
    return {str(pid): float(r["kg"]) * (1.0 + m) for pid, r in fc.iterrows()
            if r["source"] == "model"}


# --------------------------------------------------------------------------- backtest


def backtest(session: Session, start: dt.date, end: dt.date) -> dict[str, Any]:
    """Forecast every recorded visit from ``start`` to ``end`` (inclusive) with the
    history before its day; MAPE and bias per category, model versus the naive
    same-weekday baseline (7 days earlier)."""
    h = History.load(session, start - dt.timedelta(days=400), end + dt.timedelta(days=1))
    rec = h.records
    rows = []
    day = start
    by_key = rec.set_index(["date", "point_id"])["kg"]
    while day <= end:
        t = pd.Timestamp(day)
        actual = rec[rec["date"] == t]
        if not actual.empty:
            fc = forecast_day(h, day, list(actual["point_id"]))
            prev = t - pd.Timedelta(days=7)
            for pid, a in zip(actual["point_id"], actual["kg"], strict=True):
                got: Any = by_key.get((prev, pid))
                naive = float(got) if got is not None and float(got) > 0 else float(
                    h.points.at[pid, "kg_per_visit"])  # type: ignore[arg-type]
                rows.append((day, pid, fc.at[pid, "category"], float(a),
                             float(fc.at[pid, "kg"]), naive,  # type: ignore[arg-type]
                             fc.at[pid, "source"]))
        day += dt.timedelta(days=1)
    df = pd.DataFrame(rows, columns=["date", "point_id", "category", "actual", "model", "naive",
                                     "source"])
    df = df[df["actual"] > 0]

    def figures(g: pd.DataFrame) -> dict[str, Any]:
        out: dict[str, Any] = {"visits": len(g), "kg": round(float(g["actual"].sum()), 1)}
        for m in ("model", "naive"):
            err = g[m] - g["actual"]
            out[f"{m}_mape_pct"] = round(float((err.abs() / g["actual"]).mean() * 100), 2)
            out[f"{m}_bias_pct"] = round(float(err.sum() / g["actual"].sum() * 100), 2)
        return out

    return {
        "format": "wasteroute.forecast-backtest/1",
        "from": start.isoformat(), "to": end.isoformat(),
        "by_category": {str(c): figures(g) for c, g in df.groupby("category")},
        "all": figures(df) if len(df) else {},
        "fallback_share": round(float((df["source"] != "model").mean()), 4) if len(df) else None,
    }


__all__ = ["History", "backtest", "expected_kg_forecast", "festival_window", "forecast_day",
           "gaps", "is_public_holiday", "safety_margin"]
