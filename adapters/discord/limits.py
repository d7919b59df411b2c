"""Discord's process-wide limits, on top of the per-channel ``bot.pacing.ChannelPacer``.

- ``GlobalLimit``: Discord allows a bot about 50 requests a second across all channels
  (https://discord.com/developers/docs/topics/rate-limits#global-rate-limit); a fan-out
  of one briefing to 300 channels would otherwise send 300 in one second and earn 429s.
  At most ``rate`` sends start in any ``per`` seconds (40/s: room for command answers
  and discord.py's own requests), shared by every channel of the process.
- ``InvalidRequests``: Cloudflare bans the IP for an hour after 10,000 invalid requests
  (401, 403, 429) in 10 minutes
  (https://discord.com/developers/docs/topics/rate-limits#invalid-request-limit).
  Each one is counted with the channel it came from; past ``soft`` in the window the
  channels that produced them are not tried again until the window drains, and past
  ``hard`` nothing is sent at all — both far below Discord's threshold.

Clock and sleep are arguments, so tests count without waiting."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

GLOBAL_RATE = 40  # requests per second, under Discord's 50
INVALID_WINDOW = 600.0  # seconds: Discord counts invalid requests over 10 minutes
INVALID_SOFT = 500  # failing channels wait out the window past this many
INVALID_HARD = 2_500  # everything waits past this many (Discord bans at 10,000)


class GlobalLimit:
    """At most ``rate`` sends begin in any window of ``per`` seconds, in arrival order."""

    def __init__(
        self,
        rate: int = GLOBAL_RATE,
        per: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.rate = rate
        self.per = per
        self.clock = clock
        self.sleep = sleep
        self._starts: deque[float] = deque()
        self._lock = asyncio.Lock()
        self.waited = 0.0  # seconds spent waiting, for the log and benchmarks

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self.clock()
                while self._starts and now - self._starts[0] >= self.per:
                    self._starts.popleft()
                if len(self._starts) < self.rate:
                    self._starts.append(now)
                    return
                wait = self._starts[0] + self.per - now
                self.waited += wait
                await self.sleep(wait)


class InvalidRequests:
    """The invalid requests (401/403/429) of the last ``window`` seconds, by channel."""

    def __init__(
        self,
        *,
        soft: int = INVALID_SOFT,
        hard: int = INVALID_HARD,
        window: float = INVALID_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.soft = soft
        self.hard = hard
        self.window = window
        self.clock = clock
        self._events: deque[tuple[float, str]] = deque()

    def _drain(self) -> float:
        now = self.clock()
        while self._events and now - self._events[0][0] >= self.window:
            self._events.popleft()
        return now

    def record(self, channel: str) -> None:
        self._events.append((self._drain(), channel))

    @property
    def count(self) -> int:
        self._drain()
        return len(self._events)

    def hold(self, channel: str) -> float | None:
        """Seconds ``channel`` should wait before its next request, or None to go on:
        past ``hard`` every channel waits, past ``soft`` those that failed lately."""
        now = self._drain()
        if len(self._events) < self.soft:
            return None
        if len(self._events) < self.hard:
            mine = [at for at, where in self._events if where == channel]
            if not mine:
                return None
            return mine[0] + self.window - now
        return self._events[0][0] + self.window - now
