"""Jobs, users, API keys and settings: the queries of ``logistics.ops``.

Queries and writes only flush; the caller's transaction commits (one per CLI command,
API request or step of a job run).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from sqlalchemy import false, func, or_, select, text, update
from sqlalchemy.orm import Session

from logistics.persistence.models import ApiKey, AppSetting, Base, Job, User, Vehicle

RowT = TypeVar("RowT", bound=Base)


def add(session: Session, row: RowT) -> RowT:
    """Add a new row and flush it (constraint errors surface here)."""
    session.add(row)
    session.flush()
    return row


# ---------------------------------------------------------------- jobs


def find_job(session: Session, job_id: str, *, for_update: bool = False) -> Job | None:
    """The job row; ``for_update`` locks it until the transaction ends (where supported)."""
    return session.get(Job, job_id, with_for_update=for_update)


def list_jobs(
    session: Session, status: str | None, limit: int, offset: int
) -> tuple[list[Job], int]:
    """One page of jobs, newest first, and the count of all that match ``status``."""
    stmt = select(Job)
    if status is not None:
        stmt = stmt.where(Job.status == status)
    count = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Job.created_at.desc()).limit(limit).offset(offset))
    return list(rows), int(count)


def update_job(session: Session, job_id: str, **values: Any) -> None:
    """Set columns of one job without loading it."""
    session.execute(update(Job).where(Job.job_id == job_id).values(**values))


def update_jobs_in(session: Session, statuses: list[str], **values: Any) -> int:
    """Set columns of every job in one of ``statuses``; how many rows changed."""
    res = session.execute(update(Job).where(Job.status.in_(statuses)).values(**values))
    return int(res.rowcount)  # type: ignore[attr-defined]


def update_job_if(
    session: Session, job_id: str, attempt: int, statuses: list[str], **values: Any
) -> int:
    """Set columns of one job only while it is still in ``attempt`` and one of
    ``statuses`` (an attempt that lost its lease writes nothing); rows changed (0 or 1).
    On PostgreSQL the row stays locked until the transaction ends."""
    res = session.execute(
        update(Job)
        .where(Job.job_id == job_id, Job.attempts == attempt, Job.status.in_(statuses))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return int(res.rowcount)  # type: ignore[attr-defined]


def lock_day(session: Session, date: dt.date) -> None:
    """Serialize job requests of one day until the transaction ends: a transaction
    advisory lock on PostgreSQL; on SQLite an empty write, which takes the database's
    write lock (SQLite has one writer at a time)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                        {"k": 0x5752_0000_0000 + date.toordinal()})
    else:
        session.execute(update(Job).where(false()).values(status=Job.status)
                        .execution_options(synchronize_session=False))


def pending_jobs_of_day(
    session: Session, kind: str, date: dt.date, statuses: list[str]
) -> list[Job]:
    """Jobs of ``kind`` for ``date`` in one of ``statuses`` and not being cancelled,
    oldest first."""
    return list(session.scalars(
        select(Job).where(Job.kind == kind, Job.plan_date == date, Job.status.in_(statuses),
                          Job.cancel_requested == false())
        .order_by(Job.created_at, Job.job_id)))


def stale_jobs(session: Session, status: str, before: dt.datetime) -> list[Job]:
    """Jobs in ``status`` whose last heartbeat (or start, when none) is older than
    ``before``, locked until the transaction ends (where supported)."""
    return list(session.scalars(
        select(Job).where(Job.status == status, or_(
            Job.heartbeat_at < before,
            Job.heartbeat_at.is_(None) & or_(Job.started_at.is_(None), Job.started_at < before)))
        .order_by(Job.created_at).with_for_update()))


def job_cancel_requested(session: Session, job_id: str) -> bool:
    return bool(session.scalar(select(Job.cancel_requested).where(Job.job_id == job_id)))


# ---------------------------------------------------------------- users and keys


def find_user(session: Session, name: str) -> User | None:
    return session.get(User, name)


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.name)))


def vehicle_exists(session: Session, vehicle_id: str) -> bool:
    return session.get(Vehicle, vehicle_id) is not None


def find_api_key(session: Session, key_hash: str) -> ApiKey | None:
    return session.get(ApiKey, key_hash)


def api_keys_of(session: Session, user_name: str) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).where(ApiKey.user_name == user_name)
                                .order_by(ApiKey.created_at, ApiKey.key_hash)))


def api_keys_with_prefix(session: Session, prefix: str) -> list[ApiKey]:
    """Keys whose hash starts with ``prefix`` (hex digits only; a key's id)."""
    if not prefix or any(c not in "0123456789abcdef" for c in prefix):
        return []
    return list(session.scalars(select(ApiKey).where(ApiKey.key_hash.startswith(prefix))
                                .limit(2)))


def delete(session: Session, row: Base) -> None:
    """Delete one row and flush."""
    session.delete(row)
    session.flush()


def find_setting(session: Session, key: str) -> AppSetting | None:
    return session.get(AppSetting, key)
