"""What the reading and the admin commands share: the reply builders, the feed and
filter lines, and the look-ups both make in the store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from ..errors import QueryError
from ..models import Briefing, Channel, Feed, Reply, Visibility
from ..ports import BriefingStore, ChannelStore, Clock, FeedStore, OutboxStore, Runner, SearchStore
from ..query import Query
from ..redact import redact_text, redact_url
from ..text import cut, one_line, plural

LIST_LINES = 50  # longest list a reply shows before "… and N more"


def _info(
    text: str,
    *,
    briefings: Sequence[Briefing] = (),
    full: bool = False,
    attachment: str | None = None,
    attachment_name: str | None = None,
) -> Reply:
    # Lists, settings and look-ups answer only the asker: a channel is not spammed by
    # one person's questions. Nothing a command returns is posted to the channel.
    return Reply(
        text=text,
        briefings=list(briefings),
        full=full,
        visibility=Visibility.ASKER,
        attachment=attachment,
        attachment_name=attachment_name,
    )


def _error(text: str) -> Reply:
    return Reply(text=one_line(text), error=True, visibility=Visibility.ASKER)


def _when(value: datetime | None) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if value else "never"


def _capped(lines: list[str]) -> list[str]:
    if len(lines) <= LIST_LINES:
        return lines
    return [*lines[:LIST_LINES], f"… and {len(lines) - LIST_LINES} more"]


def explain_query_error(exc: QueryError) -> str:
    """What is wrong with a query, in words a channel admin can act on: the query
    language (``bot.query``) and the store already say it in one line."""
    return str(exc)


class CommandStore(FeedStore, ChannelStore, BriefingStore, SearchStore, OutboxStore, Protocol):
    """The store's roles the commands read and write: feeds, channels (subscriptions,
    topics, filters, mode), briefings, search, and the outbox (what was posted)."""


class StoreLookups:
    """The store look-ups the reading and the admin commands both make.

    Every store call goes through ``runner.first`` (the single writer thread, ahead of
    the poll's queued work), so a command never blocks the event loop, never races the
    pipeline for the database and never waits behind a poll's backlog."""

    def __init__(self, store: CommandStore, runner: Runner, clock: Clock) -> None:
        self.store = store
        self.db = runner
        self.clock = clock

    async def _channel(self, channel_id: str) -> Channel:
        return await self.db.first(self.store.ensure_channel, channel_id, self.clock.now())

    async def _search_hits(
        self, query: Query | str, channel_id: str, limit: int, *, newest: bool = False
    ) -> list[Briefing]:
        return await self.db.first(
            self.store.search_briefings, query, limit=limit, channel_id=channel_id, newest=newest
        )

    async def _channel_feed(self, channel_id: str, feed_id: int) -> Feed | None:
        feeds = await self.db.first(self.store.channel_feeds, channel_id)
        return next((f for f in feeds if f.id == feed_id), None)


def shown_feed(feed: Feed, *, admin: bool = False) -> Feed:
    """The feed as a reader may see it: URLs and errors can carry credentials
    (``?api_key=…``), whole for admins only."""
    if admin:
        return feed
    error = redact_text(feed.last_error) if feed.last_error else None
    return feed.model_copy(update={"url": redact_url(feed.url), "last_error": error})


def feed_health(feed: Feed) -> str:
    """One line on how the feed is doing: ok since when, or failing and why."""
    if feed.consecutive_failures:
        health = (
            f"failing: {plural(feed.consecutive_failures, 'consecutive failure')}, "
            f"last error {_when(feed.last_error_at)}: "
            f"{cut(one_line(feed.last_error or '?'), 160)}; "
            f"last success {_when(feed.last_success_at)}"
        )
    elif feed.last_success_at is None:
        health = "not fetched yet"
    else:
        health = f"ok, last success {_when(feed.last_success_at)}"
        if feed.last_error:
            health += (
                f"; last error {_when(feed.last_error_at)}: {cut(one_line(feed.last_error), 120)}"
            )
    if feed.failed_entries:  # items stored but never briefed, after every retry
        health += f"; {plural(feed.failed_entries, 'item')} could not be briefed (see the log)"
    return health


def _feed_line(feed: Feed) -> str:
    """``/brief feeds``'s line for a feed as the reader may see it (``shown_feed``)."""
    name = cut(one_line(feed.display_name), 80)
    return f"  {_number(feed)}  {name}  <{feed.url}>  {feed_health(feed)}"


def _number(feed: Feed) -> int:
    # The channel's own number for the feed (never the shared id, a global counter that
    # would show whether a URL was known before).
    return feed.ref if feed.ref is not None else feed.id


def _filters_text(channel: Channel | None) -> str:
    include = channel.include_words if channel else []
    exclude = channel.exclude_words if channel else []
    if not include and not exclude:
        return "No filters: this channel gets every briefing of its feeds."
    lines = []
    if include:
        lines.append("Only briefings mentioning: " + ", ".join(include))
    if exclude:
        lines.append("Never briefings mentioning: " + ", ".join(exclude))
    return "\n".join(lines)
