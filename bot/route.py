"""Routing: which channels accept a briefing (their include/exclude word filters), and
the stage that turns a briefing into outbox rows (``Router``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from .models import Briefing, Channel, DeliveryKind, DeliveryMode, DeliveryState, Story
from .ports import BriefingStore, ChannelStore, Clock, OutboxStore, Runner
from .search import words


def briefing_words(briefing: Briefing) -> set[str]:
    """The words a filter is matched against: headline, lead, bullets and sections."""
    text = " ".join(
        [
            briefing.headline,
            briefing.lead,
            *(b.text for b in briefing.bullets),
            briefing.what_happened,
            briefing.why_it_matters,
            briefing.what_to_watch,
        ]
    )
    return set(words(text))


def channel_accepts(channel: Channel, briefing: Briefing) -> bool:
    """A channel with include words takes a briefing only if one of them occurs; any
    exclude word keeps it out. Words match whole words, case-insensitively."""
    if not channel.include_words and not channel.exclude_words:
        return True
    present = briefing_words(briefing)

    def hit(phrase: str) -> bool:
        parts = words(phrase)
        return bool(parts) and all(p in present for p in parts)

    if any(hit(w) for w in channel.exclude_words):
        return False
    return not channel.include_words or any(hit(w) for w in channel.include_words)


class RouteStore(ChannelStore, BriefingStore, OutboxStore, Protocol):
    """What routing reads (channels, who a briefing's feeds reach) and writes (outbox)."""


class Router:
    """The routing stage: a briefing to outbox rows, one per channel that accepts it."""

    def __init__(self, store: RouteStore, runner: Runner, clock: Clock) -> None:
        self.store = store
        self.db = runner
        self.clock = clock

    async def route(
        self, briefing: Briefing, story: Story | None = None, *, channels: Sequence[str] = ()
    ) -> int:
        """One outbox row per subscribed channel (or per one of ``channels``) that
        accepts the briefing. A channel that already has the story gets an update, not a
        second post."""
        if channels:
            targets = await self.db(self.store.channels_by_ids, channels)
        else:
            feed_ids = await self.db(self.store.briefing_feed_ids, briefing.id)
            targets = await self.db(self.store.channels_for_feeds, feed_ids)
        now = self.clock.now()
        queued = 0
        for channel in targets:
            if not channel_accepts(channel, briefing):
                continue
            posted = await self.db(self.store.post_state, channel.id, briefing.id)
            if posted is None:
                state = (
                    DeliveryState.HELD
                    if channel.mode == DeliveryMode.DIGEST
                    else DeliveryState.PENDING
                )
                kind: DeliveryKind = "post"
            elif posted in (DeliveryState.SENDING, DeliveryState.SENT):
                # The channel has seen an earlier revision: it gets an update. Older
                # unsent updates are moot, since an update renders the latest revision.
                await self.db(self.store.supersede_updates, channel.id, briefing.id)
                state, kind = DeliveryState.PENDING, "update"
            else:
                continue  # the queued post will render the latest revision anyway
            created = await self.db(
                self.store.enqueue_delivery,
                channel.id,
                briefing.id,
                kind=kind,
                revision=briefing.revision,
                state=state,
                now=now,
            )
            queued += int(created)
        return queued
