"""The demo county's files, written as a bureau would export them (formats.md).

Chinese headers (from :data:`logistics.imports.schema.COLUMNS`), GB18030 CSVs with
Windows line ends, the fleet as XLSX, some coordinates in GCJ-02 (``坐标系 = gcj02``).
The same county gives the same bytes: the XLSX package carries a fixed time stamp.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook

from logistics.coords import wgs84_to_gcj02
from logistics.demo.generate import DemoCounty
from logistics.domain import CATEGORY_BY_KEY, FACILITY_KINDS
from logistics.imports.schema import chinese_headers

CSV_ENCODING = "gb18030"
#: what a bureau's Windows export writes
CSV_LINE_END = "\r\n"
#: fixed time stamp written into the XLSX package, so that files are byte-identical per seed
XLSX_TIMESTAMP = (2020, 12, 31, 18, 0, 0)

#: file name (in DIR/data/) per import kind, in dependency order
FILE_NAMES: dict[str, str] = {
    "depots": "depots.csv",
    "facilities": "facilities.csv",
    "vehicles": "vehicles.xlsx",
    "communities": "communities.csv",
    "points": "points.csv",
    "records": "records.csv",
    "tickets": "tickets.csv",
}


def _cat_zh(keys: pd.Series) -> pd.Series:
    return keys.map(lambda k: CATEGORY_BY_KEY[k].name_zh)


def _coords(df: pd.DataFrame, gcj02: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Longitude, latitude and crs cells: GCJ-02 where the row says so (picked on AMap),
    WGS-84 (empty crs cell = the default) elsewhere."""
    lon = df["_lon"].to_numpy(dtype=float)
    lat = df["_lat"].to_numpy(dtype=float)
    glon, glat = wgs84_to_gcj02(lon, lat)
    g = gcj02.to_numpy(dtype=bool)
    lon = np.where(g, glon, lon)
    lat = np.where(g, glat, lat)
    fmt = np.vectorize("{:.6f}".format, otypes=[object])
    crs = np.where(g, "gcj02", "")
    return (
        pd.Series(fmt(lon), index=df.index),
        pd.Series(fmt(lat), index=df.index),
        pd.Series(crs, index=df.index),
    )


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    df.to_csv(path, index=False, encoding=CSV_ENCODING, lineterminator=CSV_LINE_END)


def _write_xlsx(df: pd.DataFrame, path: Path, sheet: str) -> None:
    """XLSX with fixed package time stamps (openpyxl stamps `now` into the file and its
    zip entries), so the same seed gives the same bytes."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet)
    ws.append(list(df.columns))
    for row in df.itertuples(index=False):
        ws.append([None if (isinstance(v, float) and np.isnan(v)) else v for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    stamp = dt.datetime(*XLSX_TIMESTAMP).strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    with zipfile.ZipFile(buf) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(
                    rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)",
                    rb"\g<1>" + stamp + rb"\g<2>",
                    data,
                )
            zi = zipfile.ZipInfo(info.filename, date_time=XLSX_TIMESTAMP)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            zout.writestr(zi, data)


def _bureau_table(kind: str, cells: dict[str, pd.Series]) -> pd.DataFrame:
    """Cells by English column name -> a table with the kind's Chinese headers, in the
    schema's column order."""
    headers = chinese_headers(kind, cells)
    return pd.DataFrame({zh: cells[name] for name, zh in headers.items()})


def export_tables(county: DemoCounty) -> dict[str, pd.DataFrame]:
    """The import files as tables with the Chinese headers of docs formats.md."""
    dep = county.depots
    lon, lat, _ = _coords(dep, pd.Series(False, index=dep.index))
    depots = {"depot_id": dep["depot_id"], "name": dep["name"], "lon": lon, "lat": lat}

    fac = county.facilities
    lon, lat, crs = _coords(fac, fac["_gcj02"])
    facilities = {
        "facility_id": fac["facility_id"],
        "name": fac["name"],
        "kind": fac["kind"].map(FACILITY_KINDS),
        "accepts": fac["accepts"].map(lambda a: "；".join(CATEGORY_BY_KEY[k].name_zh for k in a)),
        "lon": lon,
        "lat": lat,
        "crs": crs,
        "open": fac["open"],
        "close": fac["close"],
        "unload_min": fac["unload_min"],
        "daily_capacity_kg": fac["daily_capacity_kg"],
        "harmless": fac["harmless"].map({True: "是", False: "否"}),
    }

    veh = county.vehicles
    vehicles = {
        name: veh[name]
        for name in (
            "vehicle_id", "plate", "depot_id", "compartments", "shift_start", "shift_end",
            "break_min", "break_earliest", "break_latest",
        )
    }

    com = county.communities
    communities = {
        "community_id": com["community_id"],
        "name": com["name"],
        "town": com["town"],
        "households": com["households"],
        "sorting_since": com["sorting_since"].map(
            lambda d: d.isoformat() if isinstance(d, dt.date) else ""
        ),
    }

    pts = county.points
    lon, lat, crs = _coords(pts, pts["_gcj02"])
    points = {
        "point_id": pts["point_id"],
        "name": pts["name"],
        "community_id": pts["community_id"],
        "lon": lon,
        "lat": lat,
        "crs": crs,
        "category": _cat_zh(pts["category"]),
        "kg_per_visit": pts["kg_per_visit"],
        "days": pts["days"],
        "tw_start": pts["tw_start"],
        "tw_end": pts["tw_end"],
        "service_min": pts["service_min"],
        "bins": pts["bins"],
    }

    rec = county.records
    records = {
        "date": rec["date"].dt.strftime("%Y-%m-%d"),
        "point_id": rec["point_id"],
        "kg": rec["kg"],
        "vehicle_id": rec["vehicle_id"],
    }

    tic = county.tickets
    tickets = {
        "ticket_no": tic["ticket_no"],
        "facility_id": tic["facility_id"],
        "time": tic["time"].dt.strftime("%Y-%m-%d %H:%M:%S"),
        "category": _cat_zh(tic["category"]),
        "net_kg": tic["net_kg"],
        "gross_kg": tic["gross_kg"],
        "tare_kg": tic["tare_kg"],
        "vehicle_id": tic["vehicle_id"],
        "source_facility_id": tic["source_facility_id"],
    }
    cells = {
        "depots": depots,
        "facilities": facilities,
        "vehicles": vehicles,
        "communities": communities,
        "points": points,
        "records": records,
        "tickets": tickets,
    }
    return {kind: _bureau_table(kind, c) for kind, c in cells.items()}


def write_files(county: DemoCounty, data_dir: Path) -> dict[str, Path]:
    """Write the import files into `data_dir` (created); returns kind -> path, in
    dependency order."""
    data_dir.mkdir(parents=True, exist_ok=True)
    tables = export_tables(county)
    files: dict[str, Path] = {}
    for kind, name in FILE_NAMES.items():
        path = data_dir / name
        if path.suffix == ".xlsx":
            _write_xlsx(tables[kind], path, sheet="车辆")
        else:
            _write_csv(tables[kind], path)
        files[kind] = path
    return files

