"""Discord failures as the core's ``DeliveryError``: what discord.py and aiohttp raise,
translated into one line saying what is wrong and what to do, and whether a retry can
help; ``CannotPost`` for a channel the bot cannot post in until someone acts."""

from __future__ import annotations

import logging

import aiohttp
import discord

from bot.errors import CannotPost, DeliveryError
from bot.models import Channel

log = logging.getLogger("signaldesk.discord")


def delivery_error(exc: BaseException, channel: Channel) -> DeliveryError:
    """Translate a discord.py / aiohttp failure into the core's ``DeliveryError``: one
    line saying what is wrong and what to do, and whether a retry can help."""
    where = f"Discord channel {channel.target}"
    if isinstance(exc, discord.RateLimited):
        # Raised instead of sleeping when Discord asks for more than the client's
        # max_ratelimit_timeout: the outbox waits instead, keeping the channel's order.
        return DeliveryError(
            f"{where}: rate limited for {exc.retry_after:.0f} s; will retry",
            retryable=True,
            retry_after=exc.retry_after,
        )
    if isinstance(exc, discord.Forbidden):
        # 50001 Missing Access (cannot see the channel), 50013 Missing Permissions: the
        # channel is paused (``CannotPost``) until an admin fixes it; retrying on a timer
        # would only add to Discord's count of invalid requests.
        what = "cannot see it" if exc.code == 50001 else "lacks a permission"
        return CannotPost(
            f"{where}: the bot {what} ({_reason(exc)}); give SignalDesk's role View "
            "Channel, Send Messages and Embed Links there (Edit Channel > Permissions)",
            code=str(exc.code or 403),
        )
    if isinstance(exc, discord.NotFound):
        return CannotPost(
            f"{where} not found: it was deleted or the bot was removed from the server; "
            "re-invite the bot or remove this channel's feeds",
            code=str(exc.code or 404),
        )
    if isinstance(exc, discord.DiscordServerError):
        return DeliveryError(
            f"{where}: Discord server error {exc.status}; will retry",
            retryable=True,
            maybe_sent=True,
        )
    if isinstance(exc, discord.HTTPException):
        if exc.status == 429:  # still limited after discord.py's own retries
            return DeliveryError(
                f"{where}: rate limited; will retry",
                retryable=True,
                retry_after=_retry_after(exc),
            )
        return DeliveryError(
            f"{where}: Discord rejected the message (HTTP {exc.status}: {_reason(exc)}); "
            "please report this as a bug",
            retryable=False,
        )
    if isinstance(exc, aiohttp.ClientError | OSError | TimeoutError):
        return DeliveryError(
            f"{where}: cannot reach Discord ({type(exc).__name__}); will retry",
            maybe_sent=not isinstance(exc, aiohttp.ClientConnectorError),
        )
    # A bug of ours or of the library: keep the briefing queued (lose nothing) and log it.
    log.error("unexpected error posting to %s", where, exc_info=exc)
    return DeliveryError(f"{where}: unexpected {type(exc).__name__}: {exc}", retryable=True)


def _reason(exc: discord.HTTPException) -> str:
    text = " ".join(str(exc.text or "").split())[:200]
    return f"{exc.status} {text}".strip() if text else str(exc.status)


def _retry_after(exc: discord.HTTPException) -> float | None:
    try:
        return float(exc.response.headers.get("Retry-After", ""))
    except (AttributeError, ValueError):
        return None
