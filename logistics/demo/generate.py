"""The demo county: a Zhongmou-like county (中牟县, 2020) generated from a seed.

:func:`generate_county` builds the county and a year of collection records and
weighbridge tickets in memory (vectorised numpy/pandas; deterministic per seed and
scale). Writing them as a bureau would is :mod:`logistics.demo.export`; the whole demo
run is :mod:`logistics.demo.run`.

Sizes: ``scale = 1.0`` is the reference county (about 350,000 households, 1,200
collection points, 41 trucks, 201,000 t in 2020); smaller scales shrink households,
communities, points and the fleet (at least one of each per town / truck type) and
the year's tonnage in proportion (``201,000 t x scale``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from logistics.demand.forecast import is_public_holiday
from logistics.demand.schedule import visit_gaps
from logistics.demo import data as dd
from logistics.demo import transfer
from logistics.imports.cells import parse_days_mask, parse_time_min

_KM_PER_DEG_LAT = 111.0
_KM_PER_DEG_LON = 111.0 * float(np.cos(np.radians(dd.SEAT_LAT)))


@dataclass(repr=False)
class DemoCounty:
    """The generated county. Coordinates are WGS-84 here; ``points.crs`` says in which
    system the export writes each point. Internal helper columns start with ``_``."""

    seed: int
    scale: float
    depots: pd.DataFrame
    facilities: pd.DataFrame
    vehicles: pd.DataFrame
    communities: pd.DataFrame
    points: pd.DataFrame
    records: pd.DataFrame
    tickets: pd.DataFrame

    def __repr__(self) -> str:
        return f"DemoCounty(seed={self.seed}, scale={self.scale}, counts={self.counts()})"

    def tonnage_t(self) -> float:
        return float(self.records["kg"].sum()) / 1000.0

    def tonnage_by_category_t(self) -> dict[str, float]:
        cat = self.records["point_id"].map(self.points.set_index("point_id")["category"])
        by = self.records.groupby(cat)["kg"].sum() / 1000.0
        return {str(k): round(float(v), 1) for k, v in by.sort_values(ascending=False).items()}

    def counts(self) -> dict[str, int]:
        return {
            "depots": len(self.depots),
            "facilities": len(self.facilities),
            "vehicles": len(self.vehicles),
            "communities": len(self.communities),
            "points": len(self.points),
            "records": len(self.records),
            "tickets": len(self.tickets),
        }


# --------------------------------------------------------------------------- generator


def _scaled(n: int, scale: float) -> int:
    return max(1, round(n * scale))


def _offset(lon: float, lat: float, dx_km: Any, dy_km: Any) -> tuple[Any, Any]:
    return lon + np.asarray(dx_km) / _KM_PER_DEG_LON, lat + np.asarray(dy_km) / _KM_PER_DEG_LAT


def _angle_from_seat(lon: Any, lat: Any) -> Any:
    return np.arctan2(
        (np.asarray(lat) - dd.SEAT_LAT) * _KM_PER_DEG_LAT,
        (np.asarray(lon) - dd.SEAT_LON) * _KM_PER_DEG_LON,
    )


def _unique_names(rng: np.random.Generator, n: int, make: Any) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    tries = 0
    while len(names) < n:
        name = make(rng, tries)
        tries += 1
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def _urban_name(rng: np.random.Generator, tries: int) -> str:
    stem = dd.URBAN_COMMUNITY_STEMS[int(rng.integers(len(dd.URBAN_COMMUNITY_STEMS)))]
    suffixes = dd.URBAN_COMMUNITY_SUFFIXES[: 1 + min(tries // 40, 4)]
    return stem + suffixes[int(rng.integers(len(suffixes)))]


def _village_name(rng: np.random.Generator, _tries: int) -> str:
    pre = dd.VILLAGE_PREFIXES[int(rng.integers(len(dd.VILLAGE_PREFIXES)))]
    sur = dd.SURNAMES[int(rng.integers(len(dd.SURNAMES)))]
    suf = dd.VILLAGE_SUFFIXES[int(rng.integers(len(dd.VILLAGE_SUFFIXES)))]
    return f"{pre}{sur}{suf}村"


def _sorting_since(rng: np.random.Generator, kind: str, n: int) -> list[dt.date | None]:
    """Start of source separation: a few pilots before 2020, most during the year
    (urban streets first), some not yet. No launches during the lockdown."""
    p_before, p_during, a, b = {
        "urban": (0.25, 0.72, 1.6, 2.2),
        "seat": (0.08, 0.82, 2.0, 1.8),
        "village": (0.03, 0.81, 2.4, 1.5),
    }[kind]
    u = rng.random(n)
    frac = rng.beta(a, b, n)
    pilot_day = rng.integers(0, 183, n)  # 2019-07-01 .. 2019-12-31
    out: list[dt.date | None] = []
    lock0, lock1 = dd.LOCKDOWN
    for i in range(n):
        if u[i] < p_before:
            out.append(dt.date(2019, 7, 1) + dt.timedelta(days=int(pilot_day[i])))
        elif u[i] < p_before + p_during:
            d = dd.YEAR_START + dt.timedelta(days=int(frac[i] * 365.999))
            if lock0 <= d <= lock1:  # launches resumed after the lockdown
                d = lock1 + dt.timedelta(days=1 + (d - lock0).days)
            out.append(d)
        else:
            out.append(None)
    return out


def _communities(rng: np.random.Generator, scale: float) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for ti, town in enumerate(dd.TOWNS):
        n = _scaled(town.communities, scale)
        if town.urban:
            names = _unique_names(rng, n, _urban_name)
            r = np.minimum(np.abs(rng.normal(0.0, town.radius_km / 2, n)), town.radius_km * 1.5)
            hh = rng.lognormal(np.log(1900), 0.35, n)
            kinds = ["urban"] * n
        else:
            names = [f"{town.short}社区", *_unique_names(rng, n - 1, _village_name)]
            r = town.radius_km * np.sqrt(rng.random(n))
            r[0] = 0.3 * rng.random()
            hh = rng.lognormal(np.log(430), 0.45, n)
            hh[0] = rng.lognormal(np.log(1800), 0.25)
            kinds = ["seat"] + ["village"] * (n - 1)
        ang = rng.uniform(0, 2 * np.pi, n)
        lon, lat = _offset(town.lon, town.lat, r * np.cos(ang), r * np.sin(ang))
        since = [_sorting_since(rng, k, 1)[0] for k in kinds]
        for k in range(n):
            rows.append(
                {
                    "community_id": f"C{ti + 1:02d}{k + 1:03d}",
                    "name": names[k],
                    "town": town.name,
                    "households": float(hh[k]),
                    "sorting_since": since[k],
                    "_kind": kinds[k],
                    "_lon": float(lon[k]),
                    "_lat": float(lat[k]),
                    "_gcj02": town.gcj02,
                }
            )
    df = pd.DataFrame(rows)
    target = dd.TARGET_HOUSEHOLDS * scale
    scaled = df["households"] * target / df["households"].sum()
    df["households"] = np.maximum(scaled.round(), 30).astype("int64")
    return df


def _points(rng: np.random.Generator, comm: pd.DataFrame, scale: float) -> pd.DataFrame:
    """Collection points with a base size (`_base`, households-equivalent per day);
    kg per visit is set later from the generated records."""
    rows: list[dict[str, Any]] = []

    def add(
        c: pd.Series,
        category: str,
        name: str,
        hh: float,
        shares: tuple[float, float],
        jitter_km: float,
        lon: float | None = None,
        lat: float | None = None,
    ) -> None:
        """`hh`: households (or household-equivalents for markets); `shares`: the part of
        their waste this point gets before and after the community separates at source."""
        dx, dy = rng.normal(0.0, jitter_km, 2)
        plon, plat = _offset(
            c["_lon"] if lon is None else lon, c["_lat"] if lat is None else lat, dx, dy
        )
        rows.append(
            {
                "name": name,
                "community_id": c["community_id"],
                "_lon": float(plon),
                "_lat": float(plat),
                "category": category,
                "_hh": hh,
                "_share_unsorted": shares[0],
                "_share_sorted": shares[1],
                "_base": hh * shares[1],
                "_kind": c["_kind"],
                "_gcj02": bool(c["_gcj02"]),
                "_since": c["sorting_since"],
                "_market": category == "fruit_veg",
            }
        )

    for _, c in comm.iterrows():
        hh = float(c["households"])
        dense = c["_kind"] in ("urban", "seat")
        jit = 0.12 if dense else 0.2
        sorted_ = pd.notna(c["sorting_since"])
        n_res = max(1, round(hh / 1400)) if dense else (2 if hh > 800 else 1)
        cats: dict[str, int] = {"residual": n_res}
        if sorted_:
            cats["kitchen"] = max(1, round(hh / 2200)) if dense else 1
            if dense or rng.random() < 0.35:
                cats["recyclable"] = 1
            if (c["_kind"] == "urban" and rng.random() < 0.35) or (
                c["_kind"] == "seat" and rng.random() < 0.5
            ):
                cats["hazardous"] = 1
        # residual takes the shares of the streams the community has no point for
        res_sorted = 1.0 - sum(dd.SORTED_SHARES[k] for k in cats if k != "residual")
        label = {
            "residual": "其他垃圾收集点",
            "kitchen": "厨余垃圾投放点",
            "recyclable": "可回收物回收点",
            "hazardous": "有害垃圾投放点",
        }
        for cat, n in cats.items():
            share = res_sorted if cat == "residual" else dd.SORTED_SHARES[cat]
            for j in range(n):
                suffix = f"{j + 1}号" if n > 1 else ""
                unsorted = 1.0 / n if cat == "residual" else 0.0
                add(c, cat, f"{c['name']}{label[cat]}{suffix}", hh, (unsorted, share / n), jit)

    # markets: fruit and vegetable waste, 05:00-09:00
    total_hh = float(comm["households"].sum())
    markets: list[tuple[pd.Series, str, float, float | None, float | None]] = []
    urban = comm[comm["_kind"] == "urban"].reset_index(drop=True)
    for k in range(_scaled(len(dd.MARKET_STEMS_URBAN), scale)):
        c = urban.iloc[int(rng.integers(len(urban)))]
        markets.append((c, dd.MARKET_STEMS_URBAN[k % len(dd.MARKET_STEMS_URBAN)], 1.0, None, None))
    for _, c in comm[comm["_kind"] == "seat"].iterrows():
        markets.append((c, f"{c['name'].removesuffix('社区')}农贸市场", 0.8, None, None))
    w_name, w_lon, w_lat, w_n = dd.WHOLESALE_MARKET
    dist = np.hypot(comm["_lon"].to_numpy() - w_lon, comm["_lat"].to_numpy() - w_lat)
    near = comm.iloc[int(np.argmin(dist))]
    for k in range(_scaled(w_n, scale)):
        markets.append((near, f"{w_name}{k + 1}区", 4.0, w_lon, w_lat))
    weights = np.array([m[2] for m in markets])
    bases = weights / weights.sum() * total_hh * dd.MARKET_SHARE
    for (c, name, _w, lon, lat), base in zip(markets, bases, strict=True):
        add(c, "fruit_veg", f"{name}果蔬垃圾点", float(base), (1.0, 1.0), 0.05, lon, lat)

    df = pd.DataFrame(rows)
    df.insert(0, "point_id", [f"P{i + 1:04d}" for i in range(len(df))])
    n = len(df)
    kind = df["category"].to_numpy()
    in_town = df["_kind"].isin(["urban", "seat"]).to_numpy()
    # collection days
    days = np.full(n, "daily", dtype=object)
    alt = np.where(rng.random(n) < 0.5, "1;3;5", "2;4;6")
    rec_alt = (kind == "recyclable") & (~in_town | (rng.random(n) < 0.6))
    days[rec_alt] = alt[rec_alt]
    days[kind == "hazardous"] = alt[kind == "hazardous"]
    df["days"] = days
    # time windows: most points any time in the shift (日产日清); main streets before
    # the morning traffic, restaurants' kitchen waste in the morning, markets at dawn
    u = rng.random(n)
    tw_s = np.full(n, "06:00", dtype=object)
    tw_e = np.full(n, "17:00", dtype=object)
    res_town = (kind == "residual") & in_town
    tw_s[res_town] = "05:00"
    main_street = res_town & (u < 0.3)
    tw_e[main_street] = "10:00"
    morning_kitchen = (kind == "kitchen") & (u < 0.3)
    tw_e[morning_kitchen] = "10:00"
    tw_s[kind == "recyclable"], tw_e[kind == "recyclable"] = "08:00", "16:30"
    tw_s[kind == "hazardous"], tw_e[kind == "hazardous"] = "09:00", "16:00"
    fv = kind == "fruit_veg"
    tw_s[fv], tw_e[fv] = "05:00", "09:00"
    df["tw_start"], df["tw_end"] = tw_s, tw_e
    df["_static"] = rng.lognormal(0.0, 0.15, n)
    return df


def _vehicles(rng: np.random.Generator, scale: float) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for spec in dd.FLEET:
        for _ in range(_scaled(spec.count, scale)):
            rows.append(
                {
                    "compartments": ";".join(f"{c}:{k}" for c, k in spec.compartments),
                    "shift_start": spec.shift_start,
                    "shift_end": spec.shift_end,
                    "break_min": spec.break_min,
                    "break_earliest": spec.break_earliest,
                    "break_latest": spec.break_latest,
                    "_type": spec.type_name,
                    "_tare_kg": spec.tare_kg,
                    "_caps": dict(spec.compartments),
                }
            )
    df = pd.DataFrame(rows)
    df.insert(0, "vehicle_id", [f"V{i + 1:02d}" for i in range(len(df))])
    numbers = rng.choice(np.arange(10000, 100000), size=len(df), replace=False)
    letters = np.array(list("DFGHJKLMNPQRSTUVWXY"))
    plates = []
    for i, num in enumerate(numbers):
        s = str(int(num))
        if i % 3 == 2:  # newer plates carry a letter
            s = str(letters[int(rng.integers(len(letters)))]) + s[1:]
        plates.append(f"豫A·{s}")
    df.insert(1, "plate", plates)
    return df


def _assign(points: pd.DataFrame, vehicles: pd.DataFrame) -> pd.DataFrame:
    """Give every point one vehicle (a fixed round, as bureaus run them): per category,
    points sorted by bearing from the county seat are cut into consecutive sectors whose
    expected load is proportional to each vehicle's compartment; the order inside a
    sector is the round order. Each vehicle parks at the depot nearest its sector."""
    points = points.copy()
    points["_vehicle"] = ""
    points["_order"] = 0
    depot_of: dict[str, str] = {}
    ang = _angle_from_seat(points["_lon"], points["_lat"])
    # start the sweep in the north-west, where no town lies
    points["_angle"] = (ang - 2.3) % (2 * np.pi)
    for cat in points["category"].unique():
        vs = vehicles[vehicles["_caps"].map(lambda c, cat=cat: cat in c)]
        if vs.empty:
            continue
        caps = vs["_caps"].map(lambda c, cat=cat: c[cat]).to_numpy(dtype=float)
        sel = points.index[points["category"] == cat]
        # the streets of the seat first, then the towns, each swept by bearing
        sub = points.loc[sel].assign(_rural=lambda p: p["_kind"] != "urban")
        sub = sub.sort_values(["_rural", "_angle", "point_id"])
        w = sub["_base"].to_numpy() * np.where(sub["days"] == "daily", 1.0, 0.5)
        mid = (np.cumsum(w) - w / 2) / w.sum()
        bounds = np.cumsum(caps) / caps.sum()
        which = np.minimum(np.searchsorted(bounds, mid), len(vs) - 1)
        vids = vs["vehicle_id"].to_numpy()
        points.loc[sub.index, "_vehicle"] = vids[which]
        points.loc[sub.index, "_order"] = np.arange(len(sub))
    for vid in vehicles["vehicle_id"]:
        mine = points[points["_vehicle"] == vid]
        if mine.empty:
            depot_of[vid] = dd.DEPOTS[0].depot_id
            continue
        lon, lat = mine["_lon"].mean(), mine["_lat"].mean()
        d = [np.hypot(lon - dp.lon, lat - dp.lat) for dp in dd.DEPOTS]
        depot_of[vid] = dd.DEPOTS[int(np.argmin(d))].depot_id
    vehicles.insert(2, "depot_id", vehicles["vehicle_id"].map(depot_of))
    return points


def _daily_factors(dates: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Day-of-year multipliers for household and market waste: weekends slightly
    higher, a mild summer high, the Spring Festival peak before and after the holiday
    and its drop, the COVID-19 lockdown (markets restricted), the watermelon summer."""
    doy = dates.day_of_year.to_numpy()
    wd = dates.day_of_week.to_numpy()
    weekday = np.where(wd >= 5, 1.06, 0.976)
    house = weekday * (1.0 + 0.06 * np.sin(2 * np.pi * (doy - 110) / 366))
    market = weekday * (1.0 + 0.55 * np.exp(-(((doy - 200) / 40.0) ** 2)))
    d = dates.date
    sf = dd.SPRING_FESTIVAL
    for i, day in enumerate(d):
        off = (day - sf).days
        if -11 <= off <= -2:  # shopping and cleaning before the festival
            house[i] *= 1.15
            market[i] *= 1.25
        elif -1 <= off <= 6:  # 除夕 .. 初七: holiday, collection thinned
            house[i] *= 0.82
            market[i] *= 0.45
        elif 7 <= off <= 14:  # back to work, up to 元宵
            house[i] *= 1.08
        if dd.LOCKDOWN[0] <= day <= dd.LOCKDOWN[1]:
            house[i] *= 0.95
            market[i] *= 0.55
    return house, market


def _records(rng: np.random.Generator, points: pd.DataFrame, scale: float) -> pd.DataFrame:
    dates = pd.date_range(dd.YEAR_START, dd.YEAR_END, freq="D")
    n_p, n_d = len(points), len(dates)
    house, market = _daily_factors(dates)
    is_market = points["_market"].to_numpy()
    mod = np.where(is_market[:, None], market[None, :], house[None, :])
    # statutory holidays: per category (offices and schools close; demo_data)
    holiday = np.array([is_public_holiday(d) for d in dates.date])
    by_cat = points["category"].map(dd.HOLIDAY_FACTORS).fillna(1.0).to_numpy(dtype=float)
    mod = mod * np.where(holiday[None, :], by_cat[:, None], 1.0)
    # sorting active on the day (community started source separation)
    since = pd.to_datetime(points["_since"]).to_numpy(dtype="datetime64[D]")
    day = dates.to_numpy(dtype="datetime64[D]")
    has_since = ~np.isnat(since)
    active = has_since[:, None] & (day[None, :] >= np.where(has_since, since, day[-1])[:, None])
    share = np.where(
        active,
        points["_share_sorted"].to_numpy()[:, None],
        points["_share_unsorted"].to_numpy()[:, None],
    )
    # collections per weekday and the days of waste each one picks up
    gaps = np.stack([visit_gaps(parse_days_mask(d)) for d in points["days"]])
    iso = dates.day_of_week.to_numpy()
    acc = gaps[:, iso]
    hh_base = points["_hh"].to_numpy(dtype=float)
    sigma = np.where(points["category"].to_numpy() == "hazardous", 0.4, 0.15)[:, None]
    noise = np.exp(rng.normal(0.0, 1.0, (n_p, n_d)) * sigma - sigma**2 / 2)
    missed = rng.random((n_p, n_d)) < 0.0015  # a missed visit now and then
    kg = (hh_base * points["_static"].to_numpy())[:, None] * share * mod * acc * noise
    kg[missed] = 0.0
    kg *= dd.TARGET_TONNES * 1000.0 * scale / kg.sum()
    # a single visit never exceeds the smallest compartment of its category
    limit = points["category"].map(_min_capacity()).to_numpy(dtype=float)[:, None] * 0.95
    kg = np.minimum(kg, limit)
    kg = np.where(kg > 0, np.maximum(np.rint(kg), 1.0), 0.0)
    pi, di = np.nonzero(kg)
    return pd.DataFrame(
        {
            "date": day[di],
            "point_id": points["point_id"].to_numpy()[pi],
            "kg": kg[pi, di].astype("int64"),
            "vehicle_id": points["_vehicle"].to_numpy()[pi],
        }
    )


def _min_capacity() -> dict[str, float]:
    caps: dict[str, float] = {}
    for spec in dd.FLEET:
        for c, k in spec.compartments:
            caps[c] = min(caps.get(c, float("inf")), float(k))
    return caps


def _kg_per_visit(points: pd.DataFrame, records: pd.DataFrame) -> pd.Series:
    """What a dispatcher would enter: the mean visit in December (else the year)."""
    dec = records[records["date"] >= np.datetime64("2020-12-01")]
    mean = dec.groupby("point_id")["kg"].mean()
    mean = mean.combine_first(records.groupby("point_id")["kg"].mean())
    kg = points["point_id"].map(mean).fillna(1.0).to_numpy()
    kg = np.where(kg >= 100, np.rint(kg / 10) * 10, np.maximum(np.rint(kg), 1))
    return pd.Series(kg.astype("int64"), index=points.index)


def _bins_service(points: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    per_bin = points["category"].map(
        {"residual": 50, "kitchen": 60, "recyclable": 25, "hazardous": 15, "fruit_veg": 150}
    )
    bins = np.clip(np.ceil(points["kg_per_visit"] / per_bin), 1, 40).astype("int64")
    service = np.clip(np.rint(2 + 0.5 * bins), 2, 25).astype("int64")
    return bins.to_numpy(), service.to_numpy()


def _trips(records: pd.DataFrame, points: pd.DataFrame, vehicles: pd.DataFrame) -> np.ndarray:
    """Trip number of each record inside its (vehicle, date, category) round: a new trip
    starts when the next point would overfill the compartment."""
    caps = vehicles.set_index("vehicle_id")["_caps"]
    cat = records["_category"].to_numpy()
    veh = records["vehicle_id"].to_numpy()
    date = records["date"].to_numpy()
    kg = records["kg"].to_numpy()
    cap = np.array([caps[v][c] for v, c in zip(veh, cat, strict=True)], dtype=float)
    new_group = np.ones(len(records), dtype=bool)
    new_group[1:] = (veh[1:] != veh[:-1]) | (date[1:] != date[:-1]) | (cat[1:] != cat[:-1])
    trip = np.zeros(len(records), dtype=np.int64)
    load = 0.0
    t = 0
    for i, (ng, k, c) in enumerate(zip(new_group.tolist(), kg.tolist(), cap.tolist(), strict=True)):
        if ng:
            load, t = 0.0, 0
        elif load + k > c:
            load, t = 0.0, t + 1
        load += k
        trip[i] = t
    return trip


def _tickets(
    rng: np.random.Generator,
    records: pd.DataFrame,
    points: pd.DataFrame,
    vehicles: pd.DataFrame,
    facilities: pd.DataFrame,
) -> pd.DataFrame:
    """One weighbridge ticket per trip and category, at the facility that takes it;
    net weight = the trip's records."""
    pts = points.set_index("point_id")
    rec = records.assign(
        _category=records["point_id"].map(pts["category"]),
        _order=records["point_id"].map(pts["_order"]),
        _lon=records["point_id"].map(pts["_lon"]),
    ).sort_values(["vehicle_id", "date", "_category", "_order"], kind="stable")
    rec["_trip"] = _trips(rec, points, vehicles)
    trips = (
        rec.groupby(["vehicle_id", "date", "_category", "_trip"], sort=True)
        .agg(net_kg=("kg", "sum"), _first=("_order", "min"), _lon=("_lon", "mean"))
        .reset_index()
    )
    # order the trips of a vehicle-day, then spread them over the shift
    trips = trips.sort_values(["vehicle_id", "date", "_trip", "_first"], kind="stable")
    trips["_k"] = trips.groupby(["vehicle_id", "date"]).cumcount()
    trips["_n"] = trips.groupby(["vehicle_id", "date"])["_k"].transform("size")
    veh = vehicles.set_index("vehicle_id")
    start = trips["vehicle_id"].map(veh["shift_start"].map(parse_time_min)).to_numpy()
    end = trips["vehicle_id"].map(veh["shift_end"].map(parse_time_min)).to_numpy()
    brk = trips["vehicle_id"].map(veh["break_min"]).to_numpy()
    brk_at = trips["vehicle_id"].map(veh["break_earliest"].map(parse_time_min)).to_numpy()
    span = end - start - brk - 45
    k = trips["_k"].to_numpy()
    n = trips["_n"].to_numpy()
    minute = start + 30 + (k + 1) * span / (n + 0.25) + rng.uniform(-20, 10, len(trips))
    minute = np.where(minute > brk_at, minute + brk, minute)
    # facility per trip
    cat = trips["_category"].to_numpy()
    day = trips["date"].to_numpy()
    vnum = trips["vehicle_id"].str[1:].astype(int).to_numpy()
    fac = np.full(len(trips), "", dtype=object)
    m0, m1 = (np.datetime64(d) for d in dd.INCINERATOR_MAINTENANCE)
    maint = (day >= m0) & (day <= m1)
    fac[cat == "residual"] = "F01"
    fac[(cat == "residual") & maint] = "F07"
    # the west of the county unloads at the transfer station, which sends it on
    fac[(cat == "residual") & (trips["_lon"].to_numpy() < dd.TRANSFER_WEST_OF_LON)] = "F02"
    fac[(cat == "kitchen") | (cat == "fruit_veg")] = "F04"
    fac[cat == "hazardous"] = "F06"
    rec_cat = cat == "recyclable"
    to_sorting = (day >= np.datetime64(dd.SORTING_CENTER_OPENS)) & (vnum % 2 == 1)
    fac[rec_cat] = np.where(to_sorting[rec_cat], "F03", "F05")
    fs = facilities.set_index("facility_id")
    f_open = pd.Series(fac).map(fs["open"].map(parse_time_min)).to_numpy()
    f_close = pd.Series(fac).map(fs["close"].map(parse_time_min)).to_numpy()
    minute = np.clip(minute, np.maximum(f_open + 5, start + 20), np.minimum(f_close - 5, end - 5))
    seconds = np.rint(minute * 60).astype("int64") + rng.integers(0, 60, len(trips))
    when = day.astype("datetime64[s]") + seconds.astype("timedelta64[s]")
    tare = (
        trips["vehicle_id"].map(veh["_tare_kg"]).to_numpy() + rng.integers(-3, 4, len(trips)) * 10
    )
    out = pd.DataFrame(
        {
            "facility_id": fac,
            "time": when,
            "category": cat,
            "net_kg": trips["net_kg"].to_numpy(),
            "gross_kg": trips["net_kg"].to_numpy() + tare,
            "tare_kg": tare,
            "vehicle_id": trips["vehicle_id"].to_numpy(),
        }
    ).sort_values(["facility_id", "time", "vehicle_id"], kind="stable")
    seq = out.groupby(["facility_id", out["time"].dt.date]).cumcount() + 1
    prefix = out["facility_id"].map(fs["_ticket_prefix"])
    out.insert(
        0, "ticket_no", prefix + out["time"].dt.strftime("%Y%m%d") + seq.map("{:03d}".format)
    )
    return out.sort_values(["time", "facility_id"], kind="stable").reset_index(drop=True)


def _with_outbound(tickets: pd.DataFrame) -> pd.DataFrame:
    """The year's tickets with the transfer station's outbound loads (to the incinerator;
    the landfill while it is down), each naming the station as its source."""
    days = pd.Series(pd.date_range(dd.YEAR_START, dd.YEAR_END, freq="D").date)
    m0, m1 = dd.INCINERATOR_MAINTENANCE
    to = pd.Series(np.where((days >= m0) & (days <= m1), "F07", "F01"), index=days)
    out = transfer.outbound_loads(tickets, {("F02", "residual"): "F01"}, {"residual": to})
    both = pd.concat([tickets.assign(source_facility_id=""),
                      out.astype({"net_kg": float})], ignore_index=True)
    return both.sort_values(["time", "facility_id"], kind="stable").reset_index(drop=True)


def _depots() -> pd.DataFrame:
    return pd.DataFrame(
        [{"depot_id": d.depot_id, "name": d.name, "_lon": d.lon, "_lat": d.lat} for d in dd.DEPOTS]
    )


def _facilities() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "facility_id": f.facility_id,
                "name": f.name,
                "kind": f.kind,
                "accepts": list(f.accepts),
                "_lon": f.lon,
                "_lat": f.lat,
                "open": f.open,
                "close": f.close,
                "unload_min": f.unload_min,
                "daily_capacity_kg": f.daily_capacity_kg,
                "harmless": f.harmless,
                "_ticket_prefix": f.ticket_prefix,
                "_gcj02": f.gcj02,
            }
            for f in dd.FACILITIES
        ]
    )


def generate_county(seed: int = 2020, scale: float = 1.0) -> DemoCounty:
    """The whole county and its year, in memory. Deterministic per (seed, scale)."""
    if not 0 < scale <= 2:
        raise ValueError(f"scale must be in (0, 2], got {scale}")
    rng = np.random.default_rng(seed)
    communities = _communities(rng, scale)
    points = _points(rng, communities, scale)
    vehicles = _vehicles(rng, scale)
    points = _assign(points, vehicles)
    facilities = _facilities()
    records = _records(rng, points, scale)
    points["kg_per_visit"] = _kg_per_visit(points, records)
    points["bins"], points["service_min"] = _bins_service(points)
    tickets = _tickets(rng, records, points, vehicles, facilities)
    tickets = _with_outbound(tickets)
    return DemoCounty(
        seed=seed,
        scale=scale,
        depots=_depots(),
        facilities=facilities,
        vehicles=vehicles,
        communities=communities,
        points=points,
        records=records,
        tickets=tickets,
    )

