"""Discord's process-wide limits (issue 17, point 5): a 300-channel fan-out sent 300
requests in one second against Discord's global limit of 50/s, and nothing counted the
invalid requests (401/403/429) that get the server's address banned at 10,000 in 10
minutes. The real ``DiscordPublisher`` against the fake Discord REST server, timed by a
fake clock: nothing here waits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from adapters.discord.app import SignalDeskClient, build_client
from adapters.discord.limits import GlobalLimit, InvalidRequests
from adapters.discord.publisher import DiscordPublisher
from bot.errors import CannotPost, DeliveryError
from bot.models import Channel
from tests.support.fake_discord_api import (
    CHANNEL_ID,
    TOKEN,
    Failure,
    FakeDiscord,
    fake_discord,  # noqa: F401  (fixture)
)
from tests.support.golden_discord import sample_briefing


class Seconds:
    """A monotonic clock that moves only when a send waits on it."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


@pytest.fixture
async def client(fake_discord: FakeDiscord) -> AsyncIterator[SignalDeskClient]:  # noqa: F811
    bot = build_client()
    await bot.login(TOKEN)
    try:
        yield bot
    finally:
        await bot.close()


def channel(n: int) -> Channel:
    return Channel(id=f"discord:{CHANNEL_ID + n}")


async def test_a_300_channel_fan_out_keeps_to_the_global_limit(
    fake_discord: FakeDiscord,  # noqa: F811
    client: SignalDeskClient,
) -> None:
    clock = Seconds()
    fake_discord.clock = clock
    granted = 0

    class Counted(GlobalLimit):
        async def acquire(self) -> None:
            nonlocal granted
            await super().acquire()
            granted += 1

    async def sleep(seconds: float) -> None:
        # Time moves on only once every request let through so far has reached Discord,
        # so that each is recorded at the second it was sent in.
        await fake_discord.wait_for(lambda r: r.method == "POST", count=granted)
        await clock.sleep(seconds)

    publisher = DiscordPublisher(
        client, min_interval=0, limit=Counted(40, clock=clock, sleep=sleep)
    )
    briefing = sample_briefing()
    start = clock.now
    await asyncio.gather(*(publisher.post_briefing(channel(n), briefing) for n in range(300)))
    posts = [r for r in fake_discord.requests if r.method == "POST"]
    assert len(posts) == 300
    assert len({r.path for r in posts}) == 300  # one message in each channel
    times = sorted(r.at for r in posts)
    busiest = max(sum(1 for t in times if s <= t < s + 1.0) for s in times)
    assert busiest <= 40  # never more than 40 in any second, against Discord's 50
    assert clock.now - start >= 7.0  # 300 at 40/s: the fan-out spreads over 7.5 s


async def test_refused_requests_hold_the_failing_channel_before_discords_ban(
    fake_discord: FakeDiscord,  # noqa: F811
    client: SignalDeskClient,
) -> None:
    clock = Seconds()
    invalid = InvalidRequests(soft=5, hard=6, window=600, clock=clock)
    publisher = DiscordPublisher(client, min_interval=0, invalid=invalid)
    broken, healthy, other = channel(1), channel(2), channel(3)
    broken_path = rf"/channels/{CHANNEL_ID + 1}/messages"
    fake_discord.fail("POST", broken_path, Failure(403), times=100)
    for _ in range(5):
        with pytest.raises(CannotPost):
            await publisher.post_briefing(broken, sample_briefing())
    asked = len(fake_discord.requests)
    # Past the soft budget the broken channel is held without asking Discord again ...
    with pytest.raises(DeliveryError) as err:
        await publisher.post_briefing(broken, sample_briefing())
    assert err.value.retryable and err.value.retry_after == pytest.approx(600, abs=1)
    assert "10,000" in str(err.value)
    assert len(fake_discord.requests) == asked
    # ... while a healthy channel goes on.
    await publisher.post_briefing(healthy, sample_briefing())
    assert len(fake_discord.requests) == asked + 1
    # Past the hard budget every channel waits.
    other_path = rf"/channels/{CHANNEL_ID + 3}/messages"
    fake_discord.fail("POST", other_path, Failure(403))
    with pytest.raises(CannotPost):
        await publisher.post_briefing(other, sample_briefing())
    with pytest.raises(DeliveryError):
        await publisher.post_briefing(healthy, sample_briefing())
    # Ten minutes on, the count has drained: the broken channel is tried again.
    clock.now += 601
    with pytest.raises(CannotPost):
        await publisher.post_briefing(broken, sample_briefing())
    await publisher.post_briefing(healthy, sample_briefing())
