"""Planning jobs: concurrent jobs of one date, cancellation, and a worker process
killed mid-solve on a real Redis queue (the job is retried or failed, never lost,
and the previous plan stays current meanwhile)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from logistics.ops import jobs, queues
from logistics.persistence.db import session_scope
from logistics.persistence.models import Job
from logistics.planning.plan import plan_day
from tests.factories import (
    FakeClock,
    job_row,
    plans_of_day,
    wait_until,
)

FRIDAY = dt.date(2026, 11, 27)
REDIS_URL = "redis://127.0.0.1:6379/14"  # a db of its own; tests also use a namespace


def _plans(url: str) -> list[tuple[int, str]]:
    return plans_of_day(url, FRIDAY)


_job = job_row


def _new_job(url: str, time_limit_s: float) -> str:
    with session_scope(url) as s:
        return jobs.create_plan_job(s, FRIDAY, time_limit_s, created_by="test").job_id


def test_concurrent_jobs_of_one_date_store_one_plan_the_rest_superseded(planning_county: str) -> None:
    ids = [_new_job(planning_county, 1.0) for _ in range(3)]  # all requested against "no plan"
    results: dict[str, str] = {}
    threads = [threading.Thread(target=lambda j=j: results.__setitem__(j, jobs.run_job(j, planning_county)))
               for j in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(results.values()) == [jobs.SUCCEEDED, jobs.SUPERSEDED, jobs.SUPERSEDED]
    assert _plans(planning_county) == [(1, "current")]
    winner = next(j for j in ids if results[j] == jobs.SUCCEEDED)
    for j in ids:
        job = _job(planning_county, j)
        if j != winner:
            assert job.result is None
            assert job.error and f"{FRIDAY}-1" in job.error and "not stored" in job.error


def test_a_cancelled_queued_job_never_runs(planning_county: str) -> None:
    job_id = _new_job(planning_county, 1.0)
    with session_scope(planning_county) as s:
        assert jobs.request_cancel(s, job_id).status == jobs.CANCELLED
    assert jobs.run_job(job_id, planning_county) == jobs.CANCELLED
    assert _plans(planning_county) == []


def test_a_job_cancelled_while_running_stores_nothing(planning_county: str) -> None:
    job_id = _new_job(planning_county, 2.0)
    out: list[str] = []
    t = threading.Thread(target=lambda: out.append(jobs.run_job(job_id, planning_county)))
    t.start()
    wait_until(lambda: _job(planning_county, job_id).status == jobs.RUNNING, 30, "the job to start")
    with session_scope(planning_county) as s:
        assert jobs.request_cancel(s, job_id).status == jobs.RUNNING
    t.join(60)
    assert out == [jobs.CANCELLED]
    assert _plans(planning_county) == []


def test_a_job_missing_from_the_database_is_dropped_after_the_start(planning_county: str) -> None:
    clock = FakeClock()
    start_s = clock.now_s
    fake = jobs.Clock(monotonic_s=clock, sleep=clock.sleep)
    assert jobs.run_job("no-such-job", planning_county, fake) == jobs.FAILED
    assert clock.now_s - start_s > jobs.START_WAIT_S  # waited on the fake clock only
    assert set(clock.slept_s) == {jobs.START_POLL_S}


def test_a_redelivered_job_out_of_attempts_fails_and_keeps_the_plan(
    planning_county: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope(planning_county) as s:
        plan_day(s, FRIDAY, time_limit_s=1.0)
    job_id = _new_job(planning_county, 1.0)
    with session_scope(planning_county) as s:  # as if a worker had started it and died
        job = s.get(Job, job_id)
        assert job is not None
        job.status, job.attempts = jobs.RUNNING, 2
    monkeypatch.setenv("WASTEROUTE_JOB_ATTEMPTS", "2")
    assert jobs.run_job(job_id, planning_county) == jobs.FAILED
    job = _job(planning_county, job_id)
    assert job.error and "worker stopped" in job.error
    assert _plans(planning_county) == [(1, "current")]


# ---------------------------------------------------------------- a real worker, killed


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "logistics.cli", "worker"], env=env,
        stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )


def _mid_solve(url: str, job_id: str) -> bool:
    """The solver has reported a solution (an objective) and has not finished."""
    job = _job(url, job_id)
    return job.status == jobs.RUNNING and job.objective is not None and job.progress < 1.0


@pytest.mark.skipif(not _redis_up(), reason="no Redis on 127.0.0.1:6379")
@pytest.mark.parametrize(("attempts", "final"), [(2, jobs.SUCCEEDED), (1, jobs.FAILED)])
def test_a_worker_killed_mid_solve_leaves_the_job_retried_or_failed(
    planning_county: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, attempts: int, final: str
) -> None:
    with session_scope(planning_county) as s:
        plan_day(s, FRIDAY, time_limit_s=1.0)
    env = {**os.environ, "WASTEROUTE_DB": planning_county, "WASTEROUTE_REDIS": REDIS_URL,
           "WASTEROUTE_QUEUE_NAMESPACE": f"wr-test-{uuid.uuid4().hex[:8]}",
           "WASTEROUTE_WORKER_HEARTBEAT_S": "3", "WASTEROUTE_QUEUE_MAINTENANCE": "1000000",
           "WASTEROUTE_JOB_ATTEMPTS": str(attempts), "WASTEROUTE_JOB_LEASE_S": "4"}
    for k in ("WASTEROUTE_QUEUE_NAMESPACE", "WASTEROUTE_WORKER_HEARTBEAT_S",
              "WASTEROUTE_QUEUE_MAINTENANCE", "WASTEROUTE_JOB_ATTEMPTS",
              "WASTEROUTE_JOB_LEASE_S"):
        monkeypatch.setenv(k, env[k])
    queue = queues.RedisQueue(REDIS_URL)
    job_id = _new_job(planning_county, 6.0)
    log = tmp_path / "worker.log"
    first = _worker(env, log)
    second = None
    try:
        queue.enqueue(job_id, planning_county)
        wait_until(lambda: _mid_solve(planning_county, job_id), 60, "the first worker to be mid-solve")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        job = _job(planning_county, job_id)
        assert (job.status, job.attempts) == (jobs.RUNNING, 1)
        assert _plans(planning_county) == [(1, "current")]  # the previous plan stays
        second = _worker(env, log)
        wait_until(lambda: _job(planning_county, job_id).status in jobs.FINISHED, 120,
              "the job to be re-delivered and finish")
    finally:
        for p in (first, second):
            if p is not None and p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
        # only this test's queue: other runs may share the Redis database
        ns = env["WASTEROUTE_QUEUE_NAMESPACE"]
        client = queue.broker.client
        for key in client.scan_iter(match=f"{ns}*"):
            client.delete(key)
    job = _job(planning_county, job_id)
    assert job.status == final, (job.error, log.read_text(errors="replace")[-2000:])
    if final == jobs.SUCCEEDED:
        assert job.attempts == 2
        assert _plans(planning_county) == [(1, "superseded"), (2, "current")]
    else:
        assert job.error and "worker stopped" in job.error
        assert _plans(planning_county) == [(1, "current")]
