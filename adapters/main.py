"""The composition root: the one place that knows the core, storage and every adapter.

``signaldesk`` (the console script) lands here, builds the ``Wiring`` and hands over to
``bot.cli``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.cli import PlatformService, Wiring
from bot.cli import main as cli_main
from bot.pacing import ChannelPacer
from bot.ports import Store
from bot.settings import Settings
from storage import SqliteStore

from .console.app import run_console_session
from .console.publisher import ConsolePublisher
from .console.render import render_reply

if TYPE_CHECKING:
    from bot.commands import CommandHandler
    from bot.engine import Engine


def open_store(settings: Settings) -> Store:
    return SqliteStore.open(settings.database)


def platforms(
    settings: Settings, engine: Engine, commands: CommandHandler
) -> list[PlatformService]:
    """The chat platforms whose tokens are set, sharing this process's event loop.
    Imported lazily so that the console alone never loads a chat SDK."""
    services: list[PlatformService] = []
    pacer = ChannelPacer()  # one channel pacer, handed to every publisher
    if settings.slack_bot_token is not None or settings.slack_client_id:
        from bot.ports_slack import SlackWorkspaceStore

        from .slack.app import SlackService
        from .slack.installations import SlackStorage

        store = engine.store  # OAuth mode keeps its workspaces in the database
        slack = SlackStorage(store, engine.db) if isinstance(store, SlackWorkspaceStore) else None
        services.append(SlackService.from_settings(settings, slack, commands, pacer=pacer))
    if settings.discord_token is not None:
        from .discord.app import DiscordService, topic_lister

        topics = topic_lister(engine.store, engine.db)
        services.append(DiscordService.from_settings(settings, topics, commands, pacer=pacer))
    return services


def discord_invite_url(settings: Settings, application_id: int | None) -> str:
    from .discord.app import invite_url_for_settings

    return invite_url_for_settings(settings, application_id)


def wiring() -> Wiring:
    return Wiring(
        open_store=open_store,
        console_publisher=ConsolePublisher,
        console_session=run_console_session,
        render_reply=render_reply,
        platforms=platforms,
        discord_invite_url=discord_invite_url,
    )


def main(argv: Sequence[str] | None = None) -> int:
    return cli_main(argv if argv is not None else sys.argv[1:], wiring())


if __name__ == "__main__":
    raise SystemExit(main())
