"""Dependencies: one session (= one transaction) per request, the caller, role checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlalchemy.orm import Session, sessionmaker

from api.errors import ApiError
from logistics.users import (
    ROLES,
    Principal,
    principal_for,
    principal_for_api_key,
    token_secret,
    token_subject,
)

oauth2 = OAuth2PasswordBearer(tokenUrl="token", auto_error=False)
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


def session_factory(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.session_factory
    return factory


def get_session(request: Request) -> Iterator[Session]:
    """The request's transaction: committed when the endpoint returns, rolled back
    on any error."""
    session = session_factory(request)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def secret(request: Request) -> str:
    state = request.app.state
    if getattr(state, "secret", None) is None:
        state.secret = token_secret(state.session_factory)
    value: str = state.secret
    return value


def current_principal(
    request: Request,
    session: SessionDep,
    token: Annotated[str | None, Security(oauth2)] = None,
    api_key: Annotated[str | None, Security(api_key_header)] = None,
) -> Principal:
    principal: Principal | None = None
    if api_key:
        principal = principal_for_api_key(session, api_key)
    elif token:
        name = token_subject(token, secret(request))
        principal = principal_for(session, name) if name else None
    if principal is None:
        raise ApiError(401, "unauthenticated",
                       "not authenticated: send a bearer token or X-API-Key / 未登录")
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require(*roles: str) -> Callable[[Principal], Principal]:
    """A dependency that lets only the given roles through (403 for the others)."""
    unknown = set(roles) - set(ROLES)
    assert not unknown, unknown

    def check(principal: PrincipalDep) -> Principal:
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
