"""Record rollups: after every kind of write (bulk and row-wise imports, re-imports,
updates and deletes of single records) the rollup tables hold exactly what the records
add up to, and every metric read from them equals the one read from the records alone,
for whole and cut months, per town and per category. Runs on both databases.

The data (tests/data/metrics) runs from 2020-03-01 to 2020-04-10; community C3 starts
separating on 2020-03-20, inside a month, which gates its kitchen point's due days.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from logistics.domain import ImportRejected
from logistics.imports import import_paths
from logistics.persistence.models import CollectionRecord, RecordRollup, TruckDayRollup
from logistics.reporting.metrics import compute_metrics

DATA = Path(__file__).parent / "data" / "metrics"
D = dt.date

#: whole months, cut months on both sides, one day, a month past the data, a year
PERIODS = [
    (D(2020, 3, 1), D(2020, 3, 31)),
    (D(2020, 3, 1), D(2020, 4, 30)),
    (D(2020, 3, 15), D(2020, 4, 5)),
    (D(2020, 3, 20), D(2020, 3, 20)),
    (D(2020, 2, 1), D(2020, 3, 19)),
    (D(2020, 1, 1), D(2020, 12, 31)),
]


@pytest.fixture
def county(session: Session) -> Session:
    import_paths(session, sorted(DATA.glob("*.csv")))
    return session


def _expected_rollups(session: Session) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """The rollups worked out here from every stored record."""
    months: dict[tuple[dt.date, str], list[Any]] = defaultdict(lambda: [0.0, 0, 0])
    trucks: dict[tuple[dt.date, str], list[Any]] = defaultdict(lambda: [0.0, 0])
    for r in session.scalars(select(CollectionRecord)):
        m = months[(r.date.replace(day=1), r.point_id)]
        m[0] += r.kg
        m[1] += 1
        m[2] |= 1 << (r.date.day - 1)
        t = trucks[(r.date, r.vehicle_id)]
        t[0] += r.kg
        t[1] += 1
    return ({k: (round(v[0], 6), v[1], v[2]) for k, v in months.items()},
            {k: (round(v[0], 6), v[1]) for k, v in trucks.items()})


def _stored_rollups(session: Session) -> tuple[dict[Any, Any], dict[Any, Any]]:
    session.flush()
    return (
        {(r.month, r.point_id): (round(r.kg, 6), r.records, r.day_bits)
         for r in session.scalars(select(RecordRollup))},
        {(r.date, r.vehicle_id): (round(r.kg, 6), r.records)
         for r in session.scalars(select(TruckDayRollup))},
    )


#: scopes: county, per town, one category, one town
SCOPES: list[dict[str, Any]] = [{}, {"by": "town"}, {"category": "kitchen"}, {"town": "甲镇"}]


def _assert_consistent(session: Session, periods: list[tuple[dt.date, dt.date]] = PERIODS[:3],
                       scopes: list[dict[str, Any]] = SCOPES[:2]) -> None:
    session.flush()
    session.expire_all()
    assert _stored_rollups(session) == _expected_rollups(session)
    for start, end in periods:
        for kw in scopes:
            fast = compute_metrics(session, start, end, **kw)  # type: ignore[arg-type]
            slow = compute_metrics(session, start, end, rollups=False,
                                   **kw)  # type: ignore[arg-type]
            diff = {k: (v, slow["groups"][i]["metrics"][k])
                    for i, g in enumerate(fast["groups"]) for k, v in g["metrics"].items()
                    if v != slow["groups"][i]["metrics"][k]}
            assert fast == slow, (start, end, kw, diff)


def _county_value(doc: dict[str, Any], key: str) -> Any:
    return doc["groups"][0]["metrics"][key]


def test_rollups_match_the_records_and_give_the_same_metrics(county: Session) -> None:
    stored, _trucks = _stored_rollups(county)
    assert len(stored) >= 6 * 2  # six points over two months
    _assert_consistent(county, PERIODS, SCOPES)
    # the figures are real ones, not two empty documents
    recs = pd.read_csv(DATA / "records.csv")
    march = recs[recs["date"].str.startswith("2020-03")]
    doc = compute_metrics(county, D(2020, 3, 1), D(2020, 3, 31))
    assert _county_value(doc, "tonnage_collected_t")["value"] == round(march["kg"].sum() / 1000, 3)
    assert _county_value(doc, "tonnage_collected_t")["inputs"]["records"] == len(march)
    cov = _county_value(doc, "collection_coverage")["inputs"]
    assert 0 < cov["served_visits"] <= cov["due_visits"]
    assert _county_value(doc, "t_per_truck_day")["value"] is not None


def test_a_reimported_file_counts_once(county: Session, tmp_path: Path) -> None:
    before = _stored_rollups(county)
    import_paths(county, [DATA / "records.csv"])
    assert _stored_rollups(county) == before
    _assert_consistent(county)


def test_changed_and_new_records_in_old_and_new_months(county: Session,
                                                       tmp_path: Path) -> None:
    """kg changed and rows added in months that hold rows (the upsert), a month of its
    own (a new partition on PostgreSQL), and a row with a new vehicle on a served day."""
    path = tmp_path / "records.csv"
    path.write_text(
        "date,point_id,kg,vehicle_id\n"
        "2020-03-01,P1,1.5,V1\n"     # kg changed
        "2020-03-31,P5,77,V3\n"      # a new day of an old month
        "2020-03-02,P1,10,V2\n"      # a second vehicle at a served point-day
        "2020-05-04,P2,20,V2\n"      # a new month
        "2020-05-31,P6,30,\n",
        encoding="utf-8")
    import_paths(county, [path])
    _assert_consistent(county)
    doc = compute_metrics(county, D(2020, 5, 1), D(2020, 5, 31))
    assert _county_value(doc, "tonnage_collected_t") == {"value": 0.05, "inputs": {"records": 2}}


def test_row_wise_import_keeps_rollups(county: Session, tmp_path: Path) -> None:
    """A blank line (which the row-wise reader skips) sends the file down the row-wise
    path on PostgreSQL too."""
    path = tmp_path / "records.csv"
    path.write_text('date,point_id,kg,vehicle_id\n2020-03-01,P1,"2.5",V1\n\n'
                    '2020-04-11,P3,9,V1\n2020-06-01,P3,4,V1\n', encoding="utf-8")
    import_paths(county, [path])
    _assert_consistent(county)


def test_new_months_in_bulk_roll_up_like_the_records(county: Session, tmp_path: Path) -> None:
    """Months with no rows yet (new partitions, rollups worked out by the loader on
    PostgreSQL), rows out of order, several trucks at one point on one day, a record
    without a truck, the first and the last day of a month."""
    path = tmp_path / "records.csv"
    path.write_text(
        "date,point_id,kg,vehicle_id\n"
        "2020-07-31,P2,5.25,V1\n"
        "2020-07-01,P1,1.5,V2\n"
        "2020-07-01,P1,2.5,V1\n"
        "2020-08-15,P1,3,\n"
        "2020-07-01,P2,0.1,V1\n"
        "2020-07-31,P2,0.2,V3\n"
        "2020-08-15,P6,7,V2\n",
        encoding="utf-8")
    import_paths(county, [path])
    if county.get_bind().dialect.name == "postgresql":  # the bulk path made the months
        assert county.scalar(text("SELECT count(*) FROM collection_records_default")) == 0
    _assert_consistent(county, [(D(2020, 7, 1), D(2020, 8, 31)), (D(2020, 7, 1), D(2020, 7, 31))])
    stored, trucks = _stored_rollups(county)
    assert stored[(D(2020, 7, 1), "P1")] == (4.0, 2, 1)
    assert stored[(D(2020, 7, 1), "P2")] == (5.55, 3, 1 | 1 << 30)
    assert trucks[(D(2020, 7, 1), "V1")] == (2.6, 2)


def test_deletes_and_updates_of_single_records(county: Session) -> None:
    """What the API and re-planning do: delete one record, a day's records, move one."""
    county.flush()
    one = county.scalars(select(CollectionRecord).where(
        CollectionRecord.date == D(2020, 3, 2)).order_by(CollectionRecord.id)).first()
    assert one is not None
    county.delete(one)
    county.flush()
    _assert_consistent(county)
    county.execute(delete(CollectionRecord).where(CollectionRecord.date == D(2020, 3, 3)))
    county.execute(update(CollectionRecord).where(CollectionRecord.date == D(2020, 3, 4))
                   .values(date=D(2020, 4, 30)))
    county.execute(update(CollectionRecord).where(CollectionRecord.date == D(2020, 3, 5))
                   .values(kg=CollectionRecord.kg + 1))
    _assert_consistent(county)
    county.execute(delete(CollectionRecord))
    assert _stored_rollups(county) == ({}, {})


def test_rejected_file_leaves_rollups(county: Session, tmp_path: Path) -> None:
    before = _stored_rollups(county)
    master = tmp_path / "in"
    master.mkdir()
    shutil.copy(DATA / "records.csv", master / "records.csv")
    with (master / "records.csv").open("a", encoding="utf-8") as fh:
        fh.write("2020-03-09,P1,-4,V1\n")
    with pytest.raises(ImportRejected):
        import_paths(county, [master / "records.csv"])
    assert _stored_rollups(county) == before
