"""Weekday schedules: a point's collection days as a bit mask (bit 0 = Monday)."""

from __future__ import annotations

import numpy as np

DAYS_PER_WEEK = 7


def visit_gaps(days_mask: int) -> np.ndarray:
    """Days of waste a visit collects, per weekday (index 0 = Monday): the days since the
    previous scheduled weekday, wrapping round the week; 0 where there is no visit."""
    weekdays = [w for w in range(DAYS_PER_WEEK) if days_mask & (1 << w)]
    gaps = np.zeros(DAYS_PER_WEEK)
    for i, w in enumerate(weekdays):
        prev = weekdays[i - 1] if i else weekdays[-1] - DAYS_PER_WEEK
        gaps[w] = w - prev
    return gaps


def days_to_next(days_mask: int, weekday: int) -> int:
    """Days from ``weekday`` (0 = Monday) to the next scheduled weekday after it (1..7)."""
    for n in range(1, DAYS_PER_WEEK + 1):
        if days_mask & (1 << ((weekday + n) % DAYS_PER_WEEK)):
            return n
    return DAYS_PER_WEEK
