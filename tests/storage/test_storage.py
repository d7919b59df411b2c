"""Storage: migrations, what counts as new, the outbox's uniqueness, full-text search."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.errors import QueryError, StorageError
from bot.models import (
    Article,
    Briefing,
    Bullet,
    DeliveryState,
    FeedEntry,
    FetchState,
    Source,
    StoryDoc,
    Topic,
)
from bot.query import parse_query
from storage import SqliteStore, open_database
from storage.migrations import migrations

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _briefing(
    bid: str, headline: str, *, sources: int = 1, story_id: int | None = None
) -> Briefing:
    return Briefing(
        id=bid,
        story_id=story_id,
        headline=headline,
        lead=f"{headline} — the lead.",
        bullets=[Bullet(text=f"{headline} point {i}") for i in range(3)],
        sources=[Source(publisher=f"Outlet {i}", title=headline) for i in range(sources)],
        created_at=NOW,
        updated_at=NOW,
    )


@pytest.fixture
def store() -> SqliteStore:
    return SqliteStore.open(":memory:")


def test_fresh_database_is_migrated_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SqliteStore.open(path)
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # Every declared migration, in order, and nothing left over (new ones append).
    applied = [m.name for m in migrations.applied(store.db)]
    assert applied[0] == "m001_initial" and "m003_llm_usage" in applied
    assert migrations.pending(store.db) == []
    assert {
        "feeds",
        "entries",
        "stories",
        "briefings",
        "channels",
        "subscriptions",
        "outbox",
        "llm_usage",
    } <= set(store.db.table_names())
    store.close()


def test_existing_database_keeps_its_data_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SqliteStore.open(path)
    store.add_feed("https://example.org/feed.xml", name="Example", now=NOW)
    applied_first = migrations.applied(store.db)
    store.close()
    again = SqliteStore.open(path)  # migrations run again: nothing pending, nothing lost
    assert [f.url for f in again.list_feeds()] == ["https://example.org/feed.xml"]
    assert len(migrations.applied(again.db)) == len(applied_first)
    again.close()


def test_only_new_entries_come_back(any_store: SqliteStore) -> None:
    store = any_store
    feed, created = store.add_feed("https://example.org/feed.xml", name=None, now=NOW)
    assert created
    first = [FeedEntry(guid="a", title="A"), FeedEntry(link="https://example.org/b", title="B")]
    assert [e.title for e in store.add_entries(feed.id, first, NOW)] == ["A", "B"]
    # Same guid, and the same link with a tracking parameter: both already seen.
    again = [
        FeedEntry(guid="a", title="A edited"),
        FeedEntry(link="https://EXAMPLE.org/b?utm_source=x", title="B"),
        FeedEntry(guid="c", title="C"),
    ]
    assert [e.title for e in store.add_entries(feed.id, again, NOW)] == ["C"]
    # Another feed carrying the same guid is a different entry.
    other, _ = store.add_feed("https://example.net/rss", name=None, now=NOW)
    assert len(store.add_entries(other.id, [FeedEntry(guid="a", title="A")], NOW)) == 1


def test_a_failing_entry_stays_pending_until_its_last_attempt(any_store: SqliteStore) -> None:
    store = any_store
    feed, _ = store.add_feed("https://wire.example/rss", name=None, now=NOW)
    flood = [FeedEntry(guid=f"w{n}", title=f"Port strike, day {n}") for n in range(4)]
    stored = store.add_entries(feed.id, flood, NOW, brief={"guid:w2", "guid:w3"})
    assert [e.title for e in store.pending_entries(10)] == [
        "Port strike, day 2",
        "Port strike, day 3",
    ]
    bad, good = store.pending_entries(10)
    assert store.pending_entries(10, after_id=bad.id) == [good]
    assert not store.entry_failed(bad.id, "condenser timed out", NOW, max_attempts=2)
    assert store.entry_failed(bad.id, "condenser timed out", NOW, max_attempts=2)
    assert not store.entry_failed(bad.id, "again", NOW, max_attempts=2)  # counted once
    store.mark_briefed(good.id)
    assert store.pending_entries(10) == []
    assert store.failed_entries(feed.id) == [(bad.id, "again")]
    refreshed = store.get_feed(feed.id)
    assert refreshed is not None and refreshed.failed_entries == 1
    assert len(stored) == 4


def test_each_channel_names_and_numbers_its_own_feeds(any_store: SqliteStore) -> None:
    store = any_store
    for channel in ("slack:T1:C-desk", "discord:42:7"):
        store.ensure_channel(channel, NOW)
    wire, _ = store.add_feed("https://wire.example/rss", name=None, now=NOW)
    port, _ = store.add_feed("https://port.example/news.xml", name=None, now=NOW)
    assert store.subscribe("slack:T1:C-desk", wire.id, NOW, name="Wire")
    assert store.subscribe("slack:T1:C-desk", port.id, NOW, name="Port news")
    assert not store.subscribe("slack:T1:C-desk", port.id, NOW)  # already
    assert store.subscribe("discord:42:7", port.id, NOW, name="Harbour")
    desk = [(f.name, f.ref) for f in store.channel_feeds("slack:T1:C-desk")]
    assert desk == [("Wire", 1), ("Port news", 2)]
    assert [(f.name, f.ref) for f in store.channel_feeds("discord:42:7")] == [("Harbour", 1)]
    assert [c.id for c in store.channels_for_feeds([port.id])] == [
        "discord:42:7",
        "slack:T1:C-desk",
    ]
    assert store.unsubscribe("discord:42:7", port.id)
    assert not store.channel_has_feeds("discord:42:7")


def test_a_paused_channel_keeps_its_first_pause_and_topics_are_its_own(
    any_store: SqliteStore,
) -> None:
    store = any_store
    store.ensure_channel("slack:T1:C-desk", NOW)
    later = NOW + timedelta(hours=1)
    assert store.pause_channel("slack:T1:C-desk", "not in channel: invite the bot", NOW, later)
    assert not store.pause_channel("slack:T1:C-desk", "channel archived", later, later)
    paused = store.get_channel("slack:T1:C-desk")
    assert paused is not None
    assert (paused.paused_reason, paused.paused_at) == ("channel archived", NOW)
    assert store.probe_channel("slack:T1:C-desk", later)
    assert store.unpause_channel("slack:T1:C-desk")
    assert not store.unpause_channel("slack:T1:C-desk")
    store.save_topic(Topic(channel_id="slack:T1:C-desk", slug="ports", query="port OR harbour"))
    store.save_topic(Topic(channel_id="slack:T1:C-desk", slug="ports", query="port NOT ferry"))
    assert [t.query for t in store.channel_topics("slack:T1:C-desk")] == ["port NOT ferry"]
    assert store.remove_topic("slack:T1:C-desk", "ports")
    assert store.channel_topics("slack:T1:C-desk") == []


def test_adding_a_feed_twice_returns_the_same_feed(any_store: SqliteStore) -> None:
    one, created_one = any_store.add_feed("https://example.org/f", name=None, now=NOW)
    two, created_two = any_store.add_feed("https://example.org/f", name="x", now=NOW)
    assert (created_one, created_two) == (True, False)
    assert one.id == two.id


def test_outbox_never_queues_a_briefing_twice(any_store: SqliteStore) -> None:
    store = any_store
    store.ensure_channel("console:general", NOW)
    store.save_briefing(_briefing("abc12345", "Port strike ends"))
    kw = {"kind": "post", "revision": 1, "state": DeliveryState.PENDING, "now": NOW}
    assert store.enqueue_delivery("console:general", "abc12345", **kw) is True
    assert store.enqueue_delivery("console:general", "abc12345", **kw) is False
    assert len(store.deliveries()) == 1


def test_due_deliveries_keep_per_channel_order(any_store: SqliteStore) -> None:
    store = any_store
    store.ensure_channel("console:a", NOW)
    for bid in ("b1", "b2"):
        store.save_briefing(_briefing(bid, f"Story {bid}"))
        store.enqueue_delivery(
            "console:a", bid, kind="post", revision=1, state=DeliveryState.PENDING, now=NOW
        )
    head = store.due_deliveries(NOW, 10)
    assert [d.briefing_id for d in head] == ["b1"]
    # The head waits for a retry: the second must not overtake it.
    store.mark_delivery(
        head[0].id, DeliveryState.PENDING, not_before=NOW + timedelta(minutes=5), now=NOW
    )
    assert store.due_deliveries(NOW, 10) == []
    store.mark_delivery(head[0].id, DeliveryState.SENT, message_ref="m1", now=NOW)
    assert [d.briefing_id for d in store.due_deliveries(NOW, 10)] == ["b2"]
    assert store.posted_ref("console:a", "b1") == "m1"
    # What is queued for a channel is what it may read.
    assert store.routed_ids("console:a", ["b1", "b2", "b3"]) == {"b1", "b2"}
    assert store.channel_briefing("console:b", "b1") is None


def test_a_failing_feed_is_noticed_once_in_each_channel_as_it_names_it(
    any_store: SqliteStore,
) -> None:
    store = any_store
    feed, _ = store.add_feed("https://wire.example/rss", name=None, now=NOW)
    for channel, name in (("slack:T1:C-desk", "Wire"), ("discord:42:7", "Agency")):
        store.ensure_channel(channel, NOW)
        store.subscribe(channel, feed.id, NOW, name=name)
    for _ in range(3):
        store.record_fetch(feed.id, FetchState(ok=False, error="HTTP 503", next_poll_at=NOW), NOW)
    assert [(f.id, kind) for f, kind in store.feeds_needing_notice(3)] == [(feed.id, "failing")]
    text = lambda name, ref: f"{name} (feed {ref}) fails: HTTP 503"  # noqa: E731
    assert store.queue_feed_notice(feed.id, "failing", text, NOW) == 2
    assert store.queue_feed_notice(feed.id, "failing", text, NOW) == 0  # told once
    due = store.due_notices(NOW, 10)
    assert [(n.channel_id, n.text) for n in due] == [
        ("discord:42:7", "Agency (feed 1) fails: HTTP 503"),
        ("slack:T1:C-desk", "Wire (feed 1) fails: HTTP 503"),
    ]
    store.mark_notice(due[0].id, DeliveryState.SENDING, now=NOW)
    store.mark_notice(due[0].id, DeliveryState.SENT, message_ref="m1", now=NOW)
    (sent, _) = store.notices()
    assert (sent.state, sent.attempts, sent.message_ref) == (DeliveryState.SENT, 1, "m1")
    assert [n.channel_id for n in store.due_notices(NOW, 10)] == ["slack:T1:C-desk"]


def test_full_text_search_and_bad_query(any_store: SqliteStore) -> None:
    store = any_store
    store.save_briefing(_briefing("c1", "Hangzhou lab trains a trillion-parameter model"))
    store.save_briefing(_briefing("c2", "Dock workers strike in Rotterdam"))
    assert [b.id for b in store.search_briefings("trillion", limit=5)] == ["c1"]
    assert [b.id for b in store.search_briefings("workers", limit=5)] == ["c2"]  # porter stems
    with pytest.raises(QueryError):
        store.search_briefings('"unbalanced', limit=5)
    # Re-saving replaces the briefing and its index entry.
    store.save_briefing(_briefing("c1", "Hangzhou lab delays its model"))
    assert store.search_briefings("trillion", limit=5) == []


def test_a_search_ranks_among_the_newest_matches_of_its_window(any_store: SqliteStore) -> None:
    # What related search does for every new entry: relevance among the newest
    # ``window`` matches only, so that its cost stops growing with the index.
    store = any_store
    store.save_briefing(_briefing("old", "Harbour strike strike strike at Kestrel Bay"))
    for n in range(5):
        store.save_briefing(_briefing(f"new{n}", f"Harbour talks resume, day {n}"))
    best = store.search_briefings("strike OR harbour", limit=1)
    assert [b.id for b in best] == ["old"]  # the most relevant, over every match
    recent = store.search_briefings("strike OR harbour", limit=6, window=3)
    assert {b.id for b in recent} == {"new2", "new3", "new4"}
    # Related search reads the same matches, only what it compares of each.
    query = parse_query("strike OR harbour")
    hits = store.related_hits(query, limit=6, window=3)
    assert [h.id for h in hits] == [b.id for b in recent]
    assert [(h.headline, h.lead, h.story_id, h.created_at) for h in hits] == [
        (b.headline, b.lead, b.story_id, b.created_at) for b in recent
    ]
    assert store.related_hits(parse_query("kestrel"), limit=5, window=300)[0].id == "old"


def test_story_material_and_feed_ids(any_store: SqliteStore) -> None:
    store = any_store
    f1, _ = store.add_feed("https://one.example/rss", name="One", now=NOW)
    f2, _ = store.add_feed("https://two.example/rss", name="Two", now=NOW)
    (e1,) = store.add_entries(f1.id, [FeedEntry(guid="x", title="Quake hits")], NOW)
    (e2,) = store.add_entries(f2.id, [FeedEntry(guid="y", title="Earthquake strikes")], NOW)
    story = store.create_story(e1, StoryDoc(title="Quake hits", fingerprint="{}"), NOW)
    story = store.attach_to_story(story.id, e2, StoryDoc(title="Earthquake strikes"), NOW)
    assert [e.id for e, _, _ in store.story_material(story.id)] == [e1.id, e2.id]
    assert [p for _, _, p in store.story_material(story.id)] == ["One", "Two"]
    store.save_briefing(_briefing(story.briefing_id, "Quake hits", story_id=story.id))
    assert store.briefing_feed_ids(story.briefing_id) == [f1.id, f2.id]


def test_recent_stories_carry_their_outlets(any_store: SqliteStore) -> None:
    store = any_store
    # The clusterer's view after a restart must still know who already reported a story.
    f1, _ = store.add_feed("https://one.example/rss", name="One", now=NOW)
    f2, _ = store.add_feed("https://aggregator.example/rss", name="Agg", now=NOW)
    (e1,) = store.add_entries(
        f1.id, [FeedEntry(link="https://www.daily.example/a", title="Quake hits")], NOW
    )
    (e2,) = store.add_entries(f2.id, [FeedEntry(guid="y", title="Earthquake strikes")], NOW)
    relayed = FeedEntry(
        link="https://aggregator.example/r/7", title="Quake", origin="https://m.herald.example/"
    )
    (e3,) = store.add_entries(f2.id, [relayed], NOW)
    assert e3.origin == "https://m.herald.example/"
    story = store.create_story(e1, StoryDoc(title="Quake hits"), NOW)
    store.attach_to_story(story.id, e2, StoryDoc(title="Earthquake strikes"), NOW)
    store.attach_to_story(story.id, e3, StoryDoc(title="Quake"), NOW)
    (doc,) = store.recent_story_docs(NOW - timedelta(hours=1))
    assert doc.story_id == story.id
    # An aggregator's item counts as its outlet's, not the aggregator's.
    assert doc.sources == ("daily.example", f"feed:{f2.id}", "herald.example")
    assert store.recent_story_docs(NOW + timedelta(hours=1)) == []


def test_forgetting_old_text_spares_live_stories_and_pending_entries(store: SqliteStore) -> None:
    feed, _ = store.add_feed("https://one.example/rss", name="One", now=NOW)
    old = NOW - timedelta(days=40)

    def entry(guid: str) -> FeedEntry:
        return FeedEntry(guid=guid, title=guid, summary=f"{guid} summary", content="body")

    quiet, live, unbriefed = store.add_entries(
        feed.id, [entry("quiet"), entry("live"), entry("unbriefed")], old
    )
    for e in (quiet, live, unbriefed):
        store.save_article(e.id, Article(title=e.title, text=f"{e.title} article text"))
    store.create_story(quiet, StoryDoc(title="quiet", text="quiet story text"), old)
    story = store.create_story(live, StoryDoc(title="live", text="live story text"), old)
    later = store.add_entries(feed.id, [entry("follow-up")], NOW)
    store.attach_to_story(story.id, later[0], StoryDoc(title="live"), NOW)  # it grew
    for e in (quiet, live, later[0]):
        store.mark_briefed(e.id)

    assert store.forget_old_text(NOW - timedelta(days=30), limit=1000) == 1
    rows = {
        r["key"]: r
        for r in store.db.query("SELECT key, summary, content, article_text FROM entries")
    }
    assert (rows["guid:quiet"]["summary"], rows["guid:quiet"]["article_text"]) == ("", None)
    assert rows["guid:live"]["article_text"] == "live article text"  # its story is live
    assert rows["guid:unbriefed"]["summary"] == "unbriefed summary"  # still to brief
    texts = dict(store.db.execute("SELECT title, text FROM stories").fetchall())
    assert texts == {"quiet": "", "live": "live story text"}
    assert store.forget_old_text(NOW - timedelta(days=30), limit=1000) == 0  # idempotent
    # Keys stay: the quiet item listed again is not new.
    assert store.add_entries(feed.id, [entry("quiet")], NOW) == []


def test_corrupt_file_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError) as err:
        open_database(path)
    assert "not a readable SQLite database" in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_folder_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(StorageError) as err:
        open_database(tmp_path / "nope" / "s.db")
    assert "does not exist" in str(err.value)


def test_backup_is_a_consistent_copy(tmp_path: Path) -> None:
    store = SqliteStore.open(tmp_path / "live.db")
    store.add_feed("https://example.org/feed", name=None, now=NOW)
    store.backup(tmp_path / "copy.db")
    copy = sqlite3.connect(tmp_path / "copy.db")
    assert copy.execute("SELECT url FROM feeds").fetchall() == [("https://example.org/feed",)]
    copy.close()
    store.close()


def test_llm_usage_adds_up_per_day(any_store: SqliteStore) -> None:
    assert any_store.llm_usage("2025-03-01") == (0, 0)
    any_store.add_llm_usage("2025-03-01", 900, 250, NOW)
    any_store.add_llm_usage("2025-03-01", 100, 50, NOW)
    any_store.add_llm_usage("2025-03-02", 7, 3, NOW)
    assert any_store.llm_usage("2025-03-01") == (1000, 300)
    assert any_store.llm_usage("2025-03-02") == (7, 3)


def test_database_from_the_first_release_upgrades_in_place(tmp_path: Path) -> None:
    """A file made by the first schema only gets every later migration on open, and
    keeps its rows; entries it had already handled are not resumed as pending."""
    import sqlite_utils

    path = tmp_path / "old.db"
    old = sqlite_utils.Database(path)
    migrations.apply(old, stop_before="m003_llm_usage")
    old.execute(
        "INSERT INTO feeds (url, interval_seconds, next_poll_at, created_at) "
        "VALUES ('https://old.example/rss', 900, '2026-01-01T00:00:00+00:00', "
        "'2026-01-01T00:00:00+00:00')"
    )
    old.execute(
        "INSERT INTO entries (feed_id, key, title, fetched_at) "
        "VALUES (1, 'guid:x', 'Old entry', '2026-01-01T00:00:00+00:00')"
    )
    old.conn.commit()
    old.close()

    store = SqliteStore.open(path)
    assert [f.url for f in store.list_feeds()] == ["https://old.example/rss"]
    assert store.pending_entries(10) == []
    assert {m.name for m in migrations.applied(store.db)} >= {
        "m001_initial",
        "m006_entries_pending",
    }
    store.close()


# ------------------------------------------------------------- Slack workspaces


def _slack_sdk_3_7_file(path: Path) -> None:
    """A "<database>.slack.db" as slack-sdk before 3.8 made it (no token rotation
    columns), with an expired and a live OAuth state and the adapter's channel table."""
    with sqlite3.connect(path) as db:
        db.execute(
            """CREATE TABLE slack_bots (id INTEGER PRIMARY KEY AUTOINCREMENT,
               client_id TEXT NOT NULL, app_id TEXT NOT NULL,
               enterprise_id TEXT NOT NULL DEFAULT '', enterprise_name TEXT,
               team_id TEXT NOT NULL DEFAULT '', team_name TEXT, bot_token TEXT NOT NULL,
               bot_id TEXT NOT NULL, bot_user_id TEXT NOT NULL, bot_scopes TEXT,
               is_enterprise_install BOOLEAN NOT NULL DEFAULT 0,
               installed_at DATETIME NOT NULL DEFAULT current_timestamp)"""
        )
        db.execute(
            "INSERT INTO slack_bots (client_id, app_id, team_id, team_name, bot_token, bot_id,"
            " bot_user_id, bot_scopes, installed_at) VALUES ('111.222', 'A1', 'T5',"
            " 'Harbour Desk', 'xoxb-T5', 'B5', 'U5', 'commands,chat:write', '2025-03-04 05:06:07')"
        )
        db.execute(
            "CREATE TABLE oauth_states (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " state TEXT NOT NULL, expire_at DATETIME NOT NULL)"
        )
        db.executemany(
            "INSERT INTO oauth_states (state, expire_at) VALUES (?, ?)",
            [("stale", 1000.0), ("live", 5000.0)],
        )
        db.execute(
            "CREATE TABLE signaldesk_slack_channels (channel_id TEXT PRIMARY KEY,"
            " team_id TEXT NOT NULL, enterprise_id TEXT)"
        )
        db.execute("INSERT INTO signaldesk_slack_channels VALUES ('C5', 'T5', NULL)")


def test_an_old_slack_file_is_imported_once_whatever_slack_sdk_made_it(tmp_path: Path) -> None:
    old = tmp_path / "signaldesk.db.slack.db"
    _slack_sdk_3_7_file(old)
    store = SqliteStore.open(tmp_path / "signaldesk.db")
    try:
        assert store.import_slack_file(old, now=2000.0) == 3  # the bot, the live state, C5
        assert store.import_slack_file(old, now=2000.0) is None  # once
        bot = store.slack_find_bot("111.222", "", "T5")
        assert bot is not None and bot["bot_token"] == "xoxb-T5"
        assert bot["installed_at"] == datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC).timestamp()
        assert bot["bot_refresh_token"] is None  # a column 3.7 did not have
        assert store.slack_find_bot("another-app", "", "T5") is None
        assert store.slack_channel_workspace("C5") == ("T5", None)
        assert not store.slack_consume_state("stale", now=2000.0)
        assert store.slack_consume_state("live", now=2000.0)
        assert not store.slack_consume_state("live", now=2000.0)  # one install per state
    finally:
        store.close()
    assert old.is_file()  # left as it was


def test_an_unreadable_old_slack_file_is_one_clear_line(tmp_path: Path) -> None:
    old = tmp_path / "signaldesk.db.slack.db"
    old.write_bytes(b"not a database at all, just bytes " * 200)
    store = SqliteStore.open(tmp_path / "signaldesk.db")
    try:
        with pytest.raises(StorageError) as err:
            store.import_slack_file(old, now=2000.0)
        assert str(old) in str(err.value) and "move it aside" in str(err.value)
        assert "\n" not in str(err.value)
        # Nothing was recorded as imported: once the file is restored, it imports.
        old.unlink()
        _slack_sdk_3_7_file(old)
        assert store.import_slack_file(old, now=2000.0) == 3
    finally:
        store.close()


def test_the_newest_slack_installation_wins_and_deletes_forget(store: SqliteStore) -> None:
    for token, at in (("xoxb-old", 100.0), ("xoxb-new", 200.0)):
        store.slack_save_bot("111.222", {"team_id": "T5", "bot_token": token, "installed_at": at})
    bot = store.slack_find_bot("111.222", "", "T5")
    assert bot is not None and bot["bot_token"] == "xoxb-new"
    assert store.slack_delete_bot("111.222", "", "T5") == 2
    assert store.slack_find_bot("111.222", "", "T5") is None
