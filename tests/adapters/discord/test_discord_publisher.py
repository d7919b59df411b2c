"""DiscordPublisher: the real discord.py against a fake Discord REST server.

Proves: every post carries no allowed mentions and a deterministic nonce with
``enforce_nonce``; 429s are waited out and deliver exactly once; a resend after a lost
response or a crash makes no second message; errors become ``DeliveryError`` with the
right ``retryable``; updates edit the original and reply to it; posts are paced.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from adapters.discord.app import build_client
from adapters.discord.publisher import DiscordPublisher, message_nonce
from bot.engine import Engine
from bot.errors import DeliveryError
from bot.fetch import Fetcher
from bot.models import Channel, DeliveryState, Source
from bot.settings import Settings
from storage import SqliteStore
from storage.database import StoreRunner
from tests.support.fake_discord_api import (
    BOT_ID,
    CHANNEL_ID,
    TOKEN,
    Failure,
    FakeDiscord,
    fake_discord,  # noqa: F401  (fixture)
)
from tests.support.golden_discord import HOSTILE, assert_golden, hostile_briefing, sample_briefing

CHANNEL = Channel(id=f"discord:{CHANNEL_ID}")
MESSAGES = rf"/channels/{CHANNEL_ID}/messages"


@pytest.fixture
async def publisher(fake_discord: FakeDiscord) -> AsyncIterator[DiscordPublisher]:  # noqa: F811
    client = build_client()
    await client.login(TOKEN)
    try:
        yield DiscordPublisher(client, min_interval=0)
    finally:
        await client.close()


async def test_post_briefing_payload_matches_golden(
    fake_discord: FakeDiscord,  # noqa: F811
    publisher: DiscordPublisher,
) -> None:
    result = await publisher.post_briefing(CHANNEL, sample_briefing())
    [request] = fake_discord.posts()
    body = request.body
    assert body["allowed_mentions"] == {"parse": []}
    assert body["nonce"] == message_nonce(CHANNEL.id, "k7q2xw4m", 1, "post")
    assert body["enforce_nonce"] is True
    assert len(body["nonce"]) <= 25
    assert result.message_ref == fake_discord.messages[CHANNEL_ID][0]["id"]
    assert_golden("post_briefing", body)


async def test_hostile_briefing_posts_within_limits_without_pings(
    fake_discord: FakeDiscord,  # noqa: F811
    publisher: DiscordPublisher,
) -> None:
    await publisher.post_briefing(CHANNEL, hostile_briefing())
    await publisher.post_text(CHANNEL, "feed failing: " + HOSTILE)
    posts = fake_discord.posts()
    assert len(posts) == 2
    for request in posts:
        assert request.body["allowed_mentions"] == {"parse": []}
    embed = posts[0].body["embeds"][0]
    total = len(embed["title"]) + len(embed["description"]) + len(embed["footer"]["text"])
    total += sum(len(f["name"]) + len(f["value"]) for f in embed["fields"])
    assert total <= 6000 and len(embed["title"]) <= 256
    assert "@everyone" not in posts[1].body["content"]
    assert_golden("post_text_hostile", posts[1].body)


async def test_429_then_success_delivers_exactly_once(
    fake_discord: FakeDiscord,  # noqa: F811
    publisher: DiscordPublisher,
) -> None:
    fake_discord.fail("POST", MESSAGES, Failure(429, retry_after=0.05))
    result = await publisher.post_briefing(CHANNEL, sample_briefing())
    assert len(fake_discord.posts()) == 2  # the 429, then the retry
    assert len(fake_discord.messages[CHANNEL_ID]) == 1
    assert result.message_ref == fake_discord.messages[CHANNEL_ID][0]["id"]


async def test_long_rate_limit_is_handed_to_the_outbox(
    fake_discord: FakeDiscord,  # noqa: F811
    publisher: DiscordPublisher,
) -> None:
    fake_discord.fail("POST", MESSAGES, Failure(429, retry_after=120.0, is_global=True))
    started = asyncio.get_running_loop().time()
    with pytest.raises(DeliveryError) as err:
        await publisher.post_briefing(CHANNEL, sample_briefing())
    assert err.value.retryable and err.value.retry_after == 120.0
    assert asyncio.get_running_loop().time() - started < 5  # no sleeping inside the send
    assert CHANNEL_ID not in fake_discord.messages


@pytest.mark.parametrize(
    ("status", "retryable", "words"),
    [
        (503, True, "server error 503"),
        (403, False, "Send Messages"),
        (404, False, "not found"),
        (400, False, "rejected"),
    ],
)
async def test_failures_become_delivery_errors(
    fake_discord: FakeDiscord,  # noqa: F811
    publisher: DiscordPublisher,
    status: int,
    retryable: bool,
    words: str,
) -> None:
    fake_discord.fail("POST", MESSAGES, Failure(status))
    with pytest.raises(DeliveryError) as err:
        await publisher.post_briefing(CHANNEL, sample_briefing())
    assert err.value.retryable is retryable
    assert words in str(err.value)
    assert "\n" not in str(err.value)


async def test_connection_error_is_retryable(publisher: DiscordPublisher) -> None:
    import discord

    old = discord.http.Route.BASE
    discord.http.Route.BASE = "http://127.0.0.1:9/api/v10"  # nothing listens on port 9
    try:
        with pytest.raises(DeliveryError) as err:
            await publisher.post_briefing(CHANNEL, sample_briefing())
    finally:
        discord.http.Route.BASE = old
    assert err.value.retryable and "cannot reach Discord" in str(err.value)


async def test_lost_response_resend_carries_same_nonce_and_posts_once(
    fake_discord: FakeDiscord,  # noqa: F811
    publisher: DiscordPublisher,
) -> None:
    briefing = sample_briefing()
    first = await publisher.post_briefing(CHANNEL, briefing)
    # The process dies before recording the message id; a new client resends.
    client = build_client()
    await client.login(TOKEN)
    try:
        again = await DiscordPublisher(client, min_interval=0).post_briefing(CHANNEL, briefing)
    finally:
        await client.close()
    first_req, second_req = fake_discord.posts()
    assert first_req.body["nonce"] == second_req.body["nonce"]
    assert second_req.body["enforce_nonce"] is True
    assert len(fake_discord.messages[CHANNEL_ID]) == 1
    assert again.message_ref == first.message_ref


async def test_find_posted_reads_history_and_falls_back_to_the_nonce(
    fake_discord: FakeDiscord,  # noqa: F811
    publisher: DiscordPublisher,
) -> None:
    briefing = sample_briefing()
    assert await publisher.find_posted(CHANNEL, briefing) is None
    posted = await publisher.post_briefing(CHANNEL, briefing)
    await publisher.post_briefing(CHANNEL, sample_briefing(id="other123"))
    assert await publisher.find_posted(CHANNEL, briefing) == posted.message_ref
    fake_discord.history_status = 403  # no Read Message History: answer None, no crash
    assert await publisher.find_posted(CHANNEL, briefing) is None


async def test_update_edits_the_original_and_notes_it_in_a_thread_on_the_post(
    fake_discord: FakeDiscord,  # noqa: F811
    publisher: DiscordPublisher,
) -> None:
    """Issue 17, point 6: the note was a top-level message (a reply is one on Discord)
    each time, which defeats editing in place. It goes in a thread on the post."""
    briefing = sample_briefing()
    posted = await publisher.post_briefing(CHANNEL, briefing)
    extra = Source(publisher="Lantern Review", title="Third report", url="https://lantern.example/")
    updated = briefing.model_copy(update={"sources": [*briefing.sources, extra], "revision": 2})
    result = await publisher.update_briefing(CHANNEL, updated, posted.message_ref)
    assert result.message_ref == posted.message_ref
    [edit] = fake_discord.find(lambda r: r.method == "PATCH")
    assert edit.path == f"{MESSAGES}/{posted.message_ref}"
    assert edit.body["embeds"][0]["fields"][0]["name"] == "Sources (3)"
    [start] = fake_discord.find(lambda r: r.path.endswith("/threads"))
    assert start.path == f"{MESSAGES}/{posted.message_ref}/threads"
    assert start.body["name"].startswith("Updates: Chinese labs")
    thread = int(posted.message_ref)  # a thread on a message has the message's id
    [note] = fake_discord.posts(thread)
    assert "message_reference" not in note.body
    assert note.body["nonce"] == message_nonce(CHANNEL.id, briefing.id, 2, "update")
    assert_golden("update_note", note.body)
    assert len(fake_discord.messages[CHANNEL_ID]) == 1  # the channel has the post only
    # The next update adds its note to the same thread.
    grown = updated.model_copy(update={"sources": [*updated.sources, extra], "revision": 3})
    await publisher.update_briefing(CHANNEL, grown, posted.message_ref)
    assert len(fake_discord.messages[thread]) == 2
    assert len(fake_discord.messages[CHANNEL_ID]) == 1


async def test_without_create_public_threads_an_update_only_edits(
    fake_discord: FakeDiscord,  # noqa: F811
    publisher: DiscordPublisher,
) -> None:
    briefing = sample_briefing()
    posted = await publisher.post_briefing(CHANNEL, briefing)
    fake_discord.fail("POST", rf"{MESSAGES}/\d+/threads", Failure(403))
    await publisher.update_briefing(CHANNEL, sample_briefing(revision=2), posted.message_ref)
    assert len(fake_discord.find(lambda r: r.method == "PATCH")) == 1
    assert len(fake_discord.messages[CHANNEL_ID]) == 1  # no top-level note
    assert int(posted.message_ref) not in fake_discord.messages
    # The refusal is remembered: the next update does not ask again (an invalid request).
    await publisher.update_briefing(CHANNEL, sample_briefing(revision=3), posted.message_ref)
    assert len(fake_discord.find(lambda r: r.path.endswith("/threads"))) == 1


async def test_update_of_a_deleted_message_posts_afresh(
    fake_discord: FakeDiscord,  # noqa: F811
    publisher: DiscordPublisher,
) -> None:
    result = await publisher.update_briefing(CHANNEL, sample_briefing(revision=2), "12345")
    assert result.message_ref == fake_discord.messages[CHANNEL_ID][0]["id"]
    assert fake_discord.posts()[0].body["components"]  # a full post, with buttons


async def test_digest_is_one_message(
    fake_discord: FakeDiscord,  # noqa: F811
    publisher: DiscordPublisher,
) -> None:
    briefings = [sample_briefing(id=f"d{i:07d}") for i in range(3)]
    await publisher.post_digest(CHANNEL, briefings)
    [request] = fake_discord.posts()
    assert_golden("post_digest", request.body)


async def test_posts_to_one_channel_are_paced(
    fake_discord: FakeDiscord,  # noqa: F811
    publisher: DiscordPublisher,
) -> None:
    publisher.min_interval = 0.25
    await asyncio.gather(
        publisher.post_briefing(CHANNEL, sample_briefing(id="first111")),
        publisher.post_briefing(CHANNEL, sample_briefing(id="second22")),
    )
    first, second = fake_discord.posts()
    assert second.at - first.at >= 0.2


async def test_bad_channel_id_is_permanent(publisher: DiscordPublisher) -> None:
    with pytest.raises(DeliveryError) as err:
        await publisher.post_briefing(Channel(id="discord:general"), sample_briefing())
    assert not err.value.retryable


async def test_engine_delivers_through_discord_once_despite_a_429(
    fake_discord: FakeDiscord,  # noqa: F811
    publisher: DiscordPublisher,
) -> None:
    """The engine's outbox with the real publisher: a 429 costs a retry, not a post."""
    settings = Settings(database=":memory:")
    store = SqliteStore.open(":memory:")
    engine = Engine(
        settings,
        store,
        fetcher=Fetcher(settings),
        publishers={"discord": publisher},
        runner=StoreRunner(store),
    )
    now = datetime.now(UTC)
    try:
        briefing = sample_briefing()
        store.ensure_channel(CHANNEL.id, now)
        store.save_briefing(briefing)
        store.enqueue_delivery(
            CHANNEL.id, briefing.id, kind="post", revision=1, state=DeliveryState.PENDING, now=now
        )
        fake_discord.fail("POST", MESSAGES, Failure(429, retry_after=0.05))
        assert await engine.deliver_all() == 1
        assert await engine.deliver_all() == 0
        [delivery] = store.deliveries(CHANNEL.id)
        assert delivery.state == DeliveryState.SENT
        assert delivery.message_ref == fake_discord.messages[CHANNEL_ID][0]["id"]
        assert len(fake_discord.messages[CHANNEL_ID]) == 1
        assert fake_discord.messages[CHANNEL_ID][0]["author"]["id"] == str(BOT_ID)
    finally:
        await engine.aclose()
        store.close()


async def test_an_update_note_is_found_by_its_attempt_and_never_sent_twice(
    fake_discord: FakeDiscord,  # noqa: F811
    publisher: DiscordPublisher,
) -> None:
    from bot.models import Attempt

    first = await publisher.post_briefing(CHANNEL, sample_briefing())
    grown = sample_briefing(
        revision=2,
        sources=[
            *sample_briefing().sources,
            Source(publisher="Lantern Review", title="Port shut", url="https://lantern.example/p"),
        ],
    )
    now = datetime.now(UTC)
    attempt = Attempt(key="u7", first_at=now, last_at=now, parent_ref=first.message_ref)
    assert await publisher.find_attempt(CHANNEL, attempt, grown) is None
    await publisher.update_briefing(CHANNEL, grown, first.message_ref, attempt=attempt)
    [note] = fake_discord.messages[int(first.message_ref)]  # in the post's thread
    # After a crash the outbox asks first, and finds the note by what it replies to ...
    assert await publisher.find_attempt(CHANNEL, attempt, grown) == note["id"]
    # ... and a resend under the same attempt is answered with the first note.
    await publisher.update_briefing(CHANNEL, grown, first.message_ref, attempt=attempt)
    assert len(fake_discord.messages[int(first.message_ref)]) == 1


async def test_a_digest_too_long_for_one_message_is_split_not_cut(
    fake_discord: FakeDiscord,  # noqa: F811
    publisher: DiscordPublisher,
) -> None:
    # Twenty briefings with full-length leads: about 9,000 characters of fields, more
    # than one Discord message holds (6,000).
    lead = (
        "Harbour pilots at Kestrel Bay said on Tuesday that the backlog of container ships "
        "waiting to berth had grown to 41 vessels, the longest queue since the port opened "
        "its third terminal, as talks between the union and the port authority stalled "
        "over the automated cranes and the night-shift rota."
    )
    briefings = [sample_briefing(id=f"d{i:07d}", lead=lead) for i in range(20)]
    await publisher.post_digest(CHANNEL, briefings)
    shown = [f for r in fake_discord.posts() for e in r.body["embeds"] for f in e["fields"]]
    assert len(fake_discord.posts()) >= 2
    assert len(shown) == 20 and all("d00000" in f["value"] for f in shown)
    # Sent again (a crash, a lost answer): the nonces return the same messages.
    before = len(fake_discord.messages[CHANNEL_ID])
    await publisher.post_digest(CHANNEL, briefings)
    assert len(fake_discord.messages[CHANNEL_ID]) == before
