"""The one place where errors become HTTP answers: always JSON ``{detail, reason}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.schemas import ErrorOut
from logistics.domain import BadInput, DomainError, ImportRejected, Infeasible, NotFound
from logistics.persistence.db import DataError, IntegrityError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An HTTP-level refusal (authentication, permission, conflict, size)."""

    def __init__(self, status: int, reason: str, detail: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.reason, self.detail, self.headers = status, reason, detail, headers


def _json(status: int, detail: Any, reason: str, headers: dict[str, str] | None = None,
          **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": detail, "reason": reason, **extra}, status_code=status,
                        headers=headers)


def _row_errors(exc: ImportRejected) -> list[dict[str, Any]]:
    return [
        {"file": e.file, "row": e.row, "column": e.column, "message": e.message,
         "value": e.value if isinstance(e.value, str | int | float | bool) else str(e.value)}
        for e in exc.errors
    ]


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        headers = exc.headers
        if exc.status == 401 and headers is None:
            headers = {"WWW-Authenticate": "Bearer"}
        return _json(exc.status, exc.detail, exc.reason, headers)

    @app.exception_handler(ImportRejected)
    async def rejected(_: Request, exc: ImportRejected) -> JSONResponse:
        errors = _row_errors(exc)
        return _json(422, f"rejected: {len(errors)} problem(s), nothing written / 已拒绝，未写入",
                     "rejected", errors=errors)

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return _json(404, str(exc), "not_found")

    @app.exception_handler(BadInput)
    async def bad_input(_: Request, exc: BadInput) -> JSONResponse:
        return _json(400, str(exc), "bad_input")

    @app.exception_handler(Infeasible)
    async def infeasible(_: Request, exc: Infeasible) -> JSONResponse:
        return _json(409, str(exc), "infeasible")

    @app.exception_handler(DomainError)
    async def domain(_: Request, exc: DomainError) -> JSONResponse:
        return _json(400, str(exc), "bad_input")

    @app.exception_handler(IntegrityError)
    async def integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        log.info("integrity error: %s", exc.orig)
        return _json(409, "conflicts with stored data (still referenced, or exists) / 数据冲突",
                     "conflict")

    @app.exception_handler(DataError)
    async def data_error(_: Request, exc: DataError) -> JSONResponse:
        # a value the database cannot store (NUL byte in a JSON string, out-of-range
        # number): the caller's value, not a server fault; the transaction rolled back
        log.warning("data error: %s", exc.orig)
        return _json(422, "a value cannot be stored (invalid text or number out of range) / "
                          "数值无法保存（非法字符或超出范围）", "validation")

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errs = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")),
             "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        return _json(422, errs, "validation")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        reason = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated",
                  403: "forbidden", 413: "too_large"}.get(exc.status_code, "http")
        return _json(exc.status_code, exc.detail, reason, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return _json(500, "internal error / 服务器内部错误", "internal")


#: documented error answers, added to every route
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text}
    for code, text in {
        400: "bad input", 401: "not authenticated", 403: "forbidden", 404: "not found",
        409: "conflict", 422: "validation failed",
    }.items()
}
