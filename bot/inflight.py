"""How many feed checks the service runs at once: as many as keep the event loop quick.

By Little's law the checks a second are the checks in flight divided by the time each
one takes, and on the internet that time is mostly waiting: a 300 ms round trip, a
slow server, a feed that accepts and then sends nothing until the first-byte deadline.
A fixed number of workers is therefore either too few (a fleet whose feeds answer
slowly falls behind while the process idles) or too many (a fleet whose feeds answer
fast saturates the event loop, and every slash command waits behind the poll).

``InFlightLimit`` lets the scheduler's workers take a due feed only while they hold
one of ``limit`` permits, and ``steer`` moves that limit once a second from what it
sees:

- the **event loop's lag** (how late a 50 ms timer fires, on average over the second):
  above ``LAG_HIGH`` the loop is the bottleneck and commands wait, so the limit falls by
  a fifth;
- **due feeds waiting** in the queue while the lag is below ``LAG_LOW``: the poll is
  bound by waiting on the network, not by the loop, so the limit grows by an eighth.

It never goes above ``SIGNALDESK_CONCURRENCY`` (the most requests in flight, which
also bounds the fetcher and memory) nor below ``FLOOR``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType

#: Mean lag of the event loop above which it is the bottleneck (commands wait).
LAG_HIGH = 0.010
#: Mean lag below which the loop has time to spare for more checks.
LAG_LOW = 0.004
#: The limit never goes below this (or the ceiling, if that is lower).
FLOOR = 20
#: Where the limit starts: enough for a small fleet at once, and it grows within seconds.
START = 100
_SAMPLE = 0.05  # seconds between the lag probe's timers


class InFlightLimit:
    """An adjustable number of permits: ``async with limit:`` waits for one."""

    def __init__(self, ceiling: int, start: int = START) -> None:
        if ceiling < 1:
            raise ValueError("ceiling must be at least 1")
        self.ceiling = ceiling
        self.floor = min(FLOOR, ceiling)
        self.limit = max(self.floor, min(ceiling, start))
        self.in_use = 0
        self._changed = asyncio.Condition()

    async def __aenter__(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_use < self.limit)
            self.in_use += 1

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        async with self._changed:
            self.in_use -= 1
            self._changed.notify()

    async def adjust(self, lag: float, *, backlog: bool) -> int:
        """Move the limit for the event loop's mean ``lag`` (seconds) over the last
        period and whether due feeds were waiting (``backlog``); returns the limit."""
        if lag > LAG_HIGH:
            self.limit = max(self.floor, self.limit * 4 // 5)
        elif backlog and lag < LAG_LOW and self.limit < self.ceiling:
            grown = min(self.ceiling, self.limit + max(4, self.limit // 8))
            async with self._changed:
                self.limit = grown
                self._changed.notify(self.limit - self.in_use)
        return self.limit


async def steer(limit: InFlightLimit, backlog: Callable[[], bool], *, period: float = 1.0) -> None:
    """Adjust ``limit`` once a ``period`` from the event loop's mean lag and whether
    due feeds were waiting (``backlog``) at half the probes or more, until cancelled."""
    loop = asyncio.get_running_loop()
    while True:
        end = loop.time() + period
        total, samples, waiting = 0.0, 0, 0
        while loop.time() < end:
            start = loop.time()
            await asyncio.sleep(_SAMPLE)
            total += max(0.0, loop.time() - start - _SAMPLE)
            samples += 1
            waiting += backlog()
        await limit.adjust(total / max(1, samples), backlog=2 * waiting >= samples)


__all__ = ["InFlightLimit", "steer"]
