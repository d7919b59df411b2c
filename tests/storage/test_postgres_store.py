"""The PostgreSQL store where it differs from SQLite: versioned migrations applied
once however many processes start together, claims that two processes can make at
the same moment without polling a feed twice, entries stored by two processes at once
briefed once, one clear line when the server cannot be reached, and connections the
server dropped replaced. (What both
backends share runs on both: ``any_store``.)"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from bot.errors import StorageError
from bot.models import FeedEntry
from storage.database import StoreRunner
from storage.postgres import PostgresStore
from storage.postgres.migrations import MIGRATIONS
from tests.support.postgres import PostgresServer

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
LEASE = NOW + timedelta(minutes=5)


def _applied(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT name FROM signaldesk_migrations ORDER BY name").fetchall()
    return [r[0] for r in rows]


def test_processes_starting_together_migrate_the_database_once(pg_dsn: str) -> None:
    # Four processes come up at once on an empty database: one migrates, the others
    # wait on the advisory lock and then find the schema in place (no "relation
    # already exists" crash, no migration recorded twice).
    start = threading.Barrier(4)

    def open_store() -> PostgresStore:
        start.wait()
        return PostgresStore.open(pg_dsn)

    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: open_store(), range(4)))
    assert _applied(pg_dsn) == sorted(name for name, _ in MIGRATIONS)
    feed, created = stores[0].add_feed("https://news.example/rss", name=None, now=NOW)
    assert created and stores[3].get_feed(feed.id) == feed
    for store in stores:
        store.close()
    PostgresStore.open(pg_dsn).close()  # a restart applies nothing new
    assert len(_applied(pg_dsn)) == len(MIGRATIONS)


def _fleet_database(dsn: str, feeds: int) -> None:
    store = PostgresStore.open(dsn)
    store.ensure_channel("slack:T1:C1", NOW)
    for n in range(feeds):
        feed, _ = store.add_feed(f"https://outlet{n}.example/feed", name=None, now=NOW)
        store.subscribe("slack:T1:C1", feed.id, NOW)
    store.close()


def test_a_claim_in_progress_neither_blocks_nor_shares_its_feeds(pg_store_dsn: str) -> None:
    _fleet_database(pg_store_dsn, 6)
    one, two = PostgresStore.open(pg_store_dsn), PostgresStore.open(pg_store_dsn)
    pool = ThreadPoolExecutor(1)
    try:
        with one._write():  # process one has claimed and not yet committed
            first = one.claim_due_feeds(NOW, 4, LEASE)
            # Process two claims meanwhile; waiting on one's locks is a failure too
            # (the timeout rolls one back, which releases two).
            second = pool.submit(two.claim_due_feeds, NOW, 10, LEASE).result(timeout=10)
    finally:
        pool.shutdown()
    assert len(first) == 4 and len(second) == 2
    assert not {f.id for f in first} & {f.id for f in second}
    assert two.claim_due_feeds(NOW, 10, LEASE) == []
    # Both pollers died: once the lease runs out every feed is due again, once.
    assert len(two.claim_due_feeds(LEASE, 10, LEASE + timedelta(minutes=5))) == 6
    one.close()
    two.close()


def test_many_claimers_poll_every_due_feed_exactly_once(pg_store_dsn: str) -> None:
    _fleet_database(pg_store_dsn, 60)
    stores = [PostgresStore.open(pg_store_dsn) for _ in range(3)]
    start = threading.Barrier(3)

    def drain(store: PostgresStore) -> list[int]:
        start.wait()
        got: list[int] = []
        while batch := store.claim_due_feeds(NOW, 4, LEASE):
            got += [f.id for f in batch]
        return got

    with ThreadPoolExecutor(3) as pool:
        claimed = list(pool.map(drain, stores))
    every = [feed_id for part in claimed for feed_id in part]
    assert len(every) == 60 and len(set(every)) == 60
    for store in stores:
        store.close()


def test_token_usage_from_several_processes_adds_up_exactly(pg_store_dsn: str) -> None:
    stores = [PostgresStore.open(pg_store_dsn) for _ in range(3)]

    def spend(store: PostgresStore) -> None:
        for _ in range(40):
            store.add_llm_usage("2026-11-24", 120, 30, NOW)

    with ThreadPoolExecutor(3) as pool:
        list(pool.map(spend, stores))
    assert stores[0].llm_usage("2026-11-24") == (3 * 40 * 120, 3 * 40 * 30)
    for store in stores:
        store.close()


def test_an_unreachable_server_is_one_clear_line_without_the_password(
    postgres_server: PostgresServer,
) -> None:
    # A port nothing listens on (the server's own port, plus one, is free here as a rule;
    # the message is what matters).
    dsn = f"postgresql://desk:s3cret@127.0.0.1:{postgres_server.port + 1}/signaldesk"
    with pytest.raises(StorageError) as caught:
        PostgresStore.open(dsn, timeout=2)
    message = str(caught.value)
    assert "\n" not in message and "s3cret" not in message
    assert "cannot reach the PostgreSQL server" in message and "127.0.0.1" in message


def test_connections_the_server_dropped_are_replaced_after_one_failed_call(
    pg_store_dsn: str,
) -> None:
    # The server restarts (or an administrator ends the sessions) under a busy store:
    # a connection used a moment ago is not checked again before use (a round trip per
    # call), so a call per pooled connection may fail with one line; the pool replaces
    # them and the store answers again, nothing lost.
    store = PostgresStore.open(pg_store_dsn)
    try:
        store.add_feed("https://wire.example/rss", name=None, now=NOW)
        assert len(store.list_feeds()) == 1
        with psycopg.connect(pg_store_dsn, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid != pg_backend_pid()"
            )
        failed = 0
        for _ in range(store.pool.max_size + 1):  # at worst one failure per pooled connection
            try:
                feeds = store.list_feeds()
                break
            except StorageError as exc:
                failed += 1
                assert "\n" not in str(exc)
        assert failed <= store.pool.max_size
        assert [f.url for f in feeds] == ["https://wire.example/rss"]
    finally:
        store.close()


async def test_a_process_runs_several_store_calls_at_once_each_in_its_own_transaction(
    pg_store_dsn: str,
) -> None:
    # One store thread per pooled connection: a poll's writes do not queue a briefing's
    # reads behind them (on SQLite, one writer, there is one thread).
    store = PostgresStore.open(pg_store_dsn)
    runner = StoreRunner(store)
    inside, checked = threading.Event(), threading.Event()

    def write_and_wait() -> bool:
        with store._write() as conn:
            conn.execute("INSERT INTO channels (id, created_at) VALUES ('console:open', now())")
            inside.set()
            return checked.wait(5)  # held open until the other thread has looked

    def look() -> list[str]:
        assert inside.wait(5)
        try:  # outside any transaction of its own: the open one is not its own either
            return [r["id"] for r in store._rows("SELECT id FROM channels")]
        finally:
            checked.set()

    try:
        assert runner.calls_at_once == 4
        wrote, seen = await asyncio.gather(runner(write_and_wait), runner(look))
        assert wrote and seen == []  # ran at once, and the uncommitted row stayed unseen
        assert [r["id"] for r in store._rows("SELECT id FROM channels")] == ["console:open"]
    finally:
        runner.close()
        store.close()


def test_a_missing_database_says_to_create_it(postgres_server: PostgresServer) -> None:
    with pytest.raises(StorageError, match=r"does not exist: create it"):
        PostgresStore.open(postgres_server.dsn("no_such_desk"))


def test_two_processes_storing_one_poll_brief_each_entry_once(pg_store_dsn: str) -> None:
    # Both pollers fetched the same feed (a lease ran out mid-poll): whatever the
    # interleaving, each new entry comes back to exactly one of them.
    _fleet_database(pg_store_dsn, 1)
    stores = [PostgresStore.open(pg_store_dsn) for _ in range(2)]
    (feed,) = stores[0].list_feeds()
    wire = [
        FeedEntry(
            guid=f"urn:wire:{n}",
            link=f"https://outlet0.example/2026/11/24/harbour-{n}",
            title=f"Harbour pilots extend strike, update {n}",
            summary="Pilots at the port said the stoppage would run into a third day.",
        )
        for n in range(40)
    ]
    start = threading.Barrier(2)

    def store_poll(store: PostgresStore) -> list[str]:
        start.wait()
        got: list[str] = []
        for n in range(0, 40, 5):  # the poll's entries in a few batches
            got += [e.key for e in store.add_entries(feed.id, wire[n : n + 5], NOW)]
        return got

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(store_poll, stores)
    assert sorted(first + second) == sorted(e.key for e in wire)
    assert len(stores[0].pending_entries(100)) == 40
    for store in stores:
        store.close()
