"""A workspace's install coming and going (multi-workspace OAuth mode), and the bot
coming and going in a channel (every mode).

``app_uninstalled`` and ``tokens_revoked`` mark the installation gone: its rows leave
the installation store (slack-bolt's own revocation listeners), one log line says so,
and from then on a delivery to one of its channels finds no bot token and is refused
with ``CannotPost`` (``SlackPublisher``): the channel is paused, what it would have
received is held, and nothing is lost. When the workspace installs the app again, its
channels are resumed at once, held posts and all (``Resume``, ``Desk.resume_channel``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.listener.async_builtins import AsyncTokenRevocationListeners

from .installations import ChannelDirectory, WorkspaceInstallations

log = logging.getLogger("signaldesk.slack")

# ``Desk.resume_channel``: the platform says the bot may post in a channel again.
Resume = Callable[[str, str], Awaitable[bool]]
# ``Desk.hold_channel``: the bot was removed from a channel; hold its deliveries now.
Hold = Callable[[str, str, str], Awaitable[None]]
REMOVED = (
    "SignalDesk was removed from this channel, so it cannot post briefings here: "
    "invite it back with /invite @SignalDesk"
)


class ChannelMembership:
    """The bot let back into a channel (invited, or the channel unarchived): its held
    deliveries go out. The bot removed from one: held at once and said in ``/brief
    feeds`` and the App Home, not only found out at the next refused post."""

    def __init__(self, resume: Resume | None, hold: Hold | None) -> None:
        self.resume = resume
        self.hold = hold

    def register(self, app: Any) -> None:
        app.event("member_joined_channel")(self.joined)
        app.event("channel_unarchive")(self.unarchived)
        app.event("group_unarchive")(self.unarchived)
        app.event("channel_left")(self.left)
        app.event("group_left")(self.left)

    async def joined(self, event: dict[str, Any], context: Any) -> None:
        """Someone joined a channel: when it is the bot (invited after a refusal),
        deliveries held for that channel are tried again now."""
        if str(event.get("user") or "") == str(getattr(context, "bot_user_id", "") or "-"):
            await self._resume(str(event.get("channel") or ""))

    async def unarchived(self, event: dict[str, Any]) -> None:
        await self._resume(str(event.get("channel") or ""))

    async def left(self, event: dict[str, Any]) -> None:
        channel = str(event.get("channel") or "")
        if self.hold is None or not channel:
            return
        try:
            await self.hold("slack", channel, REMOVED)
        except Exception:  # an event must never take the app down
            log.exception("Slack: could not hold deliveries to %s", channel)

    async def _resume(self, channel: str) -> None:
        if self.resume is None or not channel:
            return
        try:
            if await self.resume("slack", channel):
                log.info("Slack: the bot can post in %s again; sending what was held", channel)
        except Exception:  # an event must never take the app down
            log.exception("Slack: could not resume deliveries to %s", channel)


class WorkspaceLifecycle:
    def __init__(
        self,
        installations: WorkspaceInstallations,
        directory: ChannelDirectory,
        resume: Resume | None,
    ) -> None:
        self.directory = directory
        self.resume = resume
        self._revocations = AsyncTokenRevocationListeners(installations)
        installations.on_installed = self.installed

    def register(self, app: Any) -> None:
        app.event("app_uninstalled")(self.uninstalled)
        app.event("tokens_revoked")(self.tokens_revoked)

    async def uninstalled(self, context: Any) -> None:
        await self._revocations.handle_app_uninstalled_events(context)
        await self._gone(context, "the app was uninstalled")

    async def tokens_revoked(self, event: dict[str, Any], context: Any) -> None:
        await self._revocations.handle_tokens_revoked_events(event, context)
        if (event.get("tokens") or {}).get("bot"):
            await self._gone(context, "its bot token was revoked")

    async def _gone(self, context: Any, what: str) -> None:
        team = str(getattr(context, "team_id", None) or "")
        channels = await self.directory.channels_of(team, getattr(context, "enterprise_id", None))
        log.warning(
            "Slack: workspace %s: %s; deliveries to its %d known channel(s) are held until "
            "it is installed again from /slack/install",
            team,
            what,
            len(channels),
        )

    async def installed(self, team_id: str | None, enterprise_id: str | None) -> None:
        """A workspace (re)installed the app: its paused channels get their held posts."""
        if self.resume is None or not team_id:
            return
        for channel in await self.directory.channels_of(team_id, enterprise_id):
            try:
                if await self.resume("slack", channel):
                    log.info("Slack: %s installed again; sending what %s held", team_id, channel)
            except Exception:  # an install must never fail for this
                log.exception("Slack: could not resume deliveries to %s", channel)


__all__ = ["REMOVED", "ChannelMembership", "Hold", "Resume", "WorkspaceLifecycle"]
