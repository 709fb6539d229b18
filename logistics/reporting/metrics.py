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
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

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


def _with_county(df: pd.DataFrame, scope: Scope) -> pd.DataFrame:
    """A read model's frame with its ``group`` column: the constant county group when
    the scope is not per town."""
    if scope.by_town:
        return df
    return df.assign(group=COUNTY)[["group", *df.columns]]


def attribute_tickets(
    tickets: pd.DataFrame, rec: pd.DataFrame, town: str | None
) -> tuple[pd.DataFrame, float]:
    """Delivered kg per town: each ticket straight from collection (per truck, day,
    category) split over towns in proportion to the same truck's records of that day
    and category (tickets carry no place). Returns the frame [group, facility_id,
    category, kind, harmless, kg, tickets] (all towns) and the kg of tickets with no
    such records (unattributed)."""
    out_cols = ["group", "facility_id", *reporting_repo.TICKET_COLUMNS]
    if tickets.empty:
        return pd.DataFrame(columns=out_cols), 0.0
    tickets["day"] = pd.to_datetime(tickets["day"]).dt.date
    tickets["kg"] = tickets["kg"].astype(float)
    rec["day"] = pd.to_datetime(rec["day"]).dt.date
    rec["rkg"] = rec["rkg"].astype(float)
    key = ["vehicle_id", "day", "category"]
    rec["share"] = rec["rkg"] / rec.groupby(key)["rkg"].transform("sum")
    merged = tickets.merge(rec[[*key, "group", "share"]], on=key, how="left")
    unattributed_kg = float(merged[merged["group"].isna()]["kg"].sum())
    m = merged.dropna(subset=["group"]).copy()
    m["kg"] = m["kg"] * m["share"]
    m["tickets"] = m["tickets"] * m["share"]
    out = (
        m.groupby(["group", "facility_id", "category", "kind", "harmless"],
                  as_index=False)[["kg", "tickets"]].sum()
    )
    out["harmless"] = out["harmless"].astype(bool)
    return out[out_cols], unattributed_kg


def attribute_sent_on(direct: pd.DataFrame, sent: pd.DataFrame) -> pd.DataFrame:
    """Loads a facility sent on, split over towns in proportion to each town's share of
    what that facility took in (straight from collection) in the period: ``+kg`` at the
    receiving facility, ``-kg`` at the sending one (a tonne counts once, where it ends).
    Columns [group, category, kind, harmless, kg, tickets]."""
    cols = ["group", *reporting_repo.TICKET_COLUMNS]
    if sent.empty or direct.empty:
        return pd.DataFrame(columns=cols)
    intake = direct.groupby(["facility_id", "group"], as_index=False)["kg"].sum()
    intake["share"] = intake["kg"] / intake.groupby("facility_id")["kg"].transform("sum")
    sent = sent.assign(kg=sent["kg"].astype(float))
    m = sent.merge(intake[["facility_id", "group", "share"]],
                   left_on="source_facility_id", right_on="facility_id", how="inner")
    m["kg"] = m["kg"] * m["share"]
    m["tickets"] = m["tickets"] * m["share"]
    arrive = m[["group", "category", "kind", "harmless", "kg", "tickets"]]
    leave = m.assign(kind=m["source_kind"], harmless=m["source_harmless"],
                     kg=-m["kg"], tickets=0.0)[cols]
    return pd.concat([arrive, leave], ignore_index=True)


def _final(deliveries: pd.DataFrame) -> pd.DataFrame:
    """Deliveries where a tonne ends: transfer stations' rows left out (what they take in
    is in transit until it is sent on), signed rows summed per key."""
    d = deliveries[~deliveries["kind"].isin(TRANSFER_KINDS)].copy()
    d["harmless"] = d["harmless"].astype(bool)
    keys = [c for c in ("group", "category", "kind", "harmless") if c in d.columns]
    return d.groupby(keys, as_index=False)[["kg", "tickets"]].sum()


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
        extra = [NO_TOWN] if NO_TOWN in set(self.records["group"]) else []
        return towns + extra

    # -- records
    @cached_property
    def records(self) -> pd.DataFrame:
        """kg and record count per group and category, from collection records."""
        if self.scope.empty:
            cols = ["category", "kg", "records"]
            return pd.DataFrame(columns=["group", *cols] if self.scope.by_town else cols
                                ).pipe(_with_county, self.scope)
        df = _with_county(reporting_repo.record_totals(self.session, self.scope), self.scope)
        df["kg"] = df["kg"].astype(float)
        return df

    def collected(self, group: str) -> tuple[float, int]:
        r = self.records[self.records["group"] == group]
        return _kg(r["kg"].sum()), int(r["records"].sum())

    # -- deliveries (weighbridge tickets)
    @cached_property
    def deliveries(self) -> pd.DataFrame:
        """Delivered kg per group, ticket category, facility kind and harmless flag, where
        each tonne finally arrives (see :func:`_final`): a load sent on counts at the
        facility that receives it and is taken off the facility that sent it.

        County: the tickets as they are. Per town: see :func:`attribute_tickets` and
        :func:`attribute_sent_on`; tickets that cannot be attributed are noted.
        """
        s = self.scope
        cols = ["group", *reporting_repo.TICKET_COLUMNS]
        if s.empty:
            return pd.DataFrame(columns=cols)
        if not s.by_town:
            arrived = reporting_repo.ticket_totals(self.session, s)
            left = reporting_repo.sent_on_totals(self.session, s)
            left = left.assign(kg=-left["kg"].astype(float), tickets=0)
            df = pd.concat([arrived, left], ignore_index=True)
            df["kg"] = df["kg"].astype(float)
            return _final(_with_county(df, s))
        tickets = reporting_repo.direct_tickets_by_truck_day(self.session, s)
        rec = reporting_repo.record_kg_by_truck_day_town(self.session, s)
        direct, self.unattributed_kg = attribute_tickets(tickets, rec, s.town)
        sent = attribute_sent_on(direct, reporting_repo.sent_on_by_source(self.session, s))
        df = pd.concat([direct[cols], sent], ignore_index=True)
        if s.town is not None:
            df = df[df["group"] == s.town]
        if self.unattributed_kg:
            self.notes.append(
                f"{_t(self.unattributed_kg)} t on weighbridge tickets could not be attributed "
                "to a town (no records of the same truck, day and category)"
            )
        return _final(df) if not df.empty else pd.DataFrame(columns=cols)

    # -- transfer stations
    @cached_property
    def transfer(self) -> pd.DataFrame:
        """Per transfer station: opening stock, intake and loads sent on (county)."""
        s = self.scope
        return reporting_repo.transfer_stock(self.session, s, sorted(TRANSFER_KINDS))

    def delivered(self, group: str) -> pd.DataFrame:
        return self.deliveries[self.deliveries["group"] == group]

    # -- communities
    @cached_property
    def communities(self) -> pd.DataFrame:
        df = reporting_repo.community_totals(self.session, self.scope)
        return _with_county(df, self.scope).fillna(0)

    # -- due and served visits
    @cached_property
    def visits(self) -> pd.DataFrame:
        """due and served visits per group."""
        s = self.scope
        if s.empty:
            return pd.DataFrame({"group": pd.Series(dtype=object), "due": pd.Series(dtype=int),
                                 "served": pd.Series(dtype=int)})
        pts = _with_county(reporting_repo.point_schedules(self.session, s), s)
        pts["due"] = _due_days(pts, s.start, s.end) if not pts.empty else 0
        served = reporting_repo.served_visits(self.session, s, SEPARATED_CATEGORIES)
        if isinstance(served, int):
            served = pd.DataFrame({"group": [COUNTY], "served": [served]})
        due = pts.groupby("group", as_index=False)["due"].sum()
        return due.merge(served, on="group", how="outer").fillna(0)

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


def _due_days(pts: pd.DataFrame, start: dt.date, end: dt.date) -> np.ndarray:
    """Due visits per point over [start, end]: days whose weekday is in the point's mask;
    a point of a separated stream with a community counts only from the day its
    community separates (none if it has not by ``end``)."""
    gated = (pts["category"].isin(SEPARATED_CATEGORIES) & pts["community_id"].notna()).to_numpy()
    since = pd.to_datetime(pts["since"]).to_numpy(dtype="datetime64[D]")
    # proleptic ordinals, as date.toordinal() (1970-01-01 is day 719,163); NaT = never
    since_ord = since.astype(np.int64) + dt.date(1970, 1, 1).toordinal()
    first = np.where(np.isnat(since), end.toordinal() + 1,
                     np.maximum(start.toordinal(), since_ord))
    a = np.where(gated, first, start.toordinal()).astype(np.int64)
    b = end.toordinal()
    wd_a = (a - 1) % 7  # date.fromordinal(1) is a Monday: 0 = Monday
    mask = pts["mask"].to_numpy(dtype=np.int64)
    total = np.zeros(len(pts), dtype=np.int64)
    span = b - a
    for w in range(7):
        offset = (w - wd_a) % 7
        count = np.where(span >= offset, (span - offset) // 7 + 1, 0)
        total += np.where(mask & (1 << w), count, 0)
    return total


def _due_on(pts: pd.DataFrame, day: dt.date) -> np.ndarray:
    """Which points (rows of :func:`reporting_repo.point_schedules`) are due on ``day``."""
    gated = (pts["category"].isin(SEPARATED_CATEGORIES) & pts["community_id"].notna()).to_numpy()
    since = pd.to_datetime(pts["since"])
    started = (since.notna() & (since <= pd.Timestamp(day))).to_numpy()
    bit = 1 << day.weekday()
    on_day = (pts["mask"].to_numpy(dtype=np.int64) & bit) != 0
    return on_day & (~gated | started)


def due_by_day(session: Session, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Columns day, due, served: due visits and those served, per day (county)."""
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
    harmless = float(d.loc[d["harmless"], "kg"].sum())
    inputs = {"harmless_t": _t(harmless), "collected_t": _t(kg)}
    if not f.scope.by_town and not f.transfer.empty:
        stock = f.transfer
        inputs["in_transit_t"] = _t(float(
            (stock["opening_kg"] + stock["intake_kg"] - stock["sent_kg"]).sum()))
    if n == 0 or kg <= 0:
        return _missing("no tonnage collected (records) in the period", **inputs)
    if d.empty:
        return _missing("no weighbridge tickets in the period", **inputs)
    return MetricValue(_frac(harmless, kg), inputs)


def resource_utilisation_rate(f: Facts, group: str) -> MetricValue:
    kg, n = f.collected(group)
    d = f.delivered(group)
    recycled = float(
        d.loc[(d["category"] == "recyclable") & d["kind"].isin(RECYCLING_KINDS), "kg"].sum()
    )
    kitchen = float(
        d.loc[(d["category"] == "kitchen") & d["kind"].isin(KITCHEN_TREATMENT_KINDS), "kg"].sum()
    )
    inputs = {"recycled_t": _t(recycled), "kitchen_treated_t": _t(kitchen), "collected_t": _t(kg)}
    if n == 0 or kg <= 0:
        return _missing("no tonnage collected (records) in the period", **inputs)
    if d.empty:
        return _missing("no weighbridge tickets in the period", **inputs)
    return MetricValue(_frac(recycled + kitchen, kg), inputs)


def _community_row(f: Facts, group: str) -> pd.Series | None:
    c = f.communities[f.communities["group"] == group]
    return None if c.empty else c.iloc[0]


def separation_coverage_households(f: Facts, group: str) -> MetricValue:
    on = f.scope.end.isoformat()
    c = _community_row(f, group)
    if c is None or int(c["households"]) <= 0:
        return _missing("no communities with households", on=on)
    return MetricValue(
        _frac(c["covered_hh"], c["households"]),
        {"covered_households": int(c["covered_hh"]), "households": int(c["households"]), "on": on},
    )


def separation_coverage_communities(f: Facts, group: str) -> MetricValue:
    on = f.scope.end.isoformat()
    c = _community_row(f, group)
    if c is None or int(c["n"]) <= 0:
        return _missing("no communities", on=on)
    return MetricValue(
        _frac(c["covered_n"], c["n"]),
        {"covered": int(c["covered_n"]), "communities": int(c["n"]), "on": on},
    )


def collection_coverage(f: Facts, group: str) -> MetricValue:
    v = f.visits[f.visits["group"] == group]
    due = int(v["due"].sum())
    served = int(v["served"].sum())
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
    if st.empty:
        return _missing("no transfer stations", on=on)
    opening, intake, sent = (float(st[c].sum()) for c in ("opening_kg", "intake_kg", "sent_kg"))
    inputs: dict[str, Any] = {
        "opening_t": _t(opening), "intake_t": _t(intake), "sent_on_t": _t(sent), "on": on,
        "stations": {
            str(fid): _t(float(held))
            for fid, held in zip(
                st["facility_id"], st["opening_kg"] + st["intake_kg"] - st["sent_kg"], strict=True
            )
        },
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
        r = f.records[(f.records["group"] == group) & (f.records["category"] == category)]
        n = int(r["records"].sum())
        if n == 0:
            return _missing(f"no {category} records in the period", records=0)
        return MetricValue(_t(float(r["kg"].sum())), {"records": n})

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
