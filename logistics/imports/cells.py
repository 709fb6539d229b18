"""Vectorised cell parsers. Each takes a column of stripped text cells and returns the
parsed values plus, per row, an error message (None where the cell is fine).

Numbers go through ``pandas.to_numeric``; everything else is parsed once per distinct
cell text (``pandas.factorize``), so a year of records with 365 distinct dates costs
365 parses, not a million.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from logistics.domain import parse_category, parse_facility_kind
from logistics.persistence.models import ALL_DAYS_MASK

Messages = np.ndarray  # object array: str message or None per row

NOT_A_NUMBER = "not a number / 不是数字"
REQUIRED = "required / 必填"

#: the largest whole number a cell may hold: the database's 32-bit INTEGER columns
MAX_INTEGER = 2**31 - 1
#: the largest magnitude of any other number (kg, minutes, costs): far above any real
#: value of a county, far below what the planner's 64-bit integer arithmetic holds
MAX_NUMBER = 1e9


def map_unique(
    s: pd.Series, fn: Callable[[str], Any], empty: Any = None
) -> tuple[np.ndarray, Messages]:
    """Apply ``fn`` once per distinct non-empty text. ``fn`` returns the value or raises
    ValueError(message). Empty cells give ``empty`` and no message."""
    codes, uniques = pd.factorize(s, sort=False)
    vals: list[Any] = []
    msgs: list[str | None] = []
    for u in uniques:
        text = str(u)
        if text == "":
            vals.append(empty)
            msgs.append(None)
            continue
        try:
            vals.append(fn(text))
            msgs.append(None)
        except ValueError as exc:
            vals.append(empty)
            msgs.append(str(exc))
    v = np.empty(len(vals), dtype=object)
    v[:] = vals
    m = np.empty(len(msgs), dtype=object)
    m[:] = msgs
    return v[codes], m[codes]


def _msg_where(mask: np.ndarray, message: str) -> Messages:
    out = np.full(len(mask), None, dtype=object)
    out[mask] = message
    return out


def required(s: pd.Series) -> Messages:
    return _msg_where((s == "").to_numpy(dtype=bool), REQUIRED)


def merge(*parts: Messages) -> Messages:
    """First message per row."""
    out = np.asarray(parts[0], dtype=object).copy()
    for p in parts[1:]:
        take = pd.isna(out) & ~pd.isna(np.asarray(p, dtype=object))
        out[take] = np.asarray(p, dtype=object)[take]
    return out


def number(
    s: pd.Series,
    *,
    min_value: float | None = None,
    max_value: float | None = None,
    strict_min: bool = False,
    integer: bool = False,
) -> tuple[np.ndarray, Messages]:
    """Floats (NaN where empty or bad) and messages; ranges are inclusive unless strict.

    Without a ``max_value`` a number is bounded by :data:`MAX_INTEGER` (``integer``) or
    :data:`MAX_NUMBER`, and without a ``min_value`` by their negatives, so every number
    that passes fits its database column."""
    bound = MAX_INTEGER if integer else MAX_NUMBER
    if max_value is None:
        max_value = bound
    if min_value is None:
        min_value = -bound
    v = pd.to_numeric(s.where(s != "", None), errors="coerce").to_numpy(dtype=float)
    nonempty = (s != "").to_numpy()
    msgs = np.full(len(s), None, dtype=object)
    bad = nonempty & ~np.isfinite(v)
    msgs[bad] = NOT_A_NUMBER
    ok = nonempty & ~bad
    if integer:
        frac = ok & (np.floor(np.where(ok, v, 0)) != np.where(ok, v, 0))
        msgs[frac] = "not a whole number / 不是整数"
        ok &= ~frac
    if min_value is not None:
        low = ok & ((v <= min_value) if strict_min else (v < min_value))
        sign = ">" if strict_min else ">="
        msgs[low] = (
            f"must be {sign} {_shown(min_value)} / 必须{'大于' if strict_min else '不小于'} "
            f"{_shown(min_value)}"
        )
    if max_value is not None:
        high = ok & (v > max_value)
        msgs[high] = f"must be <= {_shown(max_value)} / 不能大于 {_shown(max_value)}"
    v = np.where(pd.isna(msgs), v, np.nan)
    return v, msgs


def _shown(x: float) -> str:
    """A bound as a message shows it: whole numbers in full (2147483647, not 2.1e+09)."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


_TIME = re.compile(r"^(\d{1,2})[:：](\d{2})(?:[:：](\d{2}))?$")


def parse_time_min(text: str) -> int:
    """HH:MM (also H:MM, and HH:MM:00) -> minutes after midnight; 24:00 = end of day."""
    m = _TIME.match(text)
    if not m:
        raise ValueError("not a time HH:MM / 不是时间 HH:MM")
    h, mi, sec = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    if mi > 59 or sec > 0 or h > 24 or (h == 24 and mi):
        raise ValueError("not a time of day HH:MM, 00:00 to 24:00 / 时间应在 00:00-24:00")
    return h * 60 + mi


def time_min(s: pd.Series) -> tuple[np.ndarray, Messages]:
    return map_unique(s, parse_time_min)


_DATE = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$")
_DATETIME = re.compile(
    r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?$"
)


def parse_date_iso(text: str) -> str:
    """YYYY-MM-DD or YYYY/MM/DD -> 'YYYY-MM-DD'."""
    m = _DATE.match(text)
    if not m:
        raise ValueError("not a date YYYY-MM-DD / 不是日期 YYYY-MM-DD")
    try:
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
    except ValueError:
        raise ValueError("no such date / 日期不存在") from None


def date_iso(s: pd.Series) -> tuple[np.ndarray, Messages]:
    return map_unique(s, parse_date_iso)


def parse_datetime_iso(text: str) -> str:
    """'YYYY-MM-DD HH:MM[:SS]' (also with / and a T) -> 'YYYY-MM-DD HH:MM:SS'; a bare
    date means midnight (what a spreadsheet shows for a midnight datetime cell)."""
    m = _DATETIME.match(text)
    if not m:
        raise ValueError("not a date and time YYYY-MM-DD HH:MM / 不是日期时间")
    y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    h, mi, sec = int(m.group(4) or 0), int(m.group(5) or 0), int(m.group(6) or 0)
    try:
        return dt.datetime(y, mo, d, h, mi, sec).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise ValueError("no such date or time / 日期或时间不存在") from None


def datetime_iso(s: pd.Series) -> tuple[np.ndarray, Messages]:
    return map_unique(s, parse_datetime_iso)


def _category(text: str) -> str:
    key = parse_category(text)
    if key is None:
        raise ValueError("unknown category / 未知类别")
    return key


def category(s: pd.Series) -> tuple[np.ndarray, Messages]:
    return map_unique(s, _category)


def split_list(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"[;；]", text) if p.strip()]


def _categories(text: str) -> list[str]:
    out: list[str] = []
    for part in split_list(text):
        key = parse_category(part)
        if key is None:
            raise ValueError(f"unknown category '{part}' / 未知类别")
        if key not in out:
            out.append(key)
    if not out:
        raise ValueError(REQUIRED)
    return out


def category_list(s: pd.Series) -> tuple[np.ndarray, Messages]:
    return map_unique(s, _categories)


def _facility_kind(text: str) -> str:
    key = parse_facility_kind(text)
    if key is None:
        raise ValueError("unknown facility kind / 未知设施类型")
    return key


def facility_kind(s: pd.Series) -> tuple[np.ndarray, Messages]:
    return map_unique(s, _facility_kind)


_TRUE = {"true", "t", "yes", "y", "1", "是", "对", "有"}
_FALSE = {"false", "f", "no", "n", "0", "否", "不", "无"}


def _bool(text: str) -> bool:
    t = text.strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    raise ValueError("not true/false / 不是 是/否")


def boolean(s: pd.Series) -> tuple[np.ndarray, Messages]:
    return map_unique(s, _bool)


_DAILY = {"daily", "每天", "每日", "1-7", "*"}


def parse_days_mask(text: str) -> int:
    """'daily' / 每天, or ISO weekday numbers '1;3;5' (Monday = 1) -> bit mask."""
    if text.strip().lower() in _DAILY:
        return ALL_DAYS_MASK
    mask = 0
    parts = split_list(text)
    for part in parts:
        if not re.fullmatch(r"[1-7]", part):
            raise ValueError("not 'daily' or weekdays 1-7 like 1;3;5 / 收运日应为 daily 或 1;3;5")
        mask |= 1 << (int(part) - 1)
    if mask == 0:
        raise ValueError(REQUIRED)
    return mask


def days_mask(s: pd.Series) -> tuple[np.ndarray, Messages]:
    return map_unique(s, parse_days_mask)


def format_days_mask(mask: int) -> str:
    if mask & ALL_DAYS_MASK == ALL_DAYS_MASK:
        return "daily"
    return ";".join(str(i + 1) for i in range(7) if mask >> i & 1)


def parse_compartments(text: str) -> list[tuple[str, float]]:
    """'kitchen:5000' or 'recyclable:2000;hazardous:300' -> [(category, capacity_kg)]."""
    out: list[tuple[str, float]] = []
    for part in split_list(text):
        bits = re.split(r"[:：]", part)
        if len(bits) != 2 or not bits[0].strip() or not bits[1].strip():
            raise ValueError(f"'{part}' is not category:capacity_kg / 车厢格式应为 类别:容量公斤")
        key = parse_category(bits[0])
        if key is None:
            raise ValueError(f"unknown category '{bits[0].strip()}' / 未知类别")
        try:
            cap = float(bits[1].strip())
        except ValueError:
            raise ValueError(f"capacity '{bits[1].strip()}' {NOT_A_NUMBER}") from None
        if not math.isfinite(cap) or cap <= 0:
            raise ValueError(f"capacity '{bits[1].strip()}' must be > 0 / 容量必须大于 0")
        if cap > MAX_NUMBER:
            raise ValueError(
                f"capacity '{bits[1].strip()}' must be <= {_shown(MAX_NUMBER)} "
                f"/ 容量不能大于 {_shown(MAX_NUMBER)}"
            )
        if any(k == key for k, _ in out):
            raise ValueError(f"category '{key}' twice / 类别重复")
        out.append((key, cap))
    if not out:
        raise ValueError(REQUIRED)
    return out


def compartments(s: pd.Series) -> tuple[np.ndarray, Messages]:
    return map_unique(s, parse_compartments)


_CRS = {
    "wgs84": "wgs84",
    "wgs": "wgs84",
    "epsg:4326": "wgs84",
    "4326": "wgs84",
    "gps": "wgs84",
    "gcj02": "gcj02",
    "gcj": "gcj02",
    "火星坐标": "gcj02",
    "高德": "gcj02",
    "bd09": "bd09",
    "bd": "bd09",
    "bd09ll": "bd09",
    "百度": "bd09",
}


def _crs(text: str) -> str:
    key = _CRS.get(re.sub(r"[\s\-_]", "", text.lower()))
    if key is None:
        raise ValueError("unknown crs: use wgs84, gcj02 or bd09 / 坐标系应为 wgs84、gcj02 或 bd09")
    return key


def crs(s: pd.Series) -> tuple[np.ndarray, Messages]:
    """Per-row coordinate system; empty = wgs84."""
    return map_unique(s, _crs, empty="wgs84")


def text_or_none(s: pd.Series) -> np.ndarray:
    out = s.to_numpy(dtype=object).copy()
    out[(s == "").to_numpy()] = None
    return out


def max_length(s: pd.Series, n: int) -> Messages:
    return _msg_where(
        (s.str.len() > n).to_numpy(dtype=bool), f"longer than {n} characters / 超过 {n} 个字符"
    )


def finite_or_none(v: np.ndarray) -> list[float | None]:
    return [None if not math.isfinite(x) else float(x) for x in v]
