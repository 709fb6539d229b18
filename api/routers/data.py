"""Master data and measurements: depots, facilities, vehicles, communities, points,
records, tickets. Lists are paged and filtered; writes go through the importer's
validation (api.rows), so the rules and messages are those of the import files."""


import datetime as dt
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel
from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session, selectinload

from api import schemas as s
from api.deps import STAFF, PrincipalDep, SessionDep, require
from api.errors import ApiError
from api.rows import import_row
from logistics.domain import NotFound
from logistics.imports.cells import parse_date_iso
from logistics.ops.users import Principal
from logistics.persistence.models import (
    CollectionRecord,
    Community,
    Depot,
    Facility,
    Plan,
    PlanRoute,
    PlanStop,
    Point,
    Ticket,
    Vehicle,
)


@dataclass(frozen=True)
class Paging:
    limit: int
    offset: int


async def paging(
    limit: Annotated[int, Query(ge=1, le=1000, description="rows per page")] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="rows to skip")] = 0,
) -> Paging:
    return Paging(limit, offset)


PagingDep = Annotated[Paging, Depends(paging)]


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


def page(session: Session, stmt: Select[Any], order: Any, p: Paging) -> tuple[list[Any], int]:
    count = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = list(session.scalars(stmt.order_by(*order).limit(p.limit).offset(p.offset)))
    return rows, int(count)


def _points_in_town(town: str) -> Any:
    return Point.community_id.in_(select(Community.community_id).where(Community.town == town))


@dataclass
class Resource:
    kind: str
    path: str
    model: Any
    key: str
    out: type[BaseModel]
    inp: type[BaseModel]
    tag: str
    #: which of date/town/category this list accepts
    filterable: tuple[str, ...] = ()
    options: tuple[Any, ...] = field(default_factory=tuple)

    @property
    def singular(self) -> str:
        return {"communities": "community", "facilities": "facility"}.get(
            self.kind, self.kind.removesuffix("s"))

    def where(self, stmt: Select[Any], f: Filters) -> Select[Any]:
        m = self.model
        if f.date is not None and "date" in self.filterable:
            if m is Ticket:
                start = dt.datetime.combine(f.date, dt.time())
                stmt = stmt.where(and_(Ticket.time >= start,
                                       Ticket.time < start + dt.timedelta(days=1)))
            else:
                stmt = stmt.where(m.date == f.date)
        if f.town is not None and "town" in self.filterable:
            if m is Community:
                stmt = stmt.where(Community.town == f.town)
            elif m is Point:
                stmt = stmt.where(_points_in_town(f.town))
            else:
                stmt = stmt.where(m.point_id.in_(select(Point.point_id).where(
                    _points_in_town(f.town))))
        if f.category is not None and "category" in self.filterable:
            if m is CollectionRecord:
                stmt = stmt.where(CollectionRecord.point_id.in_(
                    select(Point.point_id).where(Point.category == f.category)))
            else:
                stmt = stmt.where(m.category == f.category)
        return stmt

    def natural(self, session: Session, row: dict[str, Any]) -> Any:
        """The stored row a body names (after a successful import)."""
        if self.model is CollectionRecord:
            return session.scalars(select(CollectionRecord).where(
                CollectionRecord.date == dt.date.fromisoformat(parse_date_iso(str(row["date"]))),
                CollectionRecord.point_id == str(row["point_id"]).strip(),
                CollectionRecord.vehicle_id == str(row.get("vehicle_id") or "").strip(),
            )).one()
        if self.model is Ticket:
            return session.scalars(select(Ticket).where(
                Ticket.facility_id == str(row["facility_id"]).strip(),
                Ticket.ticket_no == str(row["ticket_no"]).strip(),
            )).one()
        return session.get(self.model, str(row[self.key]).strip())


RESOURCES: tuple[Resource, ...] = (
    Resource("depots", "/depots", Depot, "depot_id", s.DepotOut, s.DepotIn, "master data"),
    Resource("facilities", "/facilities", Facility, "facility_id", s.FacilityOut, s.FacilityIn,
             "master data"),
    Resource("vehicles", "/vehicles", Vehicle, "vehicle_id", s.VehicleOut, s.VehicleIn,
             "master data", options=(selectinload(Vehicle.compartments),)),
    Resource("communities", "/communities", Community, "community_id", s.CommunityOut,
             s.CommunityIn, "master data", ("town",)),
    Resource("points", "/points", Point, "point_id", s.PointOut, s.PointIn, "master data",
             ("town", "category")),
    Resource("records", "/records", CollectionRecord, "id", s.RecordOut, s.RecordIn,
             "measurements", ("date", "town", "category")),
    Resource("tickets", "/tickets", Ticket, "id", s.TicketOut, s.TicketIn, "measurements",
             ("date", "category")),
)

_STAFF = Depends(require(*STAFF))
_RECORD_WRITERS = Depends(require("admin", "dispatcher", "driver"))


def _check_driver_record(session: Session, who: Principal, row: dict[str, Any]) -> None:
    """A driver may post the weight of a stop of his own vehicle in a current plan."""
    if who.role != "driver":
        return
    row["vehicle_id"] = who.vehicle_id
    try:
        day = dt.date.fromisoformat(parse_date_iso(str(row.get("date") or "")))
    except ValueError:
        return  # the importer reports the bad date
    point = str(row.get("point_id") or "").strip()
    stop = session.scalar(
        select(PlanStop.id)
        .join(PlanRoute, PlanStop.route_id == PlanRoute.id)
        .join(Plan, PlanRoute.plan_id == Plan.plan_id)
        .where(Plan.date == day, Plan.status == "current", PlanRoute.vehicle_id == who.vehicle_id,
               PlanStop.kind == "collect", PlanStop.ref_id == point)
        .limit(1)
    )
    if stop is None:
        raise ApiError(403, "forbidden",
                       f"point {point!r} is not a stop of your route on {day} / 不是本车当日站点")


def _dump(body: Any) -> dict[str, Any]:
    row: dict[str, Any] = body.model_dump()
    return row


def _add_routes(router: APIRouter, r: Resource) -> None:
    key_type: Any = (Annotated[int, Path(ge=1, le=2**53)] if r.key == "id"
                     else Annotated[str, Path(min_length=1, max_length=64)])
    Out, In = r.out, r.inp  # noqa: N806
    one = r.singular

    def _get(session: Session, key: Any) -> Any:
        obj = session.get(r.model, key, options=list(r.options))
        if obj is None:
            raise NotFound(f"no such {one} {key!r} / 不存在")
        return obj

    @router.get(r.path, response_model=s.Page[Out], operation_id=f"list_{r.kind}",  # type: ignore[valid-type]
                summary=f"List {r.kind}", dependencies=[_STAFF], tags=[r.tag])
    def list_rows(session: SessionDep, p: PagingDep, f: FiltersDep) -> Any:
        stmt = r.where(select(r.model).options(*r.options), f)
        rows, count = page(session, stmt, [getattr(r.model, r.key)], p)
        return {"data": [Out.model_validate(x) for x in rows], "count": count}

    @router.get(r.path + "/{key}", response_model=Out, operation_id=f"get_{one}",
                summary=f"One {one}", dependencies=[_STAFF], tags=[r.tag])
    def get_row(session: SessionDep, key: key_type) -> Any:
        return Out.model_validate(_get(session, key))

    create_deps = [_RECORD_WRITERS] if r.kind == "records" else [_STAFF]

    @router.post(r.path, response_model=Out, status_code=201, operation_id=f"create_{one}",
                 summary=f"Add a {one} (import rules)", dependencies=create_deps, tags=[r.tag])
    def create_row(session: SessionDep, who: PrincipalDep, body: In) -> Any:  # type: ignore[valid-type]
        row = _dump(body)
        if r.kind == "records":
            _check_driver_record(session, who, row)
        report = import_row(session, r.kind, row)
        if report.counts[r.kind].updated:
            raise ApiError(409, "conflict",
                           f"this {one} exists already; use PUT to change it / 已存在")
        return Out.model_validate(r.natural(session, row))

    @router.put(r.path + "/{key}", response_model=Out, operation_id=f"replace_{one}",
                summary=f"Replace a {one} (import rules)", dependencies=[_STAFF], tags=[r.tag])
    def replace_row(session: SessionDep, key: key_type, body: In) -> Any:  # type: ignore[valid-type]
        obj = _get(session, key)
        row = _dump(body)
        if r.key == "id":
            session.delete(obj)
            session.flush()
        else:
            row[r.key] = key
        import_row(session, r.kind, row)
        session.expire_all()
        return Out.model_validate(r.natural(session, row))

    @router.delete(r.path + "/{key}", status_code=204, response_class=Response,
                   operation_id=f"delete_{one}", summary=f"Delete a {one}",
                   dependencies=[_STAFF], tags=[r.tag])
    def delete_row(session: SessionDep, key: key_type) -> Response:
        session.delete(_get(session, key))
        session.flush()
        return Response(status_code=204)


router = APIRouter()
for _r in RESOURCES:
    _add_routes(router, _r)
