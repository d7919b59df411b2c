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
import atexit
import itertools
import logging
import queue
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from .cluster import FOLLOWS_PREFIX, ClusterIndex, Fingerprint, StoryClusterer, source_of
from .condense import ExtractiveCondenser
from .digest import send_due_digests
from .errors import DeliveryError, ExtractError, FetchError, ParseError, QueryError, SignalDeskError
from .extract import article_from_entry, extract_article
from .fetch import PAGE_ACCEPT, Fetcher, FetchResult
from .models import (
    HEADLINE_MAX,
    Article,
    Briefing,
    Delivery,
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
from .parse import parse_feed
from .ports import AsyncCondenser, Clock, Condenser, Publisher, Store
from .route import channel_accepts
from .search import pick_related, related_query
from .settings import Settings
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

P = ParamSpec("P")
T = TypeVar("T")


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


class StoreRunner:
    """Runs store calls on one dedicated thread: one writer, never on the event loop.

    ``await runner(fn, ...)`` queues background work (the poll's reads and writes) in
    order; ``await runner.first(fn, ...)`` is for someone waiting on the answer (a
    slash command) and goes ahead of every queued background call, so a command waits
    at most for the one call already running, not for a poll's backlog."""

    _URGENT, _BACKGROUND, _STOP = 0, 1, 2

    def __init__(self, store: Store) -> None:
        self.store = store
        self._queue: queue.PriorityQueue[tuple[int, int, Callable[[], None] | None]] = (
            queue.PriorityQueue()
        )
        self._order = itertools.count()
        self._thread = threading.Thread(target=self._work, name="signaldesk-db", daemon=True)
        self._thread.start()
        self._closed = False
        # A daemon thread does not hold the interpreter open; queued writes still run
        # at exit if no one closed the runner (as an executor's worker would).
        atexit.register(_close_at_exit, weakref.ref(self))

    async def __call__(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._submit(self._BACKGROUND, lambda: fn(*args, **kwargs))

    async def first(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Like calling the runner, ahead of queued background calls."""
        return await self._submit(self._URGENT, lambda: fn(*args, **kwargs))

    async def _submit(self, priority: int, call: Callable[[], T]) -> T:
        if self._closed:
            raise RuntimeError("the store runner is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def settle(outcome: Callable[[], None]) -> None:
            if not future.done():  # the awaiting task may have been cancelled
                outcome()

        def job() -> None:
            try:
                result = call()
            except BaseException as exc:  # handed to the awaiting task, as an executor would
                error = exc
                with suppress(RuntimeError):  # the loop has closed: no one is waiting
                    loop.call_soon_threadsafe(settle, lambda: future.set_exception(error))
            else:
                with suppress(RuntimeError):
                    loop.call_soon_threadsafe(settle, lambda: future.set_result(result))

        self._queue.put((priority, next(self._order), job))
        return await future

    def _work(self) -> None:
        while True:
            _, _, job = self._queue.get()
            if job is None:
                return
            job()

    def close(self) -> None:
        """Run what is queued, then stop the thread."""
        if not self._closed:
            self._closed = True
            self._queue.put((self._STOP, next(self._order), None))
            self._thread.join()


def _close_at_exit(ref: weakref.ref[StoreRunner]) -> None:
    runner = ref()
    if runner is not None:
        runner.close()


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
            name=name,
            now=now,
            interval_seconds=self.settings.poll_interval,
        )
        subscribed = await self.db(self.store.subscribe, channel_id, feed.id, now)
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
                    for feed in due:
                        await queue.put(feed)
                    if len(due) == size:
                        continue  # more are due: keep the queue fed
                    await self._flush_fetch_log()
                    await self._housekeep_when_due()
                except SignalDeskError as exc:  # e.g. the database is locked or full
                    log.error("scheduling feeds failed: %s", exc)
                except Exception:  # keep polling; a bug must not stop the scheduler
                    log.exception("scheduling feeds failed")
                # A long-running report keeps only recent details, not every error.
                del report.errors[:-100], report.briefings[:-100]
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=tick)
        finally:
            housekeeping = [self._housekeeping] if self._housekeeping else []
            await _cancel([*workers, *housekeeping])
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
        now = self.clock.now()
        # Long enough for a whole fetch after a wait in the queue; a poll lost to a
        # crash is retried when it runs out.
        lease = timedelta(seconds=max(300.0, 10 * self.settings.fetch_timeout))
        return await self.db(self.store.claim_due_feeds, now, limit, now + lease)

    async def _poll_worker(self, queue: asyncio.Queue[Feed], report: PollReport) -> None:
        while True:
            feed = await queue.get()
            try:
                await self._poll_feed(feed, report)
            except Exception:  # one feed's bug must not stop a worker
                log.exception("polling %s failed", feed.url)
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
            parsed = await asyncio.to_thread(
                parse_feed, result.body, headers=result.headers, url=result.url
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
        report.new_entries += len(new)
        for entry in new:
            if brief is None or entry.key in brief:
                await self._brief_entry(entry, report)

    async def _brief_entry(self, entry: StoredEntry, report: PollReport) -> None:
        briefing_id = await self.process_entry(entry)
        if briefing_id:
            report.briefed_entries += 1
            if briefing_id not in report.briefings:
                report.briefings.append(briefing_id)

    async def resume_pending(self, *, batch: int = 100) -> PollReport:
        """Brief the entries that were stored but not briefed when the process last
        stopped (killed between storing and routing): nothing stored is lost."""
        report = PollReport()
        while pending := await self.db(self.store.pending_entries, batch):
            for entry in pending:
                try:
                    await self._brief_entry(entry, report)
                except Exception:  # one bad entry must not block the rest at every start
                    log.exception("briefing entry %s failed; skipping it", entry.id)
                    await self.db(self.store.mark_briefed, entry.id)
        return report

    def _next_poll(
        self, feed: Feed, result: FetchResult | None, failures: int, retry_after: float | None
    ) -> datetime:
        now = self.clock.now()
        interval = float(feed.interval_seconds or self.settings.poll_interval)
        if failures:
            # Exponential backoff from the normal interval up to the cap.
            wait = min(interval * 2 ** min(failures, 20), float(self.settings.max_backoff))
            if retry_after:
                wait = max(wait, min(retry_after, float(self.settings.max_backoff)))
            return now + timedelta(seconds=wait)
        if result is not None and result.max_age:
            # Honour Cache-Control max-age, but never poll less often than a day.
            interval = max(interval, min(float(result.max_age), 86_400.0))
        if retry_after:
            interval = max(interval, retry_after)
        return now + timedelta(seconds=interval)

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
            if known:
                # An article the story already has, through another feed: no new
                # source, no update.
                await self.db(self.store.mark_briefed, entry.id)
                return story.briefing_id
        async with self._story_locks.hold(story.id):
            briefing = await self._condense(story)
            await self.route(briefing, story)
        for later, earlier in [(k, v) for k, v in self._pending_follows.items() if v == story.id]:
            del self._pending_follows[later]
            await self._link_later(later, earlier)
        await self.db(self.store.mark_briefed, entry.id)
        return briefing.id

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

    async def _condense(self, story: Story) -> Briefing:
        material_rows = await self.db(self.store.story_material, story.id)
        seen: set[str] = set()
        unique = []
        for row in material_rows:
            keys = {canonical_link(row[0].link), mirror_key(row[1].text if row[1] else "")} - {""}
            if keys & seen:
                continue  # one article (or a mirror of it), one source
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
            )
            for entry, article, publisher in material_rows
        ]
        now = self.clock.now()
        if isinstance(self.condenser, AsyncCondenser):
            # Network-bound (the LLM condenser): awaited on the loop, no thread held.
            briefing = await self.condenser.acondense(story.briefing_id, material, now)
        else:
            briefing = await asyncio.to_thread(
                self.condenser.condense, story.briefing_id, material, now
            )
        previous = await self.db(self.store.get_briefing, story.briefing_id)
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
        await self.db(self.store.save_briefing, briefing)
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

    async def route(self, briefing: Briefing, story: Story | None = None) -> int:
        """One outbox row per subscribed channel that accepts the briefing. A channel
        that already has the story gets an update, not a second post."""
        feed_ids = await self.db(self.store.briefing_feed_ids, briefing.id)
        channels = await self.db(self.store.channels_for_feeds, feed_ids)
        now = self.clock.now()
        queued = 0
        for channel in channels:
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
        due = await self.db(self.store.due_deliveries, self.clock.now(), limit)
        results = await asyncio.gather(*(self._deliver(d) for d in due))
        await self.notify_feed_health()
        return sum(results) + await self._deliver_notices(limit)

    async def deliver_all(self, *, rounds: int = 1000) -> int:
        """Deliver until nothing is due (demo, tests, and after an outage)."""
        total = 0
        for _ in range(rounds):
            sent = await self.deliver_once()
            if not sent:
                break
            total += sent
        return total

    async def _deliver(self, delivery: Delivery) -> int:
        channel = await self.db(self.store.get_channel, delivery.channel_id)
        publisher = self.publishers.get(channel.platform) if channel else None
        briefing = await self.db(self.store.get_briefing, delivery.briefing_id)
        if channel is None or publisher is None or briefing is None:
            return 0  # no publisher configured for this platform: keep it queued
        now = self.clock.now()
        if delivery.kind == "post" and (
            delivery.state == DeliveryState.SENDING or delivery.attempts > 0
        ):
            # An earlier attempt may have reached the platform: the process died mid-send
            # (the row was left "sending"), or the answer was lost (timeout, 5xx) and the
            # process has restarted since, taking the publisher's memory of it along. Ask
            # the platform before posting again.
            try:
                ref = await publisher.find_posted(channel, briefing)
            except DeliveryError as exc:  # cannot ask now: try again later, never guess
                await self._delivery_failed(delivery, exc)
                return 0
            if ref:
                await self.db(
                    self.store.mark_delivery,
                    delivery.id,
                    DeliveryState.SENT,
                    message_ref=ref,
                    now=now,
                )
                return 0
        await self.db(self.store.mark_delivery, delivery.id, DeliveryState.SENDING, now=now)
        try:
            if delivery.kind == "update":
                ref = await self.db(self.store.posted_ref, channel.id, briefing.id)
                if ref is None:
                    # The post it updates is gone or failed: post the story afresh.
                    result = await publisher.post_briefing(channel, briefing)
                else:
                    result = await publisher.update_briefing(channel, briefing, ref)
            else:
                result = await publisher.post_briefing(channel, briefing)
        except DeliveryError as exc:
            await self._delivery_failed(delivery, exc)
            return 0
        await self.db(
            self.store.mark_delivery,
            delivery.id,
            DeliveryState.SENT,
            message_ref=result.message_ref,
            now=self.clock.now(),
        )
        return 1

    async def _delivery_failed(self, delivery: Delivery, exc: DeliveryError) -> None:
        now = self.clock.now()
        if not exc.retryable:
            log.error(
                "delivery %s to %s failed: %s", delivery.briefing_id, delivery.channel_id, exc
            )
            await self.db(
                self.store.mark_delivery, delivery.id, DeliveryState.FAILED, error=str(exc), now=now
            )
            return
        wait = min(2.0 ** min(delivery.attempts + 1, 16), float(self.settings.delivery_retry_max))
        if exc.retry_after:
            wait = max(exc.retry_after, 0.0)
        await self.db(
            self.store.mark_delivery,
            delivery.id,
            DeliveryState.PENDING,
            error=str(exc),
            not_before=now + timedelta(seconds=wait),
            now=now,
        )

    # ---------------------------------------------------------- feed health

    async def notify_feed_health(self) -> int:
        """Tell each subscribed channel once when a feed has failed
        ``settings.failure_notice_after`` times in a row, and once when it works again.

        Read from the feeds' recorded health rather than hooked into a poll, so that
        whichever path recorded the poll (one feed, a batch of 304s) and whatever
        happened in between (a crash, a restart), the store's ``failure_notice_at``
        decides: each notice is queued once. Returns the notices queued."""
        queued = 0
        wanted = await self.db(self.store.feeds_needing_notice, self.settings.failure_notice_after)
        for feed, kind in wanted:
            text = _health_text(feed, kind)
            queued += await self.db(
                self.store.queue_feed_notice, feed.id, kind, text, self.clock.now()
            )
        return queued

    async def _deliver_notices(self, limit: int) -> int:
        due = await self.db(self.store.due_notices, self.clock.now(), limit)
        sent = 0
        for notice in due:
            channel = await self.db(self.store.get_channel, notice.channel_id)
            publisher = self.publishers.get(channel.platform) if channel else None
            if channel is None or publisher is None:
                continue  # no publisher for this platform (yet): keep it queued
            now = self.clock.now()
            # A notice has no platform-side key to look it up by after a crash, so it is
            # sent at most once: a row left "sending" by a crash is never picked up again
            # (due_notices reads only "pending"). Repeating a notice is what users mind.
            await self.db(self.store.mark_notice, notice.id, DeliveryState.SENDING, now=now)
            try:
                result = await publisher.post_text(channel, notice.text)
            except DeliveryError as exc:
                state = DeliveryState.PENDING if exc.retryable else DeliveryState.FAILED
                wait = exc.retry_after or min(
                    2.0 ** min(notice.attempts + 1, 16), float(self.settings.delivery_retry_max)
                )
                await self.db(
                    self.store.mark_notice,
                    notice.id,
                    state,
                    error=str(exc),
                    not_before=now + timedelta(seconds=wait),
                    now=now,
                )
                continue
            await self.db(
                self.store.mark_notice,
                notice.id,
                DeliveryState.SENT,
                message_ref=result.message_ref,
                now=self.clock.now(),
            )
            sent += 1
        return sent

    # -------------------------------------------------------------------- run

    async def run(self, stop: asyncio.Event, *, tick: float = 1.0) -> None:
        """The service loop until ``stop``: the scheduler polls in the background while
        this loop delivers what is queued and sends due digests, so that a large poll
        backlog never holds up delivery."""
        await self.resume_pending()
        poller = asyncio.create_task(self.poll_forever(stop, tick=tick))
        try:
            while not stop.is_set():
                try:
                    await self.deliver_once()
                    await send_due_digests(self)
                except SignalDeskError as exc:  # one line, not a traceback every tick
                    log.error("delivery cycle failed: %s", exc)
                except Exception:  # keep the service up; the next tick retries
                    log.exception("engine cycle failed")
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=tick)
        finally:
            if stop.is_set():
                await poller
            else:
                await _cancel([poller])

    async def aclose(self) -> None:
        await self.fetcher.aclose()
        self.db.close()


async def _cancel(tasks: Sequence[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _health_text(feed: Feed, kind: str) -> str:
    """The notice a channel gets about one of its feeds (plain text: the publisher
    escapes it, since a feed's name comes from the feed)."""
    name = f"{feed.display_name} (feed {feed.id})"
    if kind == "recovered":
        return f"feed {name} is working again."
    since = feed.failing_since or feed.last_error_at
    when = f" since {since.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if since else ""
    error = feed.last_error or "unknown error"
    return (
        f"feed {name} has failed{when}: {error}. "
        f"SignalDesk keeps retrying, less often as it goes on; /brief feeds shows its health."
    )


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
