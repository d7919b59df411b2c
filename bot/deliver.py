"""The delivery stage: the outbox to the publishers, exactly once, one queue per channel.

    outbox row -> record the attempt -> Publisher -> mark sent (or retry, or failed)

Exactly once at the edges. Before a message is handed to the platform its row records
the attempt (``state = sending``, when the first and the latest attempt began) in the
same write that claims it; the message carries a key derived from the row (Slack
message metadata, a Discord nonce). When an earlier attempt may have reached the
platform — the process died mid-send, or the answer was lost — the next attempt first
asks the publisher to look the message up *by that record* (its key, in its own time
window) and only sends again when it is not there. A lost answer is looked up only once
``settings.delivery_settle`` seconds have passed since the attempt began, so that a
request the platform was still carrying out has landed by then. Posts, "Updated" thread
replies, digest parts (``bot.digest``) and feed-health notices all go through this.

One queue per channel. ``pump`` (the service loop) starts one task per channel with
something due and never waits for it, so a channel that is rate limited or slow holds
up only itself; inside a channel, rows go out in order, one at a time, paced by the
publisher. ``deliver_once`` (tests, the demo, the CLI) does the same and waits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Protocol

from .errors import CannotPost, DeliveryError, SignalDeskError
from .models import Attempt, Briefing, Channel, Delivery, DeliveryState, Notice
from .notices import HealthNotices, health_text
from .ports import (
    BriefingStore,
    ChannelStore,
    Clock,
    NoticeStore,
    OutboxStore,
    Publisher,
    Runner,
)
from .retries import after_refusal, attempt_key, pause_for, posted_in, retry_wait
from .settings import Settings
from .telemetry import Telemetry

log = logging.getLogger("signaldesk.deliver")


class DeliverStore(ChannelStore, BriefingStore, OutboxStore, NoticeStore, Protocol):
    """The outbox and notices, and the channels and briefings they are rendered from."""


class Publishers(dict[str, Publisher]):
    """The publishers delivery posts through, by platform. The console's is there from
    the start; a chat platform's app offers its own (``offer``) while the composition
    root builds it, since that app needs the commands, and the commands need delivery
    (``/brief mode realtime`` flushes a channel's digest)."""

    def offer(self, publisher: Publisher) -> None:
        self[publisher.platform] = publisher


class Deliverer:
    """The outbox's sender: posts, updates and feed-health notices."""

    def __init__(
        self,
        settings: Settings,
        store: DeliverStore,
        runner: Runner,
        *,
        clock: Clock,
        publishers: Mapping[str, Publisher],
        telemetry: Telemetry | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.db = runner
        self.clock = clock
        self.publishers = publishers
        self.telemetry = telemetry or Telemetry()
        self.notices = HealthNotices(settings, store, runner, clock=clock, publishers=publishers)
        # Channel id -> the task sending that channel's due rows right now.
        self._queues: dict[str, asyncio.Task[int]] = {}

    @property
    def settle(self) -> timedelta:
        return timedelta(seconds=self.settings.delivery_settle)

    # --------------------------------------------------------------- passes

    async def deliver_once(self, *, limit: int = 500) -> int:
        """Attempt the head of every channel's queue once (and its due notices), all
        channels at once; wait for them. Returns messages sent."""
        work = await self._due(limit)
        results = await asyncio.gather(*(self._channel_turn(c, d, n) for c, (d, n) in work.items()))
        return sum(results)

    async def pump(self, *, limit: int = 500) -> int:
        """Start a turn for every channel with something due whose previous turn has
        finished, and return at once: a channel waiting out a rate limit or a slow
        platform never delays another. Returns the turns started."""
        for channel_id, task in list(self._queues.items()):
            if task.done():
                del self._queues[channel_id]
                error = None if task.cancelled() else task.exception()
                if isinstance(error, SignalDeskError):  # one line, e.g. the database is full
                    log.error("delivery to %s failed: %s", channel_id, error)
                elif error is not None:
                    log.error("delivery to %s failed", channel_id, exc_info=error)
        work = await self._due(limit, skip=set(self._queues))
        for channel_id, (delivery, notices) in work.items():
            self._queues[channel_id] = asyncio.create_task(
                self._channel_turn(channel_id, delivery, notices)
            )
        return len(work)

    async def aclose(self, *, cancel: bool = False) -> None:
        """Wait for the turns in progress (a clean stop finishes what it handed over),
        or with ``cancel`` stop them (a row cut off mid-send stays "sending" and is
        looked up by its record at the next start)."""
        tasks = list(self._queues.values())
        self._queues.clear()
        if cancel:
            for task in tasks:
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _due(
        self, limit: int, skip: set[str] | None = None
    ) -> dict[str, tuple[Delivery | None, list[Notice]]]:
        now = self.clock.now()
        due = await self.db(self.store.due_deliveries, now, limit)
        await self.notify_feed_health()
        notices = await self.db(self.store.due_notices, now, limit)
        work: dict[str, tuple[Delivery | None, list[Notice]]] = {}
        for delivery in due:  # the head of each channel's queue
            if not skip or delivery.channel_id not in skip:
                work[delivery.channel_id] = (delivery, [])
        for notice in notices:
            if skip and notice.channel_id in skip:
                continue
            work.setdefault(notice.channel_id, (None, []))[1].append(notice)
        return work

    async def _channel_turn(
        self, channel_id: str, delivery: Delivery | None, notices: Sequence[Notice]
    ) -> int:
        sent = await self._deliver(delivery) if delivery is not None else 0
        return sent + await self.notices.send(notices)

    # ----------------------------------------------------------- one message

    async def _deliver(self, delivery: Delivery) -> int:
        channel = await self.db(self.store.get_channel, delivery.channel_id)
        publisher = self.publishers.get(channel.platform) if channel else None
        briefing = await self.db(self.store.get_briefing, delivery.briefing_id)
        if channel is None or publisher is None or briefing is None:
            return 0  # no publisher configured for this platform: keep it queued
        parent = None
        if delivery.kind == "update":
            parent = await self.db(self.store.posted_ref, channel.id, briefing.id)
        if delivery.state == DeliveryState.SENDING or delivery.attempts > 0:
            # An earlier attempt may have reached the platform: the process died
            # mid-send (the row was left "sending"), or the answer was lost. Look the
            # message up by the attempt's record before sending it again.
            try:
                ref = await self._find_earlier(publisher, channel, briefing, delivery, parent)
            except DeliveryError as exc:  # cannot ask now: try again later, never guess
                await self._delivery_failed(delivery, exc)
                return 0
            if ref:
                now = self.clock.now()
                await self.db(
                    self.store.mark_delivery,
                    delivery.id,
                    DeliveryState.SENT,
                    message_ref=parent if delivery.kind == "update" and parent else ref,
                    now=now,
                )
                if delivery.kind == "post" and briefing.revision > delivery.revision:
                    # Sources joined while this post's outcome was unknown, and routing
                    # left them to the queued post: the post that landed may show an
                    # older revision. Bring it up to date like any update.
                    await self.db(
                        self.store.enqueue_delivery,
                        channel.id,
                        briefing.id,
                        kind="update",
                        revision=briefing.revision,
                        state=DeliveryState.PENDING,
                        now=now,
                    )
                return 0
        now = self.clock.now()
        attempt = Attempt(
            key=attempt_key(delivery),
            first_at=delivery.first_attempt_at or now,
            last_at=now,
            parent_ref=parent,
        )
        # The record, before the send. Should the process die now, the row stays
        # "sending" and is looked up once the attempt has had time to land.
        await self.db(
            self.store.mark_delivery,
            delivery.id,
            DeliveryState.SENDING,
            not_before=now + self.settle,
            now=now,
        )
        try:
            if delivery.kind == "update" and parent is not None:
                result = await publisher.update_briefing(channel, briefing, parent, attempt=attempt)
            else:
                # A post, or an update whose post is gone or failed: post it afresh.
                result = await publisher.post_briefing(channel, briefing, attempt=attempt)
        except DeliveryError as exc:
            await self._delivery_failed(delivery, exc)
            return 0
        await self.db(
            self.store.mark_delivery,
            delivery.id,
            DeliveryState.SENT,
            message_ref=result.message_ref,
            now=self.clock.now(),
        )
        self.telemetry.delivered(delivery.kind)
        await posted_in(self.db, self.store, channel)
        return 1

    async def _find_earlier(
        self,
        publisher: Publisher,
        channel: Channel,
        briefing: Briefing,
        delivery: Delivery,
        parent: str | None,
    ) -> str | None:
        if delivery.first_attempt_at is None:
            # A row from before attempt records: only a post can be looked for, by
            # its briefing id in the channel's history.
            if delivery.kind == "post":
                return await publisher.find_posted(channel, briefing)
            return None
        attempt = Attempt(
            key=attempt_key(delivery),
            first_at=delivery.first_attempt_at,
            last_at=delivery.attempt_at or delivery.first_attempt_at,
            parent_ref=parent,
        )
        return await publisher.find_attempt(channel, attempt, briefing)

    async def _delivery_failed(self, delivery: Delivery, exc: DeliveryError) -> None:
        now = self.clock.now()
        self.telemetry.delivery_failed(exc)
        if isinstance(exc, CannotPost):
            # Not failed: held, with the channel, until the bot can post there again.
            await pause_for(self.db, self.store, delivery.channel_id, exc, now)
        state, not_before = after_refusal(exc, delivery.attempts, self.settings, now)
        if state == DeliveryState.FAILED:
            log.error(
                "delivery %s to %s failed: %s",
                delivery.briefing_id,
                delivery.channel_id,
                exc,
                extra={"briefing_id": delivery.briefing_id, "channel_id": delivery.channel_id},
            )
        await self.db(
            self.store.mark_delivery,
            delivery.id,
            state,
            error=str(exc),
            not_before=not_before,
            now=now,
        )

    # ---------------------------------------------------------- feed health

    async def notify_feed_health(self) -> int:
        """Queue the feed-health notices that are due (``HealthNotices.queue``)."""
        return await self.notices.queue()


__all__ = [
    "DeliverStore",
    "Deliverer",
    "Publishers",
    "attempt_key",
    "health_text",
    "pause_for",
    "posted_in",
    "retry_wait",
]
