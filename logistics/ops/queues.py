"""The queues that run planning jobs (:mod:`logistics.ops.jobs`), one interface
(:class:`JobQueue`):

- :class:`RedisQueue` (``WASTEROUTE_REDIS`` set): Dramatiq on Redis; ``wasteroute
  worker`` processes run the jobs. A message is acknowledged only after the job
  returns, so a worker killed mid-solve leaves it to be re-delivered; every worker
  also runs the reaper (:func:`logistics.ops.jobs.reap`), which queues again, or
  fails, a running job whose lease lapsed.
- :class:`EmbeddedQueue` (no Redis): a process pool inside the API process, so a solve
  never blocks the event loop (nor holds its GIL). A pool whose process died
  (``BrokenProcessPool``) is rebuilt and the jobs it held are run again or failed;
  :meth:`EmbeddedQueue.shutdown` (the server stopping) ends its processes, and a pool
  process whose server died ends itself.

``enqueue`` raises when the queue cannot take the job; the caller marks the job failed.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import lru_cache
from typing import Any, Protocol

from logistics.domain import BadInput
from logistics.ops import jobs
from logistics.persistence.db import session_scope
from logistics.settings import db_url as resolve_db_url
from logistics.settings import redis_url

log = logging.getLogger(__name__)

ACTOR_NAME = "wasteroute_run_job"


class JobQueue(Protocol):
    name: str

    def enqueue(self, job_id: str, db_url: str) -> None: ...


def _exit_with_parent(parent_pid: int) -> None:
    """Pool process start: end this process when the server that made it is gone
    (killed without a chance to stop its pool), so no solve runs on as an orphan."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


class EmbeddedQueue:
    """Runs jobs in a pool of worker processes of this process (no Redis needed)."""

    name = "embedded"

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers
        self._lock = threading.Lock()
        self._closed = False
        self._pool = self._new_pool()
        self._resubmits: dict[str, int] = {}
        self.futures: dict[str, Future[str]] = {}

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_exit_with_parent, initargs=(os.getpid(),),
        )

    def enqueue(self, job_id: str, db_url: str) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the server is stopping / 服务正在停止")
            pool = self._pool
            try:
                future = pool.submit(jobs.run_job, job_id, db_url)
            except BrokenProcessPool:
                log.warning("embedded planning pool was broken; rebuilt")
                pool = self._pool = self._new_pool()
                future = pool.submit(jobs.run_job, job_id, db_url)
            self.futures[job_id] = future
        future.add_done_callback(lambda f: self._done(job_id, db_url, pool, f))

    def _done(self, job_id: str, db_url: str, pool: ProcessPoolExecutor,
              future: Future[str]) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is None:
            return
        if not isinstance(exc, BrokenProcessPool):
            log.error("embedded job %s raised %s", job_id, exc)
            return
        with self._lock:
            if self._closed:
                return
            if self._pool is pool:
                log.warning("a planning process stopped; the embedded pool is rebuilt")
                self._pool = self._new_pool()
            runs = self._resubmits[job_id] = self._resubmits.get(job_id, 0) + 1
        again = jobs.recover(db_url, job_id, "the planning process stopped during the solve")
        if again and runs <= jobs.max_attempts():
            try:
                self.enqueue(job_id, db_url)
                return
            except Exception as err:
                reason = f"could not run the job again: {type(err).__name__}: {err}"
        else:
            reason = "the planning process stopped again before the job started"
        if again:
            with session_scope(db_url) as s:
                jobs.mark_failed(s, job_id, reason)

    def wait(self, job_id: str, timeout: float | None = None) -> str:
        return self.futures[job_id].result(timeout)

    def pids(self) -> list[int]:
        """The pool's live processes (operations; tests kill one)."""
        procs = getattr(self._pool, "_processes", None) or {}
        return [p.pid for p in procs.values() if p.is_alive() and p.pid is not None]

    def shutdown(self) -> list[str]:
        """Stop taking jobs, end the pool's processes (a running solve with them);
        the ids of jobs that had not finished."""
        with self._lock:
            self._closed = True
            pool = self._pool
        unfinished = [j for j, f in self.futures.items() if not f.done()]
        # the executor keeps its processes here; Python 3.11 has no public way to end
        # a running task (3.14 adds terminate_workers)
        procs = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join(5)
        return unfinished


def _broker(url: str) -> Any:
    from dramatiq.brokers.redis import RedisBroker

    return RedisBroker(
        url=url,
        namespace=os.environ.get("WASTEROUTE_QUEUE_NAMESPACE", "wasteroute"),
        heartbeat_timeout=int(float(os.environ.get("WASTEROUTE_WORKER_HEARTBEAT_S", "60")) * 1000),
        maintenance_chance=int(os.environ.get("WASTEROUTE_QUEUE_MAINTENANCE", "100000")),
        socket_connect_timeout=5,
    )


def _run_job_message(job_id: str, db_url: str) -> None:
    jobs.run_job(job_id, db_url)


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
            time_limit=int((jobs.MAX_TIME_LIMIT_S + 600) * 1000),
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


def close_embedded() -> list[str]:
    """Stop the embedded pool, if any (the server stopping); unfinished job ids."""
    global _embedded
    queue, _embedded = _embedded, None
    return queue.shutdown() if queue is not None else []


def reap_every_s() -> float:
    return jobs.lease_s() / 3


def reap_loop(stop: threading.Event, queue: JobQueue, db_url: str) -> None:
    """Run the reaper every third of the lease until ``stop`` is set."""
    while not stop.wait(reap_every_s()):
        try:
            done = jobs.reap(db_url, lambda job_id: queue.enqueue(job_id, db_url))
            if done:
                log.warning("reaped jobs whose worker is gone: %s", done)
        except Exception:
            log.warning("reaping jobs failed; trying again", exc_info=True)


def run_worker(stop: threading.Event, threads: int = 1) -> None:
    """Run a Dramatiq worker on WASTEROUTE_REDIS, and the reaper, until ``stop`` is set."""
    url = redis_url()
    if not url:
        raise BadInput("set WASTEROUTE_REDIS (e.g. redis://127.0.0.1:6379/0) to run a worker")
    queue = _redis_queue(url)
    worker = queue.worker(threads)
    worker.start()
    reaper = threading.Thread(target=reap_loop, args=(stop, queue, resolve_db_url(None)),
                              name="job-reaper", daemon=True)
    reaper.start()
    log.info("worker started on %s", url)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        worker.stop(timeout=5000)
        reaper.join(5)
