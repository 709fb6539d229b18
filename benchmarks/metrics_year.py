"""Benchmark: `wasteroute metrics --json` over a year of N collection records (default
10,000,000) on PostgreSQL, the whole command timed as a user runs it.

Builds schema `bench_metrics` (dropped first; --keep keeps it afterwards): the migrated
schema, 40 towns of communities, P points (default 50,000; four collection days a week,
a fifth of them kitchen waste of communities that separate from mid-year), a transfer
station, an incinerator and a kitchen plant, the year's records made in SQL (month
partitions as the importer makes them), and tickets: every point-day's waste unloaded
at the plant or, for a third of the residual waste, at the transfer station, which
sends it on the same evening. The records go in through the table's triggers, which
keep the rollups the metrics read (migration 0008). Then runs the command three times
and prints the wall times (the first on a cold cache) with the command's own CPU time
and the load average, and the document's figures; ``--by-town`` also times ``--by town``
once.

    python benchmarks/metrics_year.py --db postgresql+psycopg://root@127.0.0.1:5432/test
    python benchmarks/metrics_year.py --db URL --reuse --keep --by-town   # time it again
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

from sqlalchemy import create_engine, text

from logistics.persistence.db import get_engine, upgrade

SCHEMA = "bench_metrics"


def _exec(url: str, *sql: str) -> None:
    with get_engine(url).begin() as conn:
        for s in sql:
            conn.execute(text(s))


def build(url: str, n_points: int, n_records: int) -> float:
    """Fill the schema; returns the seconds it took."""
    t0 = time.perf_counter()
    days = 366
    # four days a week give 366 * 4/7 visits per point and year: scale the points' share
    per_point = days * 4 / 7 * 0.85  # kitchen points start with their community
    n_points = max(1, min(n_points, round(n_records / per_point)))
    _exec(url,
          "INSERT INTO towns (name) SELECT 'T' || g FROM generate_series(1, 40) g",
          "INSERT INTO communities (community_id, name, town, households, sorting_since) "
          "SELECT 'C' || g, 'c' || g, 'T' || (g % 40 + 1), 300, "
          "CASE WHEN g % 2 = 0 THEN DATE '2020-07-01' END FROM generate_series(1, 2000) g",
          f"INSERT INTO points (point_id, name, community_id, lon, lat, category, "
          f"kg_per_visit, days_mask, tw_start_min, tw_end_min, service_min) "
          f"SELECT 'P' || g, 'p' || g, 'C' || (g % 2000 + 1), 113.9 + (g % 997) * 1e-4, "
          f"34.7 + (g % 991) * 1e-4, CASE WHEN g % 5 = 0 THEN 'kitchen' ELSE 'residual' END, "
          f"100, (ARRAY[15, 23, 27, 29, 30, 45, 51, 53, 54, 57, 58, 60, 75, 77, 78, 83, 85, "
          f"86, 89, 90, 92, 99, 101, 102, 105, 106, 108, 113, 114, 116, 120])[g % 31 + 1], "
          f"0, 1440, 3 FROM generate_series(1, {n_points}) g",
          "INSERT INTO depots (depot_id, name, lon, lat) VALUES ('D1', 'd', 113.98, 34.72)",
          "INSERT INTO facilities (facility_id, name, kind, accepts, lon, lat, open_min, "
          "close_min, unload_min, harmless) VALUES "
          "('T1', 't', 'transfer_station', '[\"residual\"]', 113.9, 34.73, 0, 1440, 10, false),"
          "('I1', 'i', 'incinerator', '[\"residual\"]', 114.05, 34.77, 0, 1440, 10, true),"
          "('K1', 'k', 'kitchen_plant', '[\"kitchen\"]', 114.03, 34.7, 0, 1440, 10, true)")
    # month partitions, as the importer creates them
    for m in range(1, 13):
        lo = f"2020-{m:02d}-01"
        hi = f"2021-{1:02d}-01" if m == 12 else f"2020-{m + 1:02d}-01"
        _exec(url, f"CREATE TABLE collection_records_2020_{m:02d} PARTITION OF "
                   f"collection_records FOR VALUES FROM ('{lo}') TO ('{hi}')")
    # the masks above have four bits: a point is collected four days a week; one vehicle
    # per 100 points; kitchen waste only once the community separates
    _exec(url,
          "INSERT INTO collection_records (date, point_id, vehicle_id, kg) "
          "SELECT d::date, p.point_id, 'V' || (substr(p.point_id, 2)::int % 500), "
          "50 + (hashtext(p.point_id || d::text) & 127) FROM points p "
          "CROSS JOIN generate_series(DATE '2020-01-01', DATE '2020-12-31', "
          "INTERVAL '1 day') d LEFT JOIN communities c ON c.community_id = p.community_id "
          "WHERE (p.days_mask & (1 << (extract(isodow FROM d)::int - 1))) <> 0 "
          "AND (p.category <> 'kitchen' OR (c.sorting_since IS NOT NULL "
          "AND c.sorting_since <= d::date))",
          "INSERT INTO tickets (facility_id, ticket_no, time, category, net_kg, vehicle_id) "
          "SELECT CASE WHEN p.category = 'kitchen' THEN 'K1' WHEN substr(r.vehicle_id, 2)::int "
          "% 3 = 0 THEN 'T1' ELSE 'I1' END, r.vehicle_id || '-' || p.category || '-' || r.date, "
          "r.date + TIME '11:00', p.category, sum(r.kg), r.vehicle_id "
          "FROM collection_records r JOIN points p ON p.point_id = r.point_id "
          "GROUP BY r.vehicle_id, r.date, p.category",
          "INSERT INTO tickets (facility_id, ticket_no, time, category, net_kg, vehicle_id, "
          "source_facility_id) SELECT 'I1', 'ZY-' || time::date, time::date + TIME '18:00', "
          "'residual', sum(net_kg), 'TR', 'T1' FROM tickets WHERE facility_id = 'T1' "
          "GROUP BY time::date",
          "ANALYZE")
    return time.perf_counter() - t0


def _children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_metrics(url: str, *extra: str) -> tuple[float, float, dict[str, object]]:
    """Wall time, CPU time of the command's process, and the document."""
    env = dict(os.environ, WASTEROUTE_DB=url)
    cpu0 = _children_cpu_s()
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "logistics.cli", "metrics", "--from", "2020-01-01",
         "--to", "2020-12-31", "--json", *extra], capture_output=True, text=True, env=env,
        check=True)
    return time.perf_counter() - t0, _children_cpu_s() - cpu0, json.loads(out.stdout)


def _load() -> str:
    """The 1-minute load average (the machine is shared: timings need it beside them)."""
    with open("/proc/loadavg", encoding="ascii") as f:
        return f.read().split()[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True, help="a PostgreSQL URL (schema bench_metrics)")
    ap.add_argument("--records", type=int, default=10_000_000)
    ap.add_argument("--points", type=int, default=50_000)
    ap.add_argument("--keep", action="store_true", help="keep the schema afterwards")
    ap.add_argument("--reuse", action="store_true", help="time an existing schema")
    ap.add_argument("--by-town", action="store_true", help="also time --by town once")
    a = ap.parse_args()
    admin = create_engine(a.db)
    url = f"{a.db}{'&' if '?' in a.db else '?'}options=-csearch_path%3D{SCHEMA}"
    if not a.reuse:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
        upgrade(url)
        build_s = build(url, a.points, a.records)
        print(f"built in {build_s:.0f} s")
    with get_engine(url).connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM collection_records")).scalar_one()
        n_t = conn.execute(text("SELECT count(*) FROM tickets")).scalar_one()
        n_p = conn.execute(text("SELECT count(*) FROM points")).scalar_one()
    print(f"records {n:,}, tickets {n_t:,}, points {n_p:,}")
    runs = []
    doc: dict[str, object] = {}
    for _ in range(3):
        load = _load()
        wall, cpu, doc = run_metrics(url)
        runs.append(f"{wall:.2f} (CPU {cpu:.2f}, load {load})")
    m = doc["groups"][0]["metrics"]  # type: ignore[index]
    print("wasteroute metrics --json (whole command), wall s (the command's own CPU s):",
          ", ".join(runs))
    if a.by_town:
        load = _load()
        wall, cpu, town_doc = run_metrics(url, "--by", "town")
        print(f"wasteroute metrics --json --by town: {wall:.2f} s wall (CPU {cpu:.2f}, "
              f"load {load}), {len(town_doc['groups'])} groups")  # type: ignore[arg-type]
    for k in ("tonnage_collected_t", "harmless_disposal_rate", "collection_coverage",
              "in_transit_t", "t_per_truck_day"):
        print(f"  {k}: {m[k]['value']} {m[k]['inputs']}")  # type: ignore[index]
    if not a.keep:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))


if __name__ == "__main__":
    main()
