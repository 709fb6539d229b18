"""Exporting points and facilities as CSV or GeoJSON, in the import format.

Both formats re-import unchanged (``import_paths``): English headers, coordinates
in WGS-84 with ``crs`` = ``wgs84``, days as ``daily`` or ``1;3;5``, times ``HH:MM``
(``24:00`` = end of day), lists joined with ``;``. Floats are written in Python's
shortest round-trip form, so a re-import gives the very same numbers.

CSV files are UTF-8 with a BOM, so that Excel opens the Chinese names correctly. A text
cell that begins like a formula (``=``, ``+``, ``-``, ``@``, tab, CR) gets a leading ``'``
(the OWASP rule against CSV injection), which the importer takes off again; numbers are
written as they are.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from logistics.domain import hhmm
from logistics.imports.cells import format_days_mask
from logistics.imports.schema import column_names
from logistics.persistence import repositories as repo
from logistics.persistence.db import Session
from logistics.persistence.models import Facility, Point

ExportKind = Literal["points", "facilities"]

EXPORT_KINDS: tuple[ExportKind, ...] = ("points", "facilities")
#: the import file's columns, in its order: an export re-imports unchanged
POINT_COLUMNS = column_names("points")
FACILITY_COLUMNS = column_names("facilities")

CRS_NOTE = "coordinates are WGS-84 (EPSG:4326, lon/lat) / 坐标为 WGS-84"
#: first characters that make a spreadsheet read a cell as a formula
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _num(v: float | int | None) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(v) if isinstance(v, float) else str(v)


def point_row(p: Point) -> dict[str, Any]:
    """One point as typed export values (None = empty cell)."""
    return {
        "point_id": p.point_id,
        "name": p.name,
        "community_id": p.community_id,
        "lon": p.lon,
        "lat": p.lat,
        "crs": "wgs84",
        "category": p.category,
        "kg_per_visit": p.kg_per_visit,
        "days": format_days_mask(p.days_mask),
        "tw_start": hhmm(p.tw_start_min),
        "tw_end": hhmm(p.tw_end_min),
        "service_min": p.service_min,
        "bins": p.bins,
    }


def facility_row(f: Facility) -> dict[str, Any]:
    return {
        "facility_id": f.facility_id,
        "name": f.name,
        "kind": f.kind,
        "accepts": ";".join(f.accepts),
        "lon": f.lon,
        "lat": f.lat,
        "crs": "wgs84",
        "open": hhmm(f.open_min),
        "close": hhmm(f.close_min),
        "unload_min": f.unload_min,
        "daily_capacity_kg": f.daily_capacity_kg,
        "harmless": bool(f.harmless),
    }


def rows(session: Session, kind: ExportKind) -> tuple[tuple[str, ...], list[dict[str, Any]]]:
    """Column names and typed rows of a kind, ordered by id."""
    if kind == "points":
        return POINT_COLUMNS, [point_row(p) for p in repo.all_points(session)]
    if kind == "facilities":
        return FACILITY_COLUMNS, [facility_row(f) for f in repo.all_facilities(session)]
    raise ValueError(f"cannot export {kind!r}: points or facilities")


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return _num(v)
    return spreadsheet_text(str(v))


def spreadsheet_text(text: str) -> str:
    """Text for a CSV cell that a spreadsheet shows as written, never runs as a formula."""
    return "'" + text if text.startswith(FORMULA_START) else text


def export_csv(session: Session, kind: ExportKind, path: Path) -> int:
    """Write ``kind`` as CSV (UTF-8 with BOM); returns the number of rows."""
    cols, data = rows(session, kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for r in data:
            w.writerow([_cell(r[c]) for c in cols])
    return len(data)


def export_geojson(session: Session, kind: ExportKind, path: Path) -> int:
    """Write ``kind`` as a GeoJSON FeatureCollection of Points (WGS-84, as RFC 7946
    requires; said again in a top-level ``crs`` member and a note). Properties are
    the CSV columns."""
    cols, data = rows(session, kind)
    features = [
        {
            "type": "Feature",
            "id": r[cols[0]],
            "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]},
            "properties": {c: r[c] for c in cols},
        }
        for r in data
    ]
    doc = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
        "crs_note": CRS_NOTE,
        "kind": kind,
        "features": features,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return len(data)


EXPORTERS: dict[str, Callable[[Session, ExportKind, Path], int]] = {
    ".csv": export_csv,
    ".geojson": export_geojson,
}
EXPORT_SUFFIXES = tuple(EXPORTERS)


def export_path(session: Session, kind: ExportKind, path: Path) -> int:
    """Export by file suffix: ``.csv`` or ``.geojson``."""
    fn = EXPORTERS.get(path.suffix.lower())
    if fn is None:
        raise ValueError(f"cannot export to {path.name}: use .csv or .geojson")
    return fn(session, kind, path)
