"""run_bench: the wasteroute.bench/1 document on tiny checked-in instances."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optimizer.bench import check_routes, format_table, run_bench
from optimizer.instances import read_instance

DATA = Path(__file__).parent / "data" / "bench"


def test_document_follows_the_contract_and_carries_peers() -> None:
    lines: list[str] = []
    doc = run_bench(
        DATA, "solomon", time_limit_s=60.0, engines=("pyvrp", "ours"), progress=lines.append,
        solution_limit=200,
    )
    json.dumps(doc)  # plain JSON
    assert doc["format"] == "wasteroute.bench/1"
    assert doc["family"] == "solomon" and doc["time_limit_s"] == 60.0
    (r,) = doc["results"]
    assert r["instance"] == "T6" and r["bks"] == pytest.approx(39.4)
    for key in ("cost", "gap_pct", "feasible", "vehicles", "time_s", "routes"):
        assert key in r
    assert r["feasible"] and r["cost"] == pytest.approx(39.4) and r["gap_pct"] == 0.0
    # routes are in .sol numbering: anyone can recompute the cost
    again = check_routes(read_instance(DATA / "solomon_100" / "T6.vrp"), r["routes"])
    assert again.cost == pytest.approx(r["cost"])
    assert set(r["peers"]) == {"ours"} and "cost" in r["peers"]["ours"]
    assert doc["mean_gap_pct"] == 0.0
    assert set(doc["means"]) == {"pyvrp", "ours"}
    assert doc["peak_rss_mb"] > 0
    assert len(lines) == 2
    assert "T6" in format_table(doc)


def test_kim_reports_published_figures_not_a_gap() -> None:
    doc = run_bench(DATA, "kim", time_limit_s=60.0, engines=("pyvrp",), solution_limit=200)
    (r,) = doc["results"]
    assert r["bks"] is None and r["gap_pct"] is None
    assert r["published"]["vehicles"] == 1 and r["published"]["distance_miles"] == 8.0
    assert r["feasible"], r.get("errors")
    assert doc["mean_gap_pct"] is None


def test_only_and_engine_names_are_validated() -> None:
    with pytest.raises(ValueError):
        run_bench(DATA, "cvrp", engines=("gurobi",))
    with pytest.raises(ValueError):
        run_bench(DATA, "cvrp", only=["X-n999-k1"], engines=("pyvrp",))
