"""Reading import files into tables of text cells.

CSV (UTF-8, UTF-8 with BOM, GB18030/GBK), XLSX (first sheet) and GeoJSON (points)
become a :class:`RawTable`: one text column per known column (canonical English
name), empty cells as ``""``, and the spreadsheet row number of every data row
(header = row 1). Problems go to the :class:`ErrorLog`; a file that cannot be read
at all yields ``None``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from logistics.domain import hhmm
from logistics.imports.errors import ErrorLog
from logistics.imports.schema import COLUMNS, header_lookup, normalise_header

log = logging.getLogger(__name__)

FILE_COLUMN = "(file)"


@dataclass
class RawTable:
    file: str
    kind: str
    #: canonical column name -> text cells (stripped; "" = empty); only known columns
    frame: pd.DataFrame
    #: spreadsheet row number of each frame row
    rows: np.ndarray
    #: canonical columns that the header has
    present: set[str] = field(default_factory=set)


# ---------------------------------------------------------------- decoding


_PUA = re.compile("[\ue000-\uf8ff]")


def decode(data: bytes, file: str, errors: ErrorLog) -> str | None:
    """UTF-8 (with or without BOM) first, strictly; then GB18030 (a superset of GBK).

    Anything else (UTF-16, Shift-JIS, binary) is an error naming the row of the
    first byte that does not fit.
    """
    msg = (
        "cannot read the file as UTF-8 or GB18030/GBK, save it as CSV UTF-8 "
        "/ 文件编码无法识别，请另存为 UTF-8 或 GBK 编码的 CSV"
    )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        errors.add(file, 1, "encoding", msg, "UTF-16")
        return None
    nul = data.find(b"\x00")
    if nul >= 0:
        errors.add(file, _row_of(data, nul), "encoding", msg, _guess(data) or "byte 0x00")
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 2]
        errors.add(file, _row_of(data, exc.start), "encoding", msg, _guess(data) or bad.hex(" "))
        return None
    # GB18030 maps almost every byte pair somewhere; text in another double-byte
    # encoding (Shift-JIS, Big5) often lands in the private-use areas, which real
    # GBK spreadsheets do not use.
    m = _PUA.search(text)
    if m is not None:
        row = text.count("\n", 0, m.start()) + 1
        errors.add(file, row, "encoding", msg, _guess(data) or f"U+{ord(m.group()):04X}")
        return None
    return text


def _row_of(data: bytes, pos: int) -> int:
    return data.count(b"\n", 0, pos) + 1


def _guess(data: bytes) -> str | None:
    """charset-normalizer's guess, to tell the user what the file probably is."""
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data[:65536]).best()
    except Exception:  # pragma: no cover - a guess only
        return None
    return f"looks like {best.encoding}" if best is not None else None


# ---------------------------------------------------------------- tables


def _header_map(
    header: list[str], kind: str, file: str, errors: ErrorLog
) -> tuple[dict[int, str], set[str]] | None:
    """Column position -> canonical name for the known columns of the header."""
    lookup = header_lookup(kind)
    positions: dict[int, str] = {}
    seen: dict[str, int] = {}
    ok = True
    for i, cell in enumerate(header):
        name = lookup.get(normalise_header(cell))
        if name is None:
            continue
        if name in seen:
            errors.add(file, 1, name, "column given twice / 列重复", cell)
            ok = False
            continue
        seen[name] = i
        positions[i] = name
    present = set(seen)
    for col in COLUMNS[kind]:
        if col.required and col.name not in present:
            errors.add(file, 1, col.name, "missing column / 缺少必填列", col.name)
            ok = False
    if kind == "tickets" and "net_kg" not in present and not {"gross_kg", "tare_kg"} <= present:
        errors.add(
            file,
            1,
            "net_kg",
            "missing column (net_kg, or gross_kg and tare_kg) / 缺少净重列",
            "net_kg",
        )
        ok = False
    return (positions, present) if ok else None


#: a leading ' before these is the spreadsheet escape of a text cell (our CSV exports
#: write it so that no name runs as a formula): taken off again
_QUOTED_FORMULA = ("'=", "'+", "'-", "'@", "'\t", "'\r")


def cell_text(value: object) -> str:
    """A cell as the importer reads it: surrounding spaces off, and the quote that keeps a
    formula-like text a text (`'=1`) taken off."""
    text = str(value).strip()
    return text[1:] if text.startswith(_QUOTED_FORMULA) else text


def _stripped(col: pd.Series) -> pd.Series:
    """Cells without surrounding spaces (and without the quote that keeps a formula-like
    text a text). Stripped once per distinct text: a column of a million records has a
    few hundred dates or points, so this is ~10x faster than stripping every cell."""
    codes, uniques = pd.factorize(col.astype(str), sort=False)
    stripped = np.asarray([cell_text(u) for u in uniques] + [""], dtype=object)
    return pd.Series(stripped[codes], index=col.index, dtype=object)


def _finish(
    cells: pd.DataFrame, rows: np.ndarray, header: list[str], kind: str, file: str, errors: ErrorLog
) -> RawTable | None:
    """Common tail of every reader: map headers, strip cells, drop blank rows."""
    mapped = _header_map(header, kind, file, errors)
    if mapped is None:
        return None
    positions, present = mapped
    frame = pd.DataFrame(
        {name: _stripped(cells[pos]) for pos, name in positions.items()},
        index=cells.index,
    )
    blank = (
        (frame == "").all(axis=1).to_numpy() if len(frame.columns) else np.ones(len(frame), bool)
    )
    if blank.any():
        frame = frame.loc[~blank].reset_index(drop=True)
        rows = rows[~blank]
    else:
        frame = frame.reset_index(drop=True)
    if len(frame) == 0:
        errors.add(file, 2, FILE_COLUMN, "no data rows / 文件没有数据行", "")
        return None
    for col in COLUMNS[kind]:
        if col.name not in frame.columns:
            frame[col.name] = ""
    return RawTable(file, kind, frame, np.asarray(rows, dtype=np.int64), present)


def read_csv(path: Path, kind: str, file: str, errors: ErrorLog) -> RawTable | None:
    text = decode(path.read_bytes(), file, errors)
    if text is None:
        return None
    try:
        header = next(csv.reader(io.StringIO(text)))
    except StopIteration:
        header = []
    except csv.Error as exc:
        errors.add(file, 1, FILE_COLUMN, "not a readable CSV file / 无法解析的 CSV", str(exc))
        return None
    if not any(h.strip() for h in header):
        errors.add(file, 1, FILE_COLUMN, "empty file: no header row / 空文件：没有表头", "")
        return None
    width = len(header)
    try:
        cells = pd.read_csv(
            io.StringIO(text),
            header=None,
            names=list(range(width)),
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            engine="c",
        )
    except pd.errors.ParserError:
        # some row has more cells than the header: find them all (slow path)
        cells_or_none = _read_ragged(text, width, file, errors)
        if cells_or_none is None:
            return None
        cells = cells_or_none
    except Exception as exc:
        errors.add(file, 1, FILE_COLUMN, "not a readable CSV file / 无法解析的 CSV", str(exc))
        return None
    cells = cells.iloc[1:]
    rows = cells.index.to_numpy() + 1
    return _finish(cells, rows, header, kind, file, errors)


def _read_ragged(text: str, width: int, file: str, errors: ErrorLog) -> pd.DataFrame | None:
    """Rows longer than the header: empty trailing cells are dropped (a spreadsheet
    shows nothing there); a non-empty one is an error."""
    out: list[list[str]] = []
    try:
        for i, rec in enumerate(csv.reader(io.StringIO(text))):
            if len(rec) > width:
                extra = [c for c in rec[width:] if c.strip()]
                if extra:
                    first = width + next(j for j, c in enumerate(rec[width:]) if c.strip())
                    errors.add(
                        file,
                        i + 1,
                        f"{column_letter(first)} (extra)",
                        f"extra cells: {len(rec)} cells but the header has {width} "
                        f"/ 单元格多于表头",
                        ",".join(extra),
                    )
                rec = rec[:width]
            elif len(rec) < width:
                rec = rec + [""] * (width - len(rec))
            out.append(rec)
    except csv.Error as exc:
        errors.add(
            file, len(out) + 1, FILE_COLUMN, "not a readable CSV file / 无法解析的 CSV", str(exc)
        )
        return None
    # rows with extra cells are reported; the rest of each row is still checked
    return pd.DataFrame(out, columns=list(range(width)), dtype=object).fillna("")


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA: the spreadsheet's name of a column."""
    name = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        name = chr(65 + rem) + name
    return name


def _xlsx_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.strftime("%Y-%m-%d")
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.strftime("%H:%M") if value.second == 0 else value.strftime("%H:%M:%S")
    if isinstance(value, dt.timedelta):  # a time cell past 24:00 (e.g. 24:00 itself)
        return hhmm(value.total_seconds() / 60)
    return str(value)


#: an XLSX whose parts declare more than this many bytes unpacked is not read
XLSX_MAX_UNPACKED_BYTES = 1 << 30
#: a part larger than XLSX_RATIO_FROM_BYTES unpacked may be at most this many times its
#: packed size (a sheet of identical rows packs about 16:1; Apache POI refuses 100:1)
XLSX_MAX_RATIO = 100
XLSX_RATIO_FROM_BYTES = 1 << 20
#: the largest sheet read: Excel's own row limit, columns far beyond any import file,
#: and rows x columns (every row is padded to the declared width when read)
XLSX_MAX_ROWS = 1_048_576
XLSX_MAX_COLUMNS = 1024
XLSX_MAX_CELLS = 30_000_000

_XLSX_BAD = "not a readable XLSX file / 无法读取的 XLSX 文件"
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\s+ref=\"([^\"]*)\"")
_CELL = re.compile(r"^\$?([A-Za-z]{1,3})\$?(\d{1,7})$")
_SHEET_TAG = re.compile(rb"<(?:\w+:)?sheet\b[^>]*>")
_RID = re.compile(rb"\b(?:\w+:)?id=\"([^\"]+)\"")
_REL = re.compile(rb"<(?:\w+:)?Relationship\b[^>]*>")
_TARGET = re.compile(rb"\bTarget=\"([^\"]+)\"")
_REL_ID = re.compile(rb"\bId=\"([^\"]+)\"")


def check_xlsx(path: Path) -> str | None:
    """Why an XLSX must not be parsed, or None: read from the zip directory and the
    first few kilobytes of the first sheet, never the whole file.

    Refused: parts declaring more than :data:`XLSX_MAX_UNPACKED_BYTES` in all, a part
    packed more than :data:`XLSX_MAX_RATIO` to 1 (a compression bomb), a first sheet
    declaring (``<dimension>``) more than :data:`XLSX_MAX_ROWS` rows,
    :data:`XLSX_MAX_COLUMNS` columns or :data:`XLSX_MAX_CELLS` cells. Python's zip
    reader never inflates a part past its declared size, so the declared sizes bound
    what the parser can see."""
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            total = sum(i.file_size for i in infos)
            if total > XLSX_MAX_UNPACKED_BYTES:
                return (f"unpacks to {total} bytes, more than {XLSX_MAX_UNPACKED_BYTES} "
                        f"/ 解压后超过 {XLSX_MAX_UNPACKED_BYTES >> 20} MB")
            for i in infos:
                if (i.file_size > XLSX_RATIO_FROM_BYTES
                        and i.file_size > XLSX_MAX_RATIO * max(1, i.compress_size)):
                    return (f"{i.filename} is compressed {i.file_size // max(1, i.compress_size)}"
                            f":1, more than {XLSX_MAX_RATIO}:1 (a compression bomb?) "
                            f"/ 压缩比异常，疑似压缩炸弹")
            sheet = _first_sheet(z)
            if sheet is None:
                return "no worksheet in the workbook / 工作簿中没有工作表"
            with z.open(sheet) as fh:
                head = fh.read(64 * 1024)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, OSError, EOFError,
            NotImplementedError, ValueError) as exc:
        return f"{_XLSX_BAD}: {exc}"
    m = _DIMENSION.search(head)
    if m is None:
        return None
    last = m.group(1).decode("ascii", "replace").split(":")[-1]
    cell = _CELL.match(last)
    if cell is None:
        return f"the sheet declares a dimension that is no cell range ({last}) / 工作表范围无效"
    cols, rows = _column_number(cell.group(1)), int(cell.group(2))
    if rows > XLSX_MAX_ROWS:
        return f"the sheet declares {rows} rows, more than {XLSX_MAX_ROWS} / 工作表行数过多"
    if cols > XLSX_MAX_COLUMNS:
        return (f"the sheet declares {cols} columns, more than {XLSX_MAX_COLUMNS} "
                f"/ 工作表列数过多")
    if rows * cols > XLSX_MAX_CELLS:
        return (f"the sheet declares {rows} rows x {cols} columns, more than "
                f"{XLSX_MAX_CELLS} cells / 工作表单元格过多")
    return None


def _first_sheet(z: zipfile.ZipFile) -> str | None:
    """The zip member of the workbook's first sheet (what openpyxl reads as
    ``worksheets[0]``), from workbook.xml and its relationships."""
    names = set(z.namelist())

    def small(name: str) -> bytes:
        with z.open(name) as fh:
            return fh.read(1 << 20)

    if "xl/workbook.xml" in names and "xl/_rels/workbook.xml.rels" in names:
        tag = _SHEET_TAG.search(small("xl/workbook.xml"))
        rid = _RID.findall(tag.group(0)) if tag else []
        if rid:
            for rel in _REL.findall(small("xl/_rels/workbook.xml.rels")):
                rel_id, target = _REL_ID.search(rel), _TARGET.search(rel)
                if rel_id and target and rel_id.group(1) == rid[-1]:
                    t = target.group(1).decode("utf-8", "replace")
                    member = t.lstrip("/") if t.startswith("/") else f"xl/{t}"
                    if member in names:
                        return member
    sheets = sorted(n for n in names if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n))
    return sheets[0] if sheets else None


def _column_number(letters: str) -> int:
    """A -> 1, Z -> 26, AA -> 27."""
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n


def read_xlsx(path: Path, kind: str, file: str, errors: ErrorLog) -> RawTable | None:
    """The first worksheet; row numbers are the sheet's own. The file is checked first
    (:func:`check_xlsx`), and no more than :data:`XLSX_MAX_ROWS` rows are read."""
    from openpyxl import load_workbook

    refused = check_xlsx(path)
    if refused is not None:
        errors.add(file, 1, FILE_COLUMN, refused, path.name)
        return None
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        errors.add(
            file, 1, FILE_COLUMN, "not a readable XLSX file / 无法读取的 XLSX 文件", str(exc)
        )
        return None
    try:
        ws = wb.worksheets[0]
        it = ws.iter_rows(values_only=True)
        first = next(it, None)
        header = [_xlsx_text(v) for v in first] if first else []
        while header and not header[-1].strip():
            header.pop()
        if not any(h.strip() for h in header):
            errors.add(file, 1, FILE_COLUMN, "empty file: no header row / 空文件：没有表头", "")
            return None
        width = len(header)
        out: list[list[str]] = []
        for i, values in enumerate(it, start=2):
            if i > XLSX_MAX_ROWS:
                errors.add(file, i, FILE_COLUMN,
                           f"more than {XLSX_MAX_ROWS} rows / 工作表行数过多", "")
                return None
            rec = [_xlsx_text(v) for v in values]
            extra = [c for c in rec[width:] if c.strip()]
            if extra:
                first = width + next(j for j, c in enumerate(rec[width:]) if c.strip())
                errors.add(
                    file,
                    i,
                    f"{column_letter(first)} (extra)",
                    f"extra cells: beyond the {width} header columns / 单元格多于表头",
                    ",".join(extra),
                )
            rec = rec[:width] + [""] * max(0, width - len(rec))
            out.append(rec)
    finally:
        wb.close()
    cells = pd.DataFrame(out, columns=list(range(width)), dtype=object)
    rows = np.arange(2, len(out) + 2)
    return _finish(cells, rows, header, kind, file, errors)


def _json_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return ";".join(_json_text(v) for v in value)
    return str(value)


def read_geojson(path: Path, kind: str, file: str, errors: ErrorLog) -> RawTable | None:
    """A FeatureCollection of Point features: properties are the columns, the geometry
    gives lon/lat (in the feature's ``crs`` property, WGS-84 by default as RFC 7946
    says). Feature i (1-based) is reported as row i + 1, as in the CSV export."""
    text = decode(path.read_bytes(), file, errors)
    if text is None:
        return None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        errors.add(file, exc.lineno, FILE_COLUMN, "not valid JSON / 不是有效的 JSON", exc.msg)
        return None
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list):
        errors.add(
            file, 1, FILE_COLUMN, "not a GeoJSON FeatureCollection / 不是 GeoJSON 要素集", ""
        )
        return None
    names: list[str] = []
    records: list[dict[str, str]] = []
    for i, feat in enumerate(features, start=2):
        props = feat.get("properties") if isinstance(feat, dict) else None
        geom = feat.get("geometry") if isinstance(feat, dict) else None
        rec = {str(k): _json_text(v) for k, v in (props or {}).items()}
        coords = geom.get("coordinates") if isinstance(geom, dict) else None
        if (
            not isinstance(geom, dict)
            or geom.get("type") != "Point"
            or not isinstance(coords, list)
            or len(coords) < 2
        ):
            errors.add(file, i, "geometry", "not a Point geometry / 不是点要素", _json_text(geom))
        else:
            rec["lon"], rec["lat"] = _json_text(coords[0]), _json_text(coords[1])
        for k in rec:
            if k not in names:
                names.append(k)
        records.append(rec)
    if not records:
        errors.add(file, 2, FILE_COLUMN, "no data rows / 文件没有数据行", "")
        return None
    cells = pd.DataFrame(
        [[r.get(n, "") for n in names] for r in records],
        columns=list(range(len(names))),
        dtype=object,
    )
    return _finish(cells, np.arange(2, len(records) + 2), names, kind, file, errors)


def read_table(path: Path, kind: str, file: str, errors: ErrorLog) -> RawTable | None:
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return read_xlsx(path, kind, file, errors)
    if suffix == ".geojson":
        return read_geojson(path, kind, file, errors)
    return read_csv(path, kind, file, errors)
