"""Feeds on PostgreSQL: the list, the poll schedule and its leases, fetch bookkeeping.

The lease is what lets several processes share the polling: ``claim_due_feeds`` takes
the due rows with ``FOR UPDATE SKIP LOCKED`` and moves their next poll time to the
lease's end in the same transaction, so two processes claiming at the same moment get
disjoint feeds, and a feed whose poller died is due again once its lease runs out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.models import Feed, FetchState

from ..feeds import CLAIM_PASSES
from .base import PgBase


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


_RECORD_OK = """UPDATE feeds SET etag = %s, last_modified = %s,
    content_hash = coalesce(%s, content_hash), title = coalesce(%s, title),
    next_poll_at = %s, primed = primed OR %s, consecutive_failures = 0,
    last_success_at = %s, failing_since = NULL WHERE id = %s"""


def _ok_params(feed_id: int, state: FetchState, now: datetime) -> tuple[object, ...]:
    return (
        state.etag,
        state.last_modified,
        state.content_hash,
        state.title,
        _utc(state.next_poll_at),
        bool(state.primed),
        _utc(now),
        feed_id,
    )


class PgFeedsMixin(PgBase):
    """The ``feeds`` table."""

    def add_feed(
        self, url: str, *, name: str | None, now: datetime, interval_seconds: int = 0
    ) -> tuple[Feed, bool]:
        with self._write() as conn:
            # Two processes adding one URL at once: one inserts, the other finds it.
            row = conn.execute(
                "INSERT INTO feeds (url, name, interval_seconds, next_poll_at, created_at) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (url) DO NOTHING RETURNING id",
                [url, name, interval_seconds, _utc(now), _utc(now)],
            ).fetchone()
        feed = self.feed_by_url(url)
        assert feed is not None
        return feed, row is not None

    def get_feed(self, feed_id: int) -> Feed | None:
        row = self._row("SELECT * FROM feeds WHERE id = %s", [feed_id])
        return self._feed(row) if row else None

    def feed_by_url(self, url: str) -> Feed | None:
        row = self._row("SELECT * FROM feeds WHERE url = %s", [url])
        return self._feed(row) if row else None

    def list_feeds(self) -> list[Feed]:
        return [self._feed(r) for r in self._rows("SELECT * FROM feeds ORDER BY id")]

    def claim_due_feeds(self, now: datetime, limit: int, lease_until: datetime) -> list[Feed]:
        # As the SQLite store's: a due feed no channel follows is not returned, and its
        # next look moves on with the others' leases.
        claimed: list[dict[str, Any]] = []
        with self._write():
            for _ in range(CLAIM_PASSES):
                wanted = limit - len(claimed)
                rows = self._rows(
                    "SELECT *, EXISTS (SELECT 1 FROM subscriptions s WHERE s.feed_id = feeds.id) "
                    "AS followed FROM feeds WHERE next_poll_at <= %s "
                    "ORDER BY next_poll_at, id LIMIT %s FOR UPDATE SKIP LOCKED",
                    [_utc(now), wanted],
                )
                if rows:
                    self._rows(
                        "UPDATE feeds SET next_poll_at = %s WHERE id = ANY(%s) RETURNING id",
                        [_utc(lease_until), [r["id"] for r in rows]],
                    )
                claimed += [r for r in rows if r["followed"]]
                if len(rows) < wanted or len(claimed) >= limit:
                    break
        return [self._feed(r) for r in claimed]

    def shift_schedule(self, delta: timedelta) -> int:
        with self._write() as conn:
            # An interval that would run past the calendar's end leaves that feed alone.
            return conn.execute(
                "UPDATE feeds SET next_poll_at = next_poll_at + %s "
                "WHERE next_poll_at + %s BETWEEN '0001-01-01' AND '9999-12-31'",
                [delta, delta],
            ).rowcount

    def cap_schedule(self, latest: datetime) -> int:
        with self._write() as conn:
            return conn.execute(
                "UPDATE feeds SET next_poll_at = %s WHERE next_poll_at > %s",
                [_utc(latest), _utc(latest)],
            ).rowcount

    def record_fetch(self, feed_id: int, state: FetchState, now: datetime) -> Feed:
        with self._write() as conn:
            if state.ok:
                conn.execute(_RECORD_OK, _ok_params(feed_id, state, now))
            else:
                conn.execute(
                    """UPDATE feeds SET next_poll_at = %s, last_error = %s, last_error_at = %s,
                       consecutive_failures = consecutive_failures + 1,
                       failing_since = coalesce(failing_since, %s) WHERE id = %s""",
                    [_utc(state.next_poll_at), state.error, _utc(now), _utc(now), feed_id],
                )
        feed = self.get_feed(feed_id)
        assert feed is not None
        return feed

    def record_fetches(self, results: Sequence[tuple[int, FetchState]], now: datetime) -> None:
        ok = [(feed_id, state) for feed_id, state in results if state.ok]
        if len(ok) != len(results):
            raise ValueError("record_fetches records successful polls only")
        with self._write() as conn, conn.cursor() as cur:
            cur.executemany(_RECORD_OK, [_ok_params(f, s, now) for f, s in ok])


# The advisory lock that serialises LLM token reservations: SignalDesk's namespace,
# the key after the fleet's roles (storage/postgres/roles.py).
_LLM_BUDGET_LOCK = (0x5344, 3)


class PgUsageMixin(PgBase):
    """The LLM's tokens per UTC day: one atomic upsert per request, so processes
    sharing a daily budget all count against the same row."""

    def llm_usage(self, day: str) -> tuple[int, int]:
        row = self._row(
            "SELECT prompt_tokens, completion_tokens FROM llm_usage WHERE day = %s", [day]
        )
        return (int(row["prompt_tokens"]), int(row["completion_tokens"])) if row else (0, 0)

    def reserve_llm_tokens(
        self, day: str, tokens: int, limit: int, now: datetime, until: datetime
    ) -> int | None:
        with self._write() as conn:
            # One reservation at a time, fleet-wide, until this transaction ends: the
            # sum read here is the sum the next one reads.
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", list(_LLM_BUDGET_LOCK))
            conn.execute("DELETE FROM llm_reservations WHERE expires_at <= %s", [_utc(now)])
            row = conn.execute(
                """SELECT (SELECT coalesce(sum(prompt_tokens + completion_tokens), 0)
                       FROM llm_usage WHERE day = %s)
                   + (SELECT coalesce(sum(tokens), 0) FROM llm_reservations WHERE day = %s)
                   AS promised""",
                [day, day],
            ).fetchone()
            if row is None or int(row["promised"]) + tokens > limit:
                return None
            made = conn.execute(
                "INSERT INTO llm_reservations (day, tokens, expires_at) VALUES (%s, %s, %s) "
                "RETURNING id",
                [day, tokens, _utc(until)],
            ).fetchone()
            return int(made["id"]) if made else None

    def release_llm_tokens(self, reservation: int) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM llm_reservations WHERE id = %s", [reservation])

    def add_llm_usage(
        self, day: str, prompt_tokens: int, completion_tokens: int, now: datetime
    ) -> None:
        with self._write() as conn:
            conn.execute(
                """INSERT INTO llm_usage (day, prompt_tokens, completion_tokens, requests,
                       updated_at) VALUES (%s, %s, %s, 1, %s)
                   ON CONFLICT (day) DO UPDATE SET
                       prompt_tokens = llm_usage.prompt_tokens + excluded.prompt_tokens,
                       completion_tokens = llm_usage.completion_tokens
                           + excluded.completion_tokens,
                       requests = llm_usage.requests + 1, updated_at = excluded.updated_at""",
                [day, prompt_tokens, completion_tokens, _utc(now)],
            )
