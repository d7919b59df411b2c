"""Channels and what they follow, on PostgreSQL (the part the poll plan needs so far:
a feed is polled only while some channel follows it)."""

from __future__ import annotations

from datetime import datetime

from bot.models import Channel

from .base import PgBase
from .feeds import _utc


class PgChannelsMixin(PgBase):
    """The ``channels`` and ``subscriptions`` tables."""

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
        return cursor.rowcount == 1

    def unsubscribe(self, channel_id: str, feed_id: int) -> bool:
        with self._write() as conn:
            cursor = conn.execute(
                "DELETE FROM subscriptions WHERE channel_id = %s AND feed_id = %s",
                [channel_id, feed_id],
            )
        return cursor.rowcount == 1
