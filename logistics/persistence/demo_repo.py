"""Read models of the demo's summary: rows per table and the year's tonnage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from logistics.persistence import models as m

#: table name shown in the demo summary -> model, in the order shown
SUMMARY_TABLES: dict[str, Any] = {
    "towns": m.Town,
    "depots": m.Depot,
    "facilities": m.Facility,
    "vehicles": m.Vehicle,
    "compartments": m.Compartment,
    "communities": m.Community,
    "points": m.Point,
    "records": m.CollectionRecord,
    "tickets": m.Ticket,
}


@dataclass(frozen=True, slots=True)
class Tonnage:
    """Collected kg per category (records), delivered and delivered-harmless kg
    (weighbridge tickets)."""

    collected_kg_by_category: dict[str, float]
    delivered_kg: float
    delivered_harmless_kg: float


def table_counts(session: Session) -> dict[str, int]:
    """Rows per table, as the database holds them."""
    return {
        name: int(session.scalar(select(func.count()).select_from(model)) or 0)
        for name, model in SUMMARY_TABLES.items()
    }


def tonnage(session: Session) -> Tonnage:
    rows = session.execute(
        select(m.Point.category, func.sum(m.CollectionRecord.kg))
        .join(m.Point, m.Point.point_id == m.CollectionRecord.point_id)
        .group_by(m.Point.category)
    ).all()
    # a load a transfer station sent on was weighed once already, on its way in
    delivered = session.scalar(
        select(func.sum(m.Ticket.net_kg)).where(m.Ticket.source_facility_id.is_(None))
    ) or 0.0
    harmless = (
        session.scalar(
            select(func.sum(m.Ticket.net_kg))
            .join(m.Facility, m.Facility.facility_id == m.Ticket.facility_id)
            .where(m.Facility.harmless.is_(True))
        )
        or 0.0
    )
    return Tonnage(
        {str(cat): float(kg) for cat, kg in rows}, float(delivered), float(harmless)
    )
