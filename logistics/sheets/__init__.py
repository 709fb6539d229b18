"""Route sheets for drivers and dispatchers: A4 PDF (WeasyPrint), phone pages (HTML),
GPX, GeoJSON and XLSX, all from the plan document of a day."""

from logistics.sheets.render import (
    FORMATS,
    PlanSheets,
    RouteSheet,
    SheetStop,
    build_sheets,
    current_plan_document,
)
from logistics.sheets.write import write_sheets

__all__ = [
    "FORMATS",
    "PlanSheets",
    "RouteSheet",
    "SheetStop",
    "build_sheets",
    "current_plan_document",
    "write_sheets",
]
