"""The entry point of route sheets: the plan of a day -> its view -> files of one format."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from logistics.domain import BadInput
from logistics.persistence.db import Session
from logistics.planning.document import Plan
from logistics.sheets.geojson import write_geojson
from logistics.sheets.gpx import write_gpx
from logistics.sheets.html import write_html
from logistics.sheets.i18n import Messages
from logistics.sheets.pdf import write_pdf
from logistics.sheets.render import FORMATS, build_sheets, current_plan_document, parse_date
from logistics.sheets.xlsx import write_xlsx


def write_sheets(
    session: Session,
    date: dt.date | str,
    fmt: str,
    out_dir: Path | str,
    lang: str = "zh",
    vehicle: str | None = None,
    base_url: str | None = None,
    document: Plan | dict[str, Any] | None = None,
) -> list[Path]:
    """Write the route sheets of the current plan of `date` in one format under `out_dir`.

    pdf: one A4 PDF per route plus `routes-DATE.pdf` (summary page + every route);
    html: one self-contained phone page per route plus `routes-DATE.html` (index);
    gpx / geojson: one file per route; xlsx: one workbook `routes-DATE.xlsx`.
    `document` renders that plan (typed, or its JSON) instead of the stored one.
    Raises NotFound when the date has no plan, BadInput for an unknown format or language.
    Returns the paths written, routes first.
    """
    if fmt not in FORMATS:
        raise BadInput(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    Messages(lang)  # validates the language before any work
    day = parse_date(date)
    if document is None:
        plan = current_plan_document(session, day)
    else:
        plan = document if isinstance(document, Plan) else Plan.from_json(document)
    sheets = build_sheets(session, plan, lang=lang, vehicle=vehicle)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "pdf":
        return write_pdf(sheets, out, base_url=base_url)
    if fmt == "html":
        return write_html(sheets, out)
    if fmt == "gpx":
        return write_gpx(sheets, out)
    if fmt == "geojson":
        return write_geojson(sheets, out)
    return write_xlsx(sheets, out)


__all__ = ["write_sheets"]
