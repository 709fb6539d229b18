"""Metrics (logistics.metrics) and live dashboards (dashboards.pages)."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import HTMLResponse

from api.deps import READERS, SessionDep, require
from logistics.domain import BadInput, parse_category

router = APIRouter()
_READERS = Depends(require(*READERS))


@router.get("/metrics", operation_id="get_metrics", dependencies=[_READERS], tags=["metrics"],
            summary="Official metrics of a period with their inputs (wasteroute.metrics/1)",
            response_model=dict[str, Any])
def metrics(
    session: SessionDep,
    date_from: Annotated[dt.date, Query(alias="from", description="first day")],
    date_to: Annotated[dt.date, Query(alias="to", description="last day (included)")],
    by: Annotated[str, Query(pattern="^(county|town)$")] = "county",
    category: Annotated[str | None, Query(max_length=32)] = None,
    town: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any]:
    from logistics.metrics import compute_metrics

    if date_to < date_from:
        raise BadInput("'to' is before 'from' / 结束日期早于开始日期")
    if (date_to - date_from).days > 3660:
        raise BadInput("period longer than 10 years / 时间段过长")
    cat = None
    if category is not None:
        cat = parse_category(category)
        if cat is None:
            raise BadInput(f"unknown category {category!r} / 未知类别")
    return compute_metrics(session, date_from, date_to, by=by, category=cat, town=town)


def _filters(date: dt.date | None, year: int | None, lang: str) -> dict[str, str]:
    f = {"lang": lang}
    if date is not None:
        f["date"] = date.isoformat()
    if year is not None:
        f["year"] = str(year)
    return f


DateQ = Annotated[dt.date | None, Query(description="plan day (default: newest plan)")]
YearQ = Annotated[int | None, Query(ge=1900, le=2200)]
LangQ = Annotated[str, Query(pattern="^(zh|en)$")]


@router.get("/dashboards", operation_id="list_dashboards", dependencies=[_READERS],
            tags=["dashboards"], summary="Dashboard page names", response_model=list[str])
def pages() -> list[str]:
    from dashboards.pages import PAGES

    return list(PAGES)


@lru_cache(maxsize=1)
def _plotly() -> str:
    from dashboards.pages import plotly_js

    return plotly_js()


@router.get("/dashboards/plotly.min.js", operation_id="get_plotly_js", tags=["dashboards"],
            summary="plotly.js for the dashboard pages", response_class=Response,
            responses={200: {"content": {"application/javascript": {}}}})
def plotly() -> Response:
    return Response(_plotly(), media_type="application/javascript",
                    headers={"Cache-Control": "public, max-age=86400"})


@router.get("/dashboards/{page}", operation_id="get_dashboard", dependencies=[_READERS],
            tags=["dashboards"], summary="Figures of a dashboard page (plotly JSON)",
            response_model=dict[str, Any])
def dashboard(session: SessionDep, page: str, date: DateQ = None, year: YearQ = None,
              lang: LangQ = "zh") -> dict[str, Any]:
    from dashboards.pages import page_figures

    return page_figures(session, page, _filters(date, year, lang))


@router.get("/dashboards/{page}/html", operation_id="get_dashboard_html",
            dependencies=[_READERS], tags=["dashboards"], response_class=Response,
            responses={200: {"content": {"text/html": {}}, "description": "the page"}},
            summary="A dashboard page as HTML")
def dashboard_html(session: SessionDep, page: str, date: DateQ = None, year: YearQ = None,
                   lang: LangQ = "zh") -> Response:
    from dashboards.pages import render_page

    return HTMLResponse(render_page(session, page, _filters(date, year, lang),
                                    plotly_src="/dashboards/plotly.min.js"))
