"""Channels, what they follow, their pauses and topics, on PostgreSQL (the rules of
``storage/channels.py``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from bot.models import Channel, Feed, Topic

from .base import PgBase
from .feeds import _utc


class PgChannelsMixin(PgBase):
    """The ``channels``, ``subscriptions`` and ``topics`` tables."""

    def ensure_channel(self, channel_id: str, now: datetime) -> Channel:
        known = self.get_channel(channel_id)
        if known is not None:
            return known
        with self._write() as conn:
            conn.execute(
                "INSERT INTO channels (id, created_at) VALUES (%s, %s) ON CONFLICT (id) DO NOTHING",
                [channel_id, _utc(now)],
            )
        channel = self.get_channel(channel_id)
        assert channel is not None
        return channel

    def get_channel(self, channel_id: str) -> Channel | None:
        row = self._row("SELECT * FROM channels WHERE id = %s", [channel_id])
        return self._channel(row) if row else None

    def subscribe(
        self, channel_id: str, feed_id: int, now: datetime, *, name: str | None = None
    ) -> bool:
        with self._write() as conn:
            # The channel's own number for the feed, one more than its highest: the
            # channel's row is locked first, so two processes subscribing it at once
            # cannot both take the same number.
            conn.execute("SELECT 1 FROM channels WHERE id = %s FOR UPDATE", [channel_id])
            cursor = conn.execute(
                """INSERT INTO subscriptions (channel_id, feed_id, created_at, name, ref)
                   VALUES (%s, %s, %s, %s, (SELECT coalesce(max(ref), 0) + 1
                                            FROM subscriptions WHERE channel_id = %s))
                   ON CONFLICT DO NOTHING""",
                [channel_id, feed_id, _utc(now), name, channel_id],
            )
            if cursor.rowcount == 1:
                # A feed no other channel followed (``claim_due_feeds`` moves such a
                # feed's next look on, unpolled) is polled on the next cycle, as a new one.
                conn.execute(
                    "UPDATE feeds SET next_poll_at = %s WHERE id = %s AND next_poll_at > %s AND "
                    "NOT EXISTS (SELECT 1 FROM subscriptions WHERE feed_id = %s "
                    "AND channel_id <> %s)",
                    [_utc(now), feed_id, _utc(now), feed_id, channel_id],
                )
        return cursor.rowcount == 1

    def unsubscribe(self, channel_id: str, feed_id: int) -> bool:
        with self._write() as conn:
            cursor = conn.execute(
                "DELETE FROM subscriptions WHERE channel_id = %s AND feed_id = %s",
                [channel_id, feed_id],
            )
        return cursor.rowcount == 1

    def save_channel(self, channel: Channel) -> None:
        with self._write() as conn:
            conn.execute(
                """INSERT INTO channels (id, mode, digest_time, timezone, include_words,
                   exclude_words, last_digest_at, created_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
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
                    _utc(channel.last_digest_at),
                    _utc(channel.created_at or datetime.now(UTC)),
                ],
            )

    def pause_channel(
        self, channel_id: str, reason: str, now: datetime, probe_after: datetime
    ) -> bool:
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE channels SET paused_reason = %s, probe_after = %s, "
                "paused_at = coalesce(paused_at, %s) WHERE id = %s AND paused_reason IS NULL",
                [reason, _utc(probe_after), _utc(now), channel_id],
            )
            if cursor.rowcount:
                return True
            conn.execute(
                "UPDATE channels SET paused_reason = %s, probe_after = %s WHERE id = %s",
                [reason, _utc(probe_after), channel_id],
            )
        return False

    def probe_channel(self, channel_id: str, now: datetime) -> bool:
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE channels SET probe_after = %s WHERE id = %s AND paused_reason IS NOT NULL",
                [_utc(now), channel_id],
            )
        return bool(cursor.rowcount)

    def unpause_channel(self, channel_id: str) -> bool:
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE channels SET paused_reason = NULL, paused_at = NULL, "
                "probe_after = NULL WHERE id = %s AND paused_reason IS NOT NULL",
                [channel_id],
            )
        return bool(cursor.rowcount)

    def list_channels(self) -> list[Channel]:
        return [self._channel(r) for r in self._rows("SELECT * FROM channels ORDER BY id")]

    def channel_feeds(self, channel_id: str) -> list[Feed]:
        rows = self._rows(
            "SELECT f.*, coalesce(s.name, f.name) AS sub_name, s.ref AS ref FROM feeds f "
            "JOIN subscriptions s ON s.feed_id = f.id WHERE s.channel_id = %s ORDER BY s.ref",
            [channel_id],
        )
        # The channel's own name for the feed, else the feed's. No alias may repeat
        # ``f.name``: sqlite-utils renames the second one ``name_2``, and the channel's
        # name was lost that way.
        return [self._feed({**r, "name": r["sub_name"]}) for r in rows]

    def feed_entry_count(self, feed_id: int) -> int:
        row = self._row("SELECT count(*) AS n FROM entries WHERE feed_id = %s", [feed_id])
        return int(row["n"]) if row else 0

    def feed_newest_stories(self, feed_id: int, limit: int) -> list[int]:
        rows = self._rows(
            """SELECT story_id FROM entries WHERE feed_id = %s AND story_id IS NOT NULL
               ORDER BY coalesce(published, fetched_at) DESC, id DESC LIMIT %s""",
            [feed_id, limit],
        )
        return [r["story_id"] for r in rows]

    def channel_has_feeds(self, channel_id: str) -> bool:
        return (
            self._row("SELECT 1 FROM subscriptions WHERE channel_id = %s LIMIT 1", [channel_id])
            is not None
        )

    def channels_for_feeds(self, feed_ids: Sequence[int]) -> list[Channel]:
        if not feed_ids:
            return []
        rows = self._rows(
            """SELECT * FROM channels WHERE id IN
               (SELECT channel_id FROM subscriptions WHERE feed_id = ANY(%s)) ORDER BY id""",
            [list(feed_ids)],
        )
        return [self._channel(r) for r in rows]

    def channels_by_ids(self, channel_ids: Sequence[str]) -> list[Channel]:
        rows = self._rows(
            "SELECT * FROM channels WHERE id = ANY(%s) ORDER BY id", [list(set(channel_ids))]
        )
        return [self._channel(r) for r in rows]

    def save_topic(self, topic: Topic) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO topics (channel_id, slug, query) VALUES (%s, %s, %s) "
                "ON CONFLICT (channel_id, slug) DO UPDATE SET query = excluded.query",
                [topic.channel_id, topic.slug, topic.query],
            )

    def remove_topic(self, channel_id: str, slug: str) -> bool:
        with self._write() as conn:
            cursor = conn.execute(
                "DELETE FROM topics WHERE channel_id = %s AND slug = %s", [channel_id, slug]
            )
        return cursor.rowcount == 1

    def channel_topics(self, channel_id: str) -> list[Topic]:
        rows = self._rows("SELECT * FROM topics WHERE channel_id = %s ORDER BY slug", [channel_id])
        return [Topic(**r) for r in rows]
