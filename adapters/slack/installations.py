"""Multi-workspace (OAuth) mode's state in the service's own database: slack-sdk's
installation and OAuth state store interfaces, and the channel directory, over the
storage port ``bot.ports.slack.SlackWorkspaceStore`` (``storage/slack.py``).

Every call goes through the one writer thread, ahead of background work
(``runner.first``): a request is waiting on it.

Until this version slack-sdk's own SQLite stores and a raw table of the adapter kept
this state in a second file, ``<database>.slack.db``; at start its rows are imported
once (``import_legacy_file``), so that no workspace has to install the app again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from uuid import uuid4

from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from bot.ports import Runner
from bot.ports.slack import SlackRow, SlackWorkspaceStore

log = logging.getLogger("signaldesk.slack")

P = ParamSpec("P")
T = TypeVar("T")

# An install link is good for ten minutes (as slack-sdk's own stores default to).
STATE_SECONDS = 600
# At most this many unconsumed states: every anonymous visit of /slack/install issues
# one, and only a finished install consumes it.
MAX_STATES = 1000


@dataclass(frozen=True)
class SlackStorage:
    """What the Slack service needs of the database: the port and its writer thread."""

    store: SlackWorkspaceStore
    runner: Runner


def legacy_file(database: Path) -> Path:
    """Where slack-sdk's SQLite stores used to live: ``<database>.slack.db``."""
    return database.with_name(database.name + ".slack.db")


async def import_legacy_file(storage: SlackStorage, database: Path) -> int | None:
    """Import the old ``<database>.slack.db`` once, if there is one; the rows copied
    (None: nothing to import). The old file is left in place, no longer used."""
    path = legacy_file(database)
    if not path.is_file():
        return None
    copied = await storage.runner.first(storage.store.import_slack_file, path, time.time())
    if copied is not None:
        log.info(
            "Slack: imported %d rows (installations, bots, channels) from %s; that file "
            "is no longer used and can be removed once you have a backup",
            copied,
            path,
        )
    return copied


def _key(
    enterprise_id: str | None, team_id: str | None, enterprise: bool | None
) -> tuple[str, str]:
    # As slack-sdk's stores: an org-wide install is keyed by its enterprise alone.
    return enterprise_id or "", "" if enterprise or team_id is None else team_id


def _row(value: Installation | Bot) -> SlackRow:
    """An installation or bot as the port's row (scopes comma-joined, as slack-sdk's
    SQLite stores kept them)."""
    row = {k: v for k, v in vars(value).items() if k != "custom_values"}
    row["bot_scopes"] = ",".join(row.get("bot_scopes") or ())
    if "user_scopes" in row:
        row["user_scopes"] = ",".join(row["user_scopes"] or ()) or None
    row["is_enterprise_install"] = 1 if row.get("is_enterprise_install") else 0
    return row


def _values(row: SlackRow) -> dict[str, Any]:
    return {**row, "is_enterprise_install": bool(row.get("is_enterprise_install"))}


class WorkspaceInstallations(AsyncInstallationStore):
    """slack-sdk's ``AsyncInstallationStore`` over the database (for one app, by its
    client id): every save a new row, the newest wins."""

    def __init__(self, storage: SlackStorage, client_id: str) -> None:
        self.storage = storage
        self.client_id = client_id
        # Called after a workspace's install is saved (``WorkspaceLifecycle.installed``).
        self.on_installed: Callable[[str | None, str | None], Awaitable[None]] | None = None

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        store = self.storage.store
        await self.storage.runner.first(
            store.slack_save_installation, self.client_id, _row(installation)
        )
        await self.async_save_bot(installation.to_bot())
        if self.on_installed is not None and installation.bot_token:
            await self.on_installed(installation.team_id, installation.enterprise_id)

    async def async_save_bot(self, bot: Bot) -> None:
        if bot.bot_token is None:
            return  # a user-only installation: no bot to record
        await self.storage.runner.first(
            self.storage.store.slack_save_bot, self.client_id, _row(bot)
        )

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        enterprise, team = _key(enterprise_id, team_id, is_enterprise_install)
        row = await self.storage.runner.first(
            self.storage.store.slack_find_bot, self.client_id, enterprise, team
        )
        return Bot(**_values(row)) if row else None

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        enterprise, team = _key(enterprise_id, team_id, is_enterprise_install)
        store, first = self.storage.store, self.storage.runner.first
        row = await first(store.slack_find_installation, self.client_id, enterprise, team, user_id)
        if row is None:
            return None
        installation = Installation(**_values(row))
        if user_id is not None or installation.bot_token is None:
            # A user's installation carries the bot token of its day: take the newest
            # one (https://github.com/slackapi/bolt-python/issues/664).
            bot = await first(store.slack_find_installed_bot, self.client_id, enterprise, team)
            if bot is not None:
                newest = Installation(**_values(bot))
                installation.bot_token = newest.bot_token
                installation.bot_id = newest.bot_id
                installation.bot_user_id = newest.bot_user_id
                installation.bot_scopes = newest.bot_scopes
                installation.bot_refresh_token = newest.bot_refresh_token
                installation.bot_token_expires_at = newest.bot_token_expires_at
        return installation

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.storage.runner.first(
            self.storage.store.slack_delete_bot, self.client_id, enterprise_id or "", team_id or ""
        )

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        await self.storage.runner.first(
            self.storage.store.slack_delete_installation,
            self.client_id,
            enterprise_id or "",
            team_id or "",
            user_id,
        )


class WorkspaceStates(AsyncOAuthStateStore):
    """slack-sdk's ``AsyncOAuthStateStore`` over the database: a state is good for
    ``expiration_seconds`` and for one install; expired states go before each new one,
    and at most ``max_states`` are kept (the oldest go first)."""

    def __init__(
        self,
        storage: SlackStorage,
        *,
        expiration_seconds: int = STATE_SECONDS,
        max_states: int = MAX_STATES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.storage = storage
        self.expiration_seconds = expiration_seconds
        self.max_states = max_states
        self.clock = clock

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = str(uuid4())
        now = self.clock()
        await self.storage.runner.first(
            self.storage.store.slack_issue_state,
            state,
            now + self.expiration_seconds,
            now,
            self.max_states,
        )
        return state

    async def async_consume(self, state: str) -> bool:
        return await self.storage.runner.first(
            self.storage.store.slack_consume_state, state, self.clock()
        )


class ChannelDirectory:
    """Which workspace each Slack channel belongs to (learnt from incoming requests),
    kept in the database so that posts find the right bot token after a restart."""

    def __init__(self, storage: SlackStorage) -> None:
        self.storage = storage

    async def remember(self, channel_id: str, team_id: str, enterprise_id: str | None) -> None:
        await self.storage.runner.first(
            self.storage.store.slack_remember_channel, channel_id, team_id, enterprise_id
        )

    async def workspace(self, channel_id: str) -> tuple[str, str | None] | None:
        return await self.storage.runner.first(
            self.storage.store.slack_channel_workspace, channel_id
        )

    async def channels_of(self, team_id: str, enterprise_id: str | None) -> list[str]:
        """The workspace's channels this service has heard from."""
        return await self.storage.runner.first(
            self.storage.store.slack_workspace_channels, team_id, enterprise_id
        )

    def token_resolver(
        self, installations: AsyncInstallationStore
    ) -> Callable[[str], Coroutine[Any, Any, str | None]]:
        """A ``token_for(channel_id)`` for ``SlackPublisher``: the bot token of the
        channel's workspace, "" when that workspace has no install (any more), None
        when the channel's workspace is not known."""

        async def token_for(channel_id: str) -> str | None:
            found = await self.workspace(channel_id)
            if found is None:
                return None
            bot = await installations.async_find_bot(enterprise_id=found[1], team_id=found[0])
            return (bot.bot_token or "") if bot else ""

        return token_for


__all__ = [
    "MAX_STATES",
    "STATE_SECONDS",
    "ChannelDirectory",
    "SlackStorage",
    "WorkspaceInstallations",
    "WorkspaceStates",
    "import_legacy_file",
    "legacy_file",
]
