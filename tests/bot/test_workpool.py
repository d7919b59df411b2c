"""The work pool: feeds parsed and pages extracted in worker processes (the second core),
each task under a time budget; a worker past it, or one that died, is replaced."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import time
from collections.abc import AsyncIterator

import pytest

from adapters.testing import RecordingPublisher
from bot.engine import Engine
from bot.errors import ParseError
from bot.fetch import Fetcher
from bot.parse import parse_feed
from bot.parsegate import ParseGate
from bot.settings import load_settings
from bot.workpool import WorkPool, _serve, default_workers, pool_size
from storage import SqliteStore
from storage.database import StoreRunner
from tests.support import pipeline
from tests.support.clock import FakeClock
from tests.support.http import Response
from tests.support.news import CHANNEL, QUAKE_FACTS, Site, date, quake_items, rss

clock, publisher, site = pipeline.clock, pipeline.publisher, pipeline.site


@pytest.fixture
async def engine(clock: FakeClock, publisher: RecordingPublisher) -> AsyncIterator[Engine]:
    settings = load_settings(
        database=":memory:",
        allow_private_networks=True,
        fetch_timeout=10.0,
        workers=1,
        work_timeout=1.5,
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


def live_blog(site: Site) -> dict[str, str]:
    """A live blog left running for days: tens of thousands of timestamped updates on
    one page (4 MB), more than the work budget lets extraction chew on."""
    updates = "\n".join(
        f'<div class="update"><time>{h % 24:02d}:{m:02d}</time><p>Update {n}: crews on the '
        "Varenna viaduct report no new cracks; traffic stays diverted through the valley "
        f"road while engineers inspect pier {n % 9 + 1}.</p></div>"
        for n, (h, m) in enumerate((i // 60, i % 60) for i in range(24_000))
    )
    page = f"""<!doctype html><html><head><title>Live: Varenna quake</title></head>
<body><article><h1>Live: Varenna Alta earthquake, all the updates</h1>{updates}</article>
</body></html>"""
    link = site.server.route("/live/quake.html", Response(200, page, {"Content-Type": "text/html"}))
    return {
        "title": "Live: Varenna Alta earthquake, all the updates",
        "link": link,
        "guid": "live-quake",
        "date": date(1),
        "summary": "Follow the latest on the Varenna Alta earthquake.",
    }


async def test_a_page_past_the_work_budget_fails_its_entry_and_the_next_is_briefed(
    engine: Engine, site: Site, publisher: RecordingPublisher
) -> None:
    url = site.feed("/wire.xml", rss("Wire", [live_blog(site), *quake_items(site)]))
    await engine.add_feed(CHANNEL, url, "Wire")
    assert engine.pool is not None

    report = await engine.poll_once()

    # The frozen extraction is the live blog entry's failure, with its reason...
    assert report.new_entries == 2 and report.failures == 0
    assert len(report.errors) == 1
    assert "extracting the article page took more than 1.5s" in report.errors[0]
    assert "SIGNALDESK_WORK_TIMEOUT" in report.errors[0]
    assert engine.pool.replaced == 1
    # ...and the quake report after it was extracted from its page by the replacement.
    assert await engine.deliver_all() == 1
    [post] = publisher.of_kind("post")
    briefing = engine.store.get_briefing(post.briefing_id or "")
    assert briefing is not None
    page_text = " ".join(QUAKE_FACTS)
    assert len(briefing.bullets) >= 2
    assert all(b.text.rstrip("…") in page_text for b in briefing.bullets)
    # The failed entry is kept for the retry pass, not lost.
    assert [e.title for e in engine.store.pending_entries(10, 0)] == [
        "Live: Varenna Alta earthquake, all the updates"
    ]


async def test_feeds_are_parsed_in_another_process_with_the_same_answers(
    engine: Engine, site: Site, publisher: RecordingPublisher
) -> None:
    good = site.feed("/one.xml", rss("Outlet One", quake_items(site)))
    front = b"<!doctype html><html><body><h1>Lowmere Gazette</h1></body></html>"
    html = site.server.route("/news/", Response(200, front, {"Content-Type": "text/html"}))
    await engine.add_feed(CHANNEL, good, "Outlet One")
    await engine.add_feed(CHANNEL, html, "Front page")

    report = await engine.poll_once()

    assert engine.pool is not None
    assert engine.pool.pids() and os.getpid() not in engine.pool.pids()
    assert (report.new_entries, report.failures) == (1, 1)
    # The worker's ParseError reaches the feed's health as the same one line.
    with pytest.raises(ParseError) as here:
        parse_feed(front, headers={"content-type": "text/html"})
    assert report.errors == [f"{html}: {here.value}"]
    assert await engine.deliver_all() == 1


async def test_a_worker_that_died_is_replaced_before_the_next_task(
    engine: Engine, site: Site, publisher: RecordingPublisher
) -> None:
    url = site.feed("/one.xml", rss("Outlet One", quake_items(site)))
    await engine.add_feed(CHANNEL, url, "Outlet One")
    pool = engine.pool
    assert pool is not None
    await pool.run(len, b"warm up", what="starting")
    [pid] = pool.pids()
    os.kill(pid, signal.SIGKILL)  # what the OOM killer does
    await asyncio.sleep(0.2)

    report = await engine.poll_once()

    assert (report.new_entries, report.failures, report.errors) == (1, 0, [])
    assert pool.replaced == 1 and pool.pids() != [pid]


def test_a_worker_whose_service_was_killed_mid_task_exits_quietly(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # kill -9 on the service leaves its workers to finish the task in hand; the answer
    # has no one to go to. The worker ends without a traceback in the service's log.
    ctx = multiprocessing.get_context("spawn")  # the worker holds only its own end
    here, there = ctx.Pipe()
    worker = ctx.Process(target=_serve, args=(there,))
    worker.start()
    there.close()
    here.send((time.sleep, (0.2,)))
    here.close()  # the service is gone before the answer
    worker.join(timeout=5)
    assert worker.exitcode == 0
    assert "Traceback" not in capfd.readouterr().err


async def test_bytes_parsed_at_once_stay_within_the_budget() -> None:
    gate = ParseGate(budget=1_000, large=10_000)
    running: list[int] = []
    seen: list[list[int]] = []

    async def parse(size: int) -> None:
        async with gate.hold(size):
            running.append(size)
            seen.append(sorted(running))
            for _ in range(3):
                await asyncio.sleep(0)  # a parse elsewhere, as far as others can tell
            running.remove(size)

    # Five 400-byte bodies: two at a time. A body larger than the budget goes alone.
    await asyncio.gather(*(parse(400) for _ in range(5)), parse(5_000))
    assert max(len(s) for s in seen) == 2
    assert all(sum(s) <= 1_000 for s in seen if 5_000 not in s)
    assert [5_000] in seen and all(s == [5_000] for s in seen if 5_000 in s)


def test_the_pool_is_on_with_two_cores_and_off_for_throwaway_runs() -> None:
    assert default_workers(1) == 0 and default_workers(2) == 2 and default_workers(8) == 2
    throwaway = load_settings(database=":memory:")
    assert pool_size(throwaway) == 0
    assert pool_size(load_settings(database=":memory:", workers=2)) == 2
    assert pool_size(load_settings(database="news.db")) == default_workers()


def test_a_pool_needs_a_worker() -> None:
    with pytest.raises(ValueError):
        WorkPool(0, 1.0)
