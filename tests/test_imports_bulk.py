"""Records in bulk: on PostgreSQL records CSV files go through COPY and month partitions;
the rows stored and the errors given are those of the row-wise path (which SQLite
runs), cell for cell. Every test runs on both databases."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from logistics.domain import ImportRejected
from logistics.imports import import_paths, validate_paths
from logistics.persistence import bulk_repo
from logistics.persistence.db import alembic_config, get_engine
from logistics.persistence.models import CollectionRecord
from tests.factories import GOOD, snapshot

HEADER = "date,point_id,kg,vehicle_id\n"
MASTER = ("depots.csv", "communities.csv", "vehicles.csv", "points.csv")


def _master(tmp_path: Path) -> Path:
    folder = tmp_path / "master"
    folder.mkdir()
    for name in MASTER:
        shutil.copy(GOOD / name, folder / name)
    return folder


def _records(tmp_path: Path, body: str, name: str = "records.csv",
             header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_text(header + body, encoding="utf-8")
    return path


def _stored(session: Session) -> dict[tuple[str, str, str], float]:
    return {(r.date.isoformat(), r.point_id, r.vehicle_id): r.kg
            for r in session.scalars(select(CollectionRecord))}


def _expected(session: Session, path: Path) -> dict[tuple[str, str, str], float]:
    """What the row-wise path makes of a records file (its own parse, nothing written)."""
    rows = validate_paths(session, [path])["records"]
    return {(r["date"], r["point_id"], r["vehicle_id"]): r["kg"] for r in rows}


def _is_pg(session: Session) -> bool:
    return bulk_repo.partitioned(session)


#: cells the row-wise reader cleans or parses: surrounding spaces (also the ideographic
#: space), YYYY/M/D dates, exponents, signs, leading dots, Chinese and hostile ids
MESSY = (
    "2020-01-31,P1,230,V1\n"
    " 2020/2/1 ,P2,1e2,V1\n"
    "2020.02.03,\u3000P3\u3000,+3.5,\n"
    "2020-02-04,P1,.5, V2 \n"
    "2020-02-04,P2,007,V2\n"
    "2021-12-31,P3,0,V1\n"
)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig crlf", "gb18030"])
def test_messy_cells_stored_as_the_row_wise_path_reads_them(
    session: Session, tmp_path: Path, encoding: str
) -> None:
    import_paths(session, [_master(tmp_path)])
    session.commit()
    text_ = (HEADER + MESSY).replace("P3", "点位三" if encoding == "gb18030" else "P3")
    if "crlf" in encoding:
        text_ = text_.replace("\n", "\r\n")
    if encoding == "gb18030":
        (tmp_path / "master" / "points.csv").write_text(
            (GOOD / "points.csv").read_text(encoding="utf-8").replace("P3,", "点位三,"),
            encoding="utf-8")
        import_paths(session, [tmp_path / "master"])
        session.commit()
    path = tmp_path / "records.csv"
    path.write_bytes(text_.encode(encoding.split()[0]))
    expected = _expected(session, path)
    report = import_paths(session, [path])
    session.commit()
    assert (report.counts["records"].inserted, report.counts["records"].updated) == (6, 0)
    assert _stored(session) == expected
    assert expected[("2020-02-01", "P2", "V1")] == 100.0
    p3 = "点位三" if encoding == "gb18030" else "P3"
    assert expected[("2020-02-03", p3, "")] == 3.5
    if _is_pg(session):
        parts = bulk_repo.partitions_of_records(session)
        assert {"collection_records_2020_01", "collection_records_2020_02",
                "collection_records_2021_12", "collection_records_default"} <= set(parts)
        # the bulk path filled the month partitions; nothing went to the default one
        n_default = session.scalar(text("SELECT count(*) FROM collection_records_default"))
        assert n_default == 0
        assert bulk_repo.stage_names(session) == []


def test_hostile_ids_are_ordinary_data(session: Session, tmp_path: Path) -> None:
    hostile = ["=HYPERLINK('x')", "<script>alert(1)</script>", "P\u200b1", "点位 一",
               "@SUM(A1)", "-1+2", "\u202eP"]
    master = _master(tmp_path)
    (master / "points.csv").write_text(
        "point_id,name,lon,lat,category,kg_per_visit,days\n"
        + "".join(f"{p},n,113.99,34.73,kitchen,10,daily\n" for p in hostile),
        encoding="utf-8")
    import_paths(session, [master])
    session.commit()
    path = _records(tmp_path, "".join(f"2020-03-0{i + 1},{p},{i},V1\n"
                                      for i, p in enumerate(hostile)))
    expected = _expected(session, path)
    import_paths(session, [path])
    session.commit()
    assert _stored(session) == expected
    assert {k[1] for k in expected} == set(hostile)


def test_quoted_unsorted_rows_with_an_extra_column(session: Session, tmp_path: Path) -> None:
    """Quoted cells, a column the import ignores (with commas inside quotes), rows out of
    key order across months and ids of several lengths: stored as the row-wise path
    reads them, each record once with its own id, in the month partitions."""
    master = _master(tmp_path)
    (master / "points.csv").write_text(
        "point_id,name,lon,lat,category,kg_per_visit,days\n"
        + "".join(f"{p},n,113.99,34.73,kitchen,10,daily\n" for p in ("P1", "P22", "点位三")),
        encoding="utf-8")
    import_paths(session, [master])
    session.commit()
    path = _records(tmp_path, "".join([
        '2020-11-02,P22,"1.5",V1,"a, b"\n',
        '2020-10-31,"点位三",2,,x\n',
        "2020-11-01,P1,3,V2,\n",
        '2020-10-31,P1,4,"V1",y\n',
        '"2020/11/1",P22,5,V1,"c ""d"""\n',
        "2020-11-01,P1,6,V1,\n",
    ]), header="date,point_id,kg,vehicle_id,note\n")
    expected = _expected(session, path)
    report = import_paths(session, [path])
    session.commit()
    assert report.counts["records"].inserted == 6
    assert _stored(session) == expected
    assert expected[("2020-11-01", "P22", "V1")] == 5.0
    ids = list(session.scalars(select(CollectionRecord.id)))
    assert len(set(ids)) == 6
    if _is_pg(session):
        n_default = session.scalar(text("SELECT count(*) FROM collection_records_default"))
        assert n_default == 0
        assert {"collection_records_2020_10", "collection_records_2020_11"} <= set(
            bulk_repo.partitions_of_records(session))


BAD_CASES = {
    # body, (row, column) of the first error
    "bad date": ("2020-01-05,P1,1,V1\n2020-02-30,P2,1,V1\n", (3, "date")),
    "negative kg": ("2020-01-05,P1,1,V1\n2020-01-05,P2,-4,V1\n", (3, "kg")),
    "kg not a number": ("2020-01-05,P1,1,V1\n2020-01-06,P2,1.2.3,V1\n", (3, "kg")),
    "kg infinite": ("2020-01-05,P1,inf,V1\n", (2, "kg")),
    "no such point": ("2020-01-05,P1,1,V1\n2020-01-05,P9,1,V1\n", (3, "point_id")),
    "no such vehicle": ("2020-01-05,P1,1,V9\n", (2, "vehicle_id")),
    "missing kg": ("2020-01-05,P1,,V1\n", (2, "kg")),
    "key twice": ("2020-01-05,P1,1,V1\n2020/1/5,P1,2,V1\n", (3, "point_id")),
    "id too long": (f"2020-01-05,{'P' * 65},1,V1\n", (2, "point_id")),
    "extra cells": ("2020-01-05,P1,1,V1,x\n", (2, "E (extra)")),
    "quoted formula": ('2020-01-05,P1,"=1+2",V1\n', (2, "kg")),
    "copy end marker": ("2020-01-05,P1,1,V1\n\\.\n2020-01-06,P1,x,V1\n", (3, "date")),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_one_bad_row_rejects_the_file_as_row_wise(
    session: Session, db_url: str, tmp_path: Path, case: str
) -> None:
    import_paths(session, [_master(tmp_path)])
    session.commit()
    before = snapshot(db_url)
    body, (row, column) = BAD_CASES[case]
    path = _records(tmp_path, body)
    with pytest.raises(ImportRejected) as bulk_err:
        import_paths(session, [path])
    session.rollback()
    with pytest.raises(ImportRejected) as row_err:
        validate_paths(session, [path])
    first = bulk_err.value.errors[0]
    assert (first.file, first.row, first.column) == (str(path), row, column)
    assert [str(e) for e in bulk_err.value.errors] == [str(e) for e in row_err.value.errors]
    assert snapshot(db_url) == before


def test_bad_row_among_many_names_its_row_and_writes_nothing(
    session: Session, db_url: str, tmp_path: Path
) -> None:
    import_paths(session, [_master(tmp_path)])
    session.commit()
    before = snapshot(db_url)
    days = [dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(400)]
    lines = [f"{d},P{1 + i % 3},{i % 50}.5,V{1 + i % 2}\n" for i, d in enumerate(days)]
    lines[321] = f"{days[321]},P2,12 kg,V1\n"
    path = _records(tmp_path, "".join(lines))
    with pytest.raises(ImportRejected) as err:
        import_paths(session, [path])
    session.rollback()
    assert [(e.row, e.column, e.value) for e in err.value.errors] == [(323, "kg", "12 kg")]
    assert snapshot(db_url) == before
    if _is_pg(session):
        assert bulk_repo.stage_names(session) == []


def test_reimport_updates_and_months_held_by_default_partition(
    session: Session, tmp_path: Path
) -> None:
    """A record added one by one (API) lands in the default partition; a later bulk
    import of its month moves it into the month's partition and upserts there."""
    import_paths(session, [_master(tmp_path)])
    session.add(CollectionRecord(date=dt.date(2020, 5, 1), point_id="P1", vehicle_id="V1",
                                 kg=1.0))
    session.commit()
    first = _records(tmp_path, "2020-05-01,P1,2,V1\n2020-05-02,P2,3,V1\n2020-06-01,P3,4,\n",
                     "records_a.csv")
    report = import_paths(session, [first])
    session.commit()
    assert (report.counts["records"].inserted, report.counts["records"].updated) == (2, 1)
    second = _records(tmp_path, "2020-05-02,P2,30,V1\n2020-06-01,P3,4,\n2020-06-02,P3,5,V2\n",
                      "records_b.csv")
    report = import_paths(session, [second])
    session.commit()
    assert (report.counts["records"].inserted, report.counts["records"].updated) == (1, 2)
    assert _stored(session) == {
        ("2020-05-01", "P1", "V1"): 2.0, ("2020-05-02", "P2", "V1"): 30.0,
        ("2020-06-01", "P3", ""): 4.0, ("2020-06-02", "P3", "V2"): 5.0,
    }
    ids = list(session.scalars(select(CollectionRecord.id)))
    assert len(set(ids)) == 4
    assert session.get(CollectionRecord, ids[0]) is not None
    if _is_pg(session):
        n_default = session.scalar(text("SELECT count(*) FROM collection_records_default"))
        assert n_default == 0
        assert {"collection_records_2020_05", "collection_records_2020_06"} <= set(
            bulk_repo.partitions_of_records(session))


def test_two_files_one_import_and_a_duplicate_across_them(
    session: Session, db_url: str, tmp_path: Path
) -> None:
    import_paths(session, [_master(tmp_path)])
    session.commit()
    a = _records(tmp_path, "2020-07-01,P1,1,V1\n", "records_a.csv")
    b = _records(tmp_path, "V1,2020-07-02,P2,2\n", "records_b.csv",
                 header="车辆编号,日期,点位编号,公斤\n")
    report = import_paths(session, [a, b])
    session.commit()
    assert report.counts["records"].inserted == 2
    assert _stored(session) == {("2020-07-01", "P1", "V1"): 1.0, ("2020-07-02", "P2", "V1"): 2.0}
    before = snapshot(db_url)
    c = _records(tmp_path, "2020-08-01,P1,1,V1\n", "records_c.csv")
    d = _records(tmp_path, "2020-08-01,P1,5,V1\n", "records_d.csv")
    with pytest.raises(ImportRejected) as err:
        import_paths(session, [c, d])
    session.rollback()
    assert [(Path(e.file).name, e.row, e.column) for e in err.value.errors] == [
        ("records_d.csv", 2, "point_id")]
    assert snapshot(db_url) == before


def _plain(rows: Any) -> list[tuple[Any, ...]]:
    """Rows with dates as text (SQLite returns text from a raw query)."""
    return [(r[0], str(r[1]), *r[2:]) for r in rows]


def test_migration_0007_keeps_records(db_url: str) -> None:
    """Rows written before the partitioning survive it (ids too), and its downgrade."""
    cfg = alembic_config(db_url)
    command.downgrade(cfg, "0006")
    engine = get_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO depots (depot_id, name, lon, lat) VALUES ('D', 'd', 1, 1)"))
        conn.execute(text(
            "INSERT INTO points (point_id, name, lon, lat, category, kg_per_visit, days_mask, "
            "tw_start_min, tw_end_min, service_min) "
            "VALUES ('P1', 'p', 1, 1, 'kitchen', 1, 127, 0, 1440, 3)"))
        conn.execute(text(
            "INSERT INTO collection_records (id, date, point_id, vehicle_id, kg) VALUES "
            "(7, '2019-12-31', 'P1', '', 1.5), (8, '2020-01-01', 'P1', 'V', 2.5)"))
    rows = [(7, "2019-12-31", "P1", "", 1.5), (8, "2020-01-01", "P1", "V", 2.5)]
    query = text("SELECT id, date, point_id, vehicle_id, kg FROM collection_records ORDER BY id")
    command.upgrade(cfg, "head")
    with engine.connect() as conn:
        assert _plain(conn.execute(query)) == rows
        if engine.dialect.name == "postgresql":
            parts = {r[0] for r in conn.execute(text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'collection_records'::regclass"))}
            assert parts == {"collection_records_2019_12", "collection_records_2020_01",
                             "collection_records_default"}
    with Session(engine) as s:
        new = CollectionRecord(date=dt.date(2020, 1, 2), point_id="P1", vehicle_id="", kg=3.0)
        s.add(new)
        s.commit()
        assert new.id not in (7, 8)
        s.expunge_all()
        got = s.get(CollectionRecord, new.id)
        assert got is not None and (got.date, got.kg) == (dt.date(2020, 1, 2), 3.0)
        assert s.scalar(select(func.count()).select_from(CollectionRecord)) == 3
    command.downgrade(cfg, "0006")
    with engine.connect() as conn:
        assert [r for r in _plain(conn.execute(query)) if r[0] in (7, 8)] == rows
    command.upgrade(cfg, "head")


def test_duplicate_in_a_month_that_holds_rows_is_rejected(
    session: Session, db_url: str, tmp_path: Path
) -> None:
    """The upsert of a month that already holds rows refuses a key given twice, as the
    row-wise check does."""
    import_paths(session, [_master(tmp_path)])
    import_paths(session, [_records(tmp_path, "2020-09-01,P1,1,V1\n", "records_a.csv")])
    session.commit()
    before = snapshot(db_url)
    again = _records(tmp_path, "2020-09-01,P1,2,V1\n2020-09-02,P2,2,V1\n2020-09-01,P1,3,V1\n",
                     "records_b.csv")
    with pytest.raises(ImportRejected) as err:
        import_paths(session, [again])
    session.rollback()
    assert [(e.row, e.column, e.value) for e in err.value.errors] == [(4, "point_id",
                                                                       "2020-09-01/P1/V1")]
    assert snapshot(db_url) == before
