"""Read models of the dashboards: sums by month, facility and truck, and the small
tables read whole (communities, points).

Sums run in SQL; the rows come back as plain tuples or frames for ``dashboards.data``
to shape into figure data. Sums by month, by day and by truck read the record rollups
(migration 0008, kept by the records' triggers and the bulk loader) rather than the
records: a city's year holds ten million records, its rollups a few hundred thousand
rows. Only the days of a month a period cuts are read from the records.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from logistics.persistence.models import (
    CollectionRecord,
    Community,
    Facility,
    Plan,
    Point,
    RecordRollup,
    Ticket,
    TruckDayRollup,
)
from logistics.persistence.plan_repo import CURRENT
from logistics.persistence.reporting_repo import (
    day_of,
    day_range,
    frame,
    month_of,
    month_spans,
    town_of_point,
    whole_month,
)


def record_date_range(session: Session) -> tuple[Any, Any]:
    """The first and last day with collection records (None, None without any)."""
    lo, hi = session.execute(
        select(func.min(CollectionRecord.date), func.max(CollectionRecord.date))
    ).one()
    return lo, hi


def monthly_kg(session: Session, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Columns month ('YYYY-MM'), category, town, kg: records summed per month (whole
    months from the point-month rollups, the days of cut months from the records)."""
    town = town_of_point().label("town")
    spans = month_spans(start, end)
    whole = [m for m, lo, hi in spans if whole_month(m, lo, hi)]
    stmts = []
    if whole:
        month = month_of(session, RecordRollup.month).label("month")
        stmts.append(
            select(month, Point.category, town, func.sum(RecordRollup.kg))
            .join(Point, Point.point_id == RecordRollup.point_id)
            .outerjoin(Community, Community.community_id == Point.community_id)
            .where(RecordRollup.month.in_(whole))
            .group_by(month, Point.category, town))
    for m, lo, hi in spans:
        if whole_month(m, lo, hi):
            continue
        month = month_of(session, CollectionRecord.date).label("month")
        stmts.append(
            select(month, Point.category, town, func.sum(CollectionRecord.kg))
            .join(Point, Point.point_id == CollectionRecord.point_id)
            .outerjoin(Community, Community.community_id == Point.community_id)
            .where(CollectionRecord.date >= lo, CollectionRecord.date <= hi)
            .group_by(month, Point.category, town))
    cols = ["month", "category", "town", "kg"]
    frames = [f for f in (frame(session, q, cols) for q in stmts) if not f.empty]
    # whole and cut months never share a month: the pieces only need stacking
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def community_households(session: Session) -> pd.DataFrame:
    """Columns town, households, since (the day a community started separating)."""
    stmt = select(Community.town, Community.households, Community.sorting_since)
    return frame(session, stmt, ["town", "households", "since"])


def delivered_by_facility(session: Session, start: dt.date, end: dt.date) -> list[Any]:
    """Rows (category, facility_id, name, harmless, kg): tickets straight from collection
    (no source facility) summed per ticket category and facility over the days."""
    lo, hi = day_range(start, end)
    return list(session.execute(
        select(Ticket.category, Facility.facility_id, Facility.name, Facility.harmless,
               func.sum(Ticket.net_kg))
        .join(Facility, Facility.facility_id == Ticket.facility_id)
        .where(Ticket.time >= lo, Ticket.time < hi, Ticket.source_facility_id.is_(None))
        .group_by(Ticket.category, Facility.facility_id, Facility.name, Facility.harmless)
    ).all())


def point_places(session: Session) -> list[Any]:
    """Rows (point_id, name, lon, lat, category, town) by point id."""
    return list(session.execute(
        select(Point.point_id, Point.name, Point.lon, Point.lat, Point.category,
               town_of_point())
        .outerjoin(Community, Community.community_id == Point.community_id)
        .order_by(Point.point_id)
    ).all())


def newest_plan_date(session: Session) -> Any:
    """The latest day that has a current plan (None without any)."""
    return session.scalar(select(func.max(Plan.date)).where(Plan.status == CURRENT))


def truck_day_totals(session: Session, start: dt.date, end: dt.date) -> list[Any]:
    """Rows (vehicle_id, kg, truck_days) over identified trucks' records of the days."""
    return list(session.execute(
        select(TruckDayRollup.vehicle_id, func.sum(TruckDayRollup.kg), func.count())
        .where(TruckDayRollup.date >= start, TruckDayRollup.date <= end,
               TruckDayRollup.vehicle_id != "")
        .group_by(TruckDayRollup.vehicle_id)
    ).all())


# --------------------------------------------------------------------------- landing page


def record_date_bounds(session: Session) -> tuple[dt.date | None, dt.date | None]:
    """First and last day with records, as dates."""
    lo, hi = record_date_range(session)
    return _as_date(lo), _as_date(hi)


def _as_date(d: Any) -> dt.date | None:
    if d is None or isinstance(d, dt.date):
        return d
    return dt.date.fromisoformat(str(d)[:10])


def daily_records(session: Session, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Columns day, kg, records: collection records per day (from the truck-day rollups,
    whose vehicle '' holds the records that name no truck)."""
    stmt = (
        select(TruckDayRollup.date, func.sum(TruckDayRollup.kg), func.sum(TruckDayRollup.records))
        .where(TruckDayRollup.date >= start, TruckDayRollup.date <= end)
        .group_by(TruckDayRollup.date)
    )
    return frame(session, stmt, ["day", "kg", "records"])


def daily_arrivals(session: Session, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Columns day, kind, harmless, sent_on, kg: tickets per day by the receiving
    facility's kind and flag, and whether the load was sent on by another facility."""
    lo, hi = day_range(start, end)
    day = day_of(session, Ticket.time).label("day")
    sent = Ticket.source_facility_id.is_not(None).label("sent_on")
    stmt = (
        select(day, Facility.kind, Facility.harmless, sent, func.sum(Ticket.net_kg))
        .join(Facility, Facility.facility_id == Ticket.facility_id)
        .where(Ticket.time >= lo, Ticket.time < hi)
        .group_by(day, Facility.kind, Facility.harmless, sent)
    )
    return frame(session, stmt, ["day", "kind", "harmless", "sent_on", "kg"])


def daily_sent_on(session: Session, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Columns day, kind, harmless, kg: loads sent on per day, by the *sending*
    facility's kind and flag."""
    lo, hi = day_range(start, end)
    day = day_of(session, Ticket.time).label("day")
    stmt = (
        select(day, Facility.kind, Facility.harmless, func.sum(Ticket.net_kg))
        .join(Facility, Facility.facility_id == Ticket.source_facility_id)
        .where(Ticket.time >= lo, Ticket.time < hi)
        .group_by(day, Facility.kind, Facility.harmless)
    )
    return frame(session, stmt, ["day", "kind", "harmless", "kg"])


def facility_day_intake(session: Session, day: dt.date) -> pd.DataFrame:
    """Columns facility_id, name, kind, capacity_kg, kg: what each facility took in on
    ``day`` (every facility, 0 when none)."""
    lo, hi = day_range(day, day)
    kg = (select(Ticket.facility_id.label("fid"), func.sum(Ticket.net_kg).label("kg"))
          .where(Ticket.time >= lo, Ticket.time < hi).group_by(Ticket.facility_id).subquery())
    stmt = (
        select(Facility.facility_id, Facility.name, Facility.kind, Facility.daily_capacity_kg,
               func.coalesce(kg.c.kg, 0.0))
        .outerjoin(kg, kg.c.fid == Facility.facility_id)
        .order_by(Facility.facility_id)
    )
    return frame(session, stmt, ["facility_id", "name", "kind", "capacity_kg", "kg"])


def points_recorded_on(session: Session, day: dt.date) -> set[str]:
    """Ids of the points with a record on ``day``."""
    return {str(p) for p in session.scalars(
        select(CollectionRecord.point_id).where(CollectionRecord.date == day).distinct())}


def sent_on_links(session: Session, start: dt.date, end: dt.date) -> list[Any]:
    """Rows (source_id, source_name, facility_id, name, harmless, kind, kg): loads sent on
    from one facility to another over the days."""
    lo, hi = day_range(start, end)
    src = aliased(Facility)
    return list(session.execute(
        select(src.facility_id, src.name, Facility.facility_id, Facility.name,
               Facility.harmless, Facility.kind, func.sum(Ticket.net_kg))
        .join(Facility, Facility.facility_id == Ticket.facility_id)
        .join(src, src.facility_id == Ticket.source_facility_id)
        .where(Ticket.time >= lo, Ticket.time < hi)
        .group_by(src.facility_id, src.name, Facility.facility_id, Facility.name,
                  Facility.harmless, Facility.kind)
    ).all())
