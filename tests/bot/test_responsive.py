"""One pathological entry never stops the service: slash commands sent while it is
fetched, extracted, split and condensed are answered within a second.

The entry carries what froze the service in the red-team pass: sentences opening
with "by" and comma-separated capitalised names that do not end like a byline (the
byline pattern backtracked exponentially, holding the GIL, so asyncio.to_thread did
not save the event loop), a long run of "Mr. " (a quadratic sentence splitter), and
a page of about 1 MB. Real engine, real store, real fetcher over a local server.
"""

from __future__ import annotations

import asyncio
import time
from html import escape

from bot.commands import Asker
from bot.desk import commands_for
from bot.engine import Engine
from bot.fetch import Fetcher
from bot.settings import load_settings
from storage import SqliteStore
from storage.database import StoreRunner
from tests.support.http import LocalServer, Response

CHANNEL = "console:desk"
MEMBER = Asker(CHANNEL, "bo", is_admin=False)

AGENCIES = "NASA, NOAA, USGS, FEMA, NTSB, OSHA, NIST, DARPA"
SENTENCE = f"by {AGENCIES} were all named in the filing on Tuesday as parties to the review."
LEDE = (
    "Federal investigators opened a review of the launch-site fuel leak on Tuesday after "
    "a tank valve failed during a routine pressure test, officials said."
)


def _page() -> str:
    paragraphs = [LEDE, SENTENCE, "Mr. " * 20_000]
    filler = (
        "The review will examine maintenance records for the past three years, and a "
        "preliminary report is expected within six weeks, the agency said in a statement."
    )
    paragraphs += [filler] * 6_000  # about 1 MB of page
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    head = "<!doctype html><html><head><title>Fuel leak review</title></head>"
    return f"{head}<body><article>{body}</article></body></html>"


def _feed(page_url: str) -> str:
    summary = f"<p>{escape(LEDE)}</p><p>{escape(SENTENCE)}</p>"
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        "<title>Launch desk</title><link>https://launch.example/</link><description>x</description>"
        "<item><title>Review opened into launch-site fuel leak</title>"
        f"<link>{escape(page_url)}</link>"
        f"<guid>leak-1</guid><description>{escape(summary)}</description></item>"
        "</channel></rss>"
    )


async def test_commands_are_answered_while_a_pathological_entry_is_processed(
    local_server: LocalServer,
) -> None:
    page_url = local_server.route("/leak", Response(200, _page(), {"Content-Type": "text/html"}))
    feed_url = local_server.route(
        "/feed.xml", Response(200, _feed(page_url), {"Content-Type": "application/rss+xml"})
    )
    settings = load_settings(database=":memory:", allow_private_networks=True, fetch_timeout=30)
    store = SqliteStore.open(":memory:")
    engine = Engine(
        settings, store, fetcher=Fetcher(settings), publishers={}, runner=StoreRunner(store)
    )
    handler = commands_for(engine)
    try:
        await engine.add_feed(CHANNEL, feed_url)
        poll = asyncio.create_task(engine.poll_once())
        # A command is due 50 ms after the previous answer; its latency runs from then
        # (a frozen loop also oversleeps), as a Slack request waits from its arrival.
        latencies: list[float] = []
        due = time.perf_counter()
        while not poll.done():
            for text in ("/brief help", "/brief feeds"):
                reply = await handler.handle(text, MEMBER)
                latencies.append(time.perf_counter() - due)
                assert reply.text
                due = time.perf_counter()
            await asyncio.sleep(0.05)
            due += 0.05
        report = await poll
        assert report.briefed_entries == 1 and not report.errors
        assert len(latencies) >= 4, "the entry was processed too fast to overlap commands"
        assert max(latencies) < 1.0, f"slowest command took {max(latencies):.1f} s"
    finally:
        await engine.aclose()
        store.close()
