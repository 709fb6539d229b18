"""Demand-driven selection and the schedule-versus-demand simulation."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from logistics.demand.simulate import Fill, SimConfig, demand_selection, run_mode, simulate
from tests.factories import HISTORY_END, county_history

CFG = SimConfig(capacity_factor=1.5, margin=0.3, optional_from=0.6, optional_visit_at=0.75)


def test_must_optional_and_penalty() -> None:
    cap = np.array([100.0, 100.0, 100.0, 100.0])
    rate = np.array([30.0, 10.0, 10.0, 0.0])
    fill = np.array([30.0, 60.0, 10.0, 500.0])
    must, optional, penalty = demand_selection(fill, rate, cap, CFG)
    # 30 + 2*30*1.3 = 108 > 100: would overflow before tomorrow's visit
    assert list(must) == [True, False, False, False]
    # 60 + 10 = 70 % full: optional, penalty 8 km x 0.7; 20 %: left alone; no rate: never
    assert list(optional) == [False, True, False, False]
    assert penalty[1] == round(8 * 0.7) and penalty[0] == 0 and penalty[2] == 0


def _fill(gen: np.ndarray, cap: float, daily: bool) -> Fill:
    n_d = gen.shape[1]
    sched = np.ones((1, 7), dtype=bool) if daily else np.array([[True] + [False] * 6])
    return Fill(["P"], pd.date_range("2026-01-05", periods=n_d, freq="D"), gen,
                np.array([cap]), sched, np.array([gen.mean()]))


def test_demand_mode_skips_light_days_and_catches_a_surge() -> None:
    # a daily point sized for 100 kg/day producing 30: the schedule drives every day
    light = _fill(np.full((1, 28), 30.0), cap=150.0, daily=True)
    sched, _, _ = run_mode(light, "schedule", CFG)
    demand, _, _ = run_mode(light, "demand", CFG)
    assert sched["visits"] == 28 and demand["visits"] < 28 / 2
    assert sched["overflow_point_days"] == demand["overflow_point_days"] == 0
    # a weekly point whose waste doubles in week 3: the schedule lets it overflow
    gen = np.full((1, 35), 10.0)
    gen[0, 14:] = 25.0
    surge = _fill(gen, cap=1.5 * 70.0, daily=False)
    sched, _, _ = run_mode(surge, "schedule", CFG)
    demand, _, _ = run_mode(surge, "demand", CFG)
    assert sched["overflow_point_days"] > 0
    assert demand["overflow_point_days"] < sched["overflow_point_days"]


def test_simulation_plans_sampled_days_in_both_modes(session: Session) -> None:
    county_history(session)
    day = HISTORY_END
    out = simulate(session, dt.date(2026, 10, 1), HISTORY_END, km_days=[day], time_limit_s=1)
    assert set(out["modes"]) == {"schedule", "demand"}
    row = out["km_days"][0]
    for mode in ("schedule", "demand"):
        assert row[mode]["served"] >= row[mode]["must"] - 1  # P902 (bulky) has no truck
        assert row[mode]["distance_km"] > 0
    assert out["modes"]["schedule"]["km_on_sampled_days"] == row["schedule"]["distance_km"]
