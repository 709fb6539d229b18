"""The only bridge between the domain and the routing engine (``optimizer``).

* :func:`to_problem`: trucks, due collections, facilities -> :class:`optimizer.Problem`.
  One translation for the whole day (every truck from its depot at shift start) and
  for the rest of a day after an event (a truck goes on from where it stands with
  what it carries: :class:`GoingOn`);
* :func:`solve`: the engine on a translated problem;
* :func:`to_document`: the engine's Solution of a day -> the typed :class:`Plan`;
  :func:`to_tail`: the Solution of the rest of a day -> stops per truck.

Figures obey the plan rules exactly: every leg comes from the integer matrices the
engine used (each stop carries ``leg_m`` and ``travel_s``; a route's ``distance_km``
is the sum of its ``leg_m`` / 1000); times are the engine's whole seconds, written as
ISO 8601 with the offset; loads are recomputed from the visits (a collect adds, an
unload empties every compartment whose category the facility accepts).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, cast
from zoneinfo import ZoneInfo

import numpy as np

from logistics.domain import BadInput
from logistics.persistence.models import Depot, Facility, Point, Vehicle
from logistics.planning.document import FORMAT, Plan, Route, Solver, Stop, Summary, Unassigned
from logistics.settings import TIMEZONE, city_above, cluster_address
from optimizer import problem as engine
from optimizer.city import CityProblem
from optimizer.cluster import ClusterError
from optimizer.distance import DistanceError, DistanceModel, Haversine, from_spec
from optimizer.distance.lazy import lazy_pair
from optimizer.params import SolveParams
from optimizer.solution import Solution, Visit
from optimizer.solve import solve as engine_solve

log = logging.getLogger(__name__)

TZ = ZoneInfo(TIMEZONE)

#: progress(fraction of the time limit used, best objective so far or None)
Progress = Callable[[float, int | None], None]

#: travel time / distance INTO a truck's private start copy: nobody else can come there
_UNREACHABLE_S = 10 * 24 * 3600
_UNREACHABLE_M = 100_000_000


# ---------------------------------------------------------------- units and times


def seconds(minutes: float | int) -> int:
    return int(round(float(minutes) * 60))


def iso(date: dt.date, s: int) -> str:
    """Seconds from local midnight of ``date`` -> ISO 8601 with the offset."""
    t = dt.datetime.combine(date, dt.time(0), tzinfo=TZ) + dt.timedelta(seconds=int(s))
    return t.isoformat(timespec="seconds")


def seconds_of(date: dt.date, text: str) -> int:
    """An ISO 8601 time of the document -> seconds from local midnight of ``date``."""
    midnight = dt.datetime.combine(date, dt.time(0), tzinfo=TZ)
    return int(round((dt.datetime.fromisoformat(text) - midnight).total_seconds()))


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


def model_from_description(desc: Any) -> DistanceModel | None:
    """The distance model a plan document names, when it can be rebuilt (haversine)."""
    if not desc or desc.get("kind") != "haversine":
        return None
    return resolve_distance_model(
        f"haversine:detour={desc.get('detour_factor', 1.3)},speed={desc.get('speed_kmh', 25)}"
    )


def leg(model: DistanceModel, a: tuple[float, float], b: tuple[float, float]) -> tuple[int, int]:
    """Metres and seconds from ``a`` to ``b`` (lon, lat) by ``model``."""
    dist, dur = model.matrices([a, b])
    return int(dist[0][1]), int(dur[0][1])


# ---------------------------------------------------------------- what is translated


@dataclass(frozen=True, slots=True)
class Place:
    """One location of the problem: what it is in the domain."""

    kind: str  # "depot" | "facility" | "point" | the kind of a stop a truck goes on from
    id: str
    name: str
    lon: float
    lat: float


@dataclass(frozen=True, slots=True)
class GoingOn:
    """A truck that goes on from ``place`` at ``ready_s`` carrying ``load_kg``."""

    place: Place
    ready_s: int
    load_kg: dict[str, int]
    #: the break is still to be taken (False once it lies in the part already driven)
    break_due: bool = True


@dataclass(frozen=True, slots=True)
class Truck:
    vehicle: Vehicle
    #: None: from its depot at shift start, back there (a whole day)
    going_on: GoingOn | None = None


@dataclass(frozen=True, slots=True)
class Collection:
    """A point to serve with ``kg``; ``penalty`` None = must be served, else the cost
    of leaving it out (in cost units of km at cost 1 per km)."""

    point: Point
    kg: float
    penalty: int | None = None


@dataclass
class Translation:
    """A problem for the engine with the maps back to the domain."""

    date: dt.date
    problem: engine.Problem
    places: list[Place]
    trucks: list[Truck]
    #: client index -> collection (clients after these carry loads trucks hold)
    collections: list[Collection]
    facilities: list[Facility]
    distance_model: DistanceModel
    #: client index -> vehicle id, for the clients that stand for a load carried in
    carried_in: dict[int, str] = field(default_factory=dict)
    #: compartments renamed ``category@vehicle`` (see :func:`to_problem` ``pin``)
    pinned: bool = False

    def category(self, key: str) -> str:
        """The category of a compartment or demand key."""
        return key.split("@", 1)[0] if self.pinned else key


# ---------------------------------------------------------------- domain -> Problem


def break_starts_s(v: Vehicle, break_s: int, lo_default_s: int) -> tuple[int, int]:
    """(earliest, latest) start of a ``break_s`` break of ``v`` so that the whole break
    lies in the vehicle's break window (``lo_default_s`` when it has no earliest)."""
    hi = seconds(v.break_latest_min) if v.break_latest_min is not None \
        else seconds(v.shift_end_min)
    lo = seconds(v.break_earliest_min) if v.break_earliest_min is not None else lo_default_s
    return lo, max(lo, hi - break_s)


def _break_window(truck: Truck) -> tuple[int, int | None, int | None]:
    """(break_s, earliest start, latest start): the whole break lies in its window."""
    v, on = truck.vehicle, truck.going_on
    break_s = seconds(v.break_min or 0) if on is None or on.break_due else 0
    if break_s <= 0:
        return break_s, None, None
    if on is None:
        lo, latest = break_starts_s(v, break_s, seconds(v.shift_start_min))
        return break_s, lo, latest
    lo, latest = break_starts_s(v, break_s, 0)
    earliest = max(lo, on.ready_s)
    if earliest > latest:
        log.warning("vehicle %s: break window passed before %s; break at once",
                    v.vehicle_id, on.ready_s)
        earliest = latest = on.ready_s
    return break_s, earliest, latest


def to_problem(
    date: dt.date,
    trucks: list[Truck],
    collections: list[Collection],
    facilities: list[Facility],
    depots: dict[str, Depot],
    model: DistanceModel,
    *,
    name: str,
    room_kg: dict[str, float | None] | None = None,
    pin: dict[str, str] | None = None,
) -> Translation:
    """Translate trucks, collections and facilities into an engine Problem.

    A truck that goes on starts from a private copy of its place (nobody else can
    reach it), where a client holding its current load waits at ``ready_s``: serving
    it puts the load on board, so the engine has to unload it before the depot.
    ``room_kg``: what each facility can still take today (default: its daily capacity).

    ``pin`` (point id -> vehicle id): every collection is served by that truck or not
    at all (collections without a pin are left out). Each truck's compartments are
    renamed ``category@vehicle`` and a pinned client's demand uses its truck's names
    (facilities accept them all), so the engine solves each truck apart.
    """
    def key(cat: str, vid: str) -> str:
        return cat if pin is None else f"{cat}@{vid}"

    if pin is not None:
        known = {t.vehicle.vehicle_id for t in trucks}
        collections = [c for c in collections if pin.get(c.point.point_id) in known]
    places: list[Place] = []
    loc_of: dict[tuple[str, str], int] = {}

    def add(kind: str, id_: str, name: str, lon: float, lat: float) -> int:
        if (kind, id_) not in loc_of:
            loc_of[(kind, id_)] = len(places)
            places.append(Place(kind, id_, name, float(lon), float(lat)))
        return loc_of[(kind, id_)]

    for t in trucks:
        d = depots.get(t.vehicle.depot_id)
        if d is None:  # the foreign key makes this impossible; say so clearly anyway
            raise BadInput(f"vehicle {t.vehicle.vehicle_id}: unknown depot {t.vehicle.depot_id}")
        add("depot", d.depot_id, d.name, d.lon, d.lat)
    for f in facilities:
        add("facility", f.facility_id, f.name, f.lon, f.lat)
    for c in collections:
        add("point", c.point.point_id, c.point.name, c.point.lon, c.point.lat)
    start_of: dict[int, int] = {}  # truck index -> its private start copy
    for i, t in enumerate(trucks):
        if t.going_on is not None:
            start_of[i] = len(places)
            places.append(t.going_on.place)
    # a large whole day has no full matrix: entries are computed when read (CityProblem)
    city = not start_of and len(places) > city_above()
    try:
        if city:
            lazy = lazy_pair([(pl.lon, pl.lat) for pl in places], model)
            dist, dur = cast(np.ndarray, lazy[0]), cast(np.ndarray, lazy[1])
        else:
            dist, dur = model.matrices([(pl.lon, pl.lat) for pl in places])
    except DistanceError as exc:
        raise BadInput(f"distance model {model.describe().get('kind')}: {exc}") from None
    if start_of:
        dist = np.array(dist, dtype=np.int64)
        dur = np.array(dur, dtype=np.int64)
        for s in start_of.values():
            keep_m, keep_s = dist[s, s], dur[s, s]
            dist[:, s] = _UNREACHABLE_M
            dur[:, s] = _UNREACHABLE_S
            dist[s, s], dur[s, s] = keep_m, keep_s

    clients = [
        engine.Client(
            location=loc_of[("point", c.point.point_id)],
            demand={key(c.point.category, (pin or {}).get(c.point.point_id, "")):
                    max(0, int(round(c.kg)))},
            service_s=seconds(c.point.service_min),
            tw_start_s=seconds(c.point.tw_start_min),
            tw_end_s=seconds(c.point.tw_end_min),
            penalty=c.penalty,
            label=c.point.point_id,
        )
        for c in collections
    ]
    carried_in: dict[int, str] = {}
    vehicles = []
    for i, t in enumerate(trucks):
        v, on = t.vehicle, t.going_on
        depot_loc = loc_of[("depot", v.depot_id)]
        shift_start, shift_end = seconds(v.shift_start_min), seconds(v.shift_end_min)
        start_loc, fixed_cost = depot_loc, int(round(v.fixed_cost or 0))
        if on is not None:
            start_loc, fixed_cost = start_of[i], 0
            shift_start, shift_end = on.ready_s, max(on.ready_s, shift_end)
            load = {key(k, v.vehicle_id): int(q) for k, q in on.load_kg.items() if int(q) > 0}
            if load:
                carried_in[len(clients)] = v.vehicle_id
                clients.append(engine.Client(
                    location=start_loc, demand=load, service_s=0, tw_start_s=on.ready_s,
                    tw_end_s=on.ready_s, label=f"load:{v.vehicle_id}"))
        break_s, earliest, latest = _break_window(t)
        vehicles.append(engine.Vehicle(
            start_location=start_loc,
            end_location=depot_loc,
            capacities={key(c.category, v.vehicle_id): int(math.floor(c.capacity_kg))
                        for c in v.compartments if c.capacity_kg >= 1},
            shift_start_s=shift_start,
            shift_end_s=shift_end,
            break_s=break_s,
            break_earliest_s=earliest,
            break_latest_s=latest,
            fixed_cost=fixed_cost,
            cost_per_km=float(v.cost_per_km) if v.cost_per_km else DEFAULT_COST_PER_KM,
            label=v.vehicle_id,
        ))
    vids = [t.vehicle.vehicle_id for t in trucks]
    engine_facilities = []
    for f in facilities:
        if room_kg is None:
            cap = (None if f.daily_capacity_kg is None
                   else int(math.floor(f.daily_capacity_kg)))
        else:
            room = room_kg.get(f.facility_id)
            cap = None if room is None else max(0, int(math.floor(room or 0)))
        engine_facilities.append(engine.Facility(
            location=loc_of[("facility", f.facility_id)],
            accepts=frozenset(key(a, v) for a in (f.accepts or ()) for v in vids)
            if pin is not None else frozenset(f.accepts or ()),
            open_s=seconds(f.open_min),
            close_s=seconds(f.close_min),
            unload_s=seconds(f.unload_min),
            daily_capacity=cap,
            label=f.facility_id,
        ))
    try:
        problem = (CityProblem if city else engine.Problem)(
            distance_m=dist, duration_s=dur, clients=tuple(clients), vehicles=tuple(vehicles),
            facilities=tuple(engine_facilities), end_empty=True,
            name=f"{name} {date.isoformat()}",
            extra={"coords": [(pl.lon, pl.lat) for pl in places]},
        )
    except engine.ProblemError as exc:
        what = "the day" if name == "day" else "the rest of the day"
        raise BadInput(f"{what} cannot be planned as given: {exc}") from None
    return Translation(date, problem, places, trucks, collections, facilities, model,
                       carried_in, pin is not None)


def solve(tr: Translation, params: SolveParams, progress: Progress | None = None) -> Solution:
    """The engine's routes for a translated problem."""
    if params.cluster is None and cluster_address() is not None:
        params = replace(params, cluster=cluster_address())
    try:
        return engine_solve(tr.problem, params, progress)
    except ClusterError as exc:
        raise BadInput(f"{exc} / 无法使用规划集群 (--cluster, WASTEROUTE_CLUSTER)") from None


# ---------------------------------------------------------------- Solution -> stops


def _drop_empty_unloads(tr: Translation, visits: tuple[Visit, ...], vi: int) -> list[Visit]:
    """Leave out unload visits with nothing to unload (the engine may use them to wait).

    A visit is dropped only when going straight from the previous place to the next
    one takes no longer than the detour through the facility plus its unloading, so
    every later arrival time stays reachable; the time becomes waiting.
    """
    p = tr.problem
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


def _stops(tr: Translation, visits: tuple[Visit, ...], vi: int) -> list[Stop]:
    """The one walk of a route's load and time: the engine's visits -> document stops."""
    p, date = tr.problem, tr.date
    going_on = tr.trucks[vi].going_on is not None
    load = {tr.category(k): 0 for k in p.vehicles[vi].capacities}
    stops: list[Stop] = []
    prev_loc: int | None = None
    for v in _drop_empty_unloads(tr, visits, vi):
        if v.kind == "break":
            stops.append(Stop(kind="break", arrival=iso(date, v.start_s),
                              departure=iso(date, v.departure_s)))
            continue
        assert v.location is not None
        if v.kind == "client" and v.index in tr.carried_in:
            # the load a truck goes on with: on board from its first stop
            for k, q in v.amount.items():
                load[tr.category(k)] = load.get(tr.category(k), 0) + int(q)
            if stops:
                stops[0] = _with_load(stops[0], load)
            continue
        place = tr.places[v.location]
        leg_m = 0 if prev_loc is None else int(p.distance_m[prev_loc, v.location])
        travel_s = 0 if prev_loc is None else int(p.duration_s[prev_loc, v.location])
        prev_loc = v.location
        fields: dict[str, Any] = {"kind": "depot", "id": place.id, "name": place.name,
                                  "lon": place.lon, "lat": place.lat}
        if v.kind == "start":
            arrival = v.departure_s if going_on else v.arrival_s
            fields.update(arrival=iso(date, arrival), departure=iso(date, v.departure_s))
        elif v.kind == "end":
            fields.update(arrival=iso(date, v.arrival_s), departure=iso(date, v.arrival_s))
        elif v.kind == "client":
            assert v.index is not None
            point = tr.collections[v.index].point
            kg = int(sum(v.amount.values()))
            load[point.category] = load.get(point.category, 0) + kg
            fields.update(kind="collect", category=point.category, kg=kg,
                          arrival=iso(date, v.arrival_s), start=iso(date, v.start_s),
                          departure=iso(date, v.departure_s))
        elif v.kind == "facility":
            assert v.index is not None
            accepts = {tr.category(a) for a in p.facilities[v.index].accepts}
            unloaded = {k: q for k, q in load.items() if k in accepts}
            for k in unloaded:
                load[k] = 0
            fields.update(kind="unload", arrival=iso(date, v.arrival_s),
                          start=iso(date, v.start_s), departure=iso(date, v.departure_s),
                          unloaded_kg=unloaded)
        else:  # pragma: no cover - Visit kinds are closed
            raise AssertionError(v.kind)
        engine_load = {tr.category(k): int(q) for k, q in v.load_after.items()}
        if engine_load and not going_on and engine_load != load:
            log.warning("vehicle %s: engine load %s differs from recomputed %s",
                        tr.trucks[vi].vehicle.vehicle_id, dict(v.load_after), load)
        stops.append(Stop(load_kg=dict(load), leg_m=leg_m, travel_s=travel_s, **fields))
    return stops


def _with_load(stop: Stop, load: dict[str, int]) -> Stop:
    return replace(stop, load_kg=dict(load))


def route_of(vehicle: Vehicle, stops: list[Stop] | tuple[Stop, ...]) -> Route:
    """A route of these stops, with its figures summed from them."""
    leg_m = sum(int(s.leg_m or 0) for s in stops if s.kind != "break")
    duration_s = (stops[-1].arrival_time - stops[0].departure_time).total_seconds()
    return Route(
        vehicle_id=vehicle.vehicle_id,
        depot_id=vehicle.depot_id,
        distance_km=round(leg_m / 1000.0, 3),
        duration_min=round(duration_s / 60.0, 1),
        trips=sum(1 for s in stops if s.kind == "unload"),
        kg_collected=int(sum(s.kg or 0 for s in stops if s.kind == "collect")),
        stops=tuple(stops),
    )


#: cost per km of a vehicle whose file gives none (the engine's default too)
DEFAULT_COST_PER_KM = 1.0


def day_cost(routes: list[tuple[Vehicle, Route]]) -> tuple[float, float, float]:
    """The bureau's cost of these routes (each with its vehicle) as (cost, cost_fixed,
    cost_distance): ``cost_fixed`` sums the vehicle's fixed cost (0 when the file gives
    none) once per route with a collect, ``cost_distance`` the route's km x the
    vehicle's cost per km (default 1), and ``cost`` is their sum."""
    fixed = 0.0
    per_km = 0.0
    for v, r in routes:
        if not r.collects:
            continue
        fixed += float(v.fixed_cost or 0)
        cpk = float(v.cost_per_km) if v.cost_per_km else DEFAULT_COST_PER_KM
        per_km += cpk * float(r.distance_km)
    return round(fixed + per_km, 1), round(fixed, 1), round(per_km, 1)


def _unassigned(tr: Translation, solution: Solution) -> tuple[list[Unassigned], list[str]]:
    """The collections left out (by point id) and loads carried in that found no room."""
    out: list[Unassigned] = []
    problems: list[str] = []
    for u in solution.unassigned:
        if u.client in tr.carried_in:
            problems.append(f"load of {tr.carried_in[u.client]} cannot be unloaded ({u.reason})")
            continue
        point = tr.collections[u.client].point
        out.append(Unassigned(
            point_id=point.point_id, name=point.name, category=point.category,
            kg=int(sum(u.amount.values())),
            reason=str(u.reason.value if hasattr(u.reason, "value") else u.reason)))
    return sorted(out, key=lambda u: u.point_id), problems


def _num(x: float) -> int | float:
    x = float(x)
    return int(x) if x.is_integer() else x


def to_document(
    tr: Translation,
    solution: Solution,
    params: SolveParams,
    *,
    kg_due: int,
    demand: dict[str, Any] | None = None,
    rule_problems: int = 0,
) -> Plan:
    """The plan of a whole day (no plan_id yet: the repository gives it)."""
    pairs = [(tr.trucks[r.vehicle].vehicle,
              route_of(tr.trucks[r.vehicle].vehicle, _stops(tr, r.visits, r.vehicle)))
             for r in sorted(solution.routes, key=lambda r: r.vehicle) if r.client_visits]
    routes = [route for _, route in pairs]
    cost, cost_fixed, cost_distance = day_cost(pairs)
    unassigned, _ = _unassigned(tr, solution)
    short = {u.point_id for u in unassigned}
    served = {str(s.id) for r in routes for s in r.collects}
    total_m = sum(int(round(r.distance_km * 1000)) for r in routes)
    return Plan(
        format=FORMAT,
        plan_id=None,
        date=tr.date,
        timezone=TIMEZONE,
        distance_model=tr.distance_model.describe(),
        solver=Solver(engine=solution.engine, time_limit_s=_num(params.time_limit_s),
                      wall_s=round(float(solution.wall_s), 1),
                      objective=int(solution.objective),
                      rule_problems=rule_problems or None),
        summary=Summary(
            points_due=len(tr.collections),
            points_served=len(served - short),
            vehicles_used=len(routes),
            distance_km=round(total_m / 1000.0, 1),
            kg_planned=int(sum(r.kg_collected or 0 for r in routes)),
            kg_due=kg_due,
            unassigned=len(unassigned),
            cost=cost, cost_fixed=cost_fixed, cost_distance=cost_distance,
        ),
        routes=tuple(routes),
        unassigned=tuple(unassigned),
        demand=dict(demand) if demand else None,
    )


@dataclass
class Tail:
    """The rest of a day: per vehicle id its stops from where it goes on (that place
    first, as a depot row when it is the depot), and the collections left out."""

    stops: dict[str, list[Stop]]
    unassigned: list[Unassigned]
    engine: str
    wall_s: float
    objective: int
    rule_problems: list[str]


def to_tail(tr: Translation, solution: Solution) -> Tail:
    problems = solution.check(tr.problem)
    for line in problems[:20]:
        log.warning("re-plan: engine solution breaks a rule: %s", line)
    stops = {tr.trucks[r.vehicle].vehicle.vehicle_id: _stops(tr, r.visits, r.vehicle)
             for r in solution.routes}
    unassigned, lost = _unassigned(tr, solution)
    return Tail(stops, unassigned, solution.engine, float(solution.wall_s),
                int(solution.objective), problems + lost)


__all__ = ["DEFAULT_COST_PER_KM", "Collection", "DistanceModel", "GoingOn", "Place", "Progress",
           "SolveParams", "Solution", "Tail", "Translation", "Truck", "day_cost", "iso", "leg",
           "model_from_description",
           "resolve_distance_model", "route_of", "seconds", "seconds_of", "solve",
           "to_document", "to_problem", "to_tail"]
