"""Test fixtures: every test gets its own freshly migrated database.

SQLite by default (a file in tmp_path). When WASTEROUTE_DB points at PostgreSQL, each
test gets its own schema in that database (search_path set in the URL), migrated with
Alembic and dropped afterwards, so tests never see each other's rows.

Passwords are hashed with argon2's cheapest parameters in tests (the same code, a
fraction of the cost; every API test signs four users in). The product's parameters
are pinned by a test marked ``product_hash_cost``, which keeps them.

``WASTEROUTE_TESTS_SKIP_DB_FREE=1`` skips the modules that never touch a database
(``DB_FREE_MODULES``): `.ci/run` sets it for its second pass, on PostgreSQL, which
would only repeat them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher, profiles
from sqlalchemy.orm import Session

from logistics.ops import users
from logistics.persistence import db as dbmod
from tests.factories import Api, make_api, migrated_db, planning_county_url

DATA = Path(__file__).parent / "data"


#: test modules that use no database at all (the optimizer, benchmarks, distances)
DB_FREE_MODULES = frozenset({
    "test_bench_checker", "test_bench_cli", "test_bench_generate", "test_bench_run",
    "test_coords", "test_distance", "test_distance_osm", "test_distance_servers",
    "test_instances", "test_optimizer_eliminate", "test_optimizer_large",
    "test_optimizer_layers", "test_optimizer_model", "test_optimizer_portfolio",
    "test_optimizer_reasons", "test_optimizer_routes", "test_optimizer_solution",
    "test_pyvrp_engine", "test_pyvrp_reference", "test_problem",
})
#: fixtures that give a test a database
_DB_FIXTURES = frozenset({"db_url", "session", "api", "planning_county"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = os.environ.get("WASTEROUTE_TESTS_SKIP_DB_FREE") == "1"
    for item in items:
        if item.module is None or item.module.__name__.rsplit(".", 1)[-1] not in DB_FREE_MODULES:
            continue
        used = _DB_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if used:
            raise pytest.UsageError(f"{item.nodeid} uses {sorted(used)}: its module is "
                                    "listed as database-free in tests/conftest.py")
        if skip:
            item.add_marker(pytest.mark.skip(
                reason="uses no database: run once, in the SQLite pass"))


@pytest.fixture(autouse=True)
def _cheap_password_hashes(request: pytest.FixtureRequest,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("product_hash_cost") is None:
        cheap = PasswordHasher.from_parameters(profiles.CHEAPEST)
        monkeypatch.setattr(users, "_hasher", cheap)
        monkeypatch.setattr(users, "_DUMMY_HASH", cheap.hash("not a password"))


def _base_url() -> str | None:
    url = os.environ.get("WASTEROUTE_DB", "")
    return url if url.startswith("postgresql") else None


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    base = _base_url()
    with migrated_db(tmp_path, base) as url:
        monkeypatch.setenv("WASTEROUTE_DB", url)
        yield url
    if base is not None:
        dbmod.get_engine.cache_clear()


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    s = dbmod.session_factory(db_url)()
    try:
        yield s
    finally:
        s.rollback()
        s.close()


@pytest.fixture
def api(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    """The app on the planning county, with a signed-in client per role."""
    yield from make_api(db_url, monkeypatch)


@pytest.fixture
def planning_county(db_url: str) -> str:
    """The planning county imported into the test's database; the URL back."""
    return planning_county_url(db_url)
