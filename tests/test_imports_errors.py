"""Bad files through the CLI: exit code 2, a FILE:ROW: COLUMN: line, and the database
exactly as it was (every row of every table compared, with data already in it)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.factories import BAD, GOOD, cli_import, counts, snapshot

CASES = [
    # (file in tests/data/imports/bad, row, column, words in the message)
    ("points_missing_column.csv", 1, "category", "missing column"),
    ("points_bad_number.csv", 3, "kg_per_visit", "not a number"),
    ("points_lat_out_of_range.csv", 2, "lat", "<= 90"),
    ("points_unknown_category.csv", 2, "category", "unknown category"),
    ("points_duplicate_id.csv", 3, "point_id", "duplicate"),
    ("vehicles_dangling_depot.csv", 2, "depot_id", "no such depot"),
    ("points_dangling_community.csv", 2, "community_id", "no such community"),
    ("tickets_dangling_facility.csv", 2, "facility_id", "no such facility"),
    ("vehicles_bad_compartments.csv", 2, "compartments", "category:capacity_kg"),
    ("points_header_only.csv", 2, "(file)", "no data rows"),
    ("points_zero_bytes.csv", 1, "(file)", "no header"),
    ("points_extra_cells.csv", 3, "N (extra)", "extra cells"),
    ("points_time_25.csv", 2, "tw_end", "00:00 to 24:00"),
    ("points_shift_jis.csv", 2, "encoding", "UTF-8 or GB18030"),
    ("points_utf16.csv", 1, "encoding", "UTF-8 or GB18030"),
]


@pytest.fixture
def loaded(db_url: str) -> str:
    """A database that already holds the good sample data."""
    result = cli_import(db_url, GOOD)
    assert result.exit_code == 0, result.output
    return db_url


def _error_lines(stderr: str, path: Path) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith(f"{path}:")]


@pytest.mark.parametrize(("name", "row", "column", "words"), CASES)
def test_bad_file_is_rejected_and_nothing_changes(
    loaded: str, name: str, row: int, column: str, words: str
) -> None:
    before = snapshot(loaded)
    path = BAD / name
    result = cli_import(loaded, path)
    assert result.exit_code == 2, result.output
    lines = _error_lines(result.stderr, path)
    pattern = re.compile(
        rf"^{re.escape(str(path))}:{row}: {re.escape(column)}: .*{re.escape(words)}"
    )
    assert any(pattern.search(ln) for ln in lines), result.stderr
    assert "Traceback" not in result.output
    assert snapshot(loaded) == before


def test_every_error_of_a_file_is_reported(loaded: str, tmp_path: Path) -> None:
    path = tmp_path / "points.csv"
    path.write_text(
        "point_id,name,lon,lat,category,kg_per_visit,days,tw_start,tw_end\n"
        "P7,Seven,200,34.7,kitchen,10,daily,,\n"  # lon out of range
        "P8,Eight,113.9,34.7,glass,-5,1;9,08:00,07:00\n"  # category, kg, days, window
        ",Nine,113.9,34.7,kitchen,10,daily,,\n",  # id missing
        encoding="utf-8",
    )
    before = snapshot(loaded)
    result = cli_import(loaded, path)
    assert result.exit_code == 2
    found = {tuple(ln.split(": ")[0:2]) for ln in _error_lines(result.stderr, path)}
    assert found == {
        (f"{path}:2", "lon"),
        (f"{path}:3", "category"),
        (f"{path}:3", "kg_per_visit"),
        (f"{path}:3", "days"),
        (f"{path}:3", "tw_end"),
        (f"{path}:4", "point_id"),
    }
    assert snapshot(loaded) == before


def test_last_file_bad_writes_nothing_from_earlier_files(loaded: str, tmp_path: Path) -> None:
    (tmp_path / "depots.csv").write_text("depot_id,name,lon,lat\nD5,New depot,113.9,34.6\n")
    (tmp_path / "communities.csv").write_text(
        "community_id,name,town,households\nC5,New,姚家镇,300\n"
    )
    shutil.copy(BAD / "points_bad_number.csv", tmp_path / "points.csv")
    before = snapshot(loaded)
    result = cli_import(
        loaded, tmp_path / "depots.csv", tmp_path / "communities.csv", tmp_path / "points.csv"
    )
    assert result.exit_code == 2
    assert _error_lines(result.stderr, tmp_path / "points.csv")
    assert snapshot(loaded) == before


def test_bad_file_into_empty_database_leaves_it_empty(db_url: str, tmp_path: Path) -> None:
    shutil.copy(GOOD / "depots.csv", tmp_path / "depots.csv")
    shutil.copy(BAD / "vehicles_bad_compartments.csv", tmp_path / "vehicles.csv")
    before = counts(db_url)
    result = cli_import(db_url, tmp_path)
    assert result.exit_code == 2
    assert counts(db_url) == before
    assert before["depots"] == 0


def test_reference_to_a_row_of_the_same_call_is_fine(db_url: str, tmp_path: Path) -> None:
    """Files are applied in dependency order whatever order they are given in."""
    (tmp_path / "vehicles.csv").write_text(
        "vehicle_id,depot_id,compartments,shift_start,shift_end\nV1,D1,kitchen:4000,05:00,13:00\n"
    )
    shutil.copy(GOOD / "depots.csv", tmp_path / "depots.csv")
    result = cli_import(db_url, tmp_path / "vehicles.csv", tmp_path / "depots.csv")
    assert result.exit_code == 0, result.output
    assert counts(db_url)["vehicles"] == 1


def test_missing_path_and_unknown_kind(db_url: str, tmp_path: Path) -> None:
    odd = tmp_path / "stuff.csv"
    odd.write_text("a,b\n1,2\n")
    result = cli_import(db_url, tmp_path / "nope.csv", odd)
    assert result.exit_code == 2
    assert f"{tmp_path / 'nope.csv'}:1: (file): no such file" in result.stderr
    assert f"{odd}:1: (file): cannot tell the kind" in result.stderr
    result = cli_import(db_url, odd, kind="bogus")
    assert result.exit_code == 2
    assert "unknown --kind" in result.stderr


def test_dangling_record_references(loaded: str, tmp_path: Path) -> None:
    path = tmp_path / "records.csv"
    path.write_text("date,point_id,kg,vehicle_id\n2020-03-04,P1,10,V9\n2020-03-04,P99,10,\n")
    before = snapshot(loaded)
    result = cli_import(loaded, path)
    assert result.exit_code == 2
    assert f"{path}:2: vehicle_id: no such vehicle" in result.stderr
    assert f"{path}:3: point_id: no such point" in result.stderr
    assert snapshot(loaded) == before
