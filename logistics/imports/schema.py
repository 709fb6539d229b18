"""What each import file may contain: kinds, columns, Chinese aliases (docs: formats.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass

#: kinds in dependency order: files are applied in this order whatever order they are given
KINDS: tuple[str, ...] = (
    "depots",
    "facilities",
    "communities",
    "vehicles",
    "points",
    "records",
    "tickets",
)

KIND_ZH: dict[str, str] = {
    "depots": "车场",
    "facilities": "设施",
    "communities": "社区",
    "vehicles": "车辆",
    "points": "点位",
    "records": "收运记录",
    "tickets": "磅单",
}

#: file-name stems (and --kind values) that name a kind, besides the kind itself
KIND_ALIASES: dict[str, str] = {
    "depot": "depots",
    "facility": "facilities",
    "community": "communities",
    "vehicle": "vehicles",
    "point": "points",
    "record": "records",
    "ticket": "tickets",
    "车场": "depots",
    "停车场": "depots",
    "设施": "facilities",
    "处置设施": "facilities",
    "社区": "communities",
    "小区": "communities",
    "车辆": "vehicles",
    "点位": "points",
    "收集点": "points",
    "收运记录": "records",
    "记录": "records",
    "磅单": "tickets",
    "过磅单": "tickets",
} | {k: k for k in KINDS}

#: file suffixes read by the importer (a folder expands to these)
SUFFIXES = (".csv", ".xlsx", ".geojson")


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    aliases: tuple[str, ...] = ()
    required: bool = False


def _c(name: str, *aliases: str, required: bool = False) -> Column:
    return Column(name, aliases, required)


R = True
COLUMNS: dict[str, tuple[Column, ...]] = {
    "depots": (
        _c("depot_id", "车场编号", required=R),
        _c("name", "名称", required=R),
        _c("lon", "经度", required=R),
        _c("lat", "纬度", required=R),
        _c("crs", "坐标系"),
    ),
    "facilities": (
        _c("facility_id", "设施编号", required=R),
        _c("name", "名称", required=R),
        _c("kind", "类型", required=R),
        _c("accepts", "接收类别", required=R),
        _c("lon", "经度", required=R),
        _c("lat", "纬度", required=R),
        _c("crs", "坐标系"),
        _c("open", "开放时间"),
        _c("close", "关闭时间"),
        _c("unload_min", "卸料分钟"),
        _c("daily_capacity_kg", "日处理能力公斤"),
        _c("harmless", "无害化", required=R),
    ),
    "vehicles": (
        _c("vehicle_id", "车辆编号", required=R),
        _c("plate", "车牌号"),
        _c("depot_id", "车场编号", required=R),
        _c("compartments", "车厢", required=R),
        _c("shift_start", "班次开始", required=R),
        _c("shift_end", "班次结束", required=R),
        _c("break_min", "休息分钟"),
        _c("break_earliest", "最早休息"),
        _c("break_latest", "最晚休息"),
        _c("cost_per_km", "每公里成本"),
        _c("fixed_cost", "固定成本"),
    ),
    "communities": (
        _c("community_id", "社区编号", required=R),
        _c("name", "名称", required=R),
        _c("town", "乡镇", required=R),
        _c("households", "户数", required=R),
        _c("sorting_since", "分类开始日期"),
    ),
    "points": (
        _c("point_id", "点位编号", required=R),
        _c("name", "名称", required=R),
        _c("community_id", "社区编号"),
        _c("lon", "经度", required=R),
        _c("lat", "纬度", required=R),
        _c("crs", "坐标系"),
        _c("category", "类别", required=R),
        _c("kg_per_visit", "每次公斤", required=R),
        _c("days", "收运日", required=R),
        _c("tw_start", "最早"),
        _c("tw_end", "最晚"),
        _c("service_min", "作业分钟"),
        _c("bins", "桶数"),
    ),
    "records": (
        _c("date", "日期", required=R),
        _c("point_id", "点位编号", required=R),
        _c("kg", "公斤", required=R),
        _c("vehicle_id", "车辆编号"),
    ),
    "tickets": (
        _c("ticket_no", "磅单号", required=R),
        _c("facility_id", "设施编号", required=R),
        _c("time", "时间", required=R),
        _c("category", "类别", required=R),
        # required: net_kg, or gross_kg and tare_kg (checked by the validator)
        _c("net_kg", "净重公斤"),
        _c("gross_kg", "毛重公斤"),
        _c("tare_kg", "皮重公斤"),
        _c("vehicle_id", "车辆编号"),
    ),
}

#: the columns that identify a row (duplicates inside one call are errors)
KEYS: dict[str, tuple[str, ...]] = {
    "depots": ("depot_id",),
    "facilities": ("facility_id",),
    "vehicles": ("vehicle_id",),
    "communities": ("community_id",),
    "points": ("point_id",),
    "records": ("date", "point_id", "vehicle_id"),
    "tickets": ("facility_id", "ticket_no"),
}

_SPACES = re.compile(r"[\s\-]+")


def normalise_header(text: str) -> str:
    """Header matching ignores case, surrounding spaces, and treats inner spaces or
    hyphens like underscores (`Kg per visit` = `kg_per_visit`)."""
    return _SPACES.sub("_", str(text).strip().strip("\ufeff\u3000 ").lower())


def header_lookup(kind: str) -> dict[str, str]:
    """Normalised header text -> canonical column name."""
    out: dict[str, str] = {}
    for col in COLUMNS[kind]:
        for name in (col.name, *col.aliases):
            out[normalise_header(name)] = col.name
    return out


def parse_kind(text: str) -> str | None:
    """A kind name (English, singular/plural, or a Chinese name); None if unknown."""
    return KIND_ALIASES.get(str(text).strip().lower())


_STEM_SPLIT = re.compile(r"[_\-. ]")


def kind_from_stem(stem: str) -> str | None:
    """The kind named by a file stem: the whole stem (`points`, `点位`), or its first
    part before `_`, `-`, `.` or a space (`records_2020-01`, `磅单-3月`)."""
    kind = parse_kind(stem)
    if kind is None:
        kind = parse_kind(_STEM_SPLIT.split(stem.strip(), maxsplit=1)[0])
    return kind
