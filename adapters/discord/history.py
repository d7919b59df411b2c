"""Our own earlier messages in a channel's recent history: how a resend after a crash
finds what an earlier attempt already posted (``Publisher.find_attempt`` /
``find_posted``), beyond Discord's nonce window."""

from __future__ import annotations

import logging

import aiohttp
import discord

from bot.errors import DeliveryError
from bot.models import Attempt, Briefing, Channel

from .render import button_custom_id, update_note

log = logging.getLogger("signaldesk.discord")

# find_posted reads this many recent messages of the channel (one REST page is 100).
HISTORY_LIMIT = 100


def partial_channel(client: discord.Client, channel: Channel) -> discord.PartialMessageable:
    """The channel to send to or read from, by its id (no gateway cache needed)."""
    try:
        channel_id = int(channel.target)
    except ValueError:
        raise DeliveryError(
            f"{channel.id} is not a Discord channel id; subscribe the channel again",
            retryable=False,
        ) from None
    return client.get_partial_messageable(channel_id)


class OwnMessages:
    """Reads a channel's (or a notes thread's) recent history for a message of ours."""

    def __init__(self, client: discord.Client, history_limit: int = HISTORY_LIMIT) -> None:
        self.client = client
        self.history_limit = history_limit

    async def find_attempt(
        self, channel: Channel, attempt: Attempt, briefing: Briefing | None = None
    ) -> str | None:
        """The message an earlier attempt left, from the channel's recent history: a
        post by its More button, a thread note by the message it replies to and its
        text. Discord does not show a message's nonce in history, so a digest part is
        not looked up: resent under the same nonce, Discord returns the first one
        within its nonce window."""
        if briefing is None:
            return None
        if attempt.parent_ref is None:
            return await self.find_posted(channel, briefing)
        me = self.client.user
        if me is None:
            return None
        note = update_note(briefing).content
        try:  # the notes thread on the post (its id is the post's)
            thread = self.client.get_partial_messageable(int(attempt.parent_ref))
            async for message in thread.history(limit=self.history_limit):
                if message.author.id == me.id and message.content == note:
                    return str(message.id)
            return None
        except discord.NotFound:
            pass  # no thread: a note from before notes went to threads is a reply
        except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.info("cannot read the notes thread %s (%s)", attempt.parent_ref, exc)
        try:
            async for message in partial_channel(self.client, channel).history(
                limit=self.history_limit
            ):
                ref = message.reference
                if (
                    message.author.id == me.id
                    and ref is not None
                    and str(ref.message_id) == attempt.parent_ref
                    and message.content == note
                ):
                    return str(message.id)
        except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.info("cannot read history of %s (%s); relying on the nonce", channel.id, exc)
        return None

    async def find_posted(self, channel: Channel, briefing: Briefing) -> str | None:
        """After a crash mid-send: the id of our earlier post of ``briefing``, if any.

        Two layers make a resend safe. Within Discord's nonce window (a few minutes) the
        resend itself carries the same nonce with ``enforce_nonce``, so Discord returns
        the existing message instead of creating one. Beyond it, this method reads the
        channel's recent history (Read Message History permission) for a message of ours
        whose "More" button carries the briefing id. If the history cannot be read,
        it answers None and the nonce is what keeps the resend single."""
        me = self.client.user
        if me is None:
            return None
        wanted = button_custom_id("more", briefing.id)
        try:
            async for message in partial_channel(self.client, channel).history(
                limit=self.history_limit
            ):
                if message.author.id == me.id and _has_button(message, wanted):
                    return str(message.id)
        except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.info("cannot read history of %s (%s); relying on the nonce", channel.id, exc)
        return None


def _has_button(message: discord.Message, custom_id: str) -> bool:
    for row in message.components:
        for child in getattr(row, "children", ()):
            if getattr(child, "custom_id", None) == custom_id:
                return True
    return False


__all__ = ["HISTORY_LIMIT", "OwnMessages", "partial_channel"]
