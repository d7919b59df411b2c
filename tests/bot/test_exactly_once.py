"""Exactly once at the edges, engine-level: the real engine, a real SQLite outbox and the
real ``SlackPublisher`` against the fake Slack Web API, with an injected clock.

Each case is one way crash recovery used to post twice or hold a channel up:

- the bot's clock runs 10 minutes ahead of Slack's;
- more than 1,000 messages followed the post before the process came back;
- Slack finished the post after the client had given up waiting;
- the process died after an "Updated" thread reply went out but before it was recorded;
- a 429 with ``Retry-After: 20`` on one channel while another channel has posts to send;
- a channel whose sends hang, in the running service, while another has posts to send.

"A restart" is a new ``SlackPublisher`` (no memory of earlier attempts) on the same
store; only the outbox's own record survives.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.publisher import ChannelPacer, SlackPublisher
from adapters.testing import RecordingPublisher
from bot.engine import Engine
from bot.fetch import Fetcher
from bot.models import (
    Attempt,
    Briefing,
    Channel,
    DeliveryMode,
    DeliveryState,
    PostResult,
    Source,
)
from bot.settings import load_settings
from storage import SqliteStore
from storage.database import StoreRunner
from tests.support.clock import FakeClock
from tests.support.slack_checks import make_briefing
from tests.support.slack_fake import Failure, FakeSlack


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


class Killed(BaseException):
    """SIGKILL, as far as the code under test can tell: nothing after it runs."""


@dataclass
class World:
    engine: Engine
    store: SqliteStore
    clock: FakeClock
    fake: FakeSlack

    @property
    def settle(self) -> float:
        return self.engine.settings.delivery_settle

    def queue(self, briefing: Briefing, channel: str = "slack:C1", kind: str = "post") -> None:
        self.store.ensure_channel(channel, self.clock.now())
        self.store.save_briefing(briefing)
        self.store.enqueue_delivery(
            channel,
            briefing.id,
            kind="update" if kind == "update" else "post",
            revision=briefing.revision,
            state=DeliveryState.PENDING,
            now=self.clock.now(),
        )

    def restart(self, **client: object) -> None:
        """A new process: a publisher that remembers nothing of earlier attempts."""
        self.engine.publishers["slack"] = slack_publisher(self.fake, **client)

    def bot_messages(self, channel: str = "C1") -> list[dict[str, object]]:
        return [m for m in self.fake.messages.get(channel, []) if m.get("bot_id")]


def new_world(fake: FakeSlack, now: datetime, **client: object) -> World:
    settings = load_settings(database=":memory:")
    store = SqliteStore.open(":memory:")
    clock = FakeClock(now)
    engine = Engine(
        settings,
        store,
        fetcher=Fetcher(settings),
        publishers={"slack": slack_publisher(fake, **client)},
        clock=clock,
        runner=StoreRunner(store),
    )
    return World(engine, store, clock, fake)


@pytest.fixture
async def world(fake: FakeSlack) -> AsyncIterator[World]:
    w = new_world(fake, datetime.now(UTC))
    yield w
    await w.engine.aclose()
    w.store.close()


def briefing_at(now: datetime, **update: object) -> Briefing:
    return make_briefing(created_at=now, updated_at=now, **update)


async def lost_answer_then_restart(world: World) -> None:
    """The first post lands but its answer is a 500; then the process restarts and the
    outbox gets round to the row again."""
    world.fake.fail("chat.postMessage", Failure(500, apply=True))
    assert await world.engine.deliver_once() == 0
    [row] = world.store.deliveries()
    assert row.state == DeliveryState.PENDING and row.attempts == 1
    assert len(world.bot_messages()) == 1  # Slack has it
    world.restart()
    world.clock.advance(seconds=world.settle + 1)


# ------------------------------------------------------------ crash recovery


async def test_a_bot_clock_10_minutes_ahead_still_finds_the_post(fake: FakeSlack) -> None:
    world = new_world(fake, datetime.now(UTC) + timedelta(minutes=10))
    try:
        world.queue(briefing_at(world.clock.now()))
        await lost_answer_then_restart(world)
        await world.engine.deliver_all()
        [message] = world.bot_messages()
        [row] = world.store.deliveries()
        assert row.state == DeliveryState.SENT and row.message_ref == message["ts"]
    finally:
        await world.engine.aclose()
        world.store.close()


async def test_1200_later_messages_do_not_hide_the_post(world: World) -> None:
    world.queue(briefing_at(world.clock.now()))
    await lost_answer_then_restart(world)
    for n in range(1200):  # a busy channel talks on while the bot is down
        world.fake.add_message("C1", user="U42", text=f"shift handover note {n}")
    await world.engine.deliver_all()
    assert len(world.bot_messages()) == 1
    [row] = world.store.deliveries()
    assert row.state == DeliveryState.SENT and row.message_ref == world.bot_messages()[0]["ts"]
    pages = world.fake.calls_to("conversations.history")
    assert all(c.params.get("latest") for c in pages), "the lookup is bounded by the attempt"


async def test_a_post_slack_finishes_after_the_client_timed_out_is_not_repeated(
    fake: FakeSlack,
) -> None:
    world = new_world(fake, datetime.now(UTC), timeout=0.3)
    try:
        world.queue(briefing_at(world.clock.now()))
        finished = asyncio.Event()
        fake.fail("chat.postMessage", Failure(until=finished))
        assert await world.engine.deliver_once() == 0  # the client gives up after 0.3 s
        assert world.bot_messages() == []
        # A few seconds on (past the old retry backoff), Slack is still at it.
        world.clock.advance(seconds=5)
        await world.engine.deliver_all()
        finished.set()  # ... and now it has posted the message
        for _ in range(100):
            if world.bot_messages():
                break
            await asyncio.sleep(0.01)
        world.clock.advance(seconds=world.settle)
        await world.engine.deliver_all()
        [message] = world.bot_messages()
        [row] = world.store.deliveries()
        assert row.state == DeliveryState.SENT and row.message_ref == message["ts"]
    finally:
        await world.engine.aclose()
        world.store.close()


async def test_an_updated_thread_reply_is_not_repeated_after_a_kill(world: World) -> None:
    first = briefing_at(world.clock.now())
    world.queue(first)
    assert await world.engine.deliver_all() == 1
    grown = first.model_copy(
        update={
            "revision": 2,
            "sources": [
                *first.sources,
                Source(
                    publisher="Lantern Review", title="Port shut", url="https://lantern.example/p"
                ),
            ],
        }
    )
    world.queue(grown, kind="update")
    real_mark = world.store.mark_delivery

    def mark(delivery_id: int, state: DeliveryState, **kwargs: object) -> None:
        if state == DeliveryState.SENT:
            raise Killed  # the reply is in Slack; the outbox never hears of it
        real_mark(delivery_id, state, **kwargs)  # type: ignore[arg-type]

    world.store.mark_delivery = mark  # type: ignore[method-assign]
    with pytest.raises(Killed):
        await world.engine.deliver_once()
    world.store.mark_delivery = real_mark  # type: ignore[method-assign]
    world.restart()
    world.clock.advance(seconds=world.settle + 1)
    await world.engine.deliver_all()
    replies = [m for m in world.bot_messages() if m.get("thread_ts")]
    assert len(replies) == 1 and "now has 3 sources" in str(replies[0]["text"])
    assert {d.state for d in world.store.deliveries()} == {DeliveryState.SENT}


# ------------------------------------------------------- per-channel queues


async def test_a_429_on_one_channel_does_not_delay_another(fake: FakeSlack) -> None:
    # The client as the service builds it: slack-sdk's 429 handler, two retries.
    world = new_world(
        fake,
        datetime.now(UTC),
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)],
    )
    try:
        now = world.clock.now()
        for n in range(2):
            for channel in ("slack:C1", "slack:C2"):
                world.queue(briefing_at(now, id=f"tide{n}aa"), channel)
        throttled = Failure(429, "ratelimited", {"Retry-After": "20"}, channel="C1")
        fake.fail("chat.postMessage", throttled)
        # The pass returns promptly: nothing sleeps 20 s (twice) inside a call.
        await asyncio.wait_for(world.engine.deliver_once(), timeout=3)
        assert len(world.bot_messages("C2")) == 1 and world.bot_messages("C1") == []
        world.clock.advance(seconds=1)
        await asyncio.wait_for(world.engine.deliver_once(), timeout=3)
        assert len(world.bot_messages("C2")) == 2, "C2 goes on at its own pace"
        assert world.bot_messages("C1") == []
        [head, _] = world.store.deliveries("slack:C1")
        assert head.not_before == now + timedelta(seconds=20)
        world.clock.advance(seconds=19)
        await world.engine.deliver_all()
        assert len(world.bot_messages("C1")) == 2
        assert {d.state for d in world.store.deliveries()} == {DeliveryState.SENT}
    finally:
        await world.engine.aclose()
        world.store.close()


class HangingPublisher(RecordingPublisher):
    """Channel ``stuck``'s sends hang until ``release`` (a platform that does not
    answer, or a client sleeping out a long rate limit)."""

    def __init__(self, stuck: str) -> None:
        super().__init__("console")
        self.stuck = stuck
        self.release = asyncio.Event()

    async def post_briefing(
        self, channel: Channel, briefing: Briefing, *, attempt: Attempt | None = None
    ) -> PostResult:
        if channel.id == self.stuck:
            await self.release.wait()
        return await super().post_briefing(channel, briefing, attempt=attempt)

    async def post_digest(
        self, channel: Channel, briefings: Sequence[Briefing], *, attempt: Attempt | None = None
    ) -> PostResult:
        if channel.id == self.stuck:
            await self.release.wait()
        return await super().post_digest(channel, briefings, attempt=attempt)


async def test_the_service_sends_to_other_channels_while_one_hangs() -> None:
    settings = load_settings(database=":memory:")
    store = SqliteStore.open(":memory:")
    now = datetime.now(UTC)
    publisher = HangingPublisher("console:stuck")
    engine = Engine(
        settings,
        store,
        fetcher=Fetcher(settings),
        publishers={"console": publisher},
        clock=FakeClock(now),
        runner=StoreRunner(store),
    )
    for n in range(3):
        briefing = briefing_at(now, id=f"sluice{n}")
        store.save_briefing(briefing)
        for channel in ("console:stuck", "console:desk"):
            store.ensure_channel(channel, now)
            store.enqueue_delivery(
                channel,
                briefing.id,
                kind="post",
                revision=1,
                state=DeliveryState.PENDING,
                now=now,
            )
    stop = asyncio.Event()
    service = asyncio.create_task(engine.run(stop, tick=0.01))

    def sent_to(channel: str) -> Sequence[str | None]:
        return [p.briefing_id for p in publisher.posts if p.channel_id == channel]

    try:
        for _ in range(300):
            if len(sent_to("console:desk")) == 3:
                break
            await asyncio.sleep(0.01)
        assert sent_to("console:desk") == ["sluice0", "sluice1", "sluice2"]
        assert sent_to("console:stuck") == []
        publisher.release.set()
        for _ in range(300):
            if len(sent_to("console:stuck")) == 3:
                break
            await asyncio.sleep(0.01)
        assert sent_to("console:stuck") == ["sluice0", "sluice1", "sluice2"]
    finally:
        publisher.release.set()
        stop.set()
        await service
        await engine.aclose()
        store.close()


async def test_an_absurd_retry_after_waits_the_cap_not_forever() -> None:
    from bot.errors import DeliveryError

    settings = load_settings(database=":memory:")
    store = SqliteStore.open(":memory:")
    now = datetime.now(UTC)
    publisher = RecordingPublisher()
    engine = Engine(
        settings,
        store,
        fetcher=Fetcher(settings),
        publishers={"console": publisher},
        clock=FakeClock(now),
        runner=StoreRunner(store),
    )
    try:
        briefing = briefing_at(now)
        store.save_briefing(briefing)
        store.ensure_channel("console:desk", now)
        store.enqueue_delivery(
            "console:desk",
            briefing.id,
            kind="post",
            revision=1,
            state=DeliveryState.PENDING,
            now=now,
        )
        publisher.fail_next.append(
            DeliveryError("rate limited; will retry", retry_after=99_999_999_999_999.0)
        )
        assert await engine.deliver_once() == 0
        [row] = store.deliveries()
        assert row.state == DeliveryState.PENDING
        assert row.not_before == now + timedelta(seconds=settings.delivery_retry_max)
    finally:
        await engine.aclose()
        store.close()


async def test_a_post_found_after_its_story_grew_is_brought_up_to_date(world: World) -> None:
    first = briefing_at(world.clock.now())
    world.queue(first)
    await lost_answer_then_restart(world)  # the post, with two sources, landed
    # Meanwhile a third source joined: routing leaves it to the queued post (not sent).
    grown = first.model_copy(
        update={
            "revision": 2,
            "sources": [
                *first.sources,
                Source(
                    publisher="Lantern Review", title="Port shut", url="https://lantern.example/p"
                ),
            ],
        }
    )
    world.store.save_briefing(grown)
    assert await world.engine.deliver_once() == 0  # found: not posted again
    await world.engine.deliver_all()  # ... and then updated
    [post] = [m for m in world.bot_messages() if not m.get("thread_ts")]
    assert post["metadata"]["event_payload"]["revision"] == 2  # type: ignore[index]
    [reply] = [m for m in world.bot_messages() if m.get("thread_ts")]
    assert "now has 3 sources" in str(reply["text"])
    assert {d.state for d in world.store.deliveries()} == {DeliveryState.SENT}


async def test_a_hanging_digest_holds_up_no_other_channel() -> None:
    settings = load_settings(database=":memory:")
    store = SqliteStore.open(":memory:")
    now = datetime.now(UTC)
    publisher = HangingPublisher("console:morning")
    engine = Engine(
        settings,
        store,
        fetcher=Fetcher(settings),
        publishers={"console": publisher},
        clock=FakeClock(now),
        runner=StoreRunner(store),
    )
    store.ensure_channel("console:morning", now)
    morning = store.get_channel("console:morning")
    assert morning is not None
    store.save_channel(
        morning.model_copy(
            update={
                "mode": DeliveryMode.DIGEST,
                "digest_time": "00:00",
                "last_digest_at": now - timedelta(days=2),
            }
        )
    )
    for n in range(3):
        briefing = briefing_at(now, id=f"weir{n}xx")
        store.save_briefing(briefing)
        for channel, state in (("console:morning", DeliveryState.HELD), ("console:desk", None)):
            store.ensure_channel(channel, now)
            store.enqueue_delivery(
                channel,
                briefing.id,
                kind="post",
                revision=1,
                state=state or DeliveryState.PENDING,
                now=now,
            )
    stop = asyncio.Event()
    service = asyncio.create_task(engine.run(stop, tick=0.01))
    try:
        for _ in range(300):
            if len(publisher.posts) == 3:
                break
            await asyncio.sleep(0.01)
        assert [p.channel_id for p in publisher.posts] == ["console:desk"] * 3
        publisher.release.set()
        for _ in range(300):
            if publisher.of_kind("digest"):
                break
            await asyncio.sleep(0.01)
        [digest] = publisher.of_kind("digest")
        assert sorted(digest.briefing_ids) == ["weir0xx", "weir1xx", "weir2xx"]
    finally:
        publisher.release.set()
        stop.set()
        await service
        await engine.aclose()
        store.close()
