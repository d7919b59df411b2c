"""The outbox (posts, updates, digest parts) and the feed-health notices queue, on
PostgreSQL (the rules of ``storage/outbox.py``). A row's unique (channel, briefing,
revision) key keeps a briefing from being queued twice however many processes route
it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.models import Delivery, DeliveryKind, DeliveryState, Feed, Notice, NoticeKind
from bot.ports import NoticeText

from .base import PgBase
from .feeds import _utc


class PgQueues(PgBase):
    """What the two queues share: the state change of one row, with its attempt
    record when it goes "sending" (committed before the platform is called)."""

    def _mark(
        self,
        table: str,
        row_id: int,
        state: DeliveryState,
        message_ref: str | None,
        error: str | None,
        not_before: datetime | None,
        now: datetime,
    ) -> None:
        if table not in ("outbox", "notices"):
            raise ValueError(table)
        sending = state == DeliveryState.SENDING
        attempt = (
            ", attempts = attempts + 1, attempt_at = %s, "
            "first_attempt_at = coalesce(first_attempt_at, %s)"
            if sending
            else ""
        )
        with self._write() as conn:
            conn.execute(
                f"""UPDATE {table} SET state = %s, message_ref = coalesce(%s, message_ref),
                   last_error = %s, not_before = %s, updated_at = %s{attempt}
                   WHERE id = %s""",
                [
                    state.value,
                    message_ref,
                    error,
                    _utc(not_before),
                    _utc(now),
                    *((_utc(now), _utc(now)) if sending else ()),
                    row_id,
                ],
            )


class PgOutboxMixin(PgQueues):
    """The ``outbox`` table: what to post where, and what was posted."""

    def enqueue_delivery(
        self,
        channel_id: str,
        briefing_id: str,
        *,
        kind: DeliveryKind,
        revision: int,
        state: DeliveryState,
        now: datetime,
    ) -> bool:
        with self._write() as conn:
            cursor = conn.execute(
                """INSERT INTO outbox (channel_id, briefing_id, kind, revision, state,
                   created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (channel_id, briefing_id, revision) DO NOTHING""",
                [channel_id, briefing_id, kind, revision, state.value, _utc(now), _utc(now)],
            )
            # In the same transaction: what is queued for a channel is what it may read.
            conn.execute(
                "INSERT INTO briefing_routes (channel_id, briefing_seq, created_at) "
                "SELECT %s, seq, %s FROM briefings WHERE id = %s ON CONFLICT DO NOTHING",
                [channel_id, _utc(now), briefing_id],
            )
        return cursor.rowcount == 1

    # A channel's post of a story may carry an earlier briefing id of that story (the
    # channel moved to a briefing of its own when the story gained a source it does not
    # follow, see bot.tenancy): post state, updates and the message to update are the
    # channel's record for the story, not for one id.
    _SAME_STORY = """(SELECT %s UNION SELECT b2.id FROM briefings b2 WHERE b2.story_id =
                      (SELECT b1.story_id FROM briefings b1 WHERE b1.id = %s))"""

    def post_state(self, channel_id: str, briefing_id: str) -> DeliveryState | None:
        row = self._row(
            f"SELECT state FROM outbox WHERE channel_id = %s AND briefing_id IN "
            f"{self._SAME_STORY} AND kind = 'post' ORDER BY id LIMIT 1",
            [channel_id, briefing_id, briefing_id],
        )
        return DeliveryState(row["state"]) if row else None

    def supersede_updates(self, channel_id: str, briefing_id: str) -> int:
        with self._write() as conn:
            cursor = conn.execute(
                f"UPDATE outbox SET state = 'superseded' WHERE channel_id = %s AND briefing_id "
                f"IN {self._SAME_STORY} AND kind = 'update' AND state = 'pending' "
                f"AND attempts = 0",
                [channel_id, briefing_id, briefing_id],
            )
        return cursor.rowcount

    def due_deliveries(self, now: datetime, limit: int) -> list[Delivery]:
        # The head of each channel's queue only, so that a row waiting for a retry is
        # never overtaken by a later one: per-channel order is kept.
        rows = self._rows(
            """SELECT o.* FROM outbox o JOIN (
                   SELECT channel_id, min(id) AS head FROM outbox
                   WHERE state IN ('pending', 'sending') AND digest_key IS NULL
                   GROUP BY channel_id
               ) h ON h.head = o.id
               LEFT JOIN channels c ON c.id = o.channel_id
               WHERE (o.not_before IS NULL OR o.not_before <= %s)
               AND (c.paused_reason IS NULL OR c.probe_after <= %s)
               ORDER BY o.id LIMIT %s""",
            [_utc(now), _utc(now), limit],
        )
        return [self._delivery(r) for r in rows]

    def mark_delivery(
        self,
        delivery_id: int,
        state: DeliveryState,
        *,
        message_ref: str | None = None,
        error: str | None = None,
        not_before: datetime | None = None,
        now: datetime,
    ) -> None:
        self._mark("outbox", delivery_id, state, message_ref, error, not_before, now)

    def start_digest_part(self, delivery_ids: Sequence[int], key: str, now: datetime) -> int:
        """Record that these held rows go out as one digest message under ``key``,
        before it is sent. Returns the rows recorded (only rows still held)."""
        if not delivery_ids:
            return 0
        with self._write() as conn:
            cursor = conn.execute(
                """UPDATE outbox SET state = 'sending', digest_key = %s, attempt_at = NULL,
                    first_attempt_at = %s, not_before = NULL, updated_at = %s
                    WHERE state = 'held' AND id = ANY(%s)""",
                [key, _utc(now), _utc(now), list(delivery_ids)],
            )
        return cursor.rowcount

    def digest_parts_in_flight(self, channel_id: str | None = None) -> list[list[Delivery]]:
        """Digest parts recorded but not known to be sent (a crash, a lost answer):
        each part's rows, oldest part first."""
        where = "digest_key IS NOT NULL AND state = 'sending'"
        params: list[Any] = []
        if channel_id is not None:
            where += " AND channel_id = %s"
            params.append(channel_id)
        parts: dict[str, list[Delivery]] = {}
        for row in self._rows(f"SELECT * FROM outbox WHERE {where} ORDER BY id", params):
            parts.setdefault(row["digest_key"], []).append(self._delivery(row))
        return list(parts.values())

    def retry_digest_part(self, key: str, now: datetime, not_before: datetime) -> None:
        """An attempt at a recorded digest part begins (same key, same rows): should it
        be interrupted, the part is looked up no sooner than ``not_before``."""
        with self._write() as conn:
            conn.execute(
                """UPDATE outbox SET attempts = attempts + 1, attempt_at = %s,
                   not_before = %s, updated_at = %s WHERE digest_key = %s AND state = 'sending'""",
                [_utc(now), _utc(not_before), _utc(now), key],
            )

    def delay_digest_part(self, key: str, not_before: datetime, error: str) -> None:
        """The part's attempt failed and may be retried from ``not_before``."""
        with self._write() as conn:
            conn.execute(
                """UPDATE outbox SET not_before = %s, last_error = %s
                   WHERE digest_key = %s AND state = 'sending'""",
                [_utc(not_before), error, key],
            )

    def finish_digest_part(
        self,
        key: str,
        state: DeliveryState,
        *,
        message_ref: str | None = None,
        error: str | None = None,
        now: datetime,
    ) -> int:
        """The part is sent (``SENT`` with its message), or given up for today
        (``HELD``: its rows wait for the next digest, under no key)."""
        with self._write() as conn:
            cursor = conn.execute(
                """UPDATE outbox SET state = %s, message_ref = coalesce(%s, message_ref),
                   last_error = %s, updated_at = %s, not_before = NULL,
                   digest_key = CASE WHEN %s = 'held' THEN NULL ELSE digest_key END
                   WHERE digest_key = %s AND state = 'sending'""",
                [state.value, message_ref, error, _utc(now), state.value, key],
            )
        return cursor.rowcount

    def posted_ref(self, channel_id: str, briefing_id: str) -> str | None:
        row = self._row(
            f"SELECT message_ref FROM outbox WHERE channel_id = %s AND briefing_id IN "
            f"{self._SAME_STORY} AND kind = 'post' AND state = 'sent' ORDER BY id LIMIT 1",
            [channel_id, briefing_id, briefing_id],
        )
        return row["message_ref"] if row else None

    def held_deliveries(self, channel_id: str) -> list[Delivery]:
        rows = self._rows(
            "SELECT * FROM outbox WHERE channel_id = %s AND state = 'held' ORDER BY id",
            [channel_id],
        )
        return [self._delivery(r) for r in rows]

    def deliveries(self, channel_id: str | None = None) -> list[Delivery]:
        """Every outbox row (for reports and tests)."""
        if channel_id is None:
            rows = self._rows("SELECT * FROM outbox ORDER BY id")
        else:
            rows = self._rows(
                "SELECT * FROM outbox WHERE channel_id = %s ORDER BY id", [channel_id]
            )
        return [self._delivery(r) for r in rows]


class PgNoticesMixin(PgQueues):
    """The ``notices`` table: feed-health notices to channels."""

    def feeds_needing_notice(self, threshold: int) -> list[tuple[Feed, NoticeKind]]:
        # "> 0 AND >= %s" lets SQLite use the partial index feeds_failing.
        failing = self._rows(
            "SELECT * FROM feeds WHERE consecutive_failures > 0 AND consecutive_failures >= %s "
            "AND failure_notice_at IS NULL ORDER BY id",
            [max(threshold, 1)],
        )
        recovered = self._rows(
            "SELECT * FROM feeds WHERE failure_notice_at IS NOT NULL "
            "AND consecutive_failures = 0 ORDER BY id"
        )
        return [(self._feed(r), "failing") for r in failing] + [
            (self._feed(r), "recovered") for r in recovered
        ]

    def queue_feed_notice(
        self, feed_id: int, kind: NoticeKind, text: str | NoticeText, now: datetime
    ) -> int:
        """Queue a notice for every channel that follows the feed, once per change of
        state. ``text`` may be a function of the channel's own name and number for the
        feed, so that each channel reads the feed as it knows it."""
        with self._write() as conn:
            if kind == "failing":
                cursor = conn.execute(
                    "UPDATE feeds SET failure_notice_at = %s WHERE id = %s "
                    "AND failure_notice_at IS NULL AND consecutive_failures > 0",
                    [_utc(now), feed_id],
                )
            else:
                cursor = conn.execute(
                    "UPDATE feeds SET failure_notice_at = NULL WHERE id = %s "
                    "AND failure_notice_at IS NOT NULL AND consecutive_failures = 0",
                    [feed_id],
                )
            if cursor.rowcount != 1:
                return 0  # already told (or the feed changed state since it was read)
            subscribers = self._rows(
                "SELECT channel_id, name, ref FROM subscriptions WHERE feed_id = %s "
                "ORDER BY channel_id",
                [feed_id],
            )
            conn.cursor().executemany(
                """INSERT INTO notices (channel_id, feed_id, kind, text, state, created_at,
                   updated_at) VALUES (%s, %s, %s, %s, 'pending', %s, %s)""",
                [
                    (
                        r["channel_id"],
                        feed_id,
                        kind,
                        text if isinstance(text, str) else text(r["name"], r["ref"]),
                        _utc(now),
                        _utc(now),
                    )
                    for r in subscribers
                ],
            )
            return len(subscribers)

    def due_notices(self, now: datetime, limit: int) -> list[Notice]:
        # Pending notices, and those a crash left "sending" with an attempt record (to
        # be looked up by it); one left "sending" by an older version has no record
        # and is not sent again.
        rows = self._rows(
            "SELECT n.* FROM notices n LEFT JOIN channels c ON c.id = n.channel_id "
            "WHERE (n.state = 'pending' OR (n.state = 'sending' "
            "AND n.first_attempt_at IS NOT NULL)) "
            "AND (n.not_before IS NULL OR n.not_before <= %s) "
            "AND (c.paused_reason IS NULL OR c.probe_after <= %s) ORDER BY n.id LIMIT %s",
            [_utc(now), _utc(now), limit],
        )
        return [self._notice(r) for r in rows]

    def mark_notice(
        self,
        notice_id: int,
        state: DeliveryState,
        *,
        message_ref: str | None = None,
        error: str | None = None,
        not_before: datetime | None = None,
        now: datetime,
    ) -> None:
        self._mark("notices", notice_id, state, message_ref, error, not_before, now)

    def notices(self, channel_id: str | None = None) -> list[Notice]:
        """Every notice row (for reports and tests)."""
        if channel_id is None:
            rows = self._rows("SELECT * FROM notices ORDER BY id")
        else:
            rows = self._rows(
                "SELECT * FROM notices WHERE channel_id = %s ORDER BY id", [channel_id]
            )
        return [self._notice(r) for r in rows]
