"""How a refused or unanswered message is retried or held, shared by the outbox
(``bot.deliver``), feed-health notices (``bot.notices``) and digests (``bot.digest``).

A message is sent under a key derived from its row (``attempt_key``); a retryable
refusal waits ``retry_wait``; ``errors.CannotPost`` — the bot cannot post in that
channel until someone there acts — pauses the channel (``pause_for``): its rows are
held in order and one is tried again every ``PAUSE_PROBE``, or at once when the
platform says the bot was let back in; the first message that goes through reopens
it (``posted_in``).
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta

from .errors import CannotPost, DeliveryError
from .models import Channel, Delivery, DeliveryState
from .ports import ChannelStore, Runner
from .settings import Settings

log = logging.getLogger("signaldesk.deliver")

# A paused channel (the bot cannot post there) is tried again this often, in case the
# platform let the bot back in without an event we hear (one request an hour).
PAUSE_PROBE = timedelta(hours=1)


async def pause_for(
    db: Runner, store: ChannelStore, channel_id: str, exc: CannotPost, now: datetime
) -> None:
    """Hold ``channel_id``'s deliveries: the platform says the bot cannot post there."""
    first = await db(store.pause_channel, channel_id, exc.reason, now, now + PAUSE_PROBE)
    if first:
        log.error(
            "deliveries to %s paused: %s",
            channel_id,
            exc.reason,
            extra={"channel_id": channel_id},
        )


async def posted_in(db: Runner, store: ChannelStore, channel: Channel) -> None:
    """A message went through: a paused channel is open again, its held rows follow."""
    if channel.paused_reason is not None and await db(store.unpause_channel, channel.id):
        log.warning("deliveries to %s resumed: the bot can post there again", channel.id)


def attempt_key(delivery: Delivery) -> str:
    """The key a row's message is sent under: the same for every attempt at the row,
    different for every row (a post and an update of one briefing differ)."""
    return f"{delivery.kind[0]}{delivery.id}"


def retry_wait(attempts: int, exc: DeliveryError, cap: float, settle: float) -> float:
    """Seconds before the next attempt: exponential backoff up to ``cap``; the
    platform's own hint when it gave one; at least ``settle`` when the message may have
    landed (so that the lookup before the next attempt can see it)."""
    wait = min(2.0 ** min(attempts + 1, 16), cap)
    if exc.retry_after is not None:
        # The hint, within reason: an absurd or garbled value waits the cap, no longer.
        hint = exc.retry_after
        wait = min(max(hint, 0.0), cap) if math.isfinite(hint) else cap
    if exc.maybe_sent:
        wait = max(wait, settle)
    return wait


def after_refusal(
    exc: DeliveryError, attempts: int, settings: Settings, now: datetime
) -> tuple[DeliveryState, datetime | None]:
    """A row's state after the platform refused it, and when to try it again: held as
    it is while its channel is paused (``CannotPost``), failed for good when the refusal
    is final, otherwise pending after ``retry_wait``. Outbox rows and notices share it."""
    if isinstance(exc, CannotPost):
        return DeliveryState.PENDING, None
    if not exc.retryable:
        return DeliveryState.FAILED, None
    wait = retry_wait(attempts, exc, float(settings.delivery_retry_max), settings.delivery_settle)
    return DeliveryState.PENDING, now + timedelta(seconds=wait)
