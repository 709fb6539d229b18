"""Master data and measurements: depots, facilities, vehicles, communities, points,
records, tickets. Lists are paged and filtered; writes go through the importer's
validation (api.rows, their service), so the rules and messages are those of the
import files. File uploads (``POST /imports``) are read as they arrive, bounded by
``WASTEROUTE_MAX_UPLOAD_MB``."""


import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel

from api import rows as service
from api import schemas as s
from api.deps import STAFF, PagingDep, PrincipalDep, SessionDep, require, run_db
from logistics.imports import KINDS, ImportReport
from logistics.persistence.api_repo import RowFilter
from logistics.persistence.db import Session

#: the plans router takes its PagingDep from here as well
__all__ = ["PagingDep", "router"]


@dataclass(frozen=True)
class Filters:
    date: dt.date | None = None
    town: str | None = None
    category: str | None = None


async def filters(
    date: Annotated[dt.date | None, Query(description="a day, YYYY-MM-DD")] = None,
    town: Annotated[str | None, Query(max_length=100, description="乡镇 town")] = None,
    category: Annotated[str | None, Query(max_length=32, description="category key")] = None,
) -> Filters:
    return Filters(date, town, category)


FiltersDep = Annotated[Filters, Depends(filters)]


@dataclass
class Resource:
    kind: str
    path: str
    out: type[BaseModel]
    inp: type[BaseModel]
    tag: str
    #: which of date/town/category this list accepts
    filterable: tuple[str, ...] = ()

    def row_filter(self, f: Filters) -> RowFilter:
        """The query's filters that this list accepts (the others are ignored)."""
        return RowFilter(**{k: getattr(f, k) for k in self.filterable})


RESOURCES: tuple[Resource, ...] = (
    Resource("depots", "/depots", s.DepotOut, s.DepotIn, "master data"),
    Resource("facilities", "/facilities", s.FacilityOut, s.FacilityIn, "master data"),
    Resource("vehicles", "/vehicles", s.VehicleOut, s.VehicleIn, "master data"),
    Resource("communities", "/communities", s.CommunityOut, s.CommunityIn, "master data",
             ("town",)),
    Resource("points", "/points", s.PointOut, s.PointIn, "master data", ("town", "category")),
    Resource("records", "/records", s.RecordOut, s.RecordIn, "measurements",
             ("date", "town", "category")),
    Resource("tickets", "/tickets", s.TicketOut, s.TicketIn, "measurements",
             ("date", "category")),
)

_STAFF = Depends(require(*STAFF))
_RECORD_WRITERS = Depends(require("admin", "dispatcher", "driver"))


def _dump(body: Any) -> dict[str, Any]:
    row: dict[str, Any] = body.model_dump()
    return row


def _add_routes(router: APIRouter, r: Resource) -> None:
    key_type: Any = (Annotated[int, Path(ge=1, le=2**53)] if service.has_numeric_id(r.kind)
                     else Annotated[str, Path(min_length=1, max_length=64)])
    Out, In = r.out, r.inp  # noqa: N806
    one = service.singular(r.kind)

    @router.get(r.path, response_model=s.Page[Out], operation_id=f"list_{r.kind}",  # type: ignore[valid-type]
                summary=f"List {r.kind}", dependencies=[_STAFF], tags=[r.tag])
    def list_rows(session: SessionDep, p: PagingDep, f: FiltersDep) -> Any:
        rows, count = service.list_rows(session, r.kind, r.row_filter(f), p.limit, p.offset)
        return {"data": [Out.model_validate(x) for x in rows], "count": count}

    @router.get(r.path + "/{key}", response_model=Out, operation_id=f"get_{one}",
                summary=f"One {one}", dependencies=[_STAFF], tags=[r.tag])
    def get_row(session: SessionDep, key: key_type) -> Any:
        return Out.model_validate(service.get_row(session, r.kind, key))

    create_deps = [_RECORD_WRITERS] if r.kind == "records" else [_STAFF]
    # OpenAPI links: the row a create answers is the one to read, replace and delete
    # (clients and stateful API tests follow them)
    key = {"key": f"$response.body#/{service.key_field(r.kind)}"}
    links = {f"{verb.capitalize()}{one.capitalize()}": {"operationId": f"{verb}_{one}",
                                                        "parameters": key}
             for verb in ("get", "replace", "delete")}

    @router.post(r.path, response_model=Out, status_code=201, operation_id=f"create_{one}",
                 summary=f"Add a {one} (import rules)", dependencies=create_deps, tags=[r.tag],
                 responses={201: {"description": f"the new {one}", "links": links}})
    def create_row(session: SessionDep, who: PrincipalDep, body: In) -> Any:  # type: ignore[valid-type]
        return Out.model_validate(service.create_row(session, who, r.kind, _dump(body)))

    @router.put(r.path + "/{key}", response_model=Out, operation_id=f"replace_{one}",
                summary=f"Replace a {one} (import rules)", dependencies=[_STAFF], tags=[r.tag],
                responses={200: {"description": f"the {one} as replaced", "links": links}})
    def replace_row(session: SessionDep, key: key_type, body: In) -> Any:  # type: ignore[valid-type]
        return Out.model_validate(service.replace_row(session, r.kind, key, _dump(body)))

    @router.delete(r.path + "/{key}", status_code=204, response_class=Response,
                   operation_id=f"delete_{one}", summary=f"Delete a {one}",
                   dependencies=[_STAFF], tags=[r.tag])
    def delete_row(session: SessionDep, key: key_type) -> Response:
        service.delete_row(session, r.kind, key)
        return Response(status_code=204)


router = APIRouter()
for _r in RESOURCES:
    _add_routes(router, _r)


# ---------------------------------------------------------------- imports

#: the body of ``POST /imports`` (read by the endpoint itself, as it arrives)
_UPLOAD_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {
        "type": "object", "required": ["files"],
        "properties": {
            "files": {"type": "array", "description": "CSV/XLSX/GeoJSON files",
                      "items": {"type": "string", "contentMediaType": "application/octet-stream"}},
            "kind": {"anyOf": [{"type": "string"}, {"type": "null"}],
                     "description": "kind of every file (else from names)"},
        },
    }},
}}}


@router.post("/imports", response_model=s.ImportOut, operation_id="import_files",
             dependencies=[_STAFF], tags=["imports"], openapi_extra=_UPLOAD_BODY,
             responses={413: {"model": s.ErrorOut, "description": "upload too large"}},
             summary="Import CSV/XLSX files like `wasteroute import`: all or nothing")
async def import_files(request: Request) -> s.ImportOut:
    limit = service.max_upload_bytes()
    form = await service.receive_uploads(request.headers, request.stream(), limit)
    try:
        files, kind = service.uploaded(form)

        def run(session: Session) -> tuple[ImportReport, dict[str, str]]:
            return service.import_uploads(session, files, kind, limit)

        report, names = await run_db(request, run)
    finally:
        await form.close()
    counts = [s.ImportCount(kind=k, inserted=c.inserted, updated=c.updated,
                            files=[names.get(f, f) for f in c.files])
              for k in KINDS if (c := report.counts.get(k)) is not None]
    return s.ImportOut(counts=counts, files=[names.get(f, f) for f in report.files],
                       seconds=round(report.seconds, 3))
