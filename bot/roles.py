"""The jobs one process of a fleet does alone.

Several ``signaldesk run`` processes on one PostgreSQL database share the polling (due
feeds are leased: ``bot.schedule``) and the reading of linked articles. Two jobs need
one view of the whole and stay with one process at a time:

- ``brief``: placing entries in stories (the cluster index is one process's memory),
  condensing and routing. The process that holds it briefs every pending entry; the
  others read their new entries' articles, save them, and leave the entries pending
  for it (``Ingest.brief_entry``).
- ``deliver``: the outbox, digests and feed-health notices, so that each channel's
  order and pacing hold across the fleet, and no two processes send one message.

A role is taken by whichever process asks first while no live process holds it. On
PostgreSQL it is a session-level advisory lock (``storage/postgres/roles.py``): when its
process dies, its connection closes, the lock is released, and another process takes the
role at its next check, within a tick; work the dead process left half-done is resumed
as after any crash (pending entries, "sending" rows looked up by their record). With no
``Roles`` (SQLite: one process) this process holds every role.

``Leader`` asks the ``Roles`` off the event loop and remembers the answer for
``RECHECK`` seconds, so that the per-entry and per-tick checks cost nothing.

Polling is shared, and so is politeness: each process allows itself its share of
``SIGNALDESK_PER_HOST_CONCURRENCY`` (the limit divided by the live processes, rounded
up), so that the fleet as a whole keeps about the limit in flight to any one host.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from .ports import FLEET_ROLES, Roles

log = logging.getLogger("signaldesk.engine")

BRIEF, DELIVER = FLEET_ROLES
ROLES = FLEET_ROLES
RECHECK = 1.0  # seconds an answer is remembered
FLEET_RECHECK = 10.0  # seconds the fleet's size is remembered


class Leader:
    """This process's roles, as last checked (see the module's docstring)."""

    def __init__(
        self,
        roles: Roles | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        recheck: float = RECHECK,
    ) -> None:
        self.roles = roles
        self.monotonic = monotonic
        self.recheck = recheck
        self._seen: dict[str, tuple[bool, float]] = {}
        self._fleet: tuple[int, float] | None = None

    @property
    def alone(self) -> bool:
        """True when no other process can hold a role (no ``Roles``: SQLite)."""
        return self.roles is None

    async def holds(self, role: str) -> bool:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        if self.roles is None:
            return True
        now = self.monotonic()
        seen = self._seen.get(role)
        if seen is not None and now - seen[1] < self.recheck:
            return seen[0]
        held = await asyncio.to_thread(self.roles.holds, role)
        if seen is None or seen[0] != held:
            if held:
                log.info("this process now does the fleet's %s work", role)
            elif seen is not None:
                log.warning("this process no longer does the fleet's %s work", role)
        self._seen[role] = (held, self.monotonic())
        return held

    async def fleet(self) -> int:
        """The processes of the fleet alive now (1 alone), remembered ``FLEET_RECHECK``
        seconds: each polls with its share of every host's politeness limit."""
        if self.roles is None:
            return 1
        now = self.monotonic()
        if self._fleet is None or now - self._fleet[1] >= FLEET_RECHECK:
            try:
                size = await asyncio.to_thread(self.roles.fleet)
            except Exception:  # the last answer stands; the roles' own check logs
                size = self._fleet[0] if self._fleet else 1
            self._fleet = (max(1, size), now)
        return self._fleet[0]

    def close(self) -> None:
        if self.roles is not None:
            self.roles.close()


__all__ = ["BRIEF", "DELIVER", "FLEET_RECHECK", "RECHECK", "ROLES", "Leader"]
