"""The ingest stage: poll a feed, store what is new, brief each new entry.

    fetch -> 304 / same bytes (nothing to do) -> parse -> store.add_entries (new only)
          -> brief each (``bot.brief``); on failure: the feed's health, backed off

A poll's outcome is recorded by ``bot.fetchlog`` (unchanged polls batched until
``flush``). ``resume_pending`` briefs what a crash left stored but not briefed,
and retries entries whose briefing failed (``ENTRY_ATTEMPTS`` in all).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager, nullcontext, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from .brief import Briefer
from .errors import FetchError, ParseError, SignalDeskError, StorageError
from .fetch import Fetcher
from .fetchlog import FetchLog
from .models import Feed, FeedEntry, StoredEntry
from .parsegate import ParseGate
from .ports import ChannelStore, Clock, EntryStore, FeedStore, Runner
from .roles import BRIEF, Leader
from .settings import Settings
from .telemetry import Telemetry

log = logging.getLogger("signaldesk.engine")

# An entry whose briefing raised is tried this many times in all (the poll that stored
# it, then retry passes), then marked failed: logged, and counted in the feed's health.
ENTRY_ATTEMPTS = 3
# Entries of other processes of a fleet the ``brief`` role remembers having taken (so
# that one whose briefing failed waits for the retry pass instead of every tick).
TAKEN_MEMORY = 10_000
# Other processes' entries the ``brief`` role briefs at once (``brief_others``).
OTHERS_AT_ONCE = 16


@dataclass
class PollReport:
    feeds_polled: int = 0
    not_modified: int = 0
    failures: int = 0
    new_entries: int = 0
    briefed_entries: int = 0
    briefings: list[str] = field(default_factory=list)  # ids created or updated
    errors: list[str] = field(default_factory=list)


class IngestStore(FeedStore, EntryStore, ChannelStore, Protocol):
    """Feeds (and their fetch record), entries, and subscriptions (``add_feed``)."""


class Ingest:
    """Polls feeds and briefs what is new (through the ``Briefer``)."""

    def __init__(
        self,
        settings: Settings,
        store: IngestStore,
        runner: Runner,
        *,
        fetcher: Fetcher,
        clock: Clock,
        briefer: Briefer,
        parse_gate: ParseGate,
        telemetry: Telemetry | None = None,
        leader: Leader | None = None,
    ) -> None:
        self.settings = settings
        self.leader = leader or Leader()
        self.telemetry = telemetry or Telemetry()
        self.store = store
        self.db = runner
        self.fetcher = fetcher
        self.clock = clock
        self.briefer = briefer
        self._parse_gate = parse_gate
        self.fetch_log = FetchLog(settings, store, runner, clock=clock, telemetry=self.telemetry)
        self.in_flight: set[int] = set()  # entries being briefed right now
        # While the service polls (``poll_forever``): a new feed's first-poll entries
        # wait here and are briefed one at a time by ``brief_backlog``, behind new news,
        # so an OPML import of thousands of feeds does not take every worker.
        # Ids only: an import's backlog can be tens of thousands of entries, their texts
        # stay in the store until their turn.
        self.backlog: asyncio.Queue[int] | None = None
        self._taken: dict[int, None] = {}  # see ``brief_others``
        # Other processes' entries the last ``brief_others`` pass found to brief (while
        # there are, this process polls less: ``Engine.poll_forever``).
        self.others_waiting = 0
        self.others_briefed = 0  # in all, for reports

    async def add_feed(
        self, channel_id: str, url: str, name: str | None = None
    ) -> tuple[Feed, bool]:
        """Subscribe a channel to a feed (created if new). Polled on the next cycle."""
        now = self.clock.now()
        await self.db(self.store.ensure_channel, channel_id, now)
        feed, _ = await self.db(
            self.store.add_feed,
            url,
            name=None,  # the name is the channel's own (the subscription's), never shared
            now=now,
            interval_seconds=0,  # follows SIGNALDESK_POLL_INTERVAL, even when it changes
        )
        subscribed = await self.db(self.store.subscribe, channel_id, feed.id, now, name=name)
        return feed, subscribed

    async def worker(
        self,
        queue: asyncio.Queue[Feed],
        report: PollReport,
        limit: AbstractAsyncContextManager[object] | None = None,
    ) -> None:
        """Poll feeds from ``queue`` until cancelled; with ``limit``, take one only
        while holding a permit (``bot.inflight``)."""
        while True:
            async with limit or nullcontext():
                feed = await queue.get()
                try:
                    await self.poll(feed, report)
                except StorageError as exc:  # the database, not the feed: its lease retries
                    log.error("polling %s failed: %s", feed.url, exc)
                except Exception as exc:  # one feed's bug must not stop a worker
                    log.exception("polling %s failed", feed.url)
                    # Visible in the feed's health (and backed off), not only in the log.
                    with suppress(Exception):
                        await self._record_failure(
                            feed, f"internal error: {one_line_error(exc)}", None, report
                        )
                finally:
                    queue.task_done()

    async def poll_feed(self, feed: Feed, report: PollReport | None = None) -> PollReport:
        """Poll one feed now and record the outcome."""
        report = report or PollReport()
        try:
            await self.poll(feed, report)
        finally:
            await self.flush()
        return report

    async def poll(self, feed: Feed, report: PollReport) -> None:
        """Poll one feed (its outcome recorded; unchanged polls batched until ``flush``)."""
        report.feeds_polled += 1
        try:
            result = await self.fetcher.fetch(
                feed.url, etag=feed.etag, last_modified=feed.last_modified
            )
        except FetchError as exc:
            await self._record_failure(feed, str(exc), exc.retry_after, report)
            return
        if result.not_modified or (
            feed.primed and result.content_hash and result.content_hash == feed.content_hash
        ):
            # 304, or the same bytes again from a server without validators: no work.
            report.not_modified += 1
            await self.fetch_log.unchanged(feed, result)
            return
        try:
            parsed = await self._parse_gate.parse(
                result.body, headers=result.headers, url=result.url
            )
        except ParseError as exc:
            await self._record_failure(feed, str(exc), None, report)
            return
        now = self.clock.now()
        brief: set[str] | None = None
        if not feed.primed:
            # No first-poll flood: the backlog is recorded as seen, only the newest few
            # are briefed.
            brief = {e.key for e in _newest(parsed.entries, self.settings.first_poll_limit)}
        new = await self.db(self.store.add_entries, feed.id, parsed.entries, now, brief=brief)
        await self.fetch_log.success(feed, result, title=parsed.title or None)
        if new:  # per-feed storage stays bounded however fast a feed churns
            quiet = now - timedelta(hours=self.settings.cluster_window_hours)
            await self.db(self.store.trim_feed, feed.id, parsed.entries, quiet)
        report.new_entries += len(new)
        # In flight from the moment they are stored: a retry pass must not take them too.
        todo = [e for e in new if brief is None or e.key in brief]
        self.in_flight.update(e.id for e in todo)
        if brief is not None and self.backlog is not None:
            for entry in todo:  # still in flight: the retry pass must not take them
                self.backlog.put_nowait(entry.id)
            return
        try:
            for entry in todo:
                await self.brief_entry(entry, report)
        finally:
            self.in_flight.difference_update(e.id for e in todo)

    async def brief_entry(self, entry: StoredEntry, report: PollReport) -> None:
        """Brief one stored entry. Whatever raises is this entry's failure alone: it is
        logged with the entry's id and counted (``ENTRY_ATTEMPTS`` tries, then marked
        failed in the feed's health), and the caller goes on with the next entry. Only
        the store failing to record that (the database itself is down) propagates."""
        self.in_flight.add(entry.id)
        try:
            if not await self.leader.holds(BRIEF):
                # Another process of the fleet places and condenses (``bot.roles``):
                # the article is read here, the entry stays pending for that process.
                await self.briefer.prepare(entry)
                return
            briefing_id = await self.briefer.process_entry(entry)
            self.telemetry.briefed()
        except StorageError:
            # The database, not the entry: it stays pending, untouched, and the retry
            # pass (or the next start) takes it up once the store answers again.
            raise
        except Exception as exc:
            error = one_line_error(exc)
            report.errors.append(f"entry {entry.id}: {error}")
            gave_up = await self.db(
                self.store.entry_failed, entry.id, error, self.clock.now(), ENTRY_ATTEMPTS
            )
            if gave_up:
                log.error(
                    "briefing entry %s of feed %s failed %d times; marked failed: %s",
                    entry.id,
                    entry.feed_id,
                    ENTRY_ATTEMPTS,
                    error,
                )
            else:
                log.warning(
                    "briefing entry %s of feed %s failed; it will be retried: %s",
                    entry.id,
                    entry.feed_id,
                    error,
                    exc_info=not isinstance(exc, SignalDeskError),
                )
            return
        finally:
            self.in_flight.discard(entry.id)
        if briefing_id:
            report.briefed_entries += 1
            if briefing_id not in report.briefings:
                report.briefings.append(briefing_id)

    async def brief_backlog(self, report: PollReport) -> None:
        """Brief new feeds' first-poll entries one at a time, until cancelled; what is
        left queued then stays stored and pending (the next start resumes it)."""
        backlog = self.backlog = asyncio.Queue()
        try:
            while True:
                entry_id = await backlog.get()
                try:
                    # The first pending entry from this id on: this one, unless it is
                    # no longer pending (then there is nothing to do).
                    found = await self.db(self.store.pending_entries, 1, entry_id - 1)
                    if found and found[0].id == entry_id:
                        await self.brief_entry(found[0], report)
                except StorageError as exc:  # stays pending: the retry pass takes it
                    log.error("briefing entry %s failed: %s", entry_id, exc)
                finally:
                    self.in_flight.discard(entry_id)
        finally:
            self.backlog = None
            while not backlog.empty():
                self.in_flight.discard(backlog.get_nowait())

    async def resume_pending(self, *, batch: int = 100) -> PollReport:
        """Brief the entries that were stored but not briefed when the process last
        stopped (killed between storing and routing), and retry those whose briefing
        failed: nothing stored is lost, and nothing is retried forever."""
        report = PollReport()
        if not await self.leader.holds(BRIEF):
            return report  # the process of the fleet that briefs resumes them
        after = 0
        while pending := await self.db(self.store.pending_entries, batch, after):
            for entry in pending:
                after = entry.id
                if entry.id not in self.in_flight:  # a worker has it: not twice
                    await self.brief_entry(entry, report)
        return report

    async def brief_others(self, *, batch: int = 100) -> int:
        """With the ``brief`` role in a fleet (``bot.roles``): brief the entries other
        processes polled and left pending, once each here (one whose briefing fails
        waits for the retry pass). An entry whose article its poller may still be
        reading (stored within the fetch timeout, nothing saved yet) waits a tick, so
        that the page is not fetched twice. Returns the entries taken."""
        if self.leader.alone or not await self.leader.holds(BRIEF):
            self.others_waiting = 0
            return 0
        report = PollReport()
        reading = self.clock.now() - timedelta(seconds=2 * self.settings.fetch_timeout)
        taken = after = 0
        while pending := await self.db(self.store.pending_entries, batch, after):
            todo = []
            for entry in pending:
                after = entry.id
                if entry.id in self.in_flight or entry.id in self._taken:
                    continue
                fresh = self.settings.fetch_pages and entry.fetched_at > reading
                if fresh and await self.db(self.store.saved_article, entry.id) is None:
                    continue
                self._taken[entry.id] = None
                if len(self._taken) > TAKEN_MEMORY:
                    del self._taken[next(iter(self._taken))]
                todo.append(entry)
            if todo:
                self.others_waiting = max(self.others_waiting, len(todo))
                # Several at once, as the poll's workers brief their own: each entry's
                # store calls and condensing overlap the others' (placing stays one at
                # a time, under the briefing stage's lock).
                await self._brief_together(todo, report)
                taken += len(todo)
        self.others_waiting = taken
        self.others_briefed += taken
        return taken

    async def _brief_together(self, entries: Sequence[StoredEntry], report: PollReport) -> None:
        slots = asyncio.Semaphore(OTHERS_AT_ONCE)

        async def one(entry: StoredEntry) -> None:
            async with slots:
                await self.brief_entry(entry, report)

        try:
            async with asyncio.TaskGroup() as group:
                for entry in entries:
                    group.create_task(one(entry))
        except* StorageError as failed:  # the database, not an entry: one line upstairs
            raise failed.exceptions[0] from None

    async def flush(self) -> None:
        await self.fetch_log.flush()

    async def _record_failure(
        self, feed: Feed, error: str, retry_after: float | None, report: PollReport
    ) -> None:
        report.failures += 1
        report.errors.append(f"{feed.display_name}: {error}")
        await self.fetch_log.failure(feed, error, retry_after)


def one_line_error(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:300]
    if isinstance(exc, SignalDeskError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _newest(entries: Sequence[FeedEntry], limit: int) -> list[FeedEntry]:
    """The newest ``limit`` entries (by date; undated ones count as oldest), in the
    order the feed gave them."""
    if limit <= 0:
        return []
    floor = datetime.min.replace(tzinfo=UTC)
    ranked = sorted(
        range(len(entries)),
        key=lambda i: (entries[i].published or floor, -i),
        reverse=True,
    )
    keep = set(ranked[:limit])
    return [e for i, e in enumerate(entries) if i in keep]


__all__ = ["ENTRY_ATTEMPTS", "Ingest", "IngestStore", "PollReport", "one_line_error"]
