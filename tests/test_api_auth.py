"""Every route of the app, called by every role and without credentials, answers as
the permission table says: 401 without credentials, 403 for a role not allowed, and
neither for an allowed role. A new route missing from the table fails the test.

Credentials that no longer hold count as none (401 everywhere): the token of a
deactivated user, an API key of a deactivated user, a revoked API key, and a token
issued before the user's password was changed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute

from tests.factories import ROLES, Api, make_api

A, D, DR, V = "admin", "dispatcher", "driver", "viewer"
ALL = frozenset({A, D, DR, V})
STAFF = frozenset({A, D})
READERS = frozenset({A, D, V})
PUBLIC = None  # no authentication

DATA_KINDS = ("depots", "facilities", "vehicles", "communities", "points", "records", "tickets")

#: (method, path) -> roles allowed (None: open to anyone, even without a token)
EXPECTED: dict[tuple[str, str], frozenset[str] | None] = {
    ("POST", "/token"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): PUBLIC,
    ("GET", "/me"): ALL,
    ("GET", "/users"): frozenset({A}),
    ("POST", "/users"): frozenset({A}),
    ("POST", "/users/{name}/api-keys"): frozenset({A}),
    ("GET", "/users/{name}/api-keys"): frozenset({A}),
    ("DELETE", "/api-keys/{key_id}"): frozenset({A}),
    ("POST", "/users/{name}/deactivate"): frozenset({A}),
    ("POST", "/users/{name}/activate"): frozenset({A}),
    ("PUT", "/users/{name}/password"): frozenset({A}),
    ("POST", "/me/password"): ALL,
    ("POST", "/imports"): STAFF,
    ("POST", "/events/complaints"): STAFF,
    ("GET", "/events/complaints"): STAFF,
    ("GET", "/plans"): ALL,
    ("GET", "/plans/{plan_id}"): ALL,
    ("GET", "/plans/{plan_id}/routes"): ALL,
    ("POST", "/plans"): STAFF,
    ("GET", "/jobs"): STAFF,
    ("GET", "/jobs/{job_id}"): STAFF,
    ("POST", "/jobs/{job_id}/cancel"): STAFF,
    ("GET", "/jobs/{job_id}/result"): STAFF,
    ("GET", "/sheets/{date}"): ALL,
    ("GET", "/metrics"): READERS,
    ("GET", "/dashboards"): READERS,
    ("GET", "/dashboards/plotly.min.js"): PUBLIC,
    ("GET", "/dashboards/{page}"): READERS,
    ("GET", "/dashboards/{page}/html"): READERS,
    ("GET", "/dashboards/{page}.html"): READERS,
}
for _k in DATA_KINDS:
    EXPECTED[("GET", f"/{_k}")] = STAFF
    EXPECTED[("GET", f"/{_k}/{{key}}")] = STAFF
    EXPECTED[("POST", f"/{_k}")] = frozenset({A, D, DR}) if _k == "records" else STAFF
    EXPECTED[("PUT", f"/{_k}/{{key}}")] = STAFF
    EXPECTED[("DELETE", f"/{_k}/{{key}}")] = STAFF

#: path parameters used in the calls (values that need not exist)
PARAMS = {"key": "1", "key_id": "0" * 16, "name": "nobody", "plan_id": "2026-11-27-1", "job_id": "nojob",
          "date": "2026-11-27", "page": "overview"}
QUERY = {"/metrics": {"from": "2026-11-01", "to": "2026-11-02"}}


def api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """app.routes, with included routers expanded."""
    for r in routes:
        if isinstance(r, APIRoute):
            yield r
        elif hasattr(r, "original_router"):
            yield from api_routes(r.original_router.routes)


@pytest.fixture(scope="module")
def module_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One app for the whole table (SQLite or a PostgreSQL schema, like db_url)."""
    import os
    import uuid

    from sqlalchemy import create_engine, text

    from logistics.persistence import db as dbmod

    mp = pytest.MonkeyPatch()
    base = os.environ.get("WASTEROUTE_DB", "")
    schema = None
    if base.startswith("postgresql"):
        schema = "t_" + uuid.uuid4().hex[:12]
        with create_engine(base).begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('auth') / 'auth.db'}"
    mp.setenv("WASTEROUTE_DB", url)
    dbmod.upgrade(url)
    try:
        for api in make_api(url, mp):
            _add_lapsed_credentials(api)
            yield api
    finally:
        mp.undo()
        dbmod.get_engine(url).dispose()
        if schema is not None:
            with create_engine(base).begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


#: credentials that worked once and no longer do (each must answer like none at all)
LAPSED = ("deactivated-user", "deactivated-user-key", "revoked-key", "old-password")


def _add_lapsed_credentials(api: Api) -> None:
    """Sign in as new users, make keys, then take each away through the admin API."""
    admin = api.as_(A)
    for name in ("gone", "rekeyed", "keyholder"):
        r = api.client.post("/users", headers=admin,
                            json={"name": name, "role": "admin", "password": "password-1"})
        assert r.status_code == 201, r.text
    tokens = {}
    for name in ("gone", "rekeyed"):
        r = api.client.post("/token", data={"username": name, "password": "password-1"})
        tokens[name] = r.json()["access_token"]
    gone_key = api.client.post("/users/gone/api-keys", headers=admin).json()["key"]
    revoked = api.client.post("/users/keyholder/api-keys", headers=admin).json()["key"]
    # each works before it is taken away
    for h in ({"Authorization": f"Bearer {tokens['gone']}"}, {"X-API-Key": gone_key},
              {"X-API-Key": revoked}, {"Authorization": f"Bearer {tokens['rekeyed']}"}):
        assert api.client.get("/me", headers=h).status_code == 200
    assert api.client.post("/users/gone/deactivate", headers=admin).status_code == 200
    (kid,) = [k["key_id"] for k in api.client.get("/users/keyholder/api-keys",
                                                   headers=admin).json()["data"]]
    assert api.client.delete(f"/api-keys/{kid}", headers=admin).status_code == 204
    r = api.client.put("/users/rekeyed/password", headers=admin, json={"password": "password-2"})
    assert r.status_code == 204, r.text
    api.headers["deactivated-user"] = {"Authorization": f"Bearer {tokens['gone']}"}
    api.headers["deactivated-user-key"] = {"X-API-Key": gone_key}
    api.headers["revoked-key"] = {"X-API-Key": revoked}
    api.headers["old-password"] = {"Authorization": f"Bearer {tokens['rekeyed']}"}


def _calls(api: Api) -> list[tuple[str, str, str]]:
    out = []
    for route in api_routes(api.client.app.routes):  # type: ignore[attr-defined]
        if not route.include_in_schema:
            continue
        for method in sorted(route.methods - {"HEAD"}):
            url = re.sub(r"\{(\w+)\}", lambda m: PARAMS[m.group(1)], route.path)
            out.append((method, route.path, url))
    return out


def test_the_table_covers_every_route(module_api: Api) -> None:
    seen = {(m, p) for m, p, _ in _calls(module_api)}
    assert seen == set(EXPECTED), (
        f"missing from the table: {seen - set(EXPECTED)}; gone: {set(EXPECTED) - seen}")


@pytest.mark.parametrize("role", [None, *ROLES, *LAPSED])
def test_every_route_answers_each_role_as_the_table_says(module_api: Api,
                                                         role: str | None) -> None:
    wrong = []
    for method, path, url in _calls(module_api):
        allowed = EXPECTED[(method, path)]
        kw: dict[str, Any] = {"params": QUERY.get(path, {})}
        if method in ("POST", "PUT"):
            kw["json"] = {}
        if path == "/token":
            kw = {"data": {"username": "x", "password": "y"}}
        r = module_api.client.request(method, url, headers=module_api.as_(role), **kw)
        assert r.headers["content-type"].startswith(("application/json", "application/javascript")) \
            or r.status_code < 300, (method, url, r.status_code, r.text[:200])
        if allowed is PUBLIC:
            ok = r.status_code not in (403,) and (path == "/token" or r.status_code != 401)
        elif role is None or role in LAPSED:
            ok = r.status_code == 401 and r.json()["reason"] == "unauthenticated"
        elif role in allowed:
            ok = r.status_code not in (401, 403)
        else:
            ok = r.status_code == 403 and r.json()["reason"] == "forbidden"
        if not ok:
            wrong.append((method, url, role, r.status_code, r.text[:120]))
    assert wrong == []
