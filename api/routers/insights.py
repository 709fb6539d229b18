"""Metrics (logistics.reporting.metrics) and live dashboards (dashboards.pages)."""

from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, RedirectResponse

from api.cache import TtlCache
from api.deps import READERS, TOKEN_QUERY, require, run_db
from api.routers.login import set_login_cookie
from dashboards.pages import PAGES, page_figures, plotly_js, render_page
from logistics.domain import BadInput, parse_category
from logistics.persistence.db import Session
from logistics.reporting.metrics import compute_metrics
from logistics.reporting.periods import default_period

router = APIRouter()
_READERS = Depends(require(*READERS))


@router.get("/metrics", operation_id="get_metrics", dependencies=[_READERS], tags=["metrics"],
            summary="Official metrics of a period with their inputs (wasteroute.metrics/1)",
            response_model=dict[str, Any])
async def metrics(
    request: Request,
    date_from: Annotated[dt.date | None, Query(
        alias="from", description="first day (without from/to: the default period)")] = None,
    date_to: Annotated[dt.date | None, Query(alias="to", description="last day (included)")
                       ] = None,
    period: Annotated[str, Query(pattern="^(year|month)$", description=(
        "without from/to: year (up to the newest complete month) or month (the newest "
        "complete month)"))] = "year",
    by: Annotated[str, Query(pattern="^(county|town)$")] = "county",
    category: Annotated[str | None, Query(max_length=32)] = None,
    town: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    if (date_from is None) != (date_to is None):
        raise BadInput("give both 'from' and 'to', or neither / from 与 to 须同时给出")
    if date_from is not None and date_to is not None:
        if date_to < date_from:
            raise BadInput("'to' is before 'from' / 结束日期早于开始日期")
        if (date_to - date_from).days > 3660:
            raise BadInput("period longer than 10 years / 时间段过长")
    cat = None
    if category is not None:
        cat = parse_category(category)
        if cat is None:
            raise BadInput(f"unknown category {category!r} / 未知类别")
    def build(session: Session) -> bytes:
        if date_from is not None and date_to is not None:
            start, end = date_from, date_to
        else:
            start, end = default_period(session, period)
        return json_bytes(compute_metrics(session, start, end, by=by, category=cat, town=town))

    cache: TtlCache = request.app.state.read_cache
    body: bytes = await cache.get(("metrics", date_from, date_to, period, by, cat, town),
                                  lambda: run_db(request, build))
    return Response(body, media_type="application/json")


def json_bytes(doc: Any) -> bytes:
    """The JSON answer, encoded once (cached answers are not serialized again)."""
    return json.dumps(jsonable_encoder(doc), ensure_ascii=False, allow_nan=False,
                      separators=(",", ":")).encode("utf-8")


def _filters(date: dt.date | None, year: int | None, lang: str,
             period: str | None = None) -> dict[str, str]:
    f = {"lang": lang}
    if date is not None:
        f["date"] = date.isoformat()
    if year is not None:
        f["year"] = str(year)
    if period is not None:
        f["period"] = period
    return f


DateQ = Annotated[dt.date | None, Query(description="plan day (default: newest plan)")]
YearQ = Annotated[int | None, Query(ge=1900, le=2200)]
LangQ = Annotated[str, Query(pattern="^(zh|en)$")]
PeriodQ = Annotated[str | None, Query(
    pattern=r"^\d{4}-\d{2}-\d{2}\.\.\d{4}-\d{2}-\d{2}$",
    description="FROM..TO (overview; default: the newest complete year or year to date)")]


@router.get("/dashboards", operation_id="list_dashboards", dependencies=[_READERS],
            tags=["dashboards"], summary="Dashboard page names", response_model=list[str])
async def pages() -> list[str]:
    return list(PAGES)


@lru_cache(maxsize=1)
def _plotly() -> str:
    return plotly_js()


@router.get("/dashboards/plotly.min.js", operation_id="get_plotly_js", tags=["dashboards"],
            summary="plotly.js for the dashboard pages", response_class=Response,
            responses={200: {"content": {"application/javascript": {}}}})
async def plotly() -> Response:
    return Response(_plotly(), media_type="application/javascript",
                    headers={"Cache-Control": "public, max-age=86400"})


async def _page(request: Request, kind: str, page: str, filters: dict[str, str]) -> Any:
    def build(session: Session) -> Any:
        if kind == "json":
            return json_bytes(page_figures(session, page, filters))
        return render_page(session, page, filters, plotly_src="/dashboards/plotly.min.js",
                           static=False)

    cache: TtlCache = request.app.state.read_cache
    key = ("dashboard", kind, page, tuple(sorted(filters.items())))
    return await cache.get(key, lambda: run_db(request, build))


async def _html_answer(request: Request, page: str, filters: dict[str, str]) -> Response:
    token = request.query_params.get(TOKEN_QUERY)
    if token and not request.headers.get("authorization"):
        # opened from a link with ?access_token=: keep the token in the login cookie and
        # take it out of the address (history, logs, Referer), then show the page
        rest = [(k, v) for k, v in request.query_params.multi_items() if k != TOKEN_QUERY]
        target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
        response: Response = RedirectResponse(target, status_code=303)
        set_login_cookie(request, response, token)
        return response
    html = await _page(request, "html", page, filters)
    return HTMLResponse(html, headers={"Cache-Control": "private, no-store"})


# the .html route comes first: "/dashboards/{page}" would take "overview.html" as a page
@router.get("/dashboards/{page}.html", operation_id="get_dashboard_page",
            dependencies=[_READERS], tags=["dashboards"], response_class=Response,
            responses={200: {"content": {"text/html": {}}, "description": "the page"}},
            summary="A dashboard page for browsers (links between pages are relative)")
async def dashboard_page(request: Request, page: str, date: DateQ = None, year: YearQ = None,
                         lang: LangQ = "zh", period: PeriodQ = None) -> Response:
    return await _html_answer(request, page, _filters(date, year, lang, period))


@router.get("/dashboards/{page}", operation_id="get_dashboard", dependencies=[_READERS],
            tags=["dashboards"], summary="Figures of a dashboard page (plotly JSON)",
            response_model=dict[str, Any])
async def dashboard(request: Request, page: str, date: DateQ = None, year: YearQ = None,
                    lang: LangQ = "zh", period: PeriodQ = None) -> Response:
    body: bytes = await _page(request, "json", page, _filters(date, year, lang, period))
    return Response(body, media_type="application/json")


@router.get("/dashboards/{page}/html", operation_id="get_dashboard_html",
            dependencies=[_READERS], tags=["dashboards"], response_class=Response,
            responses={200: {"content": {"text/html": {}}, "description": "the page"}},
            summary="A dashboard page as HTML (same as /dashboards/{page}.html)")
async def dashboard_html(request: Request, page: str, date: DateQ = None, year: YearQ = None,
                         lang: LangQ = "zh", period: PeriodQ = None) -> Response:
    return await _html_answer(request, page, _filters(date, year, lang, period))
