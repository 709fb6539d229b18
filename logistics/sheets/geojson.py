"""GeoJSON (RFC 7946, WGS-84) per route: stops as Points, legs as LineStrings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from logistics.sheets.i18n import Messages
from logistics.sheets.render import PlanSheets, RouteSheet, SheetStop

FORMAT = "wasteroute.route-geojson/1"


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _stop_properties(stop: SheetStop, order: int, msg: Messages) -> dict[str, Any]:
    return {
        "feature": "stop",
        "order": order,
        "seq": stop.seq,
        "kind": stop.kind,
        "id": stop.ref_id,
        "name": stop.name,
        "community": stop.community or None,
        "town": stop.town or None,
        "category": stop.category.key if stop.category else None,
        "category_name": stop.category.name if stop.category else None,
        "colour": stop.category.colour if stop.category else None,
        "bins": stop.bins,
        "kg": stop.kg,
        "window": stop.window or None,
        "arrival": _iso(stop.arrival),
        "start": _iso(stop.start),
        "departure": _iso(stop.departure),
        "load_kg": stop.load_kg or None,
    }


def route_geojson(route: RouteSheet, msg: Messages) -> dict[str, Any]:
    features: list[dict[str, Any]] = []
    located = route.located_stops
    for order, stop in enumerate(located):
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [stop.lon, stop.lat]},
                "properties": _stop_properties(stop, order, msg),
            }
        )
    for leg, (a, b) in enumerate(zip(located, located[1:], strict=False), 1):
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [[a.lon, a.lat], [b.lon, b.lat]]},
                "properties": {
                    "feature": "leg",
                    "leg": leg,
                    "from_id": a.ref_id,
                    "to_id": b.ref_id,
                    "from_seq": a.seq,
                    "to_seq": b.seq,
                    "departure": _iso(a.departure),
                    "arrival": _iso(b.arrival),
                    "carries_kg": a.load_kg or None,
                },
            }
        )
    return {
        "type": "FeatureCollection",
        "name": f"{route.stem}",
        "wasteroute": {
            "format": FORMAT,
            "plan_id": route.plan_id,
            "date": route.date.isoformat(),
            "route": route.index,
            "vehicle_id": route.vehicle_id,
            "plate": route.plate or None,
            "depot_id": route.depot_id,
            "streams": [s.key for s in route.streams],
            "distance_km": route.distance_km,
            "duration_min": route.duration_min,
            "kg": route.kg_total,
            "stops": route.n_collect,
            "trips": route.trips,
            "crs": "WGS-84",
        },
        "features": features,
    }


def write_geojson(plan: PlanSheets, out_dir: Path) -> list[Path]:
    msg = Messages(plan.lang)
    written = []
    for route in plan.routes:
        path = out_dir / f"{route.stem}.geojson"
        path.write_text(
            json.dumps(route_geojson(route, msg), ensure_ascii=False, indent=1), encoding="utf-8"
        )
        written.append(path)
    return written
