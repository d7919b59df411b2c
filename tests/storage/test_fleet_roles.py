"""Several processes on one PostgreSQL database: the jobs only one of them does at a
time (``bot.roles``) — placing entries in stories and delivering — are held by one
process, taken over when it dies, and the others' polling feeds that process.

Two engines on one database stand for two ``signaldesk run`` processes (each its own
store, its own connections, its own roles connection); the three-process SIGKILL test
is ``tests/test_fleet_kill.py``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import psycopg
import pytest

from adapters.testing import RecordingPublisher
from bot.engine import Engine
from bot.roles import BRIEF, DELIVER
from bot.settings import load_settings
from storage.postgres import PostgresStore
from storage.postgres.roles import PgRoles
from tests.support.http import LocalServer, Response
from tests.support.news import HARBOUR, HARBOUR_AGAIN, TURBINE, outlet_rss
from tests.support.pipeline import engine_over


def taken_over(roles: PgRoles, role: str, seconds: float = 5.0) -> bool:
    """Whether ``roles`` takes ``role`` once the server has ended the holder's session:
    a client's close returns before the server's backend has exited and freed its locks
    (what a process of the fleet meets at its next check)."""
    deadline = time.monotonic() + seconds
    while not roles.holds(role):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_role_is_held_by_one_process_and_taken_over_when_its_holder_goes(
    pg_store_dsn: str,
) -> None:
    first, second = PgRoles(pg_store_dsn), PgRoles(pg_store_dsn)
    try:
        assert first.holds(BRIEF) and first.holds(BRIEF)  # asked again: still its own
        assert not second.holds(BRIEF)
        assert first.fleet() == second.fleet() == 2  # each polls with half the politeness
        assert second.holds(DELIVER) and not first.holds(DELIVER)  # each role on its own
        first.close()  # a clean stop (or a death: the server closes the session)
        assert taken_over(second, BRIEF)
        assert not first.holds(BRIEF)

        # The holder's connection is cut (the server restarted, the network broke): its
        # locks are gone with the session, so it gives the roles up at its next check
        # instead of carrying on beside the process that takes them.
        assert second._conn is not None
        with psycopg.connect(pg_store_dsn, autocommit=True) as admin:
            # Waits (up to 5 s) until the session has ended and its locks are free.
            admin.execute("SELECT pg_terminate_backend(%s, 5000)", [second._conn.info.backend_pid])
        assert first.holds(DELIVER)  # the lock was freed with the session
        assert not second.holds(DELIVER)
        assert first.holds(BRIEF) and not second.holds(BRIEF)
    finally:
        first.close()
        second.close()


@pytest.fixture
async def two_processes(
    pg_store_dsn: str,
) -> AsyncIterator[list[tuple[Engine, RecordingPublisher]]]:
    settings = load_settings(
        _env_file=None, database=pg_store_dsn, allow_private_networks=True, fetch_pages=False
    )
    made = []
    for _ in range(2):
        store = PostgresStore.open(pg_store_dsn)
        publisher = RecordingPublisher()
        engine = engine_over(settings, store, publisher, roles=PgRoles(pg_store_dsn))
        engine.leader.recheck = 0  # ask the database at every check: no waiting here
        made.append((engine, publisher))
    yield made
    for engine, _ in made:
        await engine.aclose()


async def test_one_process_briefs_and_delivers_what_another_polled(
    two_processes: list[tuple[Engine, RecordingPublisher]], local_server: LocalServer
) -> None:
    (leader, posted), (other, not_posted) = two_processes
    assert await leader.leader.holds(BRIEF) and await leader.leader.holds(DELIVER)
    feeds = {
        "/wire.xml": outlet_rss("Wire", [("w-1", *HARBOUR), ("w-2", *TURBINE)]),
        "/daily.xml": outlet_rss("Daily", [("d-1", *HARBOUR_AGAIN)]),
    }
    for path, body in feeds.items():
        url = local_server.route(path, Response(200, body, {"Content-Type": "application/rss+xml"}))
        await other.add_feed("console:desk", url)

    # The other process polls both feeds: it stores the entries and their articles,
    # places nothing, and leaves them pending for the process that briefs.
    report = await other.poll_once()
    assert (report.feeds_polled, report.new_entries, report.briefed_entries) == (2, 3, 0)
    pending = other.store.pending_entries(10)
    assert len(pending) == 3 and all(e.story_id is None for e in pending)
    assert all(other.store.saved_article(e.id) is not None for e in pending)
    assert await other.ingest.resume_pending() == type(report)()  # not its job either
    assert await other.ingest.brief_others() == 0

    # The briefing process takes them: one story of two sources, one of one.
    assert await leader.ingest.brief_others() == 3
    assert leader.store.pending_entries(10) == []
    assert await leader.ingest.brief_others() == 0  # each once
    while await leader.deliver_once():
        pass
    assert sorted((p.text, p.sources) for p in posted.posts if p.kind == "post") == [
        ("Orkney tidal array sets an output record", 1),
        ("Rotterdam harbour pilots strike for a second day", 2),
    ]
    assert not_posted.posts == []

    # The briefing process stops: the other takes both roles at its next check.
    leader.leader.close()
    roles = other.leader.roles
    assert isinstance(roles, PgRoles)
    assert taken_over(roles, BRIEF) and taken_over(roles, DELIVER)
    assert await other.leader.holds(BRIEF) and await other.leader.holds(DELIVER)
    assert not await leader.leader.holds(BRIEF)
