"""The pipeline end to end: local feeds and pages over real HTTP, a real SQLite store, the
real fetcher, parser, extractor, clusterer and condenser, and a recording publisher."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta

import pytest

from adapters.testing import RecordingPublisher
from bot.engine import Engine
from bot.errors import DeliveryError
from bot.models import DeliveryState
from bot.parse import parse_feed
from storage import SqliteStore
from storage.database import StoreRunner
from tests.support import pipeline
from tests.support.clock import FakeClock
from tests.support.http import LocalServer, Response
from tests.support.news import (
    CHANNEL,
    HARBOUR_FACTS,
    QUAKE_FACTS,
    START,
    Site,
    date,
    harbour_items,
    quake_items,
    rss,
)

clock, engine, publisher, site = pipeline.clock, pipeline.engine, pipeline.publisher, pipeline.site

# ------------------------------------------------------------------------ tests


async def test_feeds_in_briefings_out(
    engine: Engine, site: Site, publisher: RecordingPublisher
) -> None:
    url = site.feed("/one.xml", rss("Outlet One", quake_items(site) + harbour_items(site)))
    await engine.add_feed(CHANNEL, url, "Outlet One")

    report = await engine.poll_once()
    assert (report.feeds_polled, report.new_entries, report.failures) == (1, 2, 0)
    assert await engine.deliver_all() == 2

    posts = publisher.of_kind("post")
    assert {p.text for p in posts} == {
        "Magnitude 6.1 earthquake damages 240 homes in Varenna Alta",
        "Lowmere opens its rebuilt harbour wall",
    }
    quake = engine.store.get_briefing(posts[0].briefing_id or "")
    assert quake is not None
    # Bullets are sentences of the article page (not just the feed's one-line summary).
    page_text = " ".join(QUAKE_FACTS + HARBOUR_FACTS)
    assert len({b.text for b in quake.bullets}) == 3
    for bullet in quake.bullets:
        assert bullet.text.rstrip("…") in page_text
    assert [s.publisher for s in quake.sources] == ["Outlet One"]
    assert quake.sources[0].url and quake.sources[0].url.endswith("/a/quake.html")


async def test_second_poll_sends_validators_and_does_no_work_on_304(
    engine: Engine, site: Site, clock: FakeClock, local_server: LocalServer
) -> None:
    url = site.feed("/one.xml", rss("Outlet One", quake_items(site)))
    await engine.add_feed(CHANNEL, url)
    await engine.poll_once()
    clock.advance(seconds=601)
    report = await engine.poll_once()
    assert (report.feeds_polled, report.not_modified, report.new_entries) == (1, 1, 0)
    feed_requests = [r for r in local_server.requests if r.path == "/one.xml"]
    assert "if-none-match" in feed_requests[-1].headers


async def test_unchanged_body_without_validators_is_not_parsed_again(
    engine: Engine, site: Site, clock: FakeClock
) -> None:
    url = site.feed("/plain.xml", rss("Plain", quake_items(site)), etag=False)
    await engine.add_feed(CHANNEL, url)
    await engine.poll_once()
    clock.advance(seconds=601)
    report = await engine.poll_once()
    assert report.not_modified == 1 and report.new_entries == 0


async def test_changed_feed_briefs_only_the_new_entry(
    engine: Engine, site: Site, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    url = site.feed("/one.xml", rss("Outlet One", quake_items(site)))
    await engine.add_feed(CHANNEL, url)
    await engine.poll_once()
    await engine.deliver_all()
    site.feeds["/one.xml"] = rss("Outlet One", harbour_items(site) + quake_items(site))
    clock.advance(seconds=601)
    report = await engine.poll_once()
    assert report.new_entries == 1
    await engine.deliver_all()
    assert [p.text for p in publisher.of_kind("post")] == [
        "Magnitude 6.1 earthquake damages 240 homes in Varenna Alta",
        "Lowmere opens its rebuilt harbour wall",
    ]


async def test_new_feed_does_not_flood_its_channel(
    engine: Engine, site: Site, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    stories = [
        ("Tram line to Eastfield opens", "Trams began running to Eastfield on Monday."),
        ("Orchard growers report record pear harvest", "Growers picked 41,000 tonnes."),
        ("Library lends its millionth e-book", "The city library hit the mark on Sunday."),
        ("Stadium roof repairs finish early", "Crews completed the roof in nine weeks."),
        ("Chess prodigy, 12, wins national title", "She won all nine of her games."),
        ("Bakery chain recalls rye loaves", "Labels omitted a sesame warning."),
        ("Volcano observatory raises alert level", "Tremors rose sharply overnight."),
        ("Rowing club celebrates its centenary", "Members raced a 1926 replica boat."),
    ]
    items = [
        {
            "title": title,
            "link": f"http://127.0.0.1:9/none/{i}",  # nothing listens: the feed text is used
            "guid": f"item-{i}",
            "date": date(i + 1),
            "summary": f"{summary} {title} was confirmed by officials.",
        }
        for i, (title, summary) in enumerate(stories)
    ]
    url = site.feed("/backlog.xml", rss("Backlog Gazette", items))
    await engine.add_feed(CHANNEL, url)
    report = await engine.poll_once()
    assert report.new_entries == 8  # all recorded as seen …
    assert report.briefed_entries == 3  # … only the newest three briefed
    await engine.deliver_all()
    assert [p.text for p in publisher.of_kind("post")] == [title for title, _ in stories[:3]]
    # Later polls brief every new entry; the backlog never comes back.
    new = dict(items[0], title="Ferry timetable adds a night crossing", guid="item-new")
    new["summary"] = "The night ferry leaves at 23:40 from March."
    site.feeds["/backlog.xml"] = rss("Backlog Gazette", [new, *items])
    clock.advance(seconds=601)
    report = await engine.poll_once()
    assert (report.new_entries, report.briefed_entries) == (1, 1)


async def test_http_error_is_recorded_with_backoff_and_nothing_is_lost(
    engine: Engine, site: Site, clock: FakeClock, local_server: LocalServer
) -> None:
    url = site.feed("/one.xml", rss("Outlet One", quake_items(site)))
    await engine.add_feed(CHANNEL, url)
    await engine.poll_once()
    local_server.route("/one.xml", Response(404, "gone"))
    clock.advance(seconds=601)
    report = await engine.poll_once()
    assert report.failures == 1
    (feed,) = engine.store.list_feeds()
    assert feed.consecutive_failures == 1
    assert feed.last_error and "404" in feed.last_error
    assert feed.next_poll_at > clock.now() + timedelta(seconds=600)  # backed off
    assert len(engine.store.latest_briefings(limit=10)) == 1  # what was stored stays


async def test_timeout_is_a_clear_failure(engine: Engine, local_server: LocalServer) -> None:
    url = local_server.route("/slow.xml", Response(200, "<rss/>", delay=3.0))
    await engine.add_feed(CHANNEL, url)
    report = await engine.poll_once()
    assert report.failures == 1
    assert "timed out" in report.errors[0] or "timeout" in report.errors[0].lower()


async def test_unreachable_page_falls_back_to_the_feed_text(
    engine: Engine, site: Site, publisher: RecordingPublisher
) -> None:
    summary = " ".join(HARBOUR_FACTS)
    items = [
        {
            "title": "Lowmere opens its rebuilt harbour wall",
            "link": site.server.url("/missing.html"),  # 404
            "guid": "h",
            "date": date(1),
            "summary": summary,
        }
    ]
    url = site.feed("/one.xml", rss("Outlet One", items))
    await engine.add_feed(CHANNEL, url)
    await engine.poll_once()
    (briefing,) = engine.store.latest_briefings(limit=5)
    for bullet in briefing.bullets:
        assert bullet.text.rstrip("…") in summary


async def test_same_story_from_two_feeds_is_one_briefing_then_an_update(
    engine: Engine, site: Site, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    first = site.feed("/one.xml", rss("Outlet One", quake_items(site)))
    await engine.add_feed(CHANNEL, first, "Outlet One")
    await engine.poll_once()
    await engine.deliver_all()

    reworded = [
        "Hundreds of homes were damaged when a 6.1-magnitude quake hit Varenna Alta early on "
        "Monday, leaving 18,000 people without power.",
        "Fourteen people needed hospital treatment, officials said, and there were no deaths.",
        "Inspectors shut the Varenna viaduct after they found cracks in two piers.",
        "The regional government will decide on Friday whether to ask for national emergency "
        "funds.",
    ]
    items = [
        {
            "title": "Varenna Alta earthquake: 6.1 quake leaves 18,000 without power",
            "link": site.page("/b/quake.html", "Varenna Alta earthquake", reworded),
            "guid": "two-quake",
            "date": date(1),
            "summary": reworded[0],
        }
    ]
    second = site.feed("/two.xml", rss("Outlet Two", items))
    await engine.add_feed(CHANNEL, second, "Outlet Two")
    clock.advance(seconds=60)
    await engine.poll_once()
    await engine.deliver_all()

    assert len(publisher.of_kind("post")) == 1, "the same story must not be posted twice"
    (update,) = publisher.of_kind("update")
    assert update.message_ref == publisher.of_kind("post")[0].message_ref
    assert update.sources == 2
    briefing = engine.store.get_briefing(update.briefing_id or "")
    assert briefing is not None
    assert [s.publisher for s in briefing.sources] == ["Outlet One", "Outlet Two"]
    assert briefing.revision == 2


async def test_platform_errors_retry_then_deliver_exactly_once(
    engine: Engine, site: Site, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    url = site.feed("/one.xml", rss("Outlet One", quake_items(site)))
    await engine.add_feed(CHANNEL, url)
    await engine.poll_once()
    publisher.fail_next = [DeliveryError("HTTP 503 from platform", retryable=True)]
    assert await engine.deliver_once() == 0
    (row,) = engine.store.deliveries()
    assert row.state == DeliveryState.PENDING and row.not_before is not None
    assert await engine.deliver_once() == 0  # not before its retry time
    clock.advance(seconds=30)
    assert await engine.deliver_all() == 1
    assert await engine.deliver_all() == 0
    assert len(publisher.posts) == 1


async def test_permanent_error_is_recorded_not_retried(
    engine: Engine, site: Site, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    url = site.feed("/one.xml", rss("Outlet One", quake_items(site)))
    await engine.add_feed(CHANNEL, url)
    await engine.poll_once()
    publisher.fail_next = [DeliveryError("the bot is not in #newsroom", retryable=False)]
    await engine.deliver_all()
    (row,) = engine.store.deliveries()
    assert row.state == DeliveryState.FAILED and row.last_error == "the bot is not in #newsroom"


async def test_interrupted_send_is_not_posted_twice(
    engine: Engine, site: Site, publisher: RecordingPublisher
) -> None:
    url = site.feed("/one.xml", rss("Outlet One", quake_items(site)))
    await engine.add_feed(CHANNEL, url)
    await engine.poll_once()
    await engine.deliver_all()
    (row,) = engine.store.deliveries()
    # As if the process died after the platform accepted the post but before the
    # outbox recorded it: the row is left "sending".
    engine.store.mark_delivery(row.id, DeliveryState.SENDING, now=START)
    assert await engine.deliver_all() == 0
    assert len(publisher.of_kind("post")) == 1
    (row,) = engine.store.deliveries()
    assert row.state == DeliveryState.SENT


async def test_entries_stored_but_not_briefed_are_resumed_after_a_crash(
    engine: Engine, site: Site, publisher: RecordingPublisher
) -> None:
    """A process killed between storing entries and briefing them loses nothing: the
    next start briefs what is pending, once; the flood guard's backlog stays seen."""
    url = site.feed("/one.xml", rss("Outlet One", quake_items(site) + harbour_items(site)))
    feed, _ = await engine.add_feed(CHANNEL, url, "Outlet One")
    fetched = await engine.fetcher.fetch(url)
    parsed = parse_feed(fetched.body, url=url)
    quake_key = parsed.entries[0].key
    # As the poll does it, then "killed": stored, the harbour entry as backlog.
    stored = engine.store.add_entries(feed.id, parsed.entries, START, brief={quake_key})
    assert len(stored) == 2
    assert engine.store.latest_briefings(limit=5) == []

    report = await engine.ingest.resume_pending()
    assert report.briefed_entries == 1
    await engine.deliver_all()
    assert [p.text for p in publisher.of_kind("post")] == [
        "Magnitude 6.1 earthquake damages 240 homes in Varenna Alta"
    ]
    assert engine.store.pending_entries(10) == []
    assert (await engine.ingest.resume_pending()).briefed_entries == 0  # nothing twice


async def test_entry_placed_in_a_story_before_the_crash_keeps_its_story(
    engine: Engine, site: Site, publisher: RecordingPublisher
) -> None:
    url = site.feed("/one.xml", rss("Outlet One", quake_items(site)))
    await engine.add_feed(CHANNEL, url)
    await engine.poll_once()
    await engine.deliver_all()
    assert engine.store.pending_entries(10) == []  # briefed entries are not pending
    # Mark it pending again, as if the process died after placing it in its story.
    engine.store.db.execute("UPDATE entries SET pending = 1")
    engine.store.db.conn.commit()
    await engine.ingest.resume_pending()
    await engine.deliver_all()
    assert len(engine.store.latest_briefings(limit=5)) == 1
    assert len(publisher.of_kind("post")) == 1


async def test_a_command_goes_ahead_of_the_polls_queued_store_calls() -> None:
    # The store's one thread is busy and five poll writes wait behind it; a command's
    # call is run next, and everything queued still runs, in order, nothing lost.
    runner = StoreRunner(SqliteStore.open(":memory:"))
    busy, ran = threading.Event(), []

    def block() -> None:
        busy.wait(5)
        ran.append("running")

    try:
        first = asyncio.create_task(runner(block))
        await asyncio.sleep(0.05)
        queued = [asyncio.create_task(runner(ran.append, f"poll {n}")) for n in range(5)]
        await asyncio.sleep(0.05)
        command = asyncio.create_task(runner.first(ran.append, "command"))
        await asyncio.sleep(0.05)
        busy.set()
        await asyncio.gather(first, *queued, command)
        assert ran == ["running", "command", *(f"poll {n}" for n in range(5))]
    finally:
        busy.set()
        runner.close()
        runner.store.close()


async def test_the_store_runner_hands_back_errors_and_survives_a_cancelled_caller() -> None:
    runner = StoreRunner(SqliteStore.open(":memory:"))
    try:
        with pytest.raises(ZeroDivisionError):
            await runner(lambda: 1 / 0)
        slow = asyncio.create_task(runner(time.sleep, 0.1))
        await asyncio.sleep(0.01)
        slow.cancel()  # the caller gives up; the call finishes on the thread regardless
        with pytest.raises(asyncio.CancelledError):
            await slow
        assert await runner.first(lambda: "still serving") == "still serving"
    finally:
        runner.close()
        runner.store.close()
    with pytest.raises(RuntimeError, match="closed"):
        await runner(lambda: None)


async def test_old_text_is_forgotten_but_briefings_and_keys_stay(
    engine: Engine, site: Site, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    # A team runs this for years: the full text of quiet stories' items is dropped after
    # SIGNALDESK_KEEP_TEXT_DAYS, while briefings stay whole and searchable and an item
    # the feed still lists is never taken for new.
    url = site.feed("/one.xml", rss("Outlet One", quake_items(site) + harbour_items(site)))
    await engine.add_feed(CHANNEL, url, "Outlet One")
    await engine.poll_once()
    await engine.deliver_all()
    (quake_post, _) = publisher.of_kind("post")
    store = engine.store
    assert isinstance(store, SqliteStore)

    def with_text() -> int:
        return int(
            store.db.execute(
                "SELECT count(*) FROM entries WHERE article_text IS NOT NULL "
                "OR summary != '' OR content != ''"
            ).fetchone()[0]
        )

    assert with_text() == 2
    clock.advance(days=engine.settings.keep_text_days - 1)
    assert await engine.scheduler.housekeep() == 0  # not quiet for long enough yet
    clock.advance(days=2)

    stop = asyncio.Event()
    poller = asyncio.create_task(engine.poll_forever(stop, tick=0.05))
    for _ in range(100):  # the scheduler starts housekeeping on its first pass
        if with_text() == 0:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await poller
    assert with_text() == 0

    briefing = store.get_briefing(quake_post.briefing_id or "")
    assert briefing is not None and len(briefing.bullets) == 3
    assert [b.id for b in store.search_briefings('"Varenna"', limit=5)] == [briefing.id]
    # The feed changes (a new title) but still lists both items: nothing is new.
    site.feed("/one.xml", rss("Outlet One, renamed", quake_items(site) + harbour_items(site)))
    clock.advance(hours=1)
    report = await engine.poll_once()
    assert (report.feeds_polled, report.not_modified, report.new_entries) == (1, 0, 0)
