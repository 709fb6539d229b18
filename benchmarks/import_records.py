"""Benchmark: import N collection records (default 1,000,000) through `import_paths`.

Generates a small master-data set (1 depot, 20 vehicles, P points) and a records.csv
of N rows (P points x N/P days, each with a vehicle), imports the master data, then
times the import of the records file (read + validate + write + commit) into the
database given by --db. A second pass re-imports the same file (every row an
update). Prints rows/s, wall time and peak memory (ru_maxrss).

On PostgreSQL the same run first times a bare COPY of the same file (psycopg
``COPY ... FROM STDIN`` into a table of the four typed columns with no key, index or
partition, committed), the floor any import of the file stands on.

    python benchmarks/import_records.py --db sqlite:///bench.db
    python benchmarks/import_records.py \
        --db postgresql+psycopg://root@127.0.0.1:5432/test   # uses schema bench_import
    python benchmarks/import_records.py -n 10000000 --points 27400 --data bench-data/rec10m \
        --db postgresql+psycopg://root@127.0.0.1:5432/test --passes 1 --keep

``--cli`` times the first pass as a user runs it: the whole ``wasteroute import FILE
--db URL`` command in a new interpreter (start-up, migration check, import, commit),
wall time and the command's own CPU time, beside the bare COPY of the same run.

``--data DIR`` keeps the generated files in DIR and reuses them on the next run (a
year of a 27,400-point city is ten million records, 276 MB); use a folder under
``bench-data/``, which git ignores. On PostgreSQL the schema
`bench_import` is created (dropped first if it exists) and dropped at the end (--keep
keeps it, e.g. to time `wasteroute metrics` on the rows).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from logistics.imports import import_paths
from logistics.persistence.db import get_engine, session_scope, upgrade

SCHEMA = "bench_import"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def make_files(folder: Path, n: int, n_points: int, seed: int = 1) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    master = folder / "master"
    master.mkdir()
    (master / "depots.csv").write_text("depot_id,name,lon,lat\nD1,Depot,113.98,34.72\n")
    vids = [f"V{i:02d}" for i in range(1, 21)]
    (master / "vehicles.csv").write_text(
        "vehicle_id,depot_id,compartments,shift_start,shift_end\n"
        + "".join(f"{v},D1,kitchen:5000,05:00,14:00\n" for v in vids)
    )
    pids = np.array([f"P{i:05d}" for i in range(n_points)], dtype=object)
    pd.DataFrame(
        {
            "point_id": pids,
            "name": pids,
            "lon": 113.98 + rng.uniform(-0.2, 0.2, n_points),
            "lat": 34.72 + rng.uniform(-0.2, 0.2, n_points),
            "category": "kitchen",
            "kg_per_visit": 100,
            "days": "daily",
        }
    ).to_csv(master / "points.csv", index=False)
    i = np.arange(n)
    start = dt.date(2020, 1, 1)
    days = pd.date_range(start, periods=int(i[-1] // n_points) + 1, freq="D").strftime("%Y-%m-%d")
    records = folder / "records.csv"
    pd.DataFrame(
        {
            "date": np.asarray(days, dtype=object)[i // n_points],
            "point_id": pids[i % n_points],
            "kg": np.round(rng.gamma(4.0, 30.0, n), 1),
            "vehicle_id": np.array(vids, dtype=object)[(i % n_points) % len(vids)],
        }
    ).to_csv(records, index=False)
    return master, records


def bare_copy(url: str, records: Path) -> None:
    """COPY the file into a table of the same four columns with nothing else, timed."""
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bare_copy")
        cur.execute("CREATE TABLE bare_copy (date date, point_id varchar(64), kg float8, "
                    "vehicle_id varchar(64))")
        conn.commit()
        pid = cur.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        cpu0 = _proc_cpu_s(pid)
        t = time.perf_counter()
        with records.open("rb") as fh, cur.copy(
            "COPY bare_copy FROM STDIN (FORMAT csv, HEADER true)"
        ) as copy:
            while chunk := fh.read(8 << 20):
                copy.write(chunk)
        n = cur.rowcount
        conn.commit()
        wall = time.perf_counter() - t
        cpu1 = _proc_cpu_s(pid)
        cpu = "n/a" if cpu0 is None or cpu1 is None else f"{cpu1 - cpu0:.1f} s"
        print(f"bare COPY (no key, index or partition): {n:,} rows in {wall:.1f} s "
              f"= {n / wall:,.0f} rows/s; CPU: database backend {cpu}")
        cur.execute("DROP TABLE bare_copy")
        conn.commit()


def _files(data: Path | None, tmp: Path, n: int, n_points: int) -> tuple[Path, Path]:
    folder = data if data is not None else tmp
    master, records = folder / "master", folder / "records.csv"
    if data is not None and records.exists() and master.exists():
        print(f"reusing {records} ({records.stat().st_size / 1e6:.1f} MB CSV)")
        return master, records
    folder.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    master, records = make_files(folder, n, n_points)
    size_mb = records.stat().st_size / 1e6
    print(f"generated {n:,} records ({size_mb:.1f} MB CSV) in {time.perf_counter() - t:.1f} s")
    return master, records


def _children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_cli(url: str, records: Path, n: int) -> None:
    """The whole `wasteroute import FILE --db URL` command, timed as a user runs it."""
    cpu0 = _children_cpu_s()
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "logistics.cli", "import", str(records),
                           "--db", url], capture_output=True, text=True)
    wall = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"wasteroute import failed ({done.returncode}): {done.stderr.strip()}")
    print(f"wasteroute import (whole command): {n:,} rows in {wall:.1f} s = "
          f"{n / wall:,.0f} rows/s; CPU: the command {_children_cpu_s() - cpu0:.1f} s; "
          f"it said: {' / '.join(done.stdout.strip().splitlines())}")


def run(url: str, n: int, n_points: int, passes: int, data: Path | None = None,
        cli: bool = False) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        master, records = _files(data, Path(tmp), n, n_points)
        upgrade(url)
        if url.startswith("postgresql"):
            bare_copy(url, records)
        with session_scope(url) as s:
            import_paths(s, [master])
        if cli:
            run_cli(url, records, n)
        for k in range(1 if cli else 0, passes):
            rss0 = _peak_mb()
            cpu0 = time.process_time()
            t = time.perf_counter()
            with session_scope(url) as s:
                backend = _Backend(s)
                report = import_paths(s, [records])
                t_flush = time.perf_counter() - t
                db_cpu = backend.cpu_s()
            wall = time.perf_counter() - t
            c = report.counts["records"]
            what = "insert" if k == 0 else "re-import (update)"
            print(
                f"pass {k + 1} {what}: {c.rows:,} rows ({c.inserted:,} inserted, "
                f"{c.updated:,} updated) in {wall:.1f} s (import {t_flush:.1f} s + commit "
                f"{wall - t_flush:.1f} s) = {c.rows / wall:,.0f} rows/s; "
                f"peak RSS {_peak_mb():,.0f} MB (before {rss0:,.0f} MB); CPU: this process "
                f"{time.process_time() - cpu0:.1f} s, database backend {db_cpu}"
            )


def _proc_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process on this machine, None if unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Backend:
    """CPU seconds of the session's PostgreSQL backend (read from /proc: the server
    runs on this machine), so that a run on a loaded machine still shows the work."""

    def __init__(self, session: Session) -> None:
        self.pid: int | None = None
        if session.get_bind().dialect.name == "postgresql":
            self.pid = int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())
        self.start = self._read()

    def _read(self) -> float | None:
        return None if self.pid is None else _proc_cpu_s(self.pid)

    def cpu_s(self) -> str:
        end = self._read()
        if end is None or self.start is None:
            return "n/a"
        return f"{end - self.start:.1f} s"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--db", default=None, help="SQLAlchemy URL (default: a temporary SQLite file)")
    ap.add_argument("-n", "--records", type=int, default=1_000_000)
    ap.add_argument("--points", type=int, default=2740, help="points (rows per day)")
    ap.add_argument("--passes", type=int, default=2, help="1 = insert only; 2 = then re-import")
    ap.add_argument("--keep", action="store_true", help="keep the PostgreSQL schema")
    ap.add_argument("--cli", action="store_true",
                    help="time the first pass as the whole `wasteroute import` command")
    ap.add_argument("--data", type=Path, default=None,
                    help="folder to keep the generated files in (reused when present)")
    args = ap.parse_args(argv)
    print(f"python {sys.version.split()[0]}, pandas {pd.__version__}")
    if args.db is None or args.db.startswith("sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            url = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
            print(f"database: {url}")
            run(url, args.records, args.points, args.passes, args.data, args.cli)
            get_engine(url).dispose()
        return 0
    base = args.db
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options=-csearch_path%3D{SCHEMA}"
    print(f"database: {url}")
    try:
        run(url, args.records, args.points, args.passes, args.data, args.cli)
    finally:
        get_engine(url).dispose()
        if not args.keep:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{SCHEMA}" CASCADE'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
