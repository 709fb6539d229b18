"""SQLAlchemy 2 typed models. Times of day are minutes after midnight (`*_min`),
coordinates WGS-84, masses kg. Schema changes go through Alembic (migrations/)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: bit i set = collected on ISO weekday i+1 (Monday = bit 0)
ALL_DAYS_MASK = 0b1111111


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON}


class CategoryRow(Base):
    """Waste categories; seeded by the first migration from logistics.domain.CATEGORIES."""

    __tablename__ = "categories"
    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(32))
    name_en: Mapped[str] = mapped_column(String(64))
    colour: Mapped[str] = mapped_column(String(16))
    household: Mapped[bool] = mapped_column(Boolean, default=True)


class Depot(Base):
    __tablename__ = "depots"
    depot_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)


class Facility(Base):
    __tablename__ = "facilities"
    facility_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    #: category keys this facility accepts
    accepts: Mapped[list[str]] = mapped_column(JSON)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    open_min: Mapped[int] = mapped_column(Integer, default=0)
    close_min: Mapped[int] = mapped_column(Integer, default=1440)
    unload_min: Mapped[float] = mapped_column(Float, default=15.0)
    daily_capacity_kg: Mapped[float | None] = mapped_column(Float, nullable=True)
    harmless: Mapped[bool] = mapped_column(Boolean)


class Vehicle(Base):
    __tablename__ = "vehicles"
    vehicle_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    plate: Mapped[str | None] = mapped_column(String(32), nullable=True)
    depot_id: Mapped[str] = mapped_column(ForeignKey("depots.depot_id"))
    shift_start_min: Mapped[int] = mapped_column(Integer)
    shift_end_min: Mapped[int] = mapped_column(Integer)
    break_min: Mapped[float] = mapped_column(Float, default=0.0)
    break_earliest_min: Mapped[int | None] = mapped_column(Integer, nullable=True)
    break_latest_min: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cost_per_km: Mapped[float | None] = mapped_column(Float, nullable=True)
    fixed_cost: Mapped[float | None] = mapped_column(Float, nullable=True)
    compartments: Mapped[list[Compartment]] = relationship(
        back_populates="vehicle", cascade="all, delete-orphan", order_by="Compartment.position"
    )


class Compartment(Base):
    __tablename__ = "compartments"
    vehicle_id: Mapped[str] = mapped_column(
        ForeignKey("vehicles.vehicle_id", ondelete="CASCADE"), primary_key=True
    )
    category: Mapped[str] = mapped_column(ForeignKey("categories.key"), primary_key=True)
    capacity_kg: Mapped[float] = mapped_column(Float)
    #: order as written in the compartments cell
    position: Mapped[int] = mapped_column(Integer, default=0)
    vehicle: Mapped[Vehicle] = relationship(back_populates="compartments")


class Town(Base):
    __tablename__ = "towns"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)


class Community(Base):
    __tablename__ = "communities"
    community_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    town: Mapped[str] = mapped_column(ForeignKey("towns.name"))
    households: Mapped[int] = mapped_column(Integer)
    #: date the community started source separation; None = not yet
    sorting_since: Mapped[dt.date | None] = mapped_column(Date, nullable=True)


class Point(Base):
    __tablename__ = "points"
    point_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    community_id: Mapped[str | None] = mapped_column(
        ForeignKey("communities.community_id"), nullable=True, index=True
    )
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    category: Mapped[str] = mapped_column(ForeignKey("categories.key"), index=True)
    kg_per_visit: Mapped[float] = mapped_column(Float)
    #: ISO weekdays collected, as a bit mask (see ALL_DAYS_MASK)
    days_mask: Mapped[int] = mapped_column(Integer)
    tw_start_min: Mapped[int] = mapped_column(Integer, default=0)
    tw_end_min: Mapped[int] = mapped_column(Integer, default=1440)
    service_min: Mapped[float] = mapped_column(Float, default=3.0)
    bins: Mapped[int | None] = mapped_column(Integer, nullable=True)


class CollectionRecord(Base):
    """What was collected at a point on a day. Natural key (date, point, vehicle);
    vehicle_id is '' when the record does not say.

    On PostgreSQL the table is partitioned by month of ``date`` (declarative range
    partitions ``collection_records_YYYY_MM`` plus ``collection_records_default``; see
    ``logistics.persistence.bulk_repo``) and its primary key is ``(id, date)``, because a
    partitioned table's keys must hold the partition key; ``id`` still identifies a row
    (one sequence). On SQLite it is a plain table keyed by ``id``. The natural key's
    unique index serves the import's upsert and every date-range read."""

    __tablename__ = "collection_records"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    date: Mapped[dt.date] = mapped_column(Date)
    point_id: Mapped[str] = mapped_column(ForeignKey("points.point_id"))
    vehicle_id: Mapped[str] = mapped_column(String(64), default="")
    kg: Mapped[float] = mapped_column(Float)
    __table_args__ = (
        UniqueConstraint("date", "point_id", "vehicle_id", name="uq_collection_records_key"),
    )


class RecordRollup(Base):
    """Collection records of a point in a month: kg, record count, and ``day_bits`` (bit
    d-1 set when the point has a record on day d). Derived: triggers on
    ``collection_records`` keep it (migration 0008); the bulk loader fills it for the
    partitions it attaches. Metrics read it instead of a year of records."""

    __tablename__ = "record_rollups"
    month: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    point_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kg: Mapped[float] = mapped_column(Float)
    records: Mapped[int] = mapped_column(Integer)
    day_bits: Mapped[int] = mapped_column(Integer)


class TruckDayRollup(Base):
    """Collection records of a vehicle on a day (vehicle_id '' = not said): kg and record
    count, kept like :class:`RecordRollup`."""

    __tablename__ = "truck_day_rollups"
    date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    vehicle_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kg: Mapped[float] = mapped_column(Float)
    records: Mapped[int] = mapped_column(Integer)


class Ticket(Base):
    """A weighbridge ticket; unique per (facility, ticket_no). `time` is local time
    (Asia/Shanghai) without offset."""

    __tablename__ = "tickets"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    facility_id: Mapped[str] = mapped_column(ForeignKey("facilities.facility_id"))
    ticket_no: Mapped[str] = mapped_column(String(64))
    time: Mapped[dt.datetime] = mapped_column(DateTime)
    category: Mapped[str] = mapped_column(ForeignKey("categories.key"))
    net_kg: Mapped[float] = mapped_column(Float)
    gross_kg: Mapped[float | None] = mapped_column(Float, nullable=True)
    tare_kg: Mapped[float | None] = mapped_column(Float, nullable=True)
    vehicle_id: Mapped[str] = mapped_column(String(64), default="")
    #: the transfer station (or sorting centre) that sent this load on; None = a load
    #: straight from collection
    source_facility_id: Mapped[str | None] = mapped_column(
        ForeignKey("facilities.facility_id"), nullable=True
    )
    __table_args__ = (
        UniqueConstraint("facility_id", "ticket_no", name="uq_tickets_facility_ticket"),
        Index("ix_tickets_time", "time"),
        Index("ix_tickets_source_time", "source_facility_id", "time"),
    )


class Plan(Base):
    """One version of a day's plan. The newest version of a date with status
    'current' is the plan in force; older ones are kept as 'superseded'."""

    __tablename__ = "plans"
    plan_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    date: Mapped[dt.date] = mapped_column(Date, index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="current")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    #: the plan document (wasteroute.plan/1) exactly as written to plan.json
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    routes: Mapped[list[PlanRoute]] = relationship(
        back_populates="plan", cascade="all, delete-orphan", order_by="PlanRoute.seq"
    )
    unassigned: Mapped[list[PlanUnassigned]] = relationship(
        back_populates="plan", cascade="all, delete-orphan"
    )
    __table_args__ = (UniqueConstraint("date", "version", name="uq_plans_date_version"),)


class PlanRoute(Base):
    __tablename__ = "plan_routes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.plan_id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    vehicle_id: Mapped[str] = mapped_column(String(64))
    depot_id: Mapped[str] = mapped_column(String(64))
    distance_km: Mapped[float] = mapped_column(Float)
    duration_min: Mapped[float] = mapped_column(Float)
    plan: Mapped[Plan] = relationship(back_populates="routes")
    stops: Mapped[list[PlanStop]] = relationship(
        back_populates="route", cascade="all, delete-orphan", order_by="PlanStop.seq"
    )


class PlanStop(Base):
    __tablename__ = "plan_stops"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    route_id: Mapped[int] = mapped_column(
        ForeignKey("plan_routes.id", ondelete="CASCADE"), index=True
    )
    seq: Mapped[int] = mapped_column(Integer)
    #: depot | collect | unload | break
    kind: Mapped[str] = mapped_column(String(16))
    ref_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    category: Mapped[str | None] = mapped_column(String(32), nullable=True)
    kg: Mapped[float | None] = mapped_column(Float, nullable=True)
    arrival: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    start: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    departure: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    load_kg: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    route: Mapped[PlanRoute] = relationship(back_populates="stops")


class PlanUnassigned(Base):
    __tablename__ = "plan_unassigned"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.plan_id", ondelete="CASCADE"), index=True)
    point_id: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32))
    kg: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(String(64))
    plan: Mapped[Plan] = relationship(back_populates="unassigned")


# ---------------------------------------------------------------- API: users, jobs, events


class User(Base):
    """An API user. ``role`` is admin | dispatcher | driver | viewer; a driver is linked
    to one vehicle (``vehicle_id``). Passwords are stored as Argon2id hashes only."""

    __tablename__ = "users"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    vehicle_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class ApiKey(Base):
    """A machine key (header X-API-Key) acting as ``user_name``; only its SHA-256 is kept."""

    __tablename__ = "api_keys"
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_name: Mapped[str] = mapped_column(
        ForeignKey("users.name", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class AppSetting(Base):
    """Small key/value settings kept in the database (e.g. the generated token secret)."""

    __tablename__ = "app_settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(500))


class Job(Base):
    """A background job (a planning solve). status: queued | running | succeeded |
    failed | cancelled | superseded. ``attempts`` counts starts (a re-delivered job
    after a worker died starts again)."""

    __tablename__ = "jobs"
    job_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    objective: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    created_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    #: the day a planning job plans (also in ``params``; a column so pending jobs of a
    #: day are found by index)
    plan_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True, index=True)
    #: the day's current plan when the job was created; the job stores its plan only
    #: while this is still the current one (else it ends ``superseded``)
    base_plan_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: who runs the current attempt (host:pid) and when it last said it is alive
    worker: Mapped[str | None] = mapped_column(String(128), nullable=True)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class Complaint(Base):
    """An overflow report from the city-management platform (POST /events/complaints),
    kept for re-planning."""

    __tablename__ = "complaints"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    point_id: Mapped[str] = mapped_column(ForeignKey("points.point_id"), index=True)
    time: Mapped[dt.datetime] = mapped_column(DateTime)
    note: Mapped[str] = mapped_column(String(1000), default="")
    kg_estimate: Mapped[float | None] = mapped_column(Float, nullable=True)
    source: Mapped[str] = mapped_column(String(64), default="")
    received_at: Mapped[dt.datetime] = mapped_column(DateTime)
    handled: Mapped[bool] = mapped_column(Boolean, default=False)


# ---------------------------------------------------------------- operations


class ReconcileFinding(Base):
    """One finding of `wasteroute reconcile` (plan versus weighbridge tickets and
    collection records). kind: ticket_unplanned | unload_missing | weight_deviation |
    point_not_recorded | record_unplanned. A new run for a date replaces its findings."""

    __tablename__ = "reconcile_findings"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    date: Mapped[dt.date] = mapped_column(Date, index=True)
    plan_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    vehicle_id: Mapped[str] = mapped_column(String(64), default="")
    #: trip number of the planned unload (1 = first unload of the route), if any
    trip: Mapped[int | None] = mapped_column(Integer, nullable=True)
    facility_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ticket_no: Mapped[str | None] = mapped_column(String(64), nullable=True)
    point_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    category: Mapped[str | None] = mapped_column(String(32), nullable=True)
    planned_kg: Mapped[float | None] = mapped_column(Float, nullable=True)
    actual_kg: Mapped[float | None] = mapped_column(Float, nullable=True)
    deviation_pct: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
