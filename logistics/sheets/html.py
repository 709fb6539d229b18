"""Phone pages: one self-contained HTML page per route with navigation links.

AMap (高德) wants GCJ-02 coordinates and Baidu (百度) BD-09; the plan stores WGS-84,
so every link converts with logistics.coords. The links are plain https URLs that the
map apps claim on a phone (AMap's ``callnative=1`` opens the app when installed).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from logistics.coords import wgs84_to_bd09, wgs84_to_gcj02
from logistics.sheets.i18n import Messages
from logistics.sheets.map_svg import route_map_svg
from logistics.sheets.render import PlanSheets, RouteSheet, SheetStop, static_text, template_env

log = logging.getLogger(__name__)
SOURCE = "wasteroute"


def amap_marker_url(lon: float, lat: float, name: str) -> str:
    """AMap marker URI for a WGS-84 point (converted to GCJ-02)."""
    glon, glat = wgs84_to_gcj02(lon, lat)
    query = urlencode(
        {
            "position": f"{glon:.6f},{glat:.6f}",
            "name": name,
            "src": SOURCE,
            "coordinate": "gaode",
            "callnative": "1",
        }
    )
    return f"https://uri.amap.com/marker?{query}"


def baidu_marker_url(lon: float, lat: float, name: str, content: str = "") -> str:
    """Baidu marker URI for a WGS-84 point (converted to BD-09, coord_type=bd09ll)."""
    blon, blat = wgs84_to_bd09(lon, lat)
    query = urlencode(
        {
            "location": f"{blat:.6f},{blon:.6f}",
            "title": name,
            "content": content or name,
            "output": "html",
            "coord_type": "bd09ll",
            "src": SOURCE,
        }
    )
    return f"https://api.map.baidu.com/marker?{query}"


@dataclass
class _PhoneStop:
    stop: SheetStop
    amap: str = ""
    baidu: str = ""


def route_phone_html(route: RouteSheet, msg: Messages) -> str:
    stops = []
    for s in route.stops:
        item = _PhoneStop(s)
        if s.located:
            assert s.lon is not None and s.lat is not None
            label = s.name
            item.amap = amap_marker_url(s.lon, s.lat, label)
            item.baidu = baidu_marker_url(s.lon, s.lat, label, s.community or s.facility_kind)
        stops.append(item)
    return (
        template_env(msg)
        .get_template("phone.html.j2")
        .render(
            route=route,
            stops=stops,
            css=static_text("phone.css"),
            map_svg=route_map_svg(route, width=600, height=420),
            storage_key=f"wasteroute:{route.plan_id}:{route.vehicle_id}",
        )
    )


def write_html(plan: PlanSheets, out_dir: Path) -> list[Path]:
    """One phone page per route, then `routes-DATE.html` linking them."""
    msg = Messages(plan.lang)
    written: list[Path] = []
    for route in plan.routes:
        path = out_dir / f"{route.stem}.html"
        path.write_text(route_phone_html(route, msg), encoding="utf-8")
        written.append(path)
    index = out_dir / f"{plan.stem}.html"
    index.write_text(
        template_env(msg)
        .get_template("index.html.j2")
        .render(plan=plan, css=static_text("phone.css")),
        encoding="utf-8",
    )
    written.append(index)
    log.info("wrote %d phone pages under %s", len(plan.routes), out_dir)
    return written
