"""A small pool of worker processes for the CPU-heavy pure steps of the poll path
(parsing a feed body, extracting an article page), each task under a time budget.

    event loop --(fn, args)--> a pipe --> worker process --> (ok, value) --> event loop

Why processes: the event loop holds the GIL, so parsing and extraction in threads share
one core with it; commands then wait behind a 200 kB feed. In worker processes the
second core works and the loop keeps answering.

Why not ``concurrent.futures.ProcessPoolExecutor``: it cannot stop one task. A page
that freezes lxml (or a feed that takes minutes) would hold its worker forever, and
killing the worker breaks the whole executor. Here each worker has its own pipe: a task
past its budget has its worker killed and replaced, and the caller gets
``WorkTimeout`` with a one-line reason (the last line of defence against a freezing
page). A worker that dies (out of memory, a crash in C) is replaced the same way.

Workers are forked from a forkserver that has the parsing modules imported already
(``PRELOAD``), so a replacement is ready in milliseconds and never inherits the event
loop's threads or sockets. The pool starts its workers at the first task.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from .errors import SignalDeskError
from .settings import Settings

log = logging.getLogger("signaldesk.workpool")

T = TypeVar("T")

# Imported once in the forkserver: every worker forked from it has them already.
PRELOAD = ["bot.parse", "bot.extract", "trafilatura"]


class WorkTimeout(SignalDeskError):
    """A task ran past its time budget; its worker was replaced."""


class WorkerDied(SignalDeskError):
    """The worker process ended while working on a task; it was replaced."""


def default_workers(cores: int | None = None) -> int:
    """Worker processes when the setting is left empty: one per core up to two (the
    event loop keeps a core's worth of work itself), none on one core, where a pool
    would only add copying."""
    cores = cores if cores is not None else (os.cpu_count() or 1)
    return min(cores, 2) if cores >= 2 else 0


def pool_size(settings: Settings) -> int:
    """The setting, or when it is empty ``default_workers()``, except with a
    ``:memory:`` database (the demo, tests): a throwaway run, where starting processes
    costs more than it saves."""
    if settings.workers is not None:
        return settings.workers
    return 0 if settings.database == ":memory:" else default_workers()


class _Worker:
    def __init__(self, ctx: Any) -> None:
        here, there = ctx.Pipe()
        self.conn: Connection = here
        self.process = ctx.Process(target=_serve, args=(there,), daemon=True)
        self.process.start()
        there.close()

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...], budget: float) -> Any:
        """Runs in a thread: send the task and wait at most ``budget`` seconds."""
        self.conn.send((fn, args))
        if not self.conn.poll(budget):
            raise TimeoutError
        ok, value = self.conn.recv()
        if ok:
            return value
        raise value

    def stop(self, *, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            self.conn.close()  # the worker reads EOF and exits
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)
        self.conn.close()


class WorkPool:
    """``size`` worker processes; ``await pool.run(fn, *args, what=...)`` runs
    ``fn(*args)`` (a module-level function, its arguments and result picklable) in one
    of them, at most ``budget`` seconds."""

    def __init__(self, size: int, budget: float, *, method: str = "forkserver") -> None:
        if size < 1:
            raise ValueError("a work pool needs at least one worker")
        self.size = size
        self.budget = budget
        self._ctx = multiprocessing.get_context(method)
        if method == "forkserver":
            self._ctx.set_forkserver_preload(PRELOAD)
        self._idle: asyncio.Queue[_Worker] | None = None
        self._all: set[_Worker] = set()
        self._threads: ThreadPoolExecutor | None = None
        self.replaced = 0  # workers replaced after a timeout or a death (for /metrics)

    def pids(self) -> list[int]:
        return sorted(w.process.pid or 0 for w in self._all)

    async def run(self, fn: Callable[..., T], *args: Any, what: str) -> T:
        """``fn(*args)`` in a worker. Raises what ``fn`` raised, ``WorkTimeout`` past
        the budget, ``WorkerDied`` if the process ended; ``what`` names the task in
        those two errors ("parsing the feed")."""
        loop = asyncio.get_running_loop()
        idle = await self.start()
        taken = await idle.get()

        def give_back(w: _Worker) -> None:
            idle.put_nowait(w)

        def call() -> T:
            # The worker goes back (or its replacement) when the call ends, even if the
            # awaiting task was cancelled meanwhile: never two tasks on one pipe.
            back = taken
            try:
                if not back.process.is_alive():  # died while idle (OOM killer, kill)
                    back = self._replace(back)
                return back.call(fn, args, self.budget)
            except TimeoutError:
                back = self._replace(back)
                raise WorkTimeout(
                    f"{what} took more than {self.budget:g}s (SIGNALDESK_WORK_TIMEOUT); "
                    "its worker process was replaced"
                ) from None
            except (EOFError, OSError) as exc:
                back = self._replace(back)
                raise WorkerDied(
                    f"{what} stopped: its worker process ended ({type(exc).__name__}); "
                    "it was replaced"
                ) from None
            finally:
                loop.call_soon_threadsafe(give_back, back)

        return await loop.run_in_executor(self._threads, call)

    async def start(self) -> asyncio.Queue[_Worker]:
        """Start the workers unless they run already (the first ``run`` does it, or a
        caller that wants the start-up paid before timing): the queue of idle ones."""
        if self._idle is None or self._threads is None:
            self._threads = ThreadPoolExecutor(self.size, thread_name_prefix="workpool")
            self._idle = asyncio.Queue()
            loop = asyncio.get_running_loop()
            started = await loop.run_in_executor(self._threads, self._start_all)
            for worker in started:
                self._idle.put_nowait(worker)
        return self._idle

    def _start_all(self) -> list[_Worker]:
        workers = [_Worker(self._ctx) for _ in range(self.size)]
        self._all.update(workers)
        return workers

    def _replace(self, worker: _Worker) -> _Worker:
        self._all.discard(worker)
        worker.stop(kill=True)
        self.replaced += 1
        log.warning("worker process %s replaced", worker.process.pid)
        fresh = _Worker(self._ctx)
        self._all.add(fresh)
        return fresh

    def close(self) -> None:
        """Stop every worker (they finish nothing half-done: tasks are pure)."""
        for worker in list(self._all):
            worker.stop(kill=True)
        self._all.clear()
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)
        self._threads = None
        self._idle = None


def _serve(conn: Connection) -> None:
    """A worker's loop: run what arrives until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which stops us
    while True:
        try:
            fn, args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            result: tuple[bool, Any] = (True, fn(*args))
        except Exception as exc:
            result = (False, exc)
        try:
            conn.send(result)
        except OSError:
            return  # the parent is gone (killed mid-task): no one waits for the answer
        except Exception as exc:  # e.g. an exception that does not pickle
            try:
                conn.send((False, RuntimeError(f"{type(exc).__name__}: {exc}")))
            except OSError:
                return


__all__ = ["PRELOAD", "WorkPool", "WorkTimeout", "WorkerDied", "default_workers", "pool_size"]
