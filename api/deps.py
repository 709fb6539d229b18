"""Dependencies: sessions, the caller, role checks, paging, and running database work
off the loop.

Connections are held only inside one worker-thread call. A request never keeps a
pooled connection while it waits for a thread (that starved the pool under load):

* the caller is looked up in one thread call with its own short session
  (:func:`current_principal`), which is closed before the call returns;
* read endpoints are ``async def`` and do all their database work in one
  :func:`run_db` call (open, read, close in the same thread);
* the remaining sync endpoints get :data:`SessionDep`, whose connection is taken in
  the endpoint's thread and given back by FastAPI's exit step, which runs on its own
  limiter (it never queues behind other requests).

The API engine's pool is at least as large as the request threads (api.app).

Signing in (:func:`sign_in`) is throttled per account and per client address
(:class:`LoginThrottle`, failed attempts only) and checks the Argon2 hash on a small
executor of its own (:data:`HASHER`), so a flood of wrong passwords never takes the
threads that the other endpoints run on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request, Security
from fastapi.security import APIKeyCookie, APIKeyHeader, APIKeyQuery, OAuth2PasswordBearer
from limits import parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from starlette.concurrency import run_in_threadpool

from api.cache import TtlCache
from api.errors import ApiError
from logistics.ops.users import (
    ROLES,
    Principal,
    check_login,
    login_candidate,
    principal_for,
    principal_for_api_key,
    token_secret,
    token_subject,
)
from logistics.persistence.db import Session, sessionmaker, transaction
from logistics.settings import hash_threads, login_limit_account, login_limit_address, redis_url

T = TypeVar("T")
log = logging.getLogger(__name__)

#: how long a looked-up caller (user name or API key -> role, vehicle) is reused; a
#: deactivated user or a changed role takes effect after at most this long
PRINCIPAL_TTL_S = 10.0

#: the login cookie of browsers (an HttpOnly copy of the bearer token), see api.routers.login
COOKIE_NAME = "wasteroute_token"
#: a bearer token in the query string, for opening a GET page from a link
TOKEN_QUERY = "access_token"

oauth2 = OAuth2PasswordBearer(tokenUrl="token", auto_error=False)
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
token_cookie = APIKeyCookie(name=COOKIE_NAME, auto_error=False,
                            description="login cookie (GET requests only), set by POST /login")
token_query = APIKeyQuery(name=TOKEN_QUERY, auto_error=False,
                          description="bearer token in the query (GET requests only)")


def session_factory(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.session_factory
    return factory


def get_session(request: Request) -> Iterator[Session]:
    """The request's transaction: committed when the endpoint returns, rolled back
    on any error."""
    with transaction(session_factory(request)) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def _in_session(factory: sessionmaker[Session], fn: Callable[[Session], T]) -> T:
    """Run ``fn`` in a new session (one transaction, committed) and close it."""
    with factory() as session, session.begin():
        return fn(session)


async def run_db(request: Request, fn: Callable[[Session], T]) -> T:
    """``fn(session)`` in one worker thread, in its own transaction; the connection is
    back in the pool when this returns."""
    return await run_in_threadpool(_in_session, session_factory(request), fn)


def run_db_sync(request: Request, fn: Callable[[Session], T]) -> T:
    """Like :func:`run_db` for code already on a worker thread."""
    return _in_session(session_factory(request), fn)


def secret(request: Request) -> str:
    state = request.app.state
    if getattr(state, "secret", None) is None:
        state.secret = token_secret(state.session_factory)
    value: str = state.secret
    return value


async def _principal_of_key(request: Request, api_key: str) -> Principal | None:
    # Who a key or a user name is, is kept for a few seconds (PRINCIPAL_TTL_S): a request
    # does not need a database round trip (and a thread) just for that. Changes through
    # this process empty the cache (api.app.ClearCacheOnWrite, forget_principals).
    cache: TtlCache = request.app.state.principal_cache
    found: Principal | None = await cache.get(
        ("key", api_key), lambda: run_db(request, lambda s: principal_for_api_key(s, api_key)))
    return found


async def _principal_of_token(request: Request, token: str | None) -> Principal | None:
    subject = token_subject(token, secret(request)) if token else None
    if subject is None:
        return None
    name, version = subject
    cache: TtlCache = request.app.state.principal_cache
    found: Principal | None = await cache.get(
        ("user", name, version),
        lambda: run_db(request, lambda s: principal_for(s, name, version)))
    return found


def forget_principals(request: Request) -> None:
    """Empty this process's cache of callers (after a user or key changed)."""
    cache: TtlCache = request.app.state.principal_cache
    cache.clear()


#: set on ``request.state`` when a link's token was not used because another user is
#: signed in with the cookie (the cookie is then kept, see api.routers.login)
KEPT_COOKIE = "kept_login_cookie"


async def current_principal(
    request: Request,
    token: Annotated[str | None, Security(oauth2)] = None,
    api_key: Annotated[str | None, Security(api_key_header)] = None,
    cookie: Annotated[str | None, Security(token_cookie)] = None,
    query_token: Annotated[str | None, Security(token_query)] = None,
) -> Principal:
    """The caller: header X-API-Key, else a bearer token (header; for GET requests also
    the ``access_token`` query parameter or the login cookie).

    A token in a link never replaces a signed-in browser's user: when the login cookie
    holds a valid sign-in of another user, the request is that user's and the cookie
    stays (no Set-Cookie); the link's token is ignored.
    """
    principal: Principal | None = None
    if api_key:
        principal = await _principal_of_key(request, api_key)
    elif token:
        principal = await _principal_of_token(request, token)
    elif request.method == "GET" and query_token:
        principal = await _principal_of_token(request, query_token)
        signed_in = await _principal_of_token(request, cookie) if cookie else None
        if signed_in is not None and (principal is None or signed_in.name != principal.name):
            setattr(request.state, KEPT_COOKIE, True)
            principal = signed_in
    elif request.method == "GET" and cookie:
        principal = await _principal_of_token(request, cookie)
    if principal is None:
        raise ApiError(401, "unauthenticated",
                       "not authenticated: send a bearer token or X-API-Key, or sign in at "
                       "/login / 未登录")
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets only the given roles through (403 for the others)."""
    unknown = set(roles) - set(ROLES)
    assert not unknown, unknown

    async def check(principal: PrincipalDep) -> Principal:
        if principal.role not in roles:
            raise ApiError(403, "forbidden",
                           f"role {principal.role!r} may not do this / 无权限")
        return principal

    check.allowed_roles = roles  # type: ignore[attr-defined]
    return check


STAFF = ("admin", "dispatcher")
ADMIN = ("admin",)
READERS = ("admin", "dispatcher", "viewer")
EVERYONE = ROLES

Staff = Annotated[Principal, Depends(require(*STAFF))]
Admin = Annotated[Principal, Depends(require(*ADMIN))]
Readers = Annotated[Principal, Depends(require(*READERS))]
Anyone = Annotated[Principal, Depends(require(*EVERYONE))]


# ---------------------------------------------------------------- signing in

#: Argon2 checks and hashes run here, never on the request threads: at most
#: WASTEROUTE_HASH_THREADS at once per process, whatever arrives
#: the hashing threads' nice value (Linux: per thread, and the threads Argon2 starts
#: for its lanes inherit it): while a flood of sign-ins is being hashed, the CPU goes
#: first to the requests of the signed-in users
HASH_NICE = 10


def _hash_thread_priority() -> None:
    # not Linux, or not allowed: the threads keep the process's priority
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_NICE)


HASHER = ThreadPoolExecutor(max_workers=hash_threads(), thread_name_prefix="argon2",
                            initializer=_hash_thread_priority)
#: sign-ins waiting for the executor beyond which more are turned away (429, retry in 1 s)
#: instead of queueing without end (a flood from many addresses)
MAX_WAITING_HASHES = 64


class _HashQueue:
    waiting = 0


async def run_hash(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` on the hashing executor (Argon2 releases the GIL while it works)."""
    _HashQueue.waiting += 1
    try:
        return await asyncio.get_running_loop().run_in_executor(HASHER, fn, *args)
    finally:
        _HashQueue.waiting -= 1


#: after the shared throttle storage failed, how long to count locally before trying it
SHARED_RETRY_S = 30.0


class LoginThrottle:
    """Failed sign-ins per account and per client address, counted in a moving window
    (the ``limits`` library: Redis when WASTEROUTE_REDIS is set, so every API process
    counts alike; else memory). Only failures count and a success clears nothing, so a
    correct password of one's own account does not reset the count for guessing
    another's (or the address's). ``clock`` is the storage's clock (seconds since the
    epoch), used for Retry-After."""

    def __init__(self, account: str, address: str, storage_uri: str = "async+memory://",
                 clock: Callable[[], float] = time.time, hold_s: float = 1.0) -> None:
        self.account, self.address = parse(account), parse(address)
        #: a refused attempt is answered after this long (an await: no thread is held),
        #: so that a client that retries at once cannot flood the server with refusals
        self.hold_s = hold_s
        options: dict[str, Any] = ({"implementation": "redispy", "socket_connect_timeout": 2}
                                   if "redis" in storage_uri else {})
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_uri, **options))
        #: counts in this process while the shared storage (Redis) cannot be reached,
        #: so sign-ins are still throttled (and answered) when Redis is down
        self.local = MovingWindowRateLimiter(storage_from_string("async+memory://"))
        self.shared_down_until = 0.0
        self.clock = clock
        #: sign-ins passed by the throttle whose password is still being checked
        self.checking: Counter[tuple[str, str]] = Counter()

    @contextmanager
    def checking_password(self, name: str, address: str) -> Iterator[None]:
        keys = (("login-account", name), ("login-address", address))
        for key in keys:
            self.checking[key] += 1
        try:
            yield
        finally:
            for key in keys:
                self.checking[key] -= 1
                if self.checking[key] <= 0:
                    del self.checking[key]

    def _limiter(self) -> MovingWindowRateLimiter:
        return self.local if time.monotonic() < self.shared_down_until else self.limiter

    def _shared_failed(self, exc: Exception) -> None:
        log.warning("login throttle storage unreachable (%s); counting in this process "
                    "for %g s", exc, SHARED_RETRY_S)
        self.shared_down_until = time.monotonic() + SHARED_RETRY_S

    async def _retry_after(self, limiter: MovingWindowRateLimiter, name: str,
                           address: str) -> int | None:
        waits = []
        for item, kind, who in ((self.account, "login-account", name),
                                (self.address, "login-address", address)):
            # sign-ins of this process still being checked count as failures already,
            # so a burst arriving at once cannot all pass before the first is counted
            cost = 1 + self.checking[(kind, who)]
            if not await limiter.test(item, kind, who, cost=cost):
                stats = await limiter.get_window_stats(item, kind, who)
                waits.append(max(1, math.ceil(stats.reset_time - self.clock())))
        return max(waits) if waits else None

    async def hold(self, wait_s: int) -> None:
        """Answer a refusal after about ``hold_s`` (never longer than ``wait_s``),
        spread between half and one and a half times it, so refused clients that
        retry at once do not come back all in the same instant."""
        if self.hold_s > 0:
            await asyncio.sleep(min(wait_s, self.hold_s * random.uniform(0.5, 1.5)))

    async def address_wait(self, address: str) -> int | None:
        """Seconds the client address must wait (its own limit only; the account's
        needs the body)."""
        limiter = self._limiter()
        cost = 1 + self.checking[("login-address", address)]
        try:
            if await limiter.test(self.address, "login-address", address, cost=cost):
                return None
            stats = await limiter.get_window_stats(self.address, "login-address", address)
        except Exception as exc:
            if limiter is self.local:
                raise
            self._shared_failed(exc)
            return await self.address_wait(address)
        return max(1, math.ceil(stats.reset_time - self.clock()))

    async def retry_after(self, name: str, address: str) -> int | None:
        """Seconds to wait when the account or the address has used its attempts."""
        limiter = self._limiter()
        try:
            return await self._retry_after(limiter, name, address)
        except Exception as exc:
            if limiter is self.local:
                raise
            self._shared_failed(exc)
            return await self._retry_after(self.local, name, address)

    async def failed(self, name: str, address: str) -> None:
        limiter = self._limiter()
        try:
            await limiter.hit(self.account, "login-account", name)
            await limiter.hit(self.address, "login-address", address)
        except Exception as exc:
            if limiter is self.local:
                raise
            self._shared_failed(exc)
            await self.failed(name, address)


def login_throttle(request: Request) -> LoginThrottle:
    """The app's throttle (made on first use, from the settings)."""
    return app_login_throttle(request.app.state)


def app_login_throttle(state: Any) -> LoginThrottle:
    """The throttle kept in an app's ``state``."""
    if getattr(state, "login_throttle", None) is None:
        redis = redis_url()
        uri = "async+" + redis if redis else "async+memory://"
        state.login_throttle = LoginThrottle(login_limit_account(), login_limit_address(), uri)
    throttle: LoginThrottle = state.login_throttle
    return throttle


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class Throttled(Exception):
    """Too many failed sign-ins: wait ``retry_after_s``."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed sign-ins; try again in {retry_after_s} s / "
                         f"登录失败次数过多，请 {retry_after_s} 秒后再试")
        self.retry_after_s = retry_after_s


async def sign_in(request: Request, name: str, password: str) -> Principal | None:
    """The principal for a user name and password, or None (a failure, counted).
    Raises :class:`Throttled` while the account or the address has to wait; then no
    password is checked at all."""
    throttle = login_throttle(request)
    address = client_address(request)
    wait = await throttle.retry_after(name, address)
    if wait is not None:
        await throttle.hold(wait)
        raise Throttled(wait)
    if _HashQueue.waiting >= MAX_WAITING_HASHES:
        raise Throttled(1)
    with throttle.checking_password(name, address):
        candidate = await run_db(request, lambda s: login_candidate(s, name))
        who = await run_hash(check_login, candidate, password)
        if who is None:
            await throttle.failed(name, address)
    return who


def throttled_error(exc: Throttled) -> ApiError:
    return ApiError(429, "too_many_requests", str(exc),
                    headers={"Retry-After": str(exc.retry_after_s)})


@dataclass(frozen=True)
class Paging:
    limit: int
    offset: int


async def paging(
    limit: Annotated[int, Query(ge=1, le=1000, description="rows per page")] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="rows to skip")] = 0,
) -> Paging:
    return Paging(limit, offset)


PagingDep = Annotated[Paging, Depends(paging)]
