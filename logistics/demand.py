"""Which collections are due on a date, and how many kg each is expected to yield.

Two seams, kept apart on purpose:

* :func:`due_points` - the weekday schedule (``Point.days_mask``, bit 0 = Monday);
* :func:`expected_kg` - the kg to plan for each due point. For now this is the
  point's ``kg_per_visit``; the forecast from collection records (issue 7) will
  replace the body of this function without changing its signature.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from logistics.persistence.models import Point

log = logging.getLogger(__name__)


def weekday_bit(date: dt.date) -> int:
    """The ``days_mask`` bit of a date's ISO weekday (Monday = 1 -> bit 0)."""
    return 1 << (date.isoweekday() - 1)


def is_due(days_mask: int, date: dt.date) -> bool:
    return bool(int(days_mask) & weekday_bit(date))


def due_points(session: Session, date: dt.date) -> list[Point]:
    """Every point collected on ``date`` by its weekday schedule, ordered by point_id."""
    bit = weekday_bit(date)
    stmt = (
        select(Point)
        .where(Point.days_mask.op("&")(bit) != 0)
        .order_by(Point.point_id)
    )
    points = list(session.scalars(stmt))
    log.info("%d point(s) due on %s", len(points), date.isoformat())
    return points


def expected_kg(session: Session, points: Sequence[Point], date: dt.date) -> dict[str, float]:
    """Expected kg per point id for ``date``.

    The point's ``kg_per_visit``; with ``WASTEROUTE_FORECAST=on`` the forecast from
    collection records (:mod:`logistics.forecast`, plus ``WASTEROUTE_FORECAST_MARGIN``)
    for every point with enough history.
    """
    kg = {p.point_id: float(p.kg_per_visit) for p in points}
    if forecast_enabled():
        from logistics.forecast import expected_kg_forecast

        # only points with enough history are forecast; the others keep kg_per_visit
        kg.update(expected_kg_forecast(session, [p.point_id for p in points], date))
    return kg


#: set to 1/on/true to plan with the forecast from collection records (issue 7)
FORECAST_ENV = "WASTEROUTE_FORECAST"


def forecast_enabled() -> bool:
    import os

    return os.environ.get(FORECAST_ENV, "").strip().lower() in {"1", "on", "true", "yes"}
