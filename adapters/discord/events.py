"""Gateway events that may let the bot post again in a channel it was paused in (the
core holds a channel's deliveries after ``CannotPost``): the bot joined (or was invited
back to) a server, a channel's permission overwrites changed, a role's permissions
changed. Each hands the channels concerned to ``Desk.resume_channel``, which tries one
held delivery at the next pass; a channel that was not paused costs one cheap query.

Only the ``guilds`` intent is needed: GUILD_CREATE, CHANNEL_UPDATE and GUILD_ROLE_UPDATE
are all in it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import discord

from .permissions import missing_to_post

log = logging.getLogger("signaldesk.discord")

Resume = Callable[[str, str], Awaitable[bool]]


def install_resume_events(client: discord.Client, resume: Resume) -> None:
    """Register the listeners on ``client`` (a plain ``discord.Client``)."""

    async def try_channels(channels: Iterable[Any], why: str) -> None:
        for channel in channels:
            if not isinstance(channel, discord.TextChannel | discord.VoiceChannel):
                continue  # categories, forums and stage channels get no briefings
            me = channel.guild.me
            if me is not None and missing_to_post(channel.permissions_for(me)):
                continue  # still cannot post there: leave it paused
            try:
                if await resume("discord", str(channel.id)):
                    log.info("discord: %s; trying channel %s again", why, channel.id)
            except Exception:  # one channel's trouble must not stop the others'
                log.exception("discord: could not resume channel %s", channel.id)

    async def on_guild_join(guild: discord.Guild) -> None:
        await try_channels(guild.channels, f"joined server {guild.id}")

    async def on_guild_channel_update(before: Any, after: Any) -> None:
        if isinstance(after, discord.CategoryChannel):
            await try_channels(after.channels, f"permissions of category {after.id} changed")
        else:
            await try_channels([after], "channel permissions changed")

    async def on_guild_role_update(before: discord.Role, after: discord.Role) -> None:
        if before.permissions != after.permissions:
            await try_channels(after.guild.channels, f"role {after.id} changed")

    for listener in (on_guild_join, on_guild_channel_update, on_guild_role_update):
        client.event(listener)
