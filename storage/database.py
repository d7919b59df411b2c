"""The one-writer thread: store calls run in order on one dedicated thread.

SQLite has one writer at a time, and the store's connection is used from this one
thread only (it is opened with ``check_same_thread=False`` for that reason), so the
thread belongs with the store: the composition root builds it beside the store and
hands it to the core as its ``bot.ports.Runner``. A command's call goes ahead of the
queued background work (``first``), as datasette's write thread does for its
writes.

A store that can take several calls at once says so (``calls_at_once``: PostgreSQL,
one per pooled connection); it gets that many threads on the same queue. Each call
is awaited by the task that made it, so a task's own calls stay in order; calls of
different tasks may then overlap, which a store built for several processes on one
database already allows."""

from __future__ import annotations

import asyncio
import atexit
import itertools
import queue
import threading
import weakref
from collections.abc import Callable
from contextlib import suppress
from typing import ParamSpec, TypeVar

from bot.ports import Store

P = ParamSpec("P")
T = TypeVar("T")


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
        threads = self.calls_at_once = max(1, int(getattr(store, "calls_at_once", 1)))
        self._threads = [
            threading.Thread(target=self._work, name=f"signaldesk-db-{n}", daemon=True)
            for n in range(threads)
        ]
        for thread in self._threads:
            thread.start()
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
            for _ in self._threads:
                self._queue.put((self._STOP, next(self._order), None))
            for thread in self._threads:
                thread.join()


def _close_at_exit(ref: weakref.ref[StoreRunner]) -> None:
    runner = ref()
    if runner is not None:
        runner.close()


__all__ = ["StoreRunner"]
