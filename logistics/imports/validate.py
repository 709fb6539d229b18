"""Per-kind validation: text cells -> typed columns named as in the database.

Every problem of every row is logged; the returned frame keeps all rows (bad values
as NaN/None) so that later checks (duplicates, references) can still report theirs.
The frame has one extra column ``_row`` (spreadsheet row number).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from logistics import coords
from logistics.imports import cells as c
from logistics.imports.errors import ErrorLog
from logistics.imports.reading import RawTable

ID_LEN = 64


class _Checker:
    def __init__(self, t: RawTable, errors: ErrorLog) -> None:
        self.t = t
        self.f = t.frame
        self.errors = errors
        self.out: dict[str, object] = {"_row": t.rows}

    def report(self, col: str, msgs: np.ndarray) -> None:
        self.errors.add_messages(self.t.file, self.t.rows, self.f[col], msgs, col)

    def ident(self, col: str, dest: str | None = None, *, optional: bool = False) -> None:
        s = self.f[col]
        msgs = (
            c.max_length(s, ID_LEN) if optional else c.merge(c.required(s), c.max_length(s, ID_LEN))
        )
        self.report(col, msgs)
        self.out[dest or col] = c.text_or_none(s) if optional else s.to_numpy(dtype=object)

    def text(
        self, col: str, dest: str | None = None, *, n: int = 200, optional: bool = False
    ) -> None:
        s = self.f[col]
        msgs = c.max_length(s, n) if optional else c.merge(c.required(s), c.max_length(s, n))
        self.report(col, msgs)
        self.out[dest or col] = c.text_or_none(s) if optional else s.to_numpy(dtype=object)

    def number(
        self,
        col: str,
        dest: str | None = None,
        *,
        optional: bool = False,
        default: float | None = None,
        **kw: object,
    ) -> np.ndarray:
        s = self.f[col]
        v, msgs = c.number(s, **kw)  # type: ignore[arg-type]
        if not optional and default is None:
            msgs = c.merge(c.required(s), msgs)
        self.report(col, msgs)
        if default is not None:
            v = np.where((s == "").to_numpy(), default, v)
        self.out[dest or col] = v
        return v

    def parsed(
        self,
        col: str,
        fn: Callable[[pd.Series], tuple[np.ndarray, np.ndarray]],
        dest: str | None = None,
        *,
        optional: bool = False,
        default: object = None,
    ) -> np.ndarray:
        s = self.f[col]
        v, msgs = fn(s)
        if not optional and default is None:
            msgs = c.merge(c.required(s), msgs)
        self.report(col, msgs)
        if default is not None:
            v = v.copy()
            v[(s == "").to_numpy()] = default
        self.out[dest or col] = v
        return v

    def order(self, first: str, second: str, a: np.ndarray, b: np.ndarray, what: str) -> None:
        """b must be later than a (where both are valid)."""
        av, bv = (
            pd.to_numeric(pd.Series(a), errors="coerce"),
            pd.to_numeric(pd.Series(b), errors="coerce"),
        )
        bad = (av.notna() & bv.notna() & (bv <= av)).to_numpy()
        self.errors.add_mask(
            self.t.file,
            self.t.rows,
            self.f[second],
            bad,
            second,
            f"{what}: {second} must be later than {first} / 结束须晚于开始",
        )

    def coordinates(self) -> None:
        lon, lon_m = c.number(self.f["lon"], min_value=-180, max_value=180)
        lat, lat_m = c.number(self.f["lat"], min_value=-90, max_value=90)
        self.report("lon", c.merge(c.required(self.f["lon"]), lon_m))
        self.report("lat", c.merge(c.required(self.f["lat"]), lat_m))
        crs, crs_m = c.crs(self.f["crs"])
        self.report("crs", crs_m)
        lon_out, lat_out = lon.copy(), lat.copy()
        ok = np.isfinite(lon) & np.isfinite(lat)
        for name in ("gcj02", "bd09"):
            sel = ok & (crs == name)
            if sel.any():
                x, y = coords.to_wgs84(lon[sel], lat[sel], name)
                lon_out[sel], lat_out[sel] = x, y
        self.out["lon"], self.out["lat"] = lon_out, lat_out

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.out)


def depots(t: RawTable, errors: ErrorLog) -> pd.DataFrame:
    k = _Checker(t, errors)
    k.ident("depot_id")
    k.text("name")
    k.coordinates()
    return k.frame()


def facilities(t: RawTable, errors: ErrorLog) -> pd.DataFrame:
    k = _Checker(t, errors)
    k.ident("facility_id")
    k.text("name")
    k.parsed("kind", c.facility_kind)
    k.parsed("accepts", c.category_list)
    k.coordinates()
    o = k.parsed("open", c.time_min, "open_min", default=0)
    e = k.parsed("close", c.time_min, "close_min", default=1440)
    k.order("open", "close", o, e, "opening hours / 开放时间")
    k.number("unload_min", default=15.0, min_value=0)
    k.number("daily_capacity_kg", optional=True, min_value=0, strict_min=True)
    k.parsed("harmless", c.boolean)
    return k.frame()


def vehicles(t: RawTable, errors: ErrorLog) -> pd.DataFrame:
    k = _Checker(t, errors)
    k.ident("vehicle_id")
    k.text("plate", n=32, optional=True)
    k.ident("depot_id")
    k.parsed("compartments", c.compartments)
    a = k.parsed("shift_start", c.time_min, "shift_start_min")
    b = k.parsed("shift_end", c.time_min, "shift_end_min")
    k.order("shift_start", "shift_end", a, b, "shift / 班次")
    k.number("break_min", default=0.0, min_value=0)
    be = k.parsed("break_earliest", c.time_min, "break_earliest_min", optional=True)
    bl = k.parsed("break_latest", c.time_min, "break_latest_min", optional=True)
    bad = np.array([x is not None and y is not None and y < x for x, y in zip(be, bl, strict=True)])
    errors.add_mask(
        t.file,
        t.rows,
        t.frame["break_latest"],
        bad,
        "break_latest",
        "break_latest before break_earliest / 最晚休息早于最早休息",
    )
    k.number("cost_per_km", optional=True, min_value=0)
    k.number("fixed_cost", optional=True, min_value=0)
    return k.frame()


def communities(t: RawTable, errors: ErrorLog) -> pd.DataFrame:
    k = _Checker(t, errors)
    k.ident("community_id")
    k.text("name")
    k.text("town", n=100)
    k.number("households", min_value=0, integer=True)
    k.parsed("sorting_since", c.date_iso, optional=True)
    return k.frame()


def points(t: RawTable, errors: ErrorLog) -> pd.DataFrame:
    k = _Checker(t, errors)
    k.ident("point_id")
    k.text("name")
    k.ident("community_id", optional=True)
    k.coordinates()
    k.parsed("category", c.category)
    k.number("kg_per_visit", min_value=0)
    k.parsed("days", c.days_mask, "days_mask")
    a = k.parsed("tw_start", c.time_min, "tw_start_min", default=0)
    b = k.parsed("tw_end", c.time_min, "tw_end_min", default=1440)
    k.order("tw_start", "tw_end", a, b, "time window / 时间窗")
    k.number("service_min", default=3.0, min_value=0)
    k.number("bins", optional=True, min_value=0, integer=True)
    return k.frame()


def records(t: RawTable, errors: ErrorLog) -> pd.DataFrame:
    k = _Checker(t, errors)
    k.parsed("date", c.date_iso)
    k.ident("point_id")
    k.number("kg", min_value=0)
    k.report("vehicle_id", c.max_length(t.frame["vehicle_id"], ID_LEN))
    k.out["vehicle_id"] = t.frame["vehicle_id"].to_numpy(dtype=object)
    return k.frame()


def tickets(t: RawTable, errors: ErrorLog) -> pd.DataFrame:
    k = _Checker(t, errors)
    k.ident("ticket_no")
    k.ident("facility_id")
    k.parsed("time", c.datetime_iso)
    k.parsed("category", c.category)
    net = k.number("net_kg", optional=True, min_value=0)
    gross = k.number("gross_kg", optional=True, min_value=0)
    tare = k.number("tare_kg", optional=True, min_value=0)
    f = t.frame
    net_empty = (f["net_kg"] == "").to_numpy()
    gross_empty = (f["gross_kg"] == "").to_numpy()
    tare_empty = (f["tare_kg"] == "").to_numpy()
    missing = net_empty & (gross_empty | tare_empty)
    errors.add_mask(
        t.file,
        t.rows,
        f["net_kg"],
        missing,
        "net_kg",
        "required: net_kg, or gross_kg and tare_kg / 须填净重，或毛重和皮重",
    )
    derived = gross - tare
    neg = net_empty & np.isfinite(derived) & (derived < 0)
    errors.add_mask(
        t.file,
        t.rows,
        f["tare_kg"],
        neg,
        "tare_kg",
        "tare_kg greater than gross_kg (net < 0) / 皮重大于毛重",
    )
    both = ~net_empty & np.isfinite(net) & np.isfinite(derived) & (np.abs(net - derived) > 0.5)
    errors.add_mask(
        t.file,
        t.rows,
        f["net_kg"],
        both,
        "net_kg",
        "net_kg differs from gross_kg - tare_kg / 净重不等于毛重减皮重",
    )
    k.out["net_kg"] = np.where(net_empty, np.where(derived >= 0, derived, np.nan), net)
    k.report("vehicle_id", c.max_length(f["vehicle_id"], ID_LEN))
    k.out["vehicle_id"] = f["vehicle_id"].to_numpy(dtype=object)
    k.ident("source_facility_id", optional=True)
    same = ((f["source_facility_id"] != "") & (f["source_facility_id"] == f["facility_id"]))
    errors.add_mask(t.file, t.rows, f["source_facility_id"], same.to_numpy(),
                    "source_facility_id", "a load cannot come from the facility it arrives at "
                    "/ 来源设施不能是本设施")
    return k.frame()


VALIDATORS: dict[str, Callable[[RawTable, ErrorLog], pd.DataFrame]] = {
    "depots": depots,
    "facilities": facilities,
    "vehicles": vehicles,
    "communities": communities,
    "points": points,
    "records": records,
    "tickets": tickets,
}
