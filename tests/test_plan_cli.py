"""`wasteroute plan`: exit codes, the plan document, versions, failures leave the plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from logistics.cli import app
from logistics.persistence import plan_repo
from logistics.persistence.db import session_scope
from tests.plan_checker import assert_plan_ok

COUNTY = Path(__file__).parent / "data" / "planning"
DATE = "2026-11-27"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _import(runner: CliRunner, url: str, *paths: Path) -> None:
    res = runner.invoke(app, ["import", *map(str, paths), "--db", url])
    assert res.exit_code == 0, res.output


def _plan(runner: CliRunner, url: str, *args: str) -> object:
    return runner.invoke(app, ["plan", "--date", DATE, "--db", url, *args])


def _plans(url: str) -> list[tuple[str, str]]:
    with session_scope(url) as s:
        return [(p.plan_id, p.status) for p in plan_repo.list_plans(s)]


def test_plan_writes_a_checked_document_and_versions_it(
    runner: CliRunner, db_url: str, tmp_path: Path
) -> None:
    _import(runner, db_url, COUNTY)
    out = tmp_path / "plan.json"
    res = _plan(runner, db_url, "--time-limit", "2", "--out", str(out))
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["plan_id"] == f"{DATE}-1"
    assert_plan_ok(doc, db_url)
    # summary table: the plan id, each vehicle, and the unassigned point by reason
    assert f"{DATE}-1" in res.stdout
    for r in doc["routes"]:
        assert r["vehicle_id"] in res.stdout
    assert "no_vehicle_for_category" in res.stdout and "P902" in res.stdout
    # the day's cost, as the document states it (every truck here: 100 a day, 1.5 per km)
    sm = doc["summary"]
    assert sm["cost_fixed"] == 100 * sm["vehicles_used"]
    assert f"cost / 成本 {sm['cost']:,.1f}" in " ".join(res.stdout.split())
    with session_scope(db_url) as s:
        stored = plan_repo.get_plan(s, f"{DATE}-1")
        assert stored is not None and stored.document == doc

    res2 = _plan(runner, db_url, "--time-limit", "1", "--out", str(tmp_path / "plan2.json"))
    assert res2.exit_code == 0, res2.output
    doc2 = json.loads((tmp_path / "plan2.json").read_text(encoding="utf-8"))
    assert doc2["plan_id"] == f"{DATE}-2"
    assert _plans(db_url) == [(f"{DATE}-1", "superseded"), (f"{DATE}-2", "current")]
    assert_plan_ok(doc2, db_url)


def test_default_output_file_is_plan_date_json_in_the_current_folder(
    runner: CliRunner, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _import(runner, db_url, COUNTY)
    monkeypatch.chdir(tmp_path)
    res = _plan(runner, db_url, "--time-limit", "1", "--distance", "haversine:detour=1.4,speed=30")
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / f"plan-{DATE}.json").read_text(encoding="utf-8"))
    assert doc["distance_model"] == {"kind": "haversine", "detour_factor": 1.4, "speed_kmh": 30}
    assert_plan_ok(doc, db_url)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--distance", "osrm:http://127.0.0.1:9"], "osrm"),  # fails while making matrices
        (["--distance", "teleport"], "distance"),
        (["--time-limit", "0"], "time-limit"),
        (["--time-limit", "-3"], "time-limit"),
    ],
)
def test_a_failing_plan_leaves_version_1_current_and_intact(
    runner: CliRunner, db_url: str, tmp_path: Path, args: list[str], words: str
) -> None:
    _import(runner, db_url, COUNTY)
    res = _plan(runner, db_url, "--time-limit", "1", "--out", str(tmp_path / "one.json"))
    assert res.exit_code == 0, res.output
    with session_scope(db_url) as s:
        before = plan_repo.get_plan(s, f"{DATE}-1")
        assert before is not None
        doc_before = before.document
    bad = _plan(runner, db_url, *args, "--out", str(tmp_path / "two.json"))
    assert bad.exit_code == 2, bad.output
    assert words in bad.stderr.lower() and "Traceback" not in bad.output
    assert not (tmp_path / "two.json").exists()
    assert _plans(db_url) == [(f"{DATE}-1", "current")]
    with session_scope(db_url) as s:
        after = plan_repo.get_plan(s, f"{DATE}-1")
        assert after is not None and after.document == doc_before
        assert len(after.routes) == len(doc_before["routes"])


@pytest.mark.parametrize("date", ["2026-11-31", "27/11/2026", "tomorrow"])
def test_bad_date_is_exit_2_with_a_message(runner: CliRunner, db_url: str, date: str) -> None:
    res = runner.invoke(app, ["plan", "--date", date, "--db", db_url])
    assert res.exit_code == 2
    assert "YYYY-MM-DD" in res.stderr and "Traceback" not in res.output


def test_no_vehicles_and_no_points_due_are_exit_2(
    runner: CliRunner, db_url: str, tmp_path: Path
) -> None:
    res = _plan(runner, db_url)
    assert res.exit_code == 2 and "no vehicles" in res.stderr
    _import(runner, db_url, COUNTY / "depots.csv", COUNTY / "vehicles.csv")
    res = _plan(runner, db_url)
    assert res.exit_code == 2 and "no collections due" in res.stderr
    assert "Traceback" not in res.output
    assert _plans(db_url) == []


def test_out_into_a_missing_folder_is_exit_2_before_solving(
    runner: CliRunner, db_url: str, tmp_path: Path
) -> None:
    _import(runner, db_url, COUNTY)
    res = _plan(runner, db_url, "--out", str(tmp_path / "nowhere" / "plan.json"))
    assert res.exit_code == 2 and "does not exist" in res.stderr
    assert _plans(db_url) == []
