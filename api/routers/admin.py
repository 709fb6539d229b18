"""Tokens, users and API keys, events from other systems."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from api import schemas as s
from api.deps import ADMIN, EVERYONE, STAFF, PagingDep, PrincipalDep, SessionDep, require, secret
from api.errors import ApiError
from logistics.domain import NotFound
from logistics.ops.users import TOKEN_TTL_S, authenticate, create_api_key, create_user, issue_token
from logistics.persistence import api_repo
from logistics.persistence.models import Complaint
from logistics.settings import TIMEZONE

router = APIRouter()
_ADMIN = Depends(require(*ADMIN))
_STAFF = Depends(require(*STAFF))
_ALL = Depends(require(*EVERYONE))


@router.post("/token", response_model=s.TokenOut, operation_id="login", tags=["auth"],
             summary="OAuth2 password flow: user name + password -> bearer token (JWT)")
def login(
    request: Request, session: SessionDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> s.TokenOut:
    who = authenticate(session, form.username, form.password)
    if who is None:
        raise ApiError(401, "unauthenticated", "wrong user name or password / 用户名或密码错误")
    return s.TokenOut(access_token=issue_token(who, secret(request)), expires_in=TOKEN_TTL_S)


@router.get("/me", response_model=s.UserOut, operation_id="me", dependencies=[_ALL],
            tags=["auth"], summary="Who am I")
def me(who: PrincipalDep) -> s.UserOut:
    return s.UserOut(name=who.name, role=who.role, vehicle_id=who.vehicle_id, active=True)


@router.get("/users", response_model=s.Page[s.UserOut], operation_id="list_users",
            dependencies=[_ADMIN], tags=["auth"], summary="Users")
def users(session: SessionDep, p: PagingDep) -> dict[str, Any]:
    rows, count = api_repo.list_users(session, p.limit, p.offset)
    return {"data": [s.UserOut.model_validate(u) for u in rows], "count": count}


@router.post("/users", response_model=s.UserOut, status_code=201, operation_id="create_user",
             dependencies=[_ADMIN], tags=["auth"], summary="Add a user")
def add_user(session: SessionDep, body: s.UserIn) -> s.UserOut:
    if api_repo.user_exists(session, body.name.strip()):
        raise ApiError(409, "conflict", f"user {body.name!r} already exists / 用户已存在")
    user = create_user(session, body.name, body.role, body.password, body.vehicle_id)
    return s.UserOut.model_validate(user)


@router.post("/users/{name}/api-keys", response_model=s.ApiKeyOut, status_code=201,
             operation_id="create_api_key", dependencies=[_ADMIN], tags=["auth"],
             summary="A new API key for a user (for machines; header X-API-Key)")
def add_api_key(session: SessionDep, name: str) -> s.ApiKeyOut:
    return s.ApiKeyOut(key=create_api_key(session, name), user=name)


# ---------------------------------------------------------------- events


@router.post("/events/complaints", response_model=s.ComplaintOut, status_code=201,
             operation_id="report_complaint", dependencies=[_STAFF], tags=["events"],
             summary="An overflow report from the city-management platform")
def complaint(session: SessionDep, who: PrincipalDep, body: s.ComplaintIn) -> s.ComplaintOut:
    if not api_repo.point_exists(session, body.point_id):
        raise NotFound(f"no such point {body.point_id!r} / 点位不存在")
    time = body.time
    if time.tzinfo is not None:  # stored as local time without offset, like tickets
        time = time.astimezone(ZoneInfo(TIMEZONE)).replace(tzinfo=None)
    row = api_repo.add_row(session, Complaint(
        point_id=body.point_id, time=time, note=body.note, kg_estimate=body.kg_estimate,
        source=body.source or who.name,
        received_at=dt.datetime.now(dt.UTC).replace(tzinfo=None), handled=False))
    return s.ComplaintOut.model_validate(row)


@router.get("/events/complaints", response_model=s.Page[s.ComplaintOut],
            operation_id="list_complaints", dependencies=[_STAFF], tags=["events"],
            summary="Overflow reports, newest first")
def complaints(session: SessionDep, p: PagingDep) -> dict[str, Any]:
    rows, count = api_repo.list_complaints(session, p.limit, p.offset)
    return {"data": [s.ComplaintOut.model_validate(x) for x in rows], "count": count}
