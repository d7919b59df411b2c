"""The one channel pacer (``bot.pacing``), on a virtual clock: sends into one channel keep
their order and an interval apart, other channels are not held up, and the same pacer
handed to the Slack and the Discord publisher paces both (real SDKs, fake servers)."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.discord.app import build_client
from adapters.discord.publisher import DiscordPublisher
from adapters.slack.publisher import SlackPublisher
from bot.models import Channel
from bot.pacing import ChannelPacer
from tests.support.fake_discord_api import (
    CHANNEL_ID,
    TOKEN,
    FakeDiscord,
    fake_discord,  # noqa: F401  (fixture)
)
from tests.support.slack_fake import FakeSlack


class VirtualTime:
    """A monotonic clock that only a pacer's sleep moves forward."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def pacer(interval: float, time_: VirtualTime) -> ChannelPacer:
    return ChannelPacer(interval, clock=time_.clock, sleep=time_.sleep)


async def test_one_channel_waits_its_interval_and_keeps_order() -> None:
    time_ = VirtualTime()
    paced = pacer(1.0, time_)
    sent: list[tuple[str, float]] = []

    async def send(label: str) -> str:
        sent.append((label, time_.now))
        return label

    results = await asyncio.gather(
        *(paced.run("slack:C1", functools.partial(send, label)) for label in "abc")
    )
    assert results == ["a", "b", "c"]
    assert [label for label, _ in sent] == ["a", "b", "c"]
    assert [at - sent[0][1] for _, at in sent] == [0.0, 1.0, 2.0]


async def test_other_channels_are_not_held_up() -> None:
    time_ = VirtualTime()
    paced = pacer(5.0, time_)
    for channel in ("slack:C1", "slack:C2", "discord:1"):
        async with paced.turn(channel):
            pass
    assert time_.sleeps == []  # three channels, one send each: nobody waited


async def test_a_failed_send_still_counts() -> None:
    time_ = VirtualTime()
    paced = pacer(2.0, time_)

    async def fail() -> None:
        raise OSError("connection reset")

    with pytest.raises(OSError):
        await paced.run("slack:C1", fail)
    async with paced.turn("slack:C1"):
        pass
    assert time_.sleeps == [2.0]  # the platform may have counted the failed request


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    server = await FakeSlack().start()
    try:
        yield server
    finally:
        await server.stop()


async def test_one_pacer_handed_to_both_publishers_paces_each_channel(
    fake_slack: FakeSlack,
    fake_discord: FakeDiscord,  # noqa: F811
) -> None:
    time_ = VirtualTime()
    shared = pacer(1.0, time_)
    slack = SlackPublisher(
        AsyncWebClient(token="xoxb-test", base_url=fake_slack.api_url), pacer=shared
    )
    client = build_client()
    await client.login(TOKEN)
    try:
        discord = DiscordPublisher(client, pacer=shared)
        started = time.monotonic()
        slack_channel = Channel(id="slack:C1")
        discord_channel = Channel(id=f"discord:{CHANNEL_ID}")
        await asyncio.gather(
            slack.post_text(slack_channel, "Port reopens after strike"),
            discord.post_text(discord_channel, "Port reopens after strike"),
            slack.post_text(slack_channel, "Ferries resume on Tuesday"),
            discord.post_text(discord_channel, "Ferries resume on Tuesday"),
        )
        assert time.monotonic() - started < 0.9  # the waits were virtual
    finally:
        await client.close()
    # One interval waited per channel: each channel's second message, none across.
    assert sorted(time_.sleeps) == [1.0, 1.0]
    assert [m["text"] for m in fake_slack.messages["C1"]] == [
        "Port reopens after strike",
        "Ferries resume on Tuesday",
    ]
    assert [m["content"] for m in fake_discord.messages[CHANNEL_ID]] == [
        "Port reopens after strike",
        "Ferries resume on Tuesday",
    ]
