"""Builders and helpers shared by the tests: one place, imported by every test module
that needs them (test modules never import each other)."""

from __future__ import annotations


class FakeClock:
    """Monotonic seconds that move only when a test (or a fake sleep) moves them."""

    def __init__(self, start_s: float = 1000.0) -> None:
        self.now_s = start_s
        self.slept_s: list[float] = []

    def __call__(self) -> float:
        return self.now_s

    def sleep(self, seconds: float) -> None:
        self.slept_s.append(seconds)
        self.now_s += seconds
