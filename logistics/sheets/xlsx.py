"""One workbook per day for offices that live in Excel (openpyxl): a summary sheet,
one sheet per route, and the unassigned collections. Headers in the sheet language.

Names come from the bureau's data, so a name that begins like a formula (``=``, ``+``,
``-``, ``@``, tab, CR) is written as a text cell with Excel's quote prefix: it shows as
written and never runs. Numbers stay numbers."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from logistics.reporting.exports import FORMULA_START
from logistics.sheets.i18n import Messages
from logistics.sheets.render import PlanSheets, RouteSheet, SheetStop

_HEAD_FILL = PatternFill("solid", fgColor="DDDDDD")
_UNLOAD_FILL = PatternFill("solid", fgColor="D9D9D9")
_BREAK_FILL = PatternFill("solid", fgColor="F3F3F3")
_THIN = Side(style="thin", color="999999")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_BAD_TITLE = re.compile(r"[\[\]:*?/\\]")


def _time(value: dt.datetime | None) -> dt.time | None:
    """Local wall-clock time (Excel has no offsets)."""
    return value.time().replace(tzinfo=None) if value is not None else None


def _title(text: str, used: set[str]) -> str:
    base = _BAD_TITLE.sub("_", text)[:31]
    title, n = base, 2
    while title in used:
        suffix = f"~{n}"
        title, n = base[: 31 - len(suffix)] + suffix, n + 1
    used.add(title)
    return title


def _header(ws: Worksheet, names: list[str], widths: list[int]) -> None:
    ws.append(names)
    for col, width in enumerate(widths, 1):
        cell = ws.cell(row=1, column=col)
        cell.font = Font(bold=True)
        cell.fill = _HEAD_FILL
        cell.border = _BORDER
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        ws.column_dimensions[get_column_letter(col)].width = width
    ws.freeze_panes = "A2"


def _summary(ws: Worksheet, plan: PlanSheets, msg: Messages) -> None:
    cols = [
        (msg("route"), 6),
        (msg("vehicle"), 10),
        (msg("plate"), 12),
        (msg("depot"), 18),
        (msg("shift"), 12),
        (msg("streams"), 16),
        (msg("stops"), 8),
        (f"{msg('distance')} ({msg('km')})", 10),
        (msg("expected_kg"), 10),
        (msg("trips"), 6),
        (f"{msg('duration')} ({msg('hours')})", 10),
    ]
    _header(ws, [c[0] for c in cols], [c[1] for c in cols])
    for r in plan.routes:
        ws.append(
            [
                r.index,
                r.vehicle_id,
                r.plate,
                r.depot_name,
                r.shift,
                "、".join(s.name for s in r.streams),
                r.n_collect,
                round(r.distance_km, 1),
                round(r.kg_total, 1),
                r.trips,
                round(r.duration_min / 60, 2),
            ]
        )
    total_row = ws.max_row + 2
    ws.cell(row=total_row, column=1, value=msg("totals")).font = Font(bold=True)
    ws.cell(row=total_row, column=7, value=sum(r.n_collect for r in plan.routes))
    ws.cell(row=total_row, column=8, value=round(sum(r.distance_km for r in plan.routes), 1))
    ws.cell(row=total_row, column=9, value=round(sum(r.kg_total for r in plan.routes), 1))
    ws.cell(row=total_row, column=10, value=sum(r.trips for r in plan.routes))
    info = total_row + 2
    ws.cell(row=info, column=1, value=msg("plan"))
    ws.cell(row=info, column=2, value=plan.plan_id)
    ws.cell(row=info + 1, column=1, value=msg("date"))
    ws.cell(row=info + 1, column=2, value=plan.date)
    ws.cell(row=info + 1, column=2).number_format = "yyyy-mm-dd"


def _stop_row(stop: SheetStop, msg: Messages, per_stream: list[str]) -> list[Any]:
    """One row; `per_stream` adds the load of each compartment after the columns below."""
    extra = [stop.load_kg.get(key) if stop.load_kg else None for key in per_stream]
    return [
        stop.seq,
        msg.stop_kind(stop.kind),
        stop.ref_id,
        stop.name,
        stop.community or None,
        stop.town or None,
        stop.category.name
        if stop.category
        else ("、".join(a.name for a in stop.accepts) if stop.accepts else None),
        stop.bins,
        stop.kg,
        stop.window or None,
        _time(stop.arrival),
        _time(stop.departure),
        stop.load_total_kg,
        None,  # done (tick)
        None,  # actual kg
        None,  # ticket no. (unload)
        stop.lon,
        stop.lat,
        *extra,
    ]


def _route_sheet(ws: Worksheet, route: RouteSheet, msg: Messages) -> None:
    cols = [
        (msg("seq"), 6),
        (msg("kind"), 6),
        (msg("id"), 10),
        (msg("name"), 24),
        (msg("community"), 14),
        (msg("town"), 10),
        (msg("category"), 10),
        (msg("bins"), 6),
        (msg("expected_kg"), 9),
        (msg("time_window"), 12),
        (msg("arrival"), 9),
        (msg("departure"), 9),
        (f"{msg('load_kg')} ({msg('kg')})", 10),
        (msg("done"), 6),
        (msg("actual_kg"), 9),
        (msg("ticket_no"), 12),
        (msg("lon"), 11),
        (msg("lat"), 11),
    ]
    # a truck with several compartments: the load of each, as capacity is per compartment
    per_stream = [st.key for st in route.streams] if len(route.streams) > 1 else []
    cols += [(f"{msg('load_kg')} {st.name}", 12) for st in route.streams if st.key in per_stream]
    _header(ws, [c[0] for c in cols], [c[1] for c in cols])
    for stop in route.stops:
        ws.append(_stop_row(stop, msg, per_stream))
        row = ws.max_row
        for col in range(1, len(cols) + 1):
            cell = ws.cell(row=row, column=col)
            cell.border = _BORDER
            if stop.kind == "unload":
                cell.fill = _UNLOAD_FILL
                cell.font = Font(bold=True)
            elif stop.kind == "break":
                cell.fill = _BREAK_FILL
        for col in (11, 12):
            ws.cell(row=row, column=col).number_format = "hh:mm"
        if stop.category is not None:
            cat = ws.cell(row=row, column=7)
            cat.fill = PatternFill("solid", fgColor=stop.category.colour.lstrip("#").upper())
            cat.font = Font(color="FFFFFF", bold=True)
    ws.append([])
    ws.append(
        [
            msg("totals"),
            None,
            None,
            f"{route.n_collect} {msg('stops')}",
            None,
            None,
            None,
            None,
            route.kg_total,
            None,
            None,
            None,
            None,
            None,
            None,
            f"{route.trips} {msg('trips')}",
        ]
    )
    ws.append([msg("distance"), None, None, f"{route.distance_km:.1f} {msg('km')}"])
    ws.print_title_rows = "1:1"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


def _unassigned(ws: Worksheet, plan: PlanSheets, msg: Messages) -> None:
    cols = [
        (msg("id"), 10),
        (msg("name"), 24),
        (msg("community"), 14),
        (msg("category"), 10),
        (msg("expected_kg"), 9),
        (msg("reason"), 26),
    ]
    _header(ws, [c[0] for c in cols], [c[1] for c in cols])
    for u in plan.unassigned:
        ws.append([u.point_id, u.name, u.community or None, u.category.name, u.kg, u.reason])


def _text_not_formula(wb: Workbook) -> None:
    """Every text cell that a spreadsheet would read as a formula becomes plain text."""
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and cell.value.startswith(FORMULA_START):
                    cell.data_type = "s"  # openpyxl takes "=..." for a formula
                    cell.quotePrefix = True  # and Excel keeps it text when edited


def route_workbook(plan: PlanSheets) -> Workbook:
    msg = Messages(plan.lang)
    wb = Workbook()
    used: set[str] = set()
    summary = wb.active
    assert summary is not None
    summary.title = _title(msg("summary_sheet"), used)
    _summary(summary, plan, msg)
    for route in plan.routes:
        _route_sheet(
            wb.create_sheet(_title(f"{route.index:02d} {route.vehicle_id}", used)), route, msg
        )
    if plan.unassigned:
        _unassigned(wb.create_sheet(_title(msg("unassigned_sheet"), used)), plan, msg)
    _text_not_formula(wb)
    return wb


def write_xlsx(plan: PlanSheets, out_dir: Path) -> list[Path]:
    path = out_dir / f"{plan.stem}.xlsx"
    route_workbook(plan).save(path)
    return [path]
