"""Jobs never stick, never clash: an unreachable queue, BaseExceptions, the reaper,
conditional final writes, superseded solves, a broken embedded pool, the server
stopping, and a second request for a day joining (or replacing) the pending job."""

from __future__ import annotations

import datetime as dt
import os
import signal
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from dramatiq.middleware.time_limit import TimeLimitExceeded

from logistics.ops import jobs, queues
from logistics.persistence.db import session_scope
from logistics.persistence.models import Job
from logistics.planning import plan as planning
from logistics.planning.plan import plan_day
from tests.factories import FRIDAY as FRIDAY_ISO
from tests.factories import (
    Api,
    job_row,
    make_api,
    plans_of_day,
    wait_until,
)

FRIDAY = dt.date.fromisoformat(FRIDAY_ISO)


def _plans(url: str) -> list[tuple[int, str]]:
    return plans_of_day(url, FRIDAY)


_job = job_row


def _new_job(url: str, time_limit_s: float = 1.0) -> str:
    with session_scope(url) as s:
        return jobs.create_plan_job(s, FRIDAY, time_limit_s, created_by="test").job_id


def _set(url: str, job_id: str, **values: Any) -> None:
    with session_scope(url) as s:
        job = s.get(Job, job_id)
        assert job is not None
        for k, v in values.items():
            setattr(job, k, v)


def _during_solve(monkeypatch: pytest.MonkeyPatch, action: Any) -> None:
    """Run ``action()`` after the solve, before the job stores its plan (as if it
    happened while the solver ran)."""
    real = planning.make_plan

    def solve_then(*args: Any, **kw: Any) -> Any:
        draft = real(*args, **kw)
        action()
        return draft

    monkeypatch.setattr(jobs, "make_plan", solve_then)


# ---------------------------------------------------------------- in one process


def test_a_base_exception_ends_the_attempt_with_its_reason(
    planning_county: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def time_limit(*_: Any, **__: Any) -> Any:
        raise TimeLimitExceeded("job exceeded its time limit")

    monkeypatch.setattr(jobs, "make_plan", time_limit)
    job_id = _new_job(planning_county)
    with pytest.raises(TimeLimitExceeded):  # raised again for the worker to see
        jobs.run_job(job_id, planning_county)
    job = _job(planning_county, job_id)
    assert job.status == jobs.FAILED
    assert job.error and "TimeLimitExceeded" in job.error and "time limit" in job.error
    assert _plans(planning_county) == []


def test_a_plan_changed_during_the_solve_leaves_the_job_superseded(
    planning_county: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope(planning_county) as s:
        plan_day(s, FRIDAY, time_limit_s=1.0)
    job_id = _new_job(planning_county)  # requested against version 1

    def replan() -> None:
        with session_scope(planning_county) as s:
            plan_day(s, FRIDAY, time_limit_s=1.0)

    _during_solve(monkeypatch, replan)
    assert jobs.run_job(job_id, planning_county) == jobs.SUPERSEDED
    job = _job(planning_county, job_id)
    assert job.result is None
    assert job.error and f"{FRIDAY}-2" in job.error and f"{FRIDAY}-1" in job.error
    assert _plans(planning_county) == [(1, "superseded"), (2, "current")]  # the re-plan stays


def test_a_job_failed_meanwhile_is_not_flipped_to_succeeded(
    planning_county: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = _new_job(planning_county)

    def fail_it() -> None:
        with session_scope(planning_county) as s:
            jobs.mark_failed(s, job_id, "failed by an operator")

    _during_solve(monkeypatch, fail_it)
    assert jobs.run_job(job_id, planning_county) == jobs.FAILED
    assert _job(planning_county, job_id).error == "failed by an operator"
    assert _plans(planning_county) == []


def test_an_attempt_that_lost_its_lease_stores_nothing(
    planning_county: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WASTEROUTE_JOB_ATTEMPTS", "3")
    job_id = _new_job(planning_county)
    requeued: list[str] = []

    def taken_back() -> None:  # the reaper gave the job to another attempt
        _set(planning_county, job_id, heartbeat_at=dt.datetime(2000, 1, 1))
        jobs.reap(planning_county, requeued.append)
        _set(planning_county, job_id, status=jobs.RUNNING, attempts=2)

    _during_solve(monkeypatch, taken_back)
    assert jobs.run_job(job_id, planning_county) == jobs.RUNNING
    assert requeued == [job_id]
    job = _job(planning_county, job_id)
    assert (job.status, job.attempts, job.result) == (jobs.RUNNING, 2, None)
    assert _plans(planning_county) == []


def test_the_reaper_requeues_or_fails_running_jobs_whose_worker_is_gone(
    planning_county: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WASTEROUTE_JOB_ATTEMPTS", "2")
    monkeypatch.setenv("WASTEROUTE_JOB_LEASE_S", "60")
    now = dt.datetime(2026, 12, 1, 12, 0)
    old, fresh = now - dt.timedelta(seconds=61), now - dt.timedelta(seconds=5)
    retry, give_up, alive, queued = (_new_job(planning_county) for _ in range(4))
    _set(planning_county, retry, status=jobs.RUNNING, attempts=1, heartbeat_at=old, worker="h:1")
    _set(planning_county, give_up, status=jobs.RUNNING, attempts=2, heartbeat_at=old, worker="h:2")
    _set(planning_county, alive, status=jobs.RUNNING, attempts=1, heartbeat_at=fresh, worker="h:3")
    requeued: list[str] = []
    assert jobs.reap(planning_county, requeued.append, now=now) == {retry: jobs.QUEUED,
                                                            give_up: jobs.FAILED}
    assert requeued == [retry]
    assert _job(planning_county, retry).status == jobs.QUEUED
    failed = _job(planning_county, give_up)
    assert failed.error and "worker stopped" in failed.error and "h:2" in failed.error
    assert _job(planning_county, alive).status == jobs.RUNNING
    assert _job(planning_county, queued).status == jobs.QUEUED
    # a requeue the queue refuses fails the job instead of leaving it queued
    _set(planning_county, alive, heartbeat_at=old)

    def refuse(_: str) -> None:
        raise ConnectionError("queue down")

    assert jobs.reap(planning_county, refuse, now=now) == {alive: jobs.FAILED}
    assert "queue down" in (_job(planning_county, alive).error or "")


def test_a_delivery_while_another_attempt_holds_a_live_lease_is_dropped(planning_county: str) -> None:
    job_id = _new_job(planning_county)
    _set(planning_county, job_id, status=jobs.RUNNING, attempts=1, worker="other:1",
         heartbeat_at=dt.datetime.now(dt.UTC).replace(tzinfo=None))
    assert jobs.run_job(job_id, planning_county) == jobs.RUNNING
    assert _job(planning_county, job_id).attempts == 1
    assert _plans(planning_county) == []


# ---------------------------------------------------------------- the embedded pool


@pytest.fixture
def pool() -> Iterator[queues.EmbeddedQueue]:
    queue = queues.EmbeddedQueue(1)
    yield queue
    queue.shutdown()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone too
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def test_a_broken_embedded_pool_is_rebuilt_and_later_jobs_run(
    planning_county: str, pool: queues.EmbeddedQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WASTEROUTE_JOB_ATTEMPTS", "1")
    killed = _new_job(planning_county, 30.0)
    pool.enqueue(killed, planning_county)
    wait_until(lambda: _job(planning_county, killed).status == jobs.RUNNING, 60, "the job to start")
    [pid] = pool.pids()
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: _job(planning_county, killed).status in jobs.FINISHED, 60, "the job to end")
    job = _job(planning_county, killed)
    assert job.status == jobs.FAILED and job.error and "process stopped" in job.error
    later = _new_job(planning_county, 1.0)
    pool.enqueue(later, planning_county)
    assert pool.wait(later, 120) == jobs.SUCCEEDED
    assert _plans(planning_county) == [(1, "current")]


# ---------------------------------------------------------------- through the API


@pytest.fixture
def api(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    yield from make_api(db_url, monkeypatch)


def test_an_unreachable_queue_fails_the_job_and_answers_503(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for api in make_api(db_url, monkeypatch):
        monkeypatch.setenv("WASTEROUTE_REDIS", "redis://127.0.0.1:9/0")  # nothing listens
        r = api.post("/plans", json={"date": str(FRIDAY), "time_limit_s": 1})
        assert r.status_code == 503, r.text
        assert r.json()["reason"] == "queue_unavailable"
        [job] = api.get("/jobs").json()["data"]
        assert job["status"] == "failed" and "queue" in job["error"]
        assert job["job_id"] in r.json()["detail"]


def test_a_second_request_for_a_day_joins_the_pending_job_or_replaces_it(api: Api) -> None:
    body = {"date": str(FRIDAY), "time_limit_s": 60}
    first = api.post("/plans", json=body)
    assert first.status_code == 202, first.text
    again = api.post("/plans", json=body, role="dispatcher")
    assert again.status_code == 200 and again.json()["job_id"] == first.json()["job_id"]
    assert again.headers["location"] == f"/jobs/{first.json()['job_id']}"
    other_day = api.post("/plans", json={**body, "date": str(FRIDAY + dt.timedelta(days=1))})
    assert other_day.status_code == 202 and other_day.json()["job_id"] != first.json()["job_id"]
    new = api.post("/plans?replace=true", json=body)
    assert new.status_code == 202 and new.json()["job_id"] != first.json()["job_id"]
    old = api.get(f"/jobs/{first.json()['job_id']}").json()
    assert old["cancel_requested"] is True
    pending = api.get("/jobs?status=queued").json()["data"] + \
        api.get("/jobs?status=running").json()["data"]
    friday = [j for j in pending if j["params"]["date"] == str(FRIDAY)
              and not j["cancel_requested"]]
    assert [j["job_id"] for j in friday] == [new.json()["job_id"]]


def _running(url: str, job_id: str) -> Callable[[], bool]:
    return lambda: _job(url, job_id).status == jobs.RUNNING


def test_stopping_the_server_stops_its_embedded_solves(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pids: list[int] = []
    job_id = ""
    for api in make_api(db_url, monkeypatch):
        r = api.post("/plans", json={"date": str(FRIDAY), "time_limit_s": 120})
        job_id = r.json()["job_id"]
        wait_until(_running(db_url, job_id), 60, "the solve to start")
        queue = queues.get_queue()
        assert isinstance(queue, queues.EmbeddedQueue)
        pids = queue.pids()
        assert pids
    # the client closed: the app's shutdown ran
    assert not [p for p in pids if _alive(p)]
    job = _job(db_url, job_id)
    assert job.status == jobs.FAILED and job.error and "server stopped" in job.error
