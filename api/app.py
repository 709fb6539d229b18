"""The FastAPI application: `create_app()` wires routers, errors, CORS and the database."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import unquote_plus

import anyio.to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import errors
from api.cache import TtlCache, ttl_from_env
from api.deps import PRINCIPAL_TTL_S, Throttled, app_login_throttle
from api.routers import admin, data, insights, login, plans
from dashboards.pages import SCRIPT_HASH
from logistics.ops import jobs, queues
from logistics.ops.users import token_secret
from logistics.persistence.db import get_engine, session_factory, upgrade
from logistics.settings import db_url as resolve_db_url

log = logging.getLogger(__name__)

DESCRIPTION = """
HTTP API of wasteroute (县域环卫收运规划). Authenticate with `POST /token`
(OAuth2 password flow, bearer JWT) or an API key in header `X-API-Key`.
Roles: admin, dispatcher (change data, plan), driver (own routes, post weights of
own stops), viewer (plans, metrics, dashboards). Errors are JSON
`{"detail": ..., "reason": ...}`; import row errors add `errors`:
`[{file,row,column,message,value}]`. Lists answer `{"data": [...], "count": N}`.
"""


def cors_origins() -> list[str]:
    raw = os.environ.get("WASTEROUTE_CORS", "")
    return [o.strip() for o in raw.split(",") if o.strip()]


def api_threads() -> int:
    """Threads that run requests in this process (``WASTEROUTE_API_THREADS``, default 12);
    the database pool gets as many connections again."""
    return max(1, int(os.environ.get("WASTEROUTE_API_THREADS", "12")))


#: POSTs that change nothing the caches hold
SIGN_IN_PATHS = frozenset({"/token", "/login", "/logout"})


class ClearCacheOnWrite:
    """Writes through this process (any method other than GET/HEAD/OPTIONS that
    succeeded) empty the read cache, so they show at once here; other processes see
    them when their cache entries expire."""

    def __init__(self, app: ASGIApp, caches: tuple[TtlCache, ...]) -> None:
        self.app, self.caches = app, caches

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS")
                or scope["path"] in SIGN_IN_PATHS):
            await self.app(scope, receive, send)
            return

        async def sent(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                for cache in self.caches:
                    cache.clear()
            await send(message)

        await self.app(scope, receive, sent)


class RefuseThrottledSignIns:
    """``POST /token`` from a client address that has used its failed sign-ins is
    answered 429 here, before the request is routed or its form parsed: under a flood
    of wrong passwords most requests are these, so their cost is kept to the throttle
    check (the endpoint still checks the account's limit, and the address's again)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/token":
            throttle = app_login_throttle(scope["app"].state)
            client = scope.get("client")
            wait = await throttle.address_wait(client[0] if client else "unknown")
            if wait is not None:
                await throttle.hold(wait)
                exc = Throttled(wait)
                response = JSONResponse(
                    {"detail": str(exc), "reason": "too_many_requests"}, status_code=429,
                    headers={"Retry-After": str(wait)})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class RefuseNulBytes:
    """A NUL byte in the path or query is refused before any endpoint runs: PostgreSQL
    text cannot hold one (SQLite can), so the answer would otherwise differ by database."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
                "\x00" in scope["path"]
                or "\x00" in unquote_plus(scope.get("query_string", b"").decode("latin-1"))):
            response = JSONResponse(
                {"detail": [{"loc": ["query"], "msg": "NUL byte in the request / 请求含 NUL 字符",
                             "type": "value_error"}], "reason": "validation"},
                status_code=422)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


#: what our pages may load: only this server; the dashboards' one inline script by its
#: hash; inline styles (the pages' own and plotly's); blob: workers and images (the map)
CSP = "; ".join([
    "default-src 'none'", f"script-src 'self' {SCRIPT_HASH}", "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:", "font-src 'self' data:", "connect-src 'self'",
    "worker-src 'self' blob:", "child-src 'self' blob:", "form-action 'self'",
    "base-uri 'none'", "frame-ancestors 'none'",
])
#: the interactive API docs (/docs, /redoc) are FastAPI's pages, which load Swagger UI or
#: ReDoc from their CDN with an inline start script: they alone may
DOCS_CSP = "; ".join([
    "default-src 'none'", "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net",
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net",
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly",
    "font-src 'self' https://fonts.gstatic.com", "connect-src 'self'",
    "worker-src 'self' blob:", "form-action 'self'", "base-uri 'none'",
    "frame-ancestors 'none'",
])
DOCS_PATHS = ("/docs", "/redoc")
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


class SecurityHeaders:
    """Every answer (errors included) says what a browser may do with it: the
    Content-Security-Policy, no MIME sniffing, no framing, no Referer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        docs = any(path == d or path.startswith(d + "/") for d in DOCS_PATHS)
        csp = DOCS_CSP if docs else CSP

        async def sent(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("content-security-policy", csp)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, sent)


class Api(FastAPI):
    """FastAPI with :class:`SecurityHeaders` outside everything else, so that even the
    answer of the last-resort error handler carries the headers."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack())


def create_app(db_url: str | None = None, *, migrate: bool = True) -> FastAPI:
    url = resolve_db_url(db_url)
    threads = api_threads()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Endpoints run on AnyIO's thread pool (WASTEROUTE_API_THREADS threads); the
        # engine's pool is sized to it, and no request holds a connection while it
        # waits for a thread (api.deps).
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        # the token secret once, before serving (not lazily inside a request's transaction)
        app.state.secret = token_secret(app.state.session_factory)
        queue = queues.get_queue()
        reaper: threading.Thread | None = None
        stop = threading.Event()
        if queue.name == "embedded":
            with app.state.session_factory.begin() as session:
                n = jobs.fail_unfinished(
                    session, "the server restarted before the job finished / 服务重启，任务中断")
            if n:
                log.warning("marked %d unfinished embedded job(s) failed", n)
            # the workers reap Redis jobs; the server reaps the jobs of its own pool
            # (a thread of its own: it must not hold one of the request threads)
            reaper = threading.Thread(target=queues.reap_loop, args=(stop, queue, url),
                                      name="job-reaper", daemon=True)
            reaper.start()
        try:
            yield
        finally:
            stop.set()
            if reaper is not None:
                reaper.join(5)
            unfinished = await anyio.to_thread.run_sync(queues.close_embedded)
            if unfinished:
                with app.state.session_factory.begin() as session:
                    for job_id in unfinished:
                        jobs.mark_failed(session, job_id, "the server stopped during the job "
                                                          "/ 服务停止，任务中断")
                log.warning("server stopping: ended %d embedded job(s)", len(unfinished))
            get_engine(url, threads).dispose()

    if migrate:
        upgrade(url)
    app = Api(
        title="wasteroute API",
        version="1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        responses=errors.ERROR_RESPONSES,
    )
    read_cache = TtlCache(ttl_from_env())
    app.state.db_url = url
    # The pool has a connection for every request thread plus the same again for the
    # exit steps of sync endpoints (their commit runs outside the request threads), so
    # no request thread ever waits for a connection that a request waiting for a
    # thread holds.
    app.state.session_factory = session_factory(url, pool_size=threads)
    app.state.read_cache = read_cache
    app.state.principal_cache = TtlCache(min(PRINCIPAL_TTL_S, read_cache.ttl_s), 4096)
    app.state.secret = None
    errors.install(app)
    app.add_middleware(RefuseNulBytes)
    app.add_middleware(RefuseThrottledSignIns)
    app.add_middleware(ClearCacheOnWrite,
                       caches=(read_cache, app.state.principal_cache))
    origins = cors_origins()
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_credentials="*" not in origins,
                           allow_methods=["*"], allow_headers=["*"])
    app.include_router(login.router)
    app.include_router(admin.router)
    app.include_router(data.router)
    app.include_router(plans.router)
    app.include_router(insights.router)
    return app
