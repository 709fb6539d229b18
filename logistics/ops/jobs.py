"""Background jobs (planning solves) and the queue that runs them.

A job is a row in ``jobs`` (status, progress, attempts, result); the queue only
carries its id. Two queues behind one interface (:class:`JobQueue`):

- :class:`RedisQueue` (``WASTEROUTE_REDIS`` set): Dramatiq on Redis; ``wasteroute
  worker`` processes run the jobs. A message is acknowledged only after the job
  returns, so a worker killed mid-solve leaves it to be re-delivered once the
  worker's heartbeat lapses; the job then starts again, or is marked failed when it
  has used its attempts (``WASTEROUTE_JOB_ATTEMPTS``, default 2).
- :class:`EmbeddedQueue` (no Redis): a process pool inside the API process, so a solve
  never blocks the event loop (nor holds its GIL).

Cancellation is cooperative: a queued job never starts; a running one finishes its
solve but its plan is not stored. A plan is stored, and the job marked succeeded, in
one transaction; versions per date come from the unique (date, version) constraint
with a retry, so concurrent jobs of one date never share a version.

Waits (for the enqueuing transaction to show, between store retries) and the progress
throttle read an injected :class:`Clock`, so tests run them on a fake one.
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from logistics.domain import BadInput, DomainError, NotFound
from logistics.persistence import ops_repo, plan_repo
from logistics.persistence.db import IntegrityError, OperationalError, Session, session_scope
from logistics.persistence.models import Job
from logistics.planning.plan import make_plan, parse_date
from logistics.settings import db_url as resolve_db_url
from logistics.settings import redis_url

log = logging.getLogger(__name__)

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = (
    "queued", "running", "succeeded", "failed", "cancelled",
)
FINISHED = frozenset({SUCCEEDED, FAILED, CANCELLED})
PLAN_KIND = "plan"
MAX_TIME_LIMIT_S = 3600.0
ACTOR_NAME = "wasteroute_run_job"
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


# ---------------------------------------------------------------- job rows


def create_plan_job(
    session: Session, date: dt.date, time_limit_s: float, created_by: str | None = None
) -> Job:
    """A queued planning job for ``date`` (flushed; the caller commits, then enqueues)."""
    if not (0 < time_limit_s <= MAX_TIME_LIMIT_S):
        raise BadInput(f"time_limit_s must be in (0, {MAX_TIME_LIMIT_S:g}] (got {time_limit_s})")
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
    )
    return ops_repo.add(session, job)


def get_job(session: Session, job_id: str) -> Job:
    job = ops_repo.find_job(session, job_id)
    if job is None:
        raise NotFound(f"no such job {job_id!r} / 任务不存在")
    return job


def list_jobs(
    session: Session, status: str | None = None, limit: int = 100, offset: int = 0
) -> tuple[list[Job], int]:
    return ops_repo.list_jobs(session, status, limit, offset)


def request_cancel(session: Session, job_id: str) -> Job:
    """Cancel a job: a queued one at once; a running one when its solve returns."""
    job = get_job(session, job_id)
    if job.status in FINISHED:
        return job
    job.cancel_requested = True
    if job.status == QUEUED:
        job.status = CANCELLED
        job.finished_at = _now()
    session.flush()
    return job


def fail_unfinished(session: Session, reason: str) -> int:
    """Mark every queued or running job failed (embedded queue after a restart)."""
    return ops_repo.update_jobs_in(
        session, [QUEUED, RUNNING], status=FAILED, error=reason, finished_at=_now()
    )


# ---------------------------------------------------------------- running a job


def _start(url: str, job_id: str, clock: Clock) -> dict[str, Any] | None:
    """Claim the job for this run; None when it must not run (finished, cancelled,
    out of attempts)."""
    deadline = clock.monotonic_s() + START_WAIT_S
    while True:
        with session_scope(url) as s:
            job = ops_repo.find_job(s, job_id, for_update=True)
            if job is not None:
                if job.status in FINISHED:
                    log.info("job %s already %s; not run again", job_id, job.status)
                    return None
                if job.cancel_requested:
                    job.status, job.finished_at = CANCELLED, _now()
                    return None
                if job.status == RUNNING and job.attempts >= max_attempts():
                    job.status = FAILED
                    job.finished_at = _now()
                    job.error = (
                        f"the worker stopped during the solve; gave up after {job.attempts} "
                        "attempt(s); the previous plan stays current / 求解中断，原计划不变"
                    )
                    log.warning("job %s: %s", job_id, job.error)
                    return None
                if job.status == RUNNING:
                    log.warning("job %s re-delivered after a worker stopped; starting again",
                                job_id)
                job.status = RUNNING
                job.attempts += 1
                job.started_at = _now()
                job.progress = 0.0
                return dict(job.params)
        if clock.monotonic_s() > deadline:
            log.error("job %s not found in the database; dropped", job_id)
            return None
        clock.sleep(START_POLL_S)  # the enqueuing transaction may not be visible yet


def _progress_writer(
    url: str, job_id: str, clock: Clock
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
                ops_repo.update_job(
                    s, job_id, progress=round(min(1.0, max(0.0, fraction)), 4),
                    objective=objective,
                )
                cancelled[0] = ops_repo.job_cancel_requested(s, job_id)
        except Exception:  # progress is best effort; never stop the solve for it
            log.debug("progress update of job %s failed", job_id, exc_info=True)

    return on_progress, lambda: cancelled[0]


def _finish(url: str, job_id: str, **values: Any) -> None:
    with session_scope(url) as s:
        ops_repo.update_job(s, job_id, finished_at=_now(), **values)


def run_job(job_id: str, db_url: str | None = None, clock: Clock = REAL_CLOCK) -> str:
    """Run one job to its end and return its final status (the worker entry point).

    Unexpected errors mark the job failed and are logged; they are not raised, so a
    queue does not retry a solve that failed for a reason other than a dead worker.
    """
    url = resolve_db_url(db_url)
    params = _start(url, job_id, clock)
    if params is None:
        with session_scope(url) as s:
            job = ops_repo.find_job(s, job_id)
            return job.status if job is not None else FAILED
    on_progress, cancel_seen = _progress_writer(url, job_id, clock)
    try:
        day = parse_date(params["date"])
        with session_scope(url) as s:
            draft = make_plan(s, day, time_limit_s=float(params["time_limit_s"]),
                              progress=on_progress)
            s.rollback()  # planning only reads
        with session_scope(url) as s:
            if cancel_seen() or ops_repo.job_cancel_requested(s, job_id):
                _finish(url, job_id, status=CANCELLED)
                return CANCELLED
        for attempt in range(STORE_ATTEMPTS):
            try:
                with session_scope(url) as s:
                    doc = dict(draft.document)
                    plan = plan_repo.store_plan(s, day, doc)
                    ops_repo.update_job(
                        s, job_id, status=SUCCEEDED, progress=1.0, finished_at=_now(),
                        result={"plan_id": plan.plan_id, "version": plan.version,
                                "date": day.isoformat(), "summary": plan.summary},
                    )
                log.info("job %s stored plan %s", job_id, plan.plan_id)
                return SUCCEEDED
            except (IntegrityError, OperationalError) as exc:
                # another job of the same date took this version (or held the write lock)
                log.info("job %s: store attempt %d lost a race (%s); retrying", job_id,
                         attempt + 1, type(exc).__name__)
                clock.sleep(0.05 * (attempt + 1))
        raise RuntimeError(f"could not store the plan after {STORE_ATTEMPTS} attempts")
    except DomainError as exc:
        _finish(url, job_id, status=FAILED, error=str(exc)[:2000])
        return FAILED
    except Exception as exc:
        log.exception("job %s failed", job_id)
        _finish(url, job_id, status=FAILED,
                error=f"{type(exc).__name__}: {exc}"[:2000])
        return FAILED


# ---------------------------------------------------------------- queues


class JobQueue(Protocol):
    name: str

    def enqueue(self, job_id: str, db_url: str) -> None: ...


class EmbeddedQueue:
    """Runs jobs in a pool of worker processes of this process (no Redis needed)."""

    name = "embedded"

    def __init__(self, workers: int = 1) -> None:
        self._pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn")
        )
        self.futures: dict[str, Future[str]] = {}

    def enqueue(self, job_id: str, db_url: str) -> None:
        self.futures[job_id] = self._pool.submit(run_job, job_id, db_url)

    def wait(self, job_id: str, timeout: float | None = None) -> str:
        return self.futures[job_id].result(timeout)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _broker(url: str) -> Any:
    from dramatiq.brokers.redis import RedisBroker

    return RedisBroker(
        url=url,
        namespace=os.environ.get("WASTEROUTE_QUEUE_NAMESPACE", "wasteroute"),
        heartbeat_timeout=int(float(os.environ.get("WASTEROUTE_WORKER_HEARTBEAT_S", "60")) * 1000),
        maintenance_chance=int(os.environ.get("WASTEROUTE_QUEUE_MAINTENANCE", "100000")),
    )


def _run_job_message(job_id: str, db_url: str) -> None:
    run_job(job_id, db_url)


class RedisQueue:
    """Dramatiq on Redis; run ``wasteroute worker`` to execute the jobs."""

    name = "redis"

    def __init__(self, url: str) -> None:
        import dramatiq

        self.url = url
        self.broker = _broker(url)
        self.actor = dramatiq.actor(
            actor_name=ACTOR_NAME,
            broker=self.broker,
            max_retries=0,
            time_limit=int((MAX_TIME_LIMIT_S + 600) * 1000),
        )(_run_job_message)

    def enqueue(self, job_id: str, db_url: str) -> None:
        self.actor.send(job_id, db_url)

    def worker(self, threads: int = 1) -> Any:
        import dramatiq

        return dramatiq.Worker(self.broker, worker_threads=threads, worker_timeout=1000)


@lru_cache(maxsize=4)
def _redis_queue(url: str) -> RedisQueue:
    return RedisQueue(url)


_embedded: EmbeddedQueue | None = None


def get_queue() -> JobQueue:
    """The Redis queue when WASTEROUTE_REDIS is set, else the embedded process pool."""
    global _embedded
    url = redis_url()
    if url:
        return _redis_queue(url)
    if _embedded is None:
        _embedded = EmbeddedQueue(int(os.environ.get("WASTEROUTE_EMBEDDED_WORKERS", "1")))
    return _embedded


def run_worker(stop: threading.Event, threads: int = 1) -> None:
    """Run a Dramatiq worker on WASTEROUTE_REDIS until ``stop`` is set."""
    url = redis_url()
    if not url:
        raise BadInput("set WASTEROUTE_REDIS (e.g. redis://127.0.0.1:6379/0) to run a worker")
    worker = _redis_queue(url).worker(threads)
    worker.start()
    log.info("worker started on %s", url)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        worker.stop(timeout=5000)
