"""The demo run: generate the county, write its files, import them, plan the next day,
write route sheets and dashboards. Nothing here prints: each step returns what it made
and the CLI shows it.

Steps, each a function of its own:

1. :func:`run_demo` generates the county (:mod:`logistics.demo.generate`), writes its
   files as a bureau would (:mod:`logistics.demo.export`), chooses and migrates the
   database (:func:`resolve_db`, :func:`prepare_db`), imports the files through the
   importer of ``wasteroute import`` (:func:`import_files`) and reads back what the
   database holds;
2. :func:`run_next_day` plans the first day after the data year, writes its route
   sheets, makes the day "happen" and reconciles it, and writes the dashboards.

Each database step is its own transaction, as it would be when run as a command of its
own.

Database choice: ``--db`` beats ``WASTEROUTE_DB`` beats the demo's own file
``DIR/wasteroute.db``. The demo never touches the user's ``./wasteroute.db``. Its own
file is recreated on every run (so a run with another seed never mixes two counties);
a database named by the user is never deleted: the import is idempotent (same seed,
same rows), so re-running the demo on it updates rows instead of duplicating them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from logistics.demo.export import write_files
from logistics.demo.generate import generate_county
from logistics.demo.transfer import send_on_day
from logistics.imports import import_paths
from logistics.persistence import demo_repo
from logistics.persistence.db import get_engine, session_scope, upgrade
from logistics.planning.plan import Progress, plan_day
from logistics.planning.reconcile import make_reconcile_day, reconcile_day
from logistics.sheets import write_sheets

if TYPE_CHECKING:
    from logistics.planning.plan import SolveParams

log = logging.getLogger(__name__)

#: the demo's records cover 2020; the "next day" is the first day after them
DEMO_PLAN_DATE = dt.date(2021, 1, 1)
#: the route sheet formats the demo writes
SHEET_FORMATS = ("html", "gpx", "geojson", "xlsx", "pdf")

#: writes the static dashboards: dashboards.write_dashboards, passed in by the CLI
#: (logistics does not import dashboards)
DashboardWriter = Callable[..., Sequence[Path]]


@dataclass
class DemoSummary:
    """What generating and importing the county produced."""

    out_dir: Path
    data_dir: Path
    files: dict[str, Path]
    db_url: str
    seed: int
    scale: float
    #: rows written per file kind
    generated: dict[str, int]
    #: rows per table after the import
    db_counts: dict[str, int] = field(default_factory=dict)
    #: tonnage of the year from the database (records), and per category
    tonnage_t: float = 0.0
    tonnage_by_category_t: dict[str, float] = field(default_factory=dict)
    #: tonnage on weighbridge tickets, and the part delivered to harmless facilities
    delivered_t: float = 0.0
    delivered_harmless_t: float = 0.0
    import_lines: list[str] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)


@dataclass
class DayOutputs:
    """What the demo's next day produced."""

    plan_id: str | None = None
    plan_path: Path | None = None
    plan_summary: dict[str, Any] = field(default_factory=dict)
    unassigned_by_reason: dict[str, int] = field(default_factory=dict)
    sheet_paths: dict[str, list[Path]] = field(default_factory=dict)
    dashboard_paths: list[Path] = field(default_factory=list)
    #: reconciliation of the planned day against its (simulated) weighbridge tickets
    reconcile_counts: dict[str, int] = field(default_factory=dict)
    reconcile_path: Path | None = None
    timings_s: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------- database


def resolve_db(out_dir: Path, db_url: str | None) -> tuple[str, bool]:
    """The database URL, and whether it is the demo's own file (recreated every run):
    --db beats $WASTEROUTE_DB beats DIR/wasteroute.db (never the user's ./wasteroute.db)."""
    url = db_url or os.environ.get("WASTEROUTE_DB")
    if url:
        return url, False
    return f"sqlite:///{(out_dir / 'wasteroute.db').resolve()}", True


def prepare_db(url: str, fresh: bool) -> None:
    """Migrate the schema; when `fresh` (the demo's own SQLite file), start from an empty
    file so that a run with another seed never mixes two counties."""
    if fresh and url.startswith("sqlite:///"):
        get_engine(url).dispose()
        path = Path(url.removeprefix("sqlite:///"))
        for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            p.unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
    upgrade(url)


def import_files(url: str, files: dict[str, Path]) -> list[str]:
    """Import the files through the importer of `wasteroute import`, one transaction."""
    with session_scope(url) as session:
        report = import_paths(session, list(files.values()))
    return list(report.lines())


def _read_back(url: str, summary: DemoSummary) -> None:
    """Rows per table and the year's tonnage (t), as the database holds them."""
    with session_scope(url) as session:
        summary.db_counts = demo_repo.table_counts(session)
        tonnage = demo_repo.tonnage(session)
    by_cat = {c: round(kg / 1000.0, 1) for c, kg in tonnage.collected_kg_by_category.items()}
    summary.tonnage_by_category_t = dict(sorted(by_cat.items(), key=lambda kv: -kv[1]))
    summary.tonnage_t = round(sum(by_cat.values()), 1)
    summary.delivered_t = round(tonnage.delivered_kg / 1000.0, 1)
    summary.delivered_harmless_t = round(tonnage.delivered_harmless_kg / 1000.0, 1)


# --------------------------------------------------------------------------- the county


@contextmanager
def _timed(timings: dict[str, float], step: str, digits: int | None = 2) -> Iterator[None]:
    t0 = time.perf_counter()
    yield
    elapsed = time.perf_counter() - t0
    timings[step] = elapsed if digits is None else round(elapsed, digits)
    log.info("demo: %s took %.2f s", step, timings[step])


def run_demo(
    out_dir: Path = Path("wasteroute-demo"),
    seed: int = 2020,
    db_url: str | None = None,
    scale: float = 1.0,
) -> DemoSummary:
    """Generate the demo county, write its files to OUT/data/ and import them into the
    database. See the module docstring for the choice of database."""
    out_dir = Path(out_dir)
    data_dir = out_dir / "data"
    timings: dict[str, float] = {}
    with _timed(timings, "generate"):
        county = generate_county(seed=seed, scale=scale)
    with _timed(timings, "write files"):
        files = write_files(county, data_dir)
    url, fresh = resolve_db(out_dir, db_url)
    with _timed(timings, "migrate"):
        prepare_db(url, fresh)
    with _timed(timings, "import"):
        lines = import_files(url, files)
    summary = DemoSummary(
        out_dir=out_dir,
        data_dir=data_dir,
        files=files,
        db_url=url,
        seed=seed,
        scale=scale,
        generated=county.counts(),
        import_lines=lines,
        timings_s=timings,
    )
    with _timed(timings, "summary"):
        _read_back(url, summary)
    return summary


# --------------------------------------------------------------------------- the next day


def _write_json(path: Path, doc: Any) -> None:
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def plan_next_day(
    db_url: str,
    out_dir: Path,
    day: dt.date = DEMO_PLAN_DATE,
    time_limit_s: float = 110.0,
    params: SolveParams | None = None,
    progress: Progress | None = None,
) -> DayOutputs:
    """Plan ``day``, store it and write ``OUT/plan-DAY.json``."""
    outputs = DayOutputs()
    with _timed(outputs.timings_s, "plan", digits=None), session_scope(db_url) as session:
        result = plan_day(
            session, day, time_limit_s=time_limit_s, params=params, progress=progress
        )
    path = out_dir / f"plan-{day.isoformat()}.json"
    _write_json(path, result.document)
    plan = result.plan
    outputs.plan_id = result.plan_id
    outputs.plan_path = path
    outputs.plan_summary = plan.summary.to_json() if plan.summary else {}
    outputs.unassigned_by_reason = dict(Counter(u.reason for u in plan.unassigned))
    return outputs


def write_day_sheets(db_url: str, out_dir: Path, day: dt.date, outputs: DayOutputs) -> None:
    """Route sheets of the day: phone pages, GPX and the printable PDFs."""
    sheets_dir = out_dir / "sheets"
    with _timed(outputs.timings_s, "sheets", digits=None), session_scope(db_url) as session:
        for fmt in SHEET_FORMATS:
            outputs.sheet_paths[fmt] = write_sheets(session, day, fmt, sheets_dir / fmt)


def write_day_dashboards(
    db_url: str, out_dir: Path, day: dt.date, outputs: DayOutputs, writer: DashboardWriter
) -> None:
    """Static dashboards, written by ``writer``."""
    with _timed(outputs.timings_s, "dashboards", digits=None), session_scope(db_url) as session:
        outputs.dashboard_paths = list(writer(session, out_dir / "dashboards", date=day, lang="zh"))


def reconcile_demo_day(db_url: str, out_dir: Path, day: dt.date, outputs: DayOutputs) -> None:
    """Make the planned day "happen" (records and tickets that follow the plan, with a few
    deliberate discrepancies) and reconcile it: the dispatcher's evening check."""
    with _timed(outputs.timings_s, "reconcile", digits=None):
        with session_scope(db_url) as session:
            make_reconcile_day(session, day)
            send_on_day(session, day)
        with session_scope(db_url) as session:
            result = reconcile_day(session, day)
        path = out_dir / f"reconcile-{day.isoformat()}.json"
        _write_json(path, result)
    outputs.reconcile_counts = {k: v for k, v in result["counts"].items() if v}
    outputs.reconcile_path = path


def run_next_day(
    db_url: str,
    out_dir: Path,
    dashboards_writer: DashboardWriter,
    *,
    day: dt.date = DEMO_PLAN_DATE,
    time_limit_s: float = 110.0,
    params: SolveParams | None = None,
    progress: Progress | None = None,
    sheets: bool = True,
) -> DayOutputs:
    """Plan the demo's next day, write its sheets (unless ``sheets`` is off), reconcile
    it and write the dashboards."""
    outputs = plan_next_day(db_url, out_dir, day, time_limit_s, params=params, progress=progress)
    if sheets:
        write_day_sheets(db_url, out_dir, day, outputs)
    reconcile_demo_day(db_url, out_dir, day, outputs)
    write_day_dashboards(db_url, out_dir, day, outputs, dashboards_writer)
    return outputs


__all__ = [
    "DEMO_PLAN_DATE",
    "DayOutputs",
    "DemoSummary",
    "import_files",
    "plan_next_day",
    "prepare_db",
    "reconcile_demo_day",
    "resolve_db",
    "run_demo",
    "run_next_day",
    "write_day_dashboards",
    "write_day_sheets",
]
