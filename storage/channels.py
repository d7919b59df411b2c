"""Channels: their settings, subscriptions and topics."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from bot.models import Channel, Feed, Topic

from .base import StoreBase, _ts


class ChannelsMixin(StoreBase):
    """The ``channels``, ``subscriptions`` and ``topics`` tables."""

    def ensure_channel(self, channel_id: str, now: datetime) -> Channel:
        # Every command asks for its channel: a read when it exists, so a read-only
        # command never commits (a commit can carry a WAL checkpoint).
        known = self.get_channel(channel_id)
        if known is not None:
            return known
        with self._write() as db:
            db.execute(
                "INSERT INTO channels (id, created_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
                [channel_id, _ts(now)],
            )
        channel = self.get_channel(channel_id)
        assert channel is not None
        return channel

    def get_channel(self, channel_id: str) -> Channel | None:
        row = self._row("SELECT * FROM channels WHERE id = ?", [channel_id])
        return self._channel(row) if row else None

    def save_channel(self, channel: Channel) -> None:
        with self._write() as db:
            db.execute(
                """INSERT INTO channels (id, mode, digest_time, timezone, include_words,
                   exclude_words, last_digest_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (id) DO UPDATE SET mode = excluded.mode,
                   digest_time = excluded.digest_time, timezone = excluded.timezone,
                   include_words = excluded.include_words, exclude_words = excluded.exclude_words,
                   last_digest_at = excluded.last_digest_at""",
                [
                    channel.id,
                    channel.mode.value,
                    channel.digest_time,
                    channel.timezone,
                    json.dumps(channel.include_words),
                    json.dumps(channel.exclude_words),
                    _ts(channel.last_digest_at),
                    _ts(channel.created_at or datetime.now(UTC)),
                ],
            )

    def pause_channel(
        self, channel_id: str, reason: str, now: datetime, probe_after: datetime
    ) -> bool:
        """Hold the channel's deliveries: the bot cannot post there. True when it was
        not paused before (the first refusal, worth a log line); a later refusal keeps
        the first ``paused_at`` and moves the next probe."""
        with self._write() as db:
            first = self._row("SELECT paused_at FROM channels WHERE id = ?", [channel_id])
            db.execute(
                "UPDATE channels SET paused_reason = ?, probe_after = ?, "
                "paused_at = coalesce(paused_at, ?) WHERE id = ?",
                [reason, _ts(probe_after), _ts(now), channel_id],
            )
        return first is not None and first["paused_at"] is None

    def probe_channel(self, channel_id: str, now: datetime) -> bool:
        """The platform says the bot may post again: try the held head at once. True
        when the channel was paused."""
        with self._write() as db:
            cursor = db.execute(
                "UPDATE channels SET probe_after = ? WHERE id = ? AND paused_reason IS NOT NULL",
                [_ts(now), channel_id],
            )
        return bool(cursor.rowcount)

    def unpause_channel(self, channel_id: str) -> bool:
        """A post went through: the channel is open again. True when it was paused."""
        with self._write() as db:
            cursor = db.execute(
                "UPDATE channels SET paused_reason = NULL, paused_at = NULL, "
                "probe_after = NULL WHERE id = ? AND paused_reason IS NOT NULL",
                [channel_id],
            )
        return bool(cursor.rowcount)

    def list_channels(self) -> list[Channel]:
        return [self._channel(r) for r in self._rows("SELECT * FROM channels ORDER BY id")]

    def subscribe(
        self, channel_id: str, feed_id: int, now: datetime, *, name: str | None = None
    ) -> bool:
        """True if the subscription is new. ``name`` is the channel's own name for the
        feed: shown in that channel only."""
        with self._write() as db:
            # The channel's own number for the feed: one more than its highest.
            cursor = db.execute(
                """INSERT INTO subscriptions (channel_id, feed_id, created_at, name, ref)
                   VALUES (?, ?, ?, ?, (SELECT coalesce(max(ref), 0) + 1 FROM subscriptions
                                        WHERE channel_id = ?))
                   ON CONFLICT DO NOTHING""",
                [channel_id, feed_id, _ts(now), name, channel_id],
            )
            if cursor.rowcount == 1:
                # A feed no other channel followed (``claim_due_feeds`` moves such a
                # feed's next look on, unpolled) is polled on the next cycle, as a new one.
                db.execute(
                    "UPDATE feeds SET next_poll_at = ? WHERE id = ? AND next_poll_at > ? AND "
                    "NOT EXISTS (SELECT 1 FROM subscriptions WHERE feed_id = ? "
                    "AND channel_id <> ?)",
                    [_ts(now), feed_id, _ts(now), feed_id, channel_id],
                )
        return cursor.rowcount == 1

    def unsubscribe(self, channel_id: str, feed_id: int) -> bool:
        with self._write() as db:
            cursor = db.execute(
                "DELETE FROM subscriptions WHERE channel_id = ? AND feed_id = ?",
                [channel_id, feed_id],
            )
        return cursor.rowcount == 1

    def channel_feeds(self, channel_id: str) -> list[Feed]:
        """The channel's feeds, each named and numbered as the channel knows it
        (``Feed.name`` and ``Feed.ref`` are the subscription's, never another channel's)."""
        rows = self._rows(
            "SELECT f.*, coalesce(s.name, f.name) AS sub_name, s.ref AS ref FROM feeds f "
            "JOIN subscriptions s ON s.feed_id = f.id WHERE s.channel_id = ? ORDER BY s.ref",
            [channel_id],
        )
        # The channel's own name for the feed, else the feed's. No alias may repeat
        # ``f.name``: sqlite-utils renames the second one ``name_2``, and the channel's
        # name was lost that way.
        return [self._feed({**r, "name": r["sub_name"]}) for r in rows]

    def feed_entry_count(self, feed_id: int) -> int:
        row = self._row("SELECT count(*) AS n FROM entries WHERE feed_id = ?", [feed_id])
        return int(row["n"]) if row else 0

    def feed_newest_stories(self, feed_id: int, limit: int) -> list[int]:
        """The story of each of the feed's newest ``limit`` placed entries, newest first
        (a story once per entry of it)."""
        rows = self._rows(
            """SELECT story_id FROM entries WHERE feed_id = ? AND story_id IS NOT NULL
               ORDER BY coalesce(published, fetched_at) DESC, id DESC LIMIT ?""",
            [feed_id, limit],
        )
        return [r["story_id"] for r in rows]

    def channel_has_feeds(self, channel_id: str) -> bool:
        return (
            self._row("SELECT 1 FROM subscriptions WHERE channel_id = ? LIMIT 1", [channel_id])
            is not None
        )

    def channels_for_feeds(self, feed_ids: Sequence[int]) -> list[Channel]:
        if not feed_ids:
            return []
        marks = ",".join("?" * len(feed_ids))
        rows = self._rows(
            f"""SELECT * FROM channels WHERE id IN
                (SELECT channel_id FROM subscriptions WHERE feed_id IN ({marks})) ORDER BY id""",
            list(feed_ids),
        )
        return [self._channel(r) for r in rows]

    def channels_by_ids(self, channel_ids: Sequence[str]) -> list[Channel]:
        """The known channels among ``channel_ids``, by id."""
        found: list[Channel] = []
        ids = list(dict.fromkeys(channel_ids))
        for start in range(0, len(ids), 500):  # under SQLite's variable limit
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found += [
                self._channel(r)
                for r in self._rows(f"SELECT * FROM channels WHERE id IN ({marks})", chunk)
            ]
        return sorted(found, key=lambda c: c.id)

    def save_topic(self, topic: Topic) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO topics (channel_id, slug, query) VALUES (?, ?, ?) "
                "ON CONFLICT (channel_id, slug) DO UPDATE SET query = excluded.query",
                [topic.channel_id, topic.slug, topic.query],
            )

    def remove_topic(self, channel_id: str, slug: str) -> bool:
        with self._write() as db:
            cursor = db.execute(
                "DELETE FROM topics WHERE channel_id = ? AND slug = ?", [channel_id, slug]
            )
        return cursor.rowcount == 1

    def channel_topics(self, channel_id: str) -> list[Topic]:
        rows = self._rows("SELECT * FROM topics WHERE channel_id = ? ORDER BY slug", [channel_id])
        return [Topic(**r) for r in rows]
