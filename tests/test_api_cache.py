"""The read cache of the API: one computation per key for concurrent readers, kept
until it expires, failures not kept."""

from __future__ import annotations

import asyncio

import pytest

from api.cache import TtlCache
from tests.factories import FakeClock


def test_concurrent_readers_share_one_computation() -> None:
    cache = TtlCache(ttl_s=60)
    runs: list[int] = []

    async def compute() -> int:
        runs.append(1)
        await asyncio.sleep(0.01)
        return 42

    async def main() -> list[int]:
        first = await asyncio.gather(*(cache.get("k", compute) for _ in range(50)))
        return [*first, await cache.get("k", compute)]

    assert asyncio.run(main()) == [42] * 51
    assert len(runs) == 1 and cache.computed == 1


def test_failures_are_not_kept() -> None:
    cache = TtlCache(ttl_s=60)
    calls: list[int] = []

    async def failing() -> int:
        calls.append(1)
        raise ValueError("boom")

    async def main() -> None:
        for _ in range(2):
            with pytest.raises(ValueError):
                await cache.get("k", failing)

    asyncio.run(main())
    assert len(calls) == 2 and cache.computed == 2


def test_entries_are_kept_until_they_expire() -> None:
    clock = FakeClock()
    cache = TtlCache(ttl_s=10, clock=clock)
    calls: list[int] = []

    async def one() -> int:
        calls.append(1)
        return len(calls)

    async def main() -> list[int]:
        got = [await cache.get("k", one)]
        clock.now_s += 9.9  # still fresh
        got.append(await cache.get("k", one))
        clock.now_s += 0.1  # exactly ttl_s old: expired
        got.append(await cache.get("k", one))
        got.append(await cache.get("k", one))
        return got

    assert asyncio.run(main()) == [1, 1, 2, 2]
    assert cache.computed == 2


def test_a_zero_ttl_computes_every_time() -> None:
    cache = TtlCache(ttl_s=0, clock=FakeClock())

    async def one() -> int:
        return 1

    async def main() -> None:
        for _ in range(3):
            assert await cache.get("k", one) == 1

    asyncio.run(main())
    assert cache.computed == 3
