"""Read models of demand/: the points due on a weekday, point schedules, and kg
collected per (date, point) over date ranges."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from logistics.persistence.models import CollectionRecord, Point


def points_due(session: Session, weekday_bit: int) -> list[Point]:
    """Every point whose ``days_mask`` has ``weekday_bit``, ordered by point_id."""
    stmt = select(Point).where(Point.days_mask.op("&")(weekday_bit) != 0).order_by(Point.point_id)
    return list(session.scalars(stmt))


def points_for_forecast(session: Session) -> Sequence[Any]:
    """(point_id, category, kg_per_visit, days_mask) of every point."""
    return session.execute(
        select(Point.point_id, Point.category, Point.kg_per_visit, Point.days_mask)
    ).all()


def point_schedules(session: Session) -> Sequence[Any]:
    """(point_id, kg_per_visit, days_mask) of every point, ordered by point_id."""
    return session.execute(
        select(Point.point_id, Point.kg_per_visit, Point.days_mask).order_by(Point.point_id)
    ).all()


_KG_BY_DAY = (CollectionRecord.date, CollectionRecord.point_id, func.sum(CollectionRecord.kg))


def kg_by_day(
    session: Session, start: dt.date, end: dt.date, *, ordered: bool = False
) -> Sequence[Any]:
    """(date, point_id, kg) summed per date and point over [start, end)."""
    stmt = (
        select(*_KG_BY_DAY)
        .where(CollectionRecord.date >= start, CollectionRecord.date < end)
        .group_by(CollectionRecord.date, CollectionRecord.point_id)
    )
    if ordered:
        stmt = stmt.order_by(CollectionRecord.date, CollectionRecord.point_id)
    return session.execute(stmt).all()


def kg_by_day_in(
    session: Session, spans: Iterable[tuple[dt.date, dt.date]], days: Iterable[dt.date]
) -> Sequence[Any]:
    """(date, point_id, kg) summed per date and point on the days inside the closed
    ``spans`` and on ``days``, in one aggregate."""
    cond = or_(
        *[and_(CollectionRecord.date >= lo, CollectionRecord.date <= hi) for lo, hi in spans],
        CollectionRecord.date.in_(list(days)),
    )
    stmt = select(*_KG_BY_DAY).where(cond).group_by(
        CollectionRecord.date, CollectionRecord.point_id
    )
    return session.execute(stmt).all()


def records_between(session: Session, start: dt.date, end: dt.date) -> Sequence[Any]:
    """(date, point_id, kg) of every collection record over [start, end]."""
    return session.execute(
        select(CollectionRecord.date, CollectionRecord.point_id, CollectionRecord.kg).where(
            CollectionRecord.date >= start, CollectionRecord.date <= end
        )
    ).all()
