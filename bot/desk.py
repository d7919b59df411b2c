"""The core's assembly: the engine's stages and the commands over them, as one value.

The composition root (``adapters/main.py``) opens the store and builds everything from
outside the core — the writer thread, the fetcher, the condenser, the publishers, the
chat platforms — and hands them to ``build_desk``, which builds the engine (its stages)
and the command handler from the store's roles and those stages. Nothing is set on
either after it is built. ``bot.cli`` gets a ``Desk`` from the root and only runs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from .cluster import StoryClusterer
from .commands import AdminCommands, CommandHandler
from .deliver import Publishers
from .engine import Engine
from .fetch import Fetcher
from .ports import Clock, Condenser, Publisher, Runner, Store
from .settings import Settings


class PlatformService(Protocol):
    """A chat platform's app (Slack, Discord): commands in, posts out."""

    @property
    def platform(self) -> str: ...

    @property
    def publisher(self) -> Publisher: ...

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
        engine.store, engine.db, engine.clock, admin=admin, health=engine.health_problem
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
    )
    return Desk(settings, store, engine, commands_for(engine))


__all__ = ["Desk", "PlatformService", "build_desk", "commands_for"]
