"""The bridge between the domain and the routing engine (the only logistics module
that imports ``optimizer``).

``plan_day`` does one day:

1. demand: the points due on the date and their expected kg;
2. domain -> :class:`optimizer.Problem`: locations (depots, facilities, points),
   matrices from the distance model, clients (demand ``{category: kg}`` as int,
   windows in seconds from local midnight), vehicles (compartments, shift,
   break), facilities (accepts, hours, unload time, daily capacity);
3. :func:`optimizer.solve.solve`;
4. Solution -> the plan document (``wasteroute.plan/1``, see formats.md) and the
   stored Plan rows (a new version of the date; the old one is superseded).

Nothing is written before the solve has finished and the document is complete,
so a failure leaves the previous plan of the date current and untouched.

Figures of the document are made to obey the plan rules exactly:

* every leg is taken from the same integer matrices the solver used; each stop
  carries ``leg_m`` (metres from the previous place) and ``travel_s``; a route's
  ``distance_km`` is the sum of its ``leg_m`` divided by 1000 (metre precision,
  so "sum of the legs" holds exactly);
* times are whole seconds from the solver, written as ISO 8601 with +08:00;
* loads are recomputed from the visits (collect adds, an unload empties every
  compartment whose category the facility accepts).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from logistics.demand.due import due_points, expected_kg_detail
from logistics.domain import BadInput
from logistics.persistence import plan_repo
from logistics.persistence.models import Depot, Plan, Point, Vehicle
from logistics.persistence.models import Facility as FacilityRow
from logistics.settings import TIMEZONE
from optimizer.distance import DistanceError, DistanceModel, Haversine, from_spec
from optimizer.params import SolveParams
from optimizer.problem import Client, Facility, Problem, ProblemError
from optimizer.problem import Vehicle as SolverVehicle
from optimizer.solution import Solution, Visit

log = logging.getLogger(__name__)

FORMAT = "wasteroute.plan/1"
TZ = ZoneInfo(TIMEZONE)

#: progress(fraction of the time limit used, best objective so far or None)
Progress = Callable[[float, int | None], None]


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Place:
    """One location of the problem: what it is in the domain."""

    kind: str  # "depot" | "facility" | "point"
    id: str
    name: str
    lon: float
    lat: float


@dataclass
class DayProblem:
    """A day translated for the engine, with the maps back to the domain."""

    date: dt.date
    problem: Problem
    places: list[Place]
    #: client index -> Point row (one client per due point)
    points: list[Point]
    #: expected kg per point id (float, before rounding to whole kg)
    kg: dict[str, float]
    vehicles: list[Vehicle]
    facilities: list[FacilityRow]
    distance_model: DistanceModel
    #: the plan document's ``demand`` section (where the kg came from; issue 7)
    demand: dict[str, Any] = field(default_factory=dict)


@dataclass
class PlanDraft:
    """A finished, not yet stored plan (the document has no plan_id yet)."""

    day: DayProblem
    solution: Solution
    document: dict[str, Any]
    params: SolveParams


@dataclass
class PlanResult:
    plan_id: str
    version: int
    document: dict[str, Any]
    solution: Solution
    plan: Plan
    stats: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- helpers


def seconds(minutes: float | int) -> int:
    return int(round(float(minutes) * 60))


def iso(date: dt.date, s: int) -> str:
    """Seconds from local midnight of ``date`` -> ISO 8601 with the offset."""
    t = dt.datetime.combine(date, dt.time(0), tzinfo=TZ) + dt.timedelta(seconds=int(s))
    return t.isoformat(timespec="seconds")


def resolve_distance_model(spec: DistanceModel | str | None) -> DistanceModel:
    """A model object, a ``--distance`` text, or None (haversine x 1.3 at 25 km/h)."""
    if spec is None:
        return Haversine()
    if isinstance(spec, str):
        try:
            return from_spec(spec)
        except DistanceError as exc:
            raise BadInput(f"--distance {spec!r}: {exc}") from None
    return spec


def _num(x: float) -> int | float:
    x = float(x)
    return int(x) if x.is_integer() else x


# --------------------------------------------------------------------------- domain -> Problem


def build_problem(
    session: Session,
    date: dt.date,
    distance_model: DistanceModel | str | None = None,
    *,
    selection: dict[str, tuple[float, int | None]] | None = None,
    margin: float | None = None,
) -> DayProblem:
    """Translate the day's collections, fleet and facilities into a solver Problem.

    ``selection`` (demand-driven mode, issue 7) replaces the schedule: point id ->
    (kg, penalty); penalty None = must be served, else the cost of leaving it out
    (in cost units of km at cost 1 per km). ``margin``: the forecast's safety
    margin (default ``WASTEROUTE_FORECAST_MARGIN``, else 0)."""
    model = resolve_distance_model(distance_model)
    vehicles = [
        v
        for v in session.scalars(
            select(Vehicle).options(selectinload(Vehicle.compartments)).order_by(Vehicle.vehicle_id)
        )
        if any(c.capacity_kg >= 1 for c in v.compartments)
    ]
    if not vehicles:
        raise BadInput("no vehicles with a compartment: import vehicles.csv first / 没有车辆")
    if selection is None:
        points = due_points(session, date)
    else:
        points = list(session.scalars(select(Point).where(
            Point.point_id.in_(sorted(selection))).order_by(Point.point_id)))
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
    depots = {d.depot_id: d for d in session.scalars(select(Depot))}
    facilities = list(session.scalars(select(FacilityRow).order_by(FacilityRow.facility_id)))

    places: list[Place] = []
    loc_of: dict[tuple[str, str], int] = {}

    def add(kind: str, id_: str, name: str, lon: float, lat: float) -> int:
        key = (kind, id_)
        if key not in loc_of:
            loc_of[key] = len(places)
            places.append(Place(kind, id_, name, float(lon), float(lat)))
        return loc_of[key]

    for v in vehicles:
        d = depots.get(v.depot_id)
        if d is None:  # the foreign key makes this impossible; say so clearly anyway
            raise BadInput(f"vehicle {v.vehicle_id}: unknown depot {v.depot_id}")
        add("depot", d.depot_id, d.name, d.lon, d.lat)
    for f in facilities:
        add("facility", f.facility_id, f.name, f.lon, f.lat)
    for p in points:
        add("point", p.point_id, p.name, p.lon, p.lat)

    try:
        dist, dur = model.matrices([(pl.lon, pl.lat) for pl in places])
    except DistanceError as exc:
        raise BadInput(f"distance model {model.describe().get('kind')}: {exc}") from None

    clients = [
        Client(
            location=loc_of[("point", p.point_id)],
            demand={p.category: max(0, int(round(kg[p.point_id])))},
            service_s=seconds(p.service_min),
            tw_start_s=seconds(p.tw_start_min),
            tw_end_s=seconds(p.tw_end_min),
            penalty=penalty.get(p.point_id),
            label=p.point_id,
        )
        for p in points
    ]
    solver_vehicles = []
    for v in vehicles:
        depot_loc = loc_of[("depot", v.depot_id)]
        shift_start, shift_end = seconds(v.shift_start_min), seconds(v.shift_end_min)
        break_s = seconds(v.break_min or 0)
        earliest = latest = None
        if break_s > 0:
            lo = seconds(v.break_earliest_min) if v.break_earliest_min is not None else shift_start
            hi = seconds(v.break_latest_min) if v.break_latest_min is not None else shift_end
            # the whole break lies in its window: the START window ends break_s earlier
            earliest, latest = lo, max(lo, hi - break_s)
        solver_vehicles.append(
            SolverVehicle(
                start_location=depot_loc,
                end_location=depot_loc,
                capacities={c.category: int(math.floor(c.capacity_kg))
                            for c in v.compartments if c.capacity_kg >= 1},
                shift_start_s=shift_start,
                shift_end_s=shift_end,
                break_s=break_s,
                break_earliest_s=earliest,
                break_latest_s=latest,
                fixed_cost=int(round(v.fixed_cost or 0)),
                cost_per_km=float(v.cost_per_km) if v.cost_per_km else 1.0,
                label=v.vehicle_id,
            )
        )
    solver_facilities = [
        Facility(
            location=loc_of[("facility", f.facility_id)],
            accepts=frozenset(f.accepts or ()),
            open_s=seconds(f.open_min),
            close_s=seconds(f.close_min),
            unload_s=seconds(f.unload_min),
            daily_capacity=(int(math.floor(f.daily_capacity_kg))
                            if f.daily_capacity_kg is not None else None),
            label=f.facility_id,
        )
        for f in facilities
    ]
    try:
        problem = Problem(
            distance_m=dist,
            duration_s=dur,
            clients=tuple(clients),
            vehicles=tuple(solver_vehicles),
            facilities=tuple(solver_facilities),
            end_empty=True,
            name=f"day {date.isoformat()}",
            extra={"coords": [(pl.lon, pl.lat) for pl in places]},
        )
    except ProblemError as exc:
        raise BadInput(f"the day cannot be planned as given: {exc}") from None
    log.info(
        "%s: %d point(s) due, %d vehicle(s), %d facility(ies), %d location(s)",
        date, len(points), len(vehicles), len(facilities), len(places),
    )
    demand_info = dict(demand_info)
    demand_info["expected_kg"] = {p.point_id: max(0, int(round(kg[p.point_id])))
                                  for p in points}
    return DayProblem(date, problem, places, points, kg, vehicles, facilities, model,
                      demand=demand_info)


# --------------------------------------------------------------------------- Solution -> document


def _drop_empty_unloads(day: DayProblem, visits: tuple[Visit, ...], vi: int) -> list[Visit]:
    """Leave out unload visits with nothing to unload (the engine may use them to wait).

    A visit is dropped only when going straight from the previous place to the next
    one takes no longer than the detour through the facility plus its unloading, so
    every later arrival time stays reachable; the time becomes waiting.
    """
    p = day.problem
    load = {k: 0 for k in p.vehicles[vi].capacities}
    kept: list[Visit] = []
    located = [i for i, v in enumerate(visits) if v.location is not None]
    prev_loc: int | None = None
    for i, v in enumerate(visits):
        if v.kind == "client":
            for k, q in v.amount.items():
                load[k] = load.get(k, 0) + int(q)
        elif v.kind == "facility":
            assert v.index is not None and v.location is not None
            fac = p.facilities[v.index]
            empty = all(load.get(k, 0) == 0 for k in fac.accepts)
            nxt = next((visits[j].location for j in located if j > i), None)
            if empty and prev_loc is not None and nxt is not None:
                direct = int(p.duration_s[prev_loc, nxt])
                detour = (int(p.duration_s[prev_loc, v.location]) + (v.departure_s - v.start_s)
                          + int(p.duration_s[v.location, nxt]))
                if direct <= detour:
                    continue
            for k in fac.accepts:
                if k in load:
                    load[k] = 0
        kept.append(v)
        if v.location is not None:
            prev_loc = v.location
    if len(kept) < len(visits):
        log.debug("vehicle %d: %d empty unload(s) left out", vi, len(visits) - len(kept))
    return kept


def _route_document(day: DayProblem, visits: tuple[Visit, ...], vi: int) -> dict[str, Any]:
    p = day.problem
    veh_row = day.vehicles[vi]
    veh = p.vehicles[vi]
    compartments = list(veh.capacities)
    load = {k: 0 for k in compartments}
    stops: list[dict[str, Any]] = []
    prev_loc: int | None = None
    leg_sum_m = 0
    trips = 0
    kg_collected = 0
    route_visits = _drop_empty_unloads(day, visits, vi)
    for v in route_visits:
        if v.kind == "break":
            stops.append({"kind": "break", "arrival": iso(day.date, v.start_s),
                          "departure": iso(day.date, v.departure_s)})
            continue
        assert v.location is not None
        place = day.places[v.location]
        leg_m = 0 if prev_loc is None else int(p.distance_m[prev_loc, v.location])
        travel_s = 0 if prev_loc is None else int(p.duration_s[prev_loc, v.location])
        leg_sum_m += leg_m
        prev_loc = v.location
        stop: dict[str, Any] = {"kind": "", "id": place.id, "name": place.name,
                                "lon": place.lon, "lat": place.lat}
        if v.kind in ("start", "end"):
            stop["kind"] = "depot"
            stop["arrival"] = iso(day.date, v.arrival_s)
            stop["departure"] = iso(day.date, v.arrival_s if v.kind == "end" else v.departure_s)
        elif v.kind == "client":
            assert v.index is not None
            point = day.points[v.index]
            kg = int(sum(v.amount.values()))
            load[point.category] = load.get(point.category, 0) + kg
            kg_collected += kg
            stop.update(kind="collect", category=point.category, kg=kg,
                        arrival=iso(day.date, v.arrival_s), start=iso(day.date, v.start_s),
                        departure=iso(day.date, v.departure_s))
        elif v.kind == "facility":
            assert v.index is not None
            fac = p.facilities[v.index]
            unloaded = {k: q for k, q in load.items() if k in fac.accepts}
            for k in unloaded:
                load[k] = 0
            trips += 1
            stop.update(kind="unload", arrival=iso(day.date, v.arrival_s),
                        start=iso(day.date, v.start_s), departure=iso(day.date, v.departure_s),
                        unloaded_kg=unloaded)
        else:  # pragma: no cover - Visit kinds are closed
            raise AssertionError(v.kind)
        stop["load_kg"] = dict(load)
        stop["leg_m"] = leg_m
        stop["travel_s"] = travel_s
        if dict(v.load_after) and {k: int(q) for k, q in v.load_after.items()} != load:
            log.warning("vehicle %s: engine load %s differs from recomputed %s",
                        veh_row.vehicle_id, dict(v.load_after), load)
        stops.append(stop)
    first, last = route_visits[0], route_visits[-1]
    return {
        "vehicle_id": veh_row.vehicle_id,
        "depot_id": veh_row.depot_id,
        "distance_km": round(leg_sum_m / 1000.0, 3),
        "duration_min": round((last.arrival_s - first.departure_s) / 60.0, 1),
        "trips": trips,
        "kg_collected": kg_collected,
        "stops": stops,
    }


def build_document(
    day: DayProblem, solution: Solution, params: SolveParams
) -> dict[str, Any]:
    """The plan document (without plan_id, which the repository assigns)."""
    routes = [
        _route_document(day, r.visits, r.vehicle)
        for r in sorted(solution.routes, key=lambda r: r.vehicle)
        if r.client_visits
    ]
    unassigned: list[dict[str, Any]] = []
    short: set[str] = set()
    for u in sorted(solution.unassigned, key=lambda u: day.points[u.client].point_id):
        point = day.points[u.client]
        short.add(point.point_id)
        unassigned.append({
            "point_id": point.point_id,
            "name": point.name,
            "category": point.category,
            "kg": int(sum(u.amount.values())),
            "reason": str(u.reason.value if hasattr(u.reason, "value") else u.reason),
        })
    served = {s["id"] for r in routes for s in r["stops"] if s["kind"] == "collect"}
    kg_planned = sum(r["kg_collected"] for r in routes)
    total_m = sum(int(round(r["distance_km"] * 1000)) for r in routes)
    doc: dict[str, Any] = {
        "format": FORMAT,
        "plan_id": None,
        "date": day.date.isoformat(),
        "timezone": TIMEZONE,
        "distance_model": day.distance_model.describe(),
        "solver": {
            "engine": solution.engine,
            "time_limit_s": _num(params.time_limit_s),
            "wall_s": round(float(solution.wall_s), 1),
            "objective": int(solution.objective),
        },
        "summary": {
            "points_due": len(day.points),
            "points_served": len(served - short),
            "vehicles_used": len(routes),
            "distance_km": round(total_m / 1000.0, 1),
            "kg_planned": int(kg_planned),
            "kg_due": int(sum(int(round(day.kg[p.point_id])) for p in day.points)),
            "unassigned": len(unassigned),
        },
        "routes": routes,
        "unassigned": unassigned,
    }
    if day.demand:
        doc["demand"] = dict(day.demand)
    return doc


# --------------------------------------------------------------------------- entry points


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
    """Build and solve the day; return the finished document. Writes nothing."""
    from optimizer.solve import solve

    if not (isinstance(time_limit_s, int | float) and math.isfinite(time_limit_s)
            and time_limit_s > 0):
        raise BadInput(f"time limit must be a positive number of seconds (got {time_limit_s})")
    params = replace(params or SolveParams(), time_limit_s=float(time_limit_s))
    day = build_problem(session, date, distance_model, margin=margin)
    solution = solve(day.problem, params, progress)
    log.info(
        "%s: %d route(s), %d unassigned, %.1f km in %.1f s (%s)",
        date, len(solution.routes), len(solution.unassigned), solution.distance_m / 1000,
        solution.wall_s, solution.engine,
    )
    problems = solution.check(day.problem)
    for line in problems[:20]:
        log.warning("%s: engine solution breaks a rule: %s", date, line)
    document = build_document(day, solution, params)
    if problems:
        document["solver"]["rule_problems"] = len(problems)
    return PlanDraft(day=day, solution=solution, document=document, params=params)


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
    plan = plan_repo.store_plan(session, date, draft.document)
    return PlanResult(
        plan_id=plan.plan_id,
        version=plan.version,
        document=draft.document,
        solution=draft.solution,
        plan=plan,
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
    from optimizer.solve import solve

    params = replace(params or SolveParams(), time_limit_s=float(time_limit_s))
    day = build_problem(session, date, distance_model, selection=selection)
    solution = solve(day.problem, params)
    document = build_document(day, solution, params)
    problems = solution.check(day.problem)
    if problems:
        document["solver"]["rule_problems"] = len(problems)
    return PlanDraft(day=day, solution=solution, document=document, params=params)


# --------------------------------------------------------------------------- re-planning (issue 7)
# The rest of a day after an event (logistics/replan.py decides what is fixed; this
# part only translates the open remainder for the engine and back).

#: travel time / distance INTO a vehicle's private start copy: nobody else can come there
_UNREACHABLE_S = 10 * 24 * 3600
_UNREACHABLE_M = 100_000_000


@dataclass(frozen=True)
class TailVehicle:
    """A vehicle that goes on from ``place`` at ``ready_s`` carrying ``load_kg``."""

    vehicle: Vehicle
    place: Place
    ready_s: int
    load_kg: dict[str, int]
    #: the break is still to be taken (False once it lies in the fixed part)
    break_due: bool = True


@dataclass(frozen=True)
class TailClient:
    point: Point
    kg: int


@dataclass
class TailPlan:
    """Per vehicle id the stops after its start (start stop first), and the unserved."""

    stops: dict[str, list[dict[str, Any]]]
    unassigned: list[dict[str, Any]]
    engine: str
    wall_s: float
    objective: int
    rule_problems: list[str]


def model_from_description(desc: dict[str, Any] | None) -> DistanceModel | None:
    """The distance model a plan document names, when it can be rebuilt (haversine)."""
    if not desc or desc.get("kind") != "haversine":
        return None
    return resolve_distance_model(
        f"haversine:detour={desc.get('detour_factor', 1.3)},speed={desc.get('speed_kmh', 25)}"
    )


def solve_tail(
    date: dt.date,
    vehicles: list[TailVehicle],
    clients: list[TailClient],
    facilities: list[FacilityRow],
    facility_room_kg: dict[str, float | None],
    depots: dict[str, Depot],
    *,
    time_limit_s: float,
    distance_model: DistanceModel | str | None = None,
    pin: dict[str, str] | None = None,
) -> TailPlan:
    """Plan the open remainder of a day.

    Every vehicle starts from a private copy of its place (nobody else can reach it),
    where a client holding its current load is waiting at ``ready_s``: serving it
    puts the load on board, so the engine has to unload it somewhere before the
    depot, with no change to the engine. Facilities have ``facility_room_kg`` left
    of their daily capacity. Stops carry ``load_kg`` (including the load carried in),
    ``leg_m`` and ``travel_s`` like :func:`build_document`.

    ``pin`` (point id -> vehicle id): every client is served by that vehicle or not
    at all (clients without a pin are left out of the problem). Done without an
    engine feature: each vehicle's compartments are renamed ``category@vehicle`` and
    a pinned client's demand uses its vehicle's names (facilities accept them all),
    so the engine solves each vehicle apart; names are mapped back in the stops.
    """
    from optimizer.solve import solve

    model = resolve_distance_model(distance_model)
    places: list[Place] = []
    loc_of: dict[tuple[str, str], int] = {}

    def add(kind: str, id_: str, name: str, lon: float, lat: float) -> int:
        if (kind, id_) not in loc_of:
            loc_of[(kind, id_)] = len(places)
            places.append(Place(kind, id_, name, float(lon), float(lat)))
        return loc_of[(kind, id_)]

    def key(cat: str, vid: str) -> str:
        return cat if pin is None else f"{cat}@{vid}"

    def base(k: str) -> str:
        return k if pin is None else k.split("@", 1)[0]

    if pin is not None:
        known = {tv.vehicle.vehicle_id for tv in vehicles}
        clients = [c for c in clients if pin.get(c.point.point_id) in known]
    for tv in vehicles:
        d = depots[tv.vehicle.depot_id]
        add("depot", d.depot_id, d.name, d.lon, d.lat)
    for f in facilities:
        add("facility", f.facility_id, f.name, f.lon, f.lat)
    for c in clients:
        add("point", c.point.point_id, c.point.name, c.point.lon, c.point.lat)
    start_of: list[int] = []
    for tv in vehicles:  # private copies of the start places
        start_of.append(len(places))
        places.append(tv.place)
    dist, dur = model.matrices([(pl.lon, pl.lat) for pl in places])
    dist = np.array(dist, dtype=np.int64)
    dur = np.array(dur, dtype=np.int64)
    for s in start_of:
        keep_m, keep_s = dist[s, s], dur[s, s]
        dist[:, s] = _UNREACHABLE_M
        dur[:, s] = _UNREACHABLE_S
        dist[s, s], dur[s, s] = keep_m, keep_s

    solver_clients = [
        Client(location=loc_of[("point", c.point.point_id)],
               demand={key(c.point.category, (pin or {}).get(c.point.point_id, "")):
                       max(0, int(c.kg))},
               service_s=seconds(c.point.service_min),
               tw_start_s=seconds(c.point.tw_start_min), tw_end_s=seconds(c.point.tw_end_min),
               label=c.point.point_id)
        for c in clients
    ]
    carried_in: dict[int, str] = {}  # client index -> vehicle id of a load carried in
    solver_vehicles = []
    for tv, s in zip(vehicles, start_of, strict=True):
        veh = tv.vehicle
        caps = {key(c.category, veh.vehicle_id): int(math.floor(c.capacity_kg))
                for c in veh.compartments if c.capacity_kg >= 1}
        load = {key(k, veh.vehicle_id): int(q) for k, q in tv.load_kg.items() if int(q) > 0}
        if load:
            carried_in[len(solver_clients)] = veh.vehicle_id
            solver_clients.append(Client(location=s, demand=load, service_s=0,
                                         tw_start_s=tv.ready_s, tw_end_s=tv.ready_s,
                                         label=f"load:{veh.vehicle_id}"))
        shift_end = seconds(veh.shift_end_min)
        break_s = seconds(veh.break_min or 0) if tv.break_due else 0
        earliest = latest = None
        if break_s > 0:
            lo = seconds(veh.break_earliest_min) if veh.break_earliest_min is not None else 0
            hi = (seconds(veh.break_latest_min) if veh.break_latest_min is not None
                  else shift_end)
            latest = max(lo, hi - break_s)
            earliest = max(lo, tv.ready_s)
            if earliest > latest:
                log.warning("vehicle %s: break window passed before %s; break at once",
                            veh.vehicle_id, tv.ready_s)
                earliest = latest = tv.ready_s
        depot_loc = loc_of[("depot", veh.depot_id)]
        solver_vehicles.append(SolverVehicle(
            start_location=s, end_location=depot_loc, capacities=caps,
            shift_start_s=tv.ready_s, shift_end_s=max(tv.ready_s, shift_end),
            break_s=break_s, break_earliest_s=earliest, break_latest_s=latest,
            fixed_cost=0, cost_per_km=float(veh.cost_per_km) if veh.cost_per_km else 1.0,
            label=veh.vehicle_id))
    vids = [tv.vehicle.vehicle_id for tv in vehicles]
    solver_facilities = [
        Facility(location=loc_of[("facility", f.facility_id)],
                 accepts=frozenset(key(a, v) for a in (f.accepts or ()) for v in vids),
                 open_s=seconds(f.open_min), close_s=seconds(f.close_min),
                 unload_s=seconds(f.unload_min),
                 daily_capacity=(None if facility_room_kg.get(f.facility_id) is None
                                 else max(0, int(math.floor(
                                     facility_room_kg[f.facility_id] or 0)))),
                 label=f.facility_id)
        for f in facilities
    ]
    try:
        problem = Problem(distance_m=dist, duration_s=dur, clients=tuple(solver_clients),
                          vehicles=tuple(solver_vehicles), facilities=tuple(solver_facilities),
                          end_empty=True, name=f"rest of {date.isoformat()}",
                          extra={"coords": [(pl.lon, pl.lat) for pl in places]})
    except ProblemError as exc:
        raise BadInput(f"the rest of the day cannot be planned as given: {exc}") from None
    params = SolveParams(time_limit_s=float(time_limit_s))
    solution = solve(problem, params)
    problems = solution.check(problem)
    for line in problems[:20]:
        log.warning("re-plan: engine solution breaks a rule: %s", line)
    day = DayProblem(date, problem, places, [c.point for c in clients], {},
                     [tv.vehicle for tv in vehicles], facilities, model)

    out: dict[str, list[dict[str, Any]]] = {}
    for r in solution.routes:
        tv = vehicles[r.vehicle]
        load = {base(k): 0 for k in problem.vehicles[r.vehicle].capacities}
        stops: list[dict[str, Any]] = []
        prev_loc: int | None = None
        for v in _drop_empty_unloads(day, r.visits, r.vehicle):
            if v.kind == "break":
                stops.append({"kind": "break", "arrival": iso(date, v.start_s),
                              "departure": iso(date, v.departure_s)})
                continue
            assert v.location is not None
            if v.kind == "client" and v.index in carried_in:
                for k, q in v.amount.items():
                    load[base(k)] = load.get(base(k), 0) + int(q)
                if stops:
                    stops[0]["load_kg"] = dict(load)
                continue
            place = places[v.location]
            leg_m = 0 if prev_loc is None else int(dist[prev_loc, v.location])
            travel_s = 0 if prev_loc is None else int(dur[prev_loc, v.location])
            prev_loc = v.location
            stop: dict[str, Any] = {"kind": "", "id": place.id, "name": place.name,
                                    "lon": place.lon, "lat": place.lat}
            if v.kind == "start":
                stop.update(kind="start", arrival=iso(date, v.departure_s),
                            departure=iso(date, v.departure_s))
            elif v.kind == "end":
                stop.update(kind="depot", arrival=iso(date, v.arrival_s),
                            departure=iso(date, v.arrival_s))
            elif v.kind == "client":
                assert v.index is not None
                point = clients[v.index].point
                kg = int(sum(v.amount.values()))
                load[point.category] = load.get(point.category, 0) + kg
                stop.update(kind="collect", category=point.category, kg=kg,
                            arrival=iso(date, v.arrival_s), start=iso(date, v.start_s),
                            departure=iso(date, v.departure_s))
            else:
                assert v.index is not None
                fac = problem.facilities[v.index]
                accepts = {base(a) for a in fac.accepts}
                unloaded = {k: q for k, q in load.items() if k in accepts}
                for k in unloaded:
                    load[k] = 0
                stop.update(kind="unload", arrival=iso(date, v.arrival_s),
                            start=iso(date, v.start_s), departure=iso(date, v.departure_s),
                            unloaded_kg=unloaded)
            stop["load_kg"] = dict(load)
            stop["leg_m"] = leg_m
            stop["travel_s"] = travel_s
            stops.append(stop)
        out[tv.vehicle.vehicle_id] = stops
    unassigned: list[dict[str, Any]] = []
    for u in solution.unassigned:
        if u.client in carried_in:
            problems.append(f"load of {carried_in[u.client]} cannot be unloaded ({u.reason})")
            continue
        point = clients[u.client].point
        unassigned.append({"point_id": point.point_id, "name": point.name,
                           "category": point.category, "kg": int(sum(u.amount.values())),
                           "reason": str(u.reason.value if hasattr(u.reason, "value")
                                         else u.reason)})
    return TailPlan(out, unassigned, solution.engine, float(solution.wall_s),
                    int(solution.objective), problems)


def parse_date(text: str, option: str = "--date") -> dt.date:
    """``YYYY-MM-DD`` -> date, or BadInput naming ``option`` and the expected form."""
    value = str(text).strip()
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        raise BadInput(f"{option} must be a date YYYY-MM-DD (got {text!r})") from None


__all__ = [
    "FORMAT", "DayProblem", "Place", "PlanDraft", "PlanResult", "build_document",
    "build_problem", "iso", "make_plan", "parse_date", "plan_day", "resolve_distance_model",
    "TailClient", "TailPlan", "TailVehicle", "make_selected_plan", "model_from_description",
    "solve_tail",
]
