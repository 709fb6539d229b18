"""Plans: versions per date, the document and its rows. Queries only; never commits.

A date may have many plans; each new one gets version ``max + 1`` and the id
``f"{date}-{version}"`` and becomes ``current``, the previous current one becomes
``superseded``. Callers make the plan completely (solve, build the document)
before calling :func:`store_plan`, and the caller's transaction (one per CLI
command / API request) makes the switch atomic: a failure anywhere leaves the
old plan current and untouched.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session, selectinload

from logistics.persistence.models import Plan, PlanRoute, PlanStop, PlanUnassigned
from logistics.persistence.ops_repo import lock_day
from logistics.planning import document as plan_document

log = logging.getLogger(__name__)

CURRENT = "current"
SUPERSEDED = "superseded"


def plan_id_for(date: dt.date, version: int) -> str:
    return f"{date.isoformat()}-{version}"


def next_version(session: Session, date: dt.date) -> int:
    top = session.scalar(select(func.max(Plan.version)).where(Plan.date == date))
    return int(top or 0) + 1


def load_plan(row: Plan) -> plan_document.Plan:
    """The typed plan document of a stored plan."""
    return plan_document.Plan.from_json(row.document)


def store_plan(
    session: Session,
    date: dt.date,
    plan: plan_document.Plan | dict[str, Any],
    *,
    created_at: dt.datetime | None = None,
) -> Plan:
    """Store ``plan`` as the new current plan of ``date`` and supersede the old one.

    The stored document is ``plan.to_json()`` with the new ``plan_id``; a JSON document
    (dict) is validated first and gets its ``plan_id`` set in place. Flushes; the caller
    commits.
    """
    typed = plan if isinstance(plan, plan_document.Plan) else plan_document.Plan.from_json(plan)
    # the day's lock, as a planning job holds it from its "still current?" check to its
    # store: a plan stored from the CLI meanwhile waits instead of slipping in between
    lock_day(session, date)
    version = next_version(session, date)
    plan_id = plan_id_for(date, version)
    if isinstance(plan, dict):
        plan["plan_id"] = plan_id
    typed = typed.with_id(plan_id)
    document = typed.to_json()
    superseded = session.execute(
        update(Plan)
        .where(Plan.date == date, Plan.status == CURRENT)
        .values(status=SUPERSEDED)
        .execution_options(synchronize_session="fetch")
    )
    row = Plan(
        plan_id=plan_id,
        date=date,
        version=version,
        status=CURRENT,
        created_at=created_at or dt.datetime.now(dt.UTC).replace(tzinfo=None),
        document=document,
        summary=dict(document.get("summary", {})),
    )
    for seq, r in enumerate(typed.routes):
        route = PlanRoute(
            seq=seq,
            vehicle_id=r.vehicle_id,
            depot_id=r.depot_id,
            distance_km=float(r.distance_km),
            duration_min=float(r.duration_min),
        )
        for sseq, st in enumerate(r.stops):
            route.stops.append(
                PlanStop(
                    seq=sseq,
                    kind=st.kind,
                    ref_id=st.id,
                    lon=st.lon,
                    lat=st.lat,
                    category=st.category,
                    kg=st.kg,
                    arrival=st.arrival_time,
                    start=st.start_time,
                    departure=st.departure_time,
                    load_kg=None if st.load_kg is None else dict(st.load_kg),
                )
            )
        row.routes.append(route)
    for u in typed.unassigned:
        row.unassigned.append(
            PlanUnassigned(point_id=u.point_id, category=u.category, kg=float(u.kg),
                           reason=u.reason)
        )
    session.add(row)
    session.flush()
    log.info(
        "stored plan %s (%d route(s), %d unassigned; superseded %s)",
        plan_id, len(row.routes), len(row.unassigned), superseded.rowcount,  # type: ignore[attr-defined]
    )
    return row


def current_plan(session: Session, date: dt.date) -> Plan | None:
    """The plan in force for ``date`` (status ``current``), or None."""
    stmt = (
        select(Plan)
        .where(Plan.date == date, Plan.status == CURRENT)
        .order_by(Plan.version.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()


def get_plan(session: Session, plan_id: str) -> Plan | None:
    """One plan by id (any status), or None."""
    return session.get(Plan, plan_id)


def _plans(date: dt.date | None, status: str | None) -> Select[Any]:
    stmt = select(Plan)
    if date is not None:
        stmt = stmt.where(Plan.date == date)
    if status is not None:
        stmt = stmt.where(Plan.status == status)
    return stmt


def list_plans(
    session: Session,
    date: dt.date | None = None,
    *,
    status: str | None = None,
    with_rows: bool = False,
    newest_first: bool = False,
    limit: int | None = None,
    offset: int = 0,
) -> list[Plan]:
    """Plans ordered by date then version (``newest_first``: the other way round);
    filter by date and/or status; ``limit``/``offset`` give one page.

    ``with_rows`` loads routes, stops and unassigned rows in the same round trips.
    """
    stmt = _plans(date, status)
    if newest_first:
        stmt = stmt.order_by(Plan.date.desc(), Plan.version.desc())
    else:
        stmt = stmt.order_by(Plan.date, Plan.version)
    if with_rows:
        stmt = stmt.options(
            selectinload(Plan.routes).selectinload(PlanRoute.stops),
            selectinload(Plan.unassigned),
        )
    if limit is not None:
        stmt = stmt.limit(limit)
    if offset:
        stmt = stmt.offset(offset)
    return list(session.scalars(stmt))


def count_plans(session: Session, date: dt.date | None = None, *,
                status: str | None = None) -> int:
    """How many plans :func:`list_plans` lists without a page."""
    return int(session.scalar(select(func.count()).select_from(
        _plans(date, status).subquery())) or 0)


def routes_of(session: Session, plan_id: str) -> list[PlanRoute]:
    """The stored routes of a plan in order, with their stops."""
    return list(session.scalars(
        select(PlanRoute).where(PlanRoute.plan_id == plan_id)
        .options(selectinload(PlanRoute.stops)).order_by(PlanRoute.seq)))
