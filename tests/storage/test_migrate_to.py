"""``signaldesk migrate-to postgresql://…``: a SQLite database that has been polling
and posting, copied into PostgreSQL, answers the same — feeds as each channel names
them, what was posted (so nothing is posted again), what is still pending, search —
and goes on from there with new ids after the old ones. A target that is not empty is
refused with one line, and nothing is written to it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from adapters.testing import RecordingPublisher
from bot.engine import Engine
from bot.fetch import Fetcher
from bot.models import DeliveryState, FeedEntry
from bot.settings import load_settings
from storage import SqliteStore
from storage.database import StoreRunner
from storage.postgres import PostgresStore
from tests.support.cli import assert_one_line_error, run
from tests.support.http import LocalServer, Request, Response
from tests.support.news import HARBOUR, HARBOUR_AGAIN, TURBINE, outlet_rss


async def _working_database(path: Path, local_server: LocalServer) -> None:
    feeds = {
        "/wire.xml": outlet_rss("Wire", [("w-1", *HARBOUR), ("w-2", *TURBINE)]),
        "/daily.xml": outlet_rss("Daily", [("d-1", *HARBOUR_AGAIN)]),
    }

    def handler(req: Request) -> Response:
        return Response(200, feeds[req.path])

    settings = load_settings(_env_file=None, allow_private_networks=True, fetch_pages=False)
    store = SqliteStore.open(path)
    engine = Engine(
        settings,
        store,
        fetcher=Fetcher(settings),
        publishers={"console": RecordingPublisher()},
        runner=StoreRunner(store),
    )
    await engine.add_feed("console:desk", local_server.route("/wire.xml", handler), "Wire")
    await engine.add_feed("console:desk", local_server.route("/daily.xml", handler), "Daily")
    await engine.poll_once()
    await engine.deliver_once()  # one of the two briefings goes out; one waits
    await engine.aclose()
    # A workspace installed in OAuth mode, and a channel of it.
    bot = {"team_id": "T7", "bot_token": "xoxb-t7", "bot_id": "B7", "installed_at": 1.7e9}
    store.slack_save_installation("client-1", {**bot, "user_id": "U1", "user_token": "xoxp-u1"})
    store.slack_save_bot("client-1", bot)
    store.slack_remember_channel("C1", "T7", None)
    store.close()


async def test_a_working_database_moves_to_postgresql_whole(
    tmp_path: Path, pg_dsn: str, local_server: LocalServer
) -> None:
    path = tmp_path / "signaldesk.db"
    await _working_database(path, local_server)
    lite = SqliteStore.open(path)
    moved = run("migrate-to", pg_dsn, env={"SIGNALDESK_DATABASE": str(path)})
    assert moved.returncode == 0, moved.stderr
    assert "2 feeds" in moved.stdout and "3 entries" in moved.stdout
    pg = PostgresStore.open(pg_dsn)

    def feeds(store: Any) -> list[tuple[str | None, int | None, str]]:
        return [(f.name, f.ref, f.url) for f in store.channel_feeds("console:desk")]

    assert feeds(pg) == feeds(lite) and [n for n, _, _ in feeds(pg)] == ["Wire", "Daily"]
    assert pg.deliveries() == lite.deliveries()
    sent = [d for d in pg.deliveries() if d.state == DeliveryState.SENT]
    assert len(sent) == 1 and pg.posted_ref("console:desk", sent[0].briefing_id)
    assert [d.id for d in pg.due_deliveries(pg.deliveries()[-1].created_at, 10)] == [
        d.id for d in lite.due_deliveries(lite.deliveries()[-1].created_at, 10)
    ]
    assert {b.id for b in pg.search_briefings("pilots", limit=5)} == {
        b.id for b in lite.search_briefings("pilots", limit=5)
    }
    # The Slack workspace stays installed: no one has to install the app again.
    assert pg.slack_find_installed_bot("client-1", "", "T7") == lite.slack_find_installed_bot(
        "client-1", "", "T7"
    )
    assert pg.slack_find_bot("client-1", "", "T7")["bot_token"] == "xoxb-t7"  # type: ignore[index]
    assert pg.slack_workspace_channels("T7", None) == ["C1"]
    # It goes on: the next feed and entry get ids after the copied ones.
    (wire, daily) = pg.list_feeds()
    later = datetime.now(UTC)
    newer, created = pg.add_feed("https://new.example/rss", name=None, now=later)
    assert created and newer.id == daily.id + 1
    (entry,) = pg.add_entries(wire.id, [FeedEntry(guid="w-3", title="Pilots return")], later)
    assert entry.id == 4
    pg.close()
    lite.close()


def test_a_target_that_is_not_empty_is_refused_untouched(tmp_path: Path, pg_dsn: str) -> None:
    path = tmp_path / "signaldesk.db"
    env = {"SIGNALDESK_DATABASE": str(path)}
    assert run("cmd", "--admin", "topic add ports port OR harbour", env=env).returncode == 0
    assert run("migrate-to", pg_dsn, env=env).returncode == 0
    topics = run("cmd", "topics", env={"SIGNALDESK_DATABASE": pg_dsn})
    assert "ports" in topics.stdout
    again = run("migrate-to", pg_dsn, env=env)
    assert "not empty" in assert_one_line_error(again, 1)
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM topics").fetchone() == (1,)
    wrong = run("migrate-to", "mysql://db/desk", env=env)
    assert "postgresql://" in assert_one_line_error(wrong, 2)
