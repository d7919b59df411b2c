"""The ports: what the core needs from the outside world, as Protocols.

Implementations live outside ``bot/``: ``storage/`` (SQLite), ``adapters/`` (console,
Slack, Discord). Tests swap in local servers or in-memory stores through these seams.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from .models import (
    Article,
    Briefing,
    Channel,
    Delivery,
    DeliveryKind,
    DeliveryState,
    Feed,
    FeedEntry,
    FetchState,
    Notice,
    NoticeKind,
    PostResult,
    SourceText,
    StoredEntry,
    Story,
    StoryDoc,
    Topic,
)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...


@runtime_checkable
class Publisher(Protocol):
    """Posts into one chat platform. One instance per platform; channels are addressed
    by ``Channel.target`` (the platform's own channel id)."""

    platform: str

    async def post_briefing(self, channel: Channel, briefing: Briefing) -> PostResult:
        """Post a new briefing. Raises ``DeliveryError`` (retryable or not)."""
        ...

    async def update_briefing(
        self, channel: Channel, briefing: Briefing, message_ref: str
    ) -> PostResult:
        """The story gained sources: update the earlier post (edit or thread reply)."""
        ...

    async def post_text(self, channel: Channel, text: str) -> PostResult:
        """A plain notice (feed health, digests' headers); text is untrusted-safe."""
        ...

    async def post_digest(self, channel: Channel, briefings: Sequence[Briefing]) -> PostResult:
        """One message carrying several briefings (digest mode)."""
        ...

    async def find_posted(self, channel: Channel, briefing: Briefing) -> str | None:
        """After a crash mid-delivery: the message id if this briefing was already
        posted to the channel (from the platform's own record), else None."""
        ...


class Condenser(Protocol):
    name: str

    def condense(self, briefing_id: str, material: Sequence[SourceText], now: datetime) -> Briefing:
        """A story's reports (first report first) -> its briefing. The extractive
        condenser is pure and deterministic."""
        ...


@runtime_checkable
class AsyncCondenser(Protocol):
    """A condenser whose work is I/O (a model endpoint): the engine awaits
    ``acondense`` on the event loop instead of running ``condense`` in a thread."""

    name: str

    async def acondense(
        self, briefing_id: str, material: Sequence[SourceText], now: datetime
    ) -> Briefing:
        """As ``Condenser.condense``; never raises for a failed or slow endpoint."""
        ...


@runtime_checkable
class UsageStore(Protocol):
    """A persisted record of LLM token usage per UTC day (``YYYY-MM-DD``), so that a
    restart does not reset the daily budget. Synchronous, like ``Store``: call it
    through the store's writer thread."""

    def llm_usage(self, day: str) -> tuple[int, int]:
        """(prompt tokens, completion tokens) recorded for ``day``; (0, 0) if none."""
        ...

    def add_llm_usage(
        self, day: str, prompt_tokens: int, completion_tokens: int, now: datetime
    ) -> None:
        """Add one request's tokens to ``day``'s record."""
        ...


class Store(Protocol):
    """The engine's state. Synchronous: the engine calls it through a single writer
    thread (``bot.engine.StoreRunner``) so that it never blocks the event loop."""

    # feeds -----------------------------------------------------------------
    def add_feed(
        self, url: str, *, name: str | None, now: datetime, interval_seconds: int = 900
    ) -> tuple[Feed, bool]:
        """Insert (or find) a feed by URL. Returns (feed, created)."""
        ...

    def get_feed(self, feed_id: int) -> Feed | None: ...

    def feed_by_url(self, url: str) -> Feed | None: ...

    def list_feeds(self) -> list[Feed]: ...

    def due_feeds(self, now: datetime, limit: int) -> list[Feed]:
        """Feeds whose next poll time has come, oldest first."""
        ...

    def claim_due_feeds(self, now: datetime, limit: int, lease_until: datetime) -> list[Feed]:
        """Like ``due_feeds``, and moves their next poll time to ``lease_until`` in the
        same transaction (a lease: no second claim while they are being polled)."""
        ...

    def record_fetch(self, feed_id: int, state: FetchState, now: datetime) -> Feed:
        """Store validators, hash, next-poll time and health after a poll."""
        ...

    def record_fetches(self, results: Sequence[tuple[int, FetchState]], now: datetime) -> None:
        """``record_fetch`` for many successful polls, in one transaction."""
        ...

    # entries ---------------------------------------------------------------
    def add_entries(
        self,
        feed_id: int,
        entries: Sequence[FeedEntry],
        now: datetime,
        *,
        brief: Collection[str] | None = None,
    ) -> list[StoredEntry]:
        """Record entries; return only those never seen before for this feed, in feed
        order. The UNIQUE key (feed_id, entry key) decides. New entries are marked
        pending (to brief) — all of them, or only those whose key is in ``brief``; the
        rest are recorded as seen (the first-poll flood guard)."""
        ...

    def pending_entries(self, limit: int) -> list[StoredEntry]:
        """Entries stored but not yet briefed (a crash came in between), oldest first."""
        ...

    def mark_briefed(self, entry_id: int) -> None:
        """The entry's story is condensed and routed: nothing left to resume."""
        ...

    def get_story(self, story_id: int) -> Story | None: ...

    def save_article(self, entry_id: int, article: Article) -> None: ...

    # stories ---------------------------------------------------------------
    def recent_story_docs(self, since: datetime) -> list[StoryDoc]:
        """Stories updated since ``since``, as the clusterer compares them."""
        ...

    def create_story(self, entry: StoredEntry, doc: StoryDoc, now: datetime) -> Story: ...

    def attach_to_story(
        self, story_id: int, entry: StoredEntry, doc: StoryDoc, now: datetime
    ) -> Story: ...

    def set_story_follows(self, story_id: int, follows: int) -> None:
        """Record that ``story_id`` is the next development of ``follows``."""
        ...

    def story_material(self, story_id: int) -> list[tuple[StoredEntry, Article | None, str]]:
        """Every entry of a story with its article (if any) and its feed's display name."""
        ...

    # briefings -------------------------------------------------------------
    def save_briefing(self, briefing: Briefing) -> None:
        """Insert or replace (by id), keeping the full-text index in step."""
        ...

    def get_briefing(self, briefing_id: str) -> Briefing | None: ...

    def search_briefings(
        self, fts_query: str, *, limit: int, channel_id: str | None = None, newest: bool = False
    ) -> list[Briefing]:
        """Briefings matching an FTS5 query, best first (or, with ``newest``, newest
        first). Relevance may be ranked among a window of the newest matches, so that a
        common word costs no more than a rare one. Raises ``QueryError`` when the query
        is not valid FTS5."""
        ...

    def latest_briefings(self, *, limit: int, channel_id: str | None = None) -> list[Briefing]: ...

    def briefing_feed_ids(self, briefing_id: str) -> list[int]: ...

    # channels, topics and subscriptions -------------------------------------
    def ensure_channel(self, channel_id: str, now: datetime) -> Channel: ...

    def get_channel(self, channel_id: str) -> Channel | None: ...

    def save_channel(self, channel: Channel) -> None: ...

    def list_channels(self) -> list[Channel]: ...

    def subscribe(self, channel_id: str, feed_id: int, now: datetime) -> bool:
        """True if the subscription is new."""
        ...

    def unsubscribe(self, channel_id: str, feed_id: int) -> bool: ...

    def channel_feeds(self, channel_id: str) -> list[Feed]: ...

    def forget_old_text(self, before: datetime, limit: int) -> int:
        """Clear the full text of up to ``limit`` entries (and stories) quiet since
        ``before``; keys, titles, links and briefings stay. Returns entries cleared."""
        ...

    def channel_has_feeds(self, channel_id: str) -> bool:
        """Whether the channel follows at least one feed (without loading them)."""
        ...

    def channels_for_feeds(self, feed_ids: Sequence[int]) -> list[Channel]: ...

    def save_topic(self, topic: Topic) -> None: ...

    def remove_topic(self, channel_id: str, slug: str) -> bool: ...

    def channel_topics(self, channel_id: str) -> list[Topic]: ...

    # outbox ----------------------------------------------------------------
    def enqueue_delivery(
        self,
        channel_id: str,
        briefing_id: str,
        *,
        kind: DeliveryKind,
        revision: int,
        state: DeliveryState,
        now: datetime,
    ) -> bool:
        """One outbox row per (channel, briefing, revision); False if it exists."""
        ...

    def due_deliveries(self, now: datetime, limit: int) -> list[Delivery]:
        """Pending and interrupted (``sending``) rows that may be attempted now, in
        creation order per channel."""
        ...

    def mark_delivery(
        self,
        delivery_id: int,
        state: DeliveryState,
        *,
        message_ref: str | None = None,
        error: str | None = None,
        not_before: datetime | None = None,
        now: datetime,
    ) -> None: ...

    def post_state(self, channel_id: str, briefing_id: str) -> DeliveryState | None:
        """The state of the channel's first post of this briefing, or None if none is
        queued."""
        ...

    def supersede_updates(self, channel_id: str, briefing_id: str) -> int:
        """Mark the channel's unsent updates of this briefing superseded (a newer update
        is queued, and every update renders the latest revision)."""
        ...

    def posted_ref(self, channel_id: str, briefing_id: str) -> str | None:
        """The message id of the first post of a briefing in a channel, if sent."""
        ...

    def held_deliveries(self, channel_id: str) -> list[Delivery]: ...

    # feed-health notices -----------------------------------------------------
    def feeds_needing_notice(self, threshold: int) -> list[tuple[Feed, NoticeKind]]:
        """Feeds whose channels have not been told yet that the feed is failing (at
        least ``threshold`` consecutive failures), or that it works again."""
        ...

    def queue_feed_notice(self, feed_id: int, kind: NoticeKind, text: str, now: datetime) -> int:
        """In one transaction: record that the feed's channels were told ``kind``, and
        queue ``text`` for each subscribed channel. Does nothing (returns 0) when the
        feed's state no longer calls for this notice, so a notice is queued once."""
        ...

    def due_notices(self, now: datetime, limit: int) -> list[Notice]:
        """Pending notices that may be sent now, oldest first."""
        ...

    def mark_notice(
        self,
        notice_id: int,
        state: DeliveryState,
        *,
        message_ref: str | None = None,
        error: str | None = None,
        not_before: datetime | None = None,
        now: datetime,
    ) -> None: ...

    def notices(self, channel_id: str | None = None) -> list[Notice]: ...

    def deliveries(self, channel_id: str | None = None) -> list[Delivery]: ...

    def backup(self, target: str) -> None:
        """A consistent copy of the live database."""
        ...

    def close(self) -> None: ...
