"""The official metrics (docs/dashboards.md, formats.md "The metrics document").

Every metric is a pure function of a :class:`Facts` object: the handful of
aggregates of one scope (period, optional town and category filters, county or
per-town grouping) that the read models of ``logistics.persistence.reporting_repo``
return. The database does the summing (a year holds ~400,000 records); this module
only combines the aggregated rows. Each metric returns its ``value`` and
the ``inputs`` it was computed from; when an input is missing the value is
``None`` with a ``missing`` note, never 0 or 100%.

Use :func:`compute_metrics` for the whole document (``wasteroute.metrics/1``)
and :data:`REGISTRY` for the list of metrics with their labels.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from logistics.domain import (
    CATEGORY_BY_KEY,
    KITCHEN_TREATMENT_KINDS,
    RECYCLING_KINDS,
    TRANSFER_KINDS,
    BadInput,
)
from logistics.persistence import reporting_repo
from logistics.persistence.db import Session
from logistics.persistence.reporting_repo import NO_TOWN
from logistics.reporting import periods

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

K = TypeVar("K")
log = logging.getLogger(__name__)

FORMAT = "wasteroute.metrics/1"
COUNTY = "county"

#: categories a community only has once it separates at source: such a point is due
#: only on days when its community practises separation (see collection_coverage)
SEPARATED_CATEGORIES = ("kitchen", "recyclable", "hazardous")

#: CO2 per vehicle-km of a diesel heavy goods vehicle. UK DESNZ "Greenhouse gas
#: reporting: conversion factors" 2022-2024 editions, Delivery vehicles, HGV (all
#: diesel), All HGVs, average laden: 0.89061 kg CO2e per km. Refuse trucks in
#: stop-start duty burn more per km, so this is a low estimate; override it with
#: ``--co2-kg-per-km`` when the bureau has fuel-card data (2.68 kg CO2 per litre of diesel).
CO2_KG_PER_KM = 0.89061
CO2_FACTOR_SOURCE = (
    "UK DESNZ GHG conversion factors 2023, HGV (all diesel), all HGVs, average laden"
)


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class MetricValue:
    value: float | None
    inputs: dict[str, Any]
    missing: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value, "inputs": self.inputs}
        if self.missing:
            out["missing"] = self.missing
        return out


def _kg(kg: float) -> float:
    """A sum of kg to the milligram: sums of the same rows in another order (the records
    or their rollups, a database's own order) differ in the last bits of a float, which
    must not decide a rounding further on."""
    return round(float(kg), 6) + 0.0  # + 0.0: never -0.0


def _t(kg: float) -> float:
    return round(_kg(kg) / 1000.0, 3) + 0.0


def _frac(num: float, den: float) -> float:
    return round(float(num) / float(den), 4)


def _missing(note: str, **inputs: Any) -> MetricValue:
    return MetricValue(None, inputs, note)


@dataclass(frozen=True)
class Scope:
    """What to measure: the period (both days included), filters and grouping."""

    start: dt.date
    end: dt.date
    by: str = COUNTY  # "county" | "town"
    category: str | None = None
    town: str | None = None
    co2_kg_per_km: float = CO2_KG_PER_KM
    #: the period has no day with data: nothing is read, every figure is missing
    empty: bool = False
    #: read the record rollups for whole months (False: the records alone; the same
    #: figures, for checking)
    rollups: bool = True

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise BadInput(f"--to {self.end} is before --from {self.start}")
        if self.by not in (COUNTY, "town"):
            raise BadInput(f"--by must be county or town (got {self.by})")
        if self.category is not None and self.category not in CATEGORY_BY_KEY:
            raise BadInput(f"unknown category {self.category}")

    @property
    def by_town(self) -> bool:
        return self.by == "town" or self.town is not None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


# --------------------------------------------------------------------------- facts

#: kg delivered per (group, ticket category, facility kind, harmless flag)
Deliveries = dict[tuple[str, str, str, bool], float]


def _with_county(rows: list[tuple[Any, ...]], scope: Scope) -> list[tuple[Any, ...]]:
    """A read model's rows with their group first: the constant county group when the
    scope is not per town."""
    return rows if scope.by_town else [(COUNTY, *r) for r in rows]


def _day(v: Any) -> dt.date:
    """A day from the database (SQLite gives text for date expressions)."""
    if isinstance(v, dt.datetime):
        return v.date()
    return v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v)[:10])


def _sums(pairs: Iterable[tuple[K, float]]) -> dict[K, float]:
    """Sums per key (math.fsum: exact, whatever order the rows come in)."""
    parts: dict[K, list[float]] = {}
    for k, v in pairs:
        parts.setdefault(k, []).append(v)
    return {k: math.fsum(v) for k, v in parts.items()}


def _share(part: float, total: float) -> float:
    # a total of 0 kg shares nothing out (its rows stay, with 0 kg)
    return part / total if total else 0.0


def attribute_sent_on(direct: dict[tuple[str, str, str, str, bool], float],
                      sent: Sequence[Sequence[Any]]
                      ) -> list[tuple[tuple[str, str, str, bool], float]]:
    """Loads a facility sent on (rows of ``reporting_repo.sent_on_by_source``), split
    over towns in proportion to each town's share of what that facility took in
    straight from collection in the period (``direct``, see
    ``reporting_repo.tickets_by_town``):
    ``+kg`` at the receiving facility, ``-kg`` at the sending one (a tonne counts once,
    where it ends). Pairs ((group, category, kind, harmless), kg)."""
    intake = _sums(((fid, g), kg) for (g, fid, _c, _k, _h), kg in direct.items())
    total = _sums((fid, kg) for (fid, _g), kg in intake.items())
    out = []
    for src, src_kind, src_harmless, category, kind, harmless, kg, _n in sent:
        for (fid, g), took in intake.items():
            if fid == src:
                moved = float(kg) * _share(took, total[fid])
                out.append(((g, category, kind, bool(harmless)), moved))
                out.append(((g, category, src_kind, bool(src_harmless)), -moved))
    return out


def _final(pairs: Iterable[tuple[tuple[str, str, str, bool], float]]) -> Deliveries:
    """Deliveries where a tonne ends: transfer stations' rows left out (what they take in
    is in transit until it is sent on), signed rows summed per key."""
    return _sums((k, kg) for k, kg in pairs if k[2] not in TRANSFER_KINDS)


def due_visits(mask: int, gated: bool, since: dt.date | None, start: dt.date,
               end: dt.date) -> int:
    """Due visits of a point over [start, end]: days whose weekday is in the point's
    mask (bit 0 = Monday); a point of a separated stream with a community (``gated``)
    counts only from the day its community separates (``since``; none if it has not by
    ``end``)."""
    first = start
    if gated:
        if since is None:
            return 0
        first = max(start, since)
    span = (end - first).days
    total = 0
    for w in range(7):
        offset = (w - first.weekday()) % 7
        if mask & (1 << w) and span >= offset:
            total += (span - offset) // 7 + 1
    return total


@dataclass
class Facts:
    """Aggregates of one scope, each read on first use from the reporting read models."""

    session: Session
    scope: Scope
    notes: list[str] = field(default_factory=list)
    unattributed_kg: float = 0.0

    # -- groups
    @cached_property
    def groups(self) -> list[str]:
        if not self.scope.by_town:
            return [COUNTY]
        if self.scope.town is not None:
            return [self.scope.town]
        towns = reporting_repo.town_names(self.session)
        extra = [NO_TOWN] if any(r[0] == NO_TOWN for r in self.records) else []
        return towns + extra

    # -- records
    @cached_property
    def rollups(self) -> list[tuple[str, str, float, int, int]]:
        """(group, category, kg, records, served visits) from the rollups: one pass over
        the period's point-months gives the records of whole months and the served
        visits (see ``reporting_repo.rollup_totals``)."""
        rows = reporting_repo.rollup_totals(self.session, self.scope, SEPARATED_CATEGORIES)
        return [(g, c, float(kg or 0.0), int(n or 0), int(v or 0))
                for g, c, kg, n, v in _with_county(rows, self.scope)]

    @cached_property
    def records(self) -> list[tuple[str, str, float, int]]:
        """(group, category, kg, records) from collection records."""
        s = self.scope
        if s.empty:
            return []
        if not s.rollups:
            rows = reporting_repo.record_totals(self.session, s)
            return [(g, c, float(kg), int(n)) for g, c, kg, n in _with_county(rows, s)]
        cut = _with_county(reporting_repo.record_totals(self.session, s), s)
        parts = [((g, c), (kg, n)) for g, c, kg, n, _v in self.rollups if n]
        parts += [((g, c), (float(kg), int(n))) for g, c, kg, n in cut]
        kg_of = _sums((k, kg) for k, (kg, _n) in parts)
        n_of: dict[tuple[str, str], int] = {}
        for k, (_kg, n) in parts:
            n_of[k] = n_of.get(k, 0) + n
        return [(g, c, kg, n_of[(g, c)]) for (g, c), kg in kg_of.items()]

    def collected(self, group: str) -> tuple[float, int]:
        r = [row for row in self.records if row[0] == group]
        return _kg(math.fsum(row[2] for row in r)), sum(row[3] for row in r)

    # -- deliveries (weighbridge tickets)
    @cached_property
    def deliveries(self) -> dict[str, list[tuple[str, str, bool, float]]]:
        """Per group, delivered kg per ticket category, facility kind and harmless flag,
        where each tonne finally arrives (see :func:`_final`): a load sent on counts at
        the facility that receives it and is taken off the facility that sent it.

        County: the tickets as they are. Per town: see ``reporting_repo.tickets_by_town``
        and :func:`attribute_sent_on`; tickets that cannot be attributed are noted.
        """
        s = self.scope
        if s.empty:
            return {}
        if not s.by_town:
            arrived = reporting_repo.ticket_totals(self.session, s)
            left = reporting_repo.sent_on_totals(self.session, s)
            final = _final(
                [((COUNTY, c, k, bool(h)), float(kg)) for c, k, h, kg, _n in arrived]
                + [((COUNTY, c, k, bool(h)), -float(kg)) for c, k, h, kg, _n in left])
        else:
            split, self.unattributed_kg = reporting_repo.tickets_by_town(self.session, s)
            direct = {(g, fid, c, k, bool(h)): float(kg or 0.0)
                      for g, fid, c, k, h, kg in split}
            pairs = [((g, c, k, h), kg) for (g, _fid, c, k, h), kg in direct.items()]
            if direct:
                pairs += attribute_sent_on(direct, reporting_repo.sent_on_by_source(
                    self.session, s))
            final = _final(p for p in pairs if s.town is None or p[0][0] == s.town)
            if self.unattributed_kg:
                self.notes.append(
                    f"{_t(self.unattributed_kg)} t on weighbridge tickets could not be "
                    "attributed to a town (no records of the same truck, day and category)"
                )
        out: dict[str, list[tuple[str, str, bool, float]]] = {}
        for (g, c, k, h), kg in final.items():
            out.setdefault(g, []).append((c, k, h, kg))
        return out

    def delivered(self, group: str) -> list[tuple[str, str, bool, float]]:
        """(category, kind, harmless, kg) rows of the group (see :attr:`deliveries`)."""
        return self.deliveries.get(group, [])

    # -- transfer stations
    @cached_property
    def transfer(self) -> list[tuple[str, str, float, float, float]]:
        """Per transfer station: (facility_id, name, opening, intake, sent on kg), county."""
        return reporting_repo.transfer_rows(self.session, self.scope, sorted(TRANSFER_KINDS))

    # -- communities
    @cached_property
    def communities(self) -> dict[str, tuple[int, int, int, int]]:
        """Per group: households, covered households, communities, covered ones."""
        rows = _with_county(reporting_repo.community_totals(self.session, self.scope),
                            self.scope)
        return {r[0]: tuple(int(v or 0) for v in r[1:5]) for r in rows}  # type: ignore[misc]

    # -- due and served visits
    @cached_property
    def visits(self) -> dict[str, tuple[int, int]]:
        """Per group: due and served visits."""
        s = self.scope
        if s.empty:
            return {}
        due: dict[str, int] = {}
        for g, mask, gated, since, n in _with_county(
                reporting_repo.point_schedule_counts(self.session, s, SEPARATED_CATEGORIES), s):
            due[g] = due.get(g, 0) + int(n) * due_visits(
                int(mask), bool(gated), None if since is None else _day(since), s.start, s.end)
        by: dict[str, int] = {}
        if s.rollups:
            for g, _c, _kg, _n, v in self.rollups:
                by[g] = by.get(g, 0) + v
        else:
            served = reporting_repo.served_visits(self.session, s, SEPARATED_CATEGORIES)
            by = dict(served) if isinstance(served, list) else {COUNTY: served}
        return {g: (due.get(g, 0), int(by.get(g, 0))) for g in {*due, *by}}

    # -- trucks (records)
    @cached_property
    def truck_days(self) -> tuple[float, int]:
        """kg collected by identified trucks, and distinct (truck, day) pairs."""
        kg, n = reporting_repo.truck_day_totals(self.session, self.scope)
        return _kg(kg), n

    # -- plans
    @cached_property
    def plans(self) -> dict[str, float]:
        """Planned km, kg, trips (unloads) and routes over the current plans of the period."""
        return reporting_repo.plan_totals(self.session, self.scope)


def _due_on(pts: pd.DataFrame, day: dt.date) -> np.ndarray:
    """Which points (rows of :func:`reporting_repo.point_schedules`) are due on ``day``."""
    import numpy as np
    import pandas as pd

    gated = (pts["category"].isin(SEPARATED_CATEGORIES) & pts["community_id"].notna()).to_numpy()
    since = pd.to_datetime(pts["since"])
    started = (since.notna() & (since <= pd.Timestamp(day))).to_numpy()
    bit = 1 << day.weekday()
    on_day = (pts["mask"].to_numpy(dtype=np.int64) & bit) != 0
    return on_day & (~gated | started)


def due_by_day(session: Session, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Columns day, due, served: due visits and those served, per day (county)."""
    import pandas as pd  # the dashboards' helpers; the metrics document needs no frames

    scope = Scope(start, end)
    pts = reporting_repo.point_schedules(session, scope)
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    due = [int(_due_on(pts, d).sum()) if not pts.empty else 0 for d in days]
    served = reporting_repo.served_visits_by_day(session, scope, SEPARATED_CATEGORIES)
    served["day"] = pd.to_datetime(served["day"]).dt.date
    by = dict(zip(served["day"], served["served"], strict=True))
    return pd.DataFrame({"day": days, "due": due, "served": [int(by.get(d, 0)) for d in days]})


def due_points(session: Session, day: dt.date) -> pd.DataFrame:
    """Columns point_id, category: the points due on ``day``."""
    import pandas as pd

    pts = reporting_repo.point_schedules(session, Scope(day, day))
    if pts.empty:
        return pd.DataFrame(columns=["point_id", "category"])
    return pts.loc[_due_on(pts, day), ["point_id", "category"]].reset_index(drop=True)


# --------------------------------------------------------------------------- the metrics

Metric = Callable[[Facts, str], MetricValue]


@dataclass(frozen=True)
class MetricSpec:
    key: str
    name_zh: str
    name_en: str
    #: "t", "fraction", "t/truck-day", ...
    unit: str
    fn: Metric


def tonnage_collected_t(f: Facts, group: str) -> MetricValue:
    kg, n = f.collected(group)
    if n == 0:
        return _missing("no collection records in the period", records=0)
    return MetricValue(_t(kg), {"records": n})


def harmless_disposal_rate(f: Facts, group: str) -> MetricValue:
    kg, n = f.collected(group)
    d = f.delivered(group)
    harmless = math.fsum(r[3] for r in d if r[2])
    inputs = {"harmless_t": _t(harmless), "collected_t": _t(kg)}
    if not f.scope.by_town and f.transfer:
        inputs["in_transit_t"] = _t(math.fsum(o + i - s for _f, _n, o, i, s in f.transfer))
    if n == 0 or kg <= 0:
        return _missing("no tonnage collected (records) in the period", **inputs)
    if not d:
        return _missing("no weighbridge tickets in the period", **inputs)
    return MetricValue(_frac(harmless, kg), inputs)


def resource_utilisation_rate(f: Facts, group: str) -> MetricValue:
    kg, n = f.collected(group)
    d = f.delivered(group)
    recycled = math.fsum(r[3] for r in d if r[0] == "recyclable" and r[1] in RECYCLING_KINDS)
    kitchen = math.fsum(
        r[3] for r in d if r[0] == "kitchen" and r[1] in KITCHEN_TREATMENT_KINDS)
    inputs = {"recycled_t": _t(recycled), "kitchen_treated_t": _t(kitchen), "collected_t": _t(kg)}
    if n == 0 or kg <= 0:
        return _missing("no tonnage collected (records) in the period", **inputs)
    if not d:
        return _missing("no weighbridge tickets in the period", **inputs)
    return MetricValue(_frac(recycled + kitchen, kg), inputs)


def separation_coverage_households(f: Facts, group: str) -> MetricValue:
    on = f.scope.end.isoformat()
    households, covered, _n, _covered_n = f.communities.get(group, (0, 0, 0, 0))
    if households <= 0:
        return _missing("no communities with households", on=on)
    return MetricValue(
        _frac(covered, households),
        {"covered_households": covered, "households": households, "on": on},
    )


def separation_coverage_communities(f: Facts, group: str) -> MetricValue:
    on = f.scope.end.isoformat()
    _hh, _covered_hh, n, covered = f.communities.get(group, (0, 0, 0, 0))
    if n <= 0:
        return _missing("no communities", on=on)
    return MetricValue(_frac(covered, n), {"covered": covered, "communities": n, "on": on})


def collection_coverage(f: Facts, group: str) -> MetricValue:
    due, served = f.visits.get(group, (0, 0))
    inputs = {"served_visits": served, "due_visits": due}
    if due == 0:
        return _missing("no visits due in the period", **inputs)
    _kg, n = f.collected(group)
    if n == 0:
        return _missing("no collection records in the period", **inputs)
    return MetricValue(_frac(served, due), inputs)


def in_transit_t(f: Facts, group: str) -> MetricValue:
    """What transfer stations hold at the end of the period: taken in, not yet sent on
    (opening stock + intake - sent on). Not disposal, and not "not harmless"."""
    if (m := _county_only(f)) is not None:
        return m
    on = f.scope.end.isoformat()
    if f.scope.empty:
        return _missing("no data in the period", on=on)
    st = f.transfer
    if not st:
        return _missing("no transfer stations", on=on)
    opening = math.fsum(r[2] for r in st)
    intake = math.fsum(r[3] for r in st)
    sent = math.fsum(r[4] for r in st)
    inputs: dict[str, Any] = {
        "opening_t": _t(opening), "intake_t": _t(intake), "sent_on_t": _t(sent), "on": on,
        "stations": {str(fid): _t(o + i - s) for fid, _name, o, i, s in st},
    }
    return MetricValue(_t(opening + intake - sent), inputs)


def _county_only(f: Facts) -> MetricValue | None:
    if f.scope.by_town:
        return _missing("county-wide figure: trucks cross town borders")
    return None


def t_per_truck_day(f: Facts, group: str) -> MetricValue:
    if (m := _county_only(f)) is not None:
        return m
    kg, n = f.truck_days
    inputs = {"collected_t": _t(kg), "truck_days": n}
    if n == 0:
        return _missing("no records with a vehicle in the period", **inputs)
    return MetricValue(round(kg / 1000.0 / n, 3), inputs)


def km_per_t(f: Facts, group: str) -> MetricValue:
    if (m := _county_only(f)) is not None:
        return m
    p = f.plans
    inputs = {"distance_km": round(p["distance_km"], 3), "planned_t": _t(p["kg"]),
              "plans": p["plans"], "source": "plans"}
    if p["plans"] == 0 or p["kg"] <= 0:
        return _missing("no stored plans in the period", **inputs)
    return MetricValue(round(p["distance_km"] / (p["kg"] / 1000.0), 3), inputs)


def trips_per_truck_day(f: Facts, group: str) -> MetricValue:
    if (m := _county_only(f)) is not None:
        return m
    p = f.plans
    inputs = {"trips": p["trips"], "truck_days": p["routes"], "plans": p["plans"],
              "source": "plans"}
    if p["routes"] == 0:
        return _missing("no stored plans in the period", **inputs)
    return MetricValue(round(p["trips"] / p["routes"], 3), inputs)


def co2_t(f: Facts, group: str) -> MetricValue:
    if (m := _county_only(f)) is not None:
        return m
    p = f.plans
    k = f.scope.co2_kg_per_km
    inputs = {"distance_km": round(p["distance_km"], 3), "kg_co2_per_km": k,
              "factor_source": CO2_FACTOR_SOURCE if k == CO2_KG_PER_KM else "user",
              "plans": p["plans"], "source": "plans"}
    if p["plans"] == 0:
        return _missing("no stored plans in the period", **inputs)
    return MetricValue(round(p["distance_km"] * k / 1000.0, 3), inputs)


def _stream_metric(category: str) -> Metric:
    def fn(f: Facts, group: str) -> MetricValue:
        r = [row for row in f.records if row[0] == group and row[1] == category]
        n = sum(row[3] for row in r)
        if n == 0:
            return _missing(f"no {category} records in the period", records=0)
        return MetricValue(_t(math.fsum(row[2] for row in r)), {"records": n})

    fn.__name__ = f"tonnage_{category}_t"
    return fn


REGISTRY: dict[str, MetricSpec] = {
    s.key: s
    for s in (
        MetricSpec("tonnage_collected_t", "清运量", "Tonnage collected", "t",
                   tonnage_collected_t),
        MetricSpec("harmless_disposal_rate", "生活垃圾无害化处理率", "Harmless disposal rate",
                   "fraction", harmless_disposal_rate),
        MetricSpec("separation_coverage_households", "垃圾分类覆盖率(户)",
                   "Source-separation coverage (households)", "fraction",
                   separation_coverage_households),
        MetricSpec("separation_coverage_communities", "垃圾分类覆盖率(社区)",
                   "Source-separation coverage (communities)", "fraction",
                   separation_coverage_communities),
        MetricSpec("resource_utilisation_rate", "资源化利用率", "Resource utilisation rate",
                   "fraction", resource_utilisation_rate),
        MetricSpec("collection_coverage", "收运覆盖率(日产日清)", "Collection coverage",
                   "fraction", collection_coverage),
        MetricSpec("t_per_truck_day", "车均日清运量", "t per truck-day", "t", t_per_truck_day),
        MetricSpec("km_per_t", "吨公里", "km per t (plans)", "km/t", km_per_t),
        MetricSpec("trips_per_truck_day", "车均日趟数", "Trips per truck-day (plans)", "trips",
                   trips_per_truck_day),
        MetricSpec("co2_t", "二氧化碳排放估算", "CO2 estimate (plans)", "t", co2_t),
        MetricSpec("in_transit_t", "中转在途量", "In transit at transfer stations", "t",
                   in_transit_t),
    )
}


def stream_specs(session: Session, scope: Scope) -> list[MetricSpec]:
    """One tonnage metric per category that has points (or the filtered category)."""
    if scope.category is not None:
        cats = [scope.category]
    else:
        cats = reporting_repo.point_categories(session)
        order = list(CATEGORY_BY_KEY)
        cats.sort(key=lambda c: order.index(c) if c in order else len(order))
    return [
        MetricSpec(f"tonnage_{c}_t", f"{CATEGORY_BY_KEY[c].name_zh}清运量",
                   f"Tonnage {CATEGORY_BY_KEY[c].name_en.lower()}", "t", _stream_metric(c))
        for c in cats
        if c in CATEGORY_BY_KEY
    ]


def compute_metrics(
    session: Session,
    start: dt.date,
    end: dt.date,
    *,
    by: str = COUNTY,
    category: str | None = None,
    town: str | None = None,
    co2_kg_per_km: float = CO2_KG_PER_KM,
    rollups: bool = True,
) -> dict[str, Any]:
    """The metrics document (``wasteroute.metrics/1``) of a period (``rollups``: see
    :class:`Scope`)."""
    if end < start:
        raise BadInput(f"--to {end} is before --from {start}")
    cov = periods.covered(session, start, end)
    through = cov.through
    scope = Scope(start, through or start, by=by, category=category, town=town,
                  co2_kg_per_km=co2_kg_per_km, empty=through is None, rollups=rollups)
    facts = Facts(session, scope)
    specs = list(REGISTRY.values()) + stream_specs(session, scope)
    groups = []
    for g in facts.groups:
        groups.append(
            {"group": g, "metrics": {s.key: s.fn(facts, g).as_dict() for s in specs}}
        )
    doc: dict[str, Any] = {
        "format": FORMAT,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "by": "town" if scope.by_town else COUNTY,
        "covers": cov.as_json(),
    }
    if category is not None:
        doc["category"] = category
    if town is not None:
        doc["town"] = town
    doc["groups"] = groups
    if facts.notes:
        doc["notes"] = facts.notes
    log.info("metrics %s..%s by %s: %d group(s)", start, end, doc["by"], len(groups))
    return doc


def metric_labels(lang: str = "zh") -> dict[str, str]:
    """Display names of the registered metrics."""
    return {k: (s.name_zh if lang == "zh" else s.name_en) for k, s in REGISTRY.items()}
