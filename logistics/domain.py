"""Domain vocabulary: waste categories (GB/T 19095-2019), facility kinds, times of day,
domain errors."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Category:
    key: str
    name_zh: str
    name_en: str
    #: GB/T 19095 sign colour for the four household categories; our choice for the others
    colour: str
    aliases: tuple[str, ...] = ()
    #: one of the four household categories of GB/T 19095-2019
    household: bool = True


CATEGORIES: tuple[Category, ...] = (
    Category("recyclable", "可回收物", "Recyclable", "#1E5BA8"),
    Category("hazardous", "有害垃圾", "Hazardous", "#E60012"),
    Category("kitchen", "厨余垃圾", "Kitchen", "#00843D", ("湿垃圾", "餐厨垃圾", "易腐垃圾")),
    Category("residual", "其他垃圾", "Residual", "#6E6E6E", ("干垃圾",)),
    Category("fruit_veg", "果蔬垃圾", "Fruit & vegetable", "#8DC63F", household=False),
    Category("bulky", "大件垃圾", "Bulky", "#8B5A2B", household=False),
    Category("construction", "建筑垃圾", "Construction", "#B8860B", household=False),
    Category("garden", "园林垃圾", "Garden", "#2E8B57", household=False),
)
CATEGORY_BY_KEY: dict[str, Category] = {c.key: c for c in CATEGORIES}

_CATEGORY_LOOKUP: dict[str, str] = {}
for _c in CATEGORIES:
    for _name in (_c.key, _c.name_zh, _c.name_en, *_c.aliases):
        _CATEGORY_LOOKUP[_name.strip().lower()] = _c.key


def parse_category(text: str) -> str | None:
    """Return the category key for a key, Chinese name or alias; None if unknown."""
    return _CATEGORY_LOOKUP.get(str(text).strip().lower())


FACILITY_KINDS: dict[str, str] = {
    "transfer_station": "转运站",
    "sorting_center": "分拣中心",
    "incinerator": "焚烧厂",
    "landfill": "填埋场",
    "kitchen_plant": "厨余处理厂",
    "recycling_center": "再生资源回收站",
    "hazardous_site": "有害垃圾暂存点",
    "composting": "堆肥厂",
}
_KIND_LOOKUP = {k: k for k in FACILITY_KINDS} | {v: k for k, v in FACILITY_KINDS.items()}


def parse_facility_kind(text: str) -> str | None:
    return _KIND_LOOKUP.get(str(text).strip().lower()) or _KIND_LOOKUP.get(str(text).strip())


#: facility kinds whose deliveries count towards resource utilisation
RECYCLING_KINDS = frozenset({"recycling_center", "sorting_center"})
KITCHEN_TREATMENT_KINDS = frozenset({"kitchen_plant", "composting"})
#: facility kinds that send loads on (tickets.source_facility_id); a transfer station's
#: intake is never disposal: what it holds is in transit
PASS_ON_KINDS = frozenset({"transfer_station", "sorting_center"})
TRANSFER_KINDS = frozenset({"transfer_station"})


def hhmm(minutes: float) -> str:
    """Minutes after midnight as ``HH:MM`` (24:00 and later stay as they are)."""
    m = int(round(minutes))
    return f"{m // 60:02d}:{m % 60:02d}"


class DomainError(Exception):
    """Base of errors caused by user data or requests; shown without a traceback."""


@dataclass
class RowError:
    file: str
    row: int
    column: str
    message: str
    value: object = None

    def __str__(self) -> str:
        return f"{self.file}:{self.row}: {self.column}: {self.message} ({self.value})"


@dataclass
class ImportRejected(DomainError):
    """An import call was rejected; nothing was written."""

    errors: list[RowError] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


class NotFound(DomainError):
    pass


class Infeasible(DomainError):
    pass


class BadInput(DomainError):
    """A request that cannot be carried out as asked (bad date, unknown id, ...)."""


def parse_day(text: str, option: str = "--date") -> dt.date:
    """``YYYY-MM-DD`` -> date, or BadInput naming ``option`` and the expected form."""
    value = str(text).strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        with contextlib.suppress(ValueError):
            return dt.date.fromisoformat(value)
    raise BadInput(f"{option} must be a date YYYY-MM-DD (got {text!r})")
