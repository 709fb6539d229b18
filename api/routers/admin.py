"""Tokens, users and API keys, events from other systems."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api import schemas as s
from api.deps import (
    ADMIN,
    EVERYONE,
    STAFF,
    PagingDep,
    PrincipalDep,
    SessionDep,
    Throttled,
    forget_principals,
    require,
    run_db,
    run_hash,
    secret,
    sign_in,
    throttled_error,
)
from api.errors import ApiError
from logistics.domain import NotFound
from logistics.ops.users import (
    TOKEN_TTL_S,
    api_key_id,
    check_new_password,
    create_api_key,
    create_user,
    hash_password,
    issue_token,
    list_api_keys,
    principal_for,
    revoke_api_key,
    set_active,
    set_password_hash,
)
from logistics.persistence import api_repo
from logistics.persistence.models import Complaint
from logistics.settings import TIMEZONE

router = APIRouter()
_ADMIN = Depends(require(*ADMIN))
_STAFF = Depends(require(*STAFF))
_ALL = Depends(require(*EVERYONE))


WRONG_PASSWORD = "wrong user name or password / 用户名或密码错误"


class PasswordIn(BaseModel):
    password: str = Field(min_length=8, max_length=200)
    model_config = ConfigDict(extra="forbid")


class OwnPasswordIn(BaseModel):
    old_password: str = Field(min_length=1, max_length=200)
    new_password: str = Field(min_length=8, max_length=200)
    model_config = ConfigDict(extra="forbid")


class ApiKeyInfoOut(BaseModel):
    key_id: str = Field(description="the first 16 hex digits of the key's SHA-256")
    user: str
    label: str
    created_at: dt.datetime = Field(description="when the key was made (UTC)")


@router.post("/token", response_model=s.TokenOut, operation_id="login", tags=["auth"],
             summary="OAuth2 password flow: user name + password -> bearer token (JWT)",
             responses={429: {"model": s.ErrorOut,
                              "description": "too many failed sign-ins (header Retry-After)"}})
async def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=200)],
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
    scope: Annotated[str, Form(max_length=1000)] = "",
) -> s.TokenOut:
    # async: the user lookup takes one short thread call, Argon2 runs on its own small
    # executor, so a flood of sign-ins does not hold the threads other requests need
    try:
        who = await sign_in(request, username, password)
    except Throttled as exc:
        raise throttled_error(exc) from None
    if who is None:
        raise ApiError(401, "unauthenticated", WRONG_PASSWORD)
    return s.TokenOut(access_token=issue_token(who, secret(request)), expires_in=TOKEN_TTL_S)


@router.post("/me/password", response_model=s.TokenOut, operation_id="change_own_password",
             dependencies=[_ALL], tags=["auth"],
             summary="Change one's own password (the old one is needed); earlier tokens "
                     "stop working, the answer carries a new one",
             responses={429: {"model": s.ErrorOut,
                              "description": "too many failed sign-ins (header Retry-After)"}})
async def change_own_password(request: Request, who: PrincipalDep,
                              body: OwnPasswordIn) -> s.TokenOut:
    check_new_password(body.new_password)
    try:  # the old password is checked like a sign-in: throttled, counted when wrong
        ok = await sign_in(request, who.name, body.old_password)
    except Throttled as exc:
        raise throttled_error(exc) from None
    if ok is None:
        raise ApiError(403, "forbidden", "the old password is wrong / 原密码错误")
    new_hash = await run_hash(hash_password, body.new_password)
    await run_db(request, lambda ses: set_password_hash(ses, who.name, new_hash))
    forget_principals(request)
    fresh = await run_db(request, lambda ses: principal_for(ses, who.name))
    if fresh is None:
        raise ApiError(401, "unauthenticated", "the user was deactivated / 用户已停用")
    return s.TokenOut(access_token=issue_token(fresh, secret(request)), expires_in=TOKEN_TTL_S)


@router.get("/me", response_model=s.UserOut, operation_id="me", dependencies=[_ALL],
            tags=["auth"], summary="Who am I")
def me(who: PrincipalDep) -> s.UserOut:
    return s.UserOut(name=who.name, role=who.role, vehicle_id=who.vehicle_id, active=True)


@router.get("/users", response_model=s.Page[s.UserOut], operation_id="list_users",
            dependencies=[_ADMIN], tags=["auth"], summary="Users")
def users(session: SessionDep, p: PagingDep) -> dict[str, Any]:
    rows, count = api_repo.list_users(session, p.limit, p.offset)
    return {"data": [s.UserOut.model_validate(u) for u in rows], "count": count}


#: OpenAPI links: what a new user or key answer leads to (clients and the stateful
#: API tests follow them)
_BY_NAME = {"name": "$response.body#/name"}
USER_LINKS = {
    "ListApiKeys": {"operationId": "list_api_keys", "parameters": _BY_NAME},
    "CreateApiKey": {"operationId": "create_api_key", "parameters": _BY_NAME},
    "SetPassword": {"operationId": "set_password", "parameters": _BY_NAME},
    "DeactivateUser": {"operationId": "deactivate_user", "parameters": _BY_NAME},
    "ActivateUser": {"operationId": "activate_user", "parameters": _BY_NAME},
}
KEY_LINKS = {
    "RevokeApiKey": {"operationId": "revoke_api_key",
                     "parameters": {"key_id": "$response.body#/key_id"}},
    "ListApiKeys": {"operationId": "list_api_keys",
                    "parameters": {"name": "$response.body#/user"}},
}


@router.post("/users", response_model=s.UserOut, status_code=201, operation_id="create_user",
             dependencies=[_ADMIN], tags=["auth"], summary="Add a user",
             responses={201: {"description": "the new user", "links": USER_LINKS}})
def add_user(session: SessionDep, body: s.UserIn) -> s.UserOut:
    if api_repo.user_exists(session, body.name.strip()):
        raise ApiError(409, "conflict", f"user {body.name!r} already exists / 用户已存在")
    user = create_user(session, body.name, body.role, body.password, body.vehicle_id)
    return s.UserOut.model_validate(user)


@router.post("/users/{name}/api-keys", response_model=s.ApiKeyOut, status_code=201,
             operation_id="create_api_key", dependencies=[_ADMIN], tags=["auth"],
             responses={201: {"description": "the new key", "links": KEY_LINKS}},
             summary="A new API key for a user (for machines; header X-API-Key)")
def add_api_key(session: SessionDep, name: str) -> s.ApiKeyOut:
    key = create_api_key(session, name)
    return s.ApiKeyOut(key=key, user=name, key_id=api_key_id(key))


@router.get("/users/{name}/api-keys", response_model=s.Page[ApiKeyInfoOut],
            operation_id="list_api_keys", dependencies=[_ADMIN], tags=["auth"],
            summary="A user's API keys (ids only; the keys themselves are never kept)")
def api_keys(session: SessionDep, name: str) -> dict[str, Any]:
    keys = list_api_keys(session, name)
    return {"data": [ApiKeyInfoOut(key_id=k.key_id, user=k.user, label=k.label,
                                   created_at=k.created_at.replace(tzinfo=dt.UTC))
                     for k in keys],
            "count": len(keys)}


@router.delete("/api-keys/{key_id}", status_code=204, operation_id="revoke_api_key",
               dependencies=[_ADMIN], tags=["auth"], response_class=Response,
               summary="Revoke an API key: it stops working at once")
def revoke_key(request: Request, session: SessionDep, key_id: str) -> Response:
    revoke_api_key(session, key_id)
    forget_principals(request)
    return Response(status_code=204)


@router.post("/users/{name}/deactivate", response_model=s.UserOut,
             operation_id="deactivate_user", dependencies=[_ADMIN], tags=["auth"],
             summary="Deactivate a user: its tokens, cookies and API keys stop working")
def deactivate(request: Request, session: SessionDep, who: PrincipalDep,
               name: str) -> s.UserOut:
    if name == who.name:
        raise ApiError(409, "conflict", "an admin cannot deactivate himself / 不能停用自己")
    user = set_active(session, name, False)
    forget_principals(request)
    return s.UserOut.model_validate(user)


@router.post("/users/{name}/activate", response_model=s.UserOut, operation_id="activate_user",
             dependencies=[_ADMIN], tags=["auth"], summary="Reactivate a user")
def activate(request: Request, session: SessionDep, name: str) -> s.UserOut:
    user = set_active(session, name, True)
    forget_principals(request)
    return s.UserOut.model_validate(user)


@router.put("/users/{name}/password", status_code=204, operation_id="set_password",
            dependencies=[_ADMIN], tags=["auth"], response_class=Response,
            summary="Set a user's password; the user's earlier tokens stop working")
async def set_user_password(request: Request, name: str, body: PasswordIn) -> Response:
    check_new_password(body.password)
    new_hash = await run_hash(hash_password, body.password)
    await run_db(request, lambda ses: set_password_hash(ses, name, new_hash))
    forget_principals(request)
    return Response(status_code=204)


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
