"""The plan document (``wasteroute.plan/1``, see formats.md) as typed, frozen values.

Usage::

    from logistics.planning.document import Plan

    plan = Plan.from_json(raw)          # a dict as read from plan.json; DocumentError if malformed
    for route in plan.routes:
        for stop in route.stops:        # Stop.kind: depot | collect | unload | break
            if stop.kind == "collect":
                use(route.vehicle_id, stop.id, stop.kg, stop.departure_time)
    stored = plan.with_id("2026-11-27-2")   # values never change in place: copies
    raw_again = plan.to_json()          # == raw, same key order (json.dumps gives the same bytes)

Every key the planner and the re-planner write round-trips exactly; keys this module does
not know are kept in ``extra`` and written after the known ones. Numbers keep the type
they were read with (``240`` stays an int, ``240.0`` a float), so the bytes do not change.
Mappings inside the values (``load_kg``, ``demand``, ...) are shared: treat them as
read-only.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from logistics.domain import BadInput

FORMAT = "wasteroute.plan/1"
STOP_KINDS = ("depot", "collect", "unload", "break")

Number = int | float
JsonDict = dict[str, Any]

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class DocumentError(BadInput):
    """A plan document that does not follow ``wasteroute.plan/1``."""


# ---------------------------------------------------------------- validation helpers


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _check(ok: bool, where: str, what: str, value: Any) -> None:
    if not ok:
        raise DocumentError(f"plan document: {where}: {what} (got {value!r})")


def _number(value: Any, where: str) -> None:
    _check(_is_number(value), where, "must be a number", value)


def _opt_number(value: Any, where: str) -> None:
    if value is not None:
        _number(value, where)


def _text(value: Any, where: str) -> None:
    _check(isinstance(value, str), where, "must be a text", value)


def _opt_text(value: Any, where: str) -> None:
    if value is not None:
        _text(value, where)


def _kg_map(value: Any, where: str) -> None:
    if value is None:
        return
    _check(isinstance(value, Mapping), where, "must map category -> kg", value)
    for k, q in value.items():
        _check(isinstance(k, str) and _is_number(q), where, "must map category -> kg", value)


def _time(value: str | None, where: str) -> dt.datetime | None:
    """An ISO 8601 time with its offset, or None."""
    if value is None:
        return None
    _text(value, where)
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        t = None
    _check(t is not None and t.tzinfo is not None, where,
           "must be an ISO 8601 time with its offset", value)
    return t


def _split(raw: Any, known: tuple[str, ...], where: str) -> tuple[JsonDict, JsonDict]:
    """(the known keys, the others in their order) of a JSON object."""
    _check(isinstance(raw, Mapping), where, "must be an object", raw)
    extra = {k: v for k, v in raw.items() if k not in known}
    return dict(raw), extra


def _emit(pairs: list[tuple[str, Any]], extra: Mapping[str, Any]) -> JsonDict:
    """A JSON object of the pairs whose value is not None, then the extra keys."""
    out = {k: v for k, v in pairs if v is not None}
    out.update(extra)
    return out


def _copy(m: Mapping[str, Any] | None) -> JsonDict | None:
    return None if m is None else dict(m)


# ---------------------------------------------------------------- stops and routes


_STOP_KEYS = ("kind", "id", "name", "lon", "lat", "category", "kg", "arrival", "start",
              "departure", "unloaded_kg", "load_kg", "leg_m", "travel_s")


@dataclass(frozen=True, slots=True)
class Stop:
    """One row of a route: a depot, a collection, an unload at a facility or a break.

    Times are ISO 8601 texts with the offset, as in the document (``*_time`` give
    datetimes); ``load_kg`` is what is on board after the stop; ``leg_m`` and
    ``travel_s`` are the leg from the previous place (planner-written documents).
    """

    kind: str
    arrival: str
    departure: str
    id: str | None = None
    name: str | None = None
    lon: Number | None = None
    lat: Number | None = None
    category: str | None = None
    kg: Number | None = None
    start: str | None = None
    unloaded_kg: Mapping[str, Number] | None = None
    load_kg: Mapping[str, Number] | None = None
    leg_m: int | None = None
    travel_s: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"stop {self.id or self.kind}"
        _check(self.kind in STOP_KINDS, where, f"kind must be one of {STOP_KINDS}", self.kind)
        for name in ("arrival", "departure", "start"):
            _time(getattr(self, name), f"{where}: {name}")
        _opt_text(self.id, f"{where}: id")
        _opt_text(self.name, f"{where}: name")
        _opt_text(self.category, f"{where}: category")
        for name in ("lon", "lat", "kg", "leg_m", "travel_s"):
            _opt_number(getattr(self, name), f"{where}: {name}")
        _kg_map(self.load_kg, f"{where}: load_kg")
        _kg_map(self.unloaded_kg, f"{where}: unloaded_kg")
        if self.kind != "break":
            _check(self.id is not None, where, f"a {self.kind} stop needs an id", self.id)
        if self.kind == "collect":
            _check(self.category is not None and self.kg is not None, where,
                   "a collect stop needs category and kg", (self.category, self.kg))

    @property
    def arrival_time(self) -> dt.datetime:
        t = _time(self.arrival, "arrival")
        assert t is not None
        return t

    @property
    def start_time(self) -> dt.datetime | None:
        return _time(self.start, "start")

    @property
    def departure_time(self) -> dt.datetime:
        t = _time(self.departure, "departure")
        assert t is not None
        return t

    @property
    def located(self) -> bool:
        return self.lon is not None and self.lat is not None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Stop:
        d, extra = _split(raw, _STOP_KEYS, "stop")
        for key in ("kind", "arrival", "departure"):
            _check(key in d, f"stop {d.get('id') or d.get('kind')}", f"{key} is missing", raw)
        return cls(
            kind=d["kind"], arrival=d["arrival"], departure=d["departure"], id=d.get("id"),
            name=d.get("name"), lon=d.get("lon"), lat=d.get("lat"),
            category=d.get("category"), kg=d.get("kg"), start=d.get("start"),
            unloaded_kg=_copy(d.get("unloaded_kg")), load_kg=_copy(d.get("load_kg")),
            leg_m=d.get("leg_m"), travel_s=d.get("travel_s"), extra=extra,
        )

    def to_json(self) -> JsonDict:
        return _emit([
            ("kind", self.kind), ("id", self.id), ("name", self.name), ("lon", self.lon),
            ("lat", self.lat), ("category", self.category), ("kg", self.kg),
            ("arrival", self.arrival), ("start", self.start), ("departure", self.departure),
            ("unloaded_kg", _copy(self.unloaded_kg)), ("load_kg", _copy(self.load_kg)),
            ("leg_m", self.leg_m), ("travel_s", self.travel_s),
        ], self.extra)


_ROUTE_KEYS = ("vehicle_id", "depot_id", "distance_km", "duration_min", "trips",
               "kg_collected", "stops")


@dataclass(frozen=True, slots=True)
class Route:
    """One vehicle's day: its stops in order, depot first and last."""

    vehicle_id: str
    depot_id: str
    distance_km: Number
    duration_min: Number
    stops: tuple[Stop, ...]
    trips: int | None = None
    kg_collected: Number | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"route {self.vehicle_id}"
        _text(self.vehicle_id, f"{where}: vehicle_id")
        _text(self.depot_id, f"{where}: depot_id")
        _number(self.distance_km, f"{where}: distance_km")
        _number(self.duration_min, f"{where}: duration_min")
        _opt_number(self.trips, f"{where}: trips")
        _opt_number(self.kg_collected, f"{where}: kg_collected")
        _check(isinstance(self.stops, tuple)
               and all(isinstance(s, Stop) for s in self.stops), where,
               "stops must be a tuple of Stop", type(self.stops))

    @property
    def collects(self) -> list[Stop]:
        return [s for s in self.stops if s.kind == "collect"]

    @property
    def places(self) -> list[Stop]:
        """The stops with a place (all but breaks)."""
        return [s for s in self.stops if s.kind != "break"]

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Route:
        d, extra = _split(raw, _ROUTE_KEYS, "route")
        where = f"route {d.get('vehicle_id')}"
        for key in ("vehicle_id", "depot_id", "distance_km", "duration_min", "stops"):
            _check(key in d, where, f"{key} is missing", sorted(d))
        _check(isinstance(d["stops"], list), where, "stops must be a list", d["stops"])
        return cls(
            vehicle_id=d["vehicle_id"], depot_id=d["depot_id"], distance_km=d["distance_km"],
            duration_min=d["duration_min"], stops=tuple(Stop.from_json(s) for s in d["stops"]),
            trips=d.get("trips"), kg_collected=d.get("kg_collected"), extra=extra,
        )

    def to_json(self) -> JsonDict:
        return _emit([
            ("vehicle_id", self.vehicle_id), ("depot_id", self.depot_id),
            ("distance_km", self.distance_km), ("duration_min", self.duration_min),
            ("trips", self.trips), ("kg_collected", self.kg_collected),
            ("stops", [s.to_json() for s in self.stops]),
        ], self.extra)


_UNASSIGNED_KEYS = ("point_id", "name", "category", "kg", "reason")


@dataclass(frozen=True, slots=True)
class Unassigned:
    """A due collection no route serves, with a machine-readable reason."""

    point_id: str
    category: str
    kg: Number
    reason: str
    name: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"unassigned {self.point_id}"
        _text(self.point_id, f"{where}: point_id")
        _text(self.category, f"{where}: category")
        _number(self.kg, f"{where}: kg")
        _text(self.reason, f"{where}: reason")
        _opt_text(self.name, f"{where}: name")

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Unassigned:
        d, extra = _split(raw, _UNASSIGNED_KEYS, "unassigned")
        for key in ("point_id", "category", "kg", "reason"):
            _check(key in d, f"unassigned {d.get('point_id')}", f"{key} is missing", sorted(d))
        return cls(point_id=d["point_id"], category=d["category"], kg=d["kg"],
                   reason=d["reason"], name=d.get("name"), extra=extra)

    def to_json(self) -> JsonDict:
        return _emit([("point_id", self.point_id), ("name", self.name),
                      ("category", self.category), ("kg", self.kg), ("reason", self.reason)],
                     self.extra)


# ---------------------------------------------------------------- plan-wide sections


_SUMMARY_KEYS = ("points_due", "points_served", "vehicles_used", "distance_km", "kg_planned",
                 "kg_due", "unassigned", "cost", "cost_fixed", "cost_distance")


@dataclass(frozen=True, slots=True)
class Summary:
    points_due: int
    points_served: int
    vehicles_used: int
    distance_km: Number
    kg_planned: Number
    kg_due: Number | None = None
    #: how many entries ``unassigned`` has
    unassigned: int | None = None
    #: the bureau's cost of the day: ``cost_fixed`` (fixed cost of each vehicle used)
    #: + ``cost_distance`` (each route's km x its vehicle's cost per km)
    cost: Number | None = None
    cost_fixed: Number | None = None
    cost_distance: Number | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in _SUMMARY_KEYS[:5]:
            _number(getattr(self, name), f"summary: {name}")
        _opt_number(self.kg_due, "summary: kg_due")
        _opt_number(self.unassigned, "summary: unassigned")
        for name in ("cost", "cost_fixed", "cost_distance"):
            _opt_number(getattr(self, name), f"summary: {name}")

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Summary:
        d, extra = _split(raw, _SUMMARY_KEYS, "summary")
        for key in _SUMMARY_KEYS[:5]:
            _check(key in d, "summary", f"{key} is missing", sorted(d))
        return cls(points_due=d["points_due"], points_served=d["points_served"],
                   vehicles_used=d["vehicles_used"], distance_km=d["distance_km"],
                   kg_planned=d["kg_planned"], kg_due=d.get("kg_due"),
                   unassigned=d.get("unassigned"), cost=d.get("cost"),
                   cost_fixed=d.get("cost_fixed"), cost_distance=d.get("cost_distance"),
                   extra=extra)

    def to_json(self) -> JsonDict:
        return _emit([(k, getattr(self, k)) for k in _SUMMARY_KEYS], self.extra)


_SOLVER_KEYS = ("engine", "time_limit_s", "wall_s", "objective", "rule_problems")


@dataclass(frozen=True, slots=True)
class Solver:
    """Which engine made the plan, in what time; ``rule_problems`` counts the plan rules
    the engine's solution broke (absent when none)."""

    engine: str
    time_limit_s: Number
    wall_s: Number
    objective: int | None = None
    rule_problems: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _text(self.engine, "solver: engine")
        _number(self.time_limit_s, "solver: time_limit_s")
        _number(self.wall_s, "solver: wall_s")
        _opt_number(self.objective, "solver: objective")
        _opt_number(self.rule_problems, "solver: rule_problems")

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Solver:
        d, extra = _split(raw, _SOLVER_KEYS, "solver")
        for key in _SOLVER_KEYS[:3]:
            _check(key in d, "solver", f"{key} is missing", sorted(d))
        return cls(engine=d["engine"], time_limit_s=d["time_limit_s"], wall_s=d["wall_s"],
                   objective=d.get("objective"), rule_problems=d.get("rule_problems"),
                   extra=extra)

    def to_json(self) -> JsonDict:
        return _emit([(k, getattr(self, k)) for k in _SOLVER_KEYS], self.extra)


_REPLAN_KEYS = ("base_plan_id", "at", "event", "diff")


@dataclass(frozen=True, slots=True)
class Replan:
    """Where a re-planned version comes from: the base plan, the event time, the event
    (vehicles down, facilities closed, points added) and the diff against the base."""

    base_plan_id: str
    at: str
    event: Mapping[str, Any]
    diff: Mapping[str, Any]
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _text(self.base_plan_id, "replan: base_plan_id")
        _time(self.at, "replan: at")
        _check(isinstance(self.event, Mapping), "replan", "event must be an object", self.event)
        _check(isinstance(self.diff, Mapping), "replan", "diff must be an object", self.diff)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Replan:
        d, extra = _split(raw, _REPLAN_KEYS, "replan")
        for key in _REPLAN_KEYS:
            _check(key in d, "replan", f"{key} is missing", sorted(d))
        return cls(base_plan_id=d["base_plan_id"], at=d["at"], event=d["event"],
                   diff=d["diff"], extra=extra)

    def to_json(self) -> JsonDict:
        return _emit([("base_plan_id", self.base_plan_id), ("at", self.at),
                      ("event", self.event), ("diff", self.diff)], self.extra)


# ---------------------------------------------------------------- the plan


_PLAN_KEYS = ("format", "plan_id", "date", "timezone", "distance_model", "solver", "summary",
              "routes", "unassigned", "demand", "replan")


@dataclass(frozen=True, slots=True)
class Plan:
    """A day's plan: routes and what is left unassigned, with how it was made.

    ``distance_model`` is the model's own description (``{"kind": "haversine", ...}``);
    ``demand`` says where the kg came from; ``replan`` is set on re-planned versions.
    ``plan_id`` is None until the plan is stored.
    """

    date: dt.date
    routes: tuple[Route, ...]
    unassigned: tuple[Unassigned, ...] = ()
    plan_id: str | None = None
    timezone: str | None = None
    distance_model: Mapping[str, Any] | None = None
    solver: Solver | None = None
    summary: Summary | None = None
    demand: Mapping[str, Any] | None = None
    replan: Replan | None = None
    format: str = FORMAT
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check(self.format == FORMAT, "format", f"must be {FORMAT!r}", self.format)
        _check(isinstance(self.date, dt.date) and not isinstance(self.date, dt.datetime),
               "date", "must be a date", self.date)
        _opt_text(self.plan_id, "plan_id")
        _opt_text(self.timezone, "timezone")
        _check(isinstance(self.routes, tuple) and all(isinstance(r, Route) for r in self.routes),
               "routes", "must be a tuple of Route", type(self.routes))
        _check(isinstance(self.unassigned, tuple)
               and all(isinstance(u, Unassigned) for u in self.unassigned),
               "unassigned", "must be a tuple of Unassigned", type(self.unassigned))
        for name in ("distance_model", "demand"):
            value = getattr(self, name)
            _check(value is None or isinstance(value, Mapping), name, "must be an object", value)

    # ------------------------------------------------------------ reading

    def route_of(self, vehicle_id: str) -> Route | None:
        return next((r for r in self.routes if r.vehicle_id == vehicle_id), None)

    def collects(self) -> Iterator[tuple[Route, Stop]]:
        """Every collect stop with its route, in route order."""
        for r in self.routes:
            for s in r.stops:
                if s.kind == "collect":
                    yield r, s

    def served_points(self) -> set[str]:
        """Ids of the points some route collects."""
        return {str(s.id) for _, s in self.collects()}

    def with_id(self, plan_id: str | None) -> Plan:
        return replace(self, plan_id=plan_id)

    # ------------------------------------------------------------ JSON

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Plan:
        """The typed plan of a ``wasteroute.plan/1`` document; DocumentError if malformed."""
        d, extra = _split(raw, _PLAN_KEYS, "plan")
        date = d.get("date")
        _check(isinstance(date, str) and bool(_DATE.fullmatch(date)), "date",
               "must be a date YYYY-MM-DD", date)
        try:
            day = dt.date.fromisoformat(str(date))
        except ValueError:
            raise DocumentError(f"plan document: date: not a date (got {date!r})") from None
        routes = d.get("routes", [])
        unassigned = d.get("unassigned", [])
        _check(isinstance(routes, list), "routes", "must be a list", routes)
        _check(isinstance(unassigned, list), "unassigned", "must be a list", unassigned)
        solver, summary, replan = d.get("solver"), d.get("summary"), d.get("replan")
        return cls(
            format=d.get("format", FORMAT),
            plan_id=d.get("plan_id"),
            date=day,
            timezone=d.get("timezone"),
            distance_model=d.get("distance_model"),
            solver=None if solver is None else Solver.from_json(solver),
            summary=None if summary is None else Summary.from_json(summary),
            routes=tuple(Route.from_json(r) for r in routes),
            unassigned=tuple(Unassigned.from_json(u) for u in unassigned),
            demand=d.get("demand"),
            replan=None if replan is None else Replan.from_json(replan),
            extra=extra,
        )

    def to_json(self) -> JsonDict:
        """The document as plain JSON values, keys in the order plan.json has them."""
        out: JsonDict = {"format": self.format, "plan_id": self.plan_id}
        out.update(_emit([
            ("date", self.date.isoformat()), ("timezone", self.timezone),
            ("distance_model", _copy(self.distance_model)),
            ("solver", None if self.solver is None else self.solver.to_json()),
            ("summary", None if self.summary is None else self.summary.to_json()),
            ("routes", [r.to_json() for r in self.routes]),
            ("unassigned", [u.to_json() for u in self.unassigned]),
            ("demand", _copy(self.demand)),
            ("replan", None if self.replan is None else self.replan.to_json()),
        ], self.extra))
        return out


# ---------------------------------------------------------------- what an unload delivers


def deliveries(stops: tuple[Stop, ...] | list[Stop]) -> list[tuple[Stop, dict[str, Number]]]:
    """Each unload stop with the kg it delivers per category (only categories > 0).

    ``unloaded_kg`` where the document has it; otherwise what the load dropped by
    since the previous place (hand-written documents carry loads only).
    """
    out: list[tuple[Stop, dict[str, Number]]] = []
    prev: Mapping[str, Number] = {}
    for s in stops:
        if s.kind == "break":
            continue
        if s.kind == "unload":
            if s.unloaded_kg is not None:
                unloaded: dict[str, Number] = dict(s.unloaded_kg)
            else:
                after = s.load_kg or {}
                unloaded = {k: float(q) - float(after.get(k, 0)) for k, q in prev.items()}
            out.append((s, {k: q for k, q in unloaded.items() if float(q) > 0}))
        prev = s.load_kg or prev
    return out


__all__ = ["FORMAT", "STOP_KINDS", "DocumentError", "Plan", "Replan", "Route", "Solver",
           "Stop", "Summary", "Unassigned", "deliveries"]
