"""Solution.check finds broken plans; summary() adds up."""

from __future__ import annotations

import dataclasses

import numpy as np

from optimizer import Client, Facility, Problem, Reason, Route, Solution, Unassigned, Vehicle, Visit


def problem() -> Problem:
    d = np.array([[0, 100, 200], [100, 0, 100], [200, 100, 0]], dtype=np.int64)
    return Problem(d, d, (Client(1, {"a": 5}, service_s=10, tw_start_s=0, tw_end_s=500),),
                   (Vehicle(0, 0, {"a": 10}, shift_end_s=1000),),
                   (Facility(2, {"a"}, unload_s=20, close_s=900),))


def good() -> Solution:
    visits = (
        Visit("start", None, 0, 0, 0, 0, {}, {"a": 0}),
        Visit("client", 0, 1, 100, 100, 110, {"a": 5}, {"a": 5}),
        Visit("facility", 0, 2, 210, 210, 230, {}, {"a": 0}),
        Visit("end", None, 0, 430, 430, 430, {}, {"a": 0}),
    )
    return Solution((Route(0, visits, 400, 430),), ())


def test_good_plan_passes() -> None:
    assert good().check(problem()) == []


def test_check_catches_late_service_and_early_arrival() -> None:
    s = good()
    r = s.routes[0]
    late = dataclasses.replace(r.visits[1], arrival_s=50, start_s=600, departure_s=610)
    bad = Solution((dataclasses.replace(r, visits=(r.visits[0], late, *r.visits[2:])),), ())
    errs = bad.check(problem())
    assert any("outside [0, 500]" in e for e in errs)
    assert any("earlier than possible" in e for e in errs)


def test_check_catches_missing_unload_and_missing_client() -> None:
    s = good()
    r = s.routes[0]
    end = Visit("end", None, 0, 210, 210, 210, {}, {})
    bad = Solution((Route(0, (r.visits[0], r.visits[1], end), 200, 210),), ())
    assert any("returns loaded" in e for e in bad.check(problem()))
    empty = Solution((), ())
    assert any("neither served nor unassigned" in e for e in empty.check(problem()))


def test_unassigned_amounts_must_add_up() -> None:
    half = Solution((), (Unassigned(0, {"a": 4}, Reason.CAPACITY),))
    assert any("!= demand 5" in e for e in half.check(problem()))
    whole = Solution((), (Unassigned(0, {"a": 5}, Reason.CAPACITY),))
    assert whole.check(problem()) == []
    assert whole.summary()["unassigned_reasons"] == {"capacity": 1}


def test_summary_figures() -> None:
    summ = good().summary()
    assert summ["vehicles_used"] == 1
    assert summ["distance_m"] == 400
    assert summ["routes"][0]["unloads"] == 1  # type: ignore[index]
