"""The FastAPI application: `create_app()` wires routers, errors, CORS and the database."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api import errors
from api.routers import admin, data, insights, plans
from logistics import jobs
from logistics.persistence.db import session_factory, upgrade
from logistics.persistence.db import session_scope as _scope
from logistics.settings import db_url as resolve_db_url
from logistics.users import token_secret

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
    return max(1, int(os.environ.get("WASTEROUTE_API_THREADS", "12")))


def create_app(db_url: str | None = None, *, migrate: bool = True) -> FastAPI:
    url = resolve_db_url(db_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Sync endpoints and their session dependency run on AnyIO's thread pool; a
        # request holds one pooled DB connection from its first query to its commit,
        # which also needs a thread. More threads than connections (SQLAlchemy's
        # default pool: 5 + 10 overflow) would let every thread wait for a connection
        # while the holders wait for a thread, so the pool of threads stays smaller.
        import anyio.to_thread

        anyio.to_thread.current_default_thread_limiter().total_tokens = api_threads()
        # the token secret once, before serving (not lazily inside a request's transaction)
        app.state.secret = token_secret(app.state.session_factory)
        queue = jobs.get_queue()
        if queue.name == "embedded":
            with _scope(url) as session:
                n = jobs.fail_unfinished(
                    session, "the server restarted before the job finished / 服务重启，任务中断")
            if n:
                log.warning("marked %d unfinished embedded job(s) failed", n)
        yield

    if migrate:
        upgrade(url)
    app = FastAPI(
        title="wasteroute API",
        version="1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        responses=errors.ERROR_RESPONSES,
    )
    app.state.db_url = url
    app.state.session_factory = session_factory(url)
    app.state.secret = None
    errors.install(app)
    origins = cors_origins()
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_credentials="*" not in origins,
                           allow_methods=["*"], allow_headers=["*"])
    app.include_router(admin.router)
    app.include_router(data.router)
    app.include_router(plans.router)
    app.include_router(insights.router)
    return app
