"""The engine: composes the stages and runs the service loop.

    schedule (bot.schedule) -> ingest (bot.ingest: fetch, parse, store new)
        -> brief (bot.brief: extract, place, condense, route) -> deliver (bot.deliver)
                                                               -> digests (bot.digest)

Every stage takes only the storage roles it uses (``bot.ports``) and the one writer
thread (a ``Runner``: store calls in order, never on the event loop). The engine builds
the stages from the pieces the composition root (``adapters/main.py``) hands in and
runs them: ``poll_once``/``deliver_once`` (the demo and tests) or ``run`` (the service).

Scheduling at fleet scale (tens of thousands of feeds, hundreds of checks a second):
``poll_forever`` runs a fixed pool of workers fed from the store in leased batches,
never a task per feed; the fetcher bounds requests in flight and reuses connections;
304s and unchanged bodies are recorded in one transaction per batch.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from .brief import Briefer, warm_up
from .cluster import StoryClusterer
from .condense import ExtractiveCondenser
from .condense.analysis import set_cache_bytes
from .deliver import Deliverer, Publishers
from .digest import Digests
from .errors import SignalDeskError
from .fetch import Fetcher
from .inflight import InFlightLimit, steer
from .ingest import ENTRY_ATTEMPTS, Ingest, PollReport, one_line_error
from .models import Feed
from .parsegate import ParseGate, parse_budget
from .place import StoryPlacer, stories_for
from .ports import Clock, Condenser, Publisher, Roles, Runner, Store
from .roles import DELIVER, Leader
from .route import Router
from .schedule import Heartbeat, Scheduler, SystemClock, monotonic_for
from .settings import Settings
from .telemetry import Telemetry
from .workpool import WorkPool, pool_size

log = logging.getLogger("signaldesk.engine")
# Start-up (resuming stored work) is retried with backoff from the first to the last.
STARTUP_BACKOFF = (1.0, 60.0)
# GIL hand-off interval while the service runs (Python's default is 5 ms). A thread
# that condenses or clusters holds the GIL until the interval is up, and a command waits
# that long at each of its store round trips: 1 ms keeps that wait short.
SWITCH_INTERVAL = 0.001
# Feeds claimed from the store at a time: a claim holds the store's one thread, and a
# slash command waits for the call that is running (600 at once took 10-50 ms).
CLAIM_BATCH = 100


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
        runner: Runner,
        clock: Clock | None = None,
        condenser: Condenser | None = None,
        clusterer: StoryClusterer | None = None,
        monotonic: Callable[[], float] | None = None,
        telemetry: Telemetry | None = None,
        roles: Roles | None = None,
    ) -> None:
        self.settings = settings
        self.telemetry = telemetry or Telemetry()  # counters for /metrics
        self.store = store
        self.db = runner  # the store's writer thread (``storage.database.StoreRunner``)
        self.fetcher = fetcher
        self.publishers = (
            publishers if isinstance(publishers, Publishers) else Publishers(publishers)
        )
        self.clock: Clock = clock or SystemClock()
        # Liveness for the health check, and the wall clock watched against a monotonic
        # one (a clock set back a day must not stop polling for a day).
        if monotonic is None:
            monotonic = monotonic_for(self.clock, injected=clock is not None)
        # The jobs one process of a fleet does alone (bot.roles); None: all of them.
        self.leader = Leader(roles, monotonic=monotonic)
        window = settings.cluster_window_hours
        # What grows with the news is sized by the memory budget, not by the window:
        # half for the cluster index, a quarter for the condenser's analysis cache (the
        # last quarter bounds the bytes parsed at once: ``parse_budget``).
        budget = settings.memory_budget * 1_000_000
        set_cache_bytes(budget // 4)
        clusterer = clusterer or StoryClusterer(window=timedelta(hours=window))
        # Parsing and extraction: in worker processes when there are cores to spare,
        # the bytes parsed at once within a quarter of the memory budget.
        workers = pool_size(settings)
        self.pool = WorkPool(workers, settings.work_timeout) if workers else None
        parse_gate = ParseGate(budget=parse_budget(settings), pool=self.pool)
        db, now = self.db, self.clock
        self.briefer = Briefer(
            settings,
            store,
            db,
            fetcher=fetcher,
            clock=now,
            condenser=condenser or ExtractiveCondenser(),
            placer=StoryPlacer(
                store,
                db,
                now,
                clusterer,
                window_hours=window,
                max_stories=stories_for(budget // 2),
            ),
            router=Router(store, db, now),
            parse_gate=parse_gate,
        )
        self.ingest = Ingest(
            settings,
            store,
            db,
            fetcher=fetcher,
            clock=now,
            briefer=self.briefer,
            parse_gate=parse_gate,
            telemetry=self.telemetry,
            leader=self.leader,
        )
        self.scheduler = Scheduler(
            settings, store, db, now, monotonic=monotonic, retry=self.ingest.resume_pending
        )
        self.delivery = Deliverer(
            settings, store, db, clock=now, publishers=self.publishers, telemetry=self.telemetry
        )
        self.digests = Digests(settings, store, db, clock=now, publishers=self.publishers)
        self.startup_backoff = STARTUP_BACKOFF
        self.in_flight: InFlightLimit | None = None  # the running poll's (``poll_forever``)

    # ------------------------------------------------------------ liveness

    @property
    def heartbeat(self) -> Heartbeat:
        return self.scheduler.heartbeat

    @property
    def last_tick(self) -> datetime | None:
        """Wall-clock time of the scheduler's last completed pass (None before one)."""
        return self.heartbeat.last_tick

    @property
    def alive(self) -> bool:
        """True while the scheduler completes passes: the last one is at most a few
        minutes old (by the monotonic clock). For the health check."""
        return self.heartbeat.alive(self.scheduler.stale_after)

    def health_problem(self) -> str | None:
        """See ``Scheduler.health_problem``."""
        return self.scheduler.health_problem()

    # ------------------------------------------------------------ the stages
    # (each reached as itself: engine.ingest, .briefer, .scheduler, .delivery, .digests)

    async def add_feed(
        self, channel_id: str, url: str, name: str | None = None
    ) -> tuple[Feed, bool]:
        """Subscribe a channel to a feed (created if new). Polled on the next cycle."""
        return await self.ingest.add_feed(channel_id, url, name)

    async def deliver_once(self, *, limit: int = 500) -> int:
        """Attempt the head of every channel's queue once. Returns posts made."""
        return await self.delivery.deliver_once(limit=limit)

    # ------------------------------------------------------------------- poll

    async def poll_once(self, *, limit: int = 1000) -> PollReport:
        """Poll the feeds that are due now (up to ``limit``) through the worker pool;
        return once every one is polled and recorded (the demo and tests)."""
        report = PollReport()
        queue: asyncio.Queue[Feed] = asyncio.Queue()
        for feed in await self.scheduler.claim_due(limit):
            queue.put_nowait(feed)
        workers = [
            asyncio.create_task(self.ingest.worker(queue, report))
            for _ in range(min(queue.qsize(), self.settings.concurrency))
        ]
        try:
            await queue.join()
        finally:
            await _cancel(workers)
            await self.ingest.flush()
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
        # Up to ``size`` checks at once, as many as keep the loop quick (bot.inflight).
        limit = self.in_flight = InFlightLimit(size)
        workers = [
            asyncio.create_task(self.ingest.worker(queue, report, limit)) for _ in range(size)
        ]
        workers.append(asyncio.create_task(steer(limit, lambda: not queue.empty())))
        # New feeds' first entries: one at a time, behind new news (``Ingest.backlog``).
        workers.append(asyncio.create_task(self.ingest.brief_backlog(report)))
        try:
            while not stop.is_set():
                try:
                    # The fleet's briefing process with others' entries waiting polls a
                    # tenth as fast: its loop and store are what every entry waits for,
                    # and the other processes take the feeds it leaves.
                    batch = max(1, size // 10) if self.ingest.others_waiting else size
                    batch = min(batch, CLAIM_BATCH)
                    due = await self.scheduler.claim_due(batch)
                    self.heartbeat.beat(self.clock.now())  # the store answers: alive
                    for feed in due:
                        await queue.put(feed)
                    if len(due) == batch:
                        continue  # more are due: keep the queue fed
                    await self.ingest.flush()
                    await self.scheduler.housekeep_when_due()
                    await self.scheduler.retry_failed_when_due()
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
            await _cancel([*workers, *self.scheduler.background()])
            await self.ingest.flush()

    async def warm_up(self) -> None:
        """See ``bot.brief.warm_up``."""
        await warm_up(self.briefer, self.clock.now())

    async def start(self, stop: asyncio.Event) -> bool:
        """Resume stored work, retrying with backoff (and one log line per attempt)
        while the database is locked, full or otherwise failing. False if ``stop`` was
        set first."""
        first, cap = self.startup_backoff
        wait = first
        attempt = 0
        sys.setswitchinterval(SWITCH_INTERVAL)
        await self.warm_up()
        while not stop.is_set():
            attempt += 1
            try:
                await self.scheduler.cap_schedule()
                await self.ingest.resume_pending()
            except Exception as exc:
                error = one_line_error(exc)
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

    async def deliver_all(self, *, rounds: int = 1000) -> int:
        """Deliver until nothing is due (demo, tests, and after an outage)."""
        total = 0
        for _ in range(rounds):
            sent = await self.deliver_once()
            if not sent:
                break
            total += sent
        return total

    # -------------------------------------------------------------------- run

    async def run(
        self, stop: asyncio.Event, *, tick: float = 1.0, report: PollReport | None = None
    ) -> None:
        """The service loop until ``stop``: the scheduler polls in the background while
        this loop delivers what is queued and sends due digests, so that a large poll
        backlog never holds up delivery."""
        self.heartbeat.running = True
        try:
            if not await self.start(stop):
                return
            await self._serve(stop, tick, report)
        finally:
            self.heartbeat.running = False

    async def _serve(self, stop: asyncio.Event, tick: float, report: PollReport | None) -> None:
        poller = asyncio.create_task(self.poll_forever(stop, report, tick=tick))
        others: asyncio.Task[int] | None = None  # entries other processes polled
        try:
            while not stop.is_set():
                try:
                    if not self.leader.alone:
                        self.fetcher.share_hosts(await self.leader.fleet())
                        if others is None or others.done():
                            others = asyncio.create_task(self._brief_others())
                    if await self.leader.holds(DELIVER):
                        await self.delivery.pump()  # per channel: never waits on one
                        await self.digests.pump()
                except SignalDeskError as exc:  # one line, not a traceback every tick
                    log.error("delivery cycle failed: %s", exc)
                except Exception:  # keep the service up; the next tick retries
                    log.exception("engine cycle failed")
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=tick)
        finally:
            if others is not None:
                await _cancel([others])
            if stop.is_set():
                await poller
                await self.delivery.aclose()
                await self.digests.aclose()
            else:
                await _cancel([poller])
                await self.delivery.aclose(cancel=True)
                await self.digests.aclose(cancel=True)

    async def _brief_others(self) -> int:
        try:
            return await self.ingest.brief_others()
        except SignalDeskError as exc:
            log.error("briefing the fleet's pending entries failed: %s", exc)
        except Exception:
            log.exception("briefing the fleet's pending entries failed")
        return 0

    async def aclose(self) -> None:
        self.leader.close()
        if self.pool is not None:
            self.pool.close()
        await self.fetcher.aclose()
        self.db.close()


async def _cancel(tasks: Sequence[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


__all__ = ["ENTRY_ATTEMPTS", "Engine", "PollReport", "SystemClock"]
