"""The read cache of the API: one computation per key for concurrent readers, kept
until it expires, failures not kept."""

from __future__ import annotations

import asyncio

import pytest

from api.cache import TtlCache


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


def test_failures_are_not_kept_and_expired_entries_are_computed_again() -> None:
    cache = TtlCache(ttl_s=60)
    calls: list[int] = []

    async def failing() -> int:
        calls.append(1)
        raise ValueError("boom")

    async def main() -> None:
        for _ in range(2):
            with pytest.raises(ValueError):
                await cache.get("k", failing)
        assert len(calls) == 2
        short = TtlCache(ttl_s=0.01)

        async def one() -> int:
            calls.append(1)
            return 1

        await short.get("k", one)
        await asyncio.sleep(0.05)
        await short.get("k", one)
        assert short.computed == 2

    asyncio.run(main())
