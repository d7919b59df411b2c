"""One channel pacer, handed to every publisher.

Chat platforms limit how fast a bot posts into one channel (Slack about one
``chat.postMessage`` a second, https://api.slack.com/methods/chat.postMessage#rate_limiting;
Discord about 5 messages per 5 s). ``ChannelPacer`` keeps sends to one channel in
order and at least ``interval`` seconds apart, while other channels go on: the wait is
an ``asyncio.sleep`` under that channel's own lock. Clock and sleep are arguments, so
that tests pace without waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

T = TypeVar("T")

#: Seconds between two sends into one channel: what Slack allows, within Discord's limit.
DEFAULT_INTERVAL = 1.0


class ChannelPacer:
    """At most one send per ``interval`` seconds in each channel (keyed by whatever
    names the channel on its platform). Sends to one channel keep their order; other
    channels are not held up."""

    def __init__(
        self,
        interval: float = DEFAULT_INTERVAL,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.interval = interval
        self.clock = clock
        self.sleep = sleep
        self._locks: dict[str, asyncio.Lock] = {}
        self._last: dict[str, float] = {}

    @asynccontextmanager
    async def turn(self, channel: str) -> AsyncIterator[None]:
        """The channel's turn: entered once its interval since the last send has passed;
        the send made inside it counts from when it ends (failed or not)."""
        lock = self._locks.setdefault(channel, asyncio.Lock())
        async with lock:
            wait = self._last.get(channel, float("-inf")) + self.interval - self.clock()
            if wait > 0:
                await self.sleep(wait)
            try:
                yield
            finally:
                self._last[channel] = self.clock()

    async def run(self, channel: str, send: Callable[[], Awaitable[T]]) -> T:
        """Call ``send`` in the channel's turn."""
        async with self.turn(channel):
            return await send()


__all__ = ["DEFAULT_INTERVAL", "ChannelPacer"]
