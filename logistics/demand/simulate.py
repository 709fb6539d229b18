"""Demand-driven collection and a simulation comparing it with the weekly schedule
(docs/operations.md).

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
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from logistics.demand.schedule import days_to_next, visit_gaps
from logistics.domain import BadInput
from logistics.persistence import demand_repo
from logistics.persistence.db import Session
from logistics.planning.plan import make_selected_plan

if TYPE_CHECKING:
    from logistics.planning.plan import SolveParams

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
        pts = demand_repo.point_schedules(session)
        ids = [p[0] for p in pts]
        pos = {pid: i for i, pid in enumerate(ids)}
        gaps = np.stack([visit_gaps(int(p[2])) for p in pts]) if pts else np.zeros((0, 7))
        n_visits = (gaps > 0).sum(axis=1)
        kgv = np.array([float(p[1]) for p in pts])
        rate = np.where(n_visits > 0, kgv * n_visits / 7.0, 0.0)
        cap = cfg.capacity_factor * rate * np.maximum(gaps.max(axis=1), 1)
        dates = pd.date_range(start, end, freq="D")
        gen = np.zeros((len(ids), len(dates)))
        rows = demand_repo.records_between(session, start, end)
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
            sm = draft.plan.summary
            assert sm is not None  # a plan made here always has its summary
            row[mode] = {"points": len(sel), "must": sum(1 for v in sel.values() if v[1] is None),
                         "served": sm.points_served, "distance_km": float(sm.distance_km),
                         "vehicles": sm.vehicles_used}
        km_rows.append(row)
    if km_rows:
        out["km_days"] = km_rows
        for mode in ("schedule", "demand"):
            out["modes"][mode]["km_on_sampled_days"] = round(
                sum(r[mode]["distance_km"] for r in km_rows), 1)
    return out


# --------------------------------------------------------------------------- one real day


def day_selection(
    session: Session, date: dt.date, cfg: SimConfig | None = None, *, window_days: int = 28
) -> tuple[dict[str, tuple[float, int | None]], dict[str, dict[str, Any]]]:
    """Demand-driven choice of the points to collect on ``date`` from the records before it.

    Per point with records in the last ``window_days``: daily rate ``r`` = their kg /
    the days of waste they cover (schedule gaps); last collection ``L`` (latest
    record); expected fill at collection today ``f + r = r x (date - L)``; capacity
    as in :class:`Fill`; ``n`` = days to its next scheduled visit after today.

    * scheduled today: **optional** when ``f + r`` is below ``optional_from`` of
      capacity and skipping it would not overflow before its next scheduled visit
      (``f + (n+1) r (1 + margin) <= cap``), penalty ``penalty_km`` x that fill at
      the next visit / cap (the overflow risk); **must** otherwise;
    * not scheduled today: **must** when ``f + (n+1) r (1 + margin) > cap`` (it
      would overflow before its next scheduled visit); else left for its day;
    * no records in the window: the schedule (must when scheduled, ``kg_per_visit``).

    Returns (selection point -> (kg, penalty or None), info point -> figures).
    """
    cfg = cfg or SimConfig()
    pts = demand_repo.point_schedules(session)
    start = date - dt.timedelta(days=window_days)
    rows = demand_repo.kg_by_day(session, start, date)
    kg_sum: dict[str, float] = {}
    days_sum: dict[str, float] = {}
    last: dict[str, dt.date] = {}
    masks = {str(p[0]): int(p[2]) for p in pts}
    for d, pid, kg in rows:
        d = d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d))
        if pid not in masks or kg is None or float(kg) <= 0:
            continue
        g = visit_gaps(masks[pid])[d.weekday()] or 1.0
        kg_sum[pid] = kg_sum.get(pid, 0.0) + float(kg)
        days_sum[pid] = days_sum.get(pid, 0.0) + float(g)
        if pid not in last or d > last[pid]:
            last[pid] = d
    wd = date.weekday()
    sel: dict[str, tuple[float, int | None]] = {}
    info: dict[str, dict[str, Any]] = {}
    for pid, kgv, mask in pts:
        pid, mask = str(pid), int(mask)
        g = visit_gaps(mask)
        scheduled = bool(mask & (1 << wd))
        if pid not in kg_sum:
            if scheduled:
                sel[pid] = (float(kgv), None)
                info[pid] = {"kind": "must", "why": "schedule_no_history",
                             "expected_kg": float(kgv)}
            continue
        base_rate = float(kgv) * int((g > 0).sum()) / 7.0
        cap = cfg.capacity_factor * base_rate * max(float(g.max()), 1.0)
        if cap <= 0:
            continue
        r = kg_sum[pid] / days_sum[pid]
        kg_today = r * (date - last[pid]).days
        n = days_to_next(mask, wd)
        at_next = kg_today + n * r * (1 + cfg.margin)
        fill_ratio = kg_today / cap
        figures = {"expected_kg": round(kg_today, 1), "fill_ratio": round(fill_ratio, 3),
                   "fill_ratio_at_next_visit": round(at_next / cap, 3)}
        if scheduled:
            if fill_ratio < cfg.optional_from and at_next <= cap:
                pen = (max(1, int(round(cfg.penalty_km * at_next / cap)))
                       if cfg.penalty_km > 0 else 0)
                sel[pid] = (kg_today, pen)
                info[pid] = {"kind": "optional", "penalty_km": pen, **figures}
            else:
                sel[pid] = (kg_today, None)
                info[pid] = {"kind": "must", "why": "schedule", **figures}
        elif at_next > cap:
            sel[pid] = (kg_today, None)
            info[pid] = {"kind": "must", "why": "overflow_before_next_visit", **figures}
    return sel, info


def make_demand_document(
    session: Session,
    date: dt.date,
    *,
    time_limit_s: float,
    distance_model: Any = None,
    cfg: SimConfig | None = None,
    params: SolveParams | None = None,
) -> dict[str, Any]:
    """The plan document of ``date`` in demand-driven mode (not stored).

    Optional points the engine leaves out are listed under ``skipped`` (reason
    ``low_expected_fill``) and are not due; ``demand.due_points`` lists the due
    ones (must-visit and the optional ones planned), ``demand.expected_kg`` their kg.
    """
    cfg = cfg or SimConfig()
    sel, info = day_selection(session, date, cfg)
    if not sel:
        raise BadInput(f"no collections selected on {date.isoformat()} / 当日无收运点位")
    draft = make_selected_plan(session, date, sel, time_limit_s=time_limit_s,
                               distance_model=distance_model, params=params)
    doc = draft.document
    optional = {pid for pid, v in info.items() if v["kind"] == "optional"}
    skipped = []
    unassigned = []
    for u in doc["unassigned"]:
        pid = u["point_id"]
        if pid in optional:
            skipped.append({"point_id": pid, "category": u["category"],
                            "reason": "low_expected_fill",
                            "expected_kg": info[pid]["expected_kg"],
                            "fill_ratio": info[pid]["fill_ratio"],
                            "fill_ratio_at_next_visit": info[pid]["fill_ratio_at_next_visit"],
                            "penalty_km": info[pid]["penalty_km"]})
        else:
            unassigned.append(u)
    skipped_ids = {s["point_id"] for s in skipped}
    due = sorted(pid for pid in sel if pid not in skipped_ids)
    exp = {pid: max(0, int(round(sel[pid][0]))) for pid in due}
    counts: dict[str, int] = {}
    for v in info.values():
        key = v["kind"] if v["kind"] == "optional" else f"must_{v['why']}"
        counts[key] = counts.get(key, 0) + 1
    doc["unassigned"] = unassigned
    doc["skipped"] = skipped
    doc["summary"].update(points_due=len(due), unassigned=len(unassigned),
                          kg_due=int(sum(exp.values())))
    doc["demand"] = {"mode": "demand", "source": "fill_model", "selected": len(sel),
                     "counts": counts, "skipped": len(skipped), "due_points": due,
                     "expected_kg": exp,
                     "config": {k: v for k, v in asdict(cfg).items()}}
    return doc


__all__ = ["Fill", "SimConfig", "day_selection", "demand_selection", "make_demand_document",
           "run_mode", "simulate"]
