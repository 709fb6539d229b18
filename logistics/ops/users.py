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
#: hex characters of a key's SHA-256 shown as its id (``users keys``, ``users revoke-key``)
KEY_ID_LEN = 16

_hasher = PasswordHasher()
#: verified against when the user does not exist, so timing does not tell names apart
_DUMMY_HASH = _hasher.hash("not a password")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user name, its role and (drivers) its vehicle."""

    name: str
    role: str
    vehicle_id: str | None = None
    #: fingerprint of the password hash the principal was read with (see password_version)
    version: str = ""


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
    if password is not None:
        check_new_password(password)
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


@dataclass(frozen=True, slots=True)
class LoginCandidate:
    """What a sign-in needs from the database, read before the (slow) hash check, so
    that no connection is held while Argon2 runs."""

    principal: Principal | None  # None: unknown or deactivated user
    password_hash: str | None


def login_candidate(session: Session, name: str) -> LoginCandidate:
    user = ops_repo.find_user(session, name)
    if user is None:
        return LoginCandidate(None, None)
    principal = (Principal(user.name, user.role, user.vehicle_id, password_version(user))
                 if user.active else None)
    return LoginCandidate(principal, user.password_hash)


def check_login(candidate: LoginCandidate, password: str) -> Principal | None:
    """The principal when the password matches an active user (Argon2: slow, run it off
    the request threads). An unknown user costs the same time as a known one."""
    ok = verify_password(candidate.password_hash, password)
    return candidate.principal if ok else None


def authenticate(session: Session, name: str, password: str) -> Principal | None:
    """The principal for a name and password, or None (unknown, inactive, wrong)."""
    return check_login(login_candidate(session, name), password)


def password_version(user: User) -> str:
    """A short fingerprint of the user's password hash, carried in tokens: a token
    issued before a password change stops working."""
    return hashlib.sha256((user.password_hash or "").encode("utf-8")).hexdigest()[:16]


def principal_for(session: Session, name: str, version: str | None = None) -> Principal | None:
    """The active user ``name``; with ``version``, only while the password is unchanged."""
    user = ops_repo.find_user(session, name)
    if user is None or not user.active:
        return None
    if version is not None and version != password_version(user):
        return None
    return Principal(user.name, user.role, user.vehicle_id, password_version(user))


def set_active(session: Session, name: str, active: bool) -> User:
    """Deactivate (or reactivate) a user: its tokens, cookies and API keys stop working."""
    user = ops_repo.find_user(session, name)
    if user is None:
        raise NotFound(f"no such user {name!r} / 用户不存在")
    user.active = active
    session.flush()
    return user


def check_new_password(password: str) -> None:
    if len(password) < 8:
        raise BadInput("password must have at least 8 characters / 密码至少 8 个字符")
    if len(password) > 200:
        raise BadInput("password must have at most 200 characters / 密码至多 200 个字符")


def set_password_hash(session: Session, name: str, new_hash: str) -> User:
    """Store a new password hash (made with :func:`hash_password`); tokens issued before
    stop working."""
    user = ops_repo.find_user(session, name)
    if user is None:
        raise NotFound(f"no such user {name!r} / 用户不存在")
    user.password_hash = new_hash
    session.flush()
    return user


def set_password(session: Session, name: str, password: str) -> User:
    check_new_password(password)
    return set_password_hash(session, name, hash_password(password))


def _key_hash(key: str) -> str:
    # API keys are 256-bit random strings: a fast hash is enough (nothing to brute-force)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def api_key_id(key: str) -> str:
    """The id of an API key (as listed and revoked)."""
    return key_id(_key_hash(key))


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


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """An API key as listed: its id (the first characters of its hash), never the key."""

    key_id: str
    user: str
    label: str
    created_at: dt.datetime


def key_id(key_hash: str) -> str:
    return key_hash[:KEY_ID_LEN]


def list_api_keys(session: Session, name: str) -> list[ApiKeyInfo]:
    if ops_repo.find_user(session, name) is None:
        raise NotFound(f"no such user {name!r} / 用户不存在")
    return [ApiKeyInfo(key_id(k.key_hash), k.user_name, k.label, k.created_at)
            for k in ops_repo.api_keys_of(session, name)]


def revoke_api_key(session: Session, kid: str) -> ApiKeyInfo:
    """Delete the API key with id ``kid``; it stops working."""
    kid = kid.strip().lower()
    rows = ops_repo.api_keys_with_prefix(session, kid) if len(kid) == KEY_ID_LEN else []
    if len(rows) != 1:
        raise NotFound(f"no such API key {kid!r} / API 密钥不存在")
    row = rows[0]
    info = ApiKeyInfo(key_id(row.key_hash), row.user_name, row.label, row.created_at)
    ops_repo.delete(session, row)
    return info


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
    claims = {"sub": principal.name, "role": principal.role, "ver": principal.version,
              "iat": now, "exp": now + dt.timedelta(seconds=ttl_s)}
    return jwt.encode(claims, secret, algorithm=TOKEN_ALGORITHM)


def token_subject(token: str, secret: str) -> tuple[str, str] | None:
    """The user name and password version of a valid, unexpired token; None otherwise."""
    try:
        claims = jwt.decode(token, secret, algorithms=[TOKEN_ALGORITHM],
                            options={"require": ["sub", "exp", "ver"]})
    except jwt.PyJWTError:
        return None
    sub, ver = claims.get("sub"), claims.get("ver")
    return (sub, ver) if isinstance(sub, str) and isinstance(ver, str) else None
