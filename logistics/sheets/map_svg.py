"""A small route map drawn by us: inline SVG of the stops and the legs between them.

No tiles (there is no internet on the trucks' printers either): an equirectangular
projection of the WGS-84 coordinates around the route's mid latitude, scaled to fit,
with stop numbers, a scale bar and a north arrow. Only digits and Latin letters are
drawn inside the SVG; the legend with Chinese words is HTML next to it.
"""

from __future__ import annotations

import math
from html import escape

from logistics.sheets.render import RouteSheet

_M_PER_DEG_LAT = 111_320.0
_DEPOT_COLOUR = "#111111"
_UNLOAD_COLOUR = "#5B2C83"


def _nice_length_m(max_m: float) -> float:
    """The largest 1/2/5 x 10^k metres not above max_m."""
    if max_m <= 0:
        return 0.0
    exp = 10 ** math.floor(math.log10(max_m))
    for f in (5, 2, 1):
        if f * exp <= max_m:
            return float(f * exp)
    return float(exp)


def route_map_svg(
    route: RouteSheet, width: int = 1000, height: int = 400, labels: bool | None = None
) -> str:
    """The route as an SVG element (viewBox width x height, scales to its box)."""
    pts = route.located_stops
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'class="route-map" preserveAspectRatio="xMidYMid meet" role="img" '
        f'aria-label="route {route.index:02d} {escape(route.vehicle_id)}">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff" '
        f'stroke="#999999" stroke-width="1"/>',
    ]
    if not pts:
        parts.append("</svg>")
        return "".join(parts)
    lons = [float(s.lon) for s in pts]  # type: ignore[arg-type]
    lats = [float(s.lat) for s in pts]  # type: ignore[arg-type]
    lat0 = (min(lats) + max(lats)) / 2
    k = math.cos(math.radians(lat0))
    xs_m = [(lon - min(lons)) * k * _M_PER_DEG_LAT for lon in lons]
    ys_m = [(lat - min(lats)) * _M_PER_DEG_LAT for lat in lats]
    span_x = max(max(xs_m), 1.0)
    span_y = max(max(ys_m), 1.0)
    pad = 36
    scale = min((width - 2 * pad) / span_x, (height - 2 * pad) / span_y)  # px per metre
    off_x = (width - span_x * scale) / 2
    off_y = (height - span_y * scale) / 2

    def xy(i: int) -> tuple[float, float]:
        return off_x + xs_m[i] * scale, height - (off_y + ys_m[i] * scale)

    coords = [xy(i) for i in range(len(pts))]
    # the legs in stop order, straight lines
    path = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(coords))
    parts.append(
        f'<path d="{path}" fill="none" stroke="#3b4a5a" stroke-width="2.2" '
        f'stroke-linejoin="round" stroke-linecap="round" stroke-opacity="0.8"/>'
    )
    show_labels = labels if labels is not None else len(pts) <= 80
    drawn_depot: set[tuple[int, int]] = set()
    for stop, (x, y) in zip(pts, coords, strict=True):
        if stop.kind == "depot":
            key = (round(x), round(y))
            if key in drawn_depot:
                continue
            drawn_depot.add(key)
            parts.append(
                f'<rect x="{x - 9:.1f}" y="{y - 9:.1f}" width="18" height="18" '
                f'fill="{_DEPOT_COLOUR}" stroke="#ffffff" stroke-width="2"/>'
                f'<text x="{x:.1f}" y="{y + 4.5:.1f}" font-size="13" text-anchor="middle" '
                f'fill="#ffffff" font-weight="bold" font-family="Noto Sans CJK SC, sans-serif">D</text>'
            )
        elif stop.kind == "unload":
            parts.append(
                f'<path d="M{x:.1f},{y - 13:.1f} L{x + 12:.1f},{y + 9:.1f} '
                f'L{x - 12:.1f},{y + 9:.1f} Z" fill="{_UNLOAD_COLOUR}" stroke="#ffffff" '
                f'stroke-width="2"/>'
            )
        else:
            colour = stop.category.colour if stop.category else "#444444"
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="7" fill="{colour}" '
                f'stroke="#ffffff" stroke-width="1.5"/>'
            )
        if show_labels and stop.seq is not None:
            # a white halo drawn first, then the number (paint-order is not everywhere)
            for extra in ('fill="#ffffff" stroke="#ffffff" stroke-width="3"', 'fill="#111111"'):
                parts.append(
                    f'<text x="{x + 9:.1f}" y="{y - 8:.1f}" font-size="15" '
                    f'font-family="Noto Sans CJK SC, sans-serif" font-weight="bold" {extra}>{stop.seq}</text>'
                )
    # scale bar, bottom left
    bar_m = _nice_length_m((width * 0.25) / scale)
    if bar_m > 0:
        bar_px = bar_m * scale
        label = f"{bar_m / 1000:g} km" if bar_m >= 1000 else f"{bar_m:g} m"
        y0 = height - 14
        parts.append(
            f'<path d="M14,{y0 - 6} L14,{y0} L{14 + bar_px:.1f},{y0} L{14 + bar_px:.1f},{y0 - 6}" '
            f'fill="none" stroke="#111111" stroke-width="2"/>'
            f'<text x="{14 + bar_px + 6:.1f}" y="{y0:.1f}" font-size="14" '
            f'font-family="Noto Sans CJK SC, sans-serif" fill="#111111">{label}</text>'
        )
    # north arrow, top right
    nx = width - 24
    parts.append(
        f'<path d="M{nx},12 L{nx + 8},34 L{nx},28 L{nx - 8},34 Z" fill="#111111"/>'
        f'<text x="{nx}" y="50" font-size="14" text-anchor="middle" '
        f'font-family="Noto Sans CJK SC, sans-serif" fill="#111111">N</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


LEGEND_DEPOT = _DEPOT_COLOUR
LEGEND_UNLOAD = _UNLOAD_COLOUR
