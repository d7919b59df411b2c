"""The composition root: the one place that knows the core, storage and every adapter.

``signaldesk`` (the console script) lands here, builds the ``Wiring`` and hands over to
``bot.cli``. ``assemble`` builds everything in order and patches nothing afterwards:

    store -> writer thread -> fetcher -> condenser (the LLM's, when configured)
          -> publishers (the console's) -> stages + engine + commands (``bot.desk``)
          -> chat platforms (each offers its publisher to delivery)
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TextIO

from bot.cli import Wiring
from bot.cli import main as cli_main
from bot.commands import CommandHandler
from bot.deliver import Publishers
from bot.desk import Desk, PlatformService, build_desk
from bot.errors import StorageError
from bot.fetch import Fetcher
from bot.models import ServiceBeat, StoreSnapshot
from bot.pacing import ChannelPacer
from bot.ports import Condenser, Roles, Runner, Store, UsageStore
from bot.settings import Settings
from storage import SqliteStore
from storage.database import StoreRunner

from .console.app import run_console_session
from .console.publisher import ConsolePublisher
from .console.render import render_reply


def _is_postgres(database: str) -> bool:
    return database.startswith(("postgresql://", "postgres://"))


def _postgres_store(settings: Settings) -> Store:
    try:
        from storage.postgres import PostgresStore
    except ImportError:
        raise StorageError(
            "SIGNALDESK_DATABASE is a PostgreSQL URL but psycopg is not installed: "
            "pip install 'signaldesk[postgresql]'"
        ) from None
    return PostgresStore.open(settings.database)


def open_store(settings: Settings) -> Store:
    if _is_postgres(settings.database):
        return _postgres_store(settings)
    return SqliteStore.open(settings.database)


def roles_for(settings: Settings) -> Roles | None:
    """The fleet's roles (``bot.roles``) on PostgreSQL, where several processes may
    share one database; None on SQLite (one process does everything)."""
    if not _is_postgres(settings.database):
        return None
    from storage.postgres.roles import PgRoles

    return PgRoles(settings.database)


def platforms(
    settings: Settings,
    store: Store,
    runner: Runner,
    commands: CommandHandler,
    resume: Callable[[str, str], Awaitable[bool]] | None = None,
    hold: Callable[[str, str, str], Awaitable[None]] | None = None,
) -> list[PlatformService]:
    """The chat platforms whose tokens are set, sharing this process's event loop.
    Imported lazily so that the console alone never loads a chat SDK."""
    services: list[PlatformService] = []
    pacer = ChannelPacer()  # one channel pacer, handed to every publisher
    if settings.slack_bot_token is not None or settings.slack_client_id:
        from bot.ports.slack import SlackWorkspaceStore

        from .slack.app import SlackService
        from .slack.installations import SlackStorage

        # OAuth mode keeps its workspaces in the database.
        slack = SlackStorage(store, runner) if isinstance(store, SlackWorkspaceStore) else None
        services.append(
            SlackService.from_settings(
                settings, slack, commands, pacer=pacer, resume=resume, hold=hold
            )
        )
    if settings.discord_token is not None:
        from .discord.app import DiscordService, topic_lister

        topics = topic_lister(store, runner)
        services.append(
            DiscordService.from_settings(settings, topics, commands, pacer=pacer, resume=resume)
        )
    return services


def condenser_for(settings: Settings, store: Store, runner: Runner) -> Condenser | None:
    """The LLM condenser when one is configured (None: the extractive one). Its token
    usage is written through the writer thread: one SQLite writer."""
    if not settings.llm_base_url:
        return None
    from bot.llm import LLMCondenser

    usage = store if isinstance(store, UsageStore) else None
    return LLMCondenser(settings, usage_store=usage, run_store=runner)


def assemble(settings: Settings, console: TextIO, with_platforms: bool = False) -> Desk:
    """Everything, in order (see the module's docstring)."""
    store = open_store(settings)
    runner = StoreRunner(store)
    publishers = Publishers({"console": ConsolePublisher(console)})
    desk = build_desk(
        settings,
        store,
        runner=runner,
        fetcher=Fetcher(settings),
        publishers=publishers,
        condenser=condenser_for(settings, store, runner),
        roles=roles_for(settings),
    )
    if not with_platforms:
        return desk
    services = platforms(
        settings, store, runner, desk.commands, desk.resume_channel, desk.hold_channel
    )
    for service in services:
        publishers.offer(service.publisher)
    desk = replace(desk, services=services)
    address = settings.http_metrics_address
    if address is not None:
        from .metrics import MetricsServer

        async def snapshot() -> StoreSnapshot:
            return await runner.first(store.metrics_snapshot, desk.engine.clock.now())

        async def liveness() -> list[str]:
            return desk.liveness()

        desk.listeners.append(
            MetricsServer(
                address,
                desk.engine.telemetry,
                snapshot=snapshot,
                liveness=liveness,
                readiness=desk.readiness,
            )
        )
    return desk


def probe_database(path: str) -> tuple[str | None, ServiceBeat | None]:
    if _is_postgres(path):
        try:
            from storage.postgres import PostgresStore

            store = PostgresStore.open(path, size=1)
        except (ImportError, StorageError) as exc:
            return str(exc) or "psycopg is not installed", None
        try:
            return None, store.service_heartbeat()
        finally:
            store.close()
    from storage.service import probe_database as probe

    found = probe(path)
    return found.problem, found.beat


def migrate_database(
    database: str, url: str, progress: Callable[[str, int], None]
) -> dict[str, int]:
    try:
        from storage.postgres.copy import copy_sqlite
    except ImportError:
        raise StorageError(
            "psycopg is not installed: pip install 'signaldesk[postgresql]'"
        ) from None
    return copy_sqlite(database, url, progress)


def restore_database(backup: str, database: str, progress: Callable[[int, int], None]) -> int:
    from storage.base import restore_database as restore

    return restore(backup, database, progress)


def discord_invite_url(settings: Settings, application_id: int | None) -> str:
    from .discord.app import invite_url_for_settings

    return invite_url_for_settings(settings, application_id)


def wiring() -> Wiring:
    return Wiring(
        open_store=open_store,
        assemble=assemble,
        console_session=run_console_session,
        render_reply=render_reply,
        discord_invite_url=discord_invite_url,
        probe_database=probe_database,
        restore_database=restore_database,
        migrate_database=migrate_database,
    )


def main(argv: Sequence[str] | None = None) -> int:
    return cli_main(argv if argv is not None else sys.argv[1:], wiring())


if __name__ == "__main__":
    raise SystemExit(main())
