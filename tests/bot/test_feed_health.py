"""Failing feeds: backoff that never gives up, Retry-After honoured, and each channel told
once that a feed is failing and once that it works again — also across restarts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from adapters.testing import RecordingPublisher
from bot.engine import Engine
from bot.errors import DeliveryError
from bot.fetch import Fetcher
from bot.models import DeliveryState
from bot.settings import Settings, load_settings
from storage import SqliteStore
from storage.database import StoreRunner
from tests.support.clock import FakeClock
from tests.support.http import LocalServer, Response
from tests.support.news import START, Site, quake_items, rss

CHANNELS = ["console:newsroom", "console:desk"]
HOUR = 3600.0


def health_settings(**changes: object) -> Settings:
    return load_settings(
        database=":memory:",
        allow_private_networks=True,
        fetch_timeout=2.0,
        fetch_pages=False,
        poll_interval=600,
        max_backoff=6 * 3600,
        failure_notice_after=3,
        **changes,
    )


@pytest.fixture
def store() -> AsyncIterator[SqliteStore]:
    store = SqliteStore.open(":memory:")
    yield store
    store.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


def new_engine(store: SqliteStore, clock: FakeClock, publisher: RecordingPublisher) -> Engine:
    settings = health_settings()
    return Engine(
        settings,
        store,
        fetcher=Fetcher(settings),
        publishers={"console": publisher},
        clock=clock,
        runner=StoreRunner(store),
    )


async def poll_when_due(engine: Engine, clock: FakeClock) -> None:
    """Jump to the feed's next poll time, poll, and deliver what that queued."""
    (feed,) = engine.store.list_feeds()
    clock.current = max(clock.current, feed.next_poll_at)
    await engine.poll_once()
    await engine.deliver_all()


async def test_channels_are_told_once_when_failing_and_once_when_it_works_again(
    local_server: LocalServer, store: SqliteStore, clock: FakeClock
) -> None:
    site = Site(local_server)
    publisher = RecordingPublisher()
    engine = new_engine(store, clock, publisher)
    try:
        url = site.feed("/one.xml", rss("Outlet One", quake_items(site)))
        for channel in CHANNELS:
            await engine.add_feed(channel, url, "Outlet One")
        await poll_when_due(engine, clock)
        local_server.route("/one.xml", Response(403, "forbidden"))
        failed_at = None
        for failure in range(1, 8):
            await poll_when_due(engine, clock)
            failed_at = failed_at or clock.now()
            notices = publisher.of_kind("text")
            if failure < 3:
                assert notices == [], "two failures are not worth a message yet"
        notices = publisher.of_kind("text")
        assert sorted(n.channel_id for n in notices) == sorted(CHANNELS), "once per channel"
        assert notices[0].text == (
            f"feed Outlet One (feed 1) has failed since {failed_at:%Y-%m-%d %H:%M} UTC: "
            "HTTP 403 Forbidden from 127.0.0.1. SignalDesk keeps retrying, less often as it "
            "goes on; /brief feeds shows its health."
        )

        local_server.route("/one.xml", Response(200, rss("Outlet One", quake_items(site))))
        for _ in range(3):
            await poll_when_due(engine, clock)
        recovered = [n for n in publisher.of_kind("text") if "working again" in n.text]
        assert sorted(n.channel_id for n in recovered) == sorted(CHANNELS)
        assert recovered[0].text == "feed Outlet One (feed 1) is working again."
        assert len(publisher.of_kind("text")) == 4
        assert {n.state for n in store.notices()} == {DeliveryState.SENT}
    finally:
        await engine.aclose()


async def test_a_notice_is_never_repeated_after_a_restart(
    local_server: LocalServer, store: SqliteStore, clock: FakeClock
) -> None:
    site = Site(local_server)
    first = RecordingPublisher()
    engine = new_engine(store, clock, first)
    url = site.feed("/one.xml", rss("Outlet One", quake_items(site)))
    await engine.add_feed(CHANNELS[0], url)
    await poll_when_due(engine, clock)
    local_server.route("/one.xml", Response(500, "oops"))
    for _ in range(3):
        (feed,) = store.list_feeds()
        clock.current = feed.next_poll_at
        await engine.poll_once()
    # The notice is queued, but the platform is down when it is first sent ...
    first.fail_next = [DeliveryError("HTTP 503 from platform", retryable=True)]
    await engine.deliver_once()
    assert first.of_kind("text") == []
    await engine.aclose()

    # ... and the process restarts: the queued notice goes out once, the feed keeps
    # failing, and no second "failing" notice is queued.
    second = RecordingPublisher()
    engine = new_engine(store, clock, second)
    try:
        clock.advance(minutes=5)
        for _ in range(3):
            await poll_when_due(engine, clock)
        assert [n.text.split(":")[0] for n in second.of_kind("text")] == [
            f"feed Outlet One (feed 1) has failed since {START:%Y-%m-%d %H}"
        ]
        assert len(store.notices()) == 1
    finally:
        await engine.aclose()


async def test_backoff_doubles_to_the_cap_and_never_gives_up(
    local_server: LocalServer, store: SqliteStore, clock: FakeClock
) -> None:
    publisher = RecordingPublisher()
    engine = new_engine(store, clock, publisher)
    try:
        url = local_server.route("/down.xml", Response(503, "down"))
        await engine.add_feed(CHANNELS[0], url)
        waits = []
        for _ in range(12):
            (feed,) = store.list_feeds()
            clock.current = feed.next_poll_at
            report = await engine.poll_once()
            assert report.feeds_polled == 1, "a failing feed is still polled when due"
            (feed,) = store.list_feeds()
            waits.append((feed.next_poll_at - clock.now()).total_seconds())
        assert waits[:5] == [1200, 2400, 4800, 9600, 19200]  # the interval, doubling
        assert waits[5:] == [6 * HOUR] * 7  # then the cap, for as long as it takes
        assert feed.consecutive_failures == 12
    finally:
        await engine.aclose()


async def test_retry_after_is_honoured_up_to_the_cap(
    local_server: LocalServer, store: SqliteStore, clock: FakeClock
) -> None:
    engine = new_engine(store, clock, RecordingPublisher())
    try:
        url = local_server.route("/busy.xml", Response(429, "slow down", {"Retry-After": "7200"}))
        await engine.add_feed(CHANNELS[0], url)
        await engine.poll_once()
        (feed,) = store.list_feeds()
        assert feed.next_poll_at - clock.now() == timedelta(seconds=7200)
        local_server.route("/busy.xml", Response(503, "", {"Retry-After": "999999"}))
        clock.current = feed.next_poll_at
        await engine.poll_once()
        (feed,) = store.list_feeds()
        assert feed.next_poll_at - clock.now() == timedelta(hours=6)  # capped
    finally:
        await engine.aclose()


class Killed(BaseException):
    """SIGKILL, as far as the code under test can tell."""


class DyingPublisher(RecordingPublisher):
    """Dies in ``post_text``: before the notice is handed over, or just after."""

    def __init__(self, *, after: bool) -> None:
        super().__init__()
        self.after = after

    async def post_text(self, channel, text, **kwargs):  # type: ignore[no-untyped-def]
        if self.after:
            await super().post_text(channel, text, **kwargs)
        raise Killed


@pytest.mark.parametrize("after", [False, True], ids=["before the send", "after the send"])
async def test_a_notice_cut_off_by_a_kill_is_sent_exactly_once(
    local_server: LocalServer, store: SqliteStore, clock: FakeClock, after: bool
) -> None:
    site = Site(local_server)
    dying = DyingPublisher(after=after)
    engine = new_engine(store, clock, dying)
    url = site.feed("/one.xml", rss("Outlet One", quake_items(site)))
    await engine.add_feed(CHANNELS[0], url)
    await poll_when_due(engine, clock)
    local_server.route("/one.xml", Response(500, "oops"))
    for _ in range(3):
        (feed,) = store.list_feeds()
        clock.current = feed.next_poll_at
        await engine.poll_once()
    with pytest.raises(Killed):
        await engine.deliver_once()
    await engine.aclose()

    # The restarted process: the platform still has whatever was posted before the kill.
    restarted = RecordingPublisher()
    restarted.posts = list(dying.posts)
    engine = new_engine(store, clock, restarted)
    try:
        clock.advance(seconds=engine.settings.delivery_settle + 1)
        await engine.deliver_all()
        [notice] = restarted.of_kind("text")
        assert notice.text.startswith("feed Outlet One (feed 1) has failed since")
        assert [n.state for n in store.notices()] == [DeliveryState.SENT]
    finally:
        await engine.aclose()
