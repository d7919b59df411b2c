"""What a setup screen shows (Slack's App Home): each subscribed channel of a platform
with its feeds and their health, topics, delivery mode, filters and pause — the same
facts ``/brief feeds``, ``/brief topics`` and ``/brief filter`` give, as data an adapter
lays out. Feed URLs and errors are redacted unless the reader is an admin."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..models import Channel, DeliveryMode, Feed, Topic
from ..text import cut, one_line
from .common import StoreLookups, _filters_text, _number, feed_health, shown_feed

MAX_CHANNELS = 40  # a screen lists at most this many channels (newest first)


@dataclass(frozen=True)
class FeedRow:
    number: int
    name: str
    url: str
    health: str
    ok: bool


@dataclass(frozen=True)
class ChannelOverview:
    channel_id: str  # ``<platform>:<id>``
    mode: str  # "each briefing as it is made" / "one digest a day at 08:30 (Europe/Paris)"
    feeds: list[FeedRow] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)  # "slug: query"
    filters: str = ""
    paused: str | None = None  # what is wrong, when the bot cannot post there

    @property
    def target(self) -> str:
        return self.channel_id.split(":", 1)[1]


@dataclass(frozen=True)
class Overview:
    channels: list[ChannelOverview]
    left_out: int = 0  # channels beyond ``MAX_CHANNELS``


def mode_text(channel: Channel) -> str:
    if channel.mode == DeliveryMode.DIGEST and channel.digest_time:
        return f"one digest a day at {channel.digest_time} ({channel.timezone})"
    return "each briefing as it is made"


def _row(feed: Feed, admin: bool) -> FeedRow:
    shown = shown_feed(feed, admin=admin)
    return FeedRow(
        number=_number(shown),
        name=cut(one_line(shown.display_name), 80),
        url=shown.url,
        health=feed_health(shown),
        ok=not shown.consecutive_failures,
    )


class ChannelOverviews(StoreLookups):
    """Reads the overview in one trip to the store's thread."""

    async def overview(
        self, platform: str, channel_ids: Sequence[str] | None = None, *, admin: bool
    ) -> Overview:
        """The ``platform``'s channels that follow a feed or a topic (only those in
        ``channel_ids`` — platform ids, without the prefix — when given)."""
        wanted = None if channel_ids is None else {f"{platform}:{c}" for c in channel_ids}

        def collect() -> list[tuple[Channel, list[Feed], list[Topic]]]:
            found = []
            for channel in self.store.list_channels():
                if channel.platform != platform:
                    continue
                if wanted is not None and channel.id not in wanted:
                    continue
                feeds = self.store.channel_feeds(channel.id)
                topics = self.store.channel_topics(channel.id)
                if feeds or topics or channel.paused_reason:
                    found.append((channel, feeds, topics))
            return found

        found = await self.db.first(collect)
        # Newest first; channels with no creation time (older stores) last.
        found.sort(key=lambda row: (row[0].created_at is not None, row[0].created_at), reverse=True)
        shown = [
            ChannelOverview(
                channel_id=channel.id,
                mode=mode_text(channel),
                feeds=[_row(feed, admin) for feed in feeds],
                topics=[f"{t.slug}: {cut(one_line(t.query), 120)}" for t in topics],
                filters=_filters_text(channel),
                paused=one_line(channel.paused_reason) if channel.paused_reason else None,
            )
            for channel, feeds, topics in found[:MAX_CHANNELS]
        ]
        return Overview(shown, left_out=max(len(found) - MAX_CHANNELS, 0))
