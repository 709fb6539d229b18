"""Read models of the dashboards: sums by month, facility and truck, and the small
tables read whole (communities, points).

Sums run in SQL (a year holds ~400,000 records); the rows come back as plain tuples
or frames for ``dashboards.data`` to shape into figure data.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from logistics.persistence.models import (
    CollectionRecord,
    Community,
    Facility,
    Plan,
    Point,
    Ticket,
)
from logistics.persistence.plan_repo import CURRENT
from logistics.persistence.reporting_repo import day_range, frame, month_of, town_of_point


def record_date_range(session: Session) -> tuple[Any, Any]:
    """The first and last day with collection records (None, None without any)."""
    lo, hi = session.execute(
        select(func.min(CollectionRecord.date), func.max(CollectionRecord.date))
    ).one()
    return lo, hi


def monthly_kg(session: Session, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Columns month ('YYYY-MM'), category, town, kg: records summed per month."""
    month = month_of(session, CollectionRecord.date).label("month")
    town = town_of_point().label("town")
    stmt = (
        select(month, Point.category, town, func.sum(CollectionRecord.kg))
        .join(Point, Point.point_id == CollectionRecord.point_id)
        .outerjoin(Community, Community.community_id == Point.community_id)
        .where(CollectionRecord.date >= start, CollectionRecord.date <= end)
        .group_by(month, Point.category, town)
    )
    return frame(session, stmt, ["month", "category", "town", "kg"])


def community_households(session: Session) -> pd.DataFrame:
    """Columns town, households, since (the day a community started separating)."""
    stmt = select(Community.town, Community.households, Community.sorting_since)
    return frame(session, stmt, ["town", "households", "since"])


def delivered_by_facility(session: Session, start: dt.date, end: dt.date) -> list[Any]:
    """Rows (category, facility_id, name, harmless, kg): tickets summed per ticket
    category and facility over the days ``start`` .. ``end``."""
    lo, hi = day_range(start, end)
    return list(session.execute(
        select(Ticket.category, Facility.facility_id, Facility.name, Facility.harmless,
               func.sum(Ticket.net_kg))
        .join(Facility, Facility.facility_id == Ticket.facility_id)
        .where(Ticket.time >= lo, Ticket.time < hi)
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
    inner = (
        select(CollectionRecord.vehicle_id, CollectionRecord.date,
               func.sum(CollectionRecord.kg).label("kg"))
        .where(CollectionRecord.date >= start, CollectionRecord.date <= end,
               CollectionRecord.vehicle_id != "")
        .group_by(CollectionRecord.vehicle_id, CollectionRecord.date)
        .subquery()
    )
    return list(session.execute(
        select(inner.c.vehicle_id, func.sum(inner.c.kg), func.count())
        .group_by(inner.c.vehicle_id)
    ).all())
