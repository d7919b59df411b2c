"""The gate CPU-heavy parsing goes through: feed bodies (``parse_feed``) and article
pages (``extract_article``), from the event loop.

    poll / briefing --> ParseGate.hold(bytes) --> a work-pool process (bot.workpool)
                                               or a thread (no pool: one core, the demo)

One per engine. It bounds the bytes being parsed at once (``PARSE_BUDGET_BYTES``, set
from ``SIGNALDESK_MEMORY_BUDGET``): feedparser holds ~15x a body's size while it works,
and six 5.9 MB feeds parsed together once added 516 MB. Bodies of ``LARGE_PARSE_BYTES``
or more also take turns, ``LARGE_PARSE_SLOTS`` at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from .errors import ParseError
from .models import ParsedFeed
from .parse import parse_feed
from .settings import Settings
from .workpool import WorkerDied, WorkPool, WorkTimeout

_T = TypeVar("_T")

LARGE_PARSE_BYTES = 1_000_000
LARGE_PARSE_SLOTS = 1
PARSE_BUDGET_BYTES = 4_000_000


class ParseGate:
    """Where feed bodies and article pages are parsed: in the work pool's processes when
    there is one (``bot.workpool``: the second core, and a time budget per task), else
    in a thread. Bounds the bytes being parsed at once (``budget``; a body larger than
    the budget waits until it is alone) and parses at most ``slots`` bodies of
    ``large`` bytes or more at a time, since a parse holds ~15x its body's size."""

    def __init__(
        self,
        *,
        large: int = LARGE_PARSE_BYTES,
        slots: int = LARGE_PARSE_SLOTS,
        budget: int = PARSE_BUDGET_BYTES,
        pool: WorkPool | None = None,
    ) -> None:
        self.large = large
        self.budget = max(1, budget)
        self.pool = pool
        self._slots = asyncio.Semaphore(slots)
        self._room = asyncio.Condition()
        self._taken = 0  # bytes being parsed now

    @asynccontextmanager
    async def hold(self, size: int) -> AsyncIterator[None]:
        """Room for parsing ``size`` bytes (queued until it fits the budget)."""
        size = min(max(size, 0), self.budget)
        async with contextlib.AsyncExitStack() as stack:
            if size >= self.large:
                await stack.enter_async_context(self._slots)
            async with self._room:
                await self._room.wait_for(lambda: self._taken + size <= self.budget)
                self._taken += size
            try:
                yield
            finally:
                async with self._room:
                    self._taken -= size
                    self._room.notify_all()

    async def run(self, fn: Callable[..., _T], *args: Any, size: int, what: str) -> _T:
        """``fn(*args)`` (a module-level function) under the byte budget, in the pool
        when there is one (``WorkTimeout``/``WorkerDied`` past its budget), else in a
        thread."""
        async with self.hold(size):
            if self.pool is not None:
                return await self.pool.run(fn, *args, what=what)
            return await asyncio.to_thread(fn, *args)

    async def parse(
        self, body: bytes, *, headers: Mapping[str, str] | None = None, url: str | None = None
    ) -> ParsedFeed:
        """``parse_feed`` off the event loop. A parse past the pool's time budget, or
        whose worker died, is a ``ParseError`` with that reason (the feed's failure)."""
        task = functools.partial(parse_feed, headers=dict(headers or {}), url=url)
        try:
            return await self.run(task, body, size=len(body), what="parsing the feed")
        except (WorkTimeout, WorkerDied) as exc:
            raise ParseError(str(exc)) from None


# A parse holds about this many times its body's size (feedparser's dictionaries, lxml's tree).
PARSE_EXPANSION = 15


def parse_budget(settings: Settings) -> int:
    """Bytes of bodies parsed at once: a quarter of the memory budget, at
    ``PARSE_EXPANSION`` times a body's size."""
    return settings.memory_budget * 1_000_000 // 4 // PARSE_EXPANSION


__all__ = [
    "LARGE_PARSE_BYTES",
    "LARGE_PARSE_SLOTS",
    "PARSE_BUDGET_BYTES",
    "PARSE_EXPANSION",
    "ParseGate",
    "parse_budget",
]
