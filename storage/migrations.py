"""Append-only schema migrations (sqlite-utils ``Migrations``).

Never edit or reorder a migration that has shipped: add a new one. Each runs in a
transaction together with the record of it having been applied.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("signaldesk")


@migrations()
def m001_initial(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE feeds (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL UNIQUE,
            name TEXT,
            title TEXT,
            etag TEXT,
            last_modified TEXT,
            content_hash TEXT,
            interval_seconds INTEGER NOT NULL,
            next_poll_at TEXT NOT NULL,
            primed INTEGER NOT NULL DEFAULT 0,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            last_error_at TEXT,
            last_success_at TEXT,
            failing_since TEXT,
            created_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX feeds_next_poll ON feeds (next_poll_at)")
    db.execute(
        """
        CREATE TABLE stories (
            id INTEGER PRIMARY KEY,
            briefing_id TEXT NOT NULL UNIQUE,
            title TEXT NOT NULL,
            text TEXT NOT NULL DEFAULT '',
            fingerprint TEXT,
            published TEXT,
            first_seen TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX stories_updated ON stories (updated_at)")
    db.execute(
        """
        CREATE TABLE entries (
            id INTEGER PRIMARY KEY,
            feed_id INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            title TEXT NOT NULL,
            link TEXT,
            summary TEXT NOT NULL DEFAULT '',
            content TEXT NOT NULL DEFAULT '',
            author TEXT,
            published TEXT,
            fetched_at TEXT NOT NULL,
            story_id INTEGER REFERENCES stories(id),
            article_title TEXT,
            article_text TEXT,
            article_author TEXT,
            article_from_page INTEGER,
            UNIQUE (feed_id, key)
        )
        """
    )
    db.execute("CREATE INDEX entries_story ON entries (story_id)")
    db.execute(
        """
        CREATE TABLE briefings (
            id TEXT PRIMARY KEY,
            story_id INTEGER REFERENCES stories(id),
            headline TEXT NOT NULL,
            lead TEXT NOT NULL,
            body TEXT NOT NULL,
            source_count INTEGER NOT NULL,
            revision INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            data TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX briefings_created ON briefings (created_at)")
    # Full-text index over what a person would search for; kept in step by triggers.
    db.table("briefings").enable_fts(
        ["headline", "lead", "body"], fts_version="FTS5", create_triggers=True, tokenize="porter"
    )
    db.execute(
        """
        CREATE TABLE channels (
            id TEXT PRIMARY KEY,
            mode TEXT NOT NULL DEFAULT 'realtime',
            digest_time TEXT,
            timezone TEXT NOT NULL DEFAULT 'UTC',
            include_words TEXT NOT NULL DEFAULT '[]',
            exclude_words TEXT NOT NULL DEFAULT '[]',
            last_digest_at TEXT,
            created_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE subscriptions (
            channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
            feed_id INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            PRIMARY KEY (channel_id, feed_id)
        )
        """
    )
    db.execute("CREATE INDEX subscriptions_feed ON subscriptions (feed_id)")
    db.execute(
        """
        CREATE TABLE topics (
            channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
            slug TEXT NOT NULL,
            query TEXT NOT NULL,
            PRIMARY KEY (channel_id, slug)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
            briefing_id TEXT NOT NULL REFERENCES briefings(id),
            kind TEXT NOT NULL,
            revision INTEGER NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            message_ref TEXT,
            last_error TEXT,
            not_before TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (channel_id, briefing_id, revision)
        )
        """
    )
    db.execute("CREATE INDEX outbox_state ON outbox (state, channel_id, id)")


@migrations()
def m003_llm_usage(db: Database) -> None:
    # The LLM condenser's tokens per UTC day, so that its daily budget survives a restart.
    db.execute(
        """
        CREATE TABLE llm_usage (
            day TEXT PRIMARY KEY,
            prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            requests INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT NOT NULL
        )
        """
    )


@migrations()
def m004_entries_story_feed(db: Database) -> None:
    # Covers the per-briefing "does this channel follow one of its feeds" check of
    # every search (story -> feeds) without reading the entries' rows.
    db.execute("CREATE INDEX entries_story_feed ON entries (story_id, feed_id)")


@migrations()
def m005_feed_health_notices(db: Database) -> None:
    # Feed-health notices ("feed X has failed since …", "feed X is working again") queued
    # per channel like the outbox, but for plain text. feeds.failure_notice_at records
    # that channels were told, in the same transaction as the queueing, so that a notice
    # is queued once however often the process restarts.
    db.execute("ALTER TABLE feeds ADD COLUMN failure_notice_at TEXT")
    db.execute(
        """
        CREATE TABLE notices (
            id INTEGER PRIMARY KEY,
            channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
            feed_id INTEGER REFERENCES feeds(id) ON DELETE SET NULL,
            kind TEXT NOT NULL,
            text TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            message_ref TEXT,
            last_error TEXT,
            not_before TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX notices_state ON notices (state, id)")
    # The engine looks for feeds to notify every cycle: partial indexes keep that to the
    # few failing or notified feeds among tens of thousands.
    db.execute(
        "CREATE INDEX feeds_failing ON feeds (consecutive_failures) WHERE consecutive_failures > 0"
    )
    db.execute(
        "CREATE INDEX feeds_notified ON feeds (failure_notice_at) "
        "WHERE failure_notice_at IS NOT NULL"
    )


@migrations()
def m006_entries_pending(db: Database) -> None:
    # An entry is stored before it is briefed; ``pending`` marks the ones still to brief
    # so that a process killed in between resumes them at start instead of losing them.
    # Existing rows were handled by the old code: 0. The partial index keeps the resume
    # query cheap however many entries there are.
    db.execute("ALTER TABLE entries ADD COLUMN pending INTEGER NOT NULL DEFAULT 0")
    db.execute("CREATE INDEX entries_pending ON entries (id) WHERE pending = 1")


@migrations()
def m007_text_retention(db: Database) -> None:
    # Housekeeping clears the bulky text of old entries and stories (see
    # ``SqliteStore.forget_old_text``). Partial indexes hold only the rows that still
    # have text, so finding the old ones stays cheap however long the service runs.
    db.execute(
        "CREATE INDEX entries_with_text ON entries (fetched_at) "
        "WHERE article_text IS NOT NULL OR summary != '' OR content != ''"
    )
    db.execute("CREATE INDEX stories_with_text ON stories (updated_at) WHERE text != ''")


@migrations()
def m008_entries_origin(db: Database) -> None:
    # An aggregator's item names the outlet it comes from (RSS/Atom <source>): the
    # clusterer's same-outlet rule must see that outlet, not the aggregator's host.
    db.execute("ALTER TABLE entries ADD COLUMN origin TEXT")


@migrations()
def m009_entry_attempts(db: Database) -> None:
    # m009 (h3): an entry whose briefing raised is retried a few times, then marked
    # failed (``failed_at``, ``last_error``) instead of being retried at every start or
    # stranding the rest of its poll; ``feeds.failed_entries`` counts them for the
    # feed's health line.
    db.execute("ALTER TABLE entries ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE entries ADD COLUMN failed_at TEXT")
    db.execute("ALTER TABLE entries ADD COLUMN last_error TEXT")
    db.execute("ALTER TABLE feeds ADD COLUMN failed_entries INTEGER NOT NULL DEFAULT 0")


@migrations()
def m010_entry_identity(db: Database) -> None:
    # m010 (h3): a feed that re-issues an item under a fresh GUID (same canonical link,
    # same text) must not make a new entry: ``link_key`` and ``text_hash`` let
    # add_entries recognise it. (feed_id, id) orders a feed's entries for the per-feed
    # bound (``SqliteStore.trim_feed``). Older rows keep NULLs: they were stored before.
    db.execute("ALTER TABLE entries ADD COLUMN link_key TEXT")
    db.execute("ALTER TABLE entries ADD COLUMN text_hash TEXT")
    db.execute(
        "CREATE INDEX entries_feed_link ON entries (feed_id, link_key) WHERE link_key IS NOT NULL"
    )
    db.execute("CREATE INDEX entries_feed_id ON entries (feed_id, id)")


@migrations()
def m011_tenancy(db: Database) -> None:
    # m011 (h2): tenant isolation (issue 12).
    # ``briefing_routes`` records every (channel, briefing) the router handed a channel:
    # what a channel may see (more, related, search, topics, buttons). Kept apart from
    # the outbox, whose rows are delivery attempts, so that pruning or reshaping the
    # delivery queue never widens or narrows what a channel can read. Keyed by the
    # briefing's rowid, not its (random) text id: a search walks the full-text index in
    # rowid order, so its per-row "routed here?" probes read neighbouring index pages.
    # Backfilled from the outbox: what was queued for a channel was routed to it.
    db.execute(
        """
        CREATE TABLE briefing_routes (
            id INTEGER PRIMARY KEY,
            channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
            briefing_rowid INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (channel_id, briefing_rowid)
        )
        """
    )
    db.execute("CREATE INDEX briefing_routes_briefing ON briefing_routes (briefing_rowid)")
    db.execute(
        """INSERT OR IGNORE INTO briefing_routes (channel_id, briefing_rowid, created_at)
           SELECT o.channel_id, b.rowid, min(o.created_at) FROM outbox o
           JOIN briefings b ON b.id = o.briefing_id
           GROUP BY o.channel_id, b.rowid ORDER BY min(o.id)"""
    )
    # A story merged from feeds that different channels follow gets one briefing per
    # set of followed feeds (see bot.tenancy): ``view`` records which feeds (and under
    # which names) a briefing was condensed from; NULL for briefings made before.
    db.execute("ALTER TABLE briefings ADD COLUMN view TEXT")
    db.execute("CREATE INDEX briefings_story ON briefings (story_id)")
    # A feed's name is the subscribing channel's own: one admin's label must not show
    # in another tenant's channel. The name a feed had moves to its first subscriber.
    db.execute("ALTER TABLE subscriptions ADD COLUMN name TEXT")
    db.execute(
        """UPDATE subscriptions SET name = (SELECT f.name FROM feeds f WHERE f.id = feed_id)
           WHERE rowid IN (SELECT s.rowid FROM subscriptions s JOIN feeds f ON f.id = s.feed_id
                           WHERE f.name IS NOT NULL AND s.rowid = (
                               SELECT s2.rowid FROM subscriptions s2 WHERE s2.feed_id = s.feed_id
                               ORDER BY s2.created_at, s2.channel_id LIMIT 1))"""
    )
    db.execute("UPDATE feeds SET name = NULL WHERE name IS NOT NULL")
    # A feed's number is the channel's own too: the shared feed id, a global counter,
    # would show whether a URL was known before this channel added it. Existing
    # subscriptions keep the number their channel knows (the feed id).
    db.execute("ALTER TABLE subscriptions ADD COLUMN ref INTEGER")
    db.execute("UPDATE subscriptions SET ref = feed_id")
    db.execute("CREATE UNIQUE INDEX subscriptions_ref ON subscriptions (channel_id, ref)")


@migrations()
def m012_outbox_attempts(db: Database) -> None:
    # m012 (h4): the attempt record. Before a message is handed to the platform the row
    # says when the first and the latest attempt began, so that after a crash or a lost
    # answer the message is looked up in that window (by the key it was sent with), not
    # in "the channel's recent history". A digest part's rows share the key the part was
    # sent under; the partial index finds parts left in flight by a crash. Notices too.
    db.execute("ALTER TABLE outbox ADD COLUMN first_attempt_at TEXT")
    db.execute("ALTER TABLE outbox ADD COLUMN attempt_at TEXT")
    db.execute("ALTER TABLE outbox ADD COLUMN digest_key TEXT")
    db.execute("CREATE INDEX outbox_digest_key ON outbox (digest_key) WHERE digest_key IS NOT NULL")
    # Feed-health notices get the same record: a notice cut off by a crash is looked up
    # by its key and sent again only if it is not there (it was at most once before).
    db.execute("ALTER TABLE notices ADD COLUMN first_attempt_at TEXT")
    db.execute("ALTER TABLE notices ADD COLUMN attempt_at TEXT")


@migrations()
def m013_story_follows(db: Database) -> None:
    # m013 (h6): a new development is its own story, linked to the story it follows
    # ("Follows: <id>" in its related list).
    db.execute("ALTER TABLE stories ADD COLUMN follows INTEGER REFERENCES stories(id)")


@migrations()
def m014_slack_workspaces(db: Database) -> None:
    # m014 (h15): the Slack adapter's multi-workspace (OAuth) state moves into the
    # database, under the migrations: until now slack-sdk's SQLite stores and the
    # adapter's channel directory kept it in a second file, "<database>.slack.db",
    # outside them. Installations and bots keep slack-sdk's own columns, so that the
    # old file's rows are imported as they are (``SlackMixin.import_slack_file``), and
    # every save is a new row (the newest wins, as slack-sdk's stores do).
    db.execute(
        """
        CREATE TABLE slack_installations (
            id INTEGER PRIMARY KEY,
            client_id TEXT NOT NULL,
            app_id TEXT,
            enterprise_id TEXT NOT NULL DEFAULT '',
            enterprise_name TEXT,
            enterprise_url TEXT,
            team_id TEXT NOT NULL DEFAULT '',
            team_name TEXT,
            bot_token TEXT,
            bot_id TEXT,
            bot_user_id TEXT,
            bot_scopes TEXT,
            bot_refresh_token TEXT,
            bot_token_expires_at INTEGER,
            user_id TEXT,
            user_token TEXT,
            user_scopes TEXT,
            user_refresh_token TEXT,
            user_token_expires_at INTEGER,
            incoming_webhook_url TEXT,
            incoming_webhook_channel TEXT,
            incoming_webhook_channel_id TEXT,
            incoming_webhook_configuration_url TEXT,
            is_enterprise_install INTEGER NOT NULL DEFAULT 0,
            token_type TEXT,
            installed_at REAL NOT NULL
        )
        """
    )
    db.execute(
        "CREATE INDEX slack_installations_key ON slack_installations "
        "(client_id, enterprise_id, team_id, installed_at)"
    )
    db.execute(
        """
        CREATE TABLE slack_bots (
            id INTEGER PRIMARY KEY,
            client_id TEXT NOT NULL,
            app_id TEXT,
            enterprise_id TEXT NOT NULL DEFAULT '',
            enterprise_name TEXT,
            team_id TEXT NOT NULL DEFAULT '',
            team_name TEXT,
            bot_token TEXT NOT NULL,
            bot_id TEXT,
            bot_user_id TEXT,
            bot_scopes TEXT,
            bot_refresh_token TEXT,
            bot_token_expires_at INTEGER,
            is_enterprise_install INTEGER NOT NULL DEFAULT 0,
            installed_at REAL NOT NULL
        )
        """
    )
    db.execute(
        "CREATE INDEX slack_bots_key ON slack_bots "
        "(client_id, enterprise_id, team_id, installed_at)"
    )
    # OAuth states: one per visit of the install page, consumed by the install it starts.
    db.execute(
        """
        CREATE TABLE slack_oauth_states (
            id INTEGER PRIMARY KEY,
            state TEXT NOT NULL UNIQUE,
            expire_at REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX slack_oauth_states_expiry ON slack_oauth_states (expire_at)")
    # Which workspace each channel belongs to (learnt from its requests): a post there
    # goes out with that workspace's bot token.
    db.execute(
        """
        CREATE TABLE slack_channels (
            channel_id TEXT PRIMARY KEY,
            team_id TEXT NOT NULL,
            enterprise_id TEXT
        )
        """
    )
    # The "<database>.slack.db" files already imported (by resolved path), so that an
    # import happens once however often the service restarts.
    db.execute(
        """
        CREATE TABLE slack_imports (
            path TEXT PRIMARY KEY,
            imported_at TEXT NOT NULL,
            rows INTEGER NOT NULL
        )
        """
    )


@migrations()
def m015_service_heartbeat(db: Database) -> None:
    # The running service's last tick and its platform connections, one row, so that
    # `signaldesk healthcheck` in another process (a container's HEALTHCHECK, a
    # monitoring agent) can tell a live service from a hung one.
    db.execute(
        """
        CREATE TABLE service_heartbeat (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            at TEXT NOT NULL,
            pid INTEGER NOT NULL,
            version TEXT NOT NULL,
            platforms TEXT NOT NULL DEFAULT '{}'
        )
        """
    )


@migrations()
def m016_feeds_follow_the_default_interval(db: Database) -> None:
    # A feed's interval was copied from SIGNALDESK_POLL_INTERVAL when it was added, so a
    # changed setting never reached the feeds already there. No feed has an interval of
    # its own (nothing sets one), so every feed now follows the setting: 0 means "the
    # service's default".
    db.execute("UPDATE feeds SET interval_seconds = 0")


@migrations()
def m017_channel_pauses(db: Database) -> None:
    # A channel the bot cannot post in (not a member, a permission missing, archived)
    # is paused, not failed: its deliveries are held, the reason is shown to its admins,
    # and one delivery is tried again at ``probe_after`` (or at once when the platform
    # says the bot was let back in). NULL reason: not paused.
    for column in ("paused_reason", "paused_at", "probe_after"):
        db.execute(f"ALTER TABLE channels ADD COLUMN {column} TEXT")


@migrations()
def m018_llm_reservations(db: Database) -> None:
    # Tokens promised to LLM requests in flight, so that every process sharing the
    # database sees what the others may still spend today; a reservation whose process
    # died is given back when it expires.
    db.execute(
        """
        CREATE TABLE llm_reservations (
            id INTEGER PRIMARY KEY,
            day TEXT NOT NULL,
            tokens INTEGER NOT NULL,
            expires_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX llm_reservations_day ON llm_reservations (day)")
