"""The core's assembly: the engine's stages and the commands over them, as one value.

The composition root (``adapters/main.py``) opens the store and builds everything from
outside the core — the writer thread, the fetcher, the condenser, the publishers, the
chat platforms — and hands them to ``build_desk``, which builds the engine (its stages)
and the command handler from the store's roles and those stages. Nothing is set on
either after it is built. ``bot.cli`` gets a ``Desk`` from the root and only runs it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from . import __version__
from .cluster import StoryClusterer
from .commands import AdminCommands, CommandHandler
from .deliver import Publishers
from .engine import Engine
from .errors import CannotPost, SignalDeskError
from .fetch import Fetcher
from .ports import Clock, Condenser, Publisher, Roles, Runner, Store
from .retries import pause_for
from .settings import Settings

log = logging.getLogger("signaldesk.desk")


class PlatformService(Protocol):
    """A chat platform's app (Slack, Discord): commands in, posts out. A service may
    also have a ``status`` attribute ("up", or what is wrong with its connection): the
    heartbeat and ``/readyz`` report it."""

    @property
    def platform(self) -> str: ...

    @property
    def publisher(self) -> Publisher: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Listener(Protocol):
    """Something the service starts and stops beside the platforms (the metrics page)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class Desk:
    """One assembled SignalDesk: what ``signaldesk demo``, ``run`` and ``cmd`` run."""

    settings: Settings
    store: Store
    engine: Engine
    commands: CommandHandler
    services: list[PlatformService] = field(default_factory=list)
    listeners: list[Listener] = field(default_factory=list)

    def platform_status(self) -> dict[str, str]:
        """Each chat platform's connection: "up", or what is wrong with it."""
        return {s.platform: str(getattr(s, "status", "up")) for s in self.services}

    def liveness(self) -> list[str]:
        """What says the service is not alive: its scheduler has stopped ticking."""
        if self.engine.alive:
            return []
        return [self.engine.health_problem() or "the scheduler has not ticked yet"]

    async def readiness(self) -> list[str]:
        """What keeps the service from doing its work: the database does not answer,
        or a chat platform's connection is down."""
        problems = []
        try:
            await self.engine.db.first(self.store.service_heartbeat)
        except SignalDeskError as exc:
            problems.append(f"database: {exc}")
        problems += [f"{p}: {s}" for p, s in sorted(self.platform_status().items()) if s != "up"]
        return problems

    async def record_heartbeat(self) -> bool:
        """Write the service's sign of life for ``signaldesk healthcheck``: only while
        the scheduler ticks, so that a hung scheduler goes stale. True if written."""
        if not self.engine.alive:
            return False
        await self.engine.db(
            self.store.record_heartbeat,
            self.engine.clock.now(),
            pid=os.getpid(),
            version=__version__,
            platforms=self.platform_status(),
        )
        return True

    async def resume_channel(self, platform: str, target: str) -> bool:
        """The platform says the bot may post in ``target`` again (it was invited back,
        given a permission, the channel was unarchived): try its held deliveries at the
        scheduler's next pass rather than at the hourly probe. A post that goes through
        reopens the channel; one still refused keeps it paused. True when it was paused."""
        channel_id = f"{platform}:{target}"
        probed = await self.engine.db(self.store.probe_channel, channel_id, self.engine.clock.now())
        if probed:  # the service loop's next pass sends them
            log.info("trying the held deliveries to %s", channel_id)
        return probed

    async def hold_channel(self, platform: str, target: str, reason: str) -> None:
        """The platform says the bot was removed from ``target`` (or can no longer see
        it): hold its deliveries now, with ``reason`` for its admins, rather than at the
        next refused post. A channel SignalDesk never served is left alone (the store
        pauses only a channel it knows)."""
        channel_id = f"{platform}:{target}"
        await pause_for(
            self.engine.db, self.store, channel_id, CannotPost(reason), self.engine.clock.now()
        )

    async def aclose(self) -> None:
        """Close the engine (fetcher, writer thread), then the store."""
        try:
            await self.engine.aclose()
        finally:
            self.store.close()


def commands_for(engine: Engine) -> CommandHandler:
    """The command handler over an engine's stages and its store's roles."""
    admin = AdminCommands(
        engine.store,
        engine.db,
        engine.clock,
        settings=engine.settings,
        ingest=engine.ingest,
        briefer=engine.briefer,
        digests=engine.digests,
        fetcher=engine.fetcher,
    )
    return CommandHandler(
        engine.store,
        engine.db,
        engine.clock,
        admin=admin,
        health=engine.health_problem,
        telemetry=engine.telemetry,
    )


def build_desk(
    settings: Settings,
    store: Store,
    *,
    runner: Runner,
    fetcher: Fetcher,
    publishers: Mapping[str, Publisher] | Publishers,
    condenser: Condenser | None = None,
    clock: Clock | None = None,
    clusterer: StoryClusterer | None = None,
    roles: Roles | None = None,
) -> Desk:
    """The engine and the commands, in that order, from the pieces the root built."""
    engine = Engine(
        settings,
        store,
        fetcher=fetcher,
        publishers=publishers,
        clock=clock,
        condenser=condenser,
        clusterer=clusterer,
        runner=runner,
        roles=roles,
    )
    return Desk(settings, store, engine, commands_for(engine))


__all__ = ["Desk", "Listener", "PlatformService", "build_desk", "commands_for"]
