"""The storage ports, one Protocol per role (feeds, entries, stories, briefings,
search, channels, outbox, notices, usage, the service's own state); ``Store`` is all of
them at once. Synchronous: every call runs on the writer thread (``Runner``)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from ..models import (
    Article,
    Briefing,
    BriefingHit,
    Channel,
    Delivery,
    DeliveryKind,
    DeliveryState,
    Feed,
    FeedEntry,
    FetchState,
    Notice,
    NoticeKind,
    ServiceBeat,
    StoredEntry,
    StoreSnapshot,
    Story,
    StoryDoc,
    Topic,
)
from ..query import Query
from .services import NoticeText


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

    def reserve_llm_tokens(
        self, day: str, tokens: int, limit: int, now: datetime, until: datetime
    ) -> int | None:
        """Promise ``tokens`` of ``day``'s ``limit`` to a request about to be sent, in
        one step for every process on the database: the reservation's id, or None when
        what is spent, what is promised to requests in flight and ``tokens`` would pass
        ``limit``. A reservation not released by ``until`` (its process died) lapses."""
        ...

    def release_llm_tokens(self, reservation: int) -> None:
        """The request is answered (its tokens are in ``add_llm_usage``) or failed."""
        ...


class FeedStore(Protocol):
    """Feeds and their poll plan (``storage/feeds.py``)."""

    def add_feed(
        self, url: str, *, name: str | None, now: datetime, interval_seconds: int = 0
    ) -> tuple[Feed, bool]:
        """Insert (or find) a feed by URL. Returns (feed, created)."""
        ...

    def get_feed(self, feed_id: int) -> Feed | None: ...

    def feed_by_url(self, url: str) -> Feed | None: ...

    def list_feeds(self) -> list[Feed]: ...

    def claim_due_feeds(self, now: datetime, limit: int, lease_until: datetime) -> list[Feed]:
        """Up to ``limit`` feeds whose next poll time has come, oldest first, and moves
        their next poll time to ``lease_until`` in the same transaction (a lease: no
        second claim while they are being polled). Due
        feeds that no channel follows are passed over, unreturned, and move on the same
        way; a claim looks through a few batches of them for followed ones
        (``subscribe`` makes such a feed due again)."""
        ...

    def record_fetch(self, feed_id: int, state: FetchState, now: datetime) -> Feed:
        """Store validators, hash, next-poll time and health after a poll."""
        ...

    def record_fetches(self, results: Sequence[tuple[int, FetchState]], now: datetime) -> None:
        """``record_fetch`` for many successful polls, in one transaction."""
        ...

    def shift_schedule(self, delta: timedelta) -> int:
        """Move every feed's next poll time by ``delta`` (the wall clock jumped)."""
        ...

    def cap_schedule(self, latest: datetime) -> int:
        """Bring polls planned after ``latest`` forward to it."""
        ...


class EntryStore(Protocol):
    """Feed entries: new-or-seen, pending, failed, their articles (``storage/entries.py``)."""

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

    def pending_entries(self, limit: int, after_id: int = 0) -> list[StoredEntry]:
        """Entries stored but not yet briefed (a crash came in between, or an attempt
        failed), oldest first, from after ``after_id``."""
        ...

    def trim_feed(
        self, feed_id: int, listed: Sequence[FeedEntry], quiet_before: datetime
    ) -> tuple[int, int]:
        """Bound one feed's stored entries (text of the old ones cleared, the oldest
        rows of quiet stories deleted), never touching pending or still-listed ones."""
        ...

    def entry_failed(self, entry_id: int, error: str, now: datetime, max_attempts: int) -> bool:
        """Count a failed briefing attempt; at ``max_attempts`` mark the entry failed
        (no longer pending, counted in its feed's ``failed_entries``). True then."""
        ...

    def mark_briefed(self, entry_id: int) -> None:
        """The entry's story is condensed and routed: nothing left to resume."""
        ...

    def save_article(self, entry_id: int, article: Article) -> None: ...

    def saved_article(self, entry_id: int) -> Article | None:
        """What ``save_article`` saved for the entry (None: nothing yet)."""
        ...

    def forget_old_text(self, before: datetime, limit: int) -> int:
        """Clear the full text of up to ``limit`` entries (and stories) quiet since
        ``before``; keys, titles, links and briefings stay. Returns entries cleared."""
        ...


class StoryStore(Protocol):
    """Stories: the clusters entries are placed in (``storage/stories.py``)."""

    def get_story(self, story_id: int) -> Story | None: ...

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


class BriefingStore(Protocol):
    """Briefings, their views and where they were routed (``storage/briefings.py``)."""

    def save_briefing(self, briefing: Briefing, *, view: str | None = None) -> None:
        """Insert or replace (by id), keeping the full-text index in step. ``view``: the
        feeds (and names) it was condensed from (``bot.tenancy.view_key``)."""
        ...

    def get_briefing(self, briefing_id: str) -> Briefing | None: ...

    def channel_briefing(self, channel_id: str, briefing_id: str) -> Briefing | None:
        """The briefing if it was routed to the channel; else None, as for an unknown id."""
        ...

    def routed_ids(self, channel_id: str, briefing_ids: Sequence[str]) -> set[str]:
        """Which of ``briefing_ids`` were routed to the channel."""
        ...

    def story_audience(self, story_id: int) -> list[tuple[str, int, str | None]]:
        """(channel, feed, the channel's name for it) for each subscription to one of
        the story's feeds."""
        ...

    def story_routes(self, story_id: int) -> list[tuple[str, str]]:
        """(channel, briefing id) routed for the story's briefings, oldest first."""
        ...

    def story_views(self, story_id: int) -> dict[str, str | None]:
        """Briefing id -> view key, for every briefing of the story."""
        ...

    def briefing_stories(self, briefing_ids: Sequence[str]) -> dict[str, int | None]:
        """Briefing id -> story id, for the ids that exist."""
        ...

    def latest_briefings(self, *, limit: int, channel_id: str | None = None) -> list[Briefing]: ...

    def briefing_feed_ids(self, briefing_id: str) -> list[int]: ...


class SearchStore(Protocol):
    """Full-text search over briefings (``storage/textsearch.py``)."""

    def search_briefings(
        self,
        query: Query | str,
        *,
        limit: int,
        channel_id: str | None = None,
        newest: bool = False,
        window: int | None = None,
    ) -> list[Briefing]:
        """Briefings matching a query (``bot.query``; a text is read with
        ``parse_query``), best first (or, with ``newest``, newest first). Relevance may be
        ranked among a window of the newest matches (``window`` of them, else the
        store's own), so that a common word costs no more than a rare one. Raises
        ``QueryError`` (one line) when the query is not valid."""
        ...

    def related_hits(self, query: Query, *, limit: int, window: int) -> list[BriefingHit]:
        """``search_briefings`` (in every channel, ranked among the newest ``window``
        matches), each match only as a ``BriefingHit``."""
        ...


class ChannelStore(Protocol):
    """Channels, their subscriptions and topics (``storage/channels.py``)."""

    def ensure_channel(self, channel_id: str, now: datetime) -> Channel: ...

    def get_channel(self, channel_id: str) -> Channel | None: ...

    def save_channel(self, channel: Channel) -> None: ...

    def list_channels(self) -> list[Channel]: ...

    def pause_channel(
        self, channel_id: str, reason: str, now: datetime, probe_after: datetime
    ) -> bool:
        """Hold the channel's deliveries (the bot cannot post there) until a probe at
        ``probe_after`` or ``unpause_channel``. True when it was not paused before."""
        ...

    def probe_channel(self, channel_id: str, now: datetime) -> bool:
        """Try a paused channel's held head at once. True when it was paused."""
        ...

    def unpause_channel(self, channel_id: str) -> bool:
        """Deliveries flow again. True when the channel was paused."""
        ...

    def subscribe(
        self, channel_id: str, feed_id: int, now: datetime, *, name: str | None = None
    ) -> bool:
        """True if the subscription is new. ``name``: the channel's own name for it."""
        ...

    def unsubscribe(self, channel_id: str, feed_id: int) -> bool: ...

    def channel_feeds(self, channel_id: str) -> list[Feed]: ...

    def channel_has_feeds(self, channel_id: str) -> bool:
        """Whether the channel follows at least one feed (without loading them)."""
        ...

    def channels_for_feeds(self, feed_ids: Sequence[int]) -> list[Channel]: ...

    def channels_by_ids(self, channel_ids: Sequence[str]) -> list[Channel]: ...

    def feed_entry_count(self, feed_id: int) -> int: ...

    def feed_newest_stories(self, feed_id: int, limit: int) -> list[int]:
        """The story of each of the feed's newest ``limit`` placed entries, newest first."""
        ...

    def save_topic(self, topic: Topic) -> None: ...

    def remove_topic(self, channel_id: str, slug: str) -> bool: ...

    def channel_topics(self, channel_id: str) -> list[Topic]: ...


class OutboxStore(Protocol):
    """The outbox: posts, updates and digest parts, exactly once (``storage/outbox.py``)."""

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

    def start_digest_part(self, delivery_ids: Sequence[int], key: str, now: datetime) -> int:
        """Record, before sending, that these held rows go out as one digest message
        under ``key``. Returns the rows recorded."""
        ...

    def digest_parts_in_flight(self, channel_id: str | None = None) -> list[list[Delivery]]:
        """Recorded digest parts not known to be sent, each as its rows."""
        ...

    def retry_digest_part(self, key: str, now: datetime, not_before: datetime) -> None:
        """An attempt at a recorded digest part begins; if it is interrupted, the part
        is looked up no sooner than ``not_before``."""
        ...

    def delay_digest_part(self, key: str, not_before: datetime, error: str) -> None:
        """The part's attempt failed: retry it from ``not_before``."""
        ...

    def finish_digest_part(
        self,
        key: str,
        state: DeliveryState,
        *,
        message_ref: str | None = None,
        error: str | None = None,
        now: datetime,
    ) -> int:
        """The part is ``SENT`` (with its message) or back to ``HELD`` for the next digest."""
        ...

    def deliveries(self, channel_id: str | None = None) -> list[Delivery]: ...


class NoticeStore(Protocol):
    """Feed-health notices, the outbox's second queue (``storage/outbox.py``)."""

    def feeds_needing_notice(self, threshold: int) -> list[tuple[Feed, NoticeKind]]:
        """Feeds whose channels have not been told yet that the feed is failing (at
        least ``threshold`` consecutive failures), or that it works again."""
        ...

    def queue_feed_notice(
        self, feed_id: int, kind: NoticeKind, text: str | NoticeText, now: datetime
    ) -> int:
        """In one transaction: record that the feed's channels were told ``kind``, and
        queue ``text`` for each subscribed channel (a ``NoticeText`` is called with the
        channel's own name and number for the feed). Does nothing (returns 0) when the
        feed's state no longer calls for this notice, so a notice is queued once."""
        ...

    def due_notices(self, now: datetime, limit: int) -> list[Notice]:
        """Pending notices that may be sent now, and those a crash left "sending" with
        an attempt record, oldest first."""
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


class ServiceStore(Protocol):
    """The running service's own state: its heartbeat (for ``signaldesk healthcheck``
    in another process) and the work counted for ``/metrics``."""

    def record_heartbeat(
        self, at: datetime, *, pid: int, version: str, platforms: Mapping[str, str]
    ) -> None: ...

    def service_heartbeat(self) -> ServiceBeat | None: ...

    def metrics_snapshot(self, now: datetime) -> StoreSnapshot: ...


class Store(
    FeedStore,
    EntryStore,
    StoryStore,
    BriefingStore,
    SearchStore,
    ChannelStore,
    OutboxStore,
    NoticeStore,
    ServiceStore,
    Protocol,
):
    """Every role at once (``storage.SqliteStore``), for the composition root; a stage
    takes only the roles it uses. Synchronous: called through the ``Runner``."""

    def backup(self, target: str, progress: Callable[[int, int], None] | None = None) -> int:
        """A consistent copy of the live database at ``target``; ``progress(done,
        total)`` is called as it goes. Returns the copy's size in bytes."""
        ...

    def close(self) -> None: ...
