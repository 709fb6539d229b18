"""What each import file may contain: kinds, columns, Chinese aliases (docs: formats.md)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

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


#: what a column holds; the validator parses each kind of cell, the API and the exports
#: take their field types from it
ColumnType = Literal[
    "id", "text", "number", "integer", "bool", "time", "date", "datetime", "days", "crs",
    "category", "categories", "facility_kind", "compartments",
]


@dataclass(frozen=True, slots=True)
class Column:
    """One column of an import file: its English name, the Chinese header a bureau
    writes (first alias), whether a row must fill it, the cell an empty one stands for,
    and what it holds."""

    name: str
    aliases: tuple[str, ...] = ()
    required: bool = False
    default: str | None = None
    type: ColumnType = "text"

    @property
    def zh(self) -> str:
        """The Chinese header (formats.md)."""
        return self.aliases[0]


def _c(
    name: str,
    *aliases: str,
    required: bool = False,
    default: str | None = None,
    type: ColumnType = "text",
) -> Column:
    return Column(name, aliases, required, default, type)


R = True
COLUMNS: dict[str, tuple[Column, ...]] = {
    "depots": (
        _c("depot_id", "车场编号", required=R, type="id"),
        _c("name", "名称", required=R),
        _c("lon", "经度", required=R, type="number"),
        _c("lat", "纬度", required=R, type="number"),
        _c("crs", "坐标系", type="crs"),
    ),
    "facilities": (
        _c("facility_id", "设施编号", required=R, type="id"),
        _c("name", "名称", required=R),
        _c("kind", "类型", required=R, type="facility_kind"),
        _c("accepts", "接收类别", required=R, type="categories"),
        _c("lon", "经度", required=R, type="number"),
        _c("lat", "纬度", required=R, type="number"),
        _c("crs", "坐标系", type="crs"),
        _c("open", "开放时间", default="00:00", type="time"),
        _c("close", "关闭时间", default="24:00", type="time"),
        _c("unload_min", "卸料分钟", default="15", type="number"),
        _c("daily_capacity_kg", "日处理能力公斤", type="number"),
        _c("harmless", "无害化", required=R, type="bool"),
    ),
    "vehicles": (
        _c("vehicle_id", "车辆编号", required=R, type="id"),
        _c("plate", "车牌号"),
        _c("depot_id", "车场编号", required=R, type="id"),
        _c("compartments", "车厢", required=R, type="compartments"),
        _c("shift_start", "班次开始", required=R, type="time"),
        _c("shift_end", "班次结束", required=R, type="time"),
        _c("break_min", "休息分钟", default="0", type="number"),
        _c("break_earliest", "最早休息", type="time"),
        _c("break_latest", "最晚休息", type="time"),
        _c("cost_per_km", "每公里成本", type="number"),
        _c("fixed_cost", "固定成本", type="number"),
    ),
    "communities": (
        _c("community_id", "社区编号", required=R, type="id"),
        _c("name", "名称", required=R),
        _c("town", "乡镇", required=R),
        _c("households", "户数", required=R, type="integer"),
        _c("sorting_since", "分类开始日期", type="date"),
    ),
    "points": (
        _c("point_id", "点位编号", required=R, type="id"),
        _c("name", "名称", required=R),
        _c("community_id", "社区编号", type="id"),
        _c("lon", "经度", required=R, type="number"),
        _c("lat", "纬度", required=R, type="number"),
        _c("crs", "坐标系", type="crs"),
        _c("category", "类别", required=R, type="category"),
        _c("kg_per_visit", "每次公斤", required=R, type="number"),
        _c("days", "收运日", required=R, type="days"),
        _c("tw_start", "最早", default="00:00", type="time"),
        _c("tw_end", "最晚", default="24:00", type="time"),
        _c("service_min", "作业分钟", default="3", type="number"),
        _c("bins", "桶数", type="integer"),
    ),
    "records": (
        _c("date", "日期", required=R, type="date"),
        _c("point_id", "点位编号", required=R, type="id"),
        _c("kg", "公斤", required=R, type="number"),
        _c("vehicle_id", "车辆编号", type="id"),
    ),
    "tickets": (
        _c("ticket_no", "磅单号", required=R, type="id"),
        _c("facility_id", "设施编号", required=R, type="id"),
        _c("time", "时间", required=R, type="datetime"),
        _c("category", "类别", required=R, type="category"),
        # required: net_kg, or gross_kg and tare_kg (checked by the validator)
        _c("net_kg", "净重公斤", type="number"),
        _c("gross_kg", "毛重公斤", type="number"),
        _c("tare_kg", "皮重公斤", type="number"),
        _c("vehicle_id", "车辆编号", type="id"),
        # a load a transfer station (or sorting centre) sent on; empty = from collection
        _c("source_facility_id", "来源设施编号", type="id"),
    ),
}


def column_names(kind: str) -> tuple[str, ...]:
    """The English column names of a kind, in file order."""
    return tuple(col.name for col in COLUMNS[kind])


def chinese_headers(kind: str, names: Iterable[str]) -> dict[str, str]:
    """English name -> Chinese header for ``names`` (each must be a column of ``kind``),
    in file order: what a bureau's export writes."""
    wanted = set(names)
    unknown = wanted - set(column_names(kind))
    if unknown:
        raise KeyError(f"not columns of {kind}: {sorted(unknown)}")
    return {col.name: col.zh for col in COLUMNS[kind] if col.name in wanted}


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
