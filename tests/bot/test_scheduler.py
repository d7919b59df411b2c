"""The fleet scheduler: a bounded worker pool fed from leased batches of due feeds."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from adapters.testing import RecordingPublisher
from bot.engine import Engine
from bot.fetch import Fetcher
from bot.models import FetchState
from bot.settings import load_settings
from storage import SqliteStore
from storage.database import StoreRunner
from tests.support.http import LocalServer, Request, Response

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
FEED = (
    '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
    "<item><title>One</title><guid>g1</guid></item></channel></rss>"
)


def test_claim_leases_due_feeds(any_store: SqliteStore) -> None:
    store = any_store
    store.ensure_channel("console:c", NOW)
    for n in range(5):
        feed, _ = store.add_feed(f"https://f{n}.example/", name=None, now=NOW)
        store.subscribe("console:c", feed.id, NOW)
    lease = NOW + timedelta(minutes=5)
    first = store.claim_due_feeds(NOW, 3, lease)
    second = store.claim_due_feeds(NOW, 10, lease)
    assert len(first) == 3 and len(second) == 2
    assert not {f.id for f in first} & {f.id for f in second}
    assert store.claim_due_feeds(NOW, 10, lease) == []  # all leased
    assert len(store.claim_due_feeds(lease, 10, lease + timedelta(minutes=5))) == 5


def test_feeds_no_channel_follows_are_not_polled_nor_hold_up_the_others(
    any_store: SqliteStore,
) -> None:
    store = any_store
    store.ensure_channel("console:c", NOW)
    store.ensure_channel("console:d", NOW)
    # Ten feeds a channel dropped, due before the two it still follows.
    dropped = []
    for n in range(10):
        feed, _ = store.add_feed(f"https://old{n}.example/", name=None, now=NOW)
        store.subscribe("console:c", feed.id, NOW)
        store.unsubscribe("console:c", feed.id)
        dropped.append(feed)
    later = NOW + timedelta(minutes=1)
    kept = []
    for n in range(2):
        feed, _ = store.add_feed(f"https://new{n}.example/", name=None, now=later)
        store.subscribe("console:c", feed.id, later)
        kept.append(feed)
    lease = later + timedelta(minutes=5)
    # One claim looks past the dropped ones (they are passed over, not polled) to the
    # followed feeds behind them; the next finds nothing more.
    claimed = [f.id for f in store.claim_due_feeds(later, 5, lease)]
    assert sorted(claimed) == sorted(f.id for f in kept)
    assert store.claim_due_feeds(later, 5, lease) == []
    # Another channel follows one of them again: it is polled on the next cycle.
    store.subscribe("console:d", dropped[3].id, later)
    again = store.claim_due_feeds(later, 5, lease)
    assert [f.id for f in again] == [dropped[3].id]


def test_record_fetches_in_one_call(any_store: SqliteStore) -> None:
    store = any_store
    feeds = [store.add_feed(f"https://f{n}.example/", name=None, now=NOW)[0] for n in range(3)]
    later = NOW + timedelta(minutes=15)
    store.record_fetches(
        [(f.id, FetchState(etag=f'"e{f.id}"', next_poll_at=later)) for f in feeds], NOW
    )
    for f in feeds:
        stored = store.get_feed(f.id)
        assert stored is not None
        assert (stored.etag, stored.next_poll_at, stored.primed) == (f'"e{f.id}"', later, True)


async def test_poll_forever_polls_every_due_feed_once_with_few_workers(
    local_server: LocalServer,
) -> None:
    def handler(req: Request) -> Response:
        if req.headers.get("if-none-match") == '"v1"':
            return Response(304, headers={"ETag": '"v1"'})
        return Response(200, FEED, {"ETag": '"v1"'})

    settings = load_settings(
        _env_file=None, allow_private_networks=True, concurrency=3, fetch_pages=False
    )
    store = SqliteStore.open(":memory:")
    engine = Engine(
        settings,
        store,
        fetcher=Fetcher(settings),
        publishers={"console": RecordingPublisher()},
        runner=StoreRunner(store),
    )
    for n in range(20):
        await engine.add_feed("console:c", local_server.route(f"/f{n}.xml", handler))
    first = await engine.poll_once()
    assert (first.feeds_polled, first.failures) == (20, 0)

    long_ago = datetime(2000, 1, 1, tzinfo=UTC)
    for feed in store.list_feeds():  # all due again, now answering 304
        store.record_fetches([(feed.id, FetchState(etag='"v1"', next_poll_at=NOW))], long_ago)
    stop = asyncio.Event()
    task = asyncio.create_task(engine.poll_forever(stop, tick=0.05))
    for _ in range(200):  # until every feed's second poll is recorded (batched)
        if all(f.last_success_at != long_ago for f in store.list_feeds()):
            break
        await asyncio.sleep(0.05)
    stop.set()
    await task
    conditional = [r for r in local_server.requests if r.headers.get("if-none-match")]
    assert len(conditional) == 20  # each feed once: the lease kept it from a second claim
    assert all(f.consecutive_failures == 0 for f in store.list_feeds())
    await engine.aclose()
