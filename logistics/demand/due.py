"""Which collections are due on a date, and how many kg each is expected to yield.

Two seams, kept apart on purpose:

* :func:`due_points` - the weekday schedule (``Point.days_mask``, bit 0 = Monday);
* :func:`expected_kg` - the kg to plan for each due point: the forecast from
  collection records where a point has history, else ``kg_per_visit``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Sequence
from typing import Any

from logistics.demand.forecast import expected_kg_forecast, safety_margin
from logistics.persistence import demand_repo
from logistics.persistence.db import Session
from logistics.persistence.models import Point

log = logging.getLogger(__name__)


def weekday_bit(date: dt.date) -> int:
    """The ``days_mask`` bit of a date's ISO weekday (Monday = 1 -> bit 0)."""
    return 1 << (date.isoweekday() - 1)


def is_due(days_mask: int, date: dt.date) -> bool:
    return bool(int(days_mask) & weekday_bit(date))


def due_points(session: Session, date: dt.date) -> list[Point]:
    """Every point collected on ``date`` by its weekday schedule, ordered by point_id."""
    points = demand_repo.points_due(session, weekday_bit(date))
    log.info("%d point(s) due on %s", len(points), date.isoformat())
    return points


def expected_kg(session: Session, points: Sequence[Point], date: dt.date) -> dict[str, float]:
    """Expected kg per point id for ``date`` (see :func:`expected_kg_detail`)."""
    return expected_kg_detail(session, points, date)[0]


def expected_kg_detail(
    session: Session, points: Sequence[Point], date: dt.date, *, margin: float | None = None
) -> tuple[dict[str, float], dict[str, Any]]:
    """Expected kg per point id for ``date`` and where it came from.

    By default the forecast from collection records (:mod:`logistics.demand.forecast`)
    times ``1 + margin`` (``margin``, else ``WASTEROUTE_FORECAST_MARGIN``, else 0)
    for every point with enough history; ``kg_per_visit`` for the others and for
    all points when ``WASTEROUTE_FORECAST=off``. The second value is the plan
    document's ``demand`` section: ``{"source": "forecast" | "static", "margin",
    "points_forecast", "points_static"}``.
    """
    kg = {p.point_id: float(p.kg_per_visit) for p in points}
    m = safety_margin(margin)
    fc: dict[str, float] = {}
    if forecast_enabled() and points:
        fc = expected_kg_forecast(session, [p.point_id for p in points], date, margin=m)
        kg.update(fc)
    info: dict[str, Any] = {
        "source": "forecast" if fc else "static",
        "margin": m if fc else 0.0,
        "points_forecast": len(fc),
        "points_static": len(kg) - len(fc),
    }
    return kg, info


#: set to off/0/false/no to plan with ``kg_per_visit`` instead of the forecast
FORECAST_ENV = "WASTEROUTE_FORECAST"


def forecast_enabled() -> bool:
    """The forecast is on unless ``WASTEROUTE_FORECAST`` is off/0/false/no."""
    return os.environ.get(FORECAST_ENV, "").strip().lower() not in {"0", "off", "false", "no"}
