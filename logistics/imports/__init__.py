"""Importing CSV/XLSX/GeoJSON files (contract: formats.md, "Import files").

Public API: :func:`import_paths`, :func:`validate_paths` (the same checks, nothing
written) and :class:`ImportReport`. Problems are raised as
:class:`logistics.domain.ImportRejected` (every :class:`RowError`, rows counted as a
spreadsheet shows them) before anything is written.

Choices made here, within the contract:

* **Kind of a file**: from its name stem, in English (`depots`, `facilities`,
  `communities`, `vehicles`, `points`, `records`, `tickets`, also singular) or
  Chinese (车场/停车场, 设施/处置设施, 社区/小区, 车辆, 点位/收集点, 收运记录/记录,
  磅单/过磅单). The stem may go on after `_`, `-`, `.` or a space:
  `records_2020-01.csv`, `磅单-3月.xlsx`. `--kind` (same names) overrides it for
  every file of the call. Folders expand to their `.csv`, `.xlsx` and `.geojson`
  files (not `~$...` Excel lock files).
* **Order**: depots, facilities, communities, vehicles, points, records, tickets,
  whatever order the files come in; all in the caller's transaction (flush only).
* **Encodings**: UTF-8 (BOM or not), else GB18030 (covers GBK/GB2312); UTF-16,
  NUL bytes, and GB18030 text that lands in the private-use area (what Shift-JIS
  or Big5 files decode to) are rejected with column `encoding`.
* **Cells**: surrounding spaces ignored. Extra columns are ignored; a row with more
  non-empty cells than the header is rejected (column = the spreadsheet letter of
  the first extra cell, e.g. `N (extra)`); empty trailing cells are not cells.
  Times `HH:MM` (also `H:MM`, `HH:MM:00`; `24:00` = end of day); dates
  `YYYY-MM-DD` or `YYYY/MM/DD`; ticket times `YYYY-MM-DD HH:MM[:SS]` (a bare date =
  midnight, as a spreadsheet shows a midnight datetime). Booleans: true/false,
  yes/no, 1/0, 是/否. `crs`: wgs84 (default), gcj02, bd09 (also GCJ-02, BD-09,
  高德, 百度). `days`: `daily`/每天/每日 or ISO weekdays `1;3;5`.
  Numbers must be finite; whole-number columns (households, bins) at most
  2147483647 (the database's INTEGER), every other number at most 1e9 in magnitude
  (`cells.MAX_NUMBER`).
  Tickets: `net_kg`, or `gross_kg` and `tare_kg` (net = gross - tare >= 0; when
  all three are given they must agree within 0.5 kg).
* **Checks**: ids at most 64 characters, names 200; duplicates of a kind's key
  inside one call (across files too); references to the database or the same
  call (vehicle -> depot, point -> community, record -> point and vehicle,
  ticket -> facility); windows and shifts must end after they start.
* **Many errors**: at most 50 lines per (file, column, problem), then one line
  saying how many more rows have it.
* **XLSX checked before parsing** (``reading.check_xlsx``): at most 1 GiB unpacked
  in all, no part over 1 MiB packed more than 100:1, a first sheet declaring at most
  1048576 rows, 1024 columns and 30 million cells; at most 1048576 rows are read.
  A file refused here is one error on row 1, column `(file)`.
* **GeoJSON**: a FeatureCollection of Points; properties are the columns, the
  geometry gives lon/lat; feature i is reported as row i + 1 (as in the CSV export).
* **Records in bulk** (PostgreSQL, CSV): read once into categorical columns, each
  distinct cell checked by the same parsers, month partitions filled by binary COPY
  (``bulk.py``); whatever
  that path cannot vouch for is imported row by row, which gives the errors.
"""

from logistics.imports.schema import KINDS, kind_from_stem, parse_kind
from logistics.imports.service import ImportReport, KindCount, import_paths, validate_paths

__all__ = [
    "KINDS",
    "ImportReport",
    "KindCount",
    "import_paths",
    "kind_from_stem",
    "parse_kind",
    "validate_paths",
]
