"""The demo city: a prefecture city of several districts, generated from a seed.

:func:`generate_city` builds about 50,000 collection points in six districts
(市辖区), each with its own depots, facilities (an incinerator or transfer station,
a kitchen-waste plant, a recycling centre, a hazardous-waste site) and fleet sized
for its points, every point collected daily (日产日清). It returns the same tables
as the demo county (:class:`logistics.demo.generate.DemoCounty`) without a year of
records, so :mod:`logistics.demo.export` writes it as a bureau would, with the
same files and headers (docs/formats.md), and ``wasteroute import`` reads it.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from logistics.demo.export import write_files
from logistics.demo.generate import DemoCounty
from logistics.demo.run import DemoSummary, import_files, prepare_db, resolve_db
from logistics.persistence import demo_repo
from logistics.persistence.db import session_scope

#: the city seat (a Henan prefecture city)
CITY_LON, CITY_LAT = 113.65, 34.76
_KM_LAT = 111.0
_KM_LON = 111.0 * math.cos(math.radians(CITY_LAT))


@dataclass(frozen=True, slots=True)
class DistrictSpec:
    name: str
    #: centre, km east and north of the city seat
    dx_km: float
    dy_km: float
    #: share of the city's points
    weight: float
    radius_km: float


DISTRICTS: tuple[DistrictSpec, ...] = (
    DistrictSpec("中原区", -9.0, 1.0, 0.19, 6.0),
    DistrictSpec("二七区", -2.0, -8.0, 0.17, 6.0),
    DistrictSpec("金水区", 1.5, 5.5, 0.22, 6.5),
    DistrictSpec("管城回族区", 7.0, -3.0, 0.14, 5.5),
    DistrictSpec("惠济区", -3.0, 16.0, 0.10, 7.0),
    DistrictSpec("郑东新区", 15.0, 5.0, 0.18, 7.0),
)

#: category -> (share of points, kg per visit (log-mean), window start, end, service min)
STREAMS: dict[str, tuple[float, float, str, str, int]] = {
    "residual": (0.46, 140.0, "05:00", "17:00", 3),
    "kitchen": (0.30, 90.0, "05:30", "17:00", 3),
    "recyclable": (0.19, 40.0, "08:00", "16:30", 2),
    "hazardous": (0.05, 4.0, "09:00", "16:00", 2),
}

POINT_NAMES = {"residual": "其他垃圾收集点", "kitchen": "厨余垃圾投放点",
               "recyclable": "可回收物回收点", "hazardous": "有害垃圾投放点"}

#: vehicle type per category: (compartments, shift start, end, break min, break window, tare)
FLEET: dict[str, tuple[str, str, str, int, str, str]] = {
    "residual": ("residual:8000", "05:00", "17:00", 60, "11:00", "13:00"),
    "kitchen": ("kitchen:5000", "05:30", "17:30", 45, "11:00", "13:00"),
    "recyclable": ("recyclable:2500", "07:00", "17:00", 60, "11:30", "13:30"),
    "hazardous": ("hazardous:500", "08:00", "17:00", 60, "11:30", "13:30"),
}

#: facility kinds per district: (kind, accepts, open, close, unload min, harmless, name)
FACILITY_KINDS: tuple[tuple[str, tuple[str, ...], str, str, int, bool, str], ...] = (
    ("incinerator", ("residual",), "00:00", "24:00", 12, True, "生活垃圾焚烧发电厂"),
    ("transfer_station", ("residual",), "05:00", "21:00", 10, False, "垃圾转运站"),
    ("kitchen_plant", ("kitchen",), "05:00", "22:00", 15, True, "餐厨垃圾处理厂"),
    ("recycling_center", ("recyclable",), "07:00", "18:00", 15, True, "再生资源回收中心"),
    ("hazardous_site", ("hazardous",), "08:00", "17:30", 15, True, "有害垃圾暂存点"),
)


def _offset(lon: float, lat: float, dx: np.ndarray | float,
            dy: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    return (np.asarray(lon + np.asarray(dx) / _KM_LON, dtype=float),
            np.asarray(lat + np.asarray(dy) / _KM_LAT, dtype=float))


def _work_vehicles(kg: float, stops: int, cap: float, service_min: float) -> int:
    """Trucks a district needs for a stream: by load (two trips a day) and by stops
    (about 4.5 minutes a stop with driving, 8 hours of collecting), plus a reserve."""
    by_load = kg / (cap * 2.0)
    by_work = stops * (service_min + 1.6) / (8 * 60)
    return max(1, math.ceil(max(by_load, by_work) * 1.25))


#: the day of history the city's files carry (the demo plans the day after)
HISTORY_DAY = dt.date(2020, 12, 31)


def _last_day(rng: np.random.Generator, points: pd.DataFrame, vehicles: pd.DataFrame,
              facilities: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Records of the last day (each point about its kg per visit, on a truck of its
    district and stream) and one weighbridge ticket per truck at its district's
    facility for the stream."""
    district = points["point_id"].str[1]
    comp = vehicles["compartments"].str.split(":").str[0]
    vdistrict = vehicles["vehicle_id"].str[1]
    kg = np.maximum(1, np.rint(points["kg_per_visit"].to_numpy(dtype=float)
                               * rng.lognormal(0.0, 0.12, len(points)))).astype("int64")
    truck = np.empty(len(points), dtype=object)
    for key, idx in points.groupby([district, points["category"]]).groups.items():
        dnum, cat = cast(tuple[str, str], key)
        fleet = vehicles["vehicle_id"][(vdistrict == dnum) & (comp == cat)].to_numpy()
        truck[np.asarray(points.index.get_indexer(idx))] = fleet[
            np.arange(len(idx)) % max(1, len(fleet))]
    day = pd.Timestamp(HISTORY_DAY)
    records = pd.DataFrame({"date": pd.Series([day] * len(points)),
                            "point_id": points["point_id"], "kg": kg, "vehicle_id": truck})
    per_truck = records.groupby("vehicle_id")["kg"].sum()
    rows = []
    fac = facilities.assign(_d=facilities["facility_id"].str[1])
    for k, (vid, net) in enumerate(per_truck.items()):
        v = vehicles[vehicles["vehicle_id"] == vid].iloc[0]
        cat = str(v["compartments"]).split(":")[0]
        ok = fac[(fac["_d"] == str(vid)[1]) & fac["accepts"].map(lambda a, c=cat: c in a)]
        f = ok.iloc[0]
        tare = int(rng.integers(3000, 12000))
        rows.append({"ticket_no": f"{f['_ticket_prefix']}20201231{k + 1:04d}",
                     "facility_id": f["facility_id"],
                     "time": day + pd.Timedelta(hours=15, minutes=int(rng.integers(0, 120))),
                     "category": cat, "net_kg": int(net), "gross_kg": int(net) + tare,
                     "tare_kg": tare, "vehicle_id": vid, "source_facility_id": ""})
    return records, pd.DataFrame(rows)


def generate_city(seed: int = 2021, points: int = 50_000) -> DemoCounty:
    """The city (deterministic per seed and size); ``points`` collection points."""
    if points < len(DISTRICTS) * 8:
        raise ValueError(f"a city needs at least {len(DISTRICTS) * 8} points (got {points})")
    rng = np.random.default_rng(seed)
    weights = np.array([d.weight for d in DISTRICTS])
    per = np.floor(points * weights / weights.sum()).astype(int)
    per[: points - int(per.sum())] += 1
    depots, facilities, vehicles, communities, pts = [], [], [], [], []
    for di, (d, n) in enumerate(zip(DISTRICTS, per, strict=True)):
        dnum = di + 1
        clon, clat = _offset(CITY_LON, CITY_LAT, d.dx_km, d.dy_km)
        # communities: dense near the centre, thinner outwards
        n_comm = max(2, int(n) // 4)
        r = np.minimum(np.abs(rng.normal(0.0, d.radius_km / 2, n_comm)), d.radius_km * 1.4)
        ang = rng.uniform(0, 2 * np.pi, n_comm)
        comm_lon, comm_lat = _offset(float(clon), float(clat), r * np.cos(ang), r * np.sin(ang))
        hh = np.maximum(np.rint(rng.lognormal(np.log(900), 0.4, n_comm)), 50).astype(int)
        since = [dt.date(2020, 1, 1) + dt.timedelta(days=int(x))
                 for x in rng.integers(0, 365, n_comm)]
        for k in range(n_comm):
            communities.append({
                "community_id": f"C{dnum}{k + 1:04d}", "name": f"{d.name}第{k + 1}社区",
                "town": d.name, "households": int(hh[k]),
                "sorting_since": since[k] if rng.random() < 0.85 else None})
        # points: a category each, near their community
        cats = list(STREAMS)
        share = np.array([STREAMS[c][0] for c in cats])
        cat = rng.choice(len(cats), size=int(n), p=share / share.sum())
        home = rng.integers(0, n_comm, int(n))
        plon, plat = _offset(0.0, 0.0, rng.normal(0, 0.15, int(n)), rng.normal(0, 0.15, int(n)))
        plon, plat = comm_lon[home] + plon, comm_lat[home] + plat
        morning = rng.random(int(n)) < 0.2
        gcj = rng.random(int(n)) < 0.2
        kg_all: dict[str, float] = {}
        stops_all: dict[str, int] = {}
        for i in range(int(n)):
            c = cats[int(cat[i])]
            _, kg_mean, tw_s, tw_e, service = STREAMS[c]
            kg = float(max(1, round(rng.lognormal(math.log(kg_mean), 0.35))))
            if kg >= 100:
                kg = float(round(kg / 10) * 10)
            if morning[i] and c in ("residual", "kitchen"):
                tw_e = "10:00"
            kg_all[c] = kg_all.get(c, 0.0) + kg
            stops_all[c] = stops_all.get(c, 0) + 1
            pts.append({
                "point_id": f"P{dnum}{i + 1:05d}", "name": f"{d.name}{POINT_NAMES[c]}{i + 1}号",
                "community_id": f"C{dnum}{int(home[i]) + 1:04d}",
                "_lon": float(plon[i]), "_lat": float(plat[i]), "_gcj02": bool(gcj[i]),
                "category": c, "kg_per_visit": int(kg), "days": "daily",
                "tw_start": tw_s, "tw_end": tw_e, "service_min": service,
                "bins": int(min(40, max(1, math.ceil(kg / 60))))})
        # depots: two per district (three in the big ones), around the centre
        n_dep = 3 if n > 9000 else 2
        dep_ids = []
        for k in range(n_dep):
            a = 2 * np.pi * k / n_dep + rng.uniform(0, 0.5)
            lon, lat = _offset(float(clon), float(clat), 0.45 * d.radius_km * np.cos(a),
                               0.45 * d.radius_km * np.sin(a))
            dep_ids.append(f"D{dnum}{k + 1}")
            depots.append({"depot_id": dep_ids[-1], "name": f"{d.name}环卫车场{k + 1}",
                           "_lon": float(lon), "_lat": float(lat)})
        # facilities at the district's edge; capacity twice the district's load
        for k, (kind, accepts, op, cl, unload, harmless, fname) in enumerate(FACILITY_KINDS):
            a = rng.uniform(0, 2 * np.pi)
            rr = d.radius_km * rng.uniform(0.5, 0.9)
            lon, lat = _offset(float(clon), float(clat), rr * np.cos(a), rr * np.sin(a))
            load = sum(kg_all.get(c, 0.0) for c in accepts)
            facilities.append({
                "facility_id": f"F{dnum}{k + 1}", "name": f"{d.name}{fname}", "kind": kind,
                "accepts": list(accepts), "_lon": float(lon), "_lat": float(lat),
                "open": op, "close": cl, "unload_min": unload,
                "daily_capacity_kg": int(math.ceil(max(load, 1000.0) * 2 / 1000) * 1000),
                "harmless": harmless, "_gcj02": k == 3, "_ticket_prefix": f"T{dnum}{k + 1}"})
        # the fleet, shared over the district's depots
        vnum = 0
        for c, (comp, s0, s1, brk, b0, b1) in FLEET.items():
            cap = float(comp.split(":")[1])
            need = _work_vehicles(kg_all.get(c, 0.0), stops_all.get(c, 0), cap,
                                  float(STREAMS[c][4]))
            for _ in range(need):
                vnum += 1
                vehicles.append({
                    "vehicle_id": f"V{dnum}{vnum:03d}",
                    "plate": f"豫A·{dnum}{vnum:03d}{int(rng.integers(10, 99))}",
                    "depot_id": dep_ids[vnum % n_dep], "compartments": comp,
                    "shift_start": s0, "shift_end": s1, "break_min": brk,
                    "break_earliest": b0, "break_latest": b1})
    points_df = pd.DataFrame(pts)
    vehicles_df = pd.DataFrame(vehicles)
    records, tickets = _last_day(rng, points_df, vehicles_df, pd.DataFrame(facilities))
    return DemoCounty(seed=seed, scale=0.0, depots=pd.DataFrame(depots),
                      facilities=pd.DataFrame(facilities), vehicles=vehicles_df,
                      communities=pd.DataFrame(communities), points=points_df,
                      records=records, tickets=tickets)


def run_city_demo(out_dir: Path, seed: int = 2021, db_url: str | None = None,
                  points: int = 50_000) -> DemoSummary:
    """Generate the city, write its files to OUT/data/ and import them (the same steps
    and database choice as the county demo, :func:`logistics.demo.run.run_demo`)."""
    out_dir = Path(out_dir)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    city = generate_city(seed=seed, points=points)
    timings["generate"] = round(time.perf_counter() - t0, 2)
    t0 = time.perf_counter()
    files = write_files(city, out_dir / "data")
    timings["write files"] = round(time.perf_counter() - t0, 2)
    url, fresh = resolve_db(out_dir, db_url)
    t0 = time.perf_counter()
    prepare_db(url, fresh)
    lines = import_files(url, files)
    timings["import"] = round(time.perf_counter() - t0, 2)
    with session_scope(url) as session:
        counts = demo_repo.table_counts(session)
    return DemoSummary(out_dir=out_dir, data_dir=out_dir / "data", files=files, db_url=url,
                       seed=seed, scale=0.0, generated=city.counts(), db_counts=counts,
                       import_lines=lines, timings_s=timings)


__all__ = ["DISTRICTS", "generate_city", "run_city_demo"]
