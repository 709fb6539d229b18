"""A small time-to-live cache with single flight, for expensive read answers.

Metrics over a year and dashboard pages take seconds to compute. Under many
concurrent readers the first request of a key computes it (in a worker thread); the
others of the same key wait for that one result instead of each computing it again,
and later requests get it from memory until it is ``ttl_s`` old. Each API process has
its own cache. Failures are not cached. The clock is injected (monotonic seconds), so
tests move time forward instead of waiting for it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any


def ttl_from_env(default_s: float = 60.0) -> float:
    """``WASTEROUTE_API_CACHE_S`` (seconds; 0 turns the cache off)."""
    return max(0.0, float(os.environ.get("WASTEROUTE_API_CACHE_S", str(default_s))))


class TtlCache:
    """``await cache.get(key, compute)``: a cached or shared result of ``compute()``."""

    def __init__(
        self,
        ttl_s: float,
        max_entries: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock  # monotonic seconds
        self._done: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._running: dict[Hashable, asyncio.Future[Any]] = {}
        self.computed = 0  # how many times compute() ran (for tests)

    def clear(self) -> None:
        self._done.clear()

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[Any]]) -> Any:
        if self.ttl_s <= 0:
            self.computed += 1
            return await compute()
        hit = self._done.get(key)
        if hit is not None and self.clock() - hit[0] < self.ttl_s:
            return hit[1]
        task = self._running.get(key)
        if task is None:
            # a task of its own: a waiter that goes away does not cancel it for the others
            task = asyncio.ensure_future(compute())
            self._running[key] = task
            self.computed += 1
            task.add_done_callback(lambda t: self._finished(key, t))
        return await asyncio.shield(task)

    def _finished(self, key: Hashable, task: asyncio.Future[Any]) -> None:
        self._running.pop(key, None)
        if task.cancelled() or task.exception() is not None:
            return  # failures are not cached (and the exception counts as retrieved)
        self._done[key] = (self.clock(), task.result())
        self._done.move_to_end(key)
        while len(self._done) > self.max_entries:
            self._done.popitem(last=False)
