"""Large days without a full matrix, planned by regions on a local planning cluster.

The optimizer side: a LazyMatrix reads the same entries as the model's full matrix;
a small CityProblem (two generated districts) cut into several regions comes back
with every client exactly once and no broken rule (both checkers). The product
side: the demo city in the database, ``wasteroute plan --cluster local:2`` with the
city threshold lowered, the plan document checked against the database; a bad
cluster is a clear error and nothing is stored.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from unittest.mock import ANY

import numpy as np
import pytest
from typer.testing import CliRunner

from logistics.cli import app
from logistics.demo.city import run_city_demo
from logistics.ops import jobs
from logistics.persistence import plan_repo
from logistics.persistence.db import session_scope
from optimizer.checker import check_problem_solution
from optimizer.city import CityProblem, city_problem
from optimizer.cluster import ClusterError, connect, local_workers
from optimizer.distance import Haversine
from optimizer.distance.lazy import LazyMatrix, lazy_pair
from optimizer.generate import generate_county_day
from optimizer.params import SolveParams
from optimizer.problem import Client, Facility, Vehicle
from optimizer.regions import plan_regions
from optimizer.solve import solve
from tests.factories import job_row
from tests.plan_checker import assert_plan_ok

DATE = "2021-01-01"


def _square(values: list[int]) -> int:
    return sum(v * v for v in values)


# ------------------------------------------------------------------ lazy matrices


def test_lazy_matrix_reads_the_full_matrix_entries() -> None:
    rng = np.random.default_rng(3)
    pts = np.column_stack([113.6 + rng.random(40) * 0.3, 34.7 + rng.random(40) * 0.2])
    pts[7] = pts[3]  # two points at one place
    model = Haversine(detour_factor=1.4, speed_kmh=30)
    dist, dur = model.matrices([tuple(p) for p in pts])
    ld, lt = lazy_pair(pts, model)
    assert ld.shape == dist.shape and ld.ndim == 2
    idx = np.array([0, 3, 7, 39, 12])
    assert (ld[np.ix_(idx, idx)] == dist[np.ix_(idx, idx)]).all()
    assert (lt[np.ix_(idx, idx)] == dur[np.ix_(idx, idx)]).all()
    assert ld[5, 9] == int(dist[5, 9]) and isinstance(ld[5, 9], int)
    assert (ld[4] == dist[4]).all()
    assert (ld[2, idx] == dist[2, idx]).all()
    assert ld[3, 7] == 0
    with pytest.raises(TypeError):
        np.asarray(ld)
    with pytest.raises(IndexError):
        ld[40, 0]


# ------------------------------------------------------------------ the optimizer


def _city(n_per_district: int, districts: int = 2) -> CityProblem:
    """Generated districts side by side, in degrees, measured lazily."""
    points: list[tuple[float, float]] = []
    clients: list[Client] = []
    vehicles: list[Vehicle] = []
    facilities: list[Facility] = []
    cos0 = math.cos(math.radians(34.7))
    for d in range(districts):
        p = generate_county_day(n_per_district, 11 + d, n_categories=2, area_km=12.0)
        assert p.extra is not None
        base = len(points)
        for x, y in np.asarray(p.extra["coords"], dtype=float):
            points.append((113.6 + (x + d * 12_000.0) / (111_195.0 * cos0),
                           34.7 + y / 111_195.0))
        clients += [replace(c, location=c.location + base) for c in p.clients]
        vehicles += [replace(v, start_location=v.start_location + base,
                             end_location=v.end_location + base) for v in p.vehicles]
        facilities += [replace(f, location=f.location + base) for f in p.facilities]
    return city_problem(points, Haversine(), clients=clients, vehicles=vehicles,
                        facilities=facilities, name="test city")


def test_city_problem_planned_by_regions_on_two_workers() -> None:
    city = _city(120)
    assert isinstance(city.distance_m, LazyMatrix)
    # counted searches: the same plan whatever the load of the machine
    params = SolveParams(time_limit_s=60, cluster="local:2", region_size=50,
                         region_s_per_visit=0.02, solution_limit=30)
    sol = solve(city, params)
    assert sol.stats["strategy"] == "regions"
    assert sol.stats["workers"] == 2
    assert int(str(sol.stats["regions"])) >= 4
    # every client once: served (its pieces adding up) or unassigned, never both
    served = {v.index for r in sol.routes for v in r.client_visits}
    left = {u.client for u in sol.unassigned}
    assert served | left == set(range(len(city.clients)))
    assert not served & left
    assert len({r.vehicle for r in sol.routes}) == len(sol.routes)
    assert sol.check(city) == []
    indep = check_problem_solution(city, sol)
    assert indep.feasible, indep.errors[:5]
    assert len(served) >= 0.8 * len(city.clients)
    assert solve(city, params).summary() == sol.summary() | {"wall_s": ANY}


def test_every_region_gets_trucks_that_carry_its_clients() -> None:
    """Two towns 30 km apart; the trucks with the small compartment all start next to
    the west town. Shared by total need, the nearest-first draw gave both of them to
    the west town and left the east town's small-compartment clients no carrier."""
    cos0 = math.cos(math.radians(34.7))
    rng = np.random.default_rng(5)
    points = [(113.6 + 15_000 / (111_195.0 * cos0), 34.7),  # big trucks' depot, between
              (113.6 - 1_000 / (111_195.0 * cos0), 34.7),  # small trucks' depot, west
              (113.6 + 15_000 / (111_195.0 * cos0), 34.72)]  # facility
    clients = []
    for town_km in (0.0, 30_000.0):
        for i in range(40):
            x, y = town_km + rng.normal(0, 800), rng.normal(0, 800)
            points.append((113.6 + x / (111_195.0 * cos0), 34.7 + y / 111_195.0))
            cat = "b" if i % 8 == 0 else "a"
            clients.append(Client(location=len(points) - 1, demand={cat: 100}, service_s=120))
    big = [Vehicle(start_location=0, end_location=0, capacities={"a": 5000})] * 6
    small = [Vehicle(start_location=1, end_location=1, capacities={"a": 2500, "b": 400})] * 2
    city = city_problem(points, Haversine(), clients=clients, vehicles=big + small,
                        facilities=[Facility(location=2, accepts=frozenset({"a", "b"}))])
    regions, no_vehicle = plan_regions(city, size=40)
    assert no_vehicle == [] and len(regions) == 2
    for r in regions:
        carried = [{k for k, c in city.vehicles[v].capacities.items() if c > 0}
                   for v in r.vehicles]
        for c in r.clients:
            need = set(city.clients[c].demand)
            assert any(need <= ks for ks in carried), (r.centre_km, need)
    assert sorted(v for r in regions for v in r.vehicles) == list(range(8))


def test_local_cluster_addresses() -> None:
    assert local_workers("local:3") == 3
    assert (local_workers(None) or 0) >= 1
    assert local_workers("tcp://10.0.0.5:8786") is None
    for bad in ("local:0", "local:two"):
        with pytest.raises(ClusterError), connect(bad):
            pass


def test_a_cluster_runs_tasks_on_its_workers() -> None:
    with connect("local:2") as cluster:
        assert cluster.workers == 2
        got = dict(cluster.map(_square, [[1, 2], [3], [], [4, 4]]))
    assert got == {0: 5, 1: 9, 2: 0, 3: 32}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_join_a_cluster_started_with_the_engines_commands() -> None:
    """README: ``dask scheduler`` on one machine, ``dask worker`` on the others."""
    dask = str(Path(sys.executable).with_name("dask"))
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)]
    try:
        procs.append(subprocess.Popen([dask, "worker", address, "--nworkers", "2",
                                       "--nthreads", "1", "--no-dashboard"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        with connect(address) as cluster:
            cluster.client.wait_for_workers(2, timeout=60)
            assert not cluster.local and cluster.workers == 2
            # workers import what they run from the installed package (or builtins)
            got = dict(cluster.map(sum, [[2], [1, 1]]))
        assert got == {0: 2, 1: 2}
        city = _city(60, districts=1)
        sol = solve(city, SolveParams(time_limit_s=60, cluster=address, region_size=40,
                                      solution_limit=10))
        assert sol.stats["cluster"] == address and sol.check(city) == []
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=30)


# ------------------------------------------------------------------ the product


@pytest.fixture
def city_db(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    run_city_demo(tmp_path / "city", seed=5, db_url=db_url, points=240)
    # a day of more than 100 locations is a city day here (no full matrix)
    monkeypatch.setenv("WASTEROUTE_CITY_ABOVE", "100")
    monkeypatch.delenv("WASTEROUTE_CLUSTER", raising=False)
    return db_url


def test_plan_a_city_day_through_a_local_cluster_of_two(city_db: str, tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    res = CliRunner().invoke(app, ["plan", "--date", DATE, "--db", city_db, "--time-limit", "60",
                                   "--solution-limit", "30", "--cluster", "local:2",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["summary"]["points_due"] == 240
    assert_plan_ok(doc, city_db)
    seen = [s["id"] for r in doc["routes"] for s in r["stops"] if s["kind"] == "collect"]
    seen += [u["point_id"] for u in doc["unassigned"]]
    assert len(set(seen)) == 240
    assert doc["summary"]["points_served"] >= 0.85 * 240


@pytest.mark.parametrize("how", ["option", "environment"])
def test_a_bad_cluster_is_a_clear_error_and_nothing_is_stored(
        city_db: str, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    args = ["plan", "--date", DATE, "--db", city_db, "--time-limit", "2"]
    if how == "option":
        args += ["--cluster", "local:0"]
    else:
        monkeypatch.setenv("WASTEROUTE_CLUSTER", "local:0")
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2, res.output
    assert "local:0" in res.output and "Traceback" not in res.output
    with session_scope(city_db) as s:
        assert plan_repo.count_plans(s) == 0


@pytest.mark.parametrize(("cluster", "ends"), [("local:2", jobs.SUCCEEDED),
                                               ("local:0", jobs.FAILED)])
def test_a_planning_job_plans_a_city_day_on_the_cluster(
        city_db: str, monkeypatch: pytest.MonkeyPatch, cluster: str, ends: str) -> None:
    """API planning jobs go through the planning cluster (WASTEROUTE_CLUSTER): a local
    one of two plans the day; one that cannot start fails the job with its reason."""
    monkeypatch.setenv("WASTEROUTE_CLUSTER", cluster)
    with session_scope(city_db) as s:
        job_id = jobs.create_plan_job(s, dt.date.fromisoformat(DATE), 20,
                                      created_by="test").job_id
    assert jobs.run_job(job_id, city_db) == ends
    row = job_row(city_db, job_id)
    if ends == jobs.FAILED:
        assert "local:0" in str(row.error) and "Traceback" not in str(row.error)
        return
    summary = (row.result or {})["summary"]
    assert summary["points_due"] == 240
    assert summary["points_served"] >= 0.85 * 240
