"""Uploads are bounded while they are read, and XLSX files are checked before they are
parsed (declared sizes, compression ratio, declared sheet dimension), on the API and
on the CLI import."""

from __future__ import annotations

import asyncio
import io
import re
import zipfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest

from tests.factories import Api, cli_import, snapshot

LIMIT_BYTES = 64 * 1024
CHUNK_BYTES = 16 * 1024
BOUNDARY = "wasteroute-test-boundary"


def _is_error(r: Any, status: int, reason: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = r.json()
    assert body["reason"] == reason and body["detail"], body
    return body


def _communities_csv(rows: int) -> bytes:
    lines = ["community_id,name,town,households"]
    lines += [f"N{i:07d},社区{i},城关镇,{i % 900 + 1}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def _multipart(name: str, data: bytes) -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; "
            f"filename=\"{name}\"\r\nContent-Type: text/csv\r\n\r\n").encode() + data + \
        f"\r\n--{BOUNDARY}--\r\n".encode()


def _stream_upload(api: Api, body: bytes, headers: dict[str, str]) -> tuple[Any, int]:
    """POST /imports with ``body`` sent in chunks (no Content-Length unless given);
    returns the answer and how many bytes the server asked for."""
    pulled = [0]

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), CHUNK_BYTES):
            pulled[0] += len(body[i:i + CHUNK_BYTES])
            yield body[i:i + CHUNK_BYTES]

    async def post() -> Any:
        transport = httpx.ASGITransport(app=api.client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await c.post("/imports", content=chunks(), headers={
                **api.as_("admin"),
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}", **headers})

    return asyncio.run(post()), pulled[0]


def test_an_upload_is_refused_as_soon_as_it_passes_the_limit(
        api: Api, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASTEROUTE_MAX_UPLOAD_MB", str(LIMIT_BYTES / 2**20))
    before = snapshot(db_url)
    body = _multipart("communities.csv", _communities_csv(40_000))  # about 1.3 MB
    assert len(body) > 16 * LIMIT_BYTES
    r, pulled = _stream_upload(api, body, {})
    _is_error(r, 413, "too_large")
    assert pulled <= LIMIT_BYTES + 2 * CHUNK_BYTES  # not the whole body
    # a Content-Length that understates the body changes nothing
    r, pulled = _stream_upload(api, body, {"Content-Length": "1000"})
    assert r.status_code == 413 and pulled <= LIMIT_BYTES + 2 * CHUNK_BYTES
    assert snapshot(db_url) == before
    # below the limit the same stream imports
    small = _multipart("communities.csv", _communities_csv(100))
    r, pulled = _stream_upload(api, small, {})
    assert r.status_code == 200, r.text
    assert pulled == len(small)


def test_a_declared_size_over_the_limit_is_refused_before_reading(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASTEROUTE_MAX_UPLOAD_MB", str(LIMIT_BYTES / 2**20))
    body = _multipart("communities.csv", _communities_csv(10))
    r, pulled = _stream_upload(api, body, {"Content-Length": str(LIMIT_BYTES + 1)})
    _is_error(r, 413, "too_large")
    assert pulled <= CHUNK_BYTES


def test_a_bad_multipart_body_is_a_json_error(api: Api) -> None:
    r = api.client.post("/imports", content=b"no parts here", headers={
        **api.as_("admin"), "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert r.status_code in (400, 422) and r.json()["reason"] in ("bad_input", "validation")
    r = api.post("/imports", data={"kind": "points"})
    assert r.status_code in (400, 422) and r.json()["reason"] in ("bad_input", "validation")


# ---------------------------------------------------------------- XLSX checked before parsing


def _xlsx(tmp_path: Path, name: str = "communities.xlsx") -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["community_id", "name", "town", "households"])
    ws.append(["X1", "新社区", "城关镇", 10])
    path = tmp_path / name
    wb.save(path)
    return path


def _rewrite(path: Path, change: Callable[[str, bytes], bytes]) -> Path:
    """The XLSX at ``path`` with each member's bytes passed through ``change``."""
    with zipfile.ZipFile(path) as src:
        members = [(i.filename, src.read(i)) for i in src.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        for name, data in members:
            out.writestr(name, change(name, data))
    return path


SST = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"


def _bomb(tmp_path: Path) -> Path:
    """A small workbook whose shared strings (read by every XLSX reader before the
    sheet) inflate to 40 MB: one string, then a comment of spaces."""
    def change(name: str, data: bytes) -> bytes:
        if name == "[Content_Types].xml":
            return data.replace(b"</Types>", f'<Override PartName="/xl/sharedStrings.xml" '
                                             f'ContentType="{SST}"/></Types>'.encode())
        return data
    path = _rewrite(_xlsx(tmp_path), change)
    sst = (b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
           b'count="1" uniqueCount="1"><si><t>x</t></si><!--' + b" " * 40_000_000
           + b"--></sst>")
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("xl/sharedStrings.xml", sst)
    return path


def _dimension(tmp_path: Path, ref: str) -> Path:
    def change(name: str, data: bytes) -> bytes:
        if name == "xl/worksheets/sheet1.xml":
            out, n = re.subn(rb'<dimension ref="[^"]*"', f'<dimension ref="{ref}"'.encode(), data)
            assert n == 1
            return out
        return data
    return _rewrite(_xlsx(tmp_path), change)


def _import_xlsx(api: Api, path: Path) -> Any:
    return api.post("/imports", files=[("files", (path.name, path.read_bytes(),
                                                  "application/octet-stream"))])


def test_an_untouched_xlsx_still_imports(api: Api, tmp_path: Path) -> None:
    r = _import_xlsx(api, _xlsx(tmp_path))
    assert r.status_code == 200, r.text
    assert api.get("/communities/X1").json()["households"] == 10


@pytest.mark.parametrize(("build", "words"), [
    (_bomb, "compress"),
    (lambda tmp: _dimension(tmp, "A1:D5000000"), "rows"),
    (lambda tmp: _dimension(tmp, "A1:XFD2"), "columns"),
], ids=["shared-strings-bomb", "huge-rows", "huge-columns"])
def test_a_hostile_xlsx_is_refused_before_it_is_parsed(
        api: Api, db_url: str, tmp_path: Path, build: Callable[[Path], Path], words: str) -> None:
    path = build(tmp_path)
    assert path.stat().st_size < 200_000
    before = snapshot(db_url)
    body = _is_error(_import_xlsx(api, path), 422, "rejected")
    assert [(e["file"], e["row"], e["column"]) for e in body["errors"]] == [
        ("communities.xlsx", 1, "(file)")]
    assert words in body["errors"][0]["message"]
    r = cli_import(db_url, path)
    assert r.exit_code == 2, r.output
    assert f"{path}:1: (file): " in r.stderr and words in r.stderr
    assert "Traceback" not in r.output + r.stderr
    assert snapshot(db_url) == before


def test_an_xlsx_that_is_not_a_zip_is_a_row_error(api: Api, tmp_path: Path) -> None:
    path = tmp_path / "communities.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a zip" + bytes(100))
    body = _is_error(_import_xlsx(api, path), 422, "rejected")
    assert body["errors"][0]["column"] == "(file)"
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as z:
        z.writestr("hello.txt", "not a workbook")
    path.write_bytes(data.getvalue())
    body = _is_error(_import_xlsx(api, path), 422, "rejected")
    assert body["errors"][0]["column"] == "(file)"
