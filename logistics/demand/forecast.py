"""Expected kg per point and day from collection records (docs/operations.md).

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
* ``holiday(c, D)``: other statutory holidays (元旦, 清明, 劳动节, 端午, 中秋, 国庆;
  ``chinese_calendar`` finds them). Per category, from the holidays of the last 365
  days: kg per gap-day of each holiday visit against the same point on the same
  weekday in the week before and the week after that run of holidays (non-holiday,
  non-festival days; a same-weekday match needs no weekday profile, and the two
  sides cancel a trend), as the ratio of the sums (kg-weighted, so small noisy
  points do not dominate). Shrunk toward 1 with weight n / (n + 10) for n matched
  visits (one holiday visit is mostly noise), clamped to [0.5, 2]; 1 without
  holiday history;
* ``level(p)``: recency-weighted mean (half-life 14 days, last ``level_days``
  = 28) of the visits with all the factors above divided out - this follows a
  trend (and a community starting source separation) within about two weeks.

Points with fewer than ``min_visits`` (3) records in the level window fall back
to ``kg_per_visit``. ``safety_margin`` (env ``WASTEROUTE_FORECAST_MARGIN``,
fraction, default 0) is added on top for planning.

The baseline for the backtest is the naive same-weekday forecast: the kg of the
same point 7 days earlier (``kg_per_visit`` when there is none). The backtest
reports the statutory-holiday visits separately too (``holidays``).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from logistics.demand.schedule import visit_gaps
from logistics.persistence import demand_repo
from logistics.persistence.db import Session

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
#: holidays of this many days before D estimate the holiday factor
HOLIDAY_LOOKBACK_DAYS = 365
#: the week before and the week after a run of holidays is its baseline
HOLIDAY_CONTEXT_DAYS = 7
#: shrinkage toward 1: weight n / (n + k) for n holiday visits. k = the variance of
#: one visit's ratio (noise 0.15-0.2 on each side) over the spread of real holiday
#: effects (about 0.1): about 5-10; the larger one errs toward 1
HOLIDAY_SHRINK_VISITS = 10
HOLIDAY_FACTOR_RANGE = (0.5, 2.0)


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


@functools.lru_cache(maxsize=4096)  # a backtest asks for the same days many times
def is_public_holiday(day: dt.date) -> bool:
    """A statutory holiday other than the Spring Festival (chinese_calendar)."""
    try:
        import chinese_calendar
        on, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:  # year not covered by the package
        return False
    return bool(on and name and name != "Spring Festival")


#: days of waste collected per weekday (index 0 = Monday), under the name the forecast's
#: formula uses
gaps = visit_gaps


def holiday_runs(day: dt.date, lookback_days: int = HOLIDAY_LOOKBACK_DAYS
                 ) -> list[tuple[dt.date, dt.date]]:
    """Runs of consecutive statutory holidays, (first, last), within the
    ``lookback_days`` before ``day`` (``day`` excluded)."""
    runs: list[tuple[dt.date, dt.date]] = []
    d = day - dt.timedelta(days=lookback_days)
    while d < day:
        if is_public_holiday(d):
            if runs and runs[-1][1] == d - dt.timedelta(days=1):
                runs[-1] = (runs[-1][0], d)
            else:
                runs.append((d, d))
        d += dt.timedelta(days=1)
    return runs


def _holiday_windows(day: dt.date) -> list[tuple[dt.date, dt.date, dt.date, dt.date]]:
    """(first, last, window start, window end) per holiday run before ``day``: the
    records the holiday factor reads, all before ``day``."""
    ctx = dt.timedelta(days=HOLIDAY_CONTEXT_DAYS)
    last_known = day - dt.timedelta(days=1)
    return [(a, b, a - ctx, min(b + ctx, last_known)) for a, b in holiday_runs(day)]


def _holiday_dates(day: dt.date) -> set[dt.date]:
    """The days :func:`holiday_factors` reads: the holidays and, around each run, the
    ordinary days on the weekdays of its holidays (about 60 days a year, not 90)."""
    out: set[dt.date] = set()
    for first, last, lo, hi in _holiday_windows(day):
        wds = {(first + dt.timedelta(days=i)).weekday() for i in range((last - first).days + 1)}
        out.update(lo + dt.timedelta(days=i) for i in range((hi - lo).days + 1)
                   if (lo + dt.timedelta(days=i)).weekday() in wds)
    return out


def _gap_matrix(points: pd.DataFrame) -> np.ndarray:
    """gaps() of every point, rows in the order of ``points.index``."""
    if points.empty:
        return np.zeros((0, 7))
    return np.stack([gaps(int(m)) for m in points["days_mask"]])


@dataclass(frozen=True)
class HolidayFactor:
    """A category's holiday factor: ``factor`` (shrunk, clamped) is what the forecast
    uses; ``raw`` = sum of holiday kg / sum of the matched baseline; ``visits`` = n."""

    factor: float
    raw: float
    visits: int


@dataclass
class History:
    """Records and points as frames (one load for many forecasts)."""

    records: pd.DataFrame  # date (datetime64), point_id, kg
    points: pd.DataFrame  # index point_id: category, kg_per_visit, days_mask
    #: holiday factors per set of holiday windows (a backtest asks ~365 times for the
    #: same few); valid because records and points are not changed after loading
    _holiday_cache: dict[Any, dict[str, HolidayFactor]] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def _from_rows(cls, session: Session, rows: Sequence[Any]) -> History:
        # columns from the row tuples: pandas inspects every SQLAlchemy Row otherwise
        # (0.7 s on the demo day)
        cols = list(zip(*rows, strict=True)) or [(), (), ()]
        rec = pd.DataFrame({"date": pd.to_datetime(pd.Series(cols[0], dtype=object)),
                            "point_id": pd.Series(cols[1], dtype=object),
                            "kg": np.asarray(cols[2], dtype=float)})
        prow = demand_repo.points_for_forecast(session)
        pts = pd.DataFrame(prow, columns=["point_id", "category", "kg_per_visit", "days_mask"])
        return cls(rec, pts.set_index("point_id"))

    @classmethod
    def load(cls, session: Session, start: dt.date, end: dt.date) -> History:
        rows = demand_repo.kg_by_day(session, start, end, ordered=True)
        return cls._from_rows(session, rows)

    @classmethod
    def load_for(cls, session: Session, day: dt.date, *, profile_days: int = 56) -> History:
        """Just what :func:`forecast_day` reads for ``day``, in ONE SQL aggregate:
        kg per (date, point) over the last ``profile_days``, around the previous
        year's Spring Festival (for its factors) and, for the holiday factors, the
        statutory holidays of the last year and the same weekdays in the week before
        and after each run of them. Planning uses this (fast)."""
        last = day - dt.timedelta(days=1)
        spans = [(day - dt.timedelta(days=profile_days), last)]
        lny = LUNAR_NEW_YEAR.get(day.year - 1)
        if lny is not None:
            spans.append((lny - dt.timedelta(days=40), min(lny + dt.timedelta(days=45), last)))
        merged: list[tuple[dt.date, dt.date]] = []
        for lo, hi in sorted(spans):
            if merged and lo <= merged[-1][1] + dt.timedelta(days=1):
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
            else:
                merged.append((lo, hi))
        extra = sorted(d for d in _holiday_dates(day)
                       if not any(lo <= d <= hi for lo, hi in merged))
        rows = demand_repo.kg_by_day_in(session, merged, extra)
        return cls._from_rows(session, rows)


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


def holiday_factors(h: History, day: dt.date) -> dict[str, HolidayFactor]:
    """Holiday factor per category for ``day`` from the history before it (module
    docstring); categories without a matched holiday visit are absent (factor 1)."""
    windows = _holiday_windows(day)
    if not windows or h.records.empty:
        return {}
    key = tuple(windows)
    cached = h._holiday_cache.get(key)
    if cached is not None:
        return cached
    rec = h.records
    near = np.zeros(len(rec), dtype=bool)
    for _, _, lo, hi in windows:
        near |= ((rec["date"] >= pd.Timestamp(lo)) & (rec["date"] <= pd.Timestamp(hi))).to_numpy()
    rec = rec[near & (rec["kg"] > 0).to_numpy() & rec["point_id"].isin(h.points.index).to_numpy()]
    out: dict[str, HolidayFactor] = {}
    if not rec.empty:
        wd = rec["date"].dt.day_of_week.to_numpy()
        gap = _gap_matrix(h.points)[h.points.index.get_indexer(pd.Index(rec["point_id"])), wd]
        days = pd.Series(rec["date"].unique())
        hol = dict(zip(days, [is_public_holiday(d.date()) for d in days], strict=True))
        fest = dict(zip(days, [festival_window(d.date()) is not None for d in days], strict=True))
        rec = pd.DataFrame({"date": rec["date"].to_numpy(), "point_id": rec["point_id"].to_numpy(),
                            "wd": wd, "x": rec["kg"].to_numpy(dtype=float) / np.maximum(gap, 1),
                            "hol": rec["date"].map(hol).to_numpy(dtype=bool)})[
            (gap > 0) & ~rec["date"].map(fest).to_numpy(dtype=bool)]
        pairs = []
        for i, (first, last, lo, hi) in enumerate(windows):
            w = rec[(rec["date"] >= pd.Timestamp(lo)) & (rec["date"] <= pd.Timestamp(hi))]
            # the same point on the same weekday, on ordinary days around this run
            base = w[~w["hol"]].groupby(["point_id", "wd"])["x"].mean().rename("base")
            on = w[(w["date"] >= pd.Timestamp(first)) & (w["date"] <= pd.Timestamp(last))
                   & w["hol"]]
            m = on.join(base, on=["point_id", "wd"], how="inner")
            pairs.append(m.assign(run=i))
        got = pd.concat(pairs) if pairs else pd.DataFrame()
        if not got.empty:
            got["cat"] = got["point_id"].map(h.points["category"])
            lo_f, hi_f = HOLIDAY_FACTOR_RANGE
            for c, g in got.groupby("cat"):
                raw = float(g["x"].sum() / g["base"].sum())
                n = len(g)
                f = 1.0 + (raw - 1.0) * n / (n + HOLIDAY_SHRINK_VISITS)
                out[str(c)] = HolidayFactor(min(max(f, lo_f), hi_f), raw, n)
    h._holiday_cache[key] = out
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
    gap_mat = _gap_matrix(h.points)
    fest = _festival_factors(h, day)
    hol = {c: f.factor for c, f in holiday_factors(h, day).items()}
    if not rec.empty:
        rec["cat"] = rec["point_id"].map(h.points["category"])
        rec["wd"] = rec["date"].dt.day_of_week
        rec["gap"] = gap_mat[h.points.index.get_indexer(pd.Index(rec["point_id"])),
                             rec["wd"].to_numpy()]
        rec = rec[rec["gap"] > 0]
        days = rec["date"].drop_duplicates()
        cats = rec["cat"].unique()
        fcache = pd.Series({(d, c): _day_factor(d, c, fest, hol) for d in days for c in cats})
        rec["f"] = fcache.reindex(pd.MultiIndex.from_arrays([rec["date"], rec["cat"]])).to_numpy()
        rec["x"] = rec["kg"] / rec["gap"] / rec["f"]
        # weekday profile per category: x relative to the point's mean
        rec["rel"] = rec["x"] / rec.groupby("point_id")["x"].transform("mean")
        prof = rec.groupby(["cat", "wd"])["rel"].mean()
        prof = prof / prof.groupby(level=0).transform("mean")
        rec["prof"] = prof.reindex(pd.MultiIndex.from_arrays([rec["cat"], rec["wd"]])
                                   ).fillna(1.0).to_numpy()
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
    pos = h.points.index.get_indexer(pts.index)
    for i, (pid, p) in enumerate(pts.iterrows()):
        gap = gap_mat[pos[i], wd] or 1.0
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
    same-weekday baseline (7 days earlier), for all visits and (``holidays``) for
    the visits on statutory holidays other than the Spring Festival."""
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

    # statutory-holiday visits alone: where the holiday factor acts (the naive
    # baseline then looks at an ordinary day)
    hd = df[df["date"].map(is_public_holiday).astype(bool)]
    return {
        "format": "wasteroute.forecast-backtest/1",
        "from": start.isoformat(), "to": end.isoformat(),
        "by_category": {str(c): figures(g) for c, g in df.groupby("category")},
        "all": figures(df) if len(df) else {},
        "fallback_share": round(float((df["source"] != "model").mean()), 4) if len(df) else None,
        "holidays": {
            "days": int(hd["date"].nunique()),
            "by_category": {str(c): figures(g) for c, g in hd.groupby("category")},
            "all": figures(hd) if len(hd) else {},
        },
    }


__all__ = ["History", "HolidayFactor", "backtest", "expected_kg_forecast", "festival_window",
           "forecast_day", "gaps", "holiday_factors", "holiday_runs", "is_public_holiday",
           "safety_margin"]
