"""Digest mode: one message a day per channel instead of a post per briefing.

While a channel is in digest mode, routing writes its outbox rows as ``HELD``. Once a
day, at the channel's local ``HH:MM``, ``Digests`` gathers them, ranks them (most
sources first, then newest) and posts them, ``DIGEST_MAX`` to a message.

Exactly once: before a digest is sent, each of its parts is recorded (its rows leave
"held" under the part's key, in one write); a part is marked sent only once its message
is known to exist, and a part left in flight by a crash or a lost answer is looked up by
its key (``Publisher.find_attempt``) before it is sent again.

When is a digest due? When the most recent local ``HH:MM`` at or before *now* is later
than ``Channel.last_digest_at`` (which ``/brief mode digest`` sets to the moment of the
switch, so that a switch at 09:00 to an 08:00 digest waits for tomorrow). Only the most
recent slot counts, so a service that was down over several digest times sends one
digest when it comes back, not one per missed day. Slots are computed in the channel's
own timezone with ``zoneinfo`` and compared as aware UTC instants, so DST changes move
the digest with the wall clock and never send it twice.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import CannotPost, DeliveryError
from .models import Attempt, Briefing, Channel, Delivery, DeliveryMode, DeliveryState
from .ports import BriefingStore, ChannelStore, Clock, OutboxStore, Publisher, Runner
from .retries import pause_for, posted_in, retry_wait
from .settings import Settings

log = logging.getLogger("signaldesk.digest")

# One digest message carries at most this many briefings: more would not fit a Slack
# message (50 blocks, https://api.slack.com/reference/block-kit/blocks) or a Discord
# message (25 embed fields) once rendered. A longer digest is split into several
# messages, in rank order; nothing is left out.
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


def split_digest(ranked: Sequence[Briefing], size: int = DIGEST_MAX) -> list[list[Briefing]]:
    """A ranked digest in parts of at most ``size`` briefings, each one message: every
    briefing is shown, none is left out."""
    return [list(ranked[i : i + size]) for i in range(0, len(ranked), size)]


class DigestStore(ChannelStore, BriefingStore, OutboxStore, Protocol):
    """Channels (digest time, mode), briefings, and the held rows and digest parts."""


class Digests:
    """Digest delivery: ``pump`` (the service loop: each channel's digest work as its
    own task), ``send_due`` (tests, the CLI: channel by channel, waiting), and
    ``flush_held`` (``/brief mode realtime``)."""

    def __init__(
        self,
        settings: Settings,
        store: DigestStore,
        runner: Runner,
        *,
        clock: Clock,
        publishers: Mapping[str, Publisher],
    ) -> None:
        self.settings = settings
        self.store = store
        self.db = runner
        self.clock = clock
        self.publishers = publishers
        self._tasks: dict[str, asyncio.Task[int]] = {}  # channel id -> its digest work

    async def pump(self) -> int:
        """Start each channel's digest work (a digest due, parts in flight) as its own
        task, unless that channel's previous one is still running; return at once, so
        that a slow digest holds up neither posts nor other channels' digests."""
        for channel_id, task in list(self._tasks.items()):
            if task.done():
                del self._tasks[channel_id]
        now = self.clock.now()
        started = 0
        for channel, parts in await self.work(now):
            if channel.id not in self._tasks:
                self._tasks[channel.id] = asyncio.create_task(
                    self.send_channel(channel, parts, now)
                )
                started += 1
        return started

    async def aclose(self, *, cancel: bool = False) -> None:
        """Wait for the digest work in progress, or with ``cancel`` stop it."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        if cancel:
            for task in tasks:
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def send_due(self) -> int:
        """Post every digest that is due, and finish every digest part that a crash or a
        lost answer left in flight; returns how many digest messages were posted. Channel
        by channel, waiting for each (tests, the CLI); the service runs each channel's
        digest as its own task instead (``pump``)."""
        now = self.clock.now()
        posted = 0
        for channel, parts in await self.work(now):
            posted += await self.send_channel(channel, parts, now)
        return posted

    async def work(self, now: datetime) -> list[tuple[Channel, list[list[Delivery]]]]:
        """The channels with digest work now: a digest due, or parts left in flight (each
        with those parts). Cheap when there is none: one query for the channels, one for
        the parts in flight."""
        channels = await self.db(self.store.list_channels)
        in_flight: dict[str, list[list[Delivery]]] = {}
        for part in await self.db(self.store.digest_parts_in_flight):
            in_flight.setdefault(part[0].channel_id, []).append(part)
        return [
            (channel, in_flight.get(channel.id, []))
            for channel in channels
            if channel.id in in_flight or digest_due(channel, now)
        ]

    async def send_channel(
        self, channel: Channel, parts: Sequence[Sequence[Delivery]], now: datetime
    ) -> int:
        """One channel's digest work: finish its parts in flight, then send its digest if
        one is due. Never raises: one channel's trouble must not stop the others'."""
        posted = 0
        try:
            if parts:
                posted += await self._resume_parts(channel, parts)
            if digest_due(channel, now):
                posted += await self._send_digest(channel, now, scheduled=True)
        except Exception:
            log.exception("digest for %s failed", channel.id)
        return posted

    async def flush_held(self, channel: Channel) -> int:
        """Post a channel's held briefings now, as one digest (``/brief mode realtime``
        calls this so that nothing held is stranded). Without a publisher for the channel's
        platform in this process (``signaldesk cmd``), the rows are released to the normal
        queue instead and the service posts them. Returns the number of rows handled."""
        held = await self.db(self.store.held_deliveries, channel.id)
        if not held:
            return 0
        if channel.platform not in self.publishers:
            now = self.clock.now()
            for row in held:
                await self.db(self.store.mark_delivery, row.id, DeliveryState.PENDING, now=now)
            return len(held)
        await self._send_digest(channel, self.clock.now(), scheduled=False)
        return len(held)

    async def _send_digest(self, channel: Channel, now: datetime, *, scheduled: bool) -> int:
        held = await self.db(self.store.held_deliveries, channel.id)
        if not held:
            if scheduled:
                # Nothing to say: the slot is used up all the same, or it would stay "due".
                await self.db(
                    self.store.save_channel, channel.model_copy(update={"last_digest_at": now})
                )
            return 0
        publisher = self.publishers.get(channel.platform)
        if publisher is None:
            return 0  # no publisher for this platform in this process: keep the rows held
        rows, briefings = await self._held_briefings(held)
        if scheduled:
            # The slot is used once the parts are recorded: whatever happens to them from
            # here (a crash, a lost answer) is finished from their record, not by sending
            # the same digest again at the next slot.
            channel = channel.model_copy(update={"last_digest_at": now})
            await self.db(self.store.save_channel, channel)
        by_briefing: dict[str, list[int]] = {}
        for row in held:
            if row.briefing_id in rows:
                by_briefing.setdefault(row.briefing_id, []).append(row.id)
        # Record every part before sending any (the attempt record): rows leave "held" for
        # their part's key in the same write, so that after a crash each part is looked
        # up by its key and sent only if it is not there.
        stamp = f"g{held[0].id}-{int(now.timestamp())}"
        recorded: list[tuple[str, list[Briefing]]] = []
        for number, part in enumerate(split_digest(rank_for_digest(briefings)), start=1):
            key = f"{stamp}.{number}"
            ids = [row_id for b in part for row_id in by_briefing[b.id]]
            if await self.db(self.store.start_digest_part, ids, key, now):
                recorded.append((key, part))
        if len(recorded) > 1:
            log.info(
                "digest for %s: %d briefings in %d messages", channel.id, len(rows), len(recorded)
            )
        posted = 0
        for key, part in recorded:
            outcome = await self._send_part(channel, key, part, first_at=now)
            if outcome is None or outcome < 0:
                break  # to retry (the rest wait, in order), or refused for good
            posted += outcome
        return posted

    async def _resume_parts(self, channel: Channel, parts: Sequence[Sequence[Delivery]]) -> int:
        """Finish digest parts left in flight: look each up by its key, send it if absent."""
        if channel.platform not in self.publishers:
            return 0
        now = self.clock.now()
        posted = 0
        for rows in parts:
            head = rows[0]
            if head.digest_key is None or (head.not_before is not None and head.not_before > now):
                continue  # not yet: an attempt may still land, or a retry is waiting
            briefings: list[Briefing] = []
            for row in rows:
                briefing = await self.db(self.store.get_briefing, row.briefing_id)
                if briefing is not None and briefing not in briefings:
                    briefings.append(briefing)
            outcome = await self._send_part(
                channel,
                head.digest_key,
                rank_for_digest(briefings),
                first_at=head.first_attempt_at or now,
                last_at=head.attempt_at,
            )
            if outcome is None or outcome < 0:
                break
            posted += outcome
        return posted

    async def _send_part(
        self,
        channel: Channel,
        key: str,
        briefings: Sequence[Briefing],
        *,
        first_at: datetime,
        last_at: datetime | None = None,
    ) -> int | None:
        """One digest message under ``key``. With ``last_at`` (an earlier attempt), look it
        up first. Returns 1 when posted, 0 when found, -1 when to be retried, None when the
        platform refused it for good (the part, and every part still in flight for the
        channel, goes back to "held" for the next digest)."""
        publisher = self.publishers[channel.platform]
        settle = timedelta(seconds=self.settings.delivery_settle)
        try:
            if last_at is not None:
                attempt = Attempt(key=key, first_at=first_at, last_at=last_at)
                found = await publisher.find_attempt(channel, attempt)
                if found:
                    await self.db(
                        self.store.finish_digest_part,
                        key,
                        DeliveryState.SENT,
                        message_ref=found,
                        now=self.clock.now(),
                    )
                    return 0
            now = self.clock.now()
            await self.db(self.store.retry_digest_part, key, now, now + settle)
            attempt = Attempt(key=key, first_at=first_at, last_at=now)
            result = await publisher.post_digest(channel, briefings, attempt=attempt)
        except DeliveryError as exc:
            log.warning("digest for %s not posted: %s", channel.id, exc)
            now = self.clock.now()
            if isinstance(exc, CannotPost):  # its briefings stay held for the next digest
                await pause_for(self.db, self.store, channel.id, exc, now)
            if exc.retryable:
                rows = await self.db(self.store.digest_parts_in_flight, channel.id)
                attempts = max(
                    (r.attempts for part in rows for r in part if r.digest_key == key), default=1
                )
                wait = retry_wait(
                    attempts, exc, float(self.settings.delivery_retry_max), settle.total_seconds()
                )
                await self.db(
                    self.store.delay_digest_part, key, now + timedelta(seconds=wait), str(exc)
                )
                return -1
            for part in await self.db(self.store.digest_parts_in_flight, channel.id):
                if part[0].digest_key:
                    await self.db(
                        self.store.finish_digest_part,
                        part[0].digest_key,
                        DeliveryState.HELD,
                        error=str(exc),
                        now=now,
                    )
            return None
        await self.db(
            self.store.finish_digest_part,
            key,
            DeliveryState.SENT,
            message_ref=result.message_ref,
            now=self.clock.now(),
        )
        await posted_in(self.db, self.store, channel)
        return 1

    async def _held_briefings(self, held: Sequence[Delivery]) -> tuple[set[str], list[Briefing]]:
        """The distinct briefings of the held rows (latest revision, from the store)."""
        found: dict[str, Briefing] = {}
        for row in held:
            if row.briefing_id in found:
                continue
            briefing = await self.db(self.store.get_briefing, row.briefing_id)
            if briefing is not None:
                found[row.briefing_id] = briefing
        return set(found), list(found.values())


__all__ = [
    "DIGEST_MAX",
    "DigestStore",
    "Digests",
    "digest_due",
    "last_slot",
    "next_digest_at",
    "parse_hhmm",
    "rank_for_digest",
    "split_digest",
]
