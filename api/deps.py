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
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Query, Request, Security
from fastapi.security import APIKeyCookie, APIKeyHeader, APIKeyQuery, OAuth2PasswordBearer
from starlette.concurrency import run_in_threadpool

from api.cache import TtlCache
from api.errors import ApiError
from logistics.ops.users import (
    ROLES,
    Principal,
    principal_for,
    principal_for_api_key,
    token_secret,
    token_subject,
)
from logistics.persistence.db import Session, sessionmaker, transaction

T = TypeVar("T")

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


def _lookup(session: Session, api_key: str | None, name: str | None) -> Principal | None:
    if api_key:
        return principal_for_api_key(session, api_key)
    return principal_for(session, name) if name else None


async def current_principal(
    request: Request,
    token: Annotated[str | None, Security(oauth2)] = None,
    api_key: Annotated[str | None, Security(api_key_header)] = None,
    cookie: Annotated[str | None, Security(token_cookie)] = None,
    query_token: Annotated[str | None, Security(token_query)] = None,
) -> Principal:
    """The caller: header X-API-Key, else a bearer token (header; for GET requests also
    the ``access_token`` query parameter or the login cookie)."""
    if not token and request.method == "GET":
        token = query_token or cookie
    name = None
    if not api_key and token:
        name = token_subject(token, secret(request))
    principal: Principal | None = None
    if api_key or name:
        # Who a key or a user name is, is kept for a few seconds (PRINCIPAL_TTL_S): a
        # request does not need a database round trip (and a thread) just for that.
        cache: TtlCache = request.app.state.principal_cache
        principal = await cache.get(("key", api_key) if api_key else ("user", name),
                                    lambda: run_db(request, lambda s: _lookup(s, api_key, name)))
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
