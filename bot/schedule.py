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
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

# The longest wait a server's header can impose: a day. (Cache-Control max-age was
# already capped so; Retry-After now is too.)
MAX_SERVER_DELAY = 86_400.0


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


__all__ = ["MAX_SERVER_DELAY", "ClockWatch", "Heartbeat", "clamp_seconds", "next_poll"]
