"""Dashboard pages: static files (``wasteroute dashboards``) and live HTML (``wasteroute serve``).

Pages: ``overview`` (management), ``map`` (county), ``plan`` (the day's plan), ``fleet``.
Each page is one HTML file with its figures as JSON, drawn by plotly.js loaded from a
relative ``<script src="plotly.min.js">`` (written once beside the pages), so nothing is
fetched from outside. A figure may carry *variants* (one per town or category) that a
``<select>`` swaps in with ``Plotly.react``.

For the API:

* :func:`render_page(session, name, filters) -> str` - the page's HTML;
* :func:`page_figures(session, name, filters) -> dict` - its figures as JSON-ready data;
* :func:`plotly_js() -> str` - the plotly.js bundle to serve as ``plotly.min.js``
  beside the pages; :data:`PAGES` - the page names.

``filters`` (all optional strings): ``date`` (plan day, YYYY-MM-DD; default the newest
planned day), ``year`` (default the newest year with records), ``lang`` (``zh``/``en``).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from jinja2 import Environment
from plotly.offline import get_plotlyjs

import dashboards.data as D
import dashboards.figures as F
from dashboards.landing import compute_landing
from logistics.domain import BadInput
from logistics.persistence import dashboard_repo
from logistics.persistence.db import Session
from logistics.reporting import periods
from logistics.reporting.metrics import REGISTRY

log = logging.getLogger(__name__)

PAGES = ("index", "overview", "map", "plan", "fleet")
PLOTLY_JS = "plotly.min.js"

TITLES = {
    "zh": {"overview": "管理总览", "map": "县域地图", "plan": "调度日视图", "fleet": "车队",
           "index": "首页", "site": "环卫收运看板", "unassigned": "未安排点位", "none": "无",
           "town": "乡镇", "all_towns": "全部乡镇", "category": "类别",
           "all_categories": "全部类别", "no_plan": "没有已保存的计划",
           "no_data": "没有收运记录", "missing": "缺失", "inputs": "依据",
           "http_note": "地图需要通过 http:// 打开（例如 python -m http.server）。",
           "reason": "原因", "point": "点位", "kg": "公斤", "period": "统计期",
           "truck": "车辆", "day": "最近一天", "year_to_date": "年初至今",
           "default_year": "最近完整统计期", "alerts": "提醒", "no_alerts": "没有提醒",
           "covers": "统计范围", "days": "天", "plan_vs_actual": "计划与实际（对账）",
           "no_actual": "当日尚无收运记录或过磅单", "finding": "问题", "vehicle": "车辆",
           "trip": "趟次", "facility": "设施", "ticket": "磅单", "planned_kg": "计划公斤",
           "actual_kg": "实际公斤", "deviation": "偏差", "time": "时间",
           "planned": "计划", "actual": "实际", "matched": "匹配",
           "deliveries": "卸料", "points": "点位", "trips": "趟", "tickets": "磅单", "records": "记录",
           "near_capacity": "{name}（{id}）进场 {intake} 吨，达日处理能力 {capacity} 吨的 {share}",
           "points_missed": "应收 {due} 个点位中 {count} 个未收运：{points}",
           "harmless_below_target": "{scope}无害化处理率 {value}，低于目标 {target}",
           "transfer_stock_growing": "转运站存量连续 {days} 天增加：{frm} 吨 → {to} 吨",
           "scope_day": "当日", "scope_year_to_date": "年初至今",
           "ticket_unplanned": "计划外磅单", "unload_missing": "缺少卸料磅单",
           "weight_deviation": "重量偏差", "point_not_recorded": "计划点位无记录",
           "record_unplanned": "计划外记录"},
    "en": {"overview": "Management overview", "map": "County map", "plan": "Dispatcher's day",
           "fleet": "Fleet", "index": "Home", "site": "Sanitation dashboards",
           "unassigned": "Unassigned points", "none": "none", "town": "Town",
           "all_towns": "All towns", "category": "Category",
           "all_categories": "All categories", "no_plan": "No stored plan",
           "no_data": "No collection records", "missing": "missing", "inputs": "inputs",
           "http_note": "Maps need http:// (e.g. python -m http.server).",
           "reason": "Reason", "point": "Point", "kg": "kg", "period": "Period",
           "truck": "Truck", "day": "Newest day", "year_to_date": "Year to date",
           "default_year": "Newest complete period", "alerts": "Alerts", "no_alerts": "No alerts",
           "covers": "Covers", "days": "days", "plan_vs_actual": "Plan versus actual",
           "no_actual": "No records or tickets for the day yet", "finding": "Finding",
           "vehicle": "Vehicle", "trip": "Trip", "facility": "Facility", "ticket": "Ticket",
           "planned_kg": "Planned kg", "actual_kg": "Actual kg", "deviation": "Deviation",
           "time": "Time", "planned": "Planned", "actual": "Actual", "matched": "Matched",
           "deliveries": "unloads", "points": "points", "trips": "trips", "tickets": "tickets",
           "records": "records",
           "near_capacity": "{name} ({id}) took in {intake} t, {share} of its daily "
                            "capacity of {capacity} t",
           "points_missed": "{count} of {due} points due were not collected: {points}",
           "harmless_below_target": "Harmless disposal rate ({scope}) {value} is below the "
                                    "target of {target}",
           "transfer_stock_growing": "Transfer station stock grew {days} days in a row: "
                                     "{frm} t → {to} t",
           "scope_day": "the day", "scope_year_to_date": "year to date",
           "ticket_unplanned": "Ticket nobody planned", "unload_missing": "Unload without ticket",
           "weight_deviation": "Weight deviation", "point_not_recorded": "Planned point not recorded",
           "record_unplanned": "Record nobody planned"},
}


def _tr(lang: str, key: str) -> str:
    return TITLES.get(lang, TITLES["en"]).get(key, key)


def _fig_json(fig: go.Figure) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(fig.to_json())
    return out


@dataclass(frozen=True)
class Filters:
    day: dt.date | None
    year: int | None
    period: tuple[dt.date, dt.date] | None
    lang: str


def _filters(filters: Mapping[str, str] | None) -> Filters:
    f = dict(filters or {})
    lang = f.get("lang") or "zh"
    if lang not in ("zh", "en"):
        raise BadInput(f"lang must be zh or en (got {lang})")
    try:
        day = dt.date.fromisoformat(f["date"]) if f.get("date") else None
        year = int(f["year"]) if f.get("year") else None
        period = None
        if f.get("period"):
            a, b = f["period"].split("..")
            period = (dt.date.fromisoformat(a), dt.date.fromisoformat(b))
    except ValueError:
        raise BadInput(f"bad date, year or period in {f}") from None
    if period is not None and (period[1] < period[0] or (period[1] - period[0]).days > 3660):
        raise BadInput(f"bad period {f.get('period')} (FROM..TO, at most 10 years)")
    if period is None and year is not None:
        period = (dt.date(year, 1, 1), dt.date(year, 12, 31))
    return Filters(day, year, period, lang)


# --------------------------------------------------------------------------- page content


def _default_year(session: Session) -> tuple[dt.date, dt.date] | None:
    d = periods.default_periods(*reversed(periods.data_bounds(session)))
    return None if d is None else d["year"]


def _fmt_value(card: dict[str, Any], lang: str) -> str:
    v = card["value"]
    if v is None:
        return "—"
    if card["unit"] == "fraction":
        return f"{v * 100:.1f}%"
    return f"{v:,.1f}"


def _input_text(v: Any) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k} {_input_text(x)}" for k, x in v.items())
    return f"{v:,}" if isinstance(v, int | float) and not isinstance(v, bool) else str(v)


def _cards_html(cards: list[dict[str, Any]], lang: str) -> str:
    parts = []
    for c in cards:
        spec = REGISTRY[c["key"]]
        name = spec.name_zh if lang == "zh" else spec.name_en
        unit = "" if c["unit"] == "fraction" else f" {c['unit']}"
        inputs = "<br>".join(
            f"{html.escape(str(k))}: {html.escape(_input_text(v))}" for k, v in c["inputs"].items()
        )
        missing = (
            f'<div class="missing">{_tr(lang, "missing")}: {html.escape(c["missing"])}</div>'
            if c["missing"] else ""
        )
        parts.append(
            f'<div class="card" data-key="{c["key"]}"><div class="name">{html.escape(name)}</div>'
            f'<div class="value">{_fmt_value(c, lang)}{html.escape(unit)}</div>{missing}'
            f'<div class="inputs">{inputs}</div></div>'
        )
    return '<div class="cards">' + "".join(parts) + "</div>"


def _covers_html(covers: dict[str, Any], lang: str) -> str:
    label = covers["label"][lang]
    if covers["to"] is None:
        span = _tr(lang, "no_data")
    else:
        span = f'{covers["from"]} — {covers["to"]} ({covers["days"]} {_tr(lang, "days")})'
    return (f'<p class="period" data-kind="{html.escape(covers["kind"])}">'
            f'<b>{html.escape(label)}</b> · {_tr(lang, "covers")}: {html.escape(span)}</p>')


def period_file(key: str, default_key: str) -> str:
    """The static file of the overview of a period (``overview.html`` for the default)."""
    return "overview.html" if key == default_key else f"overview_{key.replace('..', '_')}.html"


def _period_select(session: Session, current: tuple[dt.date, dt.date], lang: str,
                   static: bool) -> str:
    first, last = dashboard_repo.record_date_bounds(session)
    offered = periods.offered_periods(last, first)
    default = _default_year(session)
    default_key = "" if default is None else f"{default[0]}..{default[1]}"
    key = f"{current[0]}..{current[1]}"
    if key not in {o["key"] for o in offered}:
        offered = [{"key": key, "from": current[0].isoformat(), "to": current[1].isoformat(),
                    "kind": "period"}, *offered]
    opts = []
    for o in offered:
        cov = periods.Covered(dt.date.fromisoformat(o["from"]), dt.date.fromisoformat(o["to"]),
                              last)
        href = (period_file(o["key"], default_key) if static
                else f"overview.html?period={o['key']}&lang={lang}")
        sel = " selected" if o["key"] == key else ""
        opts.append(f'<option value="{html.escape(o["key"])}" data-href="{html.escape(href)}"'
                    f'{sel}>{html.escape(cov.label(lang))}</option>')
    return (f'<div class="filter"><label>{_tr(lang, "period")} '
            f'<select id="period-select">{"".join(opts)}</select></label></div>')


def _alert_text(a: dict[str, Any], lang: str) -> str:
    pct = (lambda v: f"{v * 100:.1f}%")  # noqa: E731
    k = a["kind"]
    if k == "near_capacity":
        return _tr(lang, k).format(name=a["name"], id=a["facility_id"], intake=a["intake_t"],
                                   capacity=a["capacity_t"], share=pct(a["share"]))
    if k == "points_missed":
        more = "…" if a["count"] > len(a["points"]) else ""
        return _tr(lang, k).format(due=a["due"], count=a["count"],
                                   points=", ".join(a["points"]) + more)
    if k == "harmless_below_target":
        return _tr(lang, k).format(scope=_tr(lang, f"scope_{a['scope']}"), value=pct(a["value"]),
                                   target=pct(a["target"]))
    return _tr(lang, k).format(days=a["days"], frm=a["from_t"], to=a["to_t"])


def _alerts_html(alerts: list[dict[str, Any]], lang: str) -> str:
    if not alerts:
        return f'<div class="alerts ok"><h2>{_tr(lang, "alerts")}</h2><p>{_tr(lang, "no_alerts")}</p></div>'
    items = "".join(
        f'<li class="alert {html.escape(a["severity"])}" data-kind="{html.escape(a["kind"])}">'
        f"{html.escape(_alert_text(a, lang))}</li>" for a in alerts)
    return f'<div class="alerts"><h2>{_tr(lang, "alerts")}</h2><ul>{items}</ul></div>'


def _landing(session: Session, lang: str, figures: list[dict[str, Any]], blocks: list[str]
             ) -> None:
    data = compute_landing(session)
    if data["last"] is None:
        blocks.append(f"<p>{_tr(lang, 'no_data')}</p>")
        return
    blocks.append(_alerts_html(data["alerts"], lang))
    for b in data["blocks"]:
        blocks.append(f'<h2>{_tr(lang, b["kind"])}</h2>' + _covers_html(b["covers"], lang)
                      + _cards_html(b["cards"], lang))
    blocks.append('<h2 class="sparks-title"></h2>')
    for key, frac in (("t", False), ("harmless", True), ("coverage", True),
                      ("transfer_t", False)):
        figures.append({"id": f"spark_{key}", "small": True,
                        "figure": _fig_json(F.draw_sparkline(data["series"], key, lang, frac))})


def _overview(session: Session, flt: Filters, static: bool, figures: list[dict[str, Any]],
              blocks: list[str], memo: dict[Any, Any]) -> None:
    lang = flt.lang
    period = flt.period or _default_year(session)
    if period is None:
        blocks.append(f"<p>{_tr(lang, 'no_data')}</p>")
        return
    start, end = period
    kpis = D.compute_kpis(session, start, end)
    blocks.append(_period_select(session, period, lang, static))
    blocks.append(_covers_html(kpis["covers"], lang))
    blocks.append(_cards_html(kpis["cards"], lang))
    through = dt.date.fromisoformat(kpis["covers"]["to"]) if kpis["covers"]["to"] else end
    years = [y for y in D.data_years(session) if start.year - 1 <= y <= end.year]
    if years:
        key = ("monthly", tuple(years), lang)
        if key not in memo:  # the same for every period of these years
            monthly = D.compute_monthly_tonnage(session, years)
            opts = [["", _tr(lang, "all_towns")]] + [[t, t] for t in monthly["towns"]]
            memo[key] = {
                "id": "monthly",
                "figure": _fig_json(F.draw_monthly_tonnage(monthly, lang)),
                "select": {"label": _tr(lang, "town"), "options": opts},
                "variants": {t: _fig_json(F.draw_monthly_tonnage(monthly, lang, t))
                             for t, _ in opts},
            }
        figures.append(memo[key])
    ckey = ("coverage", through.year, lang)
    if ckey not in memo:
        memo[ckey] = {"id": "coverage", "figure": _fig_json(
            F.draw_coverage_trend(D.compute_coverage_trend(session, through.year), lang))}
    figures.append(memo[ckey])
    flows = D.compute_disposal_flows(session, start, through)
    figures.append({"id": "sankey", "figure": _fig_json(F.draw_disposal_sankey(flows, lang))})


def _day_view(session: Session, flt: Filters, figures: list[dict[str, Any]],
              blocks: list[str], after: list[str]) -> None:
    lang = flt.lang
    plan = D.compute_plan_day(session, flt.day)
    if plan is None:
        blocks.append(f"<p>{_tr(lang, 'no_plan')}</p>")
        return
    m = D.compute_county_map(session)
    vids = [r["vehicle_id"] for r in plan["routes"]]
    if vids:
        opts = [[v, f'{v} · {r["collects"]} {_tr(lang, "points")} · {r["trips"]} '
                 f'{_tr(lang, "trips")} · {r["distance_km"]:.1f} km']
                for v, r in zip(vids, plan["routes"], strict=True)]
        figures.append({
            "id": "plan_map", "map": True,
            "figure": _fig_json(F.draw_truck_map(plan, m, vids[0], lang)),
            "select": {"label": _tr(lang, "truck"), "options": opts},
            "variants": {v: _fig_json(F.draw_truck_map(plan, m, v, lang)) for v in vids},
        })
    figures.append({"id": "gantt", "figure": _fig_json(F.draw_gantt(plan, lang))})
    figures.append({"id": "load", "figure": _fig_json(F.draw_load_profile(plan, lang))})
    after.append(_unassigned_html(plan, lang))
    day = dt.date.fromisoformat(plan["date"])
    after.append(_plan_vs_actual_html(D.compute_plan_vs_actual(session, day), lang))


def page_content(session: Session, name: str, filters: Mapping[str, str] | None = None,
                 static: bool = True, memo: dict[Any, Any] | None = None) -> dict[str, Any]:
    """Figures (plotly JSON, with variants) and HTML blocks of one page. ``static``: the
    period selector links to the files ``wasteroute dashboards`` writes, else to
    ``?period=`` of the served page. ``memo`` keeps figures that several pages of one
    session share (the static set's period pages)."""
    if name not in PAGES:
        raise BadInput(f"unknown dashboard page {name} (one of {', '.join(PAGES)})")
    flt = _filters(filters)
    lang = flt.lang
    figures: list[dict[str, Any]] = []
    blocks: list[str] = []
    after: list[str] = []
    if name == "index":
        _landing(session, lang, figures, blocks)
    elif name == "overview":
        _overview(session, flt, static, figures, blocks, {} if memo is None else memo)
    elif name == "map":
        m = D.compute_county_map(session)
        opts = [["", _tr(lang, "all_categories")]] + [
            [c, F.cat_name(c, lang)] for c in m["categories"]
        ]
        figures.append({
            "id": "county_map", "map": True,
            "figure": _fig_json(F.draw_county_map(m, lang)),
            "select": {"label": _tr(lang, "category"), "options": opts},
            "variants": {c: _fig_json(F.draw_county_map(m, lang, c)) for c, _ in opts},
        })
    elif name == "plan":
        _day_view(session, flt, figures, blocks, after)
    else:  # fleet
        plan = D.compute_plan_day(session, flt.day)
        period = flt.period or _default_year(session)
        year = None if period is None else period[1].year
        fleet = D.compute_fleet(session, plan, year)
        if plan is None:
            blocks.append(f"<p>{_tr(lang, 'no_plan')}</p>")
        else:
            figures.append({"id": "fleet_day", "figure": _fig_json(F.draw_fleet(fleet, lang))})
        if year is not None:
            figures.append({"id": "fleet_year",
                            "figure": _fig_json(F.draw_fleet_year(fleet, lang))})
    return {"page": name, "lang": lang, "title": _tr(lang, name), "figures": figures,
            "blocks": blocks, "after": after}


def _unassigned_html(plan: dict[str, Any], lang: str) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(u['point_id'])}</td><td>{html.escape(F.cat_name(u['category'], lang))}"
        f"</td><td>{u['kg']:,}</td><td>{html.escape(u['reason'])}</td></tr>"
        for u in plan["unassigned"]
    )
    head = (f"<tr><th>{_tr(lang, 'point')}</th><th>{_tr(lang, 'category')}</th>"
            f"<th>{_tr(lang, 'kg')}</th><th>{_tr(lang, 'reason')}</th></tr>")
    body = rows or f'<tr><td colspan="4">{_tr(lang, "none")}</td></tr>'
    return (f'<h2>{_tr(lang, "unassigned")} ({len(plan["unassigned"])})</h2>'
            f'<table class="grid unassigned">{head}{body}</table>')


def _plan_vs_actual_html(doc: dict[str, Any] | None, lang: str) -> str:
    title = f'<h2>{_tr(lang, "plan_vs_actual")}</h2>'
    if doc is None:
        return f'{title}<p class="note">{_tr(lang, "no_actual")}</p>'
    e = html.escape
    summary = (
        f'<p class="pva-summary">{_tr(lang, "planned")}: {doc["planned"]["deliveries"]} '
        f'{_tr(lang, "deliveries")}, {doc["planned"]["points"]} {_tr(lang, "points")} · '
        f'{_tr(lang, "actual")}: {doc["actual"]["tickets"]} {_tr(lang, "tickets")}, '
        f'{doc["actual"]["records"]} {_tr(lang, "records")} · {_tr(lang, "matched")}: '
        f'{doc["matched"]["deliveries"]} {_tr(lang, "deliveries")}, '
        f'{doc["matched"]["points"]} {_tr(lang, "points")}</p>')
    counts = "".join(f'<li data-kind="{e(k)}">{e(_tr(lang, k))}: {n}</li>'
                     for k, n in doc["counts"].items())
    cols = ("kind", "vehicle_id", "trip", "facility_id", "ticket_no", "point_id", "planned_kg",
            "actual_kg", "deviation_pct", "time")
    heads = ("finding", "vehicle", "trip", "facility", "ticket", "point", "planned_kg",
             "actual_kg", "deviation", "time")
    head = "".join(f"<th>{_tr(lang, h)}</th>" for h in heads)

    def cell(f: dict[str, Any], c: str) -> str:
        v = f.get(c)
        if v is None:
            return ""
        if c == "kind":
            return e(_tr(lang, str(v)))
        if c == "deviation_pct":
            return f"{v:+.1f}%"
        return e(f"{v:,}" if isinstance(v, float) else str(v))

    rows = "".join("<tr>" + "".join(f"<td>{cell(f, c)}</td>" for c in cols) + "</tr>"
                   for f in doc["findings"])
    body = rows or f'<tr><td colspan="{len(cols)}">{_tr(lang, "none")}</td></tr>'
    return (f'{title}{summary}<ul class="counts">{counts}</ul>'
            f'<table class="grid findings"><tr>{head}</tr>{body}</table>')


def page_figures(session: Session, name: str, filters: Mapping[str, str] | None = None
                 ) -> dict[str, Any]:
    """JSON-ready figures of a page (for the API's live dashboards)."""
    content = page_content(session, name, filters, static=False)
    return {"page": name, "lang": content["lang"], "figures": content["figures"]}


# --------------------------------------------------------------------------- HTML

#: the one inline script of a page: draws the figures from the page data, swaps a
#: figure's variants on its selector, opens the period chosen (a constant, so the
#: Content-Security-Policy names it by its hash, :data:`SCRIPT_HASH`)
BOOT_JS = """
(function () {
  const PAGE = JSON.parse(document.getElementById("page-data").textContent);
  const CONFIG = {displaylogo: false, responsive: true};
  const SMALL = {displayModeBar: false, responsive: true, staticPlot: false};
  window.WASTEROUTE_READY = Promise.all(PAGE.figures.map(function (f) {
    const el = document.getElementById(f.id);
    const drawn = Plotly.newPlot(el, f.figure.data, f.figure.layout, f.small ? SMALL : CONFIG);
    if (f.variants) {
      document.getElementById(f.id + "-select").addEventListener("change", function (ev) {
        const v = f.variants[ev.target.value];
        el.dataset.variant = ev.target.value;
        Plotly.react(el, v.data, v.layout, CONFIG);
      });
    }
    return drawn;
  }));
  const period = document.getElementById("period-select");
  if (period) {
    period.addEventListener("change", function (ev) {
      window.location.href = ev.target.selectedOptions[0].dataset.href;
    });
  }
})();
"""
SCRIPT_HASH = f"'sha256-{base64.b64encode(hashlib.sha256(BOOT_JS.encode()).digest()).decode()}'"

# Autoescaped: names (towns, points, categories) are text wherever they land. Only what
# this module builds is marked safe: `blocks`/`after` (HTML with every value escaped),
# the font list and BOOT_JS (constants) and the page data (JSON with <, > and & escaped).
_PAGE = Environment(autoescape=True).from_string("""<!DOCTYPE html>
<html lang="{{ 'zh-CN' if lang == 'zh' else 'en' }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} · {{ site }}</title>
<link rel="icon" href="data:,">
<style>
body { font-family: {{ font | safe }}; margin: 0 auto; max-width: 1280px; padding: 0 16px 40px; color: #222; }
nav { padding: 12px 0; border-bottom: 1px solid #ddd; margin-bottom: 12px; }
nav .site { font-weight: bold; margin-right: 24px; color: #00843D; }
nav a { margin-right: 18px; color: #1E5BA8; text-decoration: none; }
nav a.here { font-weight: bold; color: #222; }
h2 { font-size: 17px; margin: 22px 0 6px; }
.period { font-size: 14px; color: #444; margin: 6px 0 10px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(210px, 1fr)); gap: 10px; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 10px 12px; background: #fafafa; }
.card .name { font-size: 13px; color: #555; }
.card .value { font-size: 26px; font-weight: bold; margin: 4px 0; }
.card .inputs { font-size: 11px; color: #777; line-height: 1.4; }
.card .missing { font-size: 12px; color: #b00; }
.fig { margin-top: 18px; }
.figs-small { display: grid; grid-template-columns: repeat(auto-fill, minmax(280px, 1fr)); gap: 10px; }
.figs-small .fig { margin-top: 0; border: 1px solid #eee; border-radius: 6px; }
.filter { margin: 14px 0 0; font-size: 14px; }
table.grid { border-collapse: collapse; font-size: 13px; }
table.grid td, table.grid th { border: 1px solid #ddd; padding: 3px 8px; }
.alerts ul { list-style: none; padding: 0; margin: 0; }
.alert { padding: 6px 10px; margin: 4px 0; border-left: 4px solid #F2A93B; background: #fff8ec; font-size: 14px; }
.alert.high { border-left-color: #d62728; background: #fdeeee; }
.alerts.ok p { color: #2ca02c; }
ul.counts { list-style: none; padding: 0; display: flex; gap: 18px; font-size: 13px; }
.note { color: #777; font-size: 12px; }
</style>
<script src="{{ plotly_src }}"></script>
</head>
<body>
<nav><span class="site">{{ site }}</span>{% for p, t in nav %}<a href="{{ p }}.html"{% if p == page %} class="here"{% endif %}>{{ t }}</a>{% endfor %}</nav>
<h1>{{ title }}</h1>
{% for b in blocks %}{{ b | safe }}
{% endfor %}
{% if small %}<div class="figs-small">{% for f in small %}<div class="fig" id="{{ f.id }}"></div>{% endfor %}</div>{% endif %}
{% for f in figures %}
{% if f.select %}<div class="filter"><label>{{ f.select.label }}
<select id="{{ f.id }}-select" data-figure="{{ f.id }}">
{% for v, t in f.select.options %}<option value="{{ v }}">{{ t }}</option>{% endfor %}
</select></label></div>{% endif %}
<div class="fig" id="{{ f.id }}"></div>
{% endfor %}
{% for b in after %}{{ b | safe }}
{% endfor %}
{% if has_map %}<p class="note">{{ http_note }}</p>{% endif %}
<script id="page-data" type="application/json">{{ data | safe }}</script>
<script>{{ boot_js | safe }}</script>
</body>
</html>
""")


def _json_for_script(obj: Any) -> str:
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _html(content: dict[str, Any], plotly_src: str) -> str:
    lang = content["lang"]
    figs = content["figures"]
    return _PAGE.render(
        lang=lang, title=content["title"], site=_tr(lang, "site"), font=F.FONT,
        plotly_src=plotly_src, page=content["page"], nav=[(p, _tr(lang, p)) for p in PAGES],
        blocks=content["blocks"], after=content["after"],
        small=[{"id": f["id"]} for f in figs if f.get("small")],
        figures=[{"id": f["id"], "select": f.get("select")} for f in figs if not f.get("small")],
        has_map=any(f.get("map") for f in figs),
        http_note=_tr(lang, "http_note"), boot_js=BOOT_JS,
        data=_json_for_script({"figures": figs}),
    )


def render_page(session: Session, name: str, filters: Mapping[str, str] | None = None,
                plotly_src: str = PLOTLY_JS, static: bool = True,
                memo: dict[Any, Any] | None = None) -> str:
    """The HTML of one dashboard page; plotly.js is loaded from ``plotly_src``; see
    :func:`page_content` for ``static`` and ``memo``."""
    return _html(page_content(session, name, filters, static=static, memo=memo), plotly_src)


def plotly_js() -> str:
    """The plotly.js bundle shipped with the plotly package (serve it as plotly.min.js)."""
    js: str = get_plotlyjs()
    return js


def write_dashboards(session: Session, out_dir: Path, date: dt.date | None = None,
                     lang: str = "zh") -> list[Path]:
    """Write the static pages (``index.html`` the landing page; ``overview.html`` on the
    default period and one overview file per period its selector offers) and
    ``plotly.min.js`` (once) into ``out_dir``. Returns the written paths, index first."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    filters = {"lang": lang} | ({"date": date.isoformat()} if date else {})
    paths = []
    memo: dict[Any, Any] = {}
    for name in PAGES:
        path = out_dir / f"{name}.html"
        path.write_text(render_page(session, name, filters, memo=memo), encoding="utf-8")
        paths.append(path)
        log.info("dashboard page %s", path)
    first, last = dashboard_repo.record_date_bounds(session)
    default = _default_year(session)
    default_key = "" if default is None else f"{default[0]}..{default[1]}"
    for o in periods.offered_periods(last, first):
        if o["key"] == default_key:
            continue
        path = out_dir / period_file(o["key"], default_key)
        path.write_text(render_page(session, "overview", filters | {"period": o["key"]},
                                    memo=memo), encoding="utf-8")
        paths.append(path)
    js = out_dir / PLOTLY_JS
    js.write_text(plotly_js(), encoding="utf-8")
    paths.append(js)
    return paths
