"""Request and response bodies of the HTTP API (pydantic v2).

Write bodies use the import-file columns of formats.md (the same cells a CSV row
has: times as HH:MM, `days` as `daily` or `1;3;5`, `compartments` as
`kitchen:8000;...`), and are validated by the importer's own rules. Read bodies are
the stored rows (times as minutes after midnight, ``*_min``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Generic, Literal, TypeVar
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model, field_validator

from logistics.imports.schema import COLUMNS
from logistics.settings import TIMEZONE

T = TypeVar("T")
_LOCAL = ZoneInfo(TIMEZONE)


def _as_utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def _as_local(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=_LOCAL) if value.tzinfo is None else value


#: stored without offset in UTC (created_at, ...): answered with "Z"/+00:00
UtcTime = Annotated[dt.datetime, AfterValidator(_as_utc)]
#: stored without offset in local time (tickets, complaints, stops): answered with +08:00
LocalTime = Annotated[dt.datetime, AfterValidator(_as_local)]

Cell = str | float | int | bool | None


class Page(BaseModel, Generic[T]):
    """A page of a list: the rows and how many rows match in all."""

    data: list[T]
    count: int = Field(description="rows matching the filters, over all pages")


class RowErrorOut(BaseModel):
    file: str
    row: int
    column: str
    message: str
    value: Any = None


class ErrorOut(BaseModel):
    """Every error answer: a message and a machine-readable reason."""

    detail: str | list[Any]
    reason: str
    errors: list[RowErrorOut] | None = None

    model_config = ConfigDict(json_schema_extra={
        "examples": [{"detail": "no such point 'P9' / 点位不存在", "reason": "not_found"}]
    })


class _Orm(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# ---------------------------------------------------------------- read bodies


class DepotOut(_Orm):
    depot_id: str
    name: str
    lon: float
    lat: float


class FacilityOut(_Orm):
    facility_id: str
    name: str
    kind: str
    accepts: list[str]
    lon: float
    lat: float
    open_min: int
    close_min: int
    unload_min: float
    daily_capacity_kg: float | None
    harmless: bool


class CompartmentOut(_Orm):
    category: str
    capacity_kg: float


class VehicleOut(_Orm):
    vehicle_id: str
    plate: str | None
    depot_id: str
    shift_start_min: int
    shift_end_min: int
    break_min: float
    break_earliest_min: int | None
    break_latest_min: int | None
    cost_per_km: float | None
    fixed_cost: float | None
    compartments: list[CompartmentOut]


class CommunityOut(_Orm):
    community_id: str
    name: str
    town: str
    households: int
    sorting_since: dt.date | None


class PointOut(_Orm):
    point_id: str
    name: str
    community_id: str | None
    lon: float
    lat: float
    category: str
    kg_per_visit: float
    days_mask: int
    tw_start_min: int
    tw_end_min: int
    service_min: float
    bins: int | None


class RecordOut(_Orm):
    id: int
    date: dt.date
    point_id: str
    vehicle_id: str
    kg: float


class TicketOut(_Orm):
    id: int
    facility_id: str
    ticket_no: str
    time: LocalTime
    category: str
    net_kg: float
    gross_kg: float | None
    tare_kg: float | None
    vehicle_id: str


# ---------------------------------------------------------------- write bodies (import rows)


class _In(BaseModel):
    """A request body. Text with a NUL byte is refused here: PostgreSQL cannot store
    it and SQLite can, so letting it through would make the answer depend on the
    database."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if _has_nul(value):
            raise ValueError("NUL byte in text / 文本含 NUL 字符")
        return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


#: the API type of an import column whose JSON form may also be a list or an object
_JSON_FORMS: dict[str, Any] = {
    "categories": Cell | list[str],
    "compartments": Cell | dict[str, float],
}


def _row_model(name: str, kind: str, example: dict[str, Any]) -> type[_In]:
    """The request body of one import row: every column of the kind's file
    (:data:`logistics.imports.schema.COLUMNS`), named and ordered as there, each
    optional here (the importer's own rules say what a row must have)."""
    fields: dict[str, Any] = {
        col.name: (_JSON_FORMS.get(col.type, Cell), None) for col in COLUMNS[kind]
    }
    model = create_model(name, __base__=_In, __module__=__name__, **fields)
    model.model_config["json_schema_extra"] = {"examples": [example]}
    model.model_rebuild(force=True)
    return model


DepotIn = _row_model(
    "DepotIn", "depots", {"depot_id": "D1", "name": "城关车场", "lon": 113.97, "lat": 34.72}
)
FacilityIn = _row_model(
    "FacilityIn", "facilities",
    {"facility_id": "F1", "name": "县转运站", "kind": "transfer_station",
     "accepts": "residual;kitchen", "lon": 113.99, "lat": 34.70,
     "open": "05:00", "close": "20:00", "harmless": True},
)
VehicleIn = _row_model(
    "VehicleIn", "vehicles",
    {"vehicle_id": "V1", "plate": "豫A12345", "depot_id": "D1",
     "compartments": "residual:8000", "shift_start": "05:00", "shift_end": "13:00"},
)
CommunityIn = _row_model(
    "CommunityIn", "communities",
    {"community_id": "C1", "name": "城关一社区", "town": "城关镇",
     "households": 1200, "sorting_since": "2020-05-01"},
)
PointIn = _row_model(
    "PointIn", "points",
    {"point_id": "P1", "name": "一社区东门", "community_id": "C1",
     "lon": 113.98, "lat": 34.71, "category": "kitchen",
     "kg_per_visit": 120, "days": "daily"},
)
RecordIn = _row_model(
    "RecordIn", "records",
    {"date": "2026-11-27", "point_id": "P1", "kg": 132.5, "vehicle_id": "V1"},
)
TicketIn = _row_model(
    "TicketIn", "tickets",
    {"ticket_no": "T0001", "facility_id": "F1", "time": "2026-11-27T09:30:00",
     "category": "residual", "gross_kg": 15200, "tare_kg": 9800, "vehicle_id": "V1"},
)


# ---------------------------------------------------------------- plans, jobs


class PlanOut(_Orm):
    plan_id: str
    date: dt.date
    version: int
    status: str
    created_at: UtcTime
    summary: dict[str, Any]


class StopOut(_Orm):
    seq: int
    kind: str
    ref_id: str | None
    lon: float | None
    lat: float | None
    category: str | None
    kg: float | None
    arrival: LocalTime
    start: LocalTime | None
    departure: LocalTime
    load_kg: dict[str, Any] | None


class RouteOut(_Orm):
    seq: int
    vehicle_id: str
    depot_id: str
    distance_km: float
    duration_min: float
    stops: list[StopOut]


class PlanRequest(_In):
    date: dt.date = Field(description="the day to plan")
    time_limit_s: float = Field(30.0, gt=0, le=3600, description="solver time limit, seconds")
    model_config = ConfigDict(json_schema_extra={
        "examples": [{"date": "2026-11-27", "time_limit_s": 30}]
    })


class JobOut(_Orm):
    job_id: str
    kind: str
    status: str = Field(description="queued | running | succeeded | failed | cancelled | "
                        "superseded (the day's plan changed while it ran; not stored)")
    params: dict[str, Any]
    progress: float = Field(description="fraction of the time limit used, 0..1")
    objective: int | None
    attempts: int
    cancel_requested: bool
    result: dict[str, Any] | None
    error: str | None
    created_by: str | None
    created_at: UtcTime
    started_at: UtcTime | None
    finished_at: UtcTime | None
    base_plan_id: str | None = Field(
        None, description="the day's current plan when the job was requested")
    heartbeat_at: UtcTime | None = Field(
        None, description="when the running attempt last said it is alive")


# ---------------------------------------------------------------- auth, users, events


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class UserIn(_In):
    name: str = Field(min_length=1, max_length=64)
    role: Literal["admin", "dispatcher", "driver", "viewer"]
    password: str | None = Field(None, min_length=8, max_length=200)
    vehicle_id: str | None = Field(None, max_length=64, description="drivers only")
    model_config = ConfigDict(json_schema_extra={
        "examples": [{"name": "wang", "role": "driver", "password": "s3cret-pass",
                      "vehicle_id": "V1"}]
    })


class UserOut(_Orm):
    name: str
    role: str
    vehicle_id: str | None
    active: bool


class ApiKeyOut(BaseModel):
    key: str = Field(description="send as header X-API-Key; shown only once")
    user: str
    key_id: str = Field("", description="the key's id, as `GET /users/{name}/api-keys` lists "
                                        "it and `DELETE /api-keys/{key_id}` takes it")


class ComplaintIn(_In):
    point_id: str = Field(min_length=1, max_length=64)
    time: dt.datetime = Field(description="when the overflow was seen (local time)")
    note: str = Field("", max_length=1000)
    kg_estimate: float | None = Field(None, ge=0, le=1e7)
    source: str = Field("", max_length=64)
    model_config = ConfigDict(json_schema_extra={
        "examples": [{"point_id": "P1", "time": "2026-11-27T07:40:00",
                      "note": "桶满溢出 / bins overflowing", "kg_estimate": 200,
                      "source": "city-platform"}]
    })


class ComplaintOut(_Orm):
    id: int
    point_id: str
    time: LocalTime
    note: str
    kg_estimate: float | None
    source: str
    received_at: UtcTime
    handled: bool


class ImportCount(BaseModel):
    kind: str
    inserted: int
    updated: int
    files: list[str]


class ImportOut(BaseModel):
    counts: list[ImportCount]
    files: list[str]
    seconds: float
