"""Feed-health notices: each channel following a feed is told once when the feed has
failed ``settings.failure_notice_after`` times in a row, and once when it works again.

Queued from the feeds' recorded health (``queue``) and sent by the delivery stage in
the channel's turn (``send``), exactly once like every message (``bot.deliver``), held
with the channel's other messages while the bot cannot post there.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import UTC, timedelta
from typing import Protocol

from .errors import CannotPost, DeliveryError
from .models import Attempt, DeliveryState, Feed, Notice
from .ports import ChannelStore, Clock, NoticeStore, Publisher, Runner
from .redact import redact_text
from .retries import after_refusal, pause_for, posted_in
from .settings import Settings


class NoticesStore(ChannelStore, NoticeStore, Protocol):
    """The notices queue and the channels it is sent to."""


class HealthNotices:
    """Queues and sends the feed-health notices."""

    def __init__(
        self,
        settings: Settings,
        store: NoticesStore,
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

    @property
    def settle(self) -> timedelta:
        return timedelta(seconds=self.settings.delivery_settle)

    async def queue(self) -> int:
        """Tell each subscribed channel once when a feed has failed
        ``settings.failure_notice_after`` times in a row, and once when it works again.

        Read from the feeds' recorded health rather than hooked into a poll, so that
        whichever path recorded the poll (one feed, a batch of 304s) and whatever
        happened in between (a crash, a restart), the store's ``failure_notice_at``
        decides: each notice is queued once. Returns the notices queued."""
        queued = 0
        wanted = await self.db(self.store.feeds_needing_notice, self.settings.failure_notice_after)
        for feed, kind in wanted:
            # Each channel reads the feed under its own name and number (bot.tenancy).
            text = functools.partial(health_text, feed, kind)
            queued += await self.db(
                self.store.queue_feed_notice, feed.id, kind, text, self.clock.now()
            )
        return queued

    async def send(self, due: Sequence[Notice]) -> int:
        """Send due notices, in order, each exactly once (looked up by its record
        when an earlier attempt may have landed). Returns the notices sent."""
        sent = 0
        for notice in due:
            channel = await self.db(self.store.get_channel, notice.channel_id)
            publisher = self.publishers.get(channel.platform) if channel else None
            if channel is None or publisher is None:
                continue  # no publisher for this platform (yet): keep it queued
            key = f"n{notice.id}"
            try:
                if notice.first_attempt_at is not None and (
                    notice.state == DeliveryState.SENDING or notice.attempts > 0
                ):
                    # Cut off by a crash or a lost answer: look it up by its record.
                    earlier = Attempt(
                        key=key,
                        first_at=notice.first_attempt_at,
                        last_at=notice.attempt_at or notice.first_attempt_at,
                    )
                    found = await publisher.find_attempt(channel, earlier)
                    if found:
                        await self.db(
                            self.store.mark_notice,
                            notice.id,
                            DeliveryState.SENT,
                            message_ref=found,
                            now=self.clock.now(),
                        )
                        continue
                now = self.clock.now()
                attempt = Attempt(key=key, first_at=notice.first_attempt_at or now, last_at=now)
                await self.db(
                    self.store.mark_notice,
                    notice.id,
                    DeliveryState.SENDING,
                    not_before=now + self.settle,
                    now=now,
                )
                result = await publisher.post_text(channel, notice.text, attempt=attempt)
            except DeliveryError as exc:
                now = self.clock.now()
                state, not_before = after_refusal(exc, notice.attempts, self.settings, now)
                await self.db(
                    self.store.mark_notice,
                    notice.id,
                    state,
                    error=str(exc),
                    not_before=not_before,
                    now=now,
                )
                if isinstance(exc, CannotPost):  # held with the channel's other messages
                    await pause_for(self.db, self.store, channel.id, exc, now)
                    break
                continue
            await self.db(
                self.store.mark_notice,
                notice.id,
                DeliveryState.SENT,
                message_ref=result.message_ref,
                now=self.clock.now(),
            )
            sent += 1
            await posted_in(self.db, self.store, channel)
        return sent


def health_text(
    feed: Feed, kind: str, channel_name: str | None = None, ref: int | None = None
) -> str:
    """The notice a channel gets about one of its feeds, under the channel's name and
    number for it (plain text: the publisher escapes it, since a feed's name comes from
    the feed)."""
    name = f"{channel_name or feed.display_name} (feed {ref or feed.id})"
    if kind == "recovered":
        return f"feed {name} is working again."
    since = feed.failing_since or feed.last_error_at
    when = f" since {since.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if since else ""
    error = redact_text(feed.last_error or "unknown error")  # posted for every member
    return (
        f"feed {name} has failed{when}: {error}. "
        f"SignalDesk keeps retrying, less often as it goes on; /brief feeds shows its health."
    )
