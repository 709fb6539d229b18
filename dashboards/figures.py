"""Figures drawn from the plain data of :mod:`dashboards.data` (``draw_x(data) -> go.Figure``).

Maps are ``go.Scattermap`` on ``map_style="white-bg"`` (no tiles: nothing is fetched
from outside) with our own GeoJSON layers; only circle markers and no map text, since
symbols and map labels would need sprite/glyph downloads.
"""

from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from logistics.domain import CATEGORY_BY_KEY, FACILITY_KINDS

FONT = '"Noto Sans CJK SC", "Noto Sans SC", "Microsoft YaHei", "PingFang SC", sans-serif'
SEGMENT_COLOURS = {
    "driving": "#4C78A8",
    "collecting": "#54A24B",
    "unloading": "#E45756",
    "break": "#BAB0AC",
    "waiting": "#F2CF5B",
}
TRUCK_COLOURS = qualitative.Dark24 + qualitative.Light24
OUTCOME_COLOURS = {"harmless": "#2ca02c", "not_harmless": "#d62728", "in_transit": "#F2A93B"}
GREY = "rgba(150,150,150,0.35)"

LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "monthly": "月度清运量（吨，按类别）", "month": "月份", "t": "吨",
        "coverage": "垃圾分类覆盖率（户，月末）", "county": "全县", "share": "覆盖率",
        "sankey": "去向：类别 → 设施 → 是否无害化（吨）", "harmless": "无害化处理",
        "not_harmless": "非无害化", "map": "县域点位与设施", "facility": "设施",
        "depot": "车场", "routes": "收运路线", "unload": "卸料", "gantt": "车辆时间线",
        "hour": "时刻", "truck": "车辆", "load": "车载量（公斤）", "kg": "公斤",
        "driving": "行驶", "collecting": "收集", "unloading": "卸料", "break": "休息",
        "waiting": "等待", "utilisation": "班次利用率", "km": "公里", "trips": "趟数",
        "fleet": "车队（计划日）", "year_t": "全年清运量（吨）", "points": "收集点",
        "town_hull": "乡镇范围", "no_tickets": "本期无过磅记录", "in_transit": "中转在途",
        "other_trucks": "其他车辆", "collect": "收集点", "spark_t": "日清运量（吨）",
        "spark_harmless": "日无害化处理率", "spark_coverage": "日收运覆盖率",
        "spark_transfer_t": "转运站存量（吨，日末）",
    },
    "en": {
        "monthly": "Tonnage per month by stream (t)", "month": "Month", "t": "t",
        "coverage": "Source-separation coverage (households, month end)", "county": "County",
        "share": "Coverage", "sankey": "Where it went: stream → facility → harmless (t)",
        "harmless": "Harmlessly disposed", "not_harmless": "Not harmless",
        "map": "County points and facilities", "facility": "Facility", "depot": "Depot",
        "routes": "Routes", "unload": "Unload", "gantt": "Truck timeline", "hour": "Time",
        "truck": "Truck", "load": "Load on board (kg)", "kg": "kg", "driving": "Driving",
        "collecting": "Collecting", "unloading": "Unloading", "break": "Break",
        "waiting": "Waiting", "utilisation": "Shift utilisation", "km": "km",
        "trips": "Trips", "fleet": "Fleet (plan day)", "year_t": "Year tonnage (t)",
        "points": "Collection points", "town_hull": "Town area",
        "no_tickets": "No weighbridge tickets in the period", "in_transit": "In transit",
        "other_trucks": "Other trucks", "collect": "Collection points",
        "spark_t": "Tonnage per day (t)", "spark_harmless": "Harmless rate per day",
        "spark_coverage": "Collection coverage per day",
        "spark_transfer_t": "Transfer stock at day end (t)",
    },
}


def label(lang: str, key: str) -> str:
    return LABELS.get(lang, LABELS["en"]).get(key, key)


def cat_name(key: str, lang: str) -> str:
    c = CATEGORY_BY_KEY.get(key)
    if c is None:
        return key
    return c.name_zh if lang == "zh" else c.name_en


def cat_colour(key: str) -> str:
    c = CATEGORY_BY_KEY.get(key)
    return c.colour if c else "#999999"


def _layout(fig: go.Figure, title: str, **kw: Any) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01}, font={"family": FONT, "size": 13},
        margin={"l": 60, "r": 20, "t": 50, "b": 50}, template="plotly_white",
        legend={"orientation": "h", "y": -0.15}, **kw,
    )
    return fig


def _hour_ticks(lo: float, hi: float) -> dict[str, Any]:
    vals = list(range(int(lo), int(hi) + 2))
    return {"tickvals": vals, "ticktext": [f"{v % 24:02d}:00" for v in vals]}


# --------------------------------------------------------------------------- overview


def draw_monthly_tonnage(data: dict[str, Any], lang: str = "zh", town: str = "") -> go.Figure:
    """Stacked bars per stream; with two or more years one stack per year (offsetgroup)."""
    fig = go.Figure()
    months = [f"{m:02d}" for m in range(1, 13)]
    per_town = data["t"].get(town, {})
    years = data["years"]
    multi = len(years) > 1
    for y in years:
        for c in data["categories"]:
            ys = per_town.get(str(y), {}).get(c, [0.0] * 12)
            fig.add_trace(go.Bar(
                x=months, y=ys, name=f"{cat_name(c, lang)} {y}" if multi else cat_name(c, lang),
                marker_color=cat_colour(c), offsetgroup=str(y) if multi else None,
                legendgroup=c, opacity=1.0 if y == years[-1] else 0.55,
                hovertemplate="%{x}: %{y:,.1f} t<extra>%{fullData.name}</extra>",
            ))
    title = label(lang, "monthly") + (f" · {town}" if town else "")
    return _layout(fig, title, barmode="stack", xaxis_title=label(lang, "month"),
                   yaxis_title=label(lang, "t"))


def draw_coverage_trend(data: dict[str, Any], lang: str = "zh") -> go.Figure:
    fig = go.Figure()
    for i, town in enumerate(data["towns"]):
        fig.add_trace(go.Scatter(
            x=data["months"], y=data["coverage"][town], name=town, mode="lines",
            line={"width": 1.2, "color": TRUCK_COLOURS[i % len(TRUCK_COLOURS)]},
            hovertemplate="%{x}: %{y:.1%}<extra>" + town + "</extra>",
        ))
    fig.add_trace(go.Scatter(
        x=data["months"], y=data["coverage"][""], name=label(lang, "county"),
        mode="lines+markers", line={"width": 4, "color": "#000000"},
        hovertemplate="%{x}: %{y:.1%}<extra></extra>",
    ))
    _layout(fig, label(lang, "coverage"), yaxis={"tickformat": ".0%", "range": [0, 1.02]})
    fig.update_layout(legend={"orientation": "v", "y": 1, "x": 1.02}, margin={"r": 140},
                      height=max(450, 22 * len(data["towns"]) + 120))
    return fig


def draw_disposal_sankey(data: dict[str, Any], lang: str = "zh") -> go.Figure:
    ids = [n["id"] for n in data["nodes"]]
    names, colours = [], []
    for n in data["nodes"]:
        if n["kind"] == "category":
            names.append(cat_name(n["key"], lang))
            colours.append(cat_colour(n["key"]))
        elif n["kind"] == "facility":
            names.append(n["name"])
            colours.append("#8c8c8c")
        else:
            names.append(label(lang, n["key"]))
            colours.append(OUTCOME_COLOURS.get(n["key"], "#d62728"))
    links = data["links"]
    if not links:
        # plotly.js throws "Invalid array length" on a sankey without links
        fig = go.Figure()
        fig.add_annotation(text=label(lang, "no_tickets"), showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper", font={"size": 16, "color": "#777"})
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
        return _layout(fig, label(lang, "sankey"))
    fig = go.Figure(go.Sankey(
        arrangement="snap",
        node={"label": names, "color": colours, "pad": 14, "thickness": 16},
        link={"source": [ids.index(li["source"]) for li in links],
              "target": [ids.index(li["target"]) for li in links],
              "value": [li["t"] for li in links],
              "hovertemplate": "%{source.label} → %{target.label}: %{value:,.1f} t<extra></extra>"},
    ))
    return _layout(fig, label(lang, "sankey"))


# --------------------------------------------------------------------------- maps


def _zoom(span_deg: float) -> float:

    # the span fills ~420 px of a 512 px-per-world tile pyramid
    return round(max(3.0, min(15.0, math.log2(420 * 360.0 / (512 * max(span_deg, 1e-3))))), 2)


def _map_layout(fig: go.Figure, title: str, m: dict[str, Any], lang: str) -> go.Figure:
    layers = [
        {"sourcetype": "geojson", "source": m["hulls"], "type": "fill",
         "color": "rgba(120,120,160,0.10)", "below": "traces"},
        {"sourcetype": "geojson", "source": m["hulls"], "type": "line",
         "color": "rgba(80,80,120,0.6)", "line": {"width": 1.2}, "below": "traces"},
    ]
    _layout(fig, title)
    fig.update_layout(
        map={"style": "white-bg", "center": m["center"], "zoom": _zoom(m["span_deg"]),
             "layers": layers},
        height=680, margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"orientation": "v", "x": 0.01, "y": 0.99, "bgcolor": "rgba(255,255,255,0.8)"},
    )
    return fig


def draw_county_map(m: dict[str, Any], lang: str = "zh", category: str = "") -> go.Figure:
    """Points coloured by GB/T 19095 category, facilities, depots, town hulls."""
    fig = go.Figure()
    for c in m["categories"]:
        if category and c != category:
            continue
        pts = [p for p in m["points"] if p["category"] == c]
        fig.add_trace(go.Scattermap(
            lon=[p["lon"] for p in pts], lat=[p["lat"] for p in pts], mode="markers",
            name=cat_name(c, lang), marker={"size": 7, "color": cat_colour(c)},
            text=[f"{p['id']} {p['name']}<br>{p['town']}" for p in pts],
            hovertemplate="%{text}<extra></extra>",
        ))
    fig.add_trace(go.Scattermap(
        lon=[f["lon"] for f in m["facilities"]], lat=[f["lat"] for f in m["facilities"]],
        mode="markers", name=label(lang, "facility"),
        marker={"size": 16, "color": "#111111", "opacity": 0.85},
        text=[f"{f['id']} {f['name']}<br>{FACILITY_KINDS.get(f['kind'], f['kind'])}"
              for f in m["facilities"]],
        hovertemplate="%{text}<extra></extra>",
    ))
    fig.add_trace(go.Scattermap(
        lon=[d["lon"] for d in m["depots"]], lat=[d["lat"] for d in m["depots"]],
        mode="markers", name=label(lang, "depot"),
        marker={"size": 13, "color": "#FF7F0E"},
        text=[f"{d['id']} {d['name']}" for d in m["depots"]],
        hovertemplate="%{text}<extra></extra>",
    ))
    return _map_layout(fig, label(lang, "map"), m, lang)


def draw_plan_map(plan: dict[str, Any], m: dict[str, Any], lang: str = "zh") -> go.Figure:
    """One colour per truck (stop order as straight legs), unloads as large rings."""
    fig = go.Figure()
    for i, r in enumerate(plan["routes"]):
        fig.add_trace(go.Scattermap(
            lon=[p[0] for p in r["path"]], lat=[p[1] for p in r["path"]],
            mode="lines+markers", name=r["vehicle_id"],
            line={"width": 2, "color": TRUCK_COLOURS[i % len(TRUCK_COLOURS)]},
            marker={"size": 5, "color": TRUCK_COLOURS[i % len(TRUCK_COLOURS)]},
            hovertemplate=r["vehicle_id"] + "<extra></extra>",
        ))
    unloads = [u | {"v": r["vehicle_id"]} for r in plan["routes"] for u in r["unloads"]]
    fig.add_trace(go.Scattermap(
        lon=[u["lon"] for u in unloads], lat=[u["lat"] for u in unloads], mode="markers",
        name=label(lang, "unload"), marker={"size": 18, "color": "#000000", "opacity": 0.6},
        text=[f"{u['v']} → {u['id']} {int(u['at']):02d}:{round(u['at'] % 1 * 60):02d}"
              for u in unloads],
        hovertemplate="%{text}<extra></extra>",
    ))
    return _map_layout(fig, f"{label(lang, 'routes')} {plan['date']}", m, lang)


# --------------------------------------------------------------------------- plan day


def draw_gantt(plan: dict[str, Any], lang: str = "zh") -> go.Figure:
    fig = go.Figure()
    vids = [r["vehicle_id"] for r in plan["routes"]]
    lo, hi = 24.0, 0.0
    for kind, colour in SEGMENT_COLOURS.items():
        y, x, base = [], [], []
        for r in plan["routes"]:
            for s in r["segments"]:
                if s["kind"] == kind:
                    y.append(r["vehicle_id"])
                    base.append(s["start"])
                    x.append(round(s["end"] - s["start"], 4))
                    lo, hi = min(lo, s["start"]), max(hi, s["end"])
        if y:
            fig.add_trace(go.Bar(
                y=y, x=x, base=base, orientation="h", name=label(lang, kind),
                marker={"color": colour, "line": {"width": 0}},
                hovertemplate="%{y} %{base:.2f}h +%{x:.2f}h<extra>" + label(lang, kind) + "</extra>",
            ))
    _layout(fig, f"{label(lang, 'gantt')} {plan['date']}", barmode="overlay",
            height=max(320, 22 * len(vids) + 120))
    fig.update_yaxes(categoryorder="array", categoryarray=vids[::-1], title=label(lang, "truck"))
    if hi > lo:
        fig.update_xaxes(title=label(lang, "hour"), **_hour_ticks(lo, hi))
    return fig


def draw_load_profile(plan: dict[str, Any], lang: str = "zh") -> go.Figure:
    fig = go.Figure()
    for i, r in enumerate(plan["routes"]):
        fig.add_trace(go.Scatter(
            x=r["load"]["h"], y=r["load"]["kg"], mode="lines", line_shape="hv",
            name=r["vehicle_id"], line={"color": TRUCK_COLOURS[i % len(TRUCK_COLOURS)]},
            hovertemplate="%{y:,.0f} kg<extra>" + r["vehicle_id"] + "</extra>",
        ))
    xs = [h for r in plan["routes"] for h in r["load"]["h"]]
    _layout(fig, label(lang, "load"), yaxis_title=label(lang, "kg"), height=460)
    if xs:
        fig.update_xaxes(title=label(lang, "hour"), **_hour_ticks(min(xs), max(xs)))
    fig.update_layout(legend={"orientation": "v", "x": 1.02, "y": 1}, margin={"r": 100})
    return fig


def draw_fleet(data: dict[str, Any], lang: str = "zh") -> go.Figure:

    trucks = data["trucks"]
    ids = [t["vehicle_id"] for t in trucks]
    fig = make_subplots(
        rows=4, cols=1, shared_xaxes=True, vertical_spacing=0.05,
        subplot_titles=[label(lang, "utilisation"), label(lang, "km"), label(lang, "t"),
                        label(lang, "trips")],
    )
    series = [("utilisation", "#4C78A8"), ("day_km", "#F58518"), ("day_t", "#54A24B"),
              ("day_trips", "#B279A2")]
    for row, (key, colour) in enumerate(series, start=1):
        fig.add_trace(go.Bar(x=ids, y=[t.get(key) for t in trucks], name=label(lang, {
            "utilisation": "utilisation", "day_km": "km", "day_t": "t", "day_trips": "trips"}[key]),
            marker_color=colour, showlegend=False), row=row, col=1)
    fig.update_yaxes(tickformat=".0%", row=1, col=1)
    title = label(lang, "fleet") + (f" {data['date']}" if data.get("date") else "")
    return _layout(fig, title, height=820)


def draw_fleet_year(data: dict[str, Any], lang: str = "zh") -> go.Figure:
    trucks = [t for t in data["trucks"] if t.get("year_t") is not None]
    fig = go.Figure(go.Bar(
        x=[t["vehicle_id"] for t in trucks], y=[t["year_t"] for t in trucks],
        marker_color="#54A24B", name=label(lang, "year_t"),
        customdata=[t["year_truck_days"] for t in trucks],
        hovertemplate="%{x}: %{y:,.1f} t, %{customdata} d<extra></extra>",
    ))
    title = label(lang, "year_t") + (f" {data['year']}" if data.get("year") else "")
    return _layout(fig, title, yaxis_title=label(lang, "t"))


def draw_truck_map(plan: dict[str, Any], m: dict[str, Any], vehicle: str,
                   lang: str = "zh") -> go.Figure:
    """One truck's day: its legs coloured by stream (GB/T 19095 colours), its collect
    stops, its unloads marked large; every other truck's route in grey beneath."""
    fig = go.Figure()
    lon: list[float | None] = []
    lat: list[float | None] = []
    for r in plan["routes"]:
        if r["vehicle_id"] != vehicle:
            lon += [p[0] for p in r["path"]] + [None]
            lat += [p[1] for p in r["path"]] + [None]
    fig.add_trace(go.Scattermap(lon=lon, lat=lat, mode="lines", name=label(lang, "other_trucks"),
                                line={"width": 1, "color": GREY}, hoverinfo="skip"))
    route = next((r for r in plan["routes"] if r["vehicle_id"] == vehicle), None)
    if route is not None:
        for c, leg in route["streams"].items():
            # a dark casing under the stream colour: grey (residual) stays visible over
            # the grey of the other trucks
            fig.add_trace(go.Scattermap(
                lon=leg["lon"], lat=leg["lat"], mode="lines", showlegend=False,
                line={"width": 6, "color": "#222222"}, hoverinfo="skip"))
            fig.add_trace(go.Scattermap(
                lon=leg["lon"], lat=leg["lat"], mode="lines+markers",
                name=f"{vehicle} · {cat_name(c, lang)}",
                line={"width": 3, "color": cat_colour(c)},
                marker={"size": 7, "color": cat_colour(c)},
                hovertemplate=f"{vehicle} {cat_name(c, lang)}<extra></extra>",
            ))
        un = route["unloads"]
        fig.add_trace(go.Scattermap(
            lon=[u["lon"] for u in un], lat=[u["lat"] for u in un], mode="markers",
            name=label(lang, "unload"), marker={"size": 20, "color": "#000000", "opacity": 0.7},
            text=[f"{vehicle} → {u['id']} {int(u['at']):02d}:{round(u['at'] % 1 * 60):02d}"
                  for u in un],
            hovertemplate="%{text}<extra></extra>",
        ))
    _map_layout(fig, f"{label(lang, 'routes')} {plan['date']} · {vehicle}", m, lang)
    if route is not None and route["path"]:
        lons = [p[0] for p in route["path"]]
        lats = [p[1] for p in route["path"]]
        span = max(max(lons) - min(lons), max(lats) - min(lats))
        fig.update_layout(map={"center": {"lon": (min(lons) + max(lons)) / 2,
                                          "lat": (min(lats) + max(lats)) / 2},
                               "zoom": _zoom(span * 1.15)})
    return fig


def draw_sparkline(series: dict[str, Any], key: str, lang: str = "zh",
                   fraction: bool = False) -> go.Figure:
    """A small line of one daily series (no axes but the last value's)."""
    xs, ys = series["days"], series[key]
    fig = go.Figure(go.Scatter(
        x=xs, y=ys, mode="lines", line={"width": 2, "color": "#1E5BA8"}, connectgaps=False,
        fill="tozeroy", fillcolor="rgba(30,91,168,0.08)",
        hovertemplate="%{x}: " + ("%{y:.1%}" if fraction else "%{y:,.1f}") + "<extra></extra>",
    ))
    fig.update_layout(
        title={"text": label(lang, f"spark_{key}"), "x": 0.01, "font": {"size": 12}},
        font={"family": FONT, "size": 11}, template="plotly_white", height=130,
        margin={"l": 36, "r": 8, "t": 28, "b": 18}, showlegend=False,
        xaxis={"showgrid": False, "showticklabels": False},
        yaxis={"tickformat": ".0%" if fraction else ",.0f", "nticks": 3},
    )
    return fig
