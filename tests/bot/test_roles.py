"""The fleet's roles as the core sees them (``bot.roles``): asked off the event loop and
remembered for a moment, every role held when there is no fleet (SQLite), and the
briefing process of a fleet polling less while the others' entries wait for it. (On a
real PostgreSQL server: ``tests/storage/test_fleet_roles.py``.)"""

from __future__ import annotations

import asyncio

import pytest

from adapters.testing import RecordingPublisher
from bot.roles import BRIEF, DELIVER, Leader
from bot.settings import load_settings
from storage import SqliteStore
from tests.support.pipeline import engine_over


class Roles:
    """A fleet in which this process holds ``held``; counts the questions."""

    def __init__(self, held: set[str]) -> None:
        self.held = held
        self.asked = 0

    def holds(self, role: str) -> bool:
        self.asked += 1
        return role in self.held

    def fleet(self) -> int:
        self.asked += 1
        return 3

    def close(self) -> None:
        self.held = set()


async def test_a_role_is_asked_once_a_second_and_every_role_is_held_alone() -> None:
    now = [0.0]
    roles = Roles({BRIEF})
    leader = Leader(roles, monotonic=lambda: now[0])
    assert await leader.holds(BRIEF) and await leader.holds(BRIEF)
    assert not await leader.holds(DELIVER)
    assert roles.asked == 2  # once per role within the second
    roles.held = {DELIVER}  # the database says otherwise now
    now[0] = 1.5
    assert not await leader.holds(BRIEF) and await leader.holds(DELIVER)
    assert roles.asked == 4
    with pytest.raises(ValueError):
        await leader.holds("post")

    alone = Leader()
    assert alone.alone and await alone.holds(BRIEF) and await alone.holds(DELIVER)
    assert await alone.fleet() == 1
    asked = roles.asked
    assert await leader.fleet() == 3 and await leader.fleet() == 3
    assert roles.asked == asked + 1  # the fleet's size is remembered too


async def test_the_briefing_process_polls_a_tenth_as_fast_while_others_entries_wait() -> None:
    settings = load_settings(_env_file=None, database=":memory:", concurrency=50)
    store = SqliteStore.open(":memory:")
    engine = engine_over(settings, store, RecordingPublisher(), roles=Roles({BRIEF, DELIVER}))
    asked: list[int] = []
    stop = asyncio.Event()

    async def claim_due(limit: int) -> list[object]:
        asked.append(limit)
        if len(asked) >= 3:
            stop.set()
        return []

    engine.scheduler.claim_due = claim_due  # type: ignore[method-assign]

    async def run_a_while() -> None:
        await engine.poll_forever(stop, tick=0.001)
        stop.clear()

    try:
        await run_a_while()
        assert set(asked) == {50}
        asked.clear()
        engine.ingest.others_waiting = 7  # the last pass found the others' entries
        await run_a_while()
        assert set(asked) == {5}
    finally:
        await engine.aclose()
        store.close()
