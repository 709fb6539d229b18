"""Demand-driven collection and a simulation comparing it with the weekly schedule
(issue 7; docs/operations.md).

Fill model (points.csv has no container volume, so capacity is derived):

* generation per point and day: each collection record spread evenly over the
  days since the previous scheduled visit (``days``), ending on its date;
* capacity of a point = ``capacity_factor`` (1.5) x its largest scheduled visit
  at ``kg_per_visit`` (rate x the longest gap of its schedule): containers sized
  for the schedule with half a visit to spare;
* a day: waste is generated, then (end of day) the visited points are emptied; a
  point *overflows* on a day when its fill before emptying exceeds capacity.

Modes:

* ``schedule``: visit on the ``days`` of the point;
* ``demand``: each morning, with the fill of last evening ``f`` and the expected
  daily rate ``r`` (the mean generation of the last 7 days; ``kg_per_visit``
  rate before there is history), a point is **must-visit** when ``f + 2r``
  exceeds capacity (it would overflow before tomorrow's collection), **optional**
  when ``f + r`` reaches ``optional_from`` (60 %) of capacity - with the penalty
  ``penalty_km`` x fill fraction for the routing engine (a disjunction: the engine
  leaves it out when the detour costs more). In the year simulation an optional
  point is visited when its fill reaches ``optional_visit_at`` (75 %).

:func:`simulate` runs both modes over a period (visits, overflow point-days, kg)
and, on sampled days, plans the day in both modes with the engine (same time
limit) to compare km driven.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from logistics.persistence.models import CollectionRecord, Point

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimConfig:
    capacity_factor: float = 1.5
    optional_from: float = 0.6
    optional_visit_at: float = 0.75
    penalty_km: float = 8.0
    rate_days: int = 7
    #: safety margin on the expected rate in the must-visit rule (day-to-day noise)
    margin: float = 0.3


def _gaps(mask: int) -> np.ndarray:
    wds = [w for w in range(7) if mask & (1 << w)]
    g = np.zeros(7)
    for i, w in enumerate(wds):
        prev = wds[i - 1] if i else wds[-1] - 7
        g[w] = w - prev
    return g


@dataclass
class Fill:
    """Generation per point and day, capacities and schedules (arrays by point)."""

    point_ids: list[str]
    dates: pd.DatetimeIndex
    gen: np.ndarray  # [points, days] kg generated
    cap: np.ndarray  # [points]
    sched: np.ndarray  # [points, 7] bool
    base_rate: np.ndarray  # [points] kg per day from kg_per_visit

    @classmethod
    def load(cls, session: Session, start: dt.date, end: dt.date, cfg: SimConfig) -> Fill:
        pts = session.execute(select(Point.point_id, Point.kg_per_visit, Point.days_mask)
                              .order_by(Point.point_id)).all()
        ids = [p[0] for p in pts]
        pos = {pid: i for i, pid in enumerate(ids)}
        gaps = np.stack([_gaps(int(p[2])) for p in pts]) if pts else np.zeros((0, 7))
        n_visits = (gaps > 0).sum(axis=1)
        kgv = np.array([float(p[1]) for p in pts])
        rate = np.where(n_visits > 0, kgv * n_visits / 7.0, 0.0)
        cap = cfg.capacity_factor * rate * np.maximum(gaps.max(axis=1), 1)
        dates = pd.date_range(start, end, freq="D")
        gen = np.zeros((len(ids), len(dates)))
        rows = session.execute(
            select(CollectionRecord.date, CollectionRecord.point_id, CollectionRecord.kg)
            .where(CollectionRecord.date >= start, CollectionRecord.date <= end)).all()
        if rows:
            rec = pd.DataFrame(rows, columns=["date", "point_id", "kg"])
            pi = rec["point_id"].map(pos).to_numpy()
            di = (pd.to_datetime(rec["date"]) - pd.Timestamp(start)).dt.days.to_numpy()
            wd = pd.to_datetime(rec["date"]).dt.day_of_week.to_numpy()
            g = np.maximum(gaps[pi, wd], 1).astype(int)
            kg = rec["kg"].to_numpy(dtype=float) / g
            for k in range(int(g.max())):
                sel = (g > k) & (di - k >= 0)
                np.add.at(gen, (pi[sel], di[sel] - k), kg[sel])
        return cls(ids, dates, gen, cap, gaps > 0, rate)


def demand_selection(fill: np.ndarray, rate: np.ndarray, cap: np.ndarray,
                     cfg: SimConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(must, optional, penalty) per point for a morning with ``fill`` and ``rate``."""
    safe_cap = np.where(cap > 0, cap, np.inf)
    must = (fill + 2 * rate * (1 + cfg.margin) > safe_cap) & (rate > 0)
    frac = (fill + rate) / safe_cap
    optional = ~must & (frac >= cfg.optional_from) & (rate > 0)
    penalty = np.where(optional, np.round(cfg.penalty_km * np.minimum(frac, 1.0)), 0)
    return must, optional, penalty.astype(int)


def run_mode(f: Fill, mode: str, cfg: SimConfig) -> tuple[dict[str, Any], np.ndarray,
                                                          np.ndarray]:
    """Simulate one mode; (figures, visits [points, days] bool, fill of each morning)."""
    n_p, n_d = f.gen.shape
    fill = np.zeros(n_p)
    visits = np.zeros((n_p, n_d), dtype=bool)
    morning = np.zeros((n_p, n_d))
    overflow = np.zeros((n_p, n_d), dtype=bool)
    wd = f.dates.day_of_week.to_numpy()
    for d in range(n_d):
        morning[:, d] = fill
        if mode == "schedule":
            visit = f.sched[:, wd[d]]
        else:
            lo = max(0, d - cfg.rate_days)
            rate = f.gen[:, lo:d].mean(axis=1) if d - lo >= 7 else f.base_rate
            must, optional, _ = demand_selection(fill, rate, f.cap, cfg)
            visit = must | (optional & ((fill + rate) >= cfg.optional_visit_at * f.cap))
        fill = fill + f.gen[:, d]
        overflow[:, d] = fill > f.cap + 1e-9
        visits[:, d] = visit
        fill = np.where(visit, 0.0, fill)
    figures = {
        "mode": mode,
        "days": n_d,
        "visits": int(visits.sum()),
        "overflow_point_days": int(overflow.sum()),
        "points_overflowing_at_least_once": int(overflow.any(axis=1).sum()),
        "kg_generated": round(float(f.gen.sum()), 1),
    }
    return figures, visits, morning


def simulate(
    session: Session,
    start: dt.date,
    end: dt.date,
    *,
    cfg: SimConfig | None = None,
    km_days: list[dt.date] | None = None,
    time_limit_s: float = 10.0,
) -> dict[str, Any]:
    """Both modes over [start, end]; km by the engine on ``km_days`` (may be empty)."""
    from logistics.planning import make_selected_plan

    cfg = cfg or SimConfig()
    f = Fill.load(session, start, end, cfg)
    out: dict[str, Any] = {"format": "wasteroute.simulation/1", "from": start.isoformat(),
                           "to": end.isoformat(), "config": asdict(cfg), "modes": {}}
    state: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for mode in ("schedule", "demand"):
        figures, visits, morning = run_mode(f, mode, cfg)
        out["modes"][mode] = figures
        state[mode] = (visits, morning)
    km_rows = []
    for day in km_days or []:
        d = (pd.Timestamp(day) - pd.Timestamp(start)).days
        if not 0 <= d < len(f.dates):
            continue
        row: dict[str, Any] = {"date": day.isoformat()}
        for mode in ("schedule", "demand"):
            visits, morning = state[mode]
            sel: dict[str, tuple[float, int | None]]
            if mode == "schedule":
                sel = {pid: (float(morning[i, d] + f.gen[i, d]), None)
                       for i, pid in enumerate(f.point_ids) if visits[i, d]}
            else:
                lo = max(0, d - cfg.rate_days)
                rate = f.gen[:, lo:d].mean(axis=1) if d - lo >= 7 else f.base_rate
                must, optional, pen = demand_selection(morning[:, d], rate, f.cap, cfg)
                sel = {}
                for i, pid in enumerate(f.point_ids):
                    kg = float(morning[i, d] + f.gen[i, d])
                    if must[i]:
                        sel[pid] = (kg, None)
                    elif optional[i]:
                        sel[pid] = (kg, max(1, int(pen[i])))
            draft = make_selected_plan(session, day, sel, time_limit_s=time_limit_s)
            sm = draft.document["summary"]
            row[mode] = {"points": len(sel), "must": sum(1 for v in sel.values() if v[1] is None),
                         "served": sm["points_served"], "distance_km": sm["distance_km"],
                         "vehicles": sm["vehicles_used"]}
        km_rows.append(row)
    if km_rows:
        out["km_days"] = km_rows
        for mode in ("schedule", "demand"):
            out["modes"][mode]["km_on_sampled_days"] = round(
                sum(r[mode]["distance_km"] for r in km_rows), 1)
    return out


__all__ = ["Fill", "SimConfig", "demand_selection", "run_mode", "simulate"]
