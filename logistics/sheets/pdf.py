"""PDF route sheets: Jinja2 HTML + CSS rendered by WeasyPrint (A4, CJK font embedded)."""

from __future__ import annotations

import logging
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

import segno
from weasyprint import HTML

from logistics.sheets.i18n import Messages
from logistics.sheets.map_svg import LEGEND_DEPOT, LEGEND_UNLOAD, route_map_svg
from logistics.sheets.render import (
    PlanSheets,
    RouteSheet,
    phone_url,
    static_text,
    template_env,
)

log = logging.getLogger(__name__)

#: the font family the sheets ask for (Debian package fonts-noto-cjk)
CJK_FAMILY = "Noto Sans CJK SC"


@lru_cache(maxsize=1)
def cjk_font_installed() -> bool:
    """Whether fontconfig knows a font for Simplified Chinese; warns once if not."""
    if shutil.which("fc-list") is None:
        return True  # cannot tell; WeasyPrint will use what fontconfig has
    found = subprocess.run(
        ["fc-list", ":lang=zh-cn", "family"], capture_output=True, text=True, check=False
    ).stdout
    if CJK_FAMILY not in found:
        log.warning(
            "font %r not found: Chinese text may not render; install the Debian package "
            "fonts-noto-cjk",
            CJK_FAMILY,
        )
        return False
    return True


def css_string(text: str) -> str:
    """A CSS string literal, safe inside a <style> element."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
    return '"' + escaped.replace("<", "\\3c ").replace(">", "\\3e ") + '"'


def page_counter_content(msg: Messages) -> str:
    """CSS `content` for '第 N 页 / 共 M 页' (or 'Page N of M')."""
    pattern = msg("page_of", n="\x00n\x00", m="\x00m\x00")
    parts: list[str] = []
    for piece in pattern.split("\x00"):
        if piece == "n":
            parts.append("counter(page)")
        elif piece == "m":
            parts.append("counter(pages)")
        elif piece:
            parts.append(css_string(piece))
    return " ".join(parts)


def qr_svg(url: str) -> str:
    """A regular (not micro) QR code as inline SVG; error correction M survives creases."""
    qr = segno.make_qr(url, error="m")
    return str(qr.svg_inline(scale=4, border=2, dark="#000000"))


def _footer(msg: Messages, left: str, right: str) -> dict[str, str]:
    return {
        "page_content": page_counter_content(msg),
        "footer_left": css_string(left),
        "footer_right": css_string(right),
    }


def route_html(route: RouteSheet, msg: Messages, base_url: str | None = None) -> str:
    env = template_env(msg)
    url = phone_url(route, base_url)
    context: dict[str, Any] = {
        "route": route,
        "css": static_text("sheet.css"),
        "map_svg": route_map_svg(route, width=1000, height=333),
        "qr_svg": qr_svg(url),
        "url": url,
        "legend_depot": LEGEND_DEPOT,
        "legend_unload": LEGEND_UNLOAD,
        **_footer(
            msg,
            f"{msg('route')} {route.index:02d} · {route.vehicle_id} · {route.date.isoformat()}",
            route.plan_id,
        ),
    }
    return env.get_template("sheet.html.j2").render(context)


def summary_html(plan: PlanSheets, msg: Messages) -> str:
    env = template_env(msg)
    return env.get_template("summary.html.j2").render(
        plan=plan,
        css=static_text("sheet.css"),
        **_footer(msg, f"{msg('plan_summary')} · {plan.date.isoformat()}", plan.plan_id),
    )


def write_pdf(plan: PlanSheets, out_dir: Path, base_url: str | None = None) -> list[Path]:
    """One PDF per route, then `routes-DATE.pdf`: the summary page and every route, each
    route keeping its own page numbers."""
    cjk_font_installed()
    msg = Messages(plan.lang)
    written: list[Path] = []
    documents = [HTML(string=summary_html(plan, msg)).render()]
    for route in plan.routes:
        doc = HTML(string=route_html(route, msg, base_url)).render()
        path = out_dir / f"{route.stem}.pdf"
        doc.write_pdf(path)
        log.info("wrote %s (%d pages)", path, len(doc.pages))
        written.append(path)
        documents.append(doc)
    combined = out_dir / f"{plan.stem}.pdf"
    pages = [page for doc in documents for page in doc.pages]
    documents[0].copy(pages).write_pdf(combined)
    written.append(combined)
    return written
