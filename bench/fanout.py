"""One briefing to many Slack channels, through the real outbox and publisher.

The engine routes one briefing to N channels (default 1,000) and delivers it with
``deliver_all`` through ``SlackPublisher`` (slack-sdk's real client, the per-channel
pacer at Slack's ~1 message/s/channel) to the fake Slack Web API of the tests
(``tests/slack_fake.py``, aiohttp on 127.0.0.1, same event loop). Then the story gains a
source and every channel gets the update (an edit plus a thread note): three paced
sends per channel, so no schedule can finish in less than two pacing intervals — the
theoretical bound this reports against. Checked: every channel has exactly one post,
edited, with one thread note; nothing lost, nothing twice.

Baseline, same process: the same sends one at a time (a naive loop over channels).
Each channel's update then waits out its own pacing interval, so the loop costs about
a second per channel: it runs on ``--naive-channels`` (default 20) and is scaled to N.

    python bench/fanout.py                 # 1,000 channels
    python bench/fanout.py --channels 100  # quick
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from slack_sdk.web.async_client import AsyncWebClient  # noqa: E402

from adapters.slack.publisher import ChannelPacer, SlackPublisher  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.fetch import Fetcher  # noqa: E402
from bot.models import Briefing, Bullet, FeedEntry, Source, StoryDoc  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from storage import SqliteStore  # noqa: E402
from storage.database import StoreRunner  # noqa: E402
from tests.support.slack_fake import FakeSlack  # noqa: E402

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


def _briefing(bid: str, story_id: int, sources: int, revision: int) -> Briefing:
    return Briefing(
        id=bid,
        story_id=story_id,
        headline="Northgate council approves the Aldwater flood barrier",
        lead="The council voted 31 to 9 on Tuesday to build a 2.3 km flood barrier.",
        bullets=[
            Bullet(text="The barrier will cost 84 million pounds."),
            Bullet(text="Construction starts in March and takes three years."),
            Bullet(text="About 4,200 homes lie in the protected area."),
        ],
        sources=[
            Source(publisher=f"Outlet {n}", title="Council approves barrier", url=None)
            for n in range(sources)
        ],
        created_at=NOW,
        updated_at=NOW,
        revision=revision,
    )


async def _engine_run(n: int, interval: float) -> tuple[float, float, FakeSlack]:
    fake = await FakeSlack().start()
    settings = load_settings(_env_file=None, log_level="WARNING")
    web = AsyncWebClient(token="xoxb-bench", base_url=fake.api_url)
    publisher = SlackPublisher(web, pacer=ChannelPacer(interval))
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore.open(Path(tmp) / "fanout.db")
        engine = Engine(
            settings,
            store,
            fetcher=Fetcher(settings),
            publishers={"slack": publisher},
            runner=StoreRunner(store),
        )
        feed, _ = store.add_feed("https://wire.example/rss", name="Wire", now=NOW)
        for c in range(n):
            store.ensure_channel(f"slack:C{c:05d}", NOW)
            store.subscribe(f"slack:C{c:05d}", feed.id, NOW)
        (entry,) = store.add_entries(
            feed.id, [FeedEntry(guid="g1", title="Barrier approved", link=None)], NOW
        )
        story = store.create_story(entry, StoryDoc(title="Barrier approved"), NOW)
        first = _briefing(story.briefing_id, story.id, 1, 1)
        store.save_briefing(first)

        t0 = time.monotonic()
        await engine.briefer.route(first)
        posted = await engine.deliver_all()
        t1 = time.monotonic()
        second = _briefing(story.briefing_id, story.id, 2, 2)
        store.save_briefing(second)
        await engine.briefer.route(second)
        updated = await engine.deliver_all()
        t2 = time.monotonic()
        assert posted == n and updated == n, (posted, updated)
        await engine.aclose()
        store.close()
    await fake.stop()
    return t1 - t0, t2 - t0, fake


async def _naive_run(n: int, interval: float) -> float:
    """The same sends, one channel after another, no outbox."""
    from bot.models import Channel

    fake = await FakeSlack().start()
    web = AsyncWebClient(token="xoxb-bench", base_url=fake.api_url)
    publisher = SlackPublisher(web, pacer=ChannelPacer(interval))
    channels = [Channel(id=f"slack:C{c:05d}", created_at=NOW) for c in range(n)]
    t0 = time.monotonic()
    refs = [await publisher.post_briefing(ch, _briefing("b1", 1, 1, 1)) for ch in channels]
    for ch, ref in zip(channels, refs, strict=True):
        await publisher.update_briefing(ch, _briefing("b1", 1, 2, 2), ref.message_ref)
    elapsed = time.monotonic() - t0
    await fake.stop()
    return elapsed


def _check(fake: FakeSlack, n: int) -> str:
    problems = []
    for c in range(n):
        messages = fake.messages.get(f"C{c:05d}", [])
        tops = [m for m in messages if not m.get("thread_ts")]
        notes = [m for m in messages if m.get("thread_ts")]
        if len(tops) != 1 or len(notes) != 1:
            problems.append(f"C{c:05d}: {len(tops)} posts, {len(notes)} notes")
    return "nothing lost, nothing twice" if not problems else "; ".join(problems[:5])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channels", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=1.0, help="pacing per channel, s")
    parser.add_argument("--naive-channels", type=int, default=20)
    args = parser.parse_args()
    n = args.channels

    post_time, total, fake = asyncio.run(_engine_run(n, args.interval))
    verdict = _check(fake, n)
    calls = len(fake.calls_to("chat.postMessage")) + len(fake.calls_to("chat.update"))
    sample = min(n, args.naive_channels)
    naive = asyncio.run(_naive_run(sample, args.interval)) * n / sample
    bound = 2 * args.interval
    print(
        f"fan-out to {n:,} Slack channels (fake Slack on loopback, pacing "
        f"{args.interval:g}s/channel); Python {sys.version.split()[0]}"
    )
    print(f"  post to every channel          {post_time:7.2f} s")
    print(
        f"  post + update (3 sends/channel) {total:6.2f} s   theoretical bound {bound:.2f} s "
        f"(x{total / bound:.2f}); {calls:,} API calls, {calls / total:,.0f}/s"
    )
    print(f"  delivery check: {verdict}")
    print(
        f"  baseline, one send at a time   {naive:7.0f} s   (measured on {sample}, scaled) "
        f"-> {naive / total:.0f}x slower"
    )
    return 0 if verdict.startswith("nothing") else 1


if __name__ == "__main__":
    raise SystemExit(main())
