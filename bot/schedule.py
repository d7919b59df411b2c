"""When a feed is polled next, and how the scheduler notices that time itself misbehaved.

- ``clamp_seconds`` turns whatever a server sent (``Retry-After``, ``Cache-Control:
  max-age``) into a finite wait of at most ``MAX_SERVER_DELAY`` (24 h). A server may
  slow us down, never stop us: ``Retry-After: 99999999999999`` must neither overflow a
  ``timedelta`` nor move the next poll to 2058 while the feed counts as healthy.
- ``next_poll`` is the whole rule: the feed's interval, doubled per consecutive failure
  up to ``max_backoff``; a server's wait honoured up to the same cap.
- ``ClockWatch`` compares the wall clock with a monotonic clock between scheduling
  passes. Poll times are stored as wall-clock instants (they must survive a restart), so
  a wall clock set back a day would otherwise leave every feed "not due" for a day; when
  the two clocks disagree by more than the poll interval the store's plan is shifted by
  the difference (``Store.shift_schedule``).
- ``Heartbeat`` is the engine's liveness: when its loops last completed a pass, and
  what went wrong since (the health check reads ``alive``/``last_tick``).
- ``Scheduler`` is the stage built from these: it claims due feeds under a lease,
  re-plans after a clock jump, and times housekeeping and the retry pass.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from .errors import SignalDeskError
from .models import Feed
from .ports import Clock, EntryStore, FeedStore, Runner
from .settings import Settings

log = logging.getLogger("signaldesk.engine")

# The longest wait a server's header can impose: a day. (Cache-Control max-age was
# already capped so; Retry-After now is too.)
MAX_SERVER_DELAY = 86_400.0
# Old text is forgotten once an hour, a few thousand entries per store call.
HOUSEKEEPING_EVERY = timedelta(hours=1)
HOUSEKEEPING_BATCH = 2000
RETRY_FAILED_EVERY = timedelta(minutes=10)  # entries whose briefing failed: tried again


def clamp_seconds(value: float | None, cap: float = MAX_SERVER_DELAY) -> float | None:
    """``value`` as a finite wait in [0, cap], or None when there is none (None, NaN)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), cap)


def next_poll(
    now: datetime,
    *,
    interval: float,
    failures: int,
    retry_after: float | None,
    max_age: float | None,
    max_backoff: float,
) -> datetime:
    """The next poll of a feed after a poll at ``now``.

    After ``failures`` consecutive failures: the interval doubled per failure, at most
    ``max_backoff``, or the server's ``retry_after`` if longer (also at most
    ``max_backoff``). After a success: the interval, or the server's ``max_age`` /
    ``retry_after`` if longer, at most ``MAX_SERVER_DELAY``."""
    retry = clamp_seconds(retry_after) or 0.0
    if failures:
        wait = min(interval * 2 ** min(failures, 20), max_backoff)
        wait = max(wait, min(retry, max_backoff))
    else:
        wait = max(interval, clamp_seconds(max_age) or 0.0, retry)
        wait = min(wait, max(interval, MAX_SERVER_DELAY))
    return now + timedelta(seconds=wait)


class ClockWatch:
    """Notices the wall clock jumping relative to a monotonic clock.

    ``skew()`` returns how far the wall clock moved beyond the monotonic time elapsed
    since the previous call (negative: set back), when that exceeds ``threshold``
    seconds; else zero. Both clocks are injected so that tests jump them at will."""

    def __init__(
        self,
        wall: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._wall = wall
        self._monotonic = monotonic
        self._last: tuple[datetime, float] | None = None

    def skew(self, threshold: float) -> timedelta:
        wall, mono = self._wall(), self._monotonic()
        last, self._last = self._last, (wall, mono)
        if last is None:
            return timedelta(0)
        drift = (wall - last[0]).total_seconds() - (mono - last[1])
        if abs(drift) <= threshold:
            return timedelta(0)
        return timedelta(seconds=drift)


@dataclass
class Heartbeat:
    """The engine's liveness, for the health check.

    ``beat()`` is called by the engine's loops after each completed pass, ``failed()``
    when a pass could not run (the database locked or full, say). ``alive(stale_after)``
    is True while the last pass is recent, by the monotonic clock."""

    monotonic: Callable[[], float] = time.monotonic
    last_tick: datetime | None = None  # wall clock of the last completed pass
    last_error: str | None = None
    consecutive_failures: int = 0
    running: bool = False  # the service loop is meant to be polling (Engine.run)
    _last_mono: float | None = field(default=None, repr=False)

    def beat(self, now: datetime) -> None:
        self.last_tick = now
        self._last_mono = self.monotonic()
        self.consecutive_failures = 0

    def failed(self, error: str) -> None:
        self.last_error = error
        self.consecutive_failures += 1

    def alive(self, stale_after: float) -> bool:
        if self._last_mono is None:
            return False
        return self.monotonic() - self._last_mono <= stale_after

    def problem(self, stale_after: float) -> str | None:
        """One line for the people in a channel when the service loop runs but cannot
        work (None when it works, or when no loop is meant to run: ``signaldesk cmd``)."""
        if not self.running:
            return None
        if self.consecutive_failures:
            since = f" since {self.last_tick:%Y-%m-%d %H:%M} UTC" if self.last_tick else ""
            return (
                f"SignalDesk cannot check feeds{since}: {self.last_error}. It keeps "
                "retrying by itself; whoever runs it finds the details in its log."
            )
        if not self.alive(stale_after):
            return (
                "SignalDesk has not checked feeds for a while; whoever runs it finds the "
                "details in its log."
            )
        return None


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def monotonic_for(clock: Clock, *, injected: bool) -> Callable[[], float]:
    """The monotonic clock that watches ``clock``. With the system clock, the system's
    monotonic clock. An injected wall clock (tests, the demo) is its own measure unless
    a monotonic clock is injected too: advancing it is then the passing of time, not a
    jump."""
    if not injected or isinstance(clock, SystemClock):
        return time.monotonic
    return lambda: clock.now().timestamp()


class SchedulerStore(FeedStore, EntryStore, Protocol):
    """The poll plan (claims, shifts, caps) and old entries' text (housekeeping)."""


class Scheduler:
    """When feeds are polled and the background passes run; the engine's liveness.

    ``retry`` is the retry pass (``Ingest.resume_pending``), started every
    ``RETRY_FAILED_EVERY`` in its own task."""

    def __init__(
        self,
        settings: Settings,
        store: SchedulerStore,
        runner: Runner,
        clock: Clock,
        *,
        monotonic: Callable[[], float],
        retry: Callable[[], Awaitable[object]],
    ) -> None:
        self.settings = settings
        self.store = store
        self.db = runner
        self.clock = clock
        self._retry = retry
        self.heartbeat = Heartbeat(monotonic=monotonic)
        self._clock_watch = ClockWatch(lambda: self.clock.now(), monotonic)
        self._next_housekeeping: datetime | None = None  # due at the first scheduling pass
        self._housekeeping: asyncio.Task[int] | None = None
        self._next_retry: datetime | None = None
        self._retrying: asyncio.Task[None] | None = None

    @property
    def stale_after(self) -> float:
        return max(120.0, 4 * self.settings.fetch_timeout)

    def health_problem(self) -> str | None:
        """What a channel should be told when the service runs but cannot poll (a
        database locked or full, a scheduler that stopped), else None."""
        return self.heartbeat.problem(self.stale_after)

    def background(self) -> list[asyncio.Task[object]]:
        """The housekeeping and retry tasks (to cancel at a stop)."""
        return [t for t in (self._housekeeping, self._retrying) if t is not None]

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

    async def housekeep_when_due(self) -> None:
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

    async def claim_due(self, limit: int) -> list[Feed]:
        await self.replan_after_clock_jump()
        now = self.clock.now()
        # Long enough for a whole fetch after a wait in the queue; a poll lost to a
        # crash is retried when it runs out.
        lease = timedelta(seconds=max(300.0, 10 * self.settings.fetch_timeout))
        return await self.db(self.store.claim_due_feeds, now, limit, now + lease)

    async def replan_after_clock_jump(self) -> None:
        """Poll times are wall-clock instants. When the wall clock moved by more than
        the poll interval beyond the monotonic time elapsed (set back a day, say), shift
        every planned poll by the same amount, so feeds keep their cadence instead of
        waiting a day (or all falling due at once)."""
        skew = self._clock_watch.skew(float(self.settings.poll_interval))
        if skew:
            # The scheduler's own timers too (housekeeping, the retry pass).
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

    async def retry_failed_when_due(self) -> None:
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
            await self._retry()
        except SignalDeskError as exc:
            log.error("retrying entries failed: %s", exc)
        except Exception:
            log.exception("retrying entries failed")

    async def cap_schedule(self) -> None:
        # No feed may be planned beyond the longest wait there is (a plan written by an
        # old release, or while the clock was far ahead, would otherwise park it).
        longest = max(
            float(self.settings.max_backoff), MAX_SERVER_DELAY, float(self.settings.poll_interval)
        )
        latest = self.clock.now() + timedelta(seconds=longest + 3600)
        moved = await self.db(self.store.cap_schedule, latest)
        if moved:
            log.warning("%d feeds were planned beyond %s; brought forward to it", moved, latest)


__all__ = [
    "MAX_SERVER_DELAY",
    "ClockWatch",
    "Heartbeat",
    "Scheduler",
    "SchedulerStore",
    "SystemClock",
    "clamp_seconds",
    "monotonic_for",
    "next_poll",
]
