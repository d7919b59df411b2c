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


__all__ = ["MIGRATIONS", "apply", "migration"]
