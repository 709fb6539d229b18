"""Plans (versions per day, routes, stops), planning jobs, route sheets."""

from __future__ import annotations

import datetime as dt
import io
import logging
import tempfile
import zipfile
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, Response

from api import schemas as s
from api.cache import TtlCache
from api.deps import EVERYONE, STAFF, PrincipalDep, SessionDep, require, run_db, run_db_sync
from api.errors import ApiError
from api.routers.data import PagingDep
from logistics.domain import NotFound
from logistics.ops import jobs, queues
from logistics.persistence import plan_repo
from logistics.persistence.db import Session
from logistics.persistence.models import Job, Plan
from logistics.sheets import write_sheets

log = logging.getLogger(__name__)
router = APIRouter()
_ALL = Depends(require(*EVERYONE))
_STAFF = Depends(require(*STAFF))


@router.get("/plans", response_model=s.Page[s.PlanOut], operation_id="list_plans",
            summary="Plan versions, newest day first", dependencies=[_ALL], tags=["plans"])
async def list_plans(
    request: Request,
    p: PagingDep,
    date: Annotated[dt.date | None, Query(description="only this day")] = None,
    status: Annotated[str | None, Query(pattern="^(current|superseded)$")] = None,
) -> s.Page[s.PlanOut]:
    def read(session: Session) -> s.Page[s.PlanOut]:
        rows = plan_repo.list_plans(session, date, status=status, newest_first=True,
                                    limit=p.limit, offset=p.offset)
        count = plan_repo.count_plans(session, date, status=status)
        return s.Page[s.PlanOut](data=[s.PlanOut.model_validate(x) for x in rows], count=count)

    return await run_db(request, read)


def _plan(session: Session, plan_id: str) -> Plan:
    plan = plan_repo.get_plan(session, plan_id)
    if plan is None:
        raise NotFound(f"no such plan {plan_id!r} / 计划不存在")
    return plan


@router.get("/plans/{plan_id}", response_model=s.PlanOut, operation_id="get_plan",
            summary="One plan version", dependencies=[_ALL], tags=["plans"])
async def get_plan(request: Request, plan_id: str) -> s.PlanOut:
    return await run_db(request, lambda session: s.PlanOut.model_validate(_plan(session, plan_id)))


def _routes_json(session: Session, plan_id: str) -> list[tuple[str, bytes]]:
    """Every route of a plan as (vehicle_id, encoded JSON of RouteOut)."""
    _plan(session, plan_id)
    return [(r.vehicle_id, s.RouteOut.model_validate(r).model_dump_json().encode("utf-8"))
            for r in plan_repo.routes_of(session, plan_id)]


@router.get("/plans/{plan_id}/routes", response_model=s.Page[s.RouteOut],
            operation_id="list_plan_routes", dependencies=[_ALL], tags=["plans"],
            summary="Routes with their stops (a driver sees only his own vehicle's)")
async def plan_routes(
    request: Request, who: PrincipalDep, plan_id: str,
    vehicle_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    # A stored plan version never changes (a new plan is a new version), so its routes,
    # encoded once, are kept in the read cache (the cache still expires them).
    cache: TtlCache = request.app.state.read_cache
    routes: list[tuple[str, bytes]] = await cache.get(
        ("routes", plan_id), lambda: run_db(request, lambda session: _routes_json(session,
                                                                                  plan_id)))
    wanted = [body for v, body in routes
              if (who.role != "driver" or v == who.vehicle_id)
              and (vehicle_id is None or v == vehicle_id)]
    body = b'{"data":[' + b",".join(wanted) + b'],"count":' + str(len(wanted)).encode() + b"}"
    return Response(body, media_type="application/json")


@router.post("/plans", status_code=202, response_model=s.JobOut, operation_id="plan_day",
             summary="Plan a day in the background; answers a job to poll",
             description=(
                 "202 with a new job; 200 with the job already pending for that day (a "
                 "second request joins it), unless `replace=true`, which cancels the "
                 "pending job and starts a new one. 503 when the job queue cannot be "
                 "reached (the job is then failed with the reason)."),
             responses={200: {"model": s.JobOut,
                              "description": "joined the job already pending for that day"},
                        503: {"model": s.ErrorOut, "description": "job queue unreachable"}},
             dependencies=[_STAFF], tags=["plans"])
def create_plan(
    request: Request, response: Response, who: PrincipalDep, body: s.PlanRequest,
    replace: Annotated[bool, Query(
        description="cancel a job pending for that day and start a new one")] = False,
) -> s.JobOut:
    # Two transactions: the job must be committed before its message can reach a
    # worker, and its failure recorded when the queue refuses the message.
    def request_job(session: Session) -> tuple[s.JobOut, bool]:
        job, created = jobs.request_plan(session, body.date, body.time_limit_s,
                                         created_by=who.name, replace=replace)
        return s.JobOut.model_validate(job), created

    job, created = run_db_sync(request, request_job)
    response.headers["Location"] = f"/jobs/{job.job_id}"
    if not created:
        response.status_code = 200
        return job
    try:
        queues.get_queue().enqueue(job.job_id, request.app.state.db_url)
    except Exception as exc:
        reason = (f"the job queue could not take the job ({type(exc).__name__}: {exc}) "
                  "/ 任务队列不可用")
        log.error("job %s not queued: %s", job.job_id, reason)
        run_db_sync(request, lambda session: jobs.mark_failed(session, job.job_id, reason))
        raise ApiError(503, "queue_unavailable", f"{reason}; job {job.job_id} failed",
                       headers={"Retry-After": "30"}) from None
    return job


# ---------------------------------------------------------------- jobs


@router.get("/jobs", response_model=s.Page[s.JobOut], operation_id="list_jobs",
            summary="Background jobs, newest first", dependencies=[_STAFF], tags=["jobs"])
def list_jobs(
    session: SessionDep, p: PagingDep,
    status: Annotated[str | None, Query(
        pattern="^(queued|running|succeeded|failed|cancelled|superseded)$")] = None,
) -> dict[str, Any]:
    rows, count = jobs.list_jobs(session, status, p.limit, p.offset)
    return {"data": [s.JobOut.model_validate(x) for x in rows], "count": count}


@router.get("/jobs/{job_id}", response_model=s.JobOut, operation_id="get_job",
            summary="A job: status, progress, attempts", dependencies=[_STAFF], tags=["jobs"])
def get_job(session: SessionDep, job_id: str) -> s.JobOut:
    return s.JobOut.model_validate(jobs.get_job(session, job_id))


@router.post("/jobs/{job_id}/cancel", response_model=s.JobOut, operation_id="cancel_job",
             summary="Cancel a job (a running solve is not stored)", dependencies=[_STAFF],
             tags=["jobs"])
def cancel_job(session: SessionDep, job_id: str) -> s.JobOut:
    return s.JobOut.model_validate(jobs.request_cancel(session, job_id))


@router.get("/jobs/{job_id}/result", response_model=s.PlanOut, operation_id="get_job_result",
            summary="The plan a succeeded job stored", dependencies=[_STAFF], tags=["jobs"])
def job_result(session: SessionDep, job_id: str) -> s.PlanOut:
    job: Job = jobs.get_job(session, job_id)
    if job.status != jobs.SUCCEEDED or not job.result:
        raise ApiError(409, "not_ready",
                       f"job is {job.status}; no result / 任务状态 {job.status}，没有结果")
    return s.PlanOut.model_validate(_plan(session, str(job.result["plan_id"])))


# ---------------------------------------------------------------- sheets


MEDIA = {"pdf": "application/pdf", "html": "text/html; charset=utf-8",
         "gpx": "application/gpx+xml", "geojson": "application/geo+json",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def attachment(name: str) -> str:
    """Content-Disposition of a download (RFC 6266): the name as is when it is plain
    ASCII, else an ASCII stand-in plus the real name in UTF-8 (``filename*``)."""
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\;' else "_" for c in name)
    if fallback == name:
        return f'attachment; filename="{name}"'
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@router.get("/sheets/{date}", operation_id="get_sheets", dependencies=[_ALL], tags=["sheets"],
            summary="Route sheets of a day's current plan (one file, or a zip of several)",
            response_class=Response,
            responses={200: {"content": {"application/zip": {}, "application/pdf": {}},
                             "description": "the sheet file(s)"}})
def sheets(
    session: SessionDep, who: PrincipalDep, date: dt.date,
    fmt: Annotated[str, Query(alias="format", pattern="^(pdf|html|gpx|geojson|xlsx)$")] = "pdf",
    lang: Annotated[str, Query(pattern="^(zh|en)$")] = "zh",
    vehicle: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    if who.role == "driver":
        vehicle = who.vehicle_id
    with tempfile.TemporaryDirectory(prefix="wasteroute-sheets-") as tmp:
        paths = write_sheets(session, date, fmt, Path(tmp), lang=lang, vehicle=vehicle)
        if len(paths) == 1:
            return Response(paths[0].read_bytes(), media_type=MEDIA[fmt], headers={
                "Content-Disposition": attachment(paths[0].name)})
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in paths:
                zf.write(p, p.name)
    return Response(buf.getvalue(), media_type="application/zip", headers={
        "Content-Disposition": attachment(f"sheets-{date}-{fmt}.zip")})
