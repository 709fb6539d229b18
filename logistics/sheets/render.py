"""From a plan (the typed wasteroute.plan/1 document) plus names from the database to
route sheets.

`build_sheets` turns the plan into plain view objects (`PlanSheets`, `RouteSheet`,
`SheetStop`) that every output format reads; `write_sheets` is the entry point used by
the CLI, the demo and the API.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from logistics.domain import CATEGORY_BY_KEY, BadInput, NotFound
from logistics.persistence import plan_repo, planning_repo
from logistics.persistence.db import Session
from logistics.persistence.models import Community, Depot, Facility, Point, Vehicle
from logistics.planning.document import Plan, Route, Stop
from logistics.sheets.i18n import Messages

log = logging.getLogger(__name__)

FORMATS = ("pdf", "html", "gpx", "geojson", "xlsx")
STATIC_DIR = Path(__file__).parent / "static"


@dataclass(frozen=True)
class Stream:
    """A waste category as shown on a sheet: key, name in the sheet's language, colour."""

    key: str
    name: str
    colour: str


@dataclass
class SheetStop:
    kind: str  # depot | collect | unload | break
    #: running number of collect and unload stops (1, 2, ...); None for depot and break rows
    seq: int | None
    ref_id: str | None
    name: str
    community: str = ""
    town: str = ""
    category: Stream | None = None
    bins: int | None = None
    kg: float | None = None
    #: "HH:MM–HH:MM" of the point's time window (collect) or opening hours (unload)
    window: str = ""
    arrival: dt.datetime | None = None
    start: dt.datetime | None = None
    departure: dt.datetime | None = None
    load_kg: dict[str, float] = field(default_factory=dict)
    lon: float | None = None
    lat: float | None = None
    facility_kind: str = ""
    #: categories an unloading facility accepts / empties
    accepts: list[Stream] = field(default_factory=list)
    #: first or last row of the route (depot rows)
    is_start: bool = False
    is_end: bool = False

    @property
    def load_total_kg(self) -> float | None:
        return float(sum(self.load_kg.values())) if self.load_kg else None

    @property
    def located(self) -> bool:
        return self.lon is not None and self.lat is not None


@dataclass
class RouteSheet:
    index: int  # 1-based position of the route in the plan
    plan_id: str
    date: dt.date
    vehicle_id: str
    plate: str
    depot_id: str
    depot_name: str
    shift: str
    break_min: float
    break_window: str
    streams: list[Stream]
    distance_km: float
    duration_min: float
    stops: list[SheetStop]
    stem: str  # file name without extension

    @property
    def collect_stops(self) -> list[SheetStop]:
        return [s for s in self.stops if s.kind == "collect"]

    @property
    def n_collect(self) -> int:
        return len(self.collect_stops)

    @property
    def kg_total(self) -> float:
        return float(sum(s.kg or 0.0 for s in self.collect_stops))

    @property
    def trips(self) -> int:
        """Loads taken to a facility: one per unload stop."""
        return sum(1 for s in self.stops if s.kind == "unload")

    @property
    def located_stops(self) -> list[SheetStop]:
        return [s for s in self.stops if s.located]


@dataclass
class Unassigned:
    point_id: str
    name: str
    community: str
    category: Stream
    kg: float
    reason: str


@dataclass
class PlanSheets:
    plan_id: str
    date: dt.date
    lang: str
    summary: dict[str, Any]
    routes: list[RouteSheet]
    unassigned: list[Unassigned]
    timezone: str = "Asia/Shanghai"

    @property
    def stem(self) -> str:
        return f"routes-{self.date.isoformat()}"


# ---------------------------------------------------------------- small helpers


def hhmm(minutes: float | None) -> str:
    if minutes is None:
        return ""
    m = int(round(minutes))
    return f"{m // 60:02d}:{m % 60:02d}"


def window_text(start_min: int | None, end_min: int | None, msg: Messages) -> str:
    if start_min is None or end_min is None:
        return ""
    if start_min <= 0 and end_min >= 1440:
        return msg("all_day")
    return f"{hhmm(start_min)}–{hhmm(end_min)}"


def clock(value: dt.datetime | None, day: dt.date | None = None) -> str:
    """HH:MM of a planned time; '+1' marks a time on the next day."""
    if value is None:
        return ""
    text = value.strftime("%H:%M")
    if day is not None and value.date() > day:
        text += f" (+{(value.date() - day).days})"
    return text


_UNSAFE = re.compile(r"[^\w.-]+", re.UNICODE)


def safe_name(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("_") or "route"


def stream(key: str, msg: Messages) -> Stream:
    cat = CATEGORY_BY_KEY.get(key)
    return Stream(key, msg.category(key), cat.colour if cat else "#444444")


def parse_date(value: dt.date | str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise BadInput(f"bad date {value!r}; expected YYYY-MM-DD") from None


# ---------------------------------------------------------------- database look-ups


def current_plan_document(session: Session, date: dt.date) -> Plan:
    """The plan in force for a date; NotFound when there is none."""
    plan = plan_repo.current_plan(session, date)
    if plan is None:
        raise NotFound(
            f"no plan for {date.isoformat()}; run `wasteroute plan --date {date.isoformat()}` "
            f"first / {date.isoformat()} 没有收运计划"
        )
    return plan_repo.load_plan(plan)


@dataclass
class _Names:
    points: dict[str, Point]
    communities: dict[str, Community]
    facilities: dict[str, Facility]
    depots: dict[str, Depot]
    vehicles: dict[str, Vehicle]


def _load_names(session: Session, plan: Plan) -> _Names:
    point_ids: set[str] = {u.point_id for u in plan.unassigned}
    facility_ids: set[str] = set()
    depot_ids: set[str] = set()
    vehicle_ids: set[str] = set()
    for route in plan.routes:
        vehicle_ids.add(route.vehicle_id)
        depot_ids.add(route.depot_id)
        for stop in route.stops:
            if stop.id is None:
                continue
            if stop.kind == "collect":
                point_ids.add(stop.id)
            elif stop.kind == "unload":
                facility_ids.add(stop.id)
            elif stop.kind == "depot":
                depot_ids.add(stop.id)
    points: dict[str, Point] = planning_repo.by_ids(session, Point, point_ids)
    community_ids = {p.community_id for p in points.values() if p.community_id}
    return _Names(
        points=points,
        communities=planning_repo.by_ids(session, Community, community_ids),
        facilities=planning_repo.by_ids(session, Facility, facility_ids),
        depots=planning_repo.by_ids(session, Depot, depot_ids),
        vehicles=planning_repo.by_ids(session, Vehicle, vehicle_ids),
    )


# ---------------------------------------------------------------- the view model


def _stop(raw: Stop, names: _Names, msg: Messages) -> SheetStop:
    kind = raw.kind
    ref = raw.id
    load = {str(k): float(v) for k, v in (raw.load_kg or {}).items()}
    common: dict[str, Any] = {
        "arrival": raw.arrival_time,
        "start": raw.start_time,
        "departure": raw.departure_time,
        "load_kg": load,
        "lon": raw.lon,
        "lat": raw.lat,
    }
    if kind == "collect":
        point = names.points.get(ref or "")
        cat_key = raw.category or (point.category if point else "")
        community = names.communities.get(point.community_id or "") if point else None
        return SheetStop(
            kind=kind,
            seq=None,
            ref_id=ref,
            name=point.name if point else str(ref),
            community=community.name if community else "",
            town=community.town if community else "",
            category=stream(cat_key, msg) if cat_key else None,
            bins=point.bins if point else None,
            kg=float(raw.kg) if raw.kg is not None else None,
            window=window_text(point.tw_start_min, point.tw_end_min, msg) if point else "",
            **common,
        )
    if kind == "unload":
        fac = names.facilities.get(ref or "")
        return SheetStop(
            kind=kind,
            seq=None,
            ref_id=ref,
            name=fac.name if fac else str(ref),
            window=window_text(fac.open_min, fac.close_min, msg) if fac else "",
            facility_kind=msg.facility_kind(fac.kind) if fac else "",
            accepts=[stream(k, msg) for k in (fac.accepts if fac else [])],
            **common,
        )
    if kind == "depot":
        depot = names.depots.get(ref or "")
        return SheetStop(
            kind=kind, seq=None, ref_id=ref, name=depot.name if depot else str(ref), **common
        )
    return SheetStop(kind=kind, seq=None, ref_id=ref, name=msg("break"), **common)


def _route(
    index: int, raw: Route, plan_id: str, date: dt.date, names: _Names, msg: Messages
) -> RouteSheet:
    vehicle_id = raw.vehicle_id
    vehicle = names.vehicles.get(vehicle_id)
    depot_id = raw.depot_id or (vehicle.depot_id if vehicle else "")
    depot = names.depots.get(depot_id)
    stops = [_stop(s, names, msg) for s in raw.stops]
    seq = 0
    for s in stops:
        if s.kind in ("collect", "unload"):
            seq += 1
            s.seq = seq
    depot_rows = [s for s in stops if s.kind == "depot"]
    if depot_rows:
        depot_rows[0].is_start = stops[0] is depot_rows[0]
        depot_rows[-1].is_end = stops[-1] is depot_rows[-1] and len(depot_rows) > 1

    keys: list[str] = []
    if vehicle is not None:
        keys = [c.category for c in vehicle.compartments]
    for s in stops:
        if s.category and s.category.key not in keys:
            keys.append(s.category.key)
    if not keys:
        keys = [k for s in stops for k in s.load_kg if k not in keys]
    if vehicle is not None:
        shift = f"{hhmm(vehicle.shift_start_min)}–{hhmm(vehicle.shift_end_min)}"
        break_min = float(vehicle.break_min or 0.0)
        break_window = (
            f"{hhmm(vehicle.break_earliest_min)}–{hhmm(vehicle.break_latest_min)}"
            if break_min
            and vehicle.break_earliest_min is not None
            and vehicle.break_latest_min is not None
            else ""
        )
    else:
        first = next((s.departure for s in stops if s.departure), None)
        last = next((s.arrival for s in reversed(stops) if s.arrival), None)
        shift = f"{clock(first)}–{clock(last)}" if first and last else ""
        break_min, break_window = 0.0, ""
    return RouteSheet(
        index=index,
        plan_id=plan_id,
        date=date,
        vehicle_id=vehicle_id,
        plate=(vehicle.plate or "") if vehicle else "",
        depot_id=depot_id,
        depot_name=depot.name if depot else depot_id,
        shift=shift,
        break_min=break_min,
        break_window=break_window,
        streams=[stream(k, msg) for k in dict.fromkeys(keys)],
        distance_km=float(raw.distance_km or 0.0),
        duration_min=float(raw.duration_min or 0.0),
        stops=stops,
        stem=f"route-{date.isoformat()}-{index:02d}-{safe_name(vehicle_id)}",
    )


def build_sheets(
    session: Session, plan: Plan, lang: str = "zh", vehicle: str | None = None
) -> PlanSheets:
    """The view of a plan that every sheet format renders.

    `vehicle` keeps only the route of that vehicle (id or plate); NotFound if none.
    """
    msg = Messages(lang)
    date = plan.date
    plan_id = str(plan.plan_id)
    names = _load_names(session, plan)
    routes = [
        _route(i, r, plan_id, date, names, msg) for i, r in enumerate(plan.routes, 1)
    ]
    if vehicle is not None:
        routes = [r for r in routes if vehicle in (r.vehicle_id, r.plate)]
        if not routes:
            raise NotFound(
                f"no route for vehicle {vehicle!r} on {date.isoformat()} / 该车当日没有路线"
            )
    unassigned = []
    for u in plan.unassigned:
        point = names.points.get(u.point_id)
        community = names.communities.get(point.community_id or "") if point else None
        unassigned.append(
            Unassigned(
                point_id=u.point_id,
                name=point.name if point else u.point_id,
                community=community.name if community else "",
                category=stream(u.category, msg),
                kg=float(u.kg or 0.0),
                reason=u.reason,
            )
        )
    return PlanSheets(
        plan_id=plan_id,
        date=date,
        lang=lang,
        summary=plan.summary.to_json() if plan.summary else {},
        routes=routes,
        unassigned=unassigned,
        timezone=plan.timezone or "Asia/Shanghai",
    )


# ---------------------------------------------------------------- templates


def template_env(msg: Messages) -> Environment:
    env = Environment(
        loader=PackageLoader("logistics.sheets", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["_"] = msg
    env.globals["num"] = msg.num
    env.filters["clock"] = clock
    return env


def static_text(name: str) -> str:
    return (STATIC_DIR / name).read_text(encoding="utf-8")


def phone_url(route: RouteSheet, base_url: str | None) -> str:
    """Where the QR code of a printed sheet points: base URL + the phone page's name."""
    name = f"{route.stem}.html"
    if not base_url:
        return name
    return base_url.rstrip("/") + "/" + name
