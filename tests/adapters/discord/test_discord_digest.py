"""Discord digests that never drop or block: the real digest scheduler (``Digests``)
and the real ``DiscordPublisher`` against the fake Discord REST server, which refuses
a message over Discord's embed limits with 400 "Invalid Form Body" as Discord does.

Covers issue 17, point 3: a 900-character source URL (a field past 1,024 characters
was refused and the briefings held, to fail again the next day); a digest of 30
briefings (fields dropped from the end while all were marked sent); one refused
briefing skipped with a log line instead of holding the rest."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from adapters.discord.app import build_client
from adapters.discord.publisher import DiscordPublisher
from bot.engine import Engine
from bot.fetch import Fetcher
from bot.models import (
    Briefing,
    Bullet,
    Channel,
    DeliveryMode,
    DeliveryState,
    FeedEntry,
    Source,
    StoryDoc,
)
from bot.settings import load_settings
from storage import SqliteStore
from storage.database import StoreRunner
from tests.support.clock import FakeClock
from tests.support.fake_discord_api import (
    CHANNEL_ID,
    TOKEN,
    Failure,
    FakeDiscord,
    fake_discord,  # noqa: F401  (fixture)
)

CHANNEL = f"discord:{CHANNEL_ID}"
START = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)
DIGEST_TIME = datetime(2026, 3, 5, 8, 0, tzinfo=UTC)

# A newsletter link as wire syndication sends it: the article path, then campaign
# and click-tracking parameters until it is about 900 characters long.
TRACKING = "&".join(f"utm_{k}=harbour-weekly-{k}-2026-03-{'x7Kq9' * 6}" for k in range(14))
LONG_URL = f"https://news.kestrel.example/2026/03/04/port-strike-talks-stall?{TRACKING}"[:900]

LEAD = (
    "Harbour pilots at Kestrel Bay said on Tuesday that the backlog of container ships "
    "waiting to berth had grown to 41 vessels, the longest queue since the port opened "
    "its third terminal, as talks between the union and the port authority stalled."
)


@dataclass
class World:
    engine: Engine
    store: SqliteStore
    clock: FakeClock
    discord: FakeDiscord
    feed_id: int

    def hold(self, headline: str, *, url: str, sources: int = 1, hour: int = 0) -> Briefing:
        created = START - timedelta(hours=hour)
        [entry] = self.store.add_entries(
            self.feed_id, [FeedEntry(guid=headline, title=headline)], created
        )
        story = self.store.create_story(entry, StoryDoc(title=headline), created)
        briefing = Briefing(
            id=story.briefing_id,
            story_id=story.id,
            headline=headline,
            lead=LEAD,
            bullets=[Bullet(text="Talks resume on Thursday, the port authority said.")],
            sources=[
                Source(publisher=f"Kestrel Courier {n}", title=headline, url=url)
                for n in range(sources)
            ],
            created_at=created,
            updated_at=created,
        )
        self.store.save_briefing(briefing)
        self.store.enqueue_delivery(
            CHANNEL, briefing.id, kind="post", revision=1, state=DeliveryState.HELD, now=created
        )
        return briefing

    def shown(self) -> list[dict[str, str]]:
        """Every digest field Discord accepted, in order."""
        return [
            f
            for message in self.discord.messages.get(CHANNEL_ID, [])
            for embed in message["embeds"]
            for f in embed["fields"]
        ]


@pytest.fixture
async def world(fake_discord: FakeDiscord) -> AsyncIterator[World]:  # noqa: F811
    settings = load_settings(database=":memory:", allow_private_networks=True, fetch_pages=False)
    store = SqliteStore.open(":memory:")
    clock = FakeClock(START)
    client = build_client()
    await client.login(TOKEN)
    engine = Engine(
        settings,
        store,
        fetcher=Fetcher(settings),
        publishers={"discord": DiscordPublisher(client, min_interval=0)},
        clock=clock,
        runner=StoreRunner(store),
    )
    feed, _ = store.add_feed("https://news.kestrel.example/feed", name="Courier", now=START)
    store.ensure_channel(CHANNEL, START)
    store.subscribe(CHANNEL, feed.id, START)
    store.save_channel(
        Channel(
            id=CHANNEL,
            mode=DeliveryMode.DIGEST,
            digest_time="08:00",
            timezone="UTC",
            last_digest_at=START,
            created_at=START,
        )
    )
    try:
        yield World(engine, store, clock, fake_discord, feed.id)
    finally:
        await engine.aclose()
        await client.close()
        store.close()


async def test_a_900_character_source_url_does_not_block_the_digest(world: World) -> None:
    held = [
        world.hold("Kestrel Bay port strike talks stall", url=LONG_URL),
        world.hold("Ferry timetable cut for the winter", url="https://ferries.example/winter"),
    ]
    world.clock.current = DIGEST_TIME
    assert await world.engine.digests.send_due() >= 1
    shown = world.shown()
    assert len(shown) == 2
    assert all(len(f["value"]) <= 1024 for f in shown)
    # The long link is left out, never pasted as text; the short one stays behind its label.
    strike = next(f for f in shown if f["name"].startswith("Kestrel"))
    ferry = next(f for f in shown if f["name"].startswith("Ferry"))
    assert "kestrel.example" not in strike["value"] and "Harbour pilots" in strike["value"]
    assert "[Read the source](https://ferries.example/winter)" in ferry["value"]
    rows = world.store.deliveries(CHANNEL)
    assert {r.briefing_id for r in rows} == {b.id for b in held}
    assert {r.state for r in rows} == {DeliveryState.SENT}


async def test_a_digest_of_30_shows_every_briefing_within_limits(world: World) -> None:
    held = [
        world.hold(
            f"Kestrel Bay council session item {n}: harbour dues and the berth rota",
            url=f"https://news.kestrel.example/council/{n}",
            sources=1 + n % 4,
            hour=n,
        )
        for n in range(30)
    ]
    world.clock.current = DIGEST_TIME
    await world.engine.digests.send_due()
    messages = world.discord.messages[CHANNEL_ID]
    assert len(messages) >= 2
    for message in messages:
        [embed] = message["embeds"]
        # Each message's title counts what it shows, not the whole digest.
        count = int(embed["title"].split(": ")[1].split()[0])
        assert count == len(embed["fields"]) <= 25
    names = [f["name"] for f in world.shown()]
    assert sorted(names) == sorted(b.headline for b in held)  # every one, once
    rows = world.store.deliveries(CHANNEL)
    assert len(rows) == 30 and {r.state for r in rows} == {DeliveryState.SENT}


async def test_one_briefing_discord_refuses_is_skipped_not_holding_the_rest(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    for n in range(3):
        world.hold(f"Dock workers vote on the offer, ballot {n}", url="https://k.example/v")
    # Discord refuses the digest message, then (sent one by one) the first briefing,
    # both as it is and bare: that one is skipped, the other two are shown.
    messages = rf"/channels/{CHANNEL_ID}/messages"
    world.discord.fail("POST", messages, Failure(400, message="Invalid Form Body"), times=3)
    world.clock.current = DIGEST_TIME
    with caplog.at_level(logging.WARNING, logger="signaldesk.discord"):
        await world.engine.digests.send_due()
    assert len(world.shown()) == 2
    assert "skipped" in caplog.text
    rows = world.store.deliveries(CHANNEL)
    assert {r.state for r in rows} == {DeliveryState.SENT}  # none held to fail tomorrow
