"""Problem keeps its matrices as int32 where every entry fits, and plans alike."""

from __future__ import annotations

import dataclasses

import numpy as np

from optimizer import Problem, SolveParams
from optimizer.generate import generate_county_day
from optimizer.problem import INT32_BELOW
from optimizer.solve import solve


def _with_far_place(p: Problem) -> Problem:
    """``p`` with one more location that nothing uses, "unreachable" (1e8 m) from all."""
    def grown(m: np.ndarray, far: int) -> np.ndarray:
        n = m.shape[0]
        out = np.full((n + 1, n + 1), far, dtype=np.int64)
        out[:n, :n] = m
        out[n, n] = 0
        return out

    return dataclasses.replace(p, distance_m=grown(p.distance_m, 100_000_000),
                               duration_s=grown(p.duration_s, 10 * 24 * 3600))


def test_matrices_are_int32_where_every_entry_fits() -> None:
    p = generate_county_day(40, seed=2)
    assert p.distance_m.dtype == np.int32 and p.duration_s.dtype == np.int32
    far = _with_far_place(p)
    assert far.distance_m.dtype == np.int64  # 1e8 m does not fit below INT32_BELOW
    assert int(far.distance_m.max()) >= INT32_BELOW
    assert far.duration_s.dtype == np.int32  # ten days in seconds still fit


def test_int32_and_int64_matrices_give_the_same_plan() -> None:
    p = generate_county_day(60, seed=4)
    far = _with_far_place(p)
    params = SolveParams(time_limit_s=120.0, solution_limit=10, seed=1, engines="ortools")
    a, b = solve(p, params), solve(far, params)
    assert a.check(p) == [] and b.check(far) == []
    assert a.routes and [(r.vehicle, r.visits) for r in a.routes] == \
        [(r.vehicle, r.visits) for r in b.routes]
    assert a.distance_m == b.distance_m
