"""API users: roles, Argon2id password hashes, API keys, signed bearer tokens.

Queries only flush; the caller's transaction commits (one per CLI command / request).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import secrets
from dataclasses import dataclass
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from logistics.domain import BadInput, NotFound
from logistics.persistence import ops_repo
from logistics.persistence.db import IntegrityError, Session
from logistics.persistence.models import ApiKey, AppSetting, User

log = logging.getLogger(__name__)

ROLES: tuple[str, ...] = ("admin", "dispatcher", "driver", "viewer")
TOKEN_ALGORITHM = "HS256"
TOKEN_TTL_S = 12 * 3600
SECRET_SETTING = "token_secret"
API_KEY_PREFIX = "wr_"

_hasher = PasswordHasher()
#: verified against when the user does not exist, so timing does not tell names apart
_DUMMY_HASH = _hasher.hash("not a password")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user name, its role and (drivers) its vehicle."""

    name: str
    role: str
    vehicle_id: str | None = None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def create_user(
    session: Session,
    name: str,
    role: str,
    password: str | None = None,
    vehicle_id: str | None = None,
) -> User:
    """Add a user. A driver needs an existing ``vehicle_id``; others must not have one."""
    name = name.strip()
    if not name or len(name) > 64:
        raise BadInput("user name must be 1 to 64 characters / 用户名长度须为 1 到 64")
    if role not in ROLES:
        raise BadInput(f"unknown role {role!r}; use one of {', '.join(ROLES)} / 未知角色")
    if role == "driver":
        if not vehicle_id:
            raise BadInput("a driver needs --vehicle / 司机须关联车辆")
        if not ops_repo.vehicle_exists(session, vehicle_id):
            raise BadInput(f"no such vehicle {vehicle_id!r} / 车辆不存在")
    elif vehicle_id:
        raise BadInput("only drivers are linked to a vehicle / 只有司机关联车辆")
    if password is not None and len(password) < 8:
        raise BadInput("password must have at least 8 characters / 密码至少 8 个字符")
    if ops_repo.find_user(session, name) is not None:
        raise BadInput(f"user {name!r} already exists / 用户已存在")
    return ops_repo.add(session, User(
        name=name,
        role=role,
        password_hash=hash_password(password) if password is not None else None,
        vehicle_id=vehicle_id or None,
        active=True,
        created_at=_now(),
    ))


def list_users(session: Session) -> list[User]:
    return ops_repo.list_users(session)


def authenticate(session: Session, name: str, password: str) -> Principal | None:
    """The principal for a name and password, or None (unknown, inactive, wrong)."""
    user = ops_repo.find_user(session, name)
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        return None
    return Principal(user.name, user.role, user.vehicle_id)


def principal_for(session: Session, name: str) -> Principal | None:
    user = ops_repo.find_user(session, name)
    if user is None or not user.active:
        return None
    return Principal(user.name, user.role, user.vehicle_id)


def _key_hash(key: str) -> str:
    # API keys are 256-bit random strings: a fast hash is enough (nothing to brute-force)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_api_key(session: Session, name: str, label: str = "") -> str:
    """A new API key for user ``name``; returns the key (shown once, only its hash is kept)."""
    if ops_repo.find_user(session, name) is None:
        raise NotFound(f"no such user {name!r} / 用户不存在")
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    ops_repo.add(session, ApiKey(key_hash=_key_hash(key), user_name=name, label=label[:100],
                                 created_at=_now()))
    return key


def principal_for_api_key(session: Session, key: str) -> Principal | None:
    row = ops_repo.find_api_key(session, _key_hash(key))
    return None if row is None else principal_for(session, row.user_name)


# ---------------------------------------------------------------- tokens


def token_secret(session_factory: Any) -> str:
    """WASTEROUTE_SECRET, else a random secret generated once and kept in the database
    (table app_settings), so that every API process and restart signs alike."""
    env = os.environ.get("WASTEROUTE_SECRET")
    if env:
        return env
    with session_factory() as session:
        row = ops_repo.find_setting(session, SECRET_SETTING)
        if row is not None:
            return row.value
        value = secrets.token_urlsafe(48)
        try:
            ops_repo.add(session, AppSetting(key=SECRET_SETTING, value=value))
            session.commit()  # its own transaction: read once when an API process starts
        except IntegrityError:  # another process made it first
            session.rollback()
            row = ops_repo.find_setting(session, SECRET_SETTING)
            assert row is not None
            return row.value
        log.info("generated a token secret and stored it in app_settings")
        return value


def issue_token(principal: Principal, secret: str, ttl_s: int = TOKEN_TTL_S) -> str:
    now = dt.datetime.now(dt.UTC)
    claims = {"sub": principal.name, "role": principal.role, "iat": now,
              "exp": now + dt.timedelta(seconds=ttl_s)}
    return jwt.encode(claims, secret, algorithm=TOKEN_ALGORITHM)


def token_subject(token: str, secret: str) -> str | None:
    """The user name of a valid, unexpired token; None otherwise."""
    try:
        claims = jwt.decode(token, secret, algorithms=[TOKEN_ALGORITHM],
                            options={"require": ["sub", "exp"]})
    except jwt.PyJWTError:
        return None
    sub = claims.get("sub")
    return sub if isinstance(sub, str) else None
