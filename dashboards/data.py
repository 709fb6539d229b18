"""Plain data behind every figure (house rule 7: ``compute_x(...) -> plain data``).

Each ``compute_*`` returns dicts/lists of numbers and strings only (JSON-ready), so
tests check them with exact values; :mod:`dashboards.figures` draws them. The rows come
from the read models of ``logistics.persistence.dashboard_repo`` (sums run in SQL); the
tables read whole are the small ones (communities, points, facilities, one plan).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial import ConvexHull, QhullError

from logistics.domain import CATEGORY_BY_KEY, TRANSFER_KINDS
from logistics.persistence import dashboard_repo, plan_repo, reporting_repo
from logistics.persistence import repositories as repo
from logistics.persistence.db import Session
from logistics.planning.document import Plan, Route
from logistics.planning.reconcile import reconcile_day
from logistics.reporting.metrics import NO_TOWN, REGISTRY, compute_metrics

log = logging.getLogger(__name__)

#: KPI cards of the overview, in this order
KPI_KEYS = (
    "tonnage_collected_t",
    "harmless_disposal_rate",
    "separation_coverage_households",
    "separation_coverage_communities",
    "resource_utilisation_rate",
    "collection_coverage",
    "t_per_truck_day",
    "in_transit_t",
)
ALL = ""  # the "all towns" key of per-town data


def _category_order(keys: list[str]) -> list[str]:
    order = list(CATEGORY_BY_KEY)
    return sorted(set(keys), key=lambda c: (order.index(c) if c in order else len(order), c))


# --------------------------------------------------------------------------- years


def data_years(session: Session) -> list[int]:
    """Calendar years that have collection records, ascending."""
    lo, hi = dashboard_repo.record_date_range(session)
    if lo is None:
        return []
    lo_d, hi_d = pd.Timestamp(lo).date(), pd.Timestamp(hi).date()
    return list(range(lo_d.year, hi_d.year + 1))


# --------------------------------------------------------------------------- overview


def compute_kpis(session: Session, start: dt.date, end: dt.date) -> dict[str, Any]:
    """The period's official figures with their inputs (county), and what it covers."""
    doc = compute_metrics(session, start, end)
    metrics = doc["groups"][0]["metrics"]
    cards = []
    for key in KPI_KEYS:
        spec = REGISTRY[key]
        m = metrics[key]
        cards.append(
            {
                "key": key,
                "unit": spec.unit,
                "value": m["value"],
                "inputs": m["inputs"],
                "missing": m.get("missing"),
            }
        )
    return {"from": doc["from"], "to": doc["to"], "covers": doc["covers"], "cards": cards}


def compute_monthly_tonnage(session: Session, years: list[int]) -> dict[str, Any]:
    """Tonnage per month and stream, for each year, county-wide and per town.

    ``t[town][str(year)][category]`` is a list of 12 monthly tonnages (``town`` ``""`` =
    all towns); months without records are 0.0.
    """
    if not years:
        return {"years": [], "categories": [], "towns": [], "t": {ALL: {}}}
    df = dashboard_repo.monthly_kg(
        session, dt.date(min(years), 1, 1), dt.date(max(years), 12, 31)
    )
    categories = _category_order(df["category"].tolist())
    towns = sorted(set(df["town"]))
    out: dict[str, dict[str, dict[str, list[float]]]] = {}
    df["year"] = df["month"].str[:4].astype(int)
    df["m"] = df["month"].str[5:7].astype(int)
    df["kg"] = df["kg"].astype(float)
    for t in [ALL, *towns]:
        sub = df if t == ALL else df[df["town"] == t]
        out[t] = {}
        for y in years:
            out[t][str(y)] = {}
            for c in categories:
                s = sub[(sub["year"] == y) & (sub["category"] == c)].groupby("m")["kg"].sum()
                out[t][str(y)][c] = [round(float(s.get(m, 0.0)) / 1000.0, 3) for m in range(1, 13)]
    return {"years": years, "categories": categories, "towns": towns, "t": out}


def compute_coverage_trend(session: Session, year: int) -> dict[str, Any]:
    """Source-separation coverage (households) at each month end, per town and county."""
    df = dashboard_repo.community_households(session)
    months = [f"{year}-{m:02d}" for m in range(1, 13)]
    ends = [
        (dt.date(year, m, 1) + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
        for m in range(1, 13)
    ]
    since = pd.to_datetime(df["since"])

    def series(sub: pd.DataFrame, sub_since: pd.Series) -> list[float | None]:
        total = float(sub["households"].sum())
        if total <= 0:
            return [None] * 12
        out: list[float | None] = []
        for e in ends:
            covered = sub["households"][sub_since.notna() & (sub_since <= pd.Timestamp(e))]
            out.append(round(float(covered.sum()) / total, 4))
        return out

    towns = sorted(set(df["town"]))
    data = {ALL: series(df, since)}
    for t in towns:
        sel = df["town"] == t
        data[t] = series(df[sel], since[sel])
    return {"year": year, "months": months, "towns": towns, "coverage": data}


def compute_disposal_flows(session: Session, start: dt.date, end: dt.date) -> dict[str, Any]:
    """Where the tonnage went (tickets): stream -> facility, transfer station -> the
    facility it sent loads on to, facility -> harmless / not harmless, and what a
    transfer station still holds -> in transit. A tonne is counted once, where it ends."""
    rows = dashboard_repo.delivered_by_facility(session, start, end)
    sent = dashboard_repo.sent_on_links(session, start, end)
    kinds = {f.facility_id: f.kind for f in repo.all_facilities(session)}
    cats = _category_order([str(r[0]) for r in rows])
    facs: dict[str, tuple[str, bool]] = {str(r[1]): (str(r[2]), bool(r[3])) for r in rows}
    for src, src_name, fid, name, harmless, _kind, _kg in sent:
        facs.setdefault(str(fid), (str(name), bool(harmless)))
        facs.setdefault(str(src), (str(src_name), False))
    order = sorted(facs)
    nodes: list[dict[str, Any]] = [{"id": f"cat:{c}", "kind": "category", "key": c} for c in cats]
    nodes += [{"id": f"fac:{f}", "kind": "facility", "key": f, "name": facs[f][0]}
              for f in order]
    links: list[dict[str, Any]] = []
    inflow: dict[str, float] = {}
    outflow: dict[str, float] = {}
    for c, f, _n, _h, kg in sorted(rows, key=lambda r: (cats.index(str(r[0])), str(r[1]))):
        links.append({"source": f"cat:{c}", "target": f"fac:{f}", "t": round(float(kg) / 1000, 3)})
        inflow[str(f)] = inflow.get(str(f), 0.0) + float(kg)
    for src, _sn, fid, _n, _h, _k, kg in sorted(sent, key=lambda r: (str(r[0]), str(r[2]))):
        links.append({"source": f"fac:{src}", "target": f"fac:{fid}",
                      "t": round(float(kg) / 1000, 3)})
        inflow[str(fid)] = inflow.get(str(fid), 0.0) + float(kg)
        outflow[str(src)] = outflow.get(str(src), 0.0) + float(kg)
    outcomes = ["harmless", "not_harmless"]
    for f in order:
        left = inflow.get(f, 0.0) - outflow.get(f, 0.0)
        if left <= 0.0005:
            continue
        if kinds.get(f) in TRANSFER_KINDS:
            target = "in_transit"
        else:
            target = "harmless" if facs[f][1] else "not_harmless"
        if target not in outcomes:
            outcomes.append(target)
        links.append({"source": f"fac:{f}", "target": target, "t": round(left / 1000, 3)})
    nodes += [{"id": o, "kind": "outcome", "key": o} for o in outcomes]
    return {"from": start.isoformat(), "to": end.isoformat(), "nodes": nodes, "links": links}


# --------------------------------------------------------------------------- map


def _hull(lon: np.ndarray, lat: np.ndarray) -> list[list[float]] | None:
    """Closed convex hull ring [[lon, lat], ...] of a town's points (None if degenerate)."""
    pts = np.unique(np.column_stack([lon, lat]), axis=0)
    if len(pts) < 3:
        return None
    try:
        hull = ConvexHull(pts)
    except QhullError:
        return None
    ring = [[round(float(pts[i, 0]), 6), round(float(pts[i, 1]), 6)] for i in hull.vertices]
    return [*ring, ring[0]]


def compute_county_map(session: Session) -> dict[str, Any]:
    """Points (by category), facilities, depots, and each town's convex hull as GeoJSON."""
    prow = dashboard_repo.point_places(session)
    points: list[dict[str, Any]] = [
        {"id": str(p), "name": str(n), "lon": float(lo), "lat": float(la), "category": str(c),
         "town": str(t)}
        for p, n, lo, la, c, t in prow
    ]
    facilities: list[dict[str, Any]] = [
        {"id": f.facility_id, "name": f.name, "kind": f.kind, "lon": f.lon, "lat": f.lat,
         "harmless": bool(f.harmless), "accepts": list(f.accepts)}
        for f in repo.all_facilities(session)
    ]
    depots = [
        {"id": d.depot_id, "name": d.name, "lon": d.lon, "lat": d.lat}
        for d in repo.all_depots(session)
    ]
    features = []
    df = pd.DataFrame(points, columns=["id", "name", "lon", "lat", "category", "town"])
    for town, sub in df.groupby("town", sort=True):
        if town == NO_TOWN:
            continue
        ring = _hull(sub["lon"].to_numpy(), sub["lat"].to_numpy())
        if ring is not None:
            features.append({"type": "Feature", "properties": {"town": str(town)},
                             "geometry": {"type": "Polygon", "coordinates": [ring]}})
    lons = [float(p["lon"]) for p in points] + [float(f["lon"]) for f in facilities]
    lats = [float(p["lat"]) for p in points] + [float(f["lat"]) for f in facilities]
    center = (
        {"lon": round((min(lons) + max(lons)) / 2, 6), "lat": round((min(lats) + max(lats)) / 2, 6)}
        if lons else {"lon": 113.98, "lat": 34.72}
    )
    span = max(max(lons) - min(lons), max(lats) - min(lats)) if lons else 0.3
    return {
        "points": points,
        "facilities": facilities,
        "depots": depots,
        "hulls": {"type": "FeatureCollection", "features": features},
        "categories": _category_order([str(p["category"]) for p in points]),
        "towns": sorted({str(p["town"]) for p in points}),
        "center": center,
        "span_deg": round(float(span), 6),
    }


# --------------------------------------------------------------------------- the day's plan


def _hours(t: dt.datetime, day: dt.date) -> float:
    """Local hours after the plan day's midnight (a time with offset, local clock)."""
    base = dt.datetime.combine(day, dt.time(), tzinfo=t.tzinfo)
    return round((t - base).total_seconds() / 3600.0, 4)


def _route_data(r: Route, day: dt.date) -> dict[str, Any]:
    """Path, unloads, timeline segments, load profile and totals of one route."""
    stops = r.stops
    path = [[s.lon, s.lat] for s in stops if s.lon is not None]
    unloads = [
        {"id": s.id, "lon": s.lon, "lat": s.lat, "at": _hours(s.start_time or s.arrival_time, day)}
        for s in stops if s.kind == "unload"
    ]
    segments: list[dict[str, Any]] = []
    load_t: list[float] = []
    load_kg: list[float] = []
    prev_dep: float | None = None
    for s in stops:
        arr = _hours(s.arrival_time, day)
        dep = _hours(s.departure_time, day)
        start_time = s.start_time
        start = _hours(start_time, day) if start_time is not None else arr
        if prev_dep is not None:
            travel_s = s.travel_s
            drive_end = min(arr, prev_dep + travel_s / 3600.0) if travel_s is not None else arr
            drive_end = round(drive_end, 4)
            if drive_end > prev_dep:
                segments.append({"kind": "driving", "start": prev_dep, "end": drive_end})
            if start > drive_end and s.kind != "break":
                segments.append({"kind": "waiting", "start": drive_end, "end": start})
        kind = {"collect": "collecting", "unload": "unloading", "break": "break"}.get(s.kind)
        if kind == "break":
            segments.append({"kind": "break", "start": arr, "end": dep})
        elif kind is not None and dep > start:
            segments.append({"kind": kind, "start": start, "end": dep})
        if s.load_kg is not None:
            load_t.append(dep)
            load_kg.append(float(sum(s.load_kg.values())))
        prev_dep = dep
    collects = [s for s in stops if s.kind == "collect"]
    # the legs of each stream: a leg takes the stream of the stop it goes to (a collect),
    # else of the trip it ends (unload, depot); lon/lat lists with None between legs
    streams: dict[str, dict[str, list[float | None]]] = {}
    trip_cat: str | None = None
    prev: Any = None
    for st in stops:
        if st.lon is None:
            continue
        cat = st.category if st.kind == "collect" and st.category else trip_cat
        if prev is not None and cat is not None:
            leg = streams.setdefault(cat, {"lon": [], "lat": []})
            leg["lon"] += [prev.lon, st.lon, None]
            leg["lat"] += [prev.lat, st.lat, None]
        if st.kind == "collect" and st.category:
            trip_cat = st.category
        prev = st
    return {
        "vehicle_id": r.vehicle_id,
        "depot_id": r.depot_id,
        "distance_km": float(r.distance_km),
        "duration_min": float(r.duration_min),
        "kg": sum(float(s.kg or 0) for s in collects),
        "collects": len(collects),
        "trips": len(unloads),
        "path": path,
        "streams": {c: streams[c] for c in _category_order(list(streams))},
        "unloads": unloads,
        "segments": segments,
        "load": {"h": load_t, "kg": load_kg},
    }


def plan_data(plan: Plan | Mapping[str, Any]) -> dict[str, Any]:
    """Routes (path, unloads, timeline segments, load profile, totals) of a plan; a JSON
    document is read with :meth:`Plan.from_json` first."""
    if not isinstance(plan, Plan):
        plan = Plan.from_json(plan)
    return {
        "plan_id": plan.plan_id,
        "date": plan.date.isoformat(),
        "summary": {} if plan.summary is None else plan.summary.to_json(),
        "routes": [_route_data(r, plan.date) for r in plan.routes],
        "unassigned": [
            {"point_id": u.point_id, "category": u.category, "kg": u.kg, "reason": u.reason}
            for u in plan.unassigned
        ],
    }


def newest_plan_date(session: Session) -> dt.date | None:
    d = dashboard_repo.newest_plan_date(session)
    return None if d is None else pd.Timestamp(d).date()


def compute_plan_day(session: Session, date: dt.date | None) -> dict[str, Any] | None:
    """The current plan of ``date`` (default: the newest planned day) as plain data."""
    day = date or newest_plan_date(session)
    if day is None:
        return None
    row = plan_repo.current_plan(session, day)
    return None if row is None else plan_data(plan_repo.load_plan(row))


# --------------------------------------------------------------------------- fleet


def compute_fleet(
    session: Session, plan: dict[str, Any] | None, year: int | None
) -> dict[str, Any]:
    """Per truck: the plan day's shift use, km, t, trips; the year's t and truck-days."""
    vehicles = {v.vehicle_id: v for v in repo.all_vehicles(session)}
    rows: dict[str, dict[str, Any]] = {}
    for vid, v in vehicles.items():
        rows[vid] = {"vehicle_id": vid, "plate": v.plate or "",
                     "shift_h": round((v.shift_end_min - v.shift_start_min) / 60.0, 4),
                     "day_km": None, "day_t": None, "day_trips": None, "utilisation": None,
                     "year_t": None, "year_truck_days": None}
    if plan is not None:
        for r in plan["routes"]:
            row = rows.setdefault(r["vehicle_id"], {"vehicle_id": r["vehicle_id"], "plate": "",
                                                     "shift_h": None, "year_t": None,
                                                     "year_truck_days": None})
            row["day_km"] = round(r["distance_km"], 3)
            row["day_t"] = round(r["kg"] / 1000.0, 3)
            row["day_trips"] = r["trips"]
            shift = row.get("shift_h")
            row["utilisation"] = (
                round(r["duration_min"] / 60.0 / shift, 4) if shift else None
            )
    if year is not None:
        for vid, kg, n in dashboard_repo.truck_day_totals(
            session, dt.date(year, 1, 1), dt.date(year, 12, 31)
        ):
            row = rows.setdefault(str(vid), {"vehicle_id": str(vid), "plate": "",
                                             "shift_h": None, "day_km": None, "day_t": None,
                                             "day_trips": None, "utilisation": None})
            row["year_t"] = round(float(kg) / 1000.0, 3)
            row["year_truck_days"] = int(n)
    return {
        "date": None if plan is None else plan["date"],
        "year": year,
        "trucks": [rows[k] for k in sorted(rows)],
    }


def town_names(session: Session) -> list[str]:
    return reporting_repo.town_names(session)


# --------------------------------------------------------------------------- plan vs actual


def compute_plan_vs_actual(session: Session, day: dt.date) -> dict[str, Any] | None:
    """Reconciliation of the day (plan versus weighbridge tickets and records), computed
    without storing it; None without a plan or before anything was recorded."""
    if plan_repo.current_plan(session, day) is None:
        return None
    doc = reconcile_day(session, day, store=False)
    if not doc["actual"]["tickets"] and not doc["actual"]["records"]:
        return None
    return {k: doc[k] for k in ("date", "plan_id", "threshold_pct", "planned", "actual",
                                "matched", "counts", "findings")}
