"""Queries of the HTTP API's data, user and event endpoints: paged lists with filters,
rows by key or by their natural key, deletes. Only flushes; the request's transaction
commits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session, selectinload

from logistics.persistence.models import (
    Base,
    CollectionRecord,
    Community,
    Complaint,
    Depot,
    Facility,
    Plan,
    PlanRoute,
    PlanStop,
    Point,
    Ticket,
    User,
    Vehicle,
)
from logistics.persistence.plan_repo import CURRENT

RowT = TypeVar("RowT", bound=Base)


@dataclass(frozen=True)
class RowFilter:
    """Filters of a list; None = not filtered."""

    date: dt.date | None = None
    town: str | None = None
    category: str | None = None


@dataclass(frozen=True)
class Table:
    model: type[Base]
    #: the column a list is ordered by and ``GET /<kind>/{key}`` looks up
    key: str
    #: relationships loaded with every row
    eager: tuple[str, ...] = ()

    def options(self) -> list[Any]:
        return [selectinload(getattr(self.model, rel)) for rel in self.eager]


#: API resource kind -> its table
TABLES: dict[str, Table] = {
    "depots": Table(Depot, "depot_id"),
    "facilities": Table(Facility, "facility_id"),
    "vehicles": Table(Vehicle, "vehicle_id", ("compartments",)),
    "communities": Table(Community, "community_id"),
    "points": Table(Point, "point_id"),
    "records": Table(CollectionRecord, "id"),
    "tickets": Table(Ticket, "id"),
}


def page(session: Session, stmt: Select[Any], order: list[Any], limit: int,
         offset: int) -> tuple[list[Any], int]:
    """One page of ``stmt`` in ``order`` and the count of all its rows."""
    count = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = list(session.scalars(stmt.order_by(*order).limit(limit).offset(offset)))
    return rows, int(count)


def _points_in_town(town: str) -> Any:
    return Point.community_id.in_(select(Community.community_id).where(Community.town == town))


def _where(model: Any, stmt: Select[Any], f: RowFilter) -> Select[Any]:
    if f.date is not None:
        if model is Ticket:
            start = dt.datetime.combine(f.date, dt.time())
            stmt = stmt.where(and_(Ticket.time >= start,
                                   Ticket.time < start + dt.timedelta(days=1)))
        else:
            stmt = stmt.where(model.date == f.date)
    if f.town is not None:
        if model is Community:
            stmt = stmt.where(Community.town == f.town)
        elif model is Point:
            stmt = stmt.where(_points_in_town(f.town))
        else:
            stmt = stmt.where(model.point_id.in_(select(Point.point_id).where(
                _points_in_town(f.town))))
    if f.category is not None:
        if model is CollectionRecord:
            stmt = stmt.where(CollectionRecord.point_id.in_(
                select(Point.point_id).where(Point.category == f.category)))
        else:
            stmt = stmt.where(model.category == f.category)
    return stmt


def list_rows(session: Session, kind: str, f: RowFilter, limit: int,
              offset: int) -> tuple[list[Any], int]:
    """One page of a resource's rows (by key) matching ``f``, and how many match."""
    t = TABLES[kind]
    stmt = _where(t.model, select(t.model).options(*t.options()), f)
    return page(session, stmt, [getattr(t.model, t.key)], limit, offset)


def get_row(session: Session, kind: str, key: Any) -> Any:
    """The row of a resource with this key, or None."""
    t = TABLES[kind]
    return session.get(t.model, key, options=t.options())


#: the columns that identify a record or a ticket besides its numeric id
NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    "records": ("date", "point_id", "vehicle_id"),
    "tickets": ("facility_id", "ticket_no"),
}


def find_by_natural_key(session: Session, kind: str, values: dict[str, Any]) -> Any:
    """The record or ticket whose natural key (:data:`NATURAL_KEYS`) is ``values``, or
    None."""
    model = TABLES[kind].model
    return session.scalars(select(model).where(
        *(getattr(model, c) == values[c] for c in NATURAL_KEYS[kind]))).one_or_none()


def set_natural_key(session: Session, kind: str, row: Base, values: dict[str, Any]) -> None:
    """Give a record or ticket another natural key, in place (same id)."""
    for c in NATURAL_KEYS[kind]:
        setattr(row, c, values[c])
    session.flush()


def delete_row(session: Session, row: Base) -> None:
    session.delete(row)
    session.flush()


def forget_loaded(session: Session) -> None:
    """Reload rows on next access (after writes that bypassed the identity map)."""
    session.expire_all()


def add_row(session: Session, row: RowT) -> RowT:
    """Add a new row and flush it (constraint errors surface here)."""
    session.add(row)
    session.flush()
    return row


def planned_stop_id(session: Session, date: dt.date, vehicle_id: str | None,
                    point_id: str) -> int | None:
    """A collect stop at ``point_id`` on a route of ``vehicle_id`` in the current plan of
    ``date``, or None."""
    return session.scalar(
        select(PlanStop.id)
        .join(PlanRoute, PlanStop.route_id == PlanRoute.id)
        .join(Plan, PlanRoute.plan_id == Plan.plan_id)
        .where(Plan.date == date, Plan.status == CURRENT, PlanRoute.vehicle_id == vehicle_id,
               PlanStop.kind == "collect", PlanStop.ref_id == point_id)
        .limit(1)
    )


# ---------------------------------------------------------------- users and events


def user_exists(session: Session, name: str) -> bool:
    return session.get(User, name) is not None


def point_exists(session: Session, point_id: str) -> bool:
    return session.get(Point, point_id) is not None


def list_users(session: Session, limit: int, offset: int) -> tuple[list[User], int]:
    """One page of users by name, and how many there are."""
    return page(session, select(User), [User.name], limit, offset)


def list_complaints(session: Session, limit: int, offset: int) -> tuple[list[Complaint], int]:
    """One page of complaints, newest first, and how many there are."""
    return page(session, select(Complaint), [Complaint.id.desc()], limit, offset)
