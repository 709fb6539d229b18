"""Plain data of the landing page: the newest day with data ("yesterday") and the year to
date as KPI cards with their inputs, daily sparklines, and alerts.

Every figure comes from :func:`logistics.reporting.metrics.compute_metrics` (the same
definitions as the metrics document) or from daily SQL aggregates of the read models in
``logistics.persistence.dashboard_repo``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from logistics.domain import TRANSFER_KINDS
from logistics.persistence import dashboard_repo, reporting_repo
from logistics.persistence.db import Session
from logistics.reporting import periods
from logistics.reporting.metrics import (
    REGISTRY,
    Scope,
    compute_metrics,
    due_by_day,
    due_points,
)

#: cards of the landing page, in this order
LANDING_KEYS = (
    "tonnage_collected_t",
    "harmless_disposal_rate",
    "collection_coverage",
    "resource_utilisation_rate",
    "in_transit_t",
)
#: the harmless disposal target of county seats (十四五 urban domestic waste plan:
#: 县城生活垃圾无害化处理率达到 95% 以上)
HARMLESS_TARGET = 0.95
#: a facility whose intake reaches this share of its daily capacity is flagged
NEAR_CAPACITY = 0.9
#: days of the sparklines
SPARK_DAYS = 60
#: transfer stock growing this many days in a row is flagged
GROWING_DAYS = 3


def cards(doc: dict[str, Any], keys: tuple[str, ...] = LANDING_KEYS) -> list[dict[str, Any]]:
    """KPI cards (key, unit, value, inputs, missing) of a metrics document's county."""
    metrics = doc["groups"][0]["metrics"]
    return [
        {"key": k, "unit": REGISTRY[k].unit, "value": metrics[k]["value"],
         "inputs": metrics[k]["inputs"], "missing": metrics[k].get("missing")}
        for k in keys
    ]


def _block(session: Session, start: dt.date, end: dt.date, kind: str) -> dict[str, Any]:
    doc = compute_metrics(session, start, end)
    return {"kind": kind, "from": start.isoformat(), "to": end.isoformat(),
            "covers": doc["covers"], "cards": cards(doc)}


def daily_series(session: Session, start: dt.date, end: dt.date) -> dict[str, Any]:
    """Per day over [start, end]: t collected, harmless rate (finally disposed / collected),
    collection coverage (served / due), and transfer stock at the end of the day (t)."""
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    rec = dashboard_repo.daily_records(session, start, end)
    rec_kg = {pd.Timestamp(d).date(): float(kg) for d, kg in zip(rec["day"], rec["kg"],
                                                                  strict=True)}
    arr = dashboard_repo.daily_arrivals(session, start, end)
    sent = dashboard_repo.daily_sent_on(session, start, end)
    for f in (arr, sent):
        f["day"] = pd.to_datetime(f["day"]).dt.date
        f["kg"] = f["kg"].astype(float)
        f["harmless"] = f["harmless"].astype(bool)
    final_in = arr[arr["harmless"] & ~arr["kind"].isin(TRANSFER_KINDS)].groupby("day")["kg"].sum()
    final_out = sent[sent["harmless"] & ~sent["kind"].isin(TRANSFER_KINDS)].groupby("day")[
        "kg"].sum()
    t_in = arr[arr["kind"].isin(TRANSFER_KINDS)].groupby("day")["kg"].sum()
    t_out = sent[sent["kind"].isin(TRANSFER_KINDS)].groupby("day")["kg"].sum()
    opening = _transfer_opening(session, start)
    v = due_by_day(session, start, end)
    due_of = dict(zip(v["day"], v["due"].astype(int), strict=True))
    served_of = dict(zip(v["day"], v["served"].astype(int), strict=True))
    stock = opening
    out: dict[str, list[Any]] = {"days": [], "t": [], "harmless": [], "coverage": [],
                                 "transfer_t": []}
    for d in days:
        kg = rec_kg.get(d, 0.0)
        harmless = float(final_in.get(d, 0.0)) - float(final_out.get(d, 0.0))
        stock += float(t_in.get(d, 0.0)) - float(t_out.get(d, 0.0))
        due, served = int(due_of[d]), int(served_of[d])
        out["days"].append(d.isoformat())
        out["t"].append(round(kg / 1000.0, 3) if kg else None)
        out["harmless"].append(round(harmless / kg, 4) if kg else None)
        out["coverage"].append(round(served / due, 4) if kg and due else None)
        out["transfer_t"].append(round(stock / 1000.0, 3))
    return out


def _transfer_opening(session: Session, start: dt.date) -> float:
    """Transfer stock at the start of ``start`` (every earlier ticket)."""
    st = reporting_repo.transfer_stock(session, Scope(start, start), sorted(TRANSFER_KINDS))
    return float(st["opening_kg"].sum()) if not st.empty else 0.0


def compute_alerts(session: Session, day: dt.date, series: dict[str, Any],
                   ytd: dict[str, Any], target: float = HARMLESS_TARGET) -> list[dict[str, Any]]:
    """Alerts of ``day``: facilities near their daily capacity, points due and not
    collected, harmless rate below target (the day and the year to date), transfer
    stock growing. Each alert: kind, severity, and the facts it rests on."""
    alerts: list[dict[str, Any]] = []
    fac = dashboard_repo.facility_day_intake(session, day)
    for fid, name, kg, cap in zip(fac["facility_id"], fac["name"], fac["kg"].astype(float),
                                  pd.to_numeric(fac["capacity_kg"]).astype(float), strict=True):
        if not cap > 0:  # no capacity given (NaN) or none
            continue
        share = kg / cap
        if share >= NEAR_CAPACITY:
            alerts.append({"kind": "near_capacity", "severity": "high" if share > 1 else "warn",
                           "facility_id": str(fid), "name": str(name),
                           "intake_t": round(kg / 1000, 3), "capacity_t": round(cap / 1000, 3),
                           "share": round(share, 4)})
    due = due_points(session, day)
    recorded = dashboard_repo.points_recorded_on(session, day)
    missed = sorted(set(due["point_id"]) - recorded)
    if missed:
        alerts.append({"kind": "points_missed", "severity": "warn", "count": len(missed),
                       "due": len(due), "points": missed[:20]})
    h_day = series["harmless"][-1] if series["harmless"] else None
    h_ytd = next(c["value"] for c in ytd["cards"] if c["key"] == "harmless_disposal_rate")
    for scope, value in (("day", h_day), ("year_to_date", h_ytd)):
        if value is not None and value < target:
            alerts.append({"kind": "harmless_below_target", "severity": "high", "scope": scope,
                           "value": value, "target": target})
    stock = series["transfer_t"]
    tail = stock[-(GROWING_DAYS + 1):]
    if len(tail) == GROWING_DAYS + 1 and all(b > a for a, b in zip(tail, tail[1:], strict=False)):
        alerts.append({"kind": "transfer_stock_growing", "severity": "warn",
                       "days": GROWING_DAYS, "from_t": tail[0], "to_t": tail[-1]})
    return alerts


def compute_landing(session: Session, target: float = HARMLESS_TARGET) -> dict[str, Any]:
    """Everything the landing page shows, as plain data (``last`` None without data)."""
    first, last = dashboard_repo.record_date_bounds(session)
    if last is None or first is None:
        return {"last": None, "blocks": [], "series": None, "alerts": []}
    ytd_start = dt.date(last.year, 1, 1)
    blocks = [_block(session, last, last, "day"),
              _block(session, ytd_start, dt.date(last.year, 12, 31), "year_to_date")]
    d = periods.default_periods(last, first)
    assert d is not None
    y0, y1 = d["year"]
    if y1 < last:
        blocks.append(_block(session, y0, y1, "default_year"))
    spark_start = max(first, last - dt.timedelta(days=SPARK_DAYS - 1))
    series = daily_series(session, spark_start, last)
    alerts = compute_alerts(session, last, series, blocks[1], target)
    return {"last": last.isoformat(), "target": target, "blocks": blocks, "series": series,
            "alerts": alerts}
