"""First poll of many new feeds at once (an OPML import): their backlog is briefed one
entry at a time, behind new news from the feeds already followed, and none of it is lost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from adapters.testing import RecordingPublisher
from bot.engine import Engine, PollReport
from bot.fetch import Fetcher
from bot.settings import load_settings
from storage import SqliteStore
from storage.database import StoreRunner
from tests.support import pipeline
from tests.support.clock import FakeClock
from tests.support.http import Response
from tests.support.news import CHANNEL, Site, date, rss

clock, publisher, site = pipeline.clock, pipeline.publisher, pipeline.site


@pytest.fixture
async def engine(clock: FakeClock, publisher: RecordingPublisher) -> AsyncIterator[Engine]:
    # Two poll workers, so that holding them shows; every feed of the test is on one
    # loopback host: no per-host politeness here, as for an import from many sites.
    settings = load_settings(
        database=":memory:",
        allow_private_networks=True,
        concurrency=2,
        per_host_concurrency=100,
        poll_interval=600,
    )
    store = SqliteStore.open(":memory:")
    eng = Engine(
        settings,
        store,
        fetcher=Fetcher(settings),
        publishers={"console": publisher},
        clock=clock,
        runner=StoreRunner(store),
    )
    yield eng
    await eng.aclose()
    store.close()


TOWNS = ["Eastfield", "Lowmere", "Gull Island", "Varenna", "Kestrel Bay"]
ITEMS = [
    ("council approves a 4 million euro budget for bus shelters", "The vote was 19 to 6."),
    ("library extends Sunday opening hours from April", "3,200 residents asked for it."),
    ("water main bursts on the high street", "Crews expect repairs to take two days."),
]  # fmt: skip


def town_feed(site: Site, n: int) -> str:
    town = TOWNS[n % len(TOWNS)]
    items = [
        {
            "title": f"{town} {title} ({n})",
            # A local paper's page answers in a tenth of a second (then the feed's own
            # text is used: the page is a stub).
            "link": site.server.route(
                f"/town/{n}/{i}.html",
                Response(200, "<html><body>Subscribe</body></html>", delay=0.1),
            ),
            "guid": f"town-{n}-{i}",
            "date": date(i + 2),
            "summary": f"{town} {title}. {detail}",
        }
        for i, (title, detail) in enumerate(ITEMS)
    ]
    return site.feed(f"/town/{n}.xml", rss(f"{town} Courier {n}", items))


async def until(condition: Callable[[], Awaitable[bool]], seconds: float = 60.0) -> None:
    """Wait for the engine's background work to reach ``condition``."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while not await condition():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.02)


async def test_an_import_of_new_feeds_is_briefed_behind_new_news(
    engine: Engine, site: Site, clock: FakeClock
) -> None:
    ferry = {
        "title": "Gull Island ferry returns to service after hull repair",
        "link": "http://127.0.0.1:9/ferry/1",
        "guid": "ferry-1",
        "date": date(3),
        "summary": "The car ferry sailed at 07:10 on Monday after three weeks in dry dock.",
    }
    desk = site.feed("/desk.xml", rss("Island Desk", [ferry]))
    await engine.add_feed(CHANNEL, desk, "Island Desk")
    await engine.poll_once()  # the desk's feed is followed already
    for n in range(15):  # an OPML import: 15 new feeds, 45 first-poll entries
        await engine.add_feed(CHANNEL, town_feed(site, n))
    news = dict(ferry, guid="ferry-2", date=date(0.5))
    news["title"] = "Gull Island ferry adds a night crossing from March"
    news["summary"] = "The night sailing leaves at 23:40, the operator said on Tuesday."

    async def pending() -> list[str]:
        return [e.title for e in await engine.db(engine.store.pending_entries, 1000)]

    async def imported() -> bool:
        return report.new_entries == 45

    async def news_briefed() -> bool:
        return report.new_entries == 46 and news["title"] not in await pending()

    async def all_briefed() -> bool:
        return not await pending()

    stop = asyncio.Event()
    report = PollReport()
    task = asyncio.create_task(engine.poll_forever(stop, report, tick=0.05))
    try:
        await until(imported)  # the import is stored, its backlog queued
        site.feeds["/desk.xml"] = rss("Island Desk", [news, ferry])
        clock.advance(seconds=601)  # news on a feed already followed
        await until(news_briefed)
        # The news went ahead of most of the import's backlog (one entry at a time)...
        assert len(await pending()) >= 20
        await until(all_briefed)  # ...which follows, all of it
    finally:
        stop.set()
        await task
    assert report.new_entries == 46 and report.briefed_entries == 46
    assert report.errors == []
