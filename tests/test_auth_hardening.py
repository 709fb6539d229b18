"""Sign-in that a bureau's IT would sign: failed sign-ins throttled per account and per
client address (429 + Retry-After), users deactivated, passwords changed and API keys
revoked (API and CLI) with effect at once, ``serve`` refusing a public address without
a real secret, and a token in a link that never replaces a signed-in user's cookie.

Clocks are injected: the throttle's storage clock (``limits``' in-memory storage) and
the caller cache's clock are moved forward instead of waited for.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import argon2
import pytest
from limits.aio.storage import memory as limits_memory
from typer.testing import CliRunner

from logistics.cli import app as cli_app
from logistics.ops import users
from tests.factories import PASSWORD, Api

WRONG = "not-the-password"


class FakeTime:
    """Stands in for the ``time`` module of the throttle's storage: ``time()`` is ours."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(api: Api, monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    """The app's login throttle (5 failures a minute per account, 20 per address) and
    its storage on a clock of the test's."""
    from api.deps import LoginThrottle  # here: the other tests run without it

    fake = FakeTime()
    monkeypatch.setattr(limits_memory, "time", fake)
    api.client.app.state.login_throttle = LoginThrottle(  # type: ignore[attr-defined]
        "5/minute", "20/minute", clock=fake.time, hold_s=0)
    return fake


def token(api: Api, name: str, password: str) -> Any:
    return api.client.post("/token", data={"username": name, "password": password})


def bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


def _throttled(r: Any) -> int:
    assert r.status_code == 429, (r.status_code, r.text)
    assert r.json()["reason"] == "too_many_requests"
    wait = int(r.headers["retry-after"])
    assert 1 <= wait <= 60
    return wait


# ---------------------------------------------------------------- throttling


def test_wrong_passwords_for_one_account_are_throttled(api: Api, clock: FakeTime) -> None:
    for _ in range(5):
        assert token(api, "dispatcher", WRONG).status_code == 401
        clock.now += 1
    wait = _throttled(token(api, "dispatcher", WRONG))
    assert wait == 55  # the first failure (5 s ago) leaves the minute's window in 55 s
    # while throttled even the right password is refused (no guess gets checked)
    _throttled(token(api, "dispatcher", PASSWORD))
    # other accounts from the same address are not locked by this one
    assert token(api, "viewer", WRONG).status_code == 401
    assert token(api, "admin", PASSWORD).status_code == 200
    clock.now += wait
    assert token(api, "dispatcher", PASSWORD).status_code == 200


def test_sign_ins_are_throttled_in_the_process_while_redis_is_unreachable(api: Api) -> None:
    from api.deps import LoginThrottle

    api.client.app.state.login_throttle = LoginThrottle(  # type: ignore[attr-defined]
        "3/minute", "20/minute", "async+redis://127.0.0.1:9/0", hold_s=0)  # nothing listens
    for _ in range(3):
        assert token(api, "viewer", WRONG).status_code == 401
    _throttled(token(api, "viewer", PASSWORD))
    assert token(api, "admin", PASSWORD).status_code == 200


def test_a_burst_of_wrong_passwords_at_once_gets_no_more_checks_than_the_limit(
    api: Api, clock: FakeTime
) -> None:
    import asyncio

    import httpx

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=api.client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            answers = await asyncio.gather(*(
                http.post("/token", data={"username": f"burst{i}", "password": WRONG})
                for i in range(30)))
        return [r.status_code for r in answers]

    codes = asyncio.run(burst())  # all 30 arrive before the first check ends
    assert sorted(set(codes)) == [401, 429]
    assert codes.count(401) == 20  # the address's limit, not more


def test_a_success_in_between_resets_nothing(api: Api, clock: FakeTime) -> None:
    for _ in range(4):
        assert token(api, "viewer", WRONG).status_code == 401
    assert token(api, "viewer", PASSWORD).status_code == 200
    assert token(api, "viewer", WRONG).status_code == 401
    _throttled(token(api, "viewer", WRONG))


def test_wrong_passwords_from_one_address_are_throttled(api: Api, clock: FakeTime) -> None:
    for i in range(20):  # one guess each for many names: the account limit never bites
        assert token(api, f"guess{i}", WRONG).status_code == 401
    _throttled(token(api, "someone-else", WRONG))
    _throttled(token(api, "admin", PASSWORD))  # the address waits, whoever it claims to be
    # the browser form is throttled alike, with the form and Retry-After
    r = api.client.post("/login", data={"username": "admin", "password": PASSWORD},
                        follow_redirects=False)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert "text/html" in r.headers["content-type"] and "set-cookie" not in r.headers
    clock.now += 61
    assert token(api, "admin", PASSWORD).status_code == 200


def test_the_old_password_of_a_password_change_is_throttled_too(api: Api,
                                                                clock: FakeTime) -> None:
    for _ in range(5):
        r = api.post("/me/password", "driver",
                     json={"old_password": WRONG, "new_password": "brand-new-pass"})
        assert r.status_code == 403, r.text
    _throttled(api.post("/me/password", "driver",
                        json={"old_password": PASSWORD, "new_password": "brand-new-pass"}))


# ---------------------------------------------------------------- users and keys (API)


def test_a_deactivated_user_is_refused_at_once(api: Api) -> None:
    c = api.client
    tok = token(api, "dispatcher", PASSWORD).json()["access_token"]
    key = api.post("/users/dispatcher/api-keys").json()["key"]
    r = c.post("/login", data={"username": "dispatcher", "password": PASSWORD},
               follow_redirects=False)
    assert r.status_code == 303
    for h in (bearer(tok), {"X-API-Key": key}, {}):  # {}: the cookie
        assert c.get("/plans", headers=h).status_code == 200
    r = api.post("/users/dispatcher/deactivate")
    assert r.status_code == 200 and r.json()["active"] is False
    for h in (bearer(tok), {"X-API-Key": key}, {}):
        r = c.get("/plans", headers=h)
        assert r.status_code == 401 and r.json()["reason"] == "unauthenticated"
    assert token(api, "dispatcher", PASSWORD).status_code == 401
    assert api.get("/users").json()["data"][1] == {
        "name": "dispatcher", "role": "dispatcher", "vehicle_id": None, "active": False}
    # an admin cannot lock himself out; reactivation restores the user
    assert api.post("/users/admin/deactivate").status_code == 409
    assert api.post("/users/nobody/deactivate").status_code == 404
    assert api.post("/users/dispatcher/activate").json()["active"] is True
    assert c.get("/plans", headers={"X-API-Key": key}).status_code == 200


def test_a_revoked_api_key_is_refused_at_once(api: Api) -> None:
    keep = api.post("/users/driver/api-keys").json()["key"]
    gone = api.post("/users/driver/api-keys").json()["key"]
    for k in (keep, gone):
        assert api.client.get("/me", headers={"X-API-Key": k}).status_code == 200
    listed = api.get("/users/driver/api-keys").json()
    assert listed["count"] == 2
    assert all(len(k["key_id"]) == 16 and k["user"] == "driver" for k in listed["data"])
    assert keep not in str(listed) and gone not in str(listed)  # only ids are shown
    import hashlib
    kid = hashlib.sha256(gone.encode()).hexdigest()[:16]
    assert api.delete(f"/api-keys/{kid}").status_code == 204
    r = api.client.get("/me", headers={"X-API-Key": gone})
    assert r.status_code == 401 and r.json()["reason"] == "unauthenticated"
    assert api.client.get("/me", headers={"X-API-Key": keep}).status_code == 200
    assert api.delete(f"/api-keys/{kid}").status_code == 404
    assert api.get("/users/driver/api-keys").json()["count"] == 1
    assert api.delete("/api-keys/'or'1'='1").status_code == 404
    assert api.delete("/api-keys/dispatcher", "dispatcher").status_code == 403


def test_a_changed_password_ends_the_old_tokens_at_once(api: Api) -> None:
    old = api.headers["viewer"]
    assert api.client.get("/me", headers=old).status_code == 200
    r = api.client.post("/me/password", headers=old,
                        json={"old_password": PASSWORD, "new_password": "viewer-pass-2"})
    assert r.status_code == 200, r.text
    fresh = bearer(r.json()["access_token"])
    assert api.client.get("/me", headers=fresh).json()["name"] == "viewer"
    assert api.client.get("/me", headers=old).status_code == 401
    assert token(api, "viewer", PASSWORD).status_code == 401
    assert token(api, "viewer", "viewer-pass-2").status_code == 200
    # too short a new one, and a wrong old one, change nothing
    r = api.client.post("/me/password", headers=fresh,
                        json={"old_password": "viewer-pass-2", "new_password": "short"})
    assert r.status_code == 422
    r = api.client.post("/me/password", headers=fresh,
                        json={"old_password": WRONG, "new_password": "viewer-pass-3"})
    assert r.status_code == 403 and r.json()["reason"] == "forbidden"
    # an admin sets another user's password: that user's tokens end too
    disp = api.headers["dispatcher"]
    r = api.put("/users/dispatcher/password", json={"password": "dispatcher-pass-2"})
    assert r.status_code == 204
    assert api.client.get("/plans", headers=disp).status_code == 401
    assert token(api, "dispatcher", "dispatcher-pass-2").status_code == 200
    assert api.put("/users/nobody/password", json={"password": "whatever-1"}).status_code == 404
    assert api.put("/users/viewer/password", "driver",
                   json={"password": "whatever-1"}).status_code == 403


# ---------------------------------------------------------------- users and keys (CLI)


def test_cli_changes_reach_a_running_api_within_the_cache_time(
        api: Api, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    cache = api.client.app.state.principal_cache  # type: ignore[attr-defined]
    monkeypatch.setattr(cache, "clock", lambda: now[0])
    runner = CliRunner()
    key = api.post("/users/driver/api-keys").json()["key"]
    viewer = api.headers["viewer"]
    assert api.client.get("/me", headers={"X-API-Key": key}).status_code == 200
    assert api.client.get("/me", headers=viewer).status_code == 200

    r = runner.invoke(cli_app, ["users", "keys", "driver", "--db", db_url])
    assert r.exit_code == 0, r.output
    (line,) = [x for x in r.output.splitlines() if x.split()[1:2] == ["driver"]]
    kid = line.split()[0]
    r = runner.invoke(cli_app, ["users", "revoke-key", kid, "--db", db_url])
    assert r.exit_code == 0 and "revoked" in r.output, r.output
    r = runner.invoke(cli_app, ["users", "deactivate", "viewer", "--db", db_url])
    assert r.exit_code == 0, r.output
    now[0] += 11  # past the cache time of another process
    assert api.client.get("/me", headers={"X-API-Key": key}).status_code == 401
    assert api.client.get("/me", headers=viewer).status_code == 401
    r = runner.invoke(cli_app, ["users", "revoke-key", kid, "--db", db_url])
    assert r.exit_code == 2 and "no such API key" in r.output
    r = runner.invoke(cli_app, ["users", "deactivate", "nobody", "--db", db_url])
    assert r.exit_code == 2


def test_cli_passwd_reads_the_password_from_stdin_never_argv(api: Api, db_url: str) -> None:
    runner = CliRunner()
    old = api.headers["admin"]
    r = runner.invoke(cli_app, ["users", "passwd", "admin", "--password", "x" * 12,
                                "--db", db_url])
    assert r.exit_code == 2  # no such option
    r = runner.invoke(cli_app, ["users", "passwd", "admin", "--db", db_url],
                      input="short\n")
    assert r.exit_code == 2 and "at least 8" in r.output
    r = runner.invoke(cli_app, ["users", "passwd", "admin", "--db", db_url],
                      input="admin-pass-2\n")
    assert r.exit_code == 0, r.output
    assert token(api, "admin", "admin-pass-2").status_code == 200
    assert token(api, "admin", PASSWORD).status_code == 401
    api.client.app.state.principal_cache.clear()  # type: ignore[attr-defined]
    assert api.client.get("/me", headers=old).status_code == 401


def test_cli_users_add_never_takes_the_password_on_argv(api: Api, db_url: str) -> None:
    runner = CliRunner()
    r = runner.invoke(cli_app, ["users", "add", "ops1", "--role", "viewer",
                                "--password", "ops1-pass-1", "--db", db_url])
    assert r.exit_code == 2  # no such option
    assert token(api, "ops1", "ops1-pass-1").status_code == 401
    r = runner.invoke(cli_app, ["users", "add", "ops1", "--role", "viewer",
                                "--password-stdin", "--db", db_url], input="ops1-pass-1\n")
    assert r.exit_code == 0, r.output
    assert token(api, "ops1", "ops1-pass-1").status_code == 200
    # asked for twice when not from stdin; two different answers add no one
    r = runner.invoke(cli_app, ["users", "add", "ops2", "--role", "viewer", "--db", db_url],
                      input="ops2-pass-1\nops2-pass-X\nops2-pass-1\nops2-pass-1\n")
    assert r.exit_code == 0, r.output
    assert token(api, "ops2", "ops2-pass-1").status_code == 200
    r = runner.invoke(cli_app, ["users", "add", "ops3", "--role", "viewer",
                                "--password-stdin", "--db", db_url], input="short\n")
    assert r.exit_code == 2 and "at least 8" in r.output


# ---------------------------------------------------------------- serve


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("secret", [None, "too-short-a-secret"])
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "bureau-server.local"])
def test_serve_on_a_public_address_needs_a_real_secret(tmp_path: Path, host: str,
                                                       secret: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if k != "WASTEROUTE_SECRET"}
    if secret is not None:
        env["WASTEROUTE_SECRET"] = secret
    cmd = [sys.executable, "-m", "logistics.cli", "serve", "--host", host,
           "--port", str(_free_port()), "--db", f"sqlite:///{tmp_path / 'w.db'}"]
    # a server that started would run until the guard's timeout: the test then fails
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "WASTEROUTE_SECRET" in r.stderr and "32" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "w.db").exists()  # it stopped before anything else


# ---------------------------------------------------------------- a token in a link


def test_a_link_token_never_replaces_a_signed_in_user(api: Api) -> None:
    """Documented choice: the browser stays signed in as its user; the link's token is
    ignored (the page answers as the signed-in user) and no cookie is set."""
    c = api.client
    r = c.post("/login", data={"username": "viewer", "password": PASSWORD},
               follow_redirects=False)
    assert r.status_code == 303
    other = api.headers["dispatcher"]["Authorization"].removeprefix("Bearer ")
    r = c.get(f"/dashboards/fleet.html?lang=en&access_token={other}", follow_redirects=False)
    assert r.status_code == 303 and "set-cookie" not in r.headers
    assert r.headers["location"] == "/dashboards/fleet.html?lang=en"  # token out of the URL
    assert c.get(r.headers["location"]).status_code == 200
    assert c.get(f"/me?access_token={other}").json()["name"] == "viewer"
    assert c.get("/me").json()["name"] == "viewer"
    # the viewer may not read /points; the dispatcher's link does not lift that
    assert c.get(f"/points?access_token={other}").status_code == 403
    # the same user's link is fine (and renews the cookie)
    same = api.headers["viewer"]["Authorization"].removeprefix("Bearer ")
    r = c.get(f"/dashboards/fleet.html?access_token={same}", follow_redirects=False)
    assert r.status_code == 303 and "wasteroute_token=" in r.headers["set-cookie"]
    # a cookie that no longer signs anyone in is replaced by the link's token
    assert api.post("/users/viewer/deactivate").status_code == 200
    r = c.get(f"/dashboards/fleet.html?access_token={other}", follow_redirects=False)
    assert r.status_code == 303 and "wasteroute_token=" in r.headers["set-cookie"]
    assert c.get("/me").json()["name"] == "dispatcher"


@pytest.mark.product_hash_cost
def test_passwords_are_hashed_with_argon2id_at_the_rfc_9106_cost() -> None:
    # the other tests hash at argon2's cheapest cost (tests/conftest.py): this one keeps
    # the product's parameters from being weakened unnoticed
    stored = users.hash_password(PASSWORD)
    params = argon2.extract_parameters(stored)
    assert params.type is argon2.Type.ID
    assert params.memory_cost >= 64 * 1024 and params.time_cost >= 3
    assert users.verify_password(stored, PASSWORD)
    assert not users.verify_password(stored, PASSWORD + "x")
