"""GPX 1.1 per route (gpxpy): the stops in order as a <rte>, and one <wpt> per stop.
Coordinates WGS-84, as GPX requires; times with their offset."""

from __future__ import annotations

from pathlib import Path

import gpxpy.gpx

from logistics.sheets.i18n import Messages
from logistics.sheets.render import PlanSheets, RouteSheet, SheetStop, clock


def _label(stop: SheetStop, msg: Messages) -> str:
    if stop.seq is not None:
        return f"{stop.seq:02d} {stop.name}"
    if stop.kind == "depot":
        return f"{msg('start_at') if stop.is_start else msg('end_at')} {stop.name}"
    return stop.name


def _description(stop: SheetStop, route: RouteSheet, msg: Messages) -> str:
    parts = [msg.stop_kind(stop.kind)]
    if stop.ref_id:
        parts.append(stop.ref_id)
    if stop.community:
        parts.append(stop.community + (f" {stop.town}" if stop.town else ""))
    if stop.category:
        parts.append(stop.category.name)
    if stop.kg is not None:
        parts.append(f"{msg.num(stop.kg)} {msg('kg')}")
    if stop.window:
        label = msg("opening_hours") if stop.kind == "unload" else msg("time_window")
        parts.append(f"{label} {stop.window}")
    times = f"{clock(stop.arrival, route.date)}–{clock(stop.departure, route.date)}"
    parts.append(f"{msg('arrival')} {times}")
    return " | ".join(parts)


def route_gpx(route: RouteSheet, msg: Messages) -> gpxpy.gpx.GPX:
    gpx = gpxpy.gpx.GPX()
    gpx.creator = "wasteroute"
    gpx.name = f"{msg('route')} {route.index:02d} {route.vehicle_id} {route.date.isoformat()}"
    gpx.description = (
        f"{route.plan_id}; {', '.join(s.name for s in route.streams)}; "
        f"{route.n_collect} {msg('stops')}, {msg.num(route.kg_total)} {msg('kg')}, "
        f"{msg.num(route.distance_km, 1)} {msg('km')}; WGS-84"
    )
    rte = gpxpy.gpx.GPXRoute(name=gpx.name, description=gpx.description, number=route.index)
    for stop in route.located_stops:
        assert stop.lon is not None and stop.lat is not None
        name, desc = _label(stop, msg), _description(stop, route, msg)
        kind = msg.stop_kind(stop.kind)
        rte.points.append(
            gpxpy.gpx.GPXRoutePoint(
                latitude=stop.lat,
                longitude=stop.lon,
                time=stop.arrival,
                name=name,
                description=desc,
                type=kind,
            )
        )
        gpx.waypoints.append(
            gpxpy.gpx.GPXWaypoint(
                latitude=stop.lat,
                longitude=stop.lon,
                time=stop.arrival,
                name=name,
                description=desc,
                type=kind,
                comment=stop.ref_id,
            )
        )
    gpx.routes.append(rte)
    return gpx


def write_gpx(plan: PlanSheets, out_dir: Path) -> list[Path]:
    msg = Messages(plan.lang)
    written = []
    for route in plan.routes:
        path = out_dir / f"{route.stem}.gpx"
        path.write_text(route_gpx(route, msg).to_xml(version="1.1"), encoding="utf-8")
        written.append(path)
    return written
