"""Forecast of kg per point: schedule gaps, festival windows, fallback, backtest, CLI."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from logistics.cli import app
from logistics.demand.due import due_points, expected_kg, expected_kg_detail
from logistics.demand.forecast import (
    HOLIDAY_SHRINK_VISITS,
    History,
    backtest,
    festival_window,
    forecast_day,
    gaps,
    holiday_factors,
    is_public_holiday,
)
from logistics.imports import import_paths
from logistics.persistence.models import Point
from tests.factories import (
    HISTORY_END,
    PLANNING_COUNTY,
    county_history,
    county_records,
)
from tests.plan_checker import assert_plan_ok, check_plan


def test_gaps_follow_the_schedule() -> None:
    mask_135 = 0b0010101  # Mon, Wed, Fri
    assert list(gaps(mask_135)) == [3, 0, 2, 0, 2, 0, 0]
    assert list(gaps(0b1111111)) == [1] * 7


def test_festival_windows_and_holidays() -> None:
    lny = dt.date(2020, 1, 25)
    assert festival_window(lny - dt.timedelta(days=5)) == 0  # before: peak
    assert festival_window(lny + dt.timedelta(days=2)) == 1  # holiday: drop
    assert festival_window(lny + dt.timedelta(days=10)) == 2  # back to work
    assert festival_window(dt.date(2020, 6, 1)) is None
    assert is_public_holiday(dt.date(2020, 10, 1))  # National Day
    assert not is_public_holiday(dt.date(2020, 1, 25))  # Spring Festival is separate
    assert not is_public_holiday(dt.date(2020, 6, 3))


def test_forecast_beats_the_same_weekday_baseline(session: Session) -> None:
    county_history(session)
    result = backtest(session, dt.date(2026, 10, 26), HISTORY_END)
    for cat in ("kitchen", "residual", "recyclable"):
        f = result["by_category"][cat]
        assert f["model_mape_pct"] < f["naive_mape_pct"], (cat, f)
        assert abs(f["model_bias_pct"]) < 5, (cat, f)
    assert result["all"]["model_mape_pct"] < 0.85 * result["all"]["naive_mape_pct"]


def test_planner_uses_forecast_by_default_where_history_exists(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    day = dt.date(2026, 11, 27)  # Friday
    import_paths(session, [PLANNING_COUNTY])
    points = due_points(session, day)
    static = {p.point_id: p.kg_per_visit for p in points}
    kg, info = expected_kg_detail(session, points, day)  # no records at all
    assert kg == static and info["source"] == "static" and info["points_forecast"] == 0
    county_history(session)
    monkeypatch.delenv("WASTEROUTE_FORECAST", raising=False)
    monkeypatch.delenv("WASTEROUTE_FORECAST_MARGIN", raising=False)
    fc, info = expected_kg_detail(session, points, day)
    assert info == {"source": "forecast", "margin": 0.0, "points_forecast": len(points) - 1,
                    "points_static": 1}
    assert fc["P038"] == static["P038"]  # no history: kg_per_visit
    # what the history was drawn from: kg_per_visit x days since the last visit x
    # weekday 0.96 x trend (1.2 at the end, a little more one day later)
    truth = {p.point_id: p.kg_per_visit * gaps(p.days_mask)[4] * 0.96 * 1.2 for p in points}
    ratio = sum(fc[p] for p in fc if p != "P038") / sum(truth[p] for p in truth if p != "P038")
    assert 0.93 < ratio < 1.07, ratio
    monkeypatch.setenv("WASTEROUTE_FORECAST_MARGIN", "0.1")
    with_margin = expected_kg(session, points, day)
    assert with_margin["P001"] == pytest.approx(fc["P001"] * 1.1)
    assert with_margin["P038"] == static["P038"]
    assert expected_kg_detail(session, points, day, margin=0.2)[0]["P001"] == pytest.approx(
        fc["P001"] * 1.2)  # an explicit margin wins over the environment
    monkeypatch.setenv("WASTEROUTE_FORECAST", "off")
    kg, info = expected_kg_detail(session, points, day)
    assert kg == static and info["source"] == "static"


def test_plan_cli_records_the_kg_source_and_passes_the_checker(
    db_url: str, session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    county_history(session)
    session.commit()
    monkeypatch.delenv("WASTEROUTE_FORECAST", raising=False)
    day = dt.date(2026, 11, 27)
    points = due_points(session, day)
    want = expected_kg_detail(session, points, day, margin=0.1)[0]
    session.rollback()
    out = tmp_path / "plan.json"
    res = CliRunner().invoke(app, ["plan", "--date", day.isoformat(), "--time-limit", "2",
                                   "--margin", "0.1", "--out", str(out), "--db", db_url])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    dem = doc["demand"]
    assert (dem["source"], dem["margin"], dem["points_forecast"], dem["points_static"]) == (
        "forecast", 0.1, len(points) - 1, 1)
    assert "forecast" in res.stdout
    # kg due = the forecast computed here, not kg_per_visit
    assert_plan_ok(doc, db_url, expected_kg=want)
    static = {p.point_id: float(p.kg_per_visit) for p in points}
    assert any(v.rule == "due" for v in check_plan(doc, db_url, expected_kg=static))
    # the document's own expected kg must agree with what the checker is given
    doc["demand"]["expected_kg"]["P001"] += 50
    assert any(v.rule == "demand" for v in check_plan(doc, db_url, expected_kg=want))
    monkeypatch.setenv("WASTEROUTE_FORECAST", "off")
    res = CliRunner().invoke(app, ["plan", "--date", day.isoformat(), "--time-limit", "2",
                                   "--out", str(out), "--db", db_url])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["demand"]["source"] == "static"
    assert_plan_ok(doc, db_url, expected_kg=static)


def test_forecast_cli_json_and_backtest(db_url: str, session: Session) -> None:
    county_history(session)
    session.commit()
    runner = CliRunner()
    res = runner.invoke(app, ["forecast", "--date", "2026-11-27", "--json", "--db", db_url])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["format"] == "wasteroute.forecast/1"
    by_id = {r["point_id"]: r for r in doc["points"]}
    assert by_id["P038"]["source"] == "kg_per_visit" and by_id["P001"]["source"] == "model"
    assert "P903" not in by_id  # not due on Fridays
    res = runner.invoke(app, ["forecast", "--backtest", "--from", "2026-11-16", "--to",
                              "2026-11-22", "--db", db_url])
    assert res.exit_code == 0, res.output
    assert "MAPE" in res.stdout and "kitchen" in res.stdout
    res = runner.invoke(app, ["forecast", "--backtest", "--db", db_url])
    assert res.exit_code == 2


# ------------------------------------------------------------------ statutory holidays

HOL_START = dt.date(2026, 3, 9)  # a Monday after the 2026 Spring Festival window
HOL_END = dt.date(2026, 9, 30)  # Qingming, Labour Day, Dragon Boat, Mid-Autumn in between
NATIONAL_DAY = dt.date(2026, 10, 1)  # a Thursday


NOISE = 0.05  # small: 14 kitchen points, one of them 20 times the others


def _holiday_history(session: Session, holiday: dict[str, float], start: dt.date = HOL_START,
                     end: dt.date = HOL_END, seed: int = 3) -> None:
    """Records with weekends +10 %, noise, and ``holiday[category]`` x on statutory
    holidays (no trend: the holiday factor alone is what the forecast has to find)."""
    county_records(session, start, end, seed=seed, noise=NOISE, holiday=holiday)


def _ratio_to_truth(session: Session, fc: pd.DataFrame, day: dt.date, category: str,
                    factor: float) -> float:
    """Forecast / the kg the history was drawn from (weekday 0.96, noise mean e^(σ²/2))."""
    points = {p.point_id: p for p in session.scalars(select(Point).where(
        Point.category == category)) if gaps(p.days_mask)[day.weekday()] > 0}  # due
    truth = sum(p.kg_per_visit * gaps(p.days_mask)[day.weekday()] * 0.96 * factor
                * math.exp(NOISE**2 / 2) for p in points.values())
    assert truth > 0
    return float(fc.loc[list(points), "kg"].sum()) / truth


def test_holiday_factor_from_last_years_holidays_forecasts_the_next_one(session: Session) -> None:
    _holiday_history(session, {"kitchen": 1.3})
    h = History.load(session, HOL_START, NATIONAL_DAY)
    factors = holiday_factors(h, NATIONAL_DAY)
    assert factors["kitchen"].factor == pytest.approx(1.3, abs=0.04), factors
    assert factors["kitchen"].visits > 100
    assert factors["residual"].factor == pytest.approx(1.0, abs=0.04), factors
    fc = forecast_day(h, NATIONAL_DAY)
    assert set(fc["source"]) == {"model"}
    assert 0.96 < _ratio_to_truth(session, fc, NATIONAL_DAY, "kitchen", 1.3) < 1.04
    assert 0.96 < _ratio_to_truth(session, fc, NATIONAL_DAY, "residual", 1.0) < 1.04
    # the day after the holidays is an ordinary day again
    after = dt.date(2026, 10, 8)
    _holiday_history(session, {"kitchen": 1.3}, start=NATIONAL_DAY, end=after - dt.timedelta(1))
    h = History.load(session, HOL_START, after)
    fc = forecast_day(h, after)
    assert 0.96 < _ratio_to_truth(session, fc, after, "kitchen", 1.0) < 1.04


def test_no_holiday_in_the_history_means_factor_one(session: Session) -> None:
    start, day = dt.date(2026, 7, 6), dt.date(2026, 9, 25)  # after 端午; 中秋 on the 25th
    _holiday_history(session, {"kitchen": 1.3}, start=start, end=day - dt.timedelta(days=1))
    h = History.load(session, start, day)
    assert holiday_factors(h, day) == {}
    fc = forecast_day(h, day)
    assert 0.96 < _ratio_to_truth(session, fc, day, "kitchen", 1.0) < 1.04


def _frames(n_points: int, holiday_kg: float) -> History:
    """``n_points`` daily kitchen points of 100 kg a day around Labour Day 2026
    (1-5 May), ``holiday_kg`` on the holidays."""
    pts = pd.DataFrame({"point_id": [f"K{i}" for i in range(n_points)], "category": "kitchen",
                        "kg_per_visit": 100.0, "days_mask": 0b1111111}).set_index("point_id")
    days = pd.date_range("2026-04-20", "2026-05-12")
    rows = [(d, pid, holiday_kg if is_public_holiday(d.date()) else 100.0)
            for d in days for pid in pts.index]
    return History(pd.DataFrame(rows, columns=["date", "point_id", "kg"]), pts)


def test_few_holiday_visits_are_shrunk_toward_one_and_the_factor_is_clamped() -> None:
    day = dt.date(2026, 5, 20)
    one = holiday_factors(_frames(1, 130.0), day)["kitchen"]
    assert (one.raw, one.visits) == (pytest.approx(1.3), 5)
    assert one.factor == pytest.approx(1 + 0.3 * 5 / (5 + HOLIDAY_SHRINK_VISITS))
    assert one.factor < 1.15  # five visits are not enough to believe +30 %
    many = holiday_factors(_frames(40, 130.0), day)["kitchen"]
    assert many.visits == 200 and 1.28 < many.factor < 1.3
    assert holiday_factors(_frames(40, 1000.0), day)["kitchen"].factor == 2.0
    assert holiday_factors(_frames(40, 1.0), day)["kitchen"].factor == 0.5


def test_load_for_loads_what_the_forecast_needs(session: Session) -> None:
    _holiday_history(session, {"kitchen": 1.3, "recyclable": 0.8})
    session.commit()
    for day in (dt.date(2026, 9, 26), NATIONAL_DAY):  # inside a run of holidays, and after
        full = History.load(session, HOL_START - dt.timedelta(days=400), day)
        some = History.load_for(session, day)
        assert len(some.records) < len(full.records)
        want = holiday_factors(full, day)
        assert want["kitchen"].factor > 1.2 and want["recyclable"].factor < 0.85
        got = holiday_factors(some, day)
        assert {c: f.visits for c, f in got.items()} == {c: f.visits for c, f in want.items()}
        assert {c: f.factor for c, f in got.items()} == pytest.approx(
            {c: f.factor for c, f in want.items()})
        pd.testing.assert_frame_equal(forecast_day(some, day), forecast_day(full, day),
                                      rtol=1e-9)


def test_backtest_and_cli_report_statutory_holidays(db_url: str, session: Session) -> None:
    _holiday_history(session, {"kitchen": 1.3})
    _holiday_history(session, {"kitchen": 1.3}, start=NATIONAL_DAY, end=dt.date(2026, 10, 11))
    session.commit()
    result = backtest(session, dt.date(2026, 9, 28), dt.date(2026, 10, 11))
    hol = result["holidays"]
    assert hol["days"] == 7  # 1-7 October
    kitchen = hol["by_category"]["kitchen"]
    assert abs(kitchen["model_bias_pct"]) < 5 < -kitchen["naive_bias_pct"], kitchen
    assert kitchen["model_mape_pct"] < kitchen["naive_mape_pct"]
    assert hol["all"]["visits"] < result["all"]["visits"]
    runner = CliRunner()
    res = runner.invoke(app, ["forecast", "--backtest", "--from", "2026-09-28", "--to",
                              "2026-10-11", "--db", db_url])
    assert res.exit_code == 0, res.output
    assert "statutory holidays" in res.stdout and "(7 days)" in res.stdout
    res = runner.invoke(app, ["forecast", "--date", "2026-10-01", "--json", "--db", db_url])
    assert res.exit_code == 0, res.output
    factors = json.loads(res.stdout)["holiday_factors"]
    assert factors["kitchen"] == pytest.approx(1.3, abs=0.04)
    res = runner.invoke(app, ["forecast", "--date", "2026-10-12", "--json", "--db", db_url])
    assert "holiday_factors" not in json.loads(res.stdout)  # an ordinary day
