"""Background jobs (planning solves) and the queue that runs them.

A job is a row in ``jobs`` (status, progress, attempts, lease, result); the queue
(:mod:`logistics.ops.queues`: Dramatiq on Redis, or a process pool inside the server)
only carries its id.

How a job never sticks and never clashes:

- The request that creates a job enqueues it; when the queue cannot take it the job
  is marked failed with the reason (the API answers 503).
- A request for a day that already has a job pending joins that job
  (:func:`request_plan`), or cancels it and starts a new one on request.
- Each start is an *attempt* (``attempts`` counts them) holding a lease: the running
  attempt writes ``heartbeat_at`` every third of ``WASTEROUTE_JOB_LEASE_S`` (default
  60 s). :func:`reap` (run by every worker, and by the server for its embedded pool)
  queues again a running job whose lease lapsed, or fails it once it has used its
  attempts (``WASTEROUTE_JOB_ATTEMPTS``, default 2).
- Every write of an attempt is conditional on (job, attempt, still running), so an
  attempt that lost its lease, or a job already ended, is never overwritten.
- Any exception, ``BaseException`` included (Dramatiq's ``TimeLimitExceeded``), ends
  the attempt failed with its reason.
- A plan is stored only while the day's current plan is still the one the job was
  requested against (``base_plan_id``); otherwise the job ends ``superseded`` and
  says which plan replaced it. Storing the plan and marking the job succeeded are one
  transaction.

Cancellation is cooperative: a queued job never starts; a running one finishes its
solve but its plan is not stored.

Waits (for the enqueuing transaction to show, between store retries) and the progress
throttle read an injected :class:`Clock`, so tests run them on a fake one.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from logistics.domain import BadInput, DomainError, NotFound
from logistics.persistence import ops_repo, plan_repo
from logistics.persistence.db import IntegrityError, OperationalError, Session, session_scope
from logistics.persistence.models import Job
from logistics.planning.plan import make_plan, parse_date
from logistics.settings import db_url as resolve_db_url

log = logging.getLogger(__name__)

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED, SUPERSEDED = (
    "queued", "running", "succeeded", "failed", "cancelled", "superseded",
)
PENDING = (QUEUED, RUNNING)
FINISHED = frozenset({SUCCEEDED, FAILED, CANCELLED, SUPERSEDED})
STATUSES = (*PENDING, SUCCEEDED, FAILED, CANCELLED, SUPERSEDED)
PLAN_KIND = "plan"
MAX_TIME_LIMIT_S = 3600.0
START_WAIT_S = 10.0  # how long a delivered job may take to show in the database
START_POLL_S = 0.2
PROGRESS_EVERY_S = 1.0  # at most one progress write a second
STORE_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class Clock:
    """Monotonic seconds and a sleep; tests pass a fake pair that never waits."""

    monotonic_s: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


REAL_CLOCK = Clock()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def max_attempts() -> int:
    return max(1, int(os.environ.get("WASTEROUTE_JOB_ATTEMPTS", "2")))


def lease_s() -> float:
    """How long a running attempt may go without a heartbeat before it counts as gone
    (``WASTEROUTE_JOB_LEASE_S``, default 60 s)."""
    return max(1.0, float(os.environ.get("WASTEROUTE_JOB_LEASE_S", "60")))


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:128]


# ---------------------------------------------------------------- job rows


def _check_time_limit(time_limit_s: float) -> None:
    if not (0 < time_limit_s <= MAX_TIME_LIMIT_S):
        raise BadInput(f"time_limit_s must be in (0, {MAX_TIME_LIMIT_S:g}] (got {time_limit_s})")


def create_plan_job(
    session: Session, date: dt.date, time_limit_s: float, created_by: str | None = None
) -> Job:
    """A queued planning job for ``date`` against the day's current plan (flushed; the
    caller commits, then enqueues)."""
    _check_time_limit(time_limit_s)
    base = plan_repo.current_plan(session, date)
    job = Job(
        job_id=str(uuid.uuid4()),
        kind=PLAN_KIND,
        status=QUEUED,
        params={"date": date.isoformat(), "time_limit_s": float(time_limit_s)},
        progress=0.0,
        attempts=0,
        cancel_requested=False,
        created_by=created_by,
        created_at=_now(),
        plan_date=date,
        base_plan_id=base.plan_id if base is not None else None,
    )
    return ops_repo.add(session, job)


def request_plan(
    session: Session, date: dt.date, time_limit_s: float, created_by: str | None = None,
    *, replace: bool = False,
) -> tuple[Job, bool]:
    """The job that plans ``date``: the one already pending for that day (joined;
    ``False``), or a new queued one (``True``; the caller commits, then enqueues).
    ``replace`` cancels the pending ones first. Requests of one day are serialized, so
    two at once never both create a job."""
    _check_time_limit(time_limit_s)
    ops_repo.lock_day(session, date)
    pending = ops_repo.pending_jobs_of_day(session, PLAN_KIND, date, list(PENDING))
    if pending and not replace:
        return pending[0], False
    for job in pending:
        _cancel(job)
    session.flush()
    return create_plan_job(session, date, time_limit_s, created_by), True


def get_job(session: Session, job_id: str) -> Job:
    job = ops_repo.find_job(session, job_id)
    if job is None:
        raise NotFound(f"no such job {job_id!r} / 任务不存在")
    return job


def list_jobs(
    session: Session, status: str | None = None, limit: int = 100, offset: int = 0
) -> tuple[list[Job], int]:
    return ops_repo.list_jobs(session, status, limit, offset)


def _cancel(job: Job) -> None:
    job.cancel_requested = True
    if job.status == QUEUED:
        job.status = CANCELLED
        job.finished_at = _now()


def request_cancel(session: Session, job_id: str) -> Job:
    """Cancel a job: a queued one at once; a running one when its solve returns."""
    job = get_job(session, job_id)
    if job.status in FINISHED:
        return job
    _cancel(job)
    session.flush()
    return job


def mark_failed(session: Session, job_id: str, reason: str) -> None:
    """End a job that is still queued or running as failed with ``reason``."""
    job = ops_repo.find_job(session, job_id, for_update=True)
    if job is not None and job.status in PENDING:
        job.status, job.error, job.finished_at = FAILED, reason[:2000], _now()
        session.flush()


def fail_unfinished(session: Session, reason: str) -> int:
    """Mark every queued or running job failed (embedded queue after a restart)."""
    return ops_repo.update_jobs_in(
        session, list(PENDING), status=FAILED, error=reason, finished_at=_now()
    )


def _lease_alive(job: Job, now: dt.datetime) -> bool:
    beat = job.heartbeat_at or job.started_at
    return beat is not None and (now - beat).total_seconds() < lease_s()


def _gone(job: Job, reason: str) -> bool:
    """An attempt of ``job`` ended without writing its end (its worker or process
    stopped): queue the job again while it has attempts left (True), else fail it."""
    if job.cancel_requested:
        job.status, job.finished_at = CANCELLED, _now()
        return False
    if job.status == QUEUED:
        return True  # never started: simply run it
    if job.attempts >= max_attempts():
        job.status, job.finished_at = FAILED, _now()
        job.error = (f"{reason}; gave up after {job.attempts} attempt(s); the previous plan "
                     "stays current / 求解中断，已达重试上限，原计划不变")[:2000]
        log.warning("job %s: %s", job.job_id, job.error)
        return False
    log.warning("job %s: %s; queued again (attempt %d of %d)", job.job_id, reason,
                job.attempts + 1, max_attempts())
    job.status, job.worker, job.heartbeat_at = QUEUED, None, None
    return True


def recover(db_url: str, job_id: str, reason: str) -> bool:
    """After the process running ``job_id`` stopped: True when the job is to be run
    again (queued), False when it ended (failed, cancelled, or already finished)."""
    with session_scope(db_url) as s:
        job = ops_repo.find_job(s, job_id, for_update=True)
        if job is None or job.status in FINISHED:
            return False
        return _gone(job, reason)


def reap(
    db_url: str | None = None, requeue: Callable[[str], None] | None = None,
    now: dt.datetime | None = None,
) -> dict[str, str]:
    """Running jobs whose lease lapsed (their worker is gone): queued again and handed
    to ``requeue`` while they have attempts left, else failed with the reason. Returns
    {job_id: new status}."""
    url = resolve_db_url(db_url)
    cutoff = (now or _now()) - dt.timedelta(seconds=lease_s())
    out: dict[str, str] = {}
    with session_scope(url) as s:
        for job in ops_repo.stale_jobs(s, RUNNING, cutoff):
            _gone(job, f"the worker stopped during the solve (no heartbeat from "
                       f"{job.worker or '?'} for {lease_s():g} s)")
            out[job.job_id] = job.status
    for job_id, status in out.items():
        if status == QUEUED and requeue is not None:
            try:
                requeue(job_id)
            except Exception as exc:  # the queue is down: the job must not stay queued
                with session_scope(url) as s:
                    mark_failed(s, job_id, f"could not queue the job again: {type(exc).__name__}: "
                                           f"{exc} / 无法重新排队")
                out[job_id] = FAILED
    return out


# ---------------------------------------------------------------- running a job


@dataclass(frozen=True, slots=True)
class _Claim:
    job_id: str
    attempt: int
    params: dict[str, Any]
    base_plan_id: str | None
    check_base: bool


class _LostLease(Exception):
    """This attempt no longer holds the job (reaped, ended elsewhere)."""


def _start(url: str, job_id: str, clock: Clock) -> _Claim | None:
    """Claim the job for a new attempt; None when it must not run (finished, cancelled,
    out of attempts, or running elsewhere under a live lease)."""
    deadline = clock.monotonic_s() + START_WAIT_S
    while True:
        with session_scope(url) as s:
            job = ops_repo.find_job(s, job_id, for_update=True)
            if job is not None:
                now = _now()
                if job.status in FINISHED:
                    log.info("job %s already %s; not run again", job_id, job.status)
                    return None
                if job.cancel_requested:
                    job.status, job.finished_at = CANCELLED, now
                    return None
                if job.status == RUNNING:
                    if _lease_alive(job, now):
                        log.info("job %s is running on %s; this delivery is dropped",
                                 job_id, job.worker)
                        return None
                    if not _gone(job, "the worker stopped during the solve"):
                        return None
                job.status = RUNNING
                job.attempts += 1
                job.started_at = job.heartbeat_at = now
                job.worker = worker_name()
                job.progress = 0.0
                return _Claim(job_id, job.attempts, dict(job.params), job.base_plan_id,
                              job.plan_date is not None)
        if clock.monotonic_s() > deadline:
            log.error("job %s not found in the database; dropped", job_id)
            return None
        clock.sleep(START_POLL_S)  # the enqueuing transaction may not be visible yet


class _Heartbeat:
    """Renews the attempt's lease every third of the lease time, in a thread."""

    def __init__(self, url: str, claim: _Claim) -> None:
        self.url, self.claim = url, claim
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"job-{claim.job_id[:8]}-beat",
                                        daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(lease_s() / 3):
            try:
                with session_scope(self.url) as s:
                    if not ops_repo.update_job_if(s, self.claim.job_id, self.claim.attempt,
                                                  [RUNNING], heartbeat_at=_now()):
                        return  # the attempt ended or lost the job
            except Exception:
                log.warning("heartbeat of job %s failed", self.claim.job_id, exc_info=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _progress_writer(
    url: str, claim: _Claim, clock: Clock
) -> tuple[Callable[[float, int | None], None], Callable[[], bool]]:
    last_s: list[float | None] = [None]
    cancelled = [False]
    lock = threading.Lock()

    def on_progress(fraction: float, objective: int | None) -> None:
        now_s = clock.monotonic_s()
        with lock:
            previous_s = last_s[0]
            if previous_s is not None and now_s - previous_s < PROGRESS_EVERY_S and fraction < 1.0:
                return
            last_s[0] = now_s
        try:
            with session_scope(url) as s:
                ops_repo.update_job_if(
                    s, claim.job_id, claim.attempt, [RUNNING],
                    progress=round(min(1.0, max(0.0, fraction)), 4), objective=objective,
                    heartbeat_at=_now(),
                )
                cancelled[0] = ops_repo.job_cancel_requested(s, claim.job_id)
        except Exception:  # progress is best effort; never stop the solve for it
            log.debug("progress update of job %s failed", claim.job_id, exc_info=True)

    return on_progress, lambda: cancelled[0]


def _status_of(url: str, job_id: str) -> str:
    with session_scope(url) as s:
        job = ops_repo.find_job(s, job_id)
        return job.status if job is not None else FAILED


def _finish(url: str, claim: _Claim, status: str, **values: Any) -> str:
    """End the attempt with ``status`` unless it no longer holds the job; the job's
    status afterwards."""
    with session_scope(url) as s:
        n = ops_repo.update_job_if(s, claim.job_id, claim.attempt, [RUNNING], status=status,
                                   finished_at=_now(), **values)
    if n:
        return status
    log.warning("job %s: attempt %d no longer holds the job; its end (%s) is not written",
                claim.job_id, claim.attempt, status)
    return _status_of(url, claim.job_id)


def _store(url: str, claim: _Claim, day: dt.date, draft: Any, clock: Clock) -> str:
    """Store the plan and end the job succeeded, in one transaction; or end it
    superseded (the day's plan changed meanwhile) or cancelled."""
    for attempt in range(STORE_ATTEMPTS):
        try:
            with session_scope(url) as s:
                # one store of a day at a time (jobs of one day read the current plan
                # and store theirs in turn); the conditional end below locks the job
                # row, so a reaper cannot take the job back while the plan is stored
                ops_repo.lock_day(s, day)
                if ops_repo.job_cancel_requested(s, claim.job_id):
                    ended = CANCELLED
                    values: dict[str, Any] = {}
                else:
                    current = plan_repo.current_plan(s, day)
                    current_id = current.plan_id if current is not None else None
                    ended = SUCCEEDED
                    if claim.check_base and current_id != claim.base_plan_id:
                        ended = SUPERSEDED
                        values = {"error": (
                            f"the plan of {day} became {current_id} while this job ran (it "
                            f"was requested against {claim.base_plan_id or 'no plan'}); its "
                            "plan is not stored / 规划期间当日计划已更新，本结果未保存")}
                    else:
                        values = {"progress": 1.0}
                if not ops_repo.update_job_if(s, claim.job_id, claim.attempt, [RUNNING],
                                              status=ended, finished_at=_now(), **values):
                    raise _LostLease
                if ended != SUCCEEDED:
                    return ended
                plan = plan_repo.store_plan(s, day, dict(draft.document))
                ops_repo.update_job(s, claim.job_id, result={
                    "plan_id": plan.plan_id, "version": plan.version, "date": day.isoformat(),
                    "summary": plan.summary})
            log.info("job %s stored plan %s", claim.job_id, plan.plan_id)
            return SUCCEEDED
        except (IntegrityError, OperationalError) as exc:
            # another writer took this version (or held the write lock)
            log.info("job %s: store attempt %d lost a race (%s); retrying", claim.job_id,
                     attempt + 1, type(exc).__name__)
            clock.sleep(0.05 * (attempt + 1))
    raise RuntimeError(f"could not store the plan after {STORE_ATTEMPTS} attempts")


def run_job(job_id: str, db_url: str | None = None, clock: Clock = REAL_CLOCK) -> str:
    """Run one attempt of a job to its end and return the job's status (the worker
    entry point).

    Any error ends the attempt failed with its reason. Exceptions are not raised, so a
    queue does not retry a solve that failed for a reason other than a dead worker;
    a ``BaseException`` that is not an ``Exception`` (time limit, interrupt, exit) is
    raised again once the job records it.
    """
    url = resolve_db_url(db_url)
    claim = _start(url, job_id, clock)
    if claim is None:
        return _status_of(url, job_id)
    on_progress, cancel_seen = _progress_writer(url, claim, clock)
    with _Heartbeat(url, claim):
        try:
            day = parse_date(claim.params["date"])
            with session_scope(url) as s:
                draft = make_plan(s, day, time_limit_s=float(claim.params["time_limit_s"]),
                                  progress=on_progress)
                s.rollback()  # planning only reads
            if cancel_seen():
                return _finish(url, claim, CANCELLED)
            return _store(url, claim, day, draft, clock)
        except _LostLease:
            log.warning("job %s: attempt %d lost the job before storing; nothing stored",
                        job_id, claim.attempt)
            return _status_of(url, job_id)
        except DomainError as exc:
            return _finish(url, claim, FAILED, error=str(exc)[:2000])
        except BaseException as exc:
            log.exception("job %s failed", job_id)
            try:
                status = _finish(url, claim, FAILED,
                                 error=f"{type(exc).__name__}: {exc}"[:2000])
            except Exception:
                log.exception("job %s: could not record its end; the lease will lapse", job_id)
                status = RUNNING
            if not isinstance(exc, Exception):
                raise
            return status
