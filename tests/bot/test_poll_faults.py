"""Faults on the poll path never strand work or stop the schedule: one entry's failure is
its own (logged with its id, retried a few times, then visibly failed), a response shaped
to break the reader is one clear fetch failure, a server's absurd wait is clamped, a wall
clock set back a day does not stop polling, and a database locked at start-up is retried
until it frees, with a line per attempt and a liveness the health check can read."""

from __future__ import annotations

import asyncio
import gzip
import logging
import sqlite3
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from adapters.testing import RecordingPublisher
from bot.commands import Asker
from bot.condense import ExtractiveCondenser
from bot.desk import commands_for
from bot.engine import ENTRY_ATTEMPTS, Engine
from bot.errors import FetchError
from bot.fetch import Fetcher, parse_max_age, parse_retry_after
from bot.models import Briefing, FeedEntry, SourceText
from bot.schedule import MAX_SERVER_DELAY, Heartbeat
from bot.settings import Settings, load_settings
from storage import SqliteStore
from storage.database import StoreRunner
from storage.sqlite import open_database
from tests.support.clock import FakeClock
from tests.support.http import LocalServer, Response
from tests.support.news import QUAKE_FACTS, START, Site, date, rss

CHANNEL = "console:newsroom"
ADMIN = Asker(CHANNEL, "ada", is_admin=True)


def poll_settings(**changes: object) -> Settings:
    base: dict[str, object] = {
        "database": ":memory:",
        "allow_private_networks": True,
        "fetch_timeout": 2.0,
        "fetch_pages": False,
        "poll_interval": 600,
        "first_poll_limit": 5,
    }
    return load_settings(**(base | changes))


class FakeMonotonic:
    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def store() -> AsyncIterator[SqliteStore]:
    store = SqliteStore.open(":memory:")
    yield store
    store.close()


def three_items(site: Site, first_link: str | None = None) -> list[dict[str, str]]:
    titles = [
        "Port of Lowmere shuts two berths after crane collapse",
        "Varenna Alta council approves 12 million euro quake repair fund",
        "Regional rail strike called off after overnight pay deal",
    ]
    items = []
    for n, title in enumerate(titles):
        link = site.server.url(f"/news/{n}.html")
        items.append(
            {
                "title": title,
                "link": first_link if (n == 0 and first_link) else link,
                "guid": f"wire-{n}",
                "date": date(n + 1),
                "summary": f"{title}. Officials gave details on Tuesday. " + QUAKE_FACTS[n],
            }
        )
    return items


class BrokenOnCranes(ExtractiveCondenser):
    """A condenser with a bug that only one story's text triggers."""

    def condense(self, briefing_id: str, material: Sequence[SourceText], now: datetime) -> Briefing:
        if any("crane" in m.source.title for m in material):
            raise RuntimeError("condenser bug: list index out of range")
        return super().condense(briefing_id, material, now)


# ------------------------------------------------------ one entry's failure is its own


async def test_a_failing_entry_does_not_strand_the_rest_of_its_poll(
    local_server: LocalServer,
    store: SqliteStore,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    site = Site(local_server)
    settings = poll_settings()
    engine = Engine(
        settings,
        store,
        fetcher=Fetcher(settings),
        publishers={"console": RecordingPublisher()},
        clock=clock,
        condenser=BrokenOnCranes(),
        runner=StoreRunner(store),
    )
    try:
        url = site.feed("/wire.xml", rss("Wire", three_items(site)))
        await engine.add_feed(CHANNEL, url, "Wire")
        with caplog.at_level(logging.WARNING, "signaldesk.engine"):
            report = await engine.poll_once()
        assert report.new_entries == 3
        assert report.briefed_entries == 2, "the entries after the failing one are briefed"
        (bad,) = store.pending_entries(10)
        assert "crane" in bad.title
        assert (
            f"briefing entry {bad.id} of feed" in caplog.text and "will be retried" in caplog.text
        )

        # Retried a bounded number of times (at start and by the retry pass), then failed:
        # logged, no longer pending, and counted in the feed's health.
        for _ in range(ENTRY_ATTEMPTS + 2):
            with caplog.at_level(logging.WARNING, "signaldesk.engine"):
                await engine.ingest.resume_pending()
        assert store.pending_entries(10) == []
        assert caplog.text.count(f"briefing entry {bad.id} of feed") == ENTRY_ATTEMPTS
        assert f"failed {ENTRY_ATTEMPTS} times; marked failed" in caplog.text
        (feed,) = store.list_feeds()
        assert feed.failed_entries == 1
        assert store.failed_entries(feed.id) == [
            (bad.id, "RuntimeError: condenser bug: list index out of range")
        ]
        reply = await commands_for(engine).handle("feeds", ADMIN)
        assert "1 item could not be briefed" in reply.text
    finally:
        await engine.aclose()


async def test_the_retry_pass_leaves_entries_a_poll_is_briefing_alone(
    local_server: LocalServer, store: SqliteStore, clock: FakeClock
) -> None:
    site = Site(local_server)
    settings = poll_settings()
    publisher = RecordingPublisher()
    engine = Engine(
        settings,
        store,
        fetcher=Fetcher(settings),
        publishers={"console": publisher},
        clock=clock,
        runner=StoreRunner(store),
    )
    try:
        url = site.feed("/wire.xml", rss("Wire", three_items(site)))
        await engine.add_feed(CHANNEL, url, "Wire")
        seen: list[int] = []
        resumed: list[int] = []
        original = engine.briefer.process_entry

        async def process(entry):  # type: ignore[no-untyped-def]
            seen.append(entry.id)
            if len(seen) == 1:  # a retry pass comes round while the poll is at work
                resumed.append((await engine.ingest.resume_pending()).briefed_entries)
            return await original(entry)

        engine.briefer.process_entry = process  # type: ignore[method-assign]
        report = await engine.poll_once()
        assert report.briefed_entries == 3 and resumed == [0]
        assert sorted(seen) == sorted(set(seen)), "no entry is briefed twice"
        await engine.deliver_all()
        assert [p.kind for p in publisher.posts].count("update") == 0
    finally:
        await engine.aclose()


def nested_gzip(data: bytes, layers: int) -> bytes:
    for _ in range(layers):
        data = gzip.compress(data, compresslevel=1)
    return data


async def test_an_article_in_a_thousand_gzip_layers_is_one_clear_failure(
    local_server: LocalServer, store: SqliteStore, clock: FakeClock
) -> None:
    page = b"<html><body><p>Cranes at the port.</p></body></html>"
    bomb_url = local_server.route(
        "/layers.html",
        Response(
            200,
            nested_gzip(page, 1000),
            {"Content-Type": "text/html", "Content-Encoding": ", ".join(["gzip"] * 1000)},
        ),
    )
    settings = poll_settings(fetch_pages=True)
    async with Fetcher(settings) as fetcher:
        with pytest.raises(FetchError, match="1000 layers of encoding"):
            await fetcher.fetch_page(bomb_url)
        # Two honest layers still decode (the decoder chain is iterative now).
        two = local_server.route(
            "/two.html",
            Response(200, nested_gzip(page, 2), {"Content-Encoding": "gzip, gzip"}),
        )
        assert (await fetcher.fetch_page(two)).body == page

    site = Site(local_server)
    engine = Engine(
        settings,
        store,
        fetcher=Fetcher(settings),
        publishers={"console": RecordingPublisher()},
        clock=clock,
        runner=StoreRunner(store),
    )
    try:
        url = site.feed("/wire.xml", rss("Wire", three_items(site, first_link=bomb_url)))
        await engine.add_feed(CHANNEL, url, "Wire")
        report = await engine.poll_once()
        assert report.briefed_entries == 3  # the first from the feed's own text
        assert store.pending_entries(10) == []
    finally:
        await engine.aclose()


# ------------------------------------------------------------- absurd server waits


def test_retry_after_and_max_age_are_clamped_and_never_raise() -> None:
    assert parse_retry_after("99999999999999") == MAX_SERVER_DELAY
    assert parse_retry_after("9" * 400) is None  # not a delay anyone means
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("²") is None  # str.isdigit() says yes; float() would raise
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT") == MAX_SERVER_DELAY
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT") == 0.0
    assert parse_max_age("max-age=99999999999999999999") == int(MAX_SERVER_DELAY)
    assert parse_max_age("public, max-age=¹²") is None
    assert parse_max_age("max-age=300") == 300


@pytest.mark.parametrize("retry_after", ["99999999999999", "1000000000"])
async def test_a_huge_retry_after_on_a_200_polls_again_within_a_day(
    local_server: LocalServer, store: SqliteStore, clock: FakeClock, retry_after: str
) -> None:
    site = Site(local_server)
    settings = poll_settings()
    engine = Engine(
        settings,
        store,
        fetcher=Fetcher(settings),
        publishers={"console": RecordingPublisher()},
        clock=clock,
        runner=StoreRunner(store),
    )
    try:
        body = rss("Wire", three_items(site))
        url = local_server.route(
            "/wire.xml",
            Response(
                200,
                body,
                {
                    "Content-Type": "application/rss+xml",
                    "Retry-After": retry_after,
                    "Cache-Control": "max-age=99999999999999999999",
                },
            ),
        )
        await engine.add_feed(CHANNEL, url, "Wire")
        report = await engine.poll_once()
        assert report.briefed_entries == 3 and report.errors == []
        (feed,) = store.list_feeds()
        assert feed.next_poll_at - clock.now() <= timedelta(seconds=MAX_SERVER_DELAY)
        assert feed.consecutive_failures == 0
    finally:
        await engine.aclose()


# ------------------------------------------------------------------- clock jumps


async def test_a_wall_clock_set_back_a_day_does_not_stop_polling(
    local_server: LocalServer, store: SqliteStore, clock: FakeClock
) -> None:
    site = Site(local_server)
    settings = poll_settings()
    mono = FakeMonotonic()
    engine = Engine(
        settings,
        store,
        fetcher=Fetcher(settings),
        publishers={"console": RecordingPublisher()},
        clock=clock,
        monotonic=mono,
        runner=StoreRunner(store),
    )
    try:
        url = site.feed("/wire.xml", rss("Wire", three_items(site)))
        await engine.add_feed(CHANNEL, url, "Wire")
        assert (await engine.poll_once()).feeds_polled == 1
        clock.advance(seconds=600)
        mono.value += 600
        assert (await engine.poll_once()).feeds_polled == 1  # due again: the cadence
        # NTP (or an operator) sets the wall clock back a day; ten real minutes pass.
        clock.advance(days=-1, seconds=600)
        mono.value += 600
        assert (await engine.poll_once()).feeds_polled == 1
        (feed,) = store.list_feeds()
        assert feed.next_poll_at - clock.now() == timedelta(seconds=600)
        # Forward a day: not every feed at once, the same cadence.
        clock.advance(days=1, seconds=300)
        mono.value += 300
        assert (await engine.poll_once()).feeds_polled == 0
        clock.advance(seconds=300)
        mono.value += 300
        assert (await engine.poll_once()).feeds_polled == 1
    finally:
        await engine.aclose()


async def test_a_poll_planned_decades_ahead_is_brought_forward_at_start(
    store: SqliteStore, clock: FakeClock
) -> None:
    settings = poll_settings()
    engine = Engine(
        settings,
        store,
        fetcher=Fetcher(settings),
        publishers={},
        clock=clock,
        runner=StoreRunner(store),
    )
    try:
        feed, _ = await engine.add_feed(CHANNEL, "http://127.0.0.1:9/wire.xml", "Wire")
        store.db.execute(
            "UPDATE feeds SET next_poll_at = ? WHERE id = ?",
            ["2058-03-01T00:00:00.000000+00:00", feed.id],
        )
        assert await engine.start(asyncio.Event())
        (feed,) = store.list_feeds()
        assert feed.next_poll_at - clock.now() <= timedelta(days=1, hours=1)
    finally:
        await engine.aclose()


# --------------------------------------------------------- start-up and liveness


async def test_a_database_locked_at_start_is_retried_until_it_frees(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "live.db"
    store = SqliteStore(open_database(path, timeout=0.05))
    settings = poll_settings(database=str(path))
    engine = Engine(
        settings,
        store,
        fetcher=Fetcher(settings),
        publishers={"console": RecordingPublisher()},
        clock=clock,
        runner=StoreRunner(store),
    )
    engine.startup_backoff = (0.01, 0.05)
    feed, _ = await engine.add_feed(CHANNEL, "http://127.0.0.1:9/wire.xml", "Wire")
    # Stored before the last stop, not briefed yet: start-up resumes it (a write).
    entry = FeedEntry(
        guid="wire-1",
        title="Regional rail strike called off after overnight pay deal",
        summary="Unions called off Thursday's regional rail strike after an overnight "
        "pay deal with the operator, which offered a 4.5 percent rise.",
    )
    store.add_entries(feed.id, [entry], START)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process in the middle of a long write
    stop = asyncio.Event()
    assert not engine.alive and engine.last_tick is None
    with caplog.at_level(logging.INFO, "signaldesk.engine"):
        task = asyncio.create_task(engine.run(stop, tick=0.01))
        try:
            for _ in range(500):
                if caplog.text.count("engine start (attempt") >= 3:
                    break
                await asyncio.sleep(0.01)
            assert "engine start (attempt 2) failed: database" in caplog.text
            assert "locked" in caplog.text
            assert not task.done(), "the engine keeps trying"
            assert not engine.alive
            # The channel is told, not only the log: /brief feeds says polling is stuck.
            handler = commands_for(engine)
            stuck = await handler.handle("feeds", ADMIN)
            assert "SignalDesk cannot check feeds" in stuck.text, stuck.text
            assert "locked" in stuck.text
            holder.execute("ROLLBACK")
            for _ in range(500):
                if engine.last_tick is not None and not await engine.db(store.pending_entries, 10):
                    break
                await asyncio.sleep(0.01)
            assert await engine.db(store.pending_entries, 10) == [], "briefed once it frees"
            assert engine.alive and engine.last_tick is not None
            assert "engine started after" in caplog.text
            working = await handler.handle("feeds", ADMIN)
            assert "cannot check feeds" not in working.text, working.text
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)
            holder.close()
            await engine.aclose()
            store.close()


async def test_a_full_disk_at_start_is_retried_until_space_is_freed(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "live.db"
    store = SqliteStore(open_database(path, timeout=0.05))
    settings = poll_settings(database=str(path))
    engine = Engine(
        settings,
        store,
        fetcher=Fetcher(settings),
        publishers={"console": RecordingPublisher()},
        clock=clock,
        runner=StoreRunner(store),
    )
    engine.startup_backoff = (0.01, 0.05)
    feed, _ = await engine.add_feed(CHANNEL, "http://127.0.0.1:9/wire.xml", "Wire")
    entry = FeedEntry(
        guid="wire-2",
        title="Harbour pilots end overtime ban after talks",
        summary="Harbour pilots ended a two-week overtime ban on Monday after talks with "
        "the port authority produced a new rota. " * 200,
    )
    store.add_entries(feed.id, [entry], START)
    # The disk fills: the database cannot grow by a page.
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages}")
    stop = asyncio.Event()
    with caplog.at_level(logging.INFO, "signaldesk.engine"):
        task = asyncio.create_task(engine.run(stop, tick=0.01))
        try:
            for _ in range(500):
                if caplog.text.count("engine start (attempt") >= 2:
                    break
                await asyncio.sleep(0.01)
            assert "engine start (attempt 2) failed: database" in caplog.text
            assert "disk is full" in caplog.text and not task.done()
            # Space is freed: the store's own thread lifts the limit, as the disk would.
            await engine.db.first(store.db.execute, "PRAGMA max_page_count = 1073741823")
            for _ in range(500):
                if engine.alive and not await engine.db(store.pending_entries, 10):
                    break
                await asyncio.sleep(0.01)
            assert await engine.db(store.pending_entries, 10) == [] and engine.alive
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)
            await engine.aclose()
            store.close()


def test_liveness_goes_stale_when_passes_stop() -> None:
    mono = FakeMonotonic()
    beat = Heartbeat(monotonic=mono)
    assert not beat.alive(60)
    beat.beat(START)
    assert beat.alive(60) and beat.last_tick == START
    mono.value += 61
    assert not beat.alive(60)
    beat.failed("database is locked")
    assert beat.consecutive_failures == 1 and beat.last_error == "database is locked"


# ------------------------------------------------- GUID churn and per-feed storage


async def test_guid_churn_briefs_posts_and_updates_nothing_again(
    local_server: LocalServer, store: SqliteStore, clock: FakeClock
) -> None:
    site = Site(local_server)
    settings = poll_settings()
    publisher = RecordingPublisher()
    engine = Engine(
        settings,
        store,
        fetcher=Fetcher(settings),
        publishers={"console": publisher},
        clock=clock,
        runner=StoreRunner(store),
    )
    try:
        item = three_items(site)[1]
        url = site.feed("/wire.xml", rss("Wire", [item]))
        await engine.add_feed(CHANNEL, url, "Wire")
        for poll in range(5):
            # The CMS mints a fresh GUID (and a tracking parameter) on every rebuild.
            churned = item | {
                "guid": f"urn:uuid:2f6c{poll:04d}-9a1e-4d0b-8c55-1b2e3f4a5b6c",
                "link": item["link"] + f"?utm_source=rss&utm_campaign=b{poll}",
            }
            site.feeds["/wire.xml"] = rss("Wire", [churned])
            report = await engine.poll_once()
            assert report.feeds_polled == 1 and report.errors == []
            await engine.deliver_all()
            clock.advance(seconds=600)
        assert len(store.db.execute("SELECT id FROM entries").fetchall()) == 1
        assert [p.kind for p in publisher.posts] == ["post"]

        # A real correction (same link, new text) is still news to the story.
        corrected = item | {"guid": "urn:uuid:corrected", "summary": item["summary"] + " (Updated)"}
        site.feeds["/wire.xml"] = rss("Wire", [corrected])
        assert (await engine.poll_once()).new_entries == 1
    finally:
        await engine.aclose()


def test_stored_text_per_entry_is_capped(store: SqliteStore) -> None:
    from bot.models import Article
    from storage.sqlite import MAX_ARTICLE_TEXT, MAX_FEED_TEXT

    feed, _ = store.add_feed("http://127.0.0.1:9/wire.xml", name="Wire", now=START)
    paragraph = "The harbour authority published its annual report on Tuesday. " * 3
    huge = paragraph * (4_500_000 // len(paragraph))
    (entry,) = store.add_entries(
        feed.id,
        [FeedEntry(guid="wire-1", title="Harbour report", summary=huge, content=huge)],
        START,
    )
    assert len(entry.summary) <= MAX_FEED_TEXT and len(entry.content) <= MAX_FEED_TEXT
    assert huge.startswith(entry.summary) and huge[len(entry.summary)] == " "  # at a word
    store.save_article(entry.id, Article(url="http://x.invalid/a", title="t", text=huge))
    (row,) = store.db.execute(
        "SELECT length(article_text) FROM entries WHERE id = ?", [entry.id]
    ).fetchall()
    assert row[0] <= MAX_ARTICLE_TEXT


def test_a_churning_feed_keeps_a_bounded_number_of_entries(store: SqliteStore) -> None:
    feed, _ = store.add_feed("http://127.0.0.1:9/wire.xml", name="Wire", now=START)

    def batch(start: int) -> list[FeedEntry]:
        return [
            FeedEntry(
                guid=f"wire-{n}",
                link=f"http://127.0.0.1:9/news/{n}.html",
                title=f"Council minutes, item {n}",
                summary=f"The council discussed item {n} of its agenda on Tuesday.",
            )
            for n in range(start, start + 10)
        ]

    pinned = FeedEntry(
        guid="about", link="http://127.0.0.1:9/about.html", title="About", summary="Us."
    )
    store.add_entries(feed.id, [pinned], START, brief=set())
    for start in range(0, 60, 10):
        listed = [pinned, *batch(start)]
        store.add_entries(feed.id, listed, START, brief=set())
        store.trim_feed(feed.id, listed, START + timedelta(days=1), keep_text=15, keep_rows=25)
    rows = store.db.execute(
        "SELECT key, summary FROM entries WHERE feed_id = ? ORDER BY id", [feed.id]
    ).fetchall()
    keys = [k for k, _ in rows]
    assert len(rows) <= 26 and "guid:about" in keys  # still listed: never forgotten
    with_text = [k for k, summary in rows if summary]
    assert len(with_text) <= 16 and "guid:wire-59" in with_text
    # The pinned item, still listed, is not taken for new.
    assert store.add_entries(feed.id, [pinned, *batch(50)], START) == []


# ------------------------------------------------------------ bounded parse memory


def test_a_feed_of_100k_items_is_cut_before_feedparser_builds_them() -> None:
    import tracemalloc

    from bot.parse import MAX_ENTRIES, cut_entries, parse_feed

    items = "".join(
        f"<item><title>Shipping notice {i}</title><guid>notice-{i}</guid></item>"
        for i in range(100_000)
    )
    body = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Harbour notices</title>'
        f"<link>http://127.0.0.1/</link>{items}</channel></rss>"
    ).encode()
    tracemalloc.start()
    try:
        parsed = parse_feed(body, headers={"Content-Type": "application/rss+xml"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(parsed.entries) == MAX_ENTRIES and parsed.title == "Harbour notices"
    assert parsed.entries[-1].guid == f"notice-{MAX_ENTRIES - 1}"
    assert parsed.warning is None  # the cut document is well formed
    assert peak < 5 * len(body), f"parsing peaked at {peak / 1e6:.0f} MB"

    # Atom, namespaced RDF items, and a short feed (unchanged).
    atom = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
        + b"".join(b"<entry><id>e%d</id><title>x</title></entry>" % i for i in range(9))
        + b"</feed>"
    )
    assert [e.guid for e in parse_feed(cut_entries(atom, 3)).entries] == ["e0", "e1", "e2"]
    rdf = (
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        b'xmlns:rss="http://purl.org/rss/1.0/"><rss:channel><rss:title>t</rss:title>'
        b"</rss:channel>"
        + b"".join(
            b'<rss:item rdf:about="http://a.invalid/%d"><rss:title>x%d</rss:title></rss:item>'
            % (i, i)
            for i in range(9)
        )
        + b"</rdf:RDF>"
    )
    cut = cut_entries(rdf, 2)
    assert cut.endswith(b"</rss:item></rdf:RDF>")
    assert [e.title for e in parse_feed(cut).entries] == ["x0", "x1"]
    assert cut_entries(atom, 9) is atom


async def test_large_parses_take_turns_and_small_ones_do_not_wait() -> None:
    from bot.parsegate import ParseGate

    gate = ParseGate(large=1_000, slots=1)
    active = {"large": 0, "small": 0}
    peak = {"large": 0, "small": 0}

    async def parse(kind: str, size: int) -> None:
        async with gate.hold(size):
            active[kind] += 1
            peak[kind] = max(peak[kind], active[kind])
            for _ in range(3):
                await asyncio.sleep(0)  # a parse in a thread, as far as others can tell
            active[kind] -= 1

    await asyncio.gather(
        *(parse("large", 5_900_000) for _ in range(6)),
        *(parse("small", 20_000 // 40) for _ in range(6)),
    )
    assert peak == {"large": 1, "small": 6}
