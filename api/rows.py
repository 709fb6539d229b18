"""The service behind the data endpoints (api.routers.data: rows of depots,
facilities, vehicles, communities, points, records and tickets) and file uploads
(``POST /imports``).

Every write goes through the importer, so the rules and messages are those of the
import files: a body is parsed by the importer (:func:`parse_row`) before anything is
written, a PUT changes its own row in place (409 when the body's natural key is another
row's), and a driver's record must name a collect stop of his vehicle in the day's
current plan. Uploads are parsed as they arrive (:func:`receive_uploads`: 413 as soon
as the limit passes) and saved under safe names in a private temporary folder; row
errors name the file as it was uploaded. A JSON row is written as a one-row CSV
(``<kind>.csv``, UTF-8) in a private temporary folder and given to
:func:`logistics.imports.import_paths`, which validates it (cells, duplicates,
references to the database) and upserts it in the request's transaction; its errors
come back with ``file = "body"`` and ``row = 1``.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import os
import re
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from starlette.datastructures import FormData, Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from api.errors import ApiError
from logistics.domain import ImportRejected, NotFound, RowError
from logistics.imports import ImportReport, import_paths, validate_paths
from logistics.ops.users import Principal
from logistics.persistence import api_repo
from logistics.persistence.api_repo import RowFilter
from logistics.persistence.db import Session

BODY = "body"


def cell(value: Any) -> str:
    """A JSON value as the text of a spreadsheet cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return repr(value)
    if isinstance(value, list | tuple):
        return ";".join(cell(v) for v in value)
    if isinstance(value, dict):
        return ";".join(f"{k}:{cell(v)}" for k, v in value.items())
    return str(value)


@contextmanager
def _body_file(kind: str, row: dict[str, Any]) -> Iterator[Path]:
    """``row`` as a one-row CSV file ``<kind>.csv`` in a private temporary folder."""
    with tempfile.TemporaryDirectory(prefix="wasteroute-row-") as tmp:
        path = Path(tmp) / f"{kind}.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(list(row))
            writer.writerow([cell(v) for v in row.values()])
        yield path


def _as_body(exc: ImportRejected, path: Path) -> ImportRejected:
    """The importer's errors about the body file, as errors of ``body`` row 1."""
    return ImportRejected([
        RowError(BODY if e.file == str(path) else e.file, max(1, e.row - 1), e.column,
                 e.message, e.value)
        for e in exc.errors
    ])


def import_row(session: Session, kind: str, row: dict[str, Any]) -> ImportReport:
    """Validate and upsert one row of ``kind``; raises ImportRejected like a file would."""
    with _body_file(kind, row) as path:
        try:
            return import_paths(session, [path], kind=kind)
        except ImportRejected as exc:
            raise _as_body(exc, path) from None


def parse_row(session: Session, kind: str, row: dict[str, Any]) -> dict[str, Any]:
    """``row`` as the importer reads it (cells stripped, dates and numbers parsed, ids
    checked against the database), nothing written; raises ImportRejected like
    :func:`import_row`."""
    with _body_file(kind, row) as path:
        try:
            return validate_paths(session, [path], kind=kind)[kind][0]
        except ImportRejected as exc:
            raise _as_body(exc, path) from None


def _natural_key(kind: str, parsed: dict[str, Any]) -> dict[str, Any]:
    """The natural key of a parsed record or ticket, as stored."""
    key = {c: parsed[c] for c in api_repo.NATURAL_KEYS[kind]}
    if kind == "records":
        key["date"] = dt.date.fromisoformat(key["date"])
        key["vehicle_id"] = key["vehicle_id"] or ""
    return key


def singular(kind: str) -> str:
    """``points`` -> ``point``, ``facilities`` -> ``facility``."""
    return {"communities": "community", "facilities": "facility"}.get(
        kind, kind.removesuffix("s"))


def key_field(kind: str) -> str:
    """The field of a row that addresses it (``depot_id``, ``id``, ...)."""
    return api_repo.TABLES[kind].key


def has_numeric_id(kind: str) -> bool:
    """Records and tickets are addressed by a numeric id; the others by their own id."""
    return api_repo.TABLES[kind].key == "id"


def list_rows(session: Session, kind: str, f: RowFilter, limit: int,
              offset: int) -> tuple[list[Any], int]:
    return api_repo.list_rows(session, kind, f, limit, offset)


def get_row(session: Session, kind: str, key: Any) -> Any:
    row = api_repo.get_row(session, kind, key)
    if row is None:
        raise NotFound(f"no such {singular(kind)} {key!r} / 不存在")
    return row


def _find(session: Session, kind: str, parsed: dict[str, Any]) -> Any:
    """The stored row that a parsed body names, or None."""
    if has_numeric_id(kind):
        return api_repo.find_by_natural_key(session, kind, _natural_key(kind, parsed))
    return api_repo.get_row(session, kind, parsed[api_repo.TABLES[kind].key])


def check_driver_record(session: Session, who: Principal, parsed: dict[str, Any]) -> None:
    """A driver may post the weight of a collect stop of his own vehicle in the current
    plan of the day (``parsed``: the record as the importer reads it)."""
    if who.role != "driver":
        return
    day = dt.date.fromisoformat(parsed["date"])
    point = parsed["point_id"]
    if api_repo.planned_stop_id(session, day, who.vehicle_id, point) is None:
        raise ApiError(403, "forbidden",
                       f"point {point!r} is not a collect stop of vehicle {who.vehicle_id!r} "
                       f"in the current plan of {day} / 不是本车当日计划的收运站点")


def create_row(session: Session, who: Principal, kind: str, row: dict[str, Any]) -> Any:
    """Add a row (import rules); 409 if it exists already. A driver's record is always
    his own vehicle's."""
    if kind == "records" and who.role == "driver":
        row["vehicle_id"] = who.vehicle_id
    parsed = parse_row(session, kind, row)
    if kind == "records":
        check_driver_record(session, who, parsed)
    if _find(session, kind, parsed) is not None:
        raise ApiError(409, "conflict",
                       f"this {singular(kind)} exists already; use PUT to change it / 已存在")
    import_row(session, kind, row)
    api_repo.forget_loaded(session)
    return _find(session, kind, parsed)


def replace_row(session: Session, kind: str, key: Any, row: dict[str, Any]) -> Any:
    """Replace the row at ``key`` by ``row`` (import rules), in place: a record or ticket
    keeps its id and may take a new natural key, unless another row has that key (409,
    nothing changed); the others keep ``key``."""
    old = get_row(session, kind, key)
    if not has_numeric_id(kind):
        row[api_repo.TABLES[kind].key] = key
        import_row(session, kind, row)
        api_repo.forget_loaded(session)
        return get_row(session, kind, key)
    parsed = parse_row(session, kind, row)
    other = _find(session, kind, parsed)
    if other is not None and other.id != old.id:
        raise ApiError(409, "conflict",
                       f"{singular(kind)} {other.id} has this "
                       f"{' + '.join(api_repo.NATURAL_KEYS[kind])} already; change or delete "
                       f"that one / 与另一条{'记录' if kind == 'records' else '磅单'}冲突")
    if other is None:
        api_repo.set_natural_key(session, kind, old, _natural_key(kind, parsed))
    import_row(session, kind, row)
    api_repo.forget_loaded(session)
    return get_row(session, kind, old.id)


def delete_row(session: Session, kind: str, key: Any) -> None:
    api_repo.delete_row(session, get_row(session, kind, key))


# ---------------------------------------------------------------- file uploads

_UNSAFE = re.compile(r"[^\w.\-\u4e00-\u9fff]+")


def max_upload_bytes() -> int:
    return int(float(os.environ.get("WASTEROUTE_MAX_UPLOAD_MB", "50")) * 1024 * 1024)


def too_large(limit_bytes: int) -> ApiError:
    size = (f"{limit_bytes / 2**20:g} MB" if limit_bytes >= 2**20
            else f"{limit_bytes / 1024:g} KB")
    return ApiError(413, "too_large", f"upload larger than {size} / 文件过大")


#: the most files one upload may carry
MAX_UPLOAD_FILES = 100


async def receive_uploads(headers: Headers, body: AsyncIterator[bytes],
                          limit_bytes: int) -> FormData:
    """Parse a ``multipart/form-data`` body as it arrives. 413 before reading when
    Content-Length says more than ``limit_bytes``, and as soon as more than that has
    arrived whatever it said; 400 for a body that is not multipart form data. File parts
    are spooled to temporary files (closed on error; the caller closes the form)."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit_bytes:
        raise too_large(limit_bytes)
    if not headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise ApiError(422, "validation",
                       "send the files as multipart/form-data (field 'files') "
                       "/ 请以 multipart/form-data 上传文件")

    async def counted() -> AsyncGenerator[bytes, None]:
        total = 0
        async for chunk in body:
            total += len(chunk)
            if total > limit_bytes:
                raise too_large(limit_bytes)
            yield chunk

    parser = MultiPartParser(headers, counted(), max_files=MAX_UPLOAD_FILES, max_fields=10)
    try:
        return await parser.parse()
    except MultiPartException as exc:
        raise ApiError(400, "bad_input",
                       f"not valid multipart form data: {exc.message} / 上传内容格式无效") from None


def uploaded(form: FormData) -> tuple[list[tuple[str | None, IO[bytes]]], str | None]:
    """The (file name, stream) of every ``files`` part and the ``kind`` field (empty =
    from the file names); 422 without files."""
    files: list[tuple[str | None, IO[bytes]]] = [
        (f.filename, f.file) for f in form.getlist("files") if isinstance(f, UploadFile)]
    if not files:
        raise ApiError(422, "validation", "no files in field 'files' / 没有上传文件")
    kind = form.get("kind")
    return files, (kind.strip() or None) if isinstance(kind, str) else None


def import_uploads(
    session: Session, files: Sequence[tuple[str | None, IO[bytes]]], kind: str | None,
    limit_bytes: int,
) -> tuple[ImportReport, dict[str, str]]:
    """Import uploaded (file name, stream) pairs in one go (all or nothing). Returns the
    report and, per saved path, the name the file was uploaded with."""
    with tempfile.TemporaryDirectory(prefix="wasteroute-import-") as tmp:
        names: dict[str, str] = {}
        paths: list[Path] = []
        total = 0
        for i, (filename, stream) in enumerate(files):
            original = Path(filename or f"file{i}").name or f"file{i}"
            folder = Path(tmp) / str(i)
            folder.mkdir()
            target = folder / (_UNSAFE.sub("_", original) or f"file{i}")
            with target.open("wb") as out:
                while chunk := stream.read(1 << 20):
                    total += len(chunk)
                    if total > limit_bytes:
                        raise too_large(limit_bytes)
                    out.write(chunk)
            names[str(target)] = original
            paths.append(target)
        try:
            return import_paths(session, paths, kind=kind), names
        except ImportRejected as exc:
            raise ImportRejected([RowError(names.get(e.file, e.file), e.row, e.column, e.message,
                                           e.value) for e in exc.errors]) from None
