"""Append-only, versioned schema migrations for the PostgreSQL store — the same story
as ``storage/migrations.py``: never edit or reorder one that has shipped, add a new one.

Each migration runs in one transaction together with the record of it having been
applied (PostgreSQL's DDL is transactional), under a transaction-level advisory lock,
so that several ``signaldesk run`` processes starting at once on one database migrate
it once: the others wait, then find nothing left to do.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg

Migration = Callable[[psycopg.Connection], None]
MIGRATIONS: list[tuple[str, Migration]] = []

# An arbitrary, fixed key: "one migrator at a time" for every process on the database.
_MIGRATION_LOCK = 0x5D_0001


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append((fn.__name__, fn))
    return fn


def apply(conn: psycopg.Connection) -> list[str]:
    """Apply what is not applied yet; returns the names applied now, in order."""
    done: list[str] = []
    with conn.transaction():
        # Even CREATE TABLE IF NOT EXISTS races another process's (a duplicate key in
        # the catalogue): the lock comes first.
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [_MIGRATION_LOCK])
        conn.execute(
            """CREATE TABLE IF NOT EXISTS signaldesk_migrations (
                   name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"""
        )
    for name, fn in MIGRATIONS:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [_MIGRATION_LOCK])
            if conn.execute(
                "SELECT 1 FROM signaldesk_migrations WHERE name = %s", [name]
            ).fetchone():
                continue
            fn(conn)
            conn.execute("INSERT INTO signaldesk_migrations (name) VALUES (%s)", [name])
            done.append(name)
    return done


@migration
def m001_feeds_channels_usage(conn: psycopg.Connection) -> None:
    # The shapes SQLite's m001..m017 arrived at for these tables, as one step: feeds and
    # their poll plan, the channels that follow them, and the LLM's tokens per day.
    conn.execute(
        """
        CREATE TABLE feeds (
            id BIGSERIAL PRIMARY KEY,
            url TEXT NOT NULL UNIQUE,
            name TEXT,
            title TEXT,
            etag TEXT,
            last_modified TEXT,
            content_hash TEXT,
            interval_seconds INTEGER NOT NULL,
            next_poll_at TIMESTAMPTZ NOT NULL,
            primed BOOLEAN NOT NULL DEFAULT false,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            last_error_at TIMESTAMPTZ,
            last_success_at TIMESTAMPTZ,
            failing_since TIMESTAMPTZ,
            created_at TIMESTAMPTZ NOT NULL,
            failure_notice_at TIMESTAMPTZ,
            failed_entries INTEGER NOT NULL DEFAULT 0
        )
        """
    )
    conn.execute("CREATE INDEX feeds_next_poll ON feeds (next_poll_at)")
    conn.execute(
        "CREATE INDEX feeds_failing ON feeds (consecutive_failures) WHERE consecutive_failures > 0"
    )
    conn.execute(
        "CREATE INDEX feeds_notified ON feeds (failure_notice_at) "
        "WHERE failure_notice_at IS NOT NULL"
    )
    conn.execute(
        """
        CREATE TABLE channels (
            id TEXT PRIMARY KEY,
            mode TEXT NOT NULL DEFAULT 'realtime',
            digest_time TEXT,
            timezone TEXT NOT NULL DEFAULT 'UTC',
            include_words TEXT NOT NULL DEFAULT '[]',
            exclude_words TEXT NOT NULL DEFAULT '[]',
            last_digest_at TIMESTAMPTZ,
            created_at TIMESTAMPTZ NOT NULL,
            paused_reason TEXT,
            paused_at TIMESTAMPTZ,
            probe_after TIMESTAMPTZ
        )
        """
    )
    conn.execute(
        """
        CREATE TABLE subscriptions (
            channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
            feed_id BIGINT NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
            created_at TIMESTAMPTZ NOT NULL,
            name TEXT,
            ref INTEGER,
            PRIMARY KEY (channel_id, feed_id)
        )
        """
    )
    conn.execute("CREATE INDEX subscriptions_feed ON subscriptions (feed_id)")
    conn.execute("CREATE UNIQUE INDEX subscriptions_ref ON subscriptions (channel_id, ref)")
    conn.execute(
        """
        CREATE TABLE llm_usage (
            day TEXT PRIMARY KEY,
            prompt_tokens BIGINT NOT NULL DEFAULT 0,
            completion_tokens BIGINT NOT NULL DEFAULT 0,
            requests INTEGER NOT NULL DEFAULT 0,
            updated_at TIMESTAMPTZ NOT NULL
        )
        """
    )


@migration
def m002_briefings_search(conn: psycopg.Connection) -> None:
    # Briefings and their full-text index. SQLite's FTS5 index uses the porter stemmer
    # and no stop words; ``signaldesk`` is English snowball stemming with no stop words
    # either, so that "the", "us" or "who" stay searchable as they are there. One
    # tsvector per briefing, its fields told apart by weight (A headline, B lead,
    # C body): a field query restricts its words to their fields' weights.
    conn.execute(
        "CREATE TEXT SEARCH DICTIONARY signaldesk_stem (TEMPLATE = snowball, Language = english)"
    )
    conn.execute("CREATE TEXT SEARCH CONFIGURATION signaldesk (COPY = english)")
    conn.execute(
        """ALTER TEXT SEARCH CONFIGURATION signaldesk ALTER MAPPING FOR asciiword, word,
           hword, hword_part, hword_asciipart, asciihword, numword, numhword, hword_numpart
           WITH signaldesk_stem"""
    )
    conn.execute(
        """
        CREATE TABLE briefings (
            seq BIGSERIAL UNIQUE,
            id TEXT PRIMARY KEY,
            story_id BIGINT,
            headline TEXT NOT NULL,
            lead TEXT NOT NULL,
            body TEXT NOT NULL,
            source_count INTEGER NOT NULL,
            revision INTEGER NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL,
            data TEXT NOT NULL,
            view TEXT,
            tsv TSVECTOR GENERATED ALWAYS AS (
                setweight(to_tsvector('signaldesk'::regconfig, headline), 'A')
                || setweight(to_tsvector('signaldesk'::regconfig, lead), 'B')
                || setweight(to_tsvector('signaldesk'::regconfig, body), 'C')
            ) STORED
        )
        """
    )
    conn.execute("CREATE INDEX briefings_created ON briefings (created_at)")
    conn.execute("CREATE INDEX briefings_story ON briefings (story_id)")
    conn.execute("CREATE INDEX briefings_tsv ON briefings USING GIN (tsv)")
    # What each channel was handed (tenant isolation, as SQLite's m011).
    conn.execute(
        """
        CREATE TABLE briefing_routes (
            id BIGSERIAL PRIMARY KEY,
            channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
            briefing_seq BIGINT NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            UNIQUE (channel_id, briefing_seq)
        )
        """
    )
    conn.execute("CREATE INDEX briefing_routes_briefing ON briefing_routes (briefing_seq)")


@migration
def m003_stories_entries(conn: psycopg.Connection) -> None:
    # What feeds published and the stories entries are placed in: the shapes SQLite's
    # m001..m013 arrived at, with its partial indexes (pending entries, rows with text).
    conn.execute(
        """
        CREATE TABLE stories (
            id BIGSERIAL PRIMARY KEY,
            briefing_id TEXT NOT NULL UNIQUE,
            title TEXT NOT NULL,
            text TEXT NOT NULL DEFAULT '',
            fingerprint TEXT,
            published TIMESTAMPTZ,
            first_seen TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL,
            follows BIGINT REFERENCES stories(id)
        )
        """
    )
    conn.execute("CREATE INDEX stories_updated ON stories (updated_at)")
    conn.execute("CREATE INDEX stories_with_text ON stories (updated_at) WHERE text != ''")
    conn.execute(
        """
        CREATE TABLE entries (
            id BIGSERIAL PRIMARY KEY,
            feed_id BIGINT NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            title TEXT NOT NULL,
            link TEXT,
            summary TEXT NOT NULL DEFAULT '',
            content TEXT NOT NULL DEFAULT '',
            author TEXT,
            published TIMESTAMPTZ,
            fetched_at TIMESTAMPTZ NOT NULL,
            story_id BIGINT REFERENCES stories(id),
            article_title TEXT,
            article_text TEXT,
            article_author TEXT,
            article_from_page BOOLEAN,
            pending BOOLEAN NOT NULL DEFAULT false,
            origin TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            failed_at TIMESTAMPTZ,
            last_error TEXT,
            link_key TEXT,
            text_hash TEXT,
            UNIQUE (feed_id, key)
        )
        """
    )
    conn.execute("CREATE INDEX entries_feed_id ON entries (feed_id, id)")
    conn.execute(
        "CREATE INDEX entries_feed_link ON entries (feed_id, link_key) WHERE link_key IS NOT NULL"
    )
    conn.execute(
        "CREATE INDEX entries_with_text ON entries (fetched_at) "
        "WHERE article_text IS NOT NULL OR summary != '' OR content != ''"
    )
    conn.execute("CREATE INDEX entries_pending ON entries (id) WHERE pending")
    conn.execute("CREATE INDEX entries_story_feed ON entries (story_id, feed_id)")


@migration
def m004_topics(conn: psycopg.Connection) -> None:
    # A channel's saved topics: a name and its query, in the core's query language.
    conn.execute(
        """
        CREATE TABLE topics (
            channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
            slug TEXT NOT NULL,
            query TEXT NOT NULL,
            PRIMARY KEY (channel_id, slug)
        )
        """
    )


@migration
def m005_outbox_notices(conn: psycopg.Connection) -> None:
    # The two delivery queues: the outbox (posts, updates, digest parts; one row per
    # channel, briefing and revision) and feed-health notices.
    conn.execute(
        """
        CREATE TABLE outbox (
            id BIGSERIAL PRIMARY KEY,
            channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
            briefing_id TEXT NOT NULL REFERENCES briefings(id),
            kind TEXT NOT NULL,
            revision INTEGER NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            message_ref TEXT,
            last_error TEXT,
            not_before TIMESTAMPTZ,
            created_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL,
            first_attempt_at TIMESTAMPTZ,
            attempt_at TIMESTAMPTZ,
            digest_key TEXT,
            UNIQUE (channel_id, briefing_id, revision)
        )
        """
    )
    conn.execute("CREATE INDEX outbox_state ON outbox (state, channel_id, id)")
    conn.execute(
        "CREATE INDEX outbox_digest_key ON outbox (digest_key) WHERE digest_key IS NOT NULL"
    )
    conn.execute(
        """
        CREATE TABLE notices (
            id BIGSERIAL PRIMARY KEY,
            channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
            feed_id BIGINT REFERENCES feeds(id) ON DELETE SET NULL,
            kind TEXT NOT NULL,
            text TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            message_ref TEXT,
            last_error TEXT,
            not_before TIMESTAMPTZ,
            created_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL,
            first_attempt_at TIMESTAMPTZ,
            attempt_at TIMESTAMPTZ
        )
        """
    )
    conn.execute("CREATE INDEX notices_state ON notices (state, id)")


@migration
def m006_service_heartbeat(conn: psycopg.Connection) -> None:
    # The running service's last tick and its platform connections, one row (the
    # newest process's beat, when several share the database).
    conn.execute(
        """
        CREATE TABLE service_heartbeat (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            at TIMESTAMPTZ NOT NULL,
            pid INTEGER NOT NULL,
            version TEXT NOT NULL,
            platforms TEXT NOT NULL DEFAULT '{}'
        )
        """
    )


@migration
def m007_slack_workspaces(conn: psycopg.Connection) -> None:
    # The Slack adapter's multi-workspace (OAuth) state, as SQLite's m014 keeps it:
    # slack-sdk's own columns, every save a new row (the newest wins), the OAuth states
    # of install-page visits, and which workspace each channel belongs to.
    installation = ", ".join(
        f"{name} {kind}"
        for name, kind in [
            ("app_id", "TEXT"),
            ("enterprise_id", "TEXT NOT NULL DEFAULT ''"),
            ("enterprise_name", "TEXT"),
            ("enterprise_url", "TEXT"),
            ("team_id", "TEXT NOT NULL DEFAULT ''"),
            ("team_name", "TEXT"),
            ("bot_token", "TEXT"),
            ("bot_id", "TEXT"),
            ("bot_user_id", "TEXT"),
            ("bot_scopes", "TEXT"),
            ("bot_refresh_token", "TEXT"),
            ("bot_token_expires_at", "BIGINT"),
            ("user_id", "TEXT"),
            ("user_token", "TEXT"),
            ("user_scopes", "TEXT"),
            ("user_refresh_token", "TEXT"),
            ("user_token_expires_at", "BIGINT"),
            ("incoming_webhook_url", "TEXT"),
            ("incoming_webhook_channel", "TEXT"),
            ("incoming_webhook_channel_id", "TEXT"),
            ("incoming_webhook_configuration_url", "TEXT"),
            ("is_enterprise_install", "INTEGER NOT NULL DEFAULT 0"),
            ("token_type", "TEXT"),
            ("installed_at", "DOUBLE PRECISION NOT NULL"),
        ]
    )
    conn.execute(
        "CREATE TABLE slack_installations (id BIGSERIAL PRIMARY KEY, "
        f"client_id TEXT NOT NULL, {installation})"
    )
    conn.execute(
        "CREATE INDEX slack_installations_key ON slack_installations "
        "(client_id, enterprise_id, team_id, installed_at)"
    )
    conn.execute(
        """
        CREATE TABLE slack_bots (
            id BIGSERIAL PRIMARY KEY,
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
            bot_token_expires_at BIGINT,
            is_enterprise_install INTEGER NOT NULL DEFAULT 0,
            installed_at DOUBLE PRECISION NOT NULL
        )
        """
    )
    conn.execute(
        "CREATE INDEX slack_bots_key ON slack_bots "
        "(client_id, enterprise_id, team_id, installed_at)"
    )
    conn.execute(
        """
        CREATE TABLE slack_oauth_states (
            id BIGSERIAL PRIMARY KEY,
            state TEXT NOT NULL UNIQUE,
            expire_at DOUBLE PRECISION NOT NULL
        )
        """
    )
    conn.execute("CREATE INDEX slack_oauth_states_expiry ON slack_oauth_states (expire_at)")
    conn.execute(
        """
        CREATE TABLE slack_channels (
            channel_id TEXT PRIMARY KEY,
            team_id TEXT NOT NULL,
            enterprise_id TEXT
        )
        """
    )


@migration
def m008_llm_reservations(conn: psycopg.Connection) -> None:
    # Tokens promised to LLM requests in flight, fleet-wide (SQLite's m018).
    conn.execute(
        """
        CREATE TABLE llm_reservations (
            id BIGSERIAL PRIMARY KEY,
            day TEXT NOT NULL,
            tokens BIGINT NOT NULL,
            expires_at TIMESTAMPTZ NOT NULL
        )
        """
    )
    conn.execute("CREATE INDEX llm_reservations_day ON llm_reservations (day)")


__all__ = ["MIGRATIONS", "apply", "migration"]
