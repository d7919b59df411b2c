"""Feeds: the list, the poll schedule and its leases, fetch bookkeeping."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.models import Feed, FetchState

from .base import StoreBase, _dt, _ts

# Batches of due feeds one claim looks through, at most, passing over those no channel
# follows (``claim_due_feeds``).
CLAIM_PASSES = 8


class FeedsMixin(StoreBase):
    """The ``feeds`` table."""

    def add_feed(
        self, url: str, *, name: str | None, now: datetime, interval_seconds: int = 0
    ) -> tuple[Feed, bool]:
        existing = self.feed_by_url(url)
        if existing:
            return existing, False
        with self._write() as db:
            db.execute(
                "INSERT INTO feeds (url, name, interval_seconds, next_poll_at, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [url, name, interval_seconds, _ts(now), _ts(now)],
            )
        feed = self.feed_by_url(url)
        assert feed is not None
        return feed, True

    def get_feed(self, feed_id: int) -> Feed | None:
        row = self._row("SELECT * FROM feeds WHERE id = ?", [feed_id])
        return self._feed(row) if row else None

    def feed_by_url(self, url: str) -> Feed | None:
        row = self._row("SELECT * FROM feeds WHERE url = ?", [url])
        return self._feed(row) if row else None

    def list_feeds(self) -> list[Feed]:
        return [self._feed(r) for r in self._rows("SELECT * FROM feeds ORDER BY id")]

    def claim_due_feeds(self, now: datetime, limit: int, lease_until: datetime) -> list[Feed]:
        """Due feeds, oldest first, leased: their next poll time moves to ``lease_until``
        in the same transaction, so the next claim skips them while they are polled and
        a poll lost to a crash is retried when the lease runs out. A due feed that no
        channel follows any more is not returned, and its next look moves on the same
        way: such feeds never crowd the front of the queue (``subscribe`` brings one back)."""
        claimed: list[dict[str, Any]] = []
        with self._write():
            # Whether a channel follows the feed: EXISTS, looked up per due feed, not "id IN
            # (SELECT feed_id FROM subscriptions)", a list of every subscription built
            # again at each claim (15 ms at 75,000 feeds). Passed-over feeds do not count:
            # look further, a few batches at most (the store's one thread is held
            # meanwhile), for ``limit`` followed ones.
            for _ in range(CLAIM_PASSES):
                wanted = limit - len(claimed)
                rows = self._rows(
                    "SELECT *, EXISTS (SELECT 1 FROM subscriptions s WHERE s.feed_id = feeds.id) "
                    "AS followed FROM feeds WHERE next_poll_at <= ? ORDER BY next_poll_at LIMIT ?",
                    [_ts(now), wanted],
                )
                if rows:
                    marks = ",".join("?" * len(rows))
                    self.db.execute(
                        f"UPDATE feeds SET next_poll_at = ? WHERE id IN ({marks})",
                        [_ts(lease_until), *(r["id"] for r in rows)],
                    )
                claimed += [r for r in rows if r["followed"]]
                if len(rows) < wanted or len(claimed) >= limit:
                    break
        return [self._feed(r) for r in claimed]

    def shift_schedule(self, delta: timedelta) -> int:
        """Move every feed's next poll by ``delta`` (the wall clock jumped by it).
        Returns how many feeds were moved."""
        rows = self._rows("SELECT id, next_poll_at FROM feeds")
        moved = []
        for r in rows:
            when = _dt(r["next_poll_at"])
            if when is None:
                continue
            try:
                moved.append((_ts(when + delta), r["id"]))
            except OverflowError:
                continue
        with self._write() as db:
            db.conn.executemany("UPDATE feeds SET next_poll_at = ? WHERE id = ?", moved)
        return len(moved)

    def cap_schedule(self, latest: datetime) -> int:
        """Bring every poll planned after ``latest`` forward to it: no plan, whatever
        wrote it (an old release's Retry-After, a clock that was years ahead), may park
        a feed beyond the longest wait there is. Returns how many feeds moved."""
        with self._write() as db:
            return db.execute(
                "UPDATE feeds SET next_poll_at = ? WHERE next_poll_at > ?",
                [_ts(latest), _ts(latest)],
            ).rowcount

    def record_fetch(self, feed_id: int, state: FetchState, now: datetime) -> Feed:
        with self._write() as db:
            if state.ok:
                db.execute(
                    """UPDATE feeds SET etag = ?, last_modified = ?,
                       content_hash = coalesce(?, content_hash), title = coalesce(?, title),
                       next_poll_at = ?, primed = max(primed, ?), consecutive_failures = 0,
                       last_success_at = ?, failing_since = NULL WHERE id = ?""",
                    [
                        state.etag,
                        state.last_modified,
                        state.content_hash,
                        state.title,
                        _ts(state.next_poll_at),
                        int(state.primed),
                        _ts(now),
                        feed_id,
                    ],
                )
            else:
                db.execute(
                    """UPDATE feeds SET next_poll_at = ?, last_error = ?, last_error_at = ?,
                       consecutive_failures = consecutive_failures + 1,
                       failing_since = coalesce(failing_since, ?) WHERE id = ?""",
                    [_ts(state.next_poll_at), state.error, _ts(now), _ts(now), feed_id],
                )
        feed = self.get_feed(feed_id)
        assert feed is not None
        return feed

    def record_fetches(self, results: Sequence[tuple[int, FetchState]], now: datetime) -> None:
        """``record_fetch`` for many successful polls (304s, unchanged bodies) in one
        transaction: at hundreds of checks a second a commit per feed would be the cap."""
        ok = [(feed_id, state) for feed_id, state in results if state.ok]
        if len(ok) != len(results):
            raise ValueError("record_fetches records successful polls only")
        with self._write() as db:
            db.conn.executemany(
                """UPDATE feeds SET etag = ?, last_modified = ?,
                   content_hash = coalesce(?, content_hash), title = coalesce(?, title),
                   next_poll_at = ?, primed = max(primed, ?), consecutive_failures = 0,
                   last_success_at = ?, failing_since = NULL WHERE id = ?""",
                [
                    (
                        state.etag,
                        state.last_modified,
                        state.content_hash,
                        state.title,
                        _ts(state.next_poll_at),
                        int(state.primed),
                        _ts(now),
                        feed_id,
                    )
                    for feed_id, state in ok
                ],
            )
