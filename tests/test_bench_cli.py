"""`wasteroute bench` through the CLI: the document of formats.md, checked routes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from logistics.cli import app
from optimizer.bench import check_routes
from optimizer.instances import read_instance

BENCH = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"
pytestmark = pytest.mark.skipif(not BENCH.is_dir(), reason="../shared/benchmarks not present")


def test_bench_json_document_and_routes_recheck() -> None:
    r = CliRunner().invoke(
        app,
        ["bench", "--instances", str(BENCH), "--family", "solomon", "--only", "C101",
         "--time-limit", "1", "--engines", "ours", "--json"],
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["format"] == "wasteroute.bench/1"
    assert doc["family"] == "solomon"
    (res,) = doc["results"]
    assert res["instance"] == "C101" and res["bks"] == pytest.approx(827.3)
    # anyone can recompute the cost from the routes under the DIMACS rule
    inst = read_instance(BENCH / "solomon_100" / "C101.vrp", "solomon")
    check = check_routes(inst, res["routes"])
    assert check.feasible == res["feasible"] is True
    assert check.cost == pytest.approx(res["cost"], abs=0.05)
    assert res["gap_pct"] == pytest.approx(100 * (res["cost"] - 827.3) / 827.3, abs=0.01)


@pytest.mark.parametrize(
    "args",
    [["--family", "nope"], ["--family", "solomon", "--only", "X999"],
     ["--family", "solomon", "--engines", "gurobi"]],
)
def test_bench_bad_input_exit_2(args: list[str]) -> None:
    r = CliRunner().invoke(app, ["bench", "--instances", str(BENCH), *args])
    assert r.exit_code == 2
    assert "Traceback" not in r.output
