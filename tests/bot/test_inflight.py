"""Checks in flight: as many as keep the event loop quick (bot.inflight)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from bot.inflight import FLOOR, LAG_HIGH, LAG_LOW, InFlightLimit, steer


async def _holders(
    limit: InFlightLimit, count: int
) -> tuple[list[asyncio.Task[None]], asyncio.Event]:
    release = asyncio.Event()

    async def hold() -> None:
        async with limit:
            await release.wait()

    tasks = [asyncio.create_task(hold()) for _ in range(count)]
    for _ in range(5):
        await asyncio.sleep(0)
    return tasks, release


async def test_no_more_checks_run_than_the_limit_allows() -> None:
    limit = InFlightLimit(ceiling=2)  # SIGNALDESK_CONCURRENCY=2
    tasks, release = await _holders(limit, 5)
    assert limit.in_use == 2
    release.set()
    await asyncio.gather(*tasks)
    assert limit.in_use == 0


async def test_a_backlog_on_a_quick_loop_lets_more_checks_run_at_once() -> None:
    limit = InFlightLimit(ceiling=50, start=20)
    tasks, release = await _holders(limit, 30)
    assert limit.in_use == 20
    assert await limit.adjust(LAG_LOW / 2, backlog=True) == 24
    await asyncio.sleep(0)
    assert limit.in_use == 24  # the waiting ones start at once, not at the next release
    # No backlog: nothing to gain from more requests in flight.
    assert await limit.adjust(0.0, backlog=False) == 24
    # Never beyond SIGNALDESK_CONCURRENCY.
    for _ in range(20):
        await limit.adjust(0.0, backlog=True)
    assert limit.limit == 50
    release.set()
    await asyncio.gather(*tasks)


async def test_a_busy_loop_runs_fewer_checks_at_once_but_never_none() -> None:
    limit = InFlightLimit(ceiling=600, start=100)
    # A backlog does not help when the loop itself is the bottleneck.
    assert await limit.adjust(LAG_HIGH * 2, backlog=True) == 80
    for _ in range(30):
        await limit.adjust(1.0, backlog=True)
    assert limit.limit == FLOOR
    assert InFlightLimit(ceiling=3).limit == 3  # a ceiling below the floor is kept


async def _steered_until(limit: InFlightLimit, moved: Callable[[], bool]) -> None:
    """Steer ``limit`` (a short period) until ``moved()`` or 3 s: the lag is real time,
    and a loaded machine may delay a period or two, never all of them."""
    task = asyncio.create_task(steer(limit, lambda: True, period=0.1))
    try:
        deadline = time.monotonic() + 3.0
        while not moved() and time.monotonic() < deadline:  # noqa: ASYNC110 - no event to wait on
            await asyncio.sleep(0.05)
    finally:
        task.cancel()


async def test_steering_reads_the_loops_lag() -> None:
    # A quick loop with due feeds waiting: the limit grows.
    limit = InFlightLimit(ceiling=600, start=100)
    await _steered_until(limit, lambda: limit.limit > 100)
    assert limit.limit > 100

    # A loop kept busy by blocking callbacks (a long parse on it): the limit falls.
    limit = InFlightLimit(ceiling=600, start=100)
    stop = False

    def block() -> None:
        time.sleep(0.03)
        if not stop:
            asyncio.get_running_loop().call_soon(block)

    asyncio.get_running_loop().call_soon(block)
    try:
        await _steered_until(limit, lambda: limit.limit < 100)
    finally:
        stop = True
    assert limit.limit < 100


def test_a_limit_needs_room_for_one_check() -> None:
    with pytest.raises(ValueError):
        InFlightLimit(ceiling=0)
