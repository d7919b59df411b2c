"""Digest mode: one message a day per channel instead of a post per briefing.

While a channel is in digest mode, routing writes its outbox rows as ``HELD``. Once a
day, at the channel's local ``HH:MM``, ``send_due_digests`` gathers them, ranks them (most
sources first, then newest) and posts them as one message.

When is a digest due? When the most recent local ``HH:MM`` at or before *now* is later
than ``Channel.last_digest_at`` (which ``/brief mode digest`` sets to the moment of the
switch, so that a switch at 09:00 to an 08:00 digest waits for tomorrow). Only the most
recent slot counts, so a service that was down over several digest times sends one
digest when it comes back, not one per missed day. Slots are computed in the channel's
own timezone with ``zoneinfo`` and compared as aware UTC instants, so DST changes move
the digest with the wall clock and never send it twice.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import DeliveryError
from .models import Briefing, Channel, Delivery, DeliveryMode, DeliveryState

if TYPE_CHECKING:  # the engine imports the whole pipeline; digests only need its ports
    from .engine import Engine

log = logging.getLogger("signaldesk.digest")

# One digest message carries at most this many briefings: the rest would not fit a Slack
# message (50 blocks, https://api.slack.com/reference/block-kit/blocks) or a Discord
# message (25 embed fields) once rendered, and a daily digest is meant to be the top.
DIGEST_MAX = 20

_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def parse_hhmm(value: str) -> time | None:
    """``"8:05"`` or ``"08:05"`` -> ``time(8, 5)``; None when it is not a 24-hour time."""
    match = _HHMM.match(value.strip())
    return time(int(match.group(1)), int(match.group(2))) if match else None


def channel_zone(channel: Channel) -> ZoneInfo:
    """The channel's timezone; UTC if the stored name is not (or no longer) known."""
    try:
        return ZoneInfo(channel.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _slot(day: date, at: time, zone: ZoneInfo) -> datetime:
    # A wall time that does not exist (skipped by a spring-forward) resolves with the
    # pre-transition offset, i.e. just after the gap; a repeated one (fall-back) to its
    # first occurrence (fold=0). Either way: one instant per local day.
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def last_slot(channel: Channel, now: datetime) -> datetime | None:
    """The most recent digest time at or before ``now`` (UTC), or None when the channel
    has no digest time."""
    at = parse_hhmm(channel.digest_time or "")
    if at is None:
        return None
    zone = channel_zone(channel)
    day = now.astimezone(zone).date()
    slot = _slot(day, at, zone)
    while slot > now:  # today's time is still ahead: yesterday's is the last one
        day -= timedelta(days=1)
        slot = _slot(day, at, zone)
    return slot


def next_digest_at(channel: Channel, now: datetime) -> datetime | None:
    """The first digest time strictly after ``now`` (UTC)."""
    at = parse_hhmm(channel.digest_time or "")
    if at is None:
        return None
    zone = channel_zone(channel)
    day = now.astimezone(zone).date()
    slot = _slot(day, at, zone)
    while slot <= now:
        day += timedelta(days=1)
        slot = _slot(day, at, zone)
    return slot


def digest_due(channel: Channel, now: datetime) -> bool:
    """Whether a digest should go out now: the channel is in digest mode and its latest
    local digest time has passed since the last digest (or since it switched to digest
    mode). Pure: ``now`` comes from the caller's clock."""
    if channel.mode != DeliveryMode.DIGEST:
        return False
    slot = last_slot(channel, now)
    if slot is None:
        return False
    since = channel.last_digest_at or channel.created_at
    return since is None or slot > since


def rank_for_digest(briefings: Sequence[Briefing]) -> list[Briefing]:
    """Most sources first (the stories most outlets carried), then the newest."""
    return sorted(briefings, key=lambda b: (len(b.sources), b.updated_at), reverse=True)


async def send_due_digests(engine: Engine) -> int:
    """Post every digest that is due; returns how many digest messages were posted.

    Call it from the service loop after each delivery pass (it is cheap when nothing is
    due: one query for the channels)."""
    now = engine.clock.now()
    channels = await engine.db(engine.store.list_channels)
    posted = 0
    for channel in channels:
        if not digest_due(channel, now):
            continue
        try:
            posted += await _send_digest(engine, channel, now, scheduled=True)
        except Exception:  # one channel's trouble must not stop the others' digests
            log.exception("digest for %s failed", channel.id)
    return posted


async def flush_held(engine: Engine, channel: Channel) -> int:
    """Post a channel's held briefings now, as one digest (``/brief mode realtime``
    calls this so that nothing held is stranded). Without a publisher for the channel's
    platform in this process (``signaldesk cmd``), the rows are released to the normal
    queue instead and the service posts them. Returns the number of rows handled."""
    held = await engine.db(engine.store.held_deliveries, channel.id)
    if not held:
        return 0
    if channel.platform not in engine.publishers:
        now = engine.clock.now()
        for row in held:
            await engine.db(engine.store.mark_delivery, row.id, DeliveryState.PENDING, now=now)
        return len(held)
    await _send_digest(engine, channel, engine.clock.now(), scheduled=False)
    return len(held)


async def _send_digest(engine: Engine, channel: Channel, now: datetime, *, scheduled: bool) -> int:
    held = await engine.db(engine.store.held_deliveries, channel.id)
    if not held:
        if scheduled:
            # Nothing to say: the slot is used up all the same, or it would stay "due".
            await engine.db(
                engine.store.save_channel, channel.model_copy(update={"last_digest_at": now})
            )
        return 0
    publisher = engine.publishers.get(channel.platform)
    if publisher is None:
        return 0  # no publisher for this platform in this process: keep the rows held
    rows, briefings = await _held_briefings(engine, held)
    ranked = rank_for_digest(briefings)
    top, rest = ranked[:DIGEST_MAX], ranked[DIGEST_MAX:]
    previous = channel.last_digest_at
    if scheduled:
        # Record the slot as used *before* posting: after a crash mid-post the rows are
        # still held and go out with the next digest, rather than the channel getting
        # the same digest twice.
        channel = channel.model_copy(update={"last_digest_at": now})
        await engine.db(engine.store.save_channel, channel)
    try:
        result = await publisher.post_digest(channel, top) if top else None
    except DeliveryError as exc:
        log.warning("digest for %s not posted: %s", channel.id, exc)
        if exc.retryable and scheduled:
            # Try again on the next pass instead of tomorrow.
            restored = channel.model_copy(update={"last_digest_at": previous})
            await engine.db(engine.store.save_channel, restored)
        return 0
    done = engine.clock.now()
    shown = {b.id for b in top}
    for row in held:
        if row.briefing_id in shown and result is not None:
            await engine.db(
                engine.store.mark_delivery,
                row.id,
                DeliveryState.SENT,
                message_ref=result.message_ref,
                now=done,
            )
        elif row.briefing_id in rows:
            # Ranked below the top: recorded as handled (no message) so it is not
            # carried into every later digest.
            await engine.db(
                engine.store.mark_delivery,
                row.id,
                DeliveryState.SENT,
                error=f"not in the digest: ranked below the top {DIGEST_MAX}",
                now=done,
            )
    if rest:
        log.info("digest for %s: %d briefings left out", channel.id, len(rest))
    return 1 if result is not None else 0


async def _held_briefings(
    engine: Engine, held: Sequence[Delivery]
) -> tuple[set[str], list[Briefing]]:
    """The distinct briefings of the held rows (latest revision, from the store)."""
    found: dict[str, Briefing] = {}
    for row in held:
        if row.briefing_id in found:
            continue
        briefing = await engine.db(engine.store.get_briefing, row.briefing_id)
        if briefing is not None:
            found[row.briefing_id] = briefing
    return set(found), list(found.values())


__all__ = [
    "DIGEST_MAX",
    "digest_due",
    "flush_held",
    "last_slot",
    "next_digest_at",
    "parse_hhmm",
    "rank_for_digest",
    "send_due_digests",
]
