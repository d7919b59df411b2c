"""SlackPublisher against a fake Slack Web API: metadata on every post, 429/5xx, pacing,
updates in place with a thread note, and crash recovery through message metadata."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.publisher import ChannelPacer, SlackPublisher
from bot.engine import Engine
from bot.errors import CannotPost, DeliveryError
from bot.fetch import Fetcher
from bot.models import Channel, DeliveryState, Source
from bot.settings import load_settings
from storage import SqliteStore
from storage.database import StoreRunner
from tests.support.clock import FakeClock
from tests.support.golden_files import assert_golden
from tests.support.slack_checks import make_briefing
from tests.support.slack_fake import Failure, FakeSlack

CHANNEL = Channel(id="slack:C1")


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = await FakeSlack().start()
    try:
        yield server
    finally:
        await server.stop()


def publisher_for(fake: FakeSlack, *, interval: float = 0.0, **client: object) -> SlackPublisher:
    web = AsyncWebClient(token="xoxb-test", base_url=fake.api_url, **client)  # type: ignore[arg-type]
    return SlackPublisher(web, pacer=ChannelPacer(interval))


def recent_briefing(**update: object):
    now = datetime.now(UTC) - timedelta(minutes=1)
    return make_briefing(created_at=now, updated_at=now, **update)


async def test_post_carries_blocks_and_metadata(fake: FakeSlack) -> None:
    result = await publisher_for(fake).post_briefing(CHANNEL, make_briefing())
    (call,) = fake.calls_to("chat.postMessage")
    assert call.headers["authorization"] == "Bearer xoxb-test"
    assert result.message_ref == fake.messages["C1"][0]["ts"]
    assert_golden("slack/chat_postMessage.json", call.params)


async def test_429_then_success_posts_exactly_once(fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", Failure(429, "ratelimited", {"Retry-After": "0"}))
    result = await publisher_for(fake).post_briefing(CHANNEL, make_briefing())
    assert len(fake.calls_to("chat.postMessage")) == 2  # the 429, then the retry
    assert len(fake.calls_to("chat.postMessage", ok=True)) == 1
    assert len(fake.messages["C1"]) == 1
    assert result.message_ref == fake.messages["C1"][0]["ts"]


async def test_429_after_the_retry_handler_gives_up_is_retryable_with_its_hint(
    fake: FakeSlack,
) -> None:
    fake.fail("chat.postMessage", Failure(429, "ratelimited", {"Retry-After": "7"}))
    publisher = publisher_for(
        fake, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=0)]
    )
    with pytest.raises(DeliveryError) as err:
        await publisher.post_briefing(CHANNEL, make_briefing())
    assert err.value.retryable and err.value.retry_after == 7.0
    assert "C1" not in fake.messages


async def test_5xx_after_the_post_landed_does_not_post_twice(fake: FakeSlack) -> None:
    settings = load_settings(database=":memory:")
    store = SqliteStore.open(":memory:")
    clock = FakeClock(datetime.now(UTC))
    engine = Engine(
        settings,
        store,
        runner=StoreRunner(store),
        fetcher=Fetcher(settings),
        publishers={"slack": publisher_for(fake)},
        clock=clock,
    )
    try:
        briefing = make_briefing(created_at=clock.now(), updated_at=clock.now())
        store.ensure_channel(CHANNEL.id, clock.now())
        store.save_briefing(briefing)
        store.enqueue_delivery(
            CHANNEL.id,
            briefing.id,
            kind="post",
            revision=1,
            state=DeliveryState.PENDING,
            now=clock.now(),
        )
        fake.fail("chat.postMessage", Failure(500, apply=True))
        assert await engine.deliver_once() == 0
        assert len(fake.messages["C1"]) == 1  # Slack has it; the answer was a 500
        # The retry: the deliverer (the one layer that checks for an earlier post)
        # looks in the history first, finds it and sends nothing.
        clock.advance(seconds=settings.delivery_settle + 1)
        await engine.deliver_once()
        (row,) = store.deliveries(CHANNEL.id)
        assert len(fake.messages["C1"]) == 1
        assert row.state == DeliveryState.SENT
        assert row.message_ref == fake.messages["C1"][0]["ts"]
        assert len(fake.calls_to("conversations.history")) == 1
        assert len(fake.calls_to("chat.postMessage")) == 1
    finally:
        await engine.aclose()
        store.close()


async def test_5xx_before_the_post_landed_posts_on_retry(fake: FakeSlack) -> None:
    publisher = publisher_for(fake)
    fake.fail("chat.postMessage", Failure(503))
    with pytest.raises(DeliveryError):
        await publisher.post_briefing(CHANNEL, recent_briefing())
    await publisher.post_briefing(CHANNEL, recent_briefing())
    assert len(fake.messages["C1"]) == 1


@pytest.mark.parametrize(
    ("code", "hint"),
    [
        ("channel_not_found", "invite"),
        ("not_in_channel", "/invite @SignalDesk"),
        ("is_archived", "archived"),
        ("invalid_auth", "SLACK_BOT_TOKEN"),
    ],
)
async def test_permanent_errors_say_what_to_do(fake: FakeSlack, code: str, hint: str) -> None:
    fake.channel_errors["C1"] = code
    with pytest.raises(DeliveryError) as err:
        await publisher_for(fake).post_briefing(CHANNEL, make_briefing())
    assert not err.value.retryable
    assert hint in str(err.value) and "\n" not in str(err.value)
    # A person can fix these (an invite, a reinstall): the channel is held, not failed.
    assert isinstance(err.value, CannotPost) and err.value.code == code


async def test_a_layout_slack_rejects_is_a_failure_not_a_pause(fake: FakeSlack) -> None:
    fake.channel_errors["C1"] = "invalid_blocks"  # our bug: waiting on an admin won't fix it
    with pytest.raises(DeliveryError) as err:
        await publisher_for(fake).post_briefing(CHANNEL, make_briefing())
    assert not err.value.retryable and not isinstance(err.value, CannotPost)


async def test_connection_refused_is_retryable() -> None:
    web = AsyncWebClient(token="xoxb-test", base_url="http://127.0.0.1:9/api/", retry_handlers=[])
    with pytest.raises(DeliveryError) as err:
        await SlackPublisher(web, pacer=ChannelPacer(0)).post_text(CHANNEL, "hello")
    assert err.value.retryable


async def test_posts_are_paced_per_channel_not_globally(fake: FakeSlack) -> None:
    import asyncio

    publisher = publisher_for(fake, interval=0.3)
    started = time.monotonic()
    await asyncio.gather(
        publisher.post_text(Channel(id="slack:C1"), "one"),
        publisher.post_text(Channel(id="slack:C2"), "two"),
    )
    assert time.monotonic() - started < 0.3  # different channels: no wait
    await publisher.post_text(Channel(id="slack:C1"), "three")
    assert time.monotonic() - started >= 0.3  # same channel: one interval apart
    assert [m["text"] for m in fake.messages["C1"]] == ["one", "three"]


async def test_update_edits_in_place_and_notes_the_sources_in_the_thread(fake: FakeSlack) -> None:
    publisher = publisher_for(fake)
    first = await publisher.post_briefing(CHANNEL, make_briefing())
    grown = make_briefing(
        revision=2,
        sources=[
            *make_briefing().sources,
            Source(publisher="Lantern Review", title="Port shut", url="https://lantern.example/p"),
        ],
    )
    result = await publisher.update_briefing(CHANNEL, grown, first.message_ref)
    assert result.message_ref == first.message_ref
    (update,) = fake.calls_to("chat.update")
    assert update.params["ts"] == first.message_ref
    assert update.params["metadata"]["event_payload"]["revision"] == 2
    note = fake.calls_to("chat.postMessage")[-1].params
    assert note["thread_ts"] == first.message_ref
    assert "now has 3 sources" in note["text"]
    # The note names a new source's link: no preview card of it under the post.
    assert note["unfurl_links"] in (False, "0", "false") and note["unfurl_media"] in (
        False,
        "0",
        "false",
    )


async def test_update_of_a_deleted_post_posts_afresh(fake: FakeSlack) -> None:
    result = await publisher_for(fake).update_briefing(CHANNEL, make_briefing(), "1.000001")
    assert result.message_ref == fake.messages["C1"][0]["ts"]
    assert fake.messages["C1"][0]["metadata"]["event_payload"]["briefing_id"] == "k3xq7aab"


async def test_find_posted_reads_metadata_from_history(fake: FakeSlack) -> None:
    briefing = recent_briefing()
    fake.add_message("C1", text="someone else")
    ts = fake.add_message(
        "C1",
        text="x",
        metadata={
            "event_type": "signaldesk_briefing",
            "event_payload": {"briefing_id": briefing.id, "revision": 1},
        },
    )
    publisher = publisher_for(fake)
    assert await publisher.find_posted(CHANNEL, briefing) == ts
    assert await publisher.find_posted(CHANNEL, recent_briefing(id="other123")) is None
    call = fake.calls_to("conversations.history")[0]
    assert call.params["include_all_metadata"] in ("1", "true")


async def test_find_posted_when_slack_is_down_raises_rather_than_guess(fake: FakeSlack) -> None:
    fake.fail("conversations.history", Failure(503))
    with pytest.raises(DeliveryError) as err:
        await publisher_for(fake).find_posted(CHANNEL, recent_briefing())
    assert err.value.retryable


# ------------------------------------------------------------ engine-level crash


@pytest.fixture
async def engine_with_slack(fake: FakeSlack) -> AsyncIterator[tuple[Engine, SqliteStore]]:
    settings = load_settings(database=":memory:")
    store = SqliteStore.open(":memory:")
    engine = Engine(
        settings,
        store,
        fetcher=Fetcher(settings),
        publishers={"slack": publisher_for(fake)},
        runner=StoreRunner(store),
    )
    try:
        yield engine, store
    finally:
        await engine.aclose()
        store.close()


def _queue_interrupted(store: SqliteStore, briefing_id: str) -> None:
    """An outbox row left in "sending": the process died after handing it to Slack."""
    now = datetime.now(UTC)
    store.ensure_channel(CHANNEL.id, now)
    store.enqueue_delivery(
        CHANNEL.id,
        briefing_id,
        kind="post",
        revision=1,
        state=DeliveryState.SENDING,
        now=now - timedelta(minutes=1),
    )


async def test_crash_after_the_post_is_resolved_without_a_second_post(
    fake: FakeSlack, engine_with_slack: tuple[Engine, SqliteStore]
) -> None:
    engine, store = engine_with_slack
    briefing = recent_briefing()
    store.save_briefing(briefing)
    # Before the crash the post went out (with its metadata) ...
    await publisher_for(fake).post_briefing(CHANNEL, briefing)
    posted_ts = fake.messages["C1"][0]["ts"]
    # ... but the outbox still says "sending".
    _queue_interrupted(store, briefing.id)
    await engine.deliver_all()
    assert len(fake.calls_to("chat.postMessage")) == 1
    (row,) = store.deliveries(CHANNEL.id)
    assert row.state == DeliveryState.SENT and row.message_ref == posted_ts


async def test_crash_before_the_post_delivers_once(
    fake: FakeSlack, engine_with_slack: tuple[Engine, SqliteStore]
) -> None:
    engine, store = engine_with_slack
    briefing = recent_briefing()
    store.save_briefing(briefing)
    _queue_interrupted(store, briefing.id)
    await engine.deliver_all()
    await engine.deliver_all()
    assert len(fake.calls_to("chat.postMessage", ok=True)) == 1
    (row,) = store.deliveries(CHANNEL.id)
    assert row.state == DeliveryState.SENT and row.message_ref == fake.messages["C1"][0]["ts"]


async def test_a_distributed_app_reads_history_as_slack_allows_it(fake: FakeSlack) -> None:
    """A multi-workspace app outside the Slack Marketplace may read 15 messages a page,
    once a minute: the crash look-up reads pages of 15 over a narrow window."""
    from bot.models import Attempt

    web = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
    publisher = SlackPublisher(web, pacer=ChannelPacer(0.0), limited_history=True)
    briefing = recent_briefing()
    now = datetime.now(UTC)
    attempt = Attempt(key="p9", first_at=now, last_at=now)
    for n in range(10):  # a busy channel: other people's messages around the post
        fake.add_message("C1", text=f"lunch order {n}", user="U2")
    posted = await publisher.post_briefing(CHANNEL, briefing, attempt=attempt)
    assert await publisher.find_attempt(CHANNEL, attempt, briefing) == posted.message_ref
    [call] = fake.calls_to("conversations.history")
    assert int(call.params["limit"]) == 15
    window = float(call.params["latest"]) - float(call.params["oldest"])
    assert window <= 10 * 60 + 1  # five minutes each side, not two hours
    # An app in one workspace (or in the Marketplace) reads pages of 200, as before.
    await publisher_for(fake).find_attempt(CHANNEL, attempt, briefing)
    assert int(fake.calls_to("conversations.history")[-1].params["limit"]) == 200


async def test_find_attempt_matches_the_key_in_the_attempts_window_and_thread(
    fake: FakeSlack,
) -> None:
    from bot.models import Attempt

    publisher = publisher_for(fake)
    briefing = recent_briefing()
    # The bot's clock is 50 minutes ahead: the attempt's times are, too.
    ahead = datetime.now(UTC) + timedelta(minutes=50)
    attempt = Attempt(key="p7", first_at=ahead, last_at=ahead)
    # Another install's message under the same key, for another briefing, is not ours.
    fake.add_message(
        "C1",
        bot_id="BOTHER",
        metadata={
            "event_type": "signaldesk_briefing",
            "event_payload": {"briefing_id": "elsewhere", "attempt": "p7"},
        },
    )
    assert await publisher.find_attempt(CHANNEL, attempt, briefing) is None
    posted = await publisher.post_briefing(CHANNEL, briefing, attempt=attempt)
    assert await publisher.find_attempt(CHANNEL, attempt, briefing) == posted.message_ref
    # A thread note is looked up in its thread, by its own key.
    note = Attempt(key="u8", first_at=ahead, last_at=ahead, parent_ref=posted.message_ref)
    assert await publisher.find_attempt(CHANNEL, note, briefing) is None
    await publisher.update_briefing(CHANNEL, briefing, posted.message_ref, attempt=note)
    [reply] = [m for m in fake.messages["C1"] if m.get("thread_ts")]
    assert await publisher.find_attempt(CHANNEL, note, briefing) == reply["ts"]
    assert fake.calls_to("conversations.replies")
    # Two hours off is beyond the window: not found (and not looked at).
    far = Attempt(key="p7", first_at=ahead + timedelta(hours=2), last_at=ahead + timedelta(hours=2))
    assert await publisher.find_attempt(CHANNEL, far, briefing) is None
