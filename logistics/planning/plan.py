"""Plan a day: the points due -> :mod:`translate` -> the engine -> the stored plan.

``plan_day`` does one day:

1. demand: the points due on the date and their expected kg;
2. :func:`translate.to_problem`: depots, facilities and points as locations, matrices
   from the distance model, clients, vehicles and facilities for the engine;
3. :func:`translate.solve`;
4. :func:`translate.to_document`: the typed plan (``wasteroute.plan/1``), stored as a
   new version of the date (the old one is superseded).

Nothing is written before the solve has finished and the plan is complete, so a
failure leaves the previous plan of the date current and untouched.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass, field, replace
from typing import Any

from logistics.demand.due import due_points, expected_kg_detail
from logistics.domain import BadInput
from logistics.domain import parse_day as parse_date
from logistics.persistence import plan_repo, planning_repo
from logistics.persistence.db import Session
from logistics.persistence.models import Plan as PlanRow
from logistics.persistence.models import Point
from logistics.planning import translate
from logistics.planning.document import FORMAT, Plan
from logistics.planning.translate import (
    DistanceModel,
    Progress,
    Solution,
    SolveParams,
    Translation,
    iso,
    model_from_description,
    resolve_distance_model,
)

log = logging.getLogger(__name__)


@dataclass
class DayProblem:
    """A day translated for the engine, with where its kg came from."""

    translation: Translation
    #: client index -> Point row (one client per due point)
    points: list[Point]
    #: expected kg per point id (float, before rounding to whole kg)
    kg: dict[str, float]
    #: the plan document's ``demand`` section (where the kg came from)
    demand: dict[str, Any] = field(default_factory=dict)

    @property
    def date(self) -> dt.date:
        return self.translation.date

    @property
    def kg_due(self) -> int:
        return int(sum(int(round(self.kg[p.point_id])) for p in self.points))


@dataclass
class PlanDraft:
    """A finished, not yet stored plan (no plan_id yet)."""

    day: DayProblem
    solution: Solution
    plan: Plan
    params: SolveParams

    @property
    def document(self) -> dict[str, Any]:
        """The plan as JSON (``wasteroute.plan/1``)."""
        return self.plan.to_json()


@dataclass
class PlanResult:
    plan_id: str
    version: int
    #: the stored plan, with its plan_id
    plan: Plan
    solution: Solution
    row: PlanRow
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def document(self) -> dict[str, Any]:
        """The plan as JSON (``wasteroute.plan/1``), as written to plan.json."""
        return self.plan.to_json()


def build_problem(
    session: Session,
    date: dt.date,
    distance_model: DistanceModel | str | None = None,
    *,
    selection: dict[str, tuple[float, int | None]] | None = None,
    margin: float | None = None,
) -> DayProblem:
    """Translate the day's collections, fleet and facilities into an engine problem.

    ``selection`` (demand-driven mode) replaces the schedule: point id -> (kg, penalty);
    penalty None = must be served, else the cost of leaving it out (in cost units of km
    at cost 1 per km). ``margin``: the forecast's safety margin (default
    ``WASTEROUTE_FORECAST_MARGIN``, else 0)."""
    model = resolve_distance_model(distance_model)
    vehicles = [v for v in planning_repo.vehicles(session)
                if any(c.capacity_kg >= 1 for c in v.compartments)]
    if not vehicles:
        raise BadInput("no vehicles with a compartment: import vehicles.csv first / 没有车辆")
    if selection is None:
        points = due_points(session, date)
    else:
        points = planning_repo.points_by_id(session, selection)
    if not points:
        raise BadInput(
            f"no collections due on {date.isoformat()} ({date.strftime('%A')}) / 当日无收运点位"
        )
    if selection is None:
        kg, demand_info = expected_kg_detail(session, points, date, margin=margin)
        penalty: dict[str, int | None] = {}
    else:
        kg = {p.point_id: float(selection[p.point_id][0]) for p in points}
        penalty = {p.point_id: selection[p.point_id][1] for p in points}
        demand_info = {"source": "selection", "points_forecast": 0, "points_static": 0}
    facilities = planning_repo.facilities(session)
    tr = translate.to_problem(
        date, [translate.Truck(v) for v in vehicles],
        [translate.Collection(p, kg[p.point_id], penalty.get(p.point_id)) for p in points],
        facilities, planning_repo.depots(session), model, name="day")
    log.info(
        "%s: %d point(s) due, %d vehicle(s), %d facility(ies), %d location(s)",
        date, len(points), len(vehicles), len(facilities), len(tr.places),
    )
    demand_info = dict(demand_info)
    demand_info["expected_kg"] = {p.point_id: max(0, int(round(kg[p.point_id])))
                                  for p in points}
    return DayProblem(tr, points, kg, demand=demand_info)


def _solved(day: DayProblem, params: SolveParams, progress: Progress | None) -> PlanDraft:
    solution = translate.solve(day.translation, params, progress)
    log.info(
        "%s: %d route(s), %d unassigned, %.1f km in %.1f s (%s)",
        day.date, len(solution.routes), len(solution.unassigned), solution.distance_m / 1000,
        solution.wall_s, solution.engine,
    )
    problems = solution.check(day.translation.problem)
    for line in problems[:20]:
        log.warning("%s: engine solution breaks a rule: %s", day.date, line)
    plan = translate.to_document(day.translation, solution, params, kg_due=day.kg_due,
                                 demand=day.demand, rule_problems=len(problems))
    return PlanDraft(day=day, solution=solution, plan=plan, params=params)


def _params(params: SolveParams | None, time_limit_s: float) -> SolveParams:
    if not (isinstance(time_limit_s, int | float) and math.isfinite(time_limit_s)
            and time_limit_s > 0):
        raise BadInput(f"time limit must be a positive number of seconds (got {time_limit_s})")
    return replace(params or SolveParams(), time_limit_s=float(time_limit_s))


def make_plan(
    session: Session,
    date: dt.date,
    *,
    time_limit_s: float,
    distance_model: DistanceModel | str | None = None,
    params: SolveParams | None = None,
    progress: Progress | None = None,
    margin: float | None = None,
) -> PlanDraft:
    """Build and solve the day; return the finished plan. Writes nothing."""
    solve_params = _params(params, time_limit_s)
    day = build_problem(session, date, distance_model, margin=margin)
    return _solved(day, solve_params, progress)


def plan_day(
    session: Session,
    date: dt.date,
    *,
    time_limit_s: float,
    distance_model: DistanceModel | str | None = None,
    params: SolveParams | None = None,
    progress: Progress | None = None,
    margin: float | None = None,
) -> PlanResult:
    """Plan every collection due on ``date`` and store it as the date's new current plan.

    Raises :class:`logistics.domain.BadInput` (nothing written) when there is
    nothing to plan with: no vehicles, no points due, a bad distance model or
    time limit.
    """
    draft = make_plan(session, date, time_limit_s=time_limit_s, distance_model=distance_model,
                      params=params, progress=progress, margin=margin)
    row = plan_repo.store_plan(session, date, draft.plan)
    return PlanResult(
        plan_id=row.plan_id,
        version=row.version,
        plan=draft.plan.with_id(row.plan_id),
        solution=draft.solution,
        row=row,
        stats=dict(draft.solution.stats),
    )


def make_selected_plan(
    session: Session,
    date: dt.date,
    selection: dict[str, tuple[float, int | None]],
    *,
    time_limit_s: float,
    distance_model: DistanceModel | str | None = None,
    params: SolveParams | None = None,
) -> PlanDraft:
    """Like :func:`make_plan` for the points of ``selection`` (demand-driven mode):
    point id -> (kg, penalty or None for must-serve). Writes nothing."""
    solve_params = replace(params or SolveParams(), time_limit_s=float(time_limit_s))
    day = build_problem(session, date, distance_model, selection=selection)
    return _solved(day, solve_params, None)


__all__ = [
    "FORMAT", "DayProblem", "PlanDraft", "PlanResult", "Progress", "SolveParams",
    "build_problem", "iso", "make_plan", "make_selected_plan", "model_from_description",
    "parse_date", "plan_day", "resolve_distance_model",
]
