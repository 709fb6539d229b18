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
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from jinja2 import Environment
from plotly.offline import get_plotlyjs

import dashboards.data as D
import dashboards.figures as F
from logistics.domain import BadInput
from logistics.persistence.db import Session
from logistics.reporting.metrics import REGISTRY

log = logging.getLogger(__name__)

PAGES = ("overview", "map", "plan", "fleet")
PLOTLY_JS = "plotly.min.js"

TITLES = {
    "zh": {"overview": "管理总览", "map": "县域地图", "plan": "当日计划", "fleet": "车队",
           "index": "环卫收运看板", "unassigned": "未安排点位", "none": "无", "town": "乡镇",
           "all_towns": "全部乡镇", "category": "类别", "all_categories": "全部类别",
           "no_plan": "没有已保存的计划", "no_data": "没有收运记录", "missing": "缺失",
           "inputs": "依据", "http_note": "地图需要通过 http:// 打开（例如 python -m http.server）。",
           "reason": "原因", "point": "点位", "kg": "公斤"},
    "en": {"overview": "Management overview", "map": "County map", "plan": "Day plan",
           "fleet": "Fleet", "index": "Sanitation dashboards", "unassigned": "Unassigned points",
           "none": "none", "town": "Town", "all_towns": "All towns", "category": "Category",
           "all_categories": "All categories", "no_plan": "No stored plan",
           "no_data": "No collection records", "missing": "missing", "inputs": "inputs",
           "http_note": "Maps need http:// (e.g. python -m http.server).",
           "reason": "Reason", "point": "Point", "kg": "kg"},
}


def _tr(lang: str, key: str) -> str:
    return TITLES.get(lang, TITLES["en"]).get(key, key)


def _fig_json(fig: go.Figure) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(fig.to_json())
    return out


def _filters(filters: Mapping[str, str] | None) -> tuple[dt.date | None, int | None, str]:
    f = dict(filters or {})
    lang = f.get("lang") or "zh"
    if lang not in ("zh", "en"):
        raise BadInput(f"lang must be zh or en (got {lang})")
    try:
        day = dt.date.fromisoformat(f["date"]) if f.get("date") else None
        year = int(f["year"]) if f.get("year") else None
    except ValueError:
        raise BadInput(f"bad date or year in {f}") from None
    return day, year, lang


# --------------------------------------------------------------------------- page content


def _year(session: Session, year: int | None) -> tuple[int | None, list[int]]:
    years = D.data_years(session)
    if year is None:
        year = years[-1] if years else None
    shown = [y for y in years if year is not None and year - 1 <= y <= year]
    return year, shown


def _fmt_value(card: dict[str, Any], lang: str) -> str:
    v = card["value"]
    if v is None:
        return "—"
    if card["unit"] == "fraction":
        return f"{v * 100:.1f}%"
    return f"{v:,.1f}"


def _cards_html(kpis: dict[str, Any], lang: str) -> str:
    parts = []
    for c in kpis["cards"]:
        spec = REGISTRY[c["key"]]
        name = spec.name_zh if lang == "zh" else spec.name_en
        unit = "" if c["unit"] == "fraction" else f" {c['unit']}"
        inputs = "<br>".join(
            f"{html.escape(str(k))}: {html.escape(f'{v:,}' if isinstance(v, int | float) else str(v))}"
            for k, v in c["inputs"].items()
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


def page_content(session: Session, name: str, filters: Mapping[str, str] | None = None
                 ) -> dict[str, Any]:
    """Figures (plotly JSON, with variants) and HTML blocks of one page."""
    if name not in PAGES:
        raise BadInput(f"unknown dashboard page {name} (one of {', '.join(PAGES)})")
    day, year_in, lang = _filters(filters)
    figures: list[dict[str, Any]] = []
    blocks: list[str] = []
    after: list[str] = []
    if name == "overview":
        year, years = _year(session, year_in)
        if year is None:
            blocks.append(f"<p>{_tr(lang, 'no_data')}</p>")
        else:
            kpis = D.compute_kpis(session, year)
            blocks.append(f'<p class="period">{kpis["from"]} — {kpis["to"]}</p>')
            blocks.append(_cards_html(kpis, lang))
            monthly = D.compute_monthly_tonnage(session, years)
            opts = [["", _tr(lang, "all_towns")]] + [[t, t] for t in monthly["towns"]]
            figures.append({
                "id": "monthly",
                "figure": _fig_json(F.draw_monthly_tonnage(monthly, lang)),
                "select": {"label": _tr(lang, "town"), "options": opts},
                "variants": {t: _fig_json(F.draw_monthly_tonnage(monthly, lang, t))
                             for t, _ in opts},
            })
            figures.append({"id": "coverage", "figure": _fig_json(
                F.draw_coverage_trend(D.compute_coverage_trend(session, year), lang))})
            flows = D.compute_disposal_flows(session, dt.date(year, 1, 1), dt.date(year, 12, 31))
            figures.append({"id": "sankey", "figure": _fig_json(F.draw_disposal_sankey(flows, lang))})
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
        plan = D.compute_plan_day(session, day)
        if plan is None:
            blocks.append(f"<p>{_tr(lang, 'no_plan')}</p>")
        else:
            m = D.compute_county_map(session)
            figures.append({"id": "plan_map", "map": True,
                            "figure": _fig_json(F.draw_plan_map(plan, m, lang))})
            figures.append({"id": "gantt", "figure": _fig_json(F.draw_gantt(plan, lang))})
            figures.append({"id": "load", "figure": _fig_json(F.draw_load_profile(plan, lang))})
            after.append(_unassigned_html(plan, lang))
    else:  # fleet
        plan = D.compute_plan_day(session, day)
        year, _ = _year(session, year_in)
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
    return (f'<details class="unassigned"><summary>{_tr(lang, "unassigned")} '
            f'({len(plan["unassigned"])})</summary>'
            f'<table class="unassigned">{head}{body}</table></details>')


def page_figures(session: Session, name: str, filters: Mapping[str, str] | None = None
                 ) -> dict[str, Any]:
    """JSON-ready figures of a page (for the API's live dashboards)."""
    content = page_content(session, name, filters)
    return {"page": name, "lang": content["lang"], "figures": content["figures"]}


# --------------------------------------------------------------------------- HTML

#: the one inline script of a page: draws the figures from the page data (a constant, so
#: the Content-Security-Policy names it by its hash, :data:`SCRIPT_HASH`)
BOOT_JS = """
(function () {
  const PAGE = JSON.parse(document.getElementById("page-data").textContent);
  const CONFIG = {displaylogo: false, responsive: true};
  window.WASTEROUTE_READY = Promise.all(PAGE.figures.map(function (f) {
    const el = document.getElementById(f.id);
    const drawn = Plotly.newPlot(el, f.figure.data, f.figure.layout, CONFIG);
    if (f.variants) {
      document.getElementById(f.id + "-select").addEventListener("change", function (ev) {
        const v = f.variants[ev.target.value];
        Plotly.react(el, v.data, v.layout, CONFIG);
      });
    }
    return drawn;
  }));
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
<title>{{ title }} · wasteroute</title>
<link rel="icon" href="data:,">
<style>
body { font-family: {{ font | safe }}; margin: 0 auto; max-width: 1280px; padding: 0 16px 40px; color: #222; }
nav { padding: 12px 0; border-bottom: 1px solid #ddd; margin-bottom: 12px; }
nav a { margin-right: 18px; color: #1E5BA8; text-decoration: none; }
nav a.here { font-weight: bold; color: #222; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(210px, 1fr)); gap: 10px; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 10px 12px; background: #fafafa; }
.card .name { font-size: 13px; color: #555; }
.card .value { font-size: 26px; font-weight: bold; margin: 4px 0; }
.card .inputs { font-size: 11px; color: #777; line-height: 1.4; }
.card .missing { font-size: 12px; color: #b00; }
.fig { margin-top: 18px; }
.filter { margin: 14px 0 0; font-size: 14px; }
table.unassigned { border-collapse: collapse; font-size: 13px; }
table.unassigned td, table.unassigned th { border: 1px solid #ddd; padding: 3px 8px; }
.note { color: #777; font-size: 12px; }
details.unassigned { margin-top: 18px; font-size: 15px; }
</style>
<script src="{{ plotly_src }}"></script>
</head>
<body>
<nav>{% for p, t in nav %}<a href="{{ p }}.html"{% if p == page %} class="here"{% endif %}>{{ t }}</a>{% endfor %}</nav>
<h1>{{ title }}</h1>
{% for b in blocks %}{{ b | safe }}
{% endfor %}
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
    return _PAGE.render(
        lang=lang, title=content["title"], font=F.FONT, plotly_src=plotly_src,
        page=content["page"], nav=[(p, _tr(lang, p)) for p in PAGES],
        blocks=content["blocks"], after=content["after"],
        figures=[{"id": f["id"], "select": f.get("select")} for f in content["figures"]],
        has_map=any(f.get("map") for f in content["figures"]),
        http_note=_tr(lang, "http_note"), boot_js=BOOT_JS,
        data=_json_for_script({"figures": content["figures"]}),
    )


def render_page(session: Session, name: str, filters: Mapping[str, str] | None = None,
                plotly_src: str = PLOTLY_JS) -> str:
    """The HTML of one dashboard page; plotly.js is loaded from ``plotly_src``."""
    return _html(page_content(session, name, filters), plotly_src)


def plotly_js() -> str:
    """The plotly.js bundle shipped with the plotly package (serve it as plotly.min.js)."""
    js: str = get_plotlyjs()
    return js


def _index_html(lang: str, pages: list[str]) -> str:
    links = "".join(f'<li><a href="{p}.html">{html.escape(_tr(lang, p))}</a></li>' for p in pages)
    return (
        f'<!DOCTYPE html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">'
        f"<title>{_tr(lang, 'index')}</title><link rel='icon' href='data:,'></head>"
        f"<body style='font-family:{F.FONT}'>"
        f"<h1>{_tr(lang, 'index')}</h1><ul>{links}</ul>"
        f"<p>{html.escape(_tr(lang, 'http_note'))}</p></body></html>\n"
    )


def write_dashboards(session: Session, out_dir: Path, date: dt.date | None = None,
                     lang: str = "zh") -> list[Path]:
    """Write the static pages, ``plotly.min.js`` (once) and ``index.html`` into ``out_dir``.

    Returns the written paths, index first."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    filters = {"lang": lang} | ({"date": date.isoformat()} if date else {})
    paths = [out_dir / "index.html"]
    js = out_dir / PLOTLY_JS
    js.write_text(plotly_js(), encoding="utf-8")
    for name in PAGES:
        path = out_dir / f"{name}.html"
        path.write_text(render_page(session, name, filters), encoding="utf-8")
        paths.append(path)
        log.info("dashboard page %s", path)
    paths[0].write_text(_index_html(lang, list(PAGES)), encoding="utf-8")
    paths.append(js)
    return paths
