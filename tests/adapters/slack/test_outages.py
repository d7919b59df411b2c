"""Platform outages, engine-level: the real engine, a real SQLite outbox and the real
``SlackPublisher`` against the fake Slack Web API.

- A long outage (every ``chat.postMessage`` answered 503 for hours): nothing is lost or
  dropped, retries back off, and when Slack comes back every channel's queue drains in
  the order it was queued, each briefing once.
- A 429 whose ``Retry-After`` outlasts the client's own retries: the engine waits exactly
  that long and the channel's later briefings do not overtake the throttled one.
- An ambiguous failure (Slack took the post but the answer was a 500) followed by a
  restart: the new process finds the post by its metadata instead of posting again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.publisher import ChannelPacer, SlackPublisher
from bot.engine import Engine
from bot.fetch import Fetcher
from bot.models import DeliveryState
from bot.settings import Settings, load_settings
from storage import SqliteStore
from storage.database import StoreRunner
from tests.support.clock import FakeClock
from tests.support.slack_checks import make_briefing
from tests.support.slack_fake import Failure, FakeSlack

NOW = datetime.now(UTC).replace(microsecond=0)
CHANNELS = ["slack:C1", "slack:C2"]


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = await FakeSlack().start()
    try:
        yield server
    finally:
        await server.stop()


def slack_publisher(fake: FakeSlack, **client: object) -> SlackPublisher:
    web = AsyncWebClient(token="xoxb-test", base_url=fake.api_url, **client)  # type: ignore[arg-type]
    return SlackPublisher(web, pacer=ChannelPacer(0))


def make_engine(
    settings: Settings, store: SqliteStore, publisher: SlackPublisher, clock: FakeClock
):
    return Engine(
        settings,
        store,
        fetcher=Fetcher(settings),
        publishers={"slack": publisher},
        clock=clock,
        runner=StoreRunner(store),
    )


def queue(store: SqliteStore, count: int) -> list[str]:
    """``count`` briefings queued for every channel, in order; returns their ids."""
    ids = []
    for n in range(count):
        briefing = make_briefing(id=f"b{n:07d}", created_at=NOW, updated_at=NOW)
        store.save_briefing(briefing)
        ids.append(briefing.id)
    for channel in CHANNELS:
        store.ensure_channel(channel, NOW)
        for briefing_id in ids:
            store.enqueue_delivery(
                channel,
                briefing_id,
                kind="post",
                revision=1,
                state=DeliveryState.PENDING,
                now=NOW,
            )
    return ids


def posted(fake: FakeSlack, channel: str) -> list[str]:
    """Briefing ids of the channel's top-level posts, in the order Slack received them."""
    return [
        m["metadata"]["event_payload"]["briefing_id"]
        for m in fake.messages.get(channel.split(":", 1)[1], [])
        if m.get("metadata")
    ]


@pytest.fixture
async def setup(fake: FakeSlack) -> AsyncIterator[tuple[Engine, SqliteStore, FakeClock]]:
    settings = load_settings(database=":memory:", delivery_retry_max=1800)
    store = SqliteStore.open(":memory:")
    clock = FakeClock(NOW)
    engine = make_engine(settings, store, slack_publisher(fake), clock)
    try:
        yield engine, store, clock
    finally:
        await engine.aclose()
        store.close()


async def test_long_outage_queues_then_drains_in_order(
    fake: FakeSlack, setup: tuple[Engine, SqliteStore, FakeClock]
) -> None:
    engine, store, clock = setup
    ids = queue(store, 6)
    fake.down["chat.postMessage"] = 503
    waits = []
    for _ in range(12):  # six hours of outage, checked every half hour
        assert await engine.deliver_once() == 0
        heads = [d for d in store.deliveries() if d.attempts]
        assert len(heads) == len(CHANNELS), "only each channel's head is tried"
        assert all(d.state == DeliveryState.PENDING and d.not_before for d in heads)
        waits.append((heads[0].not_before or NOW) - clock.now())
        clock.advance(minutes=30)
    assert not fake.messages, "nothing is posted while Slack is down"
    # Backoff doubles from 2 s up to the cap (delivery_retry_max), then stays there.
    assert waits[0] == timedelta(seconds=2) and waits[1] == timedelta(seconds=4)
    assert max(waits) == timedelta(seconds=1800) == waits[-1]
    assert all(d.state == DeliveryState.PENDING for d in store.deliveries())

    del fake.down["chat.postMessage"]
    clock.advance(hours=1)
    assert await engine.deliver_all() == len(ids) * len(CHANNELS)
    for channel in CHANNELS:
        assert posted(fake, channel) == ids  # every briefing, once, in queue order
    assert {d.state for d in store.deliveries()} == {DeliveryState.SENT}


async def test_429_retry_after_is_waited_out_and_order_is_kept(fake: FakeSlack) -> None:
    settings = load_settings(database=":memory:")
    store = SqliteStore.open(":memory:")
    clock = FakeClock(NOW)
    # The client gives up on the 429 at once, so the engine must honour the hint.
    publisher = slack_publisher(
        fake, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=0)]
    )
    engine = make_engine(settings, store, publisher, clock)
    try:
        ids = queue(store, 3)
        fake.fail(
            "chat.postMessage", Failure(429, "ratelimited", {"Retry-After": "30"}, apply=False)
        )
        await engine.deliver_once()  # C1's head is throttled, C2's head goes out
        head = store.deliveries("slack:C1")[0]
        assert head.state == DeliveryState.PENDING
        assert head.not_before == NOW + timedelta(seconds=30)
        clock.advance(seconds=29)
        await engine.deliver_all()
        assert posted(fake, "slack:C1") == [], "nothing overtakes the throttled head"
        clock.advance(seconds=1)
        await engine.deliver_all()
        assert posted(fake, "slack:C1") == ids and posted(fake, "slack:C2") == ids
    finally:
        await engine.aclose()
        store.close()


async def test_lost_answer_then_restart_finds_the_post_instead_of_reposting(
    fake: FakeSlack, setup: tuple[Engine, SqliteStore, FakeClock]
) -> None:
    engine, store, clock = setup
    ids = queue(store, 1)
    # Slack carries the post out, but the answer is a 500: did it land? The row goes
    # back to pending with one attempt made ...
    fake.fail("chat.postMessage", Failure(500, apply=True), Failure(500, apply=True))
    await engine.deliver_once()
    assert all(d.state == DeliveryState.PENDING and d.attempts == 1 for d in store.deliveries())
    # ... and the process restarts: a new engine and publisher, no memory of the attempt.
    settings = load_settings(database=":memory:")
    restarted = make_engine(settings, store, slack_publisher(fake), clock)
    try:
        clock.advance(minutes=5)
        await restarted.deliver_all()
    finally:
        await restarted.aclose()
    for channel in CHANNELS:
        assert posted(fake, channel) == ids
    assert {d.state for d in store.deliveries()} == {DeliveryState.SENT}
    assert len(fake.calls_to("chat.postMessage")) == len(CHANNELS)


async def test_history_unreadable_during_recovery_retries_rather_than_guess(
    fake: FakeSlack, setup: tuple[Engine, SqliteStore, FakeClock]
) -> None:
    engine, store, clock = setup
    queue(store, 1)
    fake.fail("chat.postMessage", Failure(500, apply=True), Failure(500, apply=True))
    await engine.deliver_once()
    fake.down["conversations.history"] = 503
    clock.advance(minutes=5)
    assert await engine.deliver_once() == 0  # cannot tell whether it landed: wait
    assert len(fake.calls_to("chat.postMessage")) == len(CHANNELS)
    del fake.down["conversations.history"]
    clock.advance(hours=1)
    await engine.deliver_all()
    assert len(fake.calls_to("chat.postMessage")) == len(CHANNELS)
    assert {d.state for d in store.deliveries()} == {DeliveryState.SENT}
