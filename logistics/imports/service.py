"""`import_paths`: read, validate everything, then write in dependency order."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from logistics.domain import PASS_ON_KINDS, BadInput, ImportRejected
from logistics.imports import bulk
from logistics.imports.errors import ErrorLog
from logistics.imports.reading import FILE_COLUMN, read_table
from logistics.imports.schema import KEYS, KIND_ZH, KINDS, SUFFIXES, kind_from_stem, parse_kind
from logistics.imports.validate import VALIDATORS
from logistics.persistence import repositories as repo
from logistics.persistence.bulk_repo import BulkRefused, savepoint
from logistics.persistence.db import Session
from logistics.persistence.models import (
    CollectionRecord,
    Community,
    Depot,
    Facility,
    Point,
    Ticket,
    Vehicle,
)

log = logging.getLogger(__name__)


@dataclass
class KindCount:
    inserted: int = 0
    updated: int = 0
    files: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.inserted + self.updated


@dataclass
class ImportReport:
    """What one import call wrote: per kind, rows inserted and rows updated (an id that
    was already in the database)."""

    counts: dict[str, KindCount] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        out = []
        for kind in KINDS:
            kc = self.counts.get(kind)
            if kc is None:
                continue
            names = ", ".join(Path(f).name for f in kc.files)
            out.append(
                f"{kind} {KIND_ZH[kind]}: {kc.inserted} inserted / 新增, "
                f"{kc.updated} updated / 更新 ({names})"
            )
        total = sum(kc.rows for kc in self.counts.values())
        out.append(
            f"imported / 已导入: {total} rows from {len(self.files)} file(s) / 个文件 "
            f"in {self.seconds:.1f} s"
        )
        return out


def _expand(paths: Sequence[Path], errors: ErrorLog) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found = sorted(
                f
                for f in p.iterdir()
                if f.is_file()
                and f.suffix.lower() in SUFFIXES
                and not f.name.startswith(("~$", "."))
            )
            if not found:
                errors.add(
                    str(p),
                    1,
                    FILE_COLUMN,
                    "no CSV/XLSX files in this folder / 文件夹中没有数据文件",
                    "",
                )
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            errors.add(str(p), 1, FILE_COLUMN, "no such file / 文件不存在", "")
    return out


def import_paths(session: Session, paths: Sequence[Path], kind: str | None = None) -> ImportReport:
    """Import CSV/XLSX/GeoJSON files and folders in one transaction (the caller's).

    The kind of each file comes from its name stem (see ``schema.KIND_ALIASES``) or
    from ``kind`` for all of them. Everything is validated before anything is written;
    any problem raises :class:`logistics.domain.ImportRejected` with every
    :class:`RowError`, and the session is left as it was. On success the rows are
    flushed (not committed) in dependency order and an :class:`ImportReport` returned.

    On PostgreSQL, records CSV files load in bulk (``imports.bulk``): COPY into a
    staging table, every distinct cell checked as the row-wise path checks it, month
    partitions filled. Whatever the bulk path cannot vouch for goes the row-wise way,
    which gives the errors; either way the same rows are written or none.
    """
    t0 = time.perf_counter()
    report = _import_bulk(session, paths, kind) if bulk.enabled(session) else None
    if report is None:
        report = _write(session, _checked(session, paths, kind))
    report.seconds = time.perf_counter() - t0
    return report


def _write(session: Session, checked: _Checked) -> ImportReport:
    """Write the checked rows in dependency order and count them."""
    merged = checked.merged
    report = ImportReport(files=checked.files)
    for k in KINDS:
        if k in merged:
            before = repo.count_rows(session, repo.KIND_TABLES[k][0])
            _WRITERS[k](session, merged[k])
            after = repo.count_rows(session, repo.KIND_TABLES[k][0])
            n = len(merged[k])
            report.counts[k] = KindCount(after - before, n - (after - before), checked.sources[k])
    session.flush()
    return report


class _RowWise(Exception):
    """The bulk path leaves these files to the row-wise path."""


def _import_bulk(session: Session, paths: Sequence[Path], kind: str | None) -> ImportReport | None:
    """Records CSV files through COPY, the other files as usual; None (nothing written)
    when the row-wise path must run, e.g. to report what is wrong."""
    try:
        checked = _checked(session, paths, kind, bulk_records=True)
    except (ImportRejected, BadInput):
        return None
    if not checked.deferred:
        return _write(session, checked)
    points = _known_ids(session, checked.merged, "points", "point_id")
    vehicles = _known_ids(session, checked.merged, "vehicles", "vehicle_id")
    try:
        with savepoint(session):
            staged = bulk.stage_records(session, checked.deferred, points, vehicles)
            if staged is None:
                raise _RowWise("a cell, row or file the bulk path does not vouch for")
            report = _write(session, checked)
            counts = bulk.load(session, staged)
    except (_RowWise, BulkRefused) as exc:
        log.info("records go the row-wise way: %s", exc)
        return None
    report.counts["records"] = KindCount(counts.inserted, counts.updated,
                                         checked.sources["records"])
    return report


def validate_paths(
    session: Session, paths: Sequence[Path], kind: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Read and check files exactly as :func:`import_paths` does, and write nothing.

    Returns, per kind, the rows as the importer would write them (cells stripped and
    parsed: ids as text, dates ``YYYY-MM-DD``, numbers as floats, ``_row`` = the
    spreadsheet row); raises :class:`logistics.domain.ImportRejected` like an import.
    """
    merged = _checked(session, paths, kind).merged
    return {
        k: [{str(c): _none(v) for c, v in rec.items() if c != "_file"}
            for rec in frame.to_dict("records")]
        for k, frame in merged.items()
    }


@dataclass
class _Checked:
    files: list[str]
    merged: dict[str, pd.DataFrame]
    sources: dict[str, list[str]]
    #: records CSV files left to the bulk path (not read here)
    deferred: list[Path] = field(default_factory=list)


def _checked(
    session: Session, paths: Sequence[Path], kind: str | None, *, bulk_records: bool = False
) -> _Checked:
    """Every file read and validated, duplicates and references checked; raises
    ImportRejected with every problem. With ``bulk_records``, records CSV files are
    only listed in ``deferred``."""
    forced: str | None = None
    if kind is not None:
        forced = parse_kind(kind)
        if forced is None:
            raise BadInput(f"unknown --kind {kind!r}; use one of {', '.join(KINDS)} / 未知类型")
    errors = ErrorLog([str(p) for p in paths])
    files = _expand(paths, errors)
    errors.set_file_order([str(f) for f in files])

    tables: dict[str, list[pd.DataFrame]] = {k: [] for k in KINDS}
    sources: dict[str, list[str]] = {k: [] for k in KINDS}
    deferred: list[Path] = []
    for path in files:
        name = str(path)
        k = forced or kind_from_stem(path.stem)
        if k is None:
            errors.add(
                name,
                1,
                FILE_COLUMN,
                f"cannot tell the kind from the file name; name it {'|'.join(KINDS)} "
                "or use --kind / 无法从文件名判断数据类型",
                path.stem,
            )
            continue
        if bulk_records and k == "records" and path.suffix.lower() == ".csv":
            deferred.append(path)
            sources[k].append(name)
            continue
        raw = read_table(path, k, name, errors)
        if raw is None:
            continue
        frame = VALIDATORS[k](raw, errors)
        frame["_file"] = name
        tables[k].append(frame)
        sources[k].append(name)
        log.info("read %s as %s: %d rows", name, k, len(frame))

    merged = {k: pd.concat(v, ignore_index=True) for k, v in tables.items() if v}
    for k, frame in merged.items():
        _check_duplicates(k, frame, errors)
    _check_references(session, merged, errors)
    _check_ticket_sources(session, merged, errors)
    if errors:
        raise errors.rejected()
    return _Checked([str(p) for p in files], merged, sources, deferred)


# ---------------------------------------------------------------- cross-row checks


def _check_duplicates(kind: str, frame: pd.DataFrame, errors: ErrorLog) -> None:
    keys = list(KEYS[kind])
    valid = frame[keys].notna().all(axis=1)
    for k in keys:
        if k != "vehicle_id":
            valid &= frame[k].astype(str) != ""
    sub = frame.loc[valid, [*keys, "_file", "_row"]]
    dup = sub.duplicated(keys, keep="first")
    if not dup.any():
        return
    first = sub.drop_duplicates(keys, keep="first")
    where = sub.loc[dup].merge(first, on=keys, suffixes=("", "_first"))
    column = keys[-1] if kind == "tickets" else keys[0] if len(keys) == 1 else "point_id"
    label = "+".join(keys)
    for d in where.to_dict("records"):
        value = "/".join(str(d[k]) for k in keys)
        errors.add(
            str(d["_file"]),
            int(d["_row"]),
            column,
            f"duplicate {label}, first at {d['_file_first']}:{d['_row_first']} / 编号重复",
            value,
        )


_REFS: list[tuple[str, str, str, str, str]] = [
    # (kind, column, referenced kind, referenced column, message)
    ("vehicles", "depot_id", "depots", "depot_id", "no such depot / 车场不存在"),
    ("points", "community_id", "communities", "community_id", "no such community / 社区不存在"),
    ("records", "point_id", "points", "point_id", "no such point / 点位不存在"),
    ("records", "vehicle_id", "vehicles", "vehicle_id", "no such vehicle / 车辆不存在"),
    ("tickets", "facility_id", "facilities", "facility_id", "no such facility / 设施不存在"),
    ("tickets", "source_facility_id", "facilities", "facility_id",
     "no such facility / 设施不存在"),
]

_MODELS: dict[str, Any] = {
    "depots": Depot,
    "facilities": Facility,
    "communities": Community,
    "vehicles": Vehicle,
    "points": Point,
}


def _known_ids(
    session: Session, merged: dict[str, pd.DataFrame], kind: str, column: str
) -> set[str]:
    """Ids of a kind in the database or in this import."""
    ids = repo.existing_ids(session, _MODELS[kind], column)
    if kind in merged:
        ids |= set(merged[kind][column].dropna().astype(str))
    return ids


def _check_references(session: Session, merged: dict[str, pd.DataFrame], errors: ErrorLog) -> None:
    known: dict[str, set[str]] = {}
    for kind, col, ref_kind, ref_col, message in _REFS:
        frame = merged.get(kind)
        if frame is None:
            continue
        if ref_kind not in known:
            known[ref_kind] = _known_ids(session, merged, ref_kind, ref_col)
        values = frame[col]
        given = values.notna() & (values.astype(str) != "")
        uniq = pd.unique(values[given])
        missing = {u for u in uniq if u not in known[ref_kind]}
        if not missing:
            continue
        bad = given & values.isin(missing)
        for file, part in frame.loc[bad].groupby("_file", sort=False):
            errors.add_mask(
                str(file),
                part["_row"].to_numpy(),
                part[col],
                np.ones(len(part), bool),
                col,
                f"{message} (not in the database nor in this import / 数据库和本次导入中都没有)",
            )


def _check_ticket_sources(
    session: Session, merged: dict[str, pd.DataFrame], errors: ErrorLog
) -> None:
    """A ticket's source_facility_id must be a transfer station or sorting centre (the
    facilities that send loads on); unknown ids are reported by the reference check."""
    frame = merged.get("tickets")
    if frame is None or frame["source_facility_id"].isna().all():
        return
    kinds = {f.facility_id: f.kind for f in repo.all_facilities(session)}
    if "facilities" in merged:
        kinds |= dict(zip(merged["facilities"]["facility_id"].astype(str),
                          merged["facilities"]["kind"].astype(str), strict=True))
    src = frame["source_facility_id"]
    bad = src.notna() & src.isin(list(kinds)) & ~src.map(kinds).isin(list(PASS_ON_KINDS))
    for file, part in frame.loc[bad].groupby("_file", sort=False):
        errors.add_mask(
            str(file), part["_row"].to_numpy(), part["source_facility_id"],
            np.ones(len(part), bool), "source_facility_id",
            "not a transfer station or sorting centre / 来源设施须为转运站或分拣中心",
        )


# ---------------------------------------------------------------- writers


def _none(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, float) and not np.isfinite(v):
        return None
    if isinstance(v, np.floating):
        return None if not np.isfinite(v) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def _rows(
    frame: pd.DataFrame, cols: Sequence[str], ints: Sequence[str] = ()
) -> list[dict[str, Any]]:
    out = []
    for rec in frame[list(cols)].itertuples(index=False, name=None):
        d = {c: _none(v) for c, v in zip(cols, rec, strict=True)}
        for c in ints:
            if d[c] is not None:
                d[c] = int(d[c])
        out.append(d)
    return out


def _write_depots(session: Session, f: pd.DataFrame) -> None:
    repo.upsert(session, Depot, _rows(f, ["depot_id", "name", "lon", "lat"]), ["depot_id"])


def _write_facilities(session: Session, f: pd.DataFrame) -> None:
    cols = [
        "facility_id",
        "name",
        "kind",
        "accepts",
        "lon",
        "lat",
        "open_min",
        "close_min",
        "unload_min",
        "daily_capacity_kg",
        "harmless",
    ]
    rows = _rows(f, cols, ints=["open_min", "close_min"])
    for r in rows:
        r["harmless"] = bool(r["harmless"])
    repo.upsert(session, Facility, rows, ["facility_id"])


def _write_communities(session: Session, f: pd.DataFrame) -> None:
    import datetime as dt

    repo.ensure_towns(session, f["town"].astype(str))
    rows = _rows(
        f, ["community_id", "name", "town", "households", "sorting_since"], ints=["households"]
    )
    for r in rows:
        if r["sorting_since"] is not None:
            r["sorting_since"] = dt.date.fromisoformat(r["sorting_since"])
    repo.upsert(session, Community, rows, ["community_id"])


def _write_vehicles(session: Session, f: pd.DataFrame) -> None:
    cols = [
        "vehicle_id",
        "plate",
        "depot_id",
        "shift_start_min",
        "shift_end_min",
        "break_min",
        "break_earliest_min",
        "break_latest_min",
        "cost_per_km",
        "fixed_cost",
    ]
    rows = _rows(
        f,
        cols,
        ints=["shift_start_min", "shift_end_min", "break_earliest_min", "break_latest_min"],
    )
    repo.upsert(session, Vehicle, rows, ["vehicle_id"])
    comps = [
        {"vehicle_id": vid, "category": cat, "capacity_kg": cap, "position": i}
        for vid, pairs in zip(f["vehicle_id"], f["compartments"], strict=True)
        for i, (cat, cap) in enumerate(pairs)
    ]
    repo.replace_compartments(session, list(f["vehicle_id"]), comps)


def _write_points(session: Session, f: pd.DataFrame) -> None:
    cols = [
        "point_id",
        "name",
        "community_id",
        "lon",
        "lat",
        "category",
        "kg_per_visit",
        "days_mask",
        "tw_start_min",
        "tw_end_min",
        "service_min",
        "bins",
    ]
    rows = _rows(f, cols, ints=["days_mask", "tw_start_min", "tw_end_min", "bins"])
    repo.upsert(session, Point, rows, ["point_id"])


def _write_records(session: Session, f: pd.DataFrame) -> None:
    frame = pd.DataFrame(
        {
            "date": f["date"].to_numpy(dtype=object),
            "point_id": f["point_id"].to_numpy(dtype=object),
            "vehicle_id": f["vehicle_id"].to_numpy(dtype=object),
            "kg": f["kg"].to_numpy(dtype=float),
        }
    )
    repo.bulk_upsert(
        session,
        CollectionRecord,
        frame,
        ["date", "point_id", "vehicle_id"],
        not_null_text=["vehicle_id"],
    )


def _write_tickets(session: Session, f: pd.DataFrame) -> None:
    times = f["time"].astype(str)
    if repo.dialect(session) == "sqlite":
        # SQLAlchemy's SQLite DateTime storage format, so ORM reads and comparisons agree
        times = times + ".000000"
    frame = pd.DataFrame(
        {
            "facility_id": f["facility_id"].to_numpy(dtype=object),
            "ticket_no": f["ticket_no"].to_numpy(dtype=object),
            "time": times.to_numpy(dtype=object),
            "category": f["category"].to_numpy(dtype=object),
            "net_kg": f["net_kg"].to_numpy(dtype=float),
            "gross_kg": f["gross_kg"].to_numpy(dtype=float),
            "tare_kg": f["tare_kg"].to_numpy(dtype=float),
            "vehicle_id": f["vehicle_id"].to_numpy(dtype=object),
            "source_facility_id": f["source_facility_id"].to_numpy(dtype=object),
        }
    )
    repo.bulk_upsert(
        session, Ticket, frame, ["facility_id", "ticket_no"], not_null_text=["vehicle_id"]
    )


_WRITERS = {
    "depots": _write_depots,
    "facilities": _write_facilities,
    "communities": _write_communities,
    "vehicles": _write_vehicles,
    "points": _write_points,
    "records": _write_records,
    "tickets": _write_tickets,
}
