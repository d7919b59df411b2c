"""A poll's outcome on its feed: validators, health and the next poll (``bot.ingest``).

A poll that found nothing new is recorded in the next batch transaction (``flush``: one
commit per batch, not per feed, since a commit per feed would cap throughput at fleet
scale); a success with news or a failure is recorded at once, and a failure is backed
off (``bot.schedule.next_poll``).
"""

from __future__ import annotations

import logging
from datetime import datetime

from .fetch import FetchResult
from .models import Feed, FetchState
from .ports import Clock, FeedStore, Runner
from .schedule import next_poll
from .settings import Settings
from .telemetry import Telemetry

log = logging.getLogger("signaldesk.engine")

# Successful no-change polls recorded per transaction (see ``FetchLog.unchanged``).
FETCH_LOG_BATCH = 500


class FetchLog:
    def __init__(
        self,
        settings: Settings,
        store: FeedStore,
        runner: Runner,
        *,
        clock: Clock,
        telemetry: Telemetry,
    ) -> None:
        self.settings = settings
        self.store = store
        self.db = runner
        self.clock = clock
        self.telemetry = telemetry
        self._unchanged: list[tuple[int, FetchState]] = []  # polls to record

    async def unchanged(self, feed: Feed, result: FetchResult) -> None:
        """Record a poll that found nothing new, in the next batch transaction."""
        self.telemetry.fetched("unchanged")
        self._unchanged.append((feed.id, self._success_state(feed, result, title=None)))
        if len(self._unchanged) >= FETCH_LOG_BATCH:
            await self.flush()

    async def flush(self) -> None:
        if self._unchanged:
            batch, self._unchanged = self._unchanged, []
            await self.db(self.store.record_fetches, batch, self.clock.now())

    async def success(self, feed: Feed, result: FetchResult, *, title: str | None) -> None:
        self.telemetry.fetched("new")
        state = self._success_state(feed, result, title=title)
        await self.db(self.store.record_fetch, feed.id, state, self.clock.now())

    async def failure(self, feed: Feed, error: str, retry_after: float | None) -> None:
        self.telemetry.fetched("failed")
        log.warning("feed %s failed: %s", feed.url, error, extra={"feed_id": feed.id})
        state = FetchState(
            etag=feed.etag,
            last_modified=feed.last_modified,
            next_poll_at=self._next_poll(feed, None, feed.consecutive_failures + 1, retry_after),
            ok=False,
            error=error,
            primed=feed.primed,
        )
        await self.db(self.store.record_fetch, feed.id, state, self.clock.now())

    def _success_state(self, feed: Feed, result: FetchResult, *, title: str | None) -> FetchState:
        return FetchState(
            etag=result.etag,
            last_modified=result.last_modified,
            content_hash=result.content_hash or None,
            title=title,
            next_poll_at=self._next_poll(feed, result, 0, result.retry_after),
            ok=True,
            primed=True,
        )

    def _next_poll(
        self, feed: Feed, result: FetchResult | None, failures: int, retry_after: float | None
    ) -> datetime:
        return next_poll(
            self.clock.now(),
            interval=float(feed.interval_seconds or self.settings.poll_interval),
            failures=failures,
            retry_after=retry_after,
            max_age=result.max_age if result is not None else None,
            max_backoff=float(self.settings.max_backoff),
        )


__all__ = ["FETCH_LOG_BATCH", "FetchLog"]
