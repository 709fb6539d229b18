"""Read models and writes of planning, re-planning, reconciliation, master routes and
route sheets: the fleet, facilities, points by id, complaints, tickets and records of a
day, findings. Queries only; flushes, never commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, selectinload

from logistics.persistence.models import (
    CollectionRecord,
    Community,
    Complaint,
    Depot,
    Facility,
    Plan,
    Point,
    ReconcileFinding,
    Ticket,
    Vehicle,
)
from logistics.persistence.plan_repo import CURRENT

#: ids per IN (...) list: below the bound-parameter limits of SQLite and PostgreSQL
_CHUNK = 900


def _day(date: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """Local midnight of ``date`` and of the next day (times are stored local, naive)."""
    day0 = dt.datetime.combine(date, dt.time(0))
    return day0, day0 + dt.timedelta(days=1)


# ---------------------------------------------------------------- fleet and places


def vehicles(session: Session) -> list[Vehicle]:
    """Every vehicle with its compartments, by id."""
    return list(session.scalars(
        select(Vehicle).options(selectinload(Vehicle.compartments)).order_by(Vehicle.vehicle_id)))


def facilities(session: Session) -> list[Facility]:
    """Every facility, by id."""
    return list(session.scalars(select(Facility).order_by(Facility.facility_id)))


def depots(session: Session) -> dict[str, Depot]:
    return {d.depot_id: d for d in session.scalars(select(Depot))}


def point(session: Session, point_id: str) -> Point | None:
    return session.get(Point, point_id)


def points(session: Session) -> list[Point]:
    """Every point, by id."""
    return list(session.scalars(select(Point).order_by(Point.point_id)))


def by_ids(session: Session, model: Any, ids: Iterable[str]) -> dict[str, Any]:
    """Rows of ``model`` (Point, Community, Facility, Depot, Vehicle) by primary key id;
    ids not found are left out."""
    key = {Point: Point.point_id, Community: Community.community_id,
           Facility: Facility.facility_id, Depot: Depot.depot_id,
           Vehicle: Vehicle.vehicle_id}[model]
    items = sorted(set(ids))
    found: dict[str, Any] = {}
    for i in range(0, len(items), _CHUNK):
        for row in session.scalars(select(model).where(key.in_(items[i:i + _CHUNK]))):
            found[getattr(row, key.key)] = row
    return found


def points_by_id(session: Session, ids: Iterable[str]) -> list[Point]:
    """The points of ``ids`` that exist, by id."""
    return sorted(by_ids(session, Point, ids).values(), key=lambda p: p.point_id)


def set_days_mask(session: Session, days: dict[str, int]) -> None:
    """Write ``points.days_mask`` of these points (point id -> mask)."""
    for pid, mask in sorted(days.items()):
        session.execute(update(Point).where(Point.point_id == pid).values(days_mask=mask))
    session.flush()


def current_documents(session: Session, limit: int) -> list[dict[str, Any]]:
    """Documents of the current plans of the latest ``limit`` dates, newest first."""
    return list(session.scalars(select(Plan.document).where(Plan.status == CURRENT)
                                .order_by(Plan.date.desc()).limit(limit)))


# ---------------------------------------------------------------- complaints


def open_complaints(session: Session, date: dt.date, until: dt.datetime) -> list[Complaint]:
    """Complaints of ``date`` received up to ``until`` (local) and not handled yet."""
    day0, _ = _day(date)
    return list(session.scalars(
        select(Complaint)
        .where(Complaint.handled.is_(False), Complaint.time >= day0, Complaint.time <= until)
        .order_by(Complaint.time, Complaint.id)))


def mark_handled(session: Session, complaints: list[Complaint]) -> None:
    for c in complaints:
        c.handled = True
    session.flush()


# ---------------------------------------------------------------- what happened on a day


def tickets_of(session: Session, date: dt.date) -> list[Ticket]:
    """Weighbridge tickets of ``date`` (local time), by time, facility and number; loads
    a transfer station sent on (``source_facility_id``) are not the collection trucks'."""
    day0, day1 = _day(date)
    return list(session.scalars(
        select(Ticket).where(Ticket.time >= day0, Ticket.time < day1,
                             Ticket.source_facility_id.is_(None))
        .order_by(Ticket.time, Ticket.facility_id, Ticket.ticket_no)))


def records_of(session: Session, date: dt.date) -> list[CollectionRecord]:
    return list(session.scalars(select(CollectionRecord).where(CollectionRecord.date == date)))


def replace_findings(session: Session, date: dt.date, findings: list[ReconcileFinding]) -> None:
    """The findings of ``date`` become these."""
    session.execute(delete(ReconcileFinding).where(ReconcileFinding.date == date))
    session.add_all(findings)
    session.flush()


def findings_of(session: Session, date: dt.date) -> list[ReconcileFinding]:
    return list(session.scalars(select(ReconcileFinding).where(ReconcileFinding.date == date)
                                .order_by(ReconcileFinding.id)))


def clear_reconcile_day(session: Session, date: dt.date, ticket_prefix: str) -> None:
    """Remove the records of ``date`` and its tickets whose number starts with
    ``ticket_prefix`` (what a made-up reconcile day writes)."""
    day0, day1 = _day(date)
    session.execute(delete(CollectionRecord).where(CollectionRecord.date == date))
    session.execute(delete(Ticket).where(Ticket.time >= day0, Ticket.time < day1,
                                         Ticket.ticket_no.like(f"{ticket_prefix}%")))


def add_all(session: Session, rows: Iterable[Any]) -> None:
    session.add_all(list(rows))
    session.flush()


__all__ = ["add_all", "by_ids", "clear_reconcile_day", "current_documents", "depots",
           "facilities", "findings_of", "mark_handled", "open_complaints", "point", "points",
           "points_by_id", "records_of", "replace_findings", "set_days_mask", "tickets_of",
           "vehicles"]
