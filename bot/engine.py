"""The orchestrator: one poll cycle and one delivery pass, read top to bottom.

    schedule -> fetch -> parse -> store.add_entries (new only) -> extract -> cluster
             -> condense -> route (outbox) -> deliver (Publisher)

Every I/O dependency is a constructor argument. Blocking work goes off the event loop:
SQLite through ``StoreRunner`` (one writer thread), parsing, extraction and condensing
through ``asyncio.to_thread``.

Scheduling at fleet scale (tens of thousands of feeds, hundreds of checks a second):
``poll_forever`` runs a fixed pool of workers fed from the store in leased batches,
never a task per feed; the fetcher bounds requests in flight and reuses connections;
304s and unchanged bodies are recorded in one transaction per batch
(``store.record_fetches``), since a commit per feed would cap throughput.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .cluster import FOLLOWS_PREFIX, ClusterIndex, Fingerprint, StoryClusterer, source_of
from .condense import ExtractiveCondenser
from .deliver import Deliverer
from .errors import (
    ExtractError,
    FetchError,
    ParseError,
    QueryError,
    SignalDeskError,
    StorageError,
)
from .extract import article_from_entry, extract_article
from .fetch import PAGE_ACCEPT, Fetcher, FetchResult
from .models import (
    HEADLINE_MAX,
    Article,
    Briefing,
    DeliveryKind,
    DeliveryMode,
    DeliveryState,
    Feed,
    FeedEntry,
    FetchState,
    RelatedRef,
    Source,
    SourceText,
    StoredEntry,
    Story,
    StoryDoc,
)
from .parse import ParseGate
from .ports import AsyncCondenser, Clock, Condenser, Publisher, Store
from .route import channel_accepts
from .runner import StoreRunner
from .schedule import MAX_SERVER_DELAY, ClockWatch, Heartbeat, next_poll
from .search import pick_related, related_query
from .settings import Settings
from .tenancy import View, brief_story
from .text import cut
from .topics import topics_for
from .urls import canonical_link, mirror_key

log = logging.getLogger("signaldesk.engine")
LINK_MEMORY = 200_000  # links and mirror texts remembered for one-source-per-article

# Successful no-change polls recorded per transaction (see ``_note_unchanged``).
FETCH_LOG_BATCH = 500
# Old text is forgotten once an hour, a few thousand entries per store call.
HOUSEKEEPING_EVERY = timedelta(hours=1)
HOUSEKEEPING_BATCH = 2000
# An entry whose briefing raised is tried this many times in all (the poll that stored
# it, then retry passes), then marked failed: logged, and counted in the feed's health.
ENTRY_ATTEMPTS = 3
RETRY_FAILED_EVERY = timedelta(minutes=10)
# Start-up (resuming stored work) is retried with backoff from the first to the last.
STARTUP_BACKOFF = (1.0, 60.0)


class KeyedLock:
    """One asyncio lock per key, kept only while someone holds or waits for it."""

    def __init__(self) -> None:
        self._slots: dict[int, tuple[asyncio.Lock, list[int]]] = {}

    def __len__(self) -> int:
        return len(self._slots)

    @asynccontextmanager
    async def hold(self, key: int) -> AsyncIterator[None]:
        lock, users = self._slots.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._slots[key]


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class PollReport:
    feeds_polled: int = 0
    not_modified: int = 0
    failures: int = 0
    new_entries: int = 0
    briefed_entries: int = 0
    briefings: list[str] = field(default_factory=list)  # ids created or updated
    errors: list[str] = field(default_factory=list)


class Engine:
    """Feeds in, briefings out. Construct with real or test dependencies; call
    ``poll_once``/``deliver_once`` (the demo and tests) or ``run`` (the service)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        fetcher: Fetcher,
        publishers: Mapping[str, Publisher],
        clock: Clock | None = None,
        condenser: Condenser | None = None,
        clusterer: StoryClusterer | None = None,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.db = StoreRunner(store)
        self.fetcher = fetcher
        self.publishers = dict(publishers)
        self.clock = clock or SystemClock()
        self.condenser = condenser or ExtractiveCondenser()
        self.clusterer = clusterer or StoryClusterer(
            window=timedelta(hours=settings.cluster_window_hours)
        )
        self._index: ClusterIndex | None = None
        # Canonical link or mirrored text -> story: one article carried by several feeds
        # (or syndicated under another link) is one source. Bounded: oldest forgotten.
        self._story_of_link: dict[str, int] = {}
        # Later stories to link to an earlier one once its briefing exists.
        self._pending_follows: dict[int, int] = {}
        # Clustering decides one entry at a time (the index is shared state); condensing
        # and routing hold only their story, so a slow model answer for one story does
        # not stall every other story's briefing.
        self._place_lock = asyncio.Lock()
        self._story_locks = KeyedLock()
        self._fetch_log: list[tuple[int, FetchState]] = []  # unchanged polls to record
        self._next_housekeeping: datetime | None = None  # due at the first scheduling pass
        self._housekeeping: asyncio.Task[int] | None = None
        # Liveness for the health check, and the wall clock watched against a monotonic
        # one (a clock set back a day must not stop polling for a day).
        if monotonic is None:
            # With the system clock, the system's monotonic clock watches it. An injected
            # wall clock (tests, the demo) is its own measure unless a monotonic clock is
            # injected too: advancing it is then the passing of time, not a jump.
            monotonic = (
                time.monotonic
                if clock is None or isinstance(clock, SystemClock)
                else (lambda: self.clock.now().timestamp())
            )
        self.heartbeat = Heartbeat(monotonic=monotonic)
        self._clock_watch = ClockWatch(lambda: self.clock.now(), monotonic)
        self._in_flight: set[int] = set()  # entries being briefed right now
        self._next_retry: datetime | None = None
        self._retrying: asyncio.Task[None] | None = None
        self.startup_backoff = STARTUP_BACKOFF
        self._parse_gate = ParseGate()  # bounds concurrent large parses (memory)

        self.delivery = Deliverer(self)  # the outbox's sender: one queue per channel

    @property
    def last_tick(self) -> datetime | None:
        """Wall-clock time of the scheduler's last completed pass (None before one)."""
        return self.heartbeat.last_tick

    @property
    def alive(self) -> bool:
        """True while the scheduler completes passes: the last one is at most a few
        minutes old (by the monotonic clock). For the health check."""
        return self.heartbeat.alive(self._stale_after)

    @property
    def _stale_after(self) -> float:
        return max(120.0, 4 * self.settings.fetch_timeout)

    def health_problem(self) -> str | None:
        """What a channel should be told when the service runs but cannot poll (a
        database locked or full, a scheduler that stopped), else None."""
        return self.heartbeat.problem(self._stale_after)

    # ------------------------------------------------------------------ feeds

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
            interval_seconds=self.settings.poll_interval,
        )
        subscribed = await self.db(self.store.subscribe, channel_id, feed.id, now, name=name)
        return feed, subscribed

    # ------------------------------------------------------------------- poll

    async def poll_once(self, *, limit: int = 1000) -> PollReport:
        """Poll the feeds that are due now (up to ``limit``) through the worker pool;
        return once every one is polled and recorded (the demo and tests)."""
        report = PollReport()
        queue: asyncio.Queue[Feed] = asyncio.Queue()
        for feed in await self._claim_due(limit):
            queue.put_nowait(feed)
        workers = [
            asyncio.create_task(self._poll_worker(queue, report))
            for _ in range(min(queue.qsize(), self.settings.concurrency))
        ]
        try:
            await queue.join()
        finally:
            await _cancel(workers)
            await self._flush_fetch_log()
        return report

    async def poll_forever(
        self, stop: asyncio.Event, report: PollReport | None = None, *, tick: float = 1.0
    ) -> None:
        """The scheduler, until ``stop``: ``settings.concurrency`` workers take feeds
        from a bounded queue that is refilled from the store in leased batches as it
        drains. Memory stays flat however many feeds there are; a full queue makes the
        refill wait (backpressure) instead of claiming feeds it cannot poll yet."""
        report = report or PollReport()
        size = self.settings.concurrency
        queue: asyncio.Queue[Feed] = asyncio.Queue(maxsize=size)
        workers = [asyncio.create_task(self._poll_worker(queue, report)) for _ in range(size)]
        try:
            while not stop.is_set():
                try:
                    due = await self._claim_due(size)
                    self.heartbeat.beat(self.clock.now())  # the store answers: alive
                    for feed in due:
                        await queue.put(feed)
                    if len(due) == size:
                        continue  # more are due: keep the queue fed
                    await self._flush_fetch_log()
                    await self._housekeep_when_due()
                    await self._retry_failed_when_due()
                except SignalDeskError as exc:  # e.g. the database is locked or full
                    log.error("scheduling feeds failed: %s", exc)
                    self.heartbeat.failed(str(exc))
                except Exception as exc:  # keep polling; a bug must not stop the scheduler
                    log.exception("scheduling feeds failed")
                    self.heartbeat.failed(f"{type(exc).__name__}: {exc}")
                # A long-running report keeps only recent details, not every error.
                del report.errors[:-100], report.briefings[:-100]
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=tick)
        finally:
            background = [t for t in (self._housekeeping, self._retrying) if t is not None]
            await _cancel([*workers, *background])
            await self._flush_fetch_log()

    async def housekeep(self) -> int:
        """Forget the full text of entries whose story has been quiet for
        ``keep_text_days`` (nothing with 0). A few thousand rows per store call, so that
        commands get their turn in between. Returns how many entries were cleared."""
        days = self.settings.keep_text_days
        if not days:
            return 0
        before = self.clock.now() - timedelta(days=days)
        total = 0
        while True:
            cleared = await self.db(self.store.forget_old_text, before, HOUSEKEEPING_BATCH)
            total += cleared
            if cleared < HOUSEKEEPING_BATCH:
                break
        if total:
            log.info("forgot the text of %d entries quiet for %d days", total, days)
        return total

    async def _housekeep_when_due(self) -> None:
        # In its own task: the first pass after an upgrade may have years to clear, and
        # the scheduler must keep feeding the workers meanwhile.
        now = self.clock.now()
        running = self._housekeeping is not None and not self._housekeeping.done()
        if not running and (self._next_housekeeping is None or now >= self._next_housekeeping):
            self._next_housekeeping = now + HOUSEKEEPING_EVERY
            self._housekeeping = asyncio.create_task(self._housekeep_logged())

    async def _housekeep_logged(self) -> int:
        try:
            return await self.housekeep()
        except SignalDeskError as exc:
            log.error("forgetting old text failed: %s", exc)
        except Exception:
            log.exception("forgetting old text failed")
        return 0

    async def _claim_due(self, limit: int) -> list[Feed]:
        await self._replan_after_clock_jump()
        now = self.clock.now()
        # Long enough for a whole fetch after a wait in the queue; a poll lost to a
        # crash is retried when it runs out.
        lease = timedelta(seconds=max(300.0, 10 * self.settings.fetch_timeout))
        return await self.db(self.store.claim_due_feeds, now, limit, now + lease)

    async def _replan_after_clock_jump(self) -> None:
        """Poll times are wall-clock instants. When the wall clock moved by more than
        the poll interval beyond the monotonic time elapsed (set back a day, say), shift
        every planned poll by the same amount, so feeds keep their cadence instead of
        waiting a day (or all falling due at once)."""
        skew = self._clock_watch.skew(float(self.settings.poll_interval))
        if skew:
            # The engine's own timers too (housekeeping, the retry pass).
            if self._next_housekeeping is not None:
                self._next_housekeeping += skew
            if self._next_retry is not None:
                self._next_retry += skew
            moved = await self.db(self.store.shift_schedule, skew)
            log.warning(
                "the wall clock jumped by %s against the monotonic clock: "
                "re-planned %d feeds' polls by the same amount",
                skew,
                moved,
            )

    async def _poll_worker(self, queue: asyncio.Queue[Feed], report: PollReport) -> None:
        while True:
            feed = await queue.get()
            try:
                await self._poll_feed(feed, report)
            except StorageError as exc:  # the database, not the feed: its lease retries it
                log.error("polling %s failed: %s", feed.url, exc)
            except Exception as exc:  # one feed's bug must not stop a worker
                log.exception("polling %s failed", feed.url)
                # Visible in the feed's health (and backed off), not only in the log.
                with suppress(Exception):
                    await self._record_failure(
                        feed, f"internal error: {_one_line(exc)}", None, report
                    )
            finally:
                queue.task_done()

    async def poll_feed(self, feed: Feed, report: PollReport | None = None) -> PollReport:
        """Poll one feed now and record the outcome."""
        report = report or PollReport()
        try:
            await self._poll_feed(feed, report)
        finally:
            await self._flush_fetch_log()
        return report

    async def _poll_feed(self, feed: Feed, report: PollReport) -> None:
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
            await self._note_unchanged(feed, result)
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
        await self._record_success(feed, result, title=parsed.title or None)
        if new:  # per-feed storage stays bounded however fast a feed churns
            quiet = now - timedelta(hours=self.settings.cluster_window_hours)
            await self.db(self.store.trim_feed, feed.id, parsed.entries, quiet)
        report.new_entries += len(new)
        # In flight from the moment they are stored: a retry pass must not take them too.
        todo = [e for e in new if brief is None or e.key in brief]
        self._in_flight.update(e.id for e in todo)
        try:
            for entry in todo:
                await self._brief_entry(entry, report)
        finally:
            self._in_flight.difference_update(e.id for e in todo)

    async def _brief_entry(self, entry: StoredEntry, report: PollReport) -> None:
        """Brief one stored entry. Whatever raises is this entry's failure alone: it is
        logged with the entry's id and counted (``ENTRY_ATTEMPTS`` tries, then marked
        failed in the feed's health), and the caller goes on with the next entry. Only
        the store failing to record that (the database itself is down) propagates."""
        self._in_flight.add(entry.id)
        try:
            briefing_id = await self.process_entry(entry)
        except StorageError:
            # The database, not the entry: it stays pending, untouched, and the retry
            # pass (or the next start) takes it up once the store answers again.
            raise
        except Exception as exc:
            error = _one_line(exc)
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
            self._in_flight.discard(entry.id)
        if briefing_id:
            report.briefed_entries += 1
            if briefing_id not in report.briefings:
                report.briefings.append(briefing_id)

    async def resume_pending(self, *, batch: int = 100) -> PollReport:
        """Brief the entries that were stored but not briefed when the process last
        stopped (killed between storing and routing), and retry those whose briefing
        failed: nothing stored is lost, and nothing is retried forever."""
        report = PollReport()
        after = 0
        while pending := await self.db(self.store.pending_entries, batch, after):
            for entry in pending:
                after = entry.id
                if entry.id not in self._in_flight:  # a worker has it: not twice
                    await self._brief_entry(entry, report)
        return report

    async def _retry_failed_when_due(self) -> None:
        # Entries whose briefing failed stay pending until ENTRY_ATTEMPTS: retried every
        # so often (a page that was down, a condenser that timed out), not only at start.
        # In its own task, as housekeeping: the scheduler keeps feeding the workers.
        now = self.clock.now()
        running = self._retrying is not None and not self._retrying.done()
        if self._next_retry is None:
            self._next_retry = now + RETRY_FAILED_EVERY
        elif now >= self._next_retry and not running:
            self._next_retry = now + RETRY_FAILED_EVERY
            self._retrying = asyncio.create_task(self._retry_logged())

    async def _retry_logged(self) -> None:
        try:
            await self.resume_pending()
        except SignalDeskError as exc:
            log.error("retrying entries failed: %s", exc)
        except Exception:
            log.exception("retrying entries failed")

    async def _cap_schedule(self) -> None:
        # No feed may be planned beyond the longest wait there is (a plan written by an
        # old release, or while the clock was far ahead, would otherwise park it).
        longest = max(
            float(self.settings.max_backoff), MAX_SERVER_DELAY, float(self.settings.poll_interval)
        )
        latest = self.clock.now() + timedelta(seconds=longest + 3600)
        moved = await self.db(self.store.cap_schedule, latest)
        if moved:
            log.warning("%d feeds were planned beyond %s; brought forward to it", moved, latest)

    async def start(self, stop: asyncio.Event) -> bool:
        """Resume stored work, retrying with backoff (and one log line per attempt)
        while the database is locked, full or otherwise failing. False if ``stop`` was
        set first."""
        first, cap = self.startup_backoff
        wait = first
        attempt = 0
        while not stop.is_set():
            attempt += 1
            try:
                await self._cap_schedule()
                await self.resume_pending()
            except Exception as exc:
                error = _one_line(exc)
                self.heartbeat.failed(error)
                log.error(
                    "engine start (attempt %d) failed: %s; retrying in %gs", attempt, error, wait
                )
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=wait)
                wait = min(wait * 2, cap)
                continue
            if attempt > 1:
                log.info("engine started after %d attempts", attempt)
            self.heartbeat.beat(self.clock.now())
            return True
        return False

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

    async def _note_unchanged(self, feed: Feed, result: FetchResult) -> None:
        """Record a poll that found nothing new, in the next batch transaction."""
        self._fetch_log.append((feed.id, self._success_state(feed, result, title=None)))
        if len(self._fetch_log) >= FETCH_LOG_BATCH:
            await self._flush_fetch_log()

    async def _flush_fetch_log(self) -> None:
        if self._fetch_log:
            batch, self._fetch_log = self._fetch_log, []
            await self.db(self.store.record_fetches, batch, self.clock.now())

    async def _record_success(self, feed: Feed, result: FetchResult, *, title: str | None) -> None:
        state = self._success_state(feed, result, title=title)
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

    async def _record_failure(
        self, feed: Feed, error: str, retry_after: float | None, report: PollReport
    ) -> None:
        report.failures += 1
        report.errors.append(f"{feed.display_name}: {error}")
        log.warning("feed %s failed: %s", feed.url, error)
        state = FetchState(
            etag=feed.etag,
            last_modified=feed.last_modified,
            next_poll_at=self._next_poll(feed, None, feed.consecutive_failures + 1, retry_after),
            ok=False,
            error=error,
            primed=feed.primed,
        )
        await self.db(self.store.record_fetch, feed.id, state, self.clock.now())

    # ---------------------------------------------------------------- entries

    async def process_entry(self, entry: StoredEntry) -> str | None:
        """Extract, cluster, condense and route one new entry, then mark it briefed.
        Returns the briefing id. Safe to repeat for an entry a crash interrupted: an
        entry already placed keeps its story, and routing is idempotent."""
        placed = None
        if entry.story_id is not None:
            placed = await self.db(self.store.get_story, entry.story_id)
        article = None if placed else await self.read_article(entry)
        if article is not None:
            await self.db(self.store.save_article, entry.id, article)
        if placed is not None:
            story = placed
        else:
            async with self._place_lock:
                story, known = await self._place_in_story(entry, article or Article())
            if known and not await self._new_audience(story, entry):
                # An article the story already has, through another feed: no new
                # source, no update (a channel that follows only this feed is routed
                # below, from its own copy).
                await self.db(self.store.mark_briefed, entry.id)
                return story.briefing_id
        async with self._story_locks.hold(story.id):
            # One briefing per set of followed feeds (bot.tenancy): condensed and routed.
            briefings = await brief_story(self, story, entry)
        for later, earlier in [(k, v) for k, v in self._pending_follows.items() if v == story.id]:
            del self._pending_follows[later]
            await self._link_later(later, earlier)
        await self.db(self.store.mark_briefed, entry.id)
        return briefings[0].id if briefings else None

    async def _new_audience(self, story: Story, entry: StoredEntry) -> bool:
        """Whether a channel that follows ``entry``'s feed has not been given the story."""
        audience = await self.db(self.store.story_audience, story.id)
        routed = {channel for channel, _ in await self.db(self.store.story_routes, story.id)}
        return any(f == entry.feed_id and c not in routed for c, f, _ in audience)

    async def _link_later(self, later: int, earlier: int) -> None:
        """A story placed before the event it develops had arrived: record the link
        and put "Follows: …" at the head of its stored related list (what /brief more
        and /brief related read); its post is not sent again."""
        await self.db(self.store.set_story_follows, later, earlier)
        story = await self.db(self.store.get_story, later)
        if story is None:
            return
        async with self._story_locks.hold(later):
            briefing = await self.db(self.store.get_briefing, story.briefing_id)
            if briefing is None:
                return
            briefing.related = await self._with_follows(earlier, briefing.related)
            await self.db(self.store.save_briefing, briefing)

    async def read_article(self, entry: StoredEntry) -> Article:
        """The linked page's article text, else the feed's own text."""
        fallback = article_from_entry(
            entry.title,
            entry.content if len(entry.content) >= len(entry.summary) else entry.summary,
            url=entry.link,
            author=entry.author,
            published=entry.published,
        )
        if not (self.settings.fetch_pages and entry.link):
            return fallback
        try:
            page = await self.fetcher.fetch(entry.link, accept=PAGE_ACCEPT)
            async with self._parse_gate.hold(len(page.body)):  # a 5 MB page's tree is large
                article = await asyncio.to_thread(extract_article, page.body, url=page.url)
        except (FetchError, ExtractError) as exc:
            log.info("article %s: %s; using the feed's text", entry.link, exc)
            return fallback
        if len(article.text) < len(fallback.text):
            return fallback
        return article.model_copy(
            update={
                "title": article.title or entry.title,
                "published": article.published or entry.published,
                "author": article.author or entry.author,
            }
        )

    async def _cluster_index(self) -> ClusterIndex:
        if self._index is None:
            since = self.clock.now() - timedelta(hours=self.settings.cluster_window_hours)
            docs = await self.db(self.store.recent_story_docs, since)
            index = ClusterIndex(self.clusterer)
            for doc in docs:
                try:
                    fp = Fingerprint.from_json(doc.fingerprint or "")
                except ValueError:
                    fp = self.clusterer.fingerprint(doc.title, doc.text)
                assert doc.story_id is not None
                index.add(doc.story_id, fp, doc.published, doc.sources)
                if doc.follows is not None:
                    index.link(doc.story_id, doc.follows)
                for link in doc.links:
                    self._story_of_link.setdefault(link, doc.story_id)
                if key := mirror_key(doc.text):
                    self._story_of_link.setdefault(key, doc.story_id)
            self._index = index
        return self._index

    async def _place_in_story(self, entry: StoredEntry, article: Article) -> tuple[Story, bool]:
        """The entry's story, and whether the story already had this very article
        (the same canonical link from another feed)."""
        now = self.clock.now()
        index = await self._cluster_index()
        canonical = canonical_link(entry.link)
        mirror = mirror_key(article.text) if article.text else ""
        same = next(
            (self._story_of_link[k] for k in (canonical, mirror) if k and k in self._story_of_link),
            None,
        )
        if same is not None:
            doc = StoryDoc(title=entry.title or article.title, published=entry.published or now)
            return await self.db(self.store.attach_to_story, same, entry, doc, now), True
        title = entry.title or article.title
        text = article.text[:4000]
        fingerprint = await asyncio.to_thread(self.clusterer.fingerprint, title, text)
        doc = StoryDoc(
            title=title,
            text=text[:1000],
            published=entry.published or now,
            fingerprint=fingerprint.to_json(),
        )
        source = source_of(entry.origin or entry.link, f"feed:{entry.feed_id}")
        placed = index.place(fingerprint, doc.published, source)
        story_id = placed.story_id
        if story_id is None:
            doc.follows = placed.follows
            story = await self.db(self.store.create_story, entry, doc, now)
            index.add(story.id, fingerprint, doc.published, (source,))
            if placed.follows is not None:
                index.link(story.id, placed.follows)
            if placed.followed_by is not None:
                # This entry reports the event that an earlier-placed story develops (a
                # late feed): that story now follows this one.
                index.link(placed.followed_by, story.id)
                self._pending_follows[placed.followed_by] = story.id
            for key in (canonical, mirror):
                if key:
                    self._story_of_link[key] = story.id
            return story, False
        for key in (canonical, mirror):
            if key:
                self._story_of_link[key] = story_id
        if len(self._story_of_link) > LINK_MEMORY:
            for key in list(itertools.islice(self._story_of_link, LINK_MEMORY // 2)):
                del self._story_of_link[key]
        # The story keeps the centroid of its entries' fingerprints, so that it survives
        # a restart as the index knew it.
        index.add(story_id, fingerprint, doc.published, (source,))
        centroid = index.fingerprint_of(story_id) or fingerprint
        doc.fingerprint = centroid.to_json()
        return await self.db(self.store.attach_to_story, story_id, entry, doc, now), False

    async def _condense(self, story: Story, view: View | None = None) -> Briefing:
        """Condense the story (with ``view``: only the entries of the view's feeds, under
        the view's names, as the view's briefing id) and save the briefing."""
        material_rows = await self.db(self.store.story_material, story.id)
        briefing_id = story.briefing_id
        if view is not None:
            briefing_id = view.briefing_id
            material_rows = [
                (entry, article, view.labels[entry.feed_id])
                for entry, article, _ in material_rows
                if entry.feed_id in view.labels
            ]
        # One article (or a mirror of it), one source: after the view's feeds are
        # chosen, so that a channel following only the second feed still has its copy.
        seen: set[str] = set()
        unique = []
        for row in material_rows:
            keys = {canonical_link(row[0].link), mirror_key(row[1].text if row[1] else "")} - {""}
            if keys & seen:
                continue
            seen |= keys
            unique.append(row)
        material_rows = unique
        material = [
            SourceText(
                source=Source(
                    publisher=publisher,
                    title=entry.title or (article.title if article else "") or "(untitled)",
                    url=entry.link,
                    entry_id=entry.id,
                    published=entry.published,
                ),
                text=(article.text if article else "") or entry.summary or entry.title,
                summary=entry.summary,
            )
            for entry, article, publisher in material_rows
        ]
        now = self.clock.now()
        if isinstance(self.condenser, AsyncCondenser):
            # Network-bound (the LLM condenser): awaited on the loop, no thread held.
            briefing = await self.condenser.acondense(briefing_id, material, now)
        else:
            # A thread is enough: every pattern is linear (tests/test_regex_linear.py) and
            # an article is capped (bot.text.MAX_ARTICLE_CHARS), so no single call holds
            # the GIL for long; tests/test_responsive.py times commands meanwhile.
            briefing = await asyncio.to_thread(self.condenser.condense, briefing_id, material, now)
        previous = await self.db(self.store.get_briefing, briefing_id)
        update: dict[str, Any] = {"story_id": story.id}
        if previous is not None:
            update |= {"created_at": previous.created_at, "revision": previous.revision + 1}
        briefing = briefing.model_copy(update=update)
        briefing.topics = topics_for(briefing)
        if previous is not None and (previous.headline, previous.lead) == (
            briefing.headline,
            briefing.lead,
        ):
            # A source joined but the story still reads the same: the same question to
            # the index finds the same earlier briefings.
            briefing.related = previous.related
        else:
            briefing.related = await self._related(briefing)
        if story.follows is not None:
            briefing.related = await self._with_follows(story.follows, briefing.related)
        await self.db(self.store.save_briefing, briefing, view=view.key if view else None)
        return briefing

    async def _with_follows(self, story_id: int, related: list[RelatedRef]) -> list[RelatedRef]:
        """``related`` led by the earlier story this one develops ("Follows: …")."""
        earlier = await self.db(self.store.get_story, story_id)
        before = await self.db(self.store.get_briefing, earlier.briefing_id) if earlier else None
        if before is None:
            return related
        ref = RelatedRef(
            id=before.id,
            headline=cut(f"{FOLLOWS_PREFIX}{before.headline}", HEADLINE_MAX),
            created_at=before.created_at,
        )
        return [ref, *(r for r in related if r.id != before.id)][:4]

    async def _related(self, briefing: Briefing, limit: int = 3) -> list[RelatedRef]:
        """Up to ``limit`` earlier briefings about the same things (other stories)."""
        query = related_query(briefing)
        if not query:
            return []
        try:
            found = await self.db(self.store.search_briefings, query, limit=30)
        except QueryError:
            return []
        return [
            RelatedRef(id=b.id, headline=b.headline, created_at=b.created_at)
            for b in pick_related(briefing, found, limit)
        ]

    # ------------------------------------------------------------------ route

    async def route(
        self, briefing: Briefing, story: Story | None = None, *, channels: Sequence[str] = ()
    ) -> int:
        """One outbox row per subscribed channel (or per one of ``channels``) that
        accepts the briefing. A channel that already has the story gets an update, not a
        second post."""
        if channels:
            targets = await self.db(self.store.channels_by_ids, channels)
        else:
            feed_ids = await self.db(self.store.briefing_feed_ids, briefing.id)
            targets = await self.db(self.store.channels_for_feeds, feed_ids)
        now = self.clock.now()
        queued = 0
        for channel in targets:
            if not channel_accepts(channel, briefing):
                continue
            posted = await self.db(self.store.post_state, channel.id, briefing.id)
            if posted is None:
                state = (
                    DeliveryState.HELD
                    if channel.mode == DeliveryMode.DIGEST
                    else DeliveryState.PENDING
                )
                kind: DeliveryKind = "post"
            elif posted in (DeliveryState.SENDING, DeliveryState.SENT):
                # The channel has seen an earlier revision: it gets an update. Older
                # unsent updates are moot, since an update renders the latest revision.
                await self.db(self.store.supersede_updates, channel.id, briefing.id)
                state, kind = DeliveryState.PENDING, "update"
            else:
                continue  # the queued post will render the latest revision anyway
            created = await self.db(
                self.store.enqueue_delivery,
                channel.id,
                briefing.id,
                kind=kind,
                revision=briefing.revision,
                state=state,
                now=now,
            )
            queued += int(created)
        return queued

    # ---------------------------------------------------------------- deliver

    async def deliver_once(self, *, limit: int = 500) -> int:
        """Attempt the head of every channel's queue once. Returns posts made."""
        return await self.delivery.deliver_once(limit=limit)

    async def deliver_all(self, *, rounds: int = 1000) -> int:
        """Deliver until nothing is due (demo, tests, and after an outage)."""
        total = 0
        for _ in range(rounds):
            sent = await self.deliver_once()
            if not sent:
                break
            total += sent
        return total

    async def notify_feed_health(self) -> int:
        """Queue the feed-health notices that are due (see ``bot.deliver``)."""
        return await self.delivery.notify_feed_health()

    # -------------------------------------------------------------------- run

    async def run(self, stop: asyncio.Event, *, tick: float = 1.0) -> None:
        """The service loop until ``stop``: the scheduler polls in the background while
        this loop delivers what is queued and sends due digests, so that a large poll
        backlog never holds up delivery."""
        self.heartbeat.running = True
        try:
            if not await self.start(stop):
                return
            await self._serve(stop, tick)
        finally:
            self.heartbeat.running = False

    async def _serve(self, stop: asyncio.Event, tick: float) -> None:
        poller = asyncio.create_task(self.poll_forever(stop, tick=tick))
        try:
            while not stop.is_set():
                try:
                    await self.delivery.pump()  # per channel: never waits on one
                    await self.delivery.pump_digests()
                except SignalDeskError as exc:  # one line, not a traceback every tick
                    log.error("delivery cycle failed: %s", exc)
                except Exception:  # keep the service up; the next tick retries
                    log.exception("engine cycle failed")
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=tick)
        finally:
            if stop.is_set():
                await poller
                await self.delivery.aclose()
            else:
                await _cancel([poller])
                await self.delivery.aclose(cancel=True)

    async def aclose(self) -> None:
        await self.fetcher.aclose()
        self.db.close()


async def _cancel(tasks: Sequence[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _one_line(exc: BaseException) -> str:
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


__all__ = ["Engine", "PollReport", "StoreRunner", "SystemClock"]
