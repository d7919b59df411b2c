"""Digest mode: when a digest is due (a controllable clock, missed digests, DST), and
``Digests.send_due`` against a real store, a real engine and a recording publisher."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.testing import RecordingPublisher
from bot.digest import (
    DIGEST_MAX,
    digest_due,
    last_slot,
    next_digest_at,
    parse_hhmm,
    rank_for_digest,
)
from bot.engine import Engine
from bot.errors import CannotPost, DeliveryError
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


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def digest_channel(at: str = "08:00", tz: str = "UTC", last: datetime | None = None) -> Channel:
    return Channel(
        id="console:desk",
        mode=DeliveryMode.DIGEST,
        digest_time=at,
        timezone=tz,
        last_digest_at=last,
        created_at=utc(2026, 1, 1),
    )


# ==================================================================== digest_due


def test_parse_hhmm() -> None:
    assert parse_hhmm("8:05") == parse_hhmm("08:05") != None  # noqa: E711
    for bad in ("24:00", "8", "08:60", "8pm", "", "08:00:00"):
        assert parse_hhmm(bad) is None


def test_due_once_the_local_time_has_passed() -> None:
    channel = digest_channel(last=utc(2026, 3, 3, 8, 0, 5))
    assert not digest_due(channel, utc(2026, 3, 4, 7, 59))
    assert digest_due(channel, utc(2026, 3, 4, 8, 0))
    assert digest_due(channel, utc(2026, 3, 4, 13, 0))
    sent = channel.model_copy(update={"last_digest_at": utc(2026, 3, 4, 8, 0, 30)})
    assert not digest_due(sent, utc(2026, 3, 4, 23, 59))
    assert digest_due(sent, utc(2026, 3, 5, 8, 0))


def test_switching_after_todays_time_waits_for_tomorrow() -> None:
    switched = digest_channel(at="08:00", last=utc(2026, 3, 4, 9, 0))
    assert not digest_due(switched, utc(2026, 3, 4, 20, 0))
    assert digest_due(switched, utc(2026, 3, 5, 8, 0))


def test_missed_digests_go_out_once() -> None:
    channel = digest_channel(last=utc(2026, 3, 2, 8, 0, 1))  # then the service was down
    back = utc(2026, 3, 5, 10, 30)
    assert digest_due(channel, back)
    assert last_slot(channel, back) == utc(2026, 3, 5, 8, 0)
    sent = channel.model_copy(update={"last_digest_at": back})
    assert not digest_due(sent, back + timedelta(hours=21))
    assert digest_due(sent, utc(2026, 3, 6, 8, 0))


def test_not_due_outside_digest_mode() -> None:
    realtime = digest_channel().model_copy(update={"mode": DeliveryMode.REALTIME})
    assert not digest_due(realtime, utc(2026, 3, 4, 9, 0))
    no_time = digest_channel().model_copy(update={"digest_time": None})
    assert not digest_due(no_time, utc(2026, 3, 4, 9, 0))


def test_local_time_in_the_channels_timezone() -> None:
    tokyo = digest_channel(at="07:30", tz="Asia/Tokyo", last=utc(2026, 3, 3, 0, 0))
    # 07:30 JST is 22:30 UTC the day before.
    assert not digest_due(tokyo, utc(2026, 3, 3, 22, 29))
    assert digest_due(tokyo, utc(2026, 3, 3, 22, 30))
    assert next_digest_at(tokyo, utc(2026, 3, 3, 22, 30)) == utc(2026, 3, 4, 22, 30)


def test_unknown_stored_timezone_falls_back_to_utc() -> None:
    odd = digest_channel(tz="Nowhere/Town", last=utc(2026, 3, 3, 9, 0))
    assert digest_due(odd, utc(2026, 3, 4, 8, 0))


def test_dst_spring_forward_follows_the_wall_clock() -> None:
    # New York moves from EST (UTC-5) to EDT (UTC-4) on 2026-03-08 at 02:00.
    ny = digest_channel(at="08:00", tz="America/New_York", last=utc(2026, 3, 7, 13, 0))
    assert not digest_due(ny, utc(2026, 3, 8, 11, 59))  # 07:59 EDT
    assert digest_due(ny, utc(2026, 3, 8, 12, 0))  # 08:00 EDT
    assert next_digest_at(ny, utc(2026, 3, 7, 13, 0)) == utc(2026, 3, 8, 12, 0)


def test_dst_skipped_time_still_sends_once() -> None:
    # 02:30 does not exist in New York on 2026-03-08: the digest goes out just after the
    # gap (03:30 EDT = 07:30 UTC), once.
    ny = digest_channel(at="02:30", tz="America/New_York", last=utc(2026, 3, 7, 8, 0))
    assert not digest_due(ny, utc(2026, 3, 8, 7, 29))
    assert digest_due(ny, utc(2026, 3, 8, 7, 30))
    sent = ny.model_copy(update={"last_digest_at": utc(2026, 3, 8, 7, 30)})
    assert not digest_due(sent, utc(2026, 3, 9, 6, 29))
    assert digest_due(sent, utc(2026, 3, 9, 6, 30))  # 02:30 EDT the next day


def test_dst_repeated_time_sends_once() -> None:
    # 01:30 happens twice in New York on 2026-11-01 (05:30 UTC in EDT, 06:30 UTC in EST).
    ny = digest_channel(at="01:30", tz="America/New_York", last=utc(2026, 10, 31, 5, 30))
    assert digest_due(ny, utc(2026, 11, 1, 5, 30))
    sent = ny.model_copy(update={"last_digest_at": utc(2026, 11, 1, 5, 30)})
    assert not digest_due(sent, utc(2026, 11, 1, 6, 45))  # the second 01:30 is not a slot
    assert digest_due(sent, utc(2026, 11, 2, 6, 30))  # 01:30 EST


def test_dst_in_europe() -> None:
    # Berlin: CET (UTC+1) to CEST (UTC+2) on 2026-03-29.
    berlin = digest_channel(at="09:00", tz="Europe/Berlin", last=utc(2026, 3, 28, 8, 0))
    assert not digest_due(berlin, utc(2026, 3, 29, 6, 59))
    assert digest_due(berlin, utc(2026, 3, 29, 7, 0))


@settings(max_examples=60, deadline=None)
@given(
    tz=st.sampled_from(
        ["UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kathmandu"]
    ),
    at=st.sampled_from(["00:00", "01:30", "02:30", "08:00", "23:59"]),
    steps=st.lists(st.integers(min_value=1, max_value=60 * 60), min_size=1, max_size=400),
)
def test_at_most_one_digest_per_slot(tz: str, at: str, steps: list[int]) -> None:
    """Ticking a clock in random steps (up to an hour, some days in all, across DST
    changes), sending whenever due: each digest belongs to a different slot, and every
    slot that passed while the clock ticked in small steps got its digest."""
    start = utc(2026, 3, 1)
    channel = digest_channel(at=at, tz=tz, last=start)
    now = start
    slots_sent: list[datetime] = []
    for minutes in steps:
        now += timedelta(minutes=minutes)
        if digest_due(channel, now):
            slot = last_slot(channel, now)
            assert slot is not None and slot not in slots_sent
            slots_sent.append(slot)
            channel = channel.model_copy(update={"last_digest_at": now})
    assert len(slots_sent) <= (now - start).days + 2
    expected = last_slot(digest_channel(at=at, tz=tz), now)
    if expected is not None and expected > start:
        assert slots_sent and slots_sent[-1] == expected


def test_rank_for_digest() -> None:
    def b(bid: str, sources: int, hour: int) -> Briefing:
        return Briefing(
            id=bid,
            headline=bid,
            lead="l",
            bullets=[Bullet(text="x")] * 3,
            sources=[Source(publisher="p", title="t")] * sources,
            created_at=utc(2026, 3, 4, hour),
            updated_at=utc(2026, 3, 4, hour),
        )

    ranked = rank_for_digest([b("a", 1, 9), b("b", 3, 1), b("c", 1, 11), b("d", 3, 2)])
    assert [x.id for x in ranked] == ["d", "b", "c", "a"]


# ============================================================== Digests.send_due

CHANNEL = "console:desk"
START = utc(2026, 3, 4, 9, 0)


@dataclass
class World:
    engine: Engine
    store: SqliteStore
    clock: FakeClock
    publisher: RecordingPublisher
    feed_id: int

    def hold(self, headline: str, *, sources: int = 1, hour: int = 0) -> Briefing:
        created = START - timedelta(hours=hour)
        [entry] = self.store.add_entries(
            self.feed_id, [FeedEntry(guid=headline, title=headline)], created
        )
        story = self.store.create_story(entry, StoryDoc(title=headline), created)
        briefing = Briefing(
            id=story.briefing_id,
            story_id=story.id,
            headline=headline,
            lead=headline + ".",
            bullets=[Bullet(text=f"{headline} {n}") for n in range(3)],
            sources=[Source(publisher=f"P{n}", title=headline) for n in range(sources)],
            created_at=created,
            updated_at=created,
        )
        self.store.save_briefing(briefing)
        self.store.enqueue_delivery(
            CHANNEL, briefing.id, kind="post", revision=1, state=DeliveryState.HELD, now=created
        )
        return briefing


@pytest.fixture
async def world() -> AsyncIterator[World]:
    settings_ = load_settings(database=":memory:", allow_private_networks=True, fetch_pages=False)
    store = SqliteStore.open(":memory:")
    clock = FakeClock(START)
    publisher = RecordingPublisher()
    engine = Engine(
        settings_,
        store,
        fetcher=Fetcher(settings_),
        publishers={"console": publisher},
        clock=clock,
        runner=StoreRunner(store),
    )
    feed, _ = store.add_feed("https://wire.example/feed", name="Wire", now=START)
    store.ensure_channel(CHANNEL, START)
    store.subscribe(CHANNEL, feed.id, START)
    # Switched to an 08:00 UTC digest at 09:00: the first digest is tomorrow at 08:00.
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
    yield World(engine, store, clock, publisher, feed.id)
    await engine.aclose()
    store.close()


async def test_digest_posts_once_ranked_and_marks_rows(world: World) -> None:
    quiet = world.hold("Quiet story", sources=1, hour=1)
    big_old = world.hold("Big older story", sources=4, hour=5)
    big_new = world.hold("Big newer story", sources=4, hour=2)
    assert await world.engine.digests.send_due() == 0  # not 08:00 yet
    world.clock.current = utc(2026, 3, 5, 8, 0)
    assert await world.engine.digests.send_due() == 1
    [post] = world.publisher.of_kind("digest")
    assert post.briefing_ids == [big_new.id, big_old.id, quiet.id]
    rows = world.store.deliveries(CHANNEL)
    assert {r.state for r in rows} == {DeliveryState.SENT}
    assert {r.message_ref for r in rows} == {post.message_ref}
    channel = world.store.get_channel(CHANNEL)
    assert channel is not None and channel.last_digest_at == utc(2026, 3, 5, 8, 0)
    world.clock.current = utc(2026, 3, 5, 8, 1)
    assert await world.engine.digests.send_due() == 0


async def test_missed_digest_goes_out_once_after_downtime(world: World) -> None:
    world.hold("Story before the outage")
    world.clock.current = utc(2026, 3, 8, 14, 0)  # down over three digest times
    assert await world.engine.digests.send_due() == 1
    assert await world.engine.digests.send_due() == 0
    assert len(world.publisher.of_kind("digest")) == 1


async def test_nothing_held_posts_nothing_but_uses_the_slot(world: World) -> None:
    world.clock.current = utc(2026, 3, 5, 8, 0)
    assert await world.engine.digests.send_due() == 0
    assert world.publisher.posts == []
    channel = world.store.get_channel(CHANNEL)
    assert channel is not None and channel.last_digest_at == utc(2026, 3, 5, 8, 0)
    # A story held later waits for the next day's digest.
    world.hold("Late story")
    world.clock.current = utc(2026, 3, 5, 20, 0)
    assert await world.engine.digests.send_due() == 0


async def test_a_digest_of_30_is_split_never_truncated(world: World) -> None:
    held = [world.hold(f"Harbour council item {n}", sources=1 + n % 4, hour=n) for n in range(30)]
    world.clock.current = utc(2026, 3, 5, 8, 0)
    assert await world.engine.digests.send_due() == 2
    first, second = world.publisher.of_kind("digest")
    assert len(first.briefing_ids) == DIGEST_MAX and len(second.briefing_ids) == 10
    # Every briefing shown once, in rank order across the parts.
    ranked = [b.id for b in rank_for_digest(held)]
    assert first.briefing_ids + second.briefing_ids == ranked
    rows = world.store.deliveries(CHANNEL)
    assert {r.state for r in rows} == {DeliveryState.SENT}
    refs = {r.briefing_id: r.message_ref for r in rows}
    assert {refs[b] for b in first.briefing_ids} == {first.message_ref}
    assert {refs[b] for b in second.briefing_ids} == {second.message_ref}
    assert not any("not in the digest" in (r.last_error or "") for r in rows)


async def test_a_kill_mid_digest_sends_each_part_once(world: World) -> None:
    """The process dies after the first part landed but before it was recorded as sent
    (and before the second was sent): the restarted service finds the first part by its
    key, sends only the second, and the next day's digest repeats nothing."""
    for n in range(25):
        world.hold(f"Ferry timetable change {n}", sources=1 + n % 3, hour=n)
    world.clock.current = utc(2026, 3, 5, 8, 0)

    class Killed(BaseException):
        pass

    real = {name: getattr(world.store, name) for name in ("finish_digest_part", "mark_delivery")}

    def die_before_recording(*args: object, **kwargs: object) -> int:
        raise Killed  # SIGKILL between "Slack has it" and "the outbox knows it"

    for name in real:
        setattr(world.store, name, die_before_recording)
    with pytest.raises(Killed):
        await world.engine.digests.send_due()
    for name, method in real.items():
        setattr(world.store, name, method)
    assert len(world.publisher.of_kind("digest")) == 1

    # A new process (no memory) on the same database, once the attempt has settled.
    restarted = RecordingPublisher()
    restarted.posts = list(world.publisher.posts)  # the platform still has the message
    world.engine.publishers["console"] = restarted
    world.clock.current += timedelta(seconds=world.engine.settings.delivery_settle + 1)
    assert await world.engine.digests.send_due() == 1
    parts = restarted.of_kind("digest")
    assert [len(p.briefing_ids) for p in parts] == [DIGEST_MAX, 5]
    shown = [b for p in parts for b in p.briefing_ids]
    assert len(shown) == len(set(shown)) == 25
    assert {r.state for r in world.store.deliveries(CHANNEL)} == {DeliveryState.SENT}
    world.clock.current = utc(2026, 3, 6, 8, 0)
    assert await world.engine.digests.send_due() == 0
    assert len(restarted.of_kind("digest")) == 2


async def test_retryable_failure_retries_on_the_next_pass(world: World) -> None:
    world.hold("Story")
    world.clock.current = utc(2026, 3, 5, 8, 0)
    world.publisher.fail_next.append(DeliveryError("rate limited", retryable=True))
    assert await world.engine.digests.send_due() == 0
    assert {r.state for r in world.store.deliveries(CHANNEL)} == {DeliveryState.SENDING}
    world.clock.current = utc(2026, 3, 5, 8, 1)
    assert await world.engine.digests.send_due() == 1
    assert {r.state for r in world.store.deliveries(CHANNEL)} == {DeliveryState.SENT}


async def test_permanent_failure_keeps_rows_for_the_next_digest(world: World) -> None:
    world.hold("Story")
    world.clock.current = utc(2026, 3, 5, 8, 0)
    world.publisher.fail_next.append(DeliveryError("channel archived", retryable=False))
    assert await world.engine.digests.send_due() == 0
    world.clock.current = utc(2026, 3, 5, 9, 0)
    assert await world.engine.digests.send_due() == 0  # not retried today
    assert len(world.store.held_deliveries(CHANNEL)) == 1
    world.clock.current = utc(2026, 3, 6, 8, 0)
    assert await world.engine.digests.send_due() == 1


async def test_digest_the_bot_cannot_post_pauses_the_channel_and_keeps_its_briefings(
    world: World,
) -> None:
    world.hold("Story")
    world.clock.current = utc(2026, 3, 5, 8, 0)
    world.publisher.fail_next.append(CannotPost("the bot lacks Send Messages here"))
    assert await world.engine.digests.send_due() == 0
    channel = world.store.get_channel(CHANNEL)
    assert channel is not None and channel.paused_reason == "the bot lacks Send Messages here"
    assert len(world.store.held_deliveries(CHANNEL)) == 1
    world.clock.current = utc(2026, 3, 6, 8, 0)  # fixed since: the next digest posts it
    assert await world.engine.digests.send_due() == 1
    channel = world.store.get_channel(CHANNEL)
    assert channel is not None and channel.paused_reason is None


async def test_realtime_channels_are_left_alone(world: World) -> None:
    world.hold("Story")
    channel = world.store.get_channel(CHANNEL)
    assert channel is not None
    world.store.save_channel(channel.model_copy(update={"mode": DeliveryMode.REALTIME}))
    world.clock.current = utc(2026, 3, 6, 8, 0)
    assert await world.engine.digests.send_due() == 0
