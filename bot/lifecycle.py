"""The long-running service's own steps, beside the loop in ``bot.cli``: a start-up
step that SIGTERM can interrupt, and the heartbeat ``signaldesk healthcheck`` reads."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from contextlib import suppress
from typing import Any

from .desk import Desk
from .errors import SignalDeskError

log = logging.getLogger("signaldesk")


async def unless_stopped(start: Coroutine[Any, Any, object], stop: asyncio.Event) -> bool:
    """Run a start-up step (a platform connecting, a listener binding) unless SIGTERM or
    Ctrl-C comes first: a connection that hangs or retries never keeps the service from
    stopping. True when the step finished; its error (a refused token) propagates."""
    step = asyncio.ensure_future(start)
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({step, stopped}, return_when=asyncio.FIRST_COMPLETED)
    if step.done():
        stopped.cancel()
        step.result()
        return True
    step.cancel()
    with suppress(asyncio.CancelledError, Exception):
        await step
    return False


async def beat_forever(desk: Desk, stop: asyncio.Event) -> None:
    """Write the heartbeat ``signaldesk healthcheck`` reads, a few times within the
    stale limit (a failed write is logged; the next one may succeed)."""
    every = max(1.0, min(15.0, desk.settings.healthcheck_stale_after / 4))
    while not stop.is_set():
        written = False
        try:
            written = await desk.record_heartbeat()
        except SignalDeskError as exc:
            log.warning("recording the heartbeat failed: %s", exc)
        # Until the scheduler's first tick, look again each second: a container is
        # healthy as soon as the service is.
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every if written else 1.0)
