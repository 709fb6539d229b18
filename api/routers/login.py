"""Browser sign-in for the GET pages (dashboards, sheets): a login form that sets an
HttpOnly cookie holding a bearer token, and sign-out.

The cookie (and the ``access_token`` query parameter) are accepted for GET requests
only (api.deps.current_principal), so a page opened from another site can never make
the API change anything with a viewer's cookie.

A token in a link (``?access_token=``) signs in a browser that has no valid sign-in;
it never replaces the cookie of a browser where another user is signed in: that
browser stays signed in as that user, the link's token is ignored and no cookie is
set (api.deps.current_principal, :func:`set_login_cookie`).
"""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import COOKIE_NAME, KEPT_COOKIE, Throttled, secret, sign_in
from logistics.ops.users import TOKEN_TTL_S, issue_token

router = APIRouter()

DEFAULT_NEXT = "/dashboards/overview.html"

_FORM = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>wasteroute 登录 / sign in</title>
<link rel="icon" href="data:,">
<style>body{{font-family:sans-serif;max-width:22em;margin:4em auto}}
label{{display:block;margin:.8em 0}}input{{width:100%;padding:.3em}}
.error{{color:#b00}}</style></head>
<body><h1>登录 / Sign in</h1>{message}
<form method="post" action="/login">
<label>用户名 / user <input name="username" autocomplete="username" required autofocus></label>
<label>密码 / password <input name="password" type="password"
 autocomplete="current-password" required></label>
<input type="hidden" name="next" value="{next}">
<button type="submit">登录 / Sign in</button></form></body></html>
"""


def safe_next(value: str | None) -> str:
    """Only a path on this server (no other host, no scheme) is a place to go next."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return DEFAULT_NEXT
    return value


def _form(next_url: str, message: str = "", status: int = 200,
          headers: dict[str, str] | None = None) -> HTMLResponse:
    msg = f'<p class="error">{html.escape(message)}</p>' if message else ""
    return HTMLResponse(_FORM.format(message=msg, next=html.escape(safe_next(next_url))),
                        status_code=status, headers={"Cache-Control": "no-store", **(headers or {})})


def set_login_cookie(request: Request, response: Response, token: str) -> None:
    """Sign the browser in with ``token``, unless another user is signed in there (then
    the cookie stays as it is)."""
    if getattr(request.state, KEPT_COOKIE, False):
        return
    response.set_cookie(COOKIE_NAME, token, max_age=TOKEN_TTL_S, path="/", httponly=True,
                        samesite="lax", secure=request.url.scheme == "https")


@router.get("/login", response_class=Response, operation_id="login_page", tags=["auth"],
            summary="Sign-in form for browsers (dashboards)",
            responses={200: {"content": {"text/html": {}}, "description": "the form"}})
async def login_page(
    next_url: Annotated[str | None, Query(alias="next", max_length=2000)] = None,
) -> HTMLResponse:
    return _form(safe_next(next_url))


@router.post("/login", response_class=Response, operation_id="login_form", tags=["auth"],
             status_code=303, summary="Sign in from the form: sets the login cookie, redirects",
             responses={303: {"description": "signed in; go to `next`"},
                        401: {"content": {"text/html": {}},
                              "description": "wrong user name or password (the form again)"}})
async def login_form(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=200)],
    next_url: Annotated[str | None, Form(alias="next", max_length=2000)] = None,
) -> Response:
    try:
        who = await sign_in(request, username, password)
    except Throttled as exc:
        return _form(safe_next(next_url), str(exc), 429,
                     {"Retry-After": str(exc.retry_after_s)})
    if who is None:
        return _form(safe_next(next_url), "用户名或密码错误 / wrong user name or password", 401)
    response = RedirectResponse(safe_next(next_url), status_code=303)
    set_login_cookie(request, response, issue_token(who, secret(request)))
    return response


@router.post("/logout", operation_id="logout", tags=["auth"], status_code=303,
             summary="Sign out: removes the login cookie", response_class=Response,
             responses={303: {"description": "signed out; go to /login"}})
async def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response
