"""The core's values: what flows through the pipeline and what the ports exchange.

Every model here is platform-free. Text fields hold plain text (never HTML); it is the
renderers in ``adapters/`` that escape it for a platform.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .redact import redact_url

# Briefing limits from the architecture page.
HEADLINE_MAX = 150
LEAD_MAX = 400
BULLET_MAX = 220
BULLET_COUNT = 3
SECTION_FIELDS = ("what_happened", "why_it_matters", "what_to_watch")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=False, extra="forbid")


# --------------------------------------------------------------------------- feeds


class FeedEntry(_Model):
    """One normalized entry of a parsed feed (RSS, Atom or JSON Feed)."""

    guid: str | None = None
    link: str | None = None
    title: str = ""
    summary: str = ""
    content: str = ""
    author: str | None = None
    published: datetime | None = None
    # Where an aggregator's item first appeared (RSS/Atom <source>): its site's URL.
    origin: str | None = None

    @property
    def key(self) -> str:
        """The identity that storage keys on: the guid, else the canonical link,
        else a hash of the title and text (for feeds that give neither)."""
        if self.guid:
            return "guid:" + self.guid.strip()
        if self.link:
            return "link:" + canonical_url(self.link)
        digest = hashlib.sha256((self.title + "\n" + self.summary).encode()).hexdigest()
        return "hash:" + digest[:32]

    @property
    def text(self) -> str:
        """The fullest text the feed itself carries."""
        return self.content if len(self.content) >= len(self.summary) else self.summary


class ParsedFeed(_Model):
    title: str = ""
    link: str | None = None
    format: str = ""  # e.g. "rss20", "atom10", "json11"
    entries: list[FeedEntry] = Field(default_factory=list)
    warning: str | None = None  # set when the parser recovered from malformed input


class Feed(_Model):
    """A feed the service polls, with its fetch state and health."""

    id: int
    url: str
    name: str | None = None
    title: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    content_hash: str | None = None
    interval_seconds: int = 0  # this feed's own poll interval; 0: the service's default
    next_poll_at: datetime
    primed: bool = False  # the first poll (the backlog) has been recorded
    consecutive_failures: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None
    last_success_at: datetime | None = None
    failing_since: datetime | None = None
    created_at: datetime
    # When subscribed channels were told the feed is failing; None once told it
    # recovered (or never told). Kept in the store so a restart never repeats a notice.
    failure_notice_at: datetime | None = None
    # Entries of this feed whose briefing failed every attempt (see Engine._brief_entry).
    failed_entries: int = 0
    # Set when read for one channel: that channel's own number for the feed (what
    # /brief feeds shows and feed remove takes); None elsewhere.
    ref: int | None = None

    @property
    def display_name(self) -> str:
        # Shown to channel members (lists, notices): never a credential in the URL.
        return self.name or self.title or redact_url(self.url)


class FetchState(_Model):
    """What a poll learned about a feed; storage records it."""

    etag: str | None = None
    last_modified: str | None = None
    content_hash: str | None = None
    title: str | None = None
    next_poll_at: datetime
    ok: bool = True
    error: str | None = None
    primed: bool = True


class StoredEntry(_Model):
    """An entry that storage has accepted as new."""

    id: int
    feed_id: int
    key: str
    title: str
    link: str | None = None
    summary: str = ""
    content: str = ""
    author: str | None = None
    published: datetime | None = None
    fetched_at: datetime
    story_id: int | None = None  # set once the entry is placed in a story
    origin: str | None = None  # see ``FeedEntry.origin``


# ------------------------------------------------------------------------- articles


class Article(_Model):
    """The text behind an entry: extracted from its page, or the feed's own content."""

    url: str | None = None
    title: str = ""
    text: str = ""
    author: str | None = None
    published: datetime | None = None
    from_page: bool = False
    # The page's own one-line summary (og:description / meta description), when it has one.
    description: str = ""


class Story(_Model):
    """One real-world event, carried by one or more entries (possibly from several feeds)."""

    id: int
    briefing_id: str
    title: str
    first_seen: datetime
    updated_at: datetime
    follows: int | None = None  # the earlier story whose next development this one is


class StoryDoc(_Model):
    """The clusterer's view of a story or an entry: what it compares."""

    story_id: int | None = None
    title: str
    text: str = ""
    published: datetime | None = None
    fingerprint: str | None = None  # the clusterer's serialized fingerprint, when stored
    follows: int | None = None  # a new story: the earlier story it develops, if any
    links: tuple[str, ...] = ()  # canonical links of its entries (``bot.urls``)
    # Outlets it came from (an entry's one, a story's all), e.g. "example.com".
    sources: tuple[str, ...] = ()


# ------------------------------------------------------------------------ briefings


class Source(_Model):
    """One feed's report of the story."""

    publisher: str
    title: str
    url: str | None = None
    entry_id: int | None = None
    published: datetime | None = None


class SourceText(_Model):
    """One report of a story as a condenser reads it: who published it and its text."""

    source: Source
    text: str  # the article text (or the feed's own text when no page could be had)
    # The publisher's own short summary of the item (the feed's summary, or the page's
    # description): a candidate lead when it is a whole sentence the text bears out.
    summary: str = ""


class Bullet(_Model):
    text: str = Field(max_length=BULLET_MAX)
    source: int = 0  # index into Briefing.sources
    sentence: str = ""  # the source sentence the bullet was taken from


class RelatedRef(_Model):
    id: str
    headline: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class BriefingHit:
    """What finding related briefings reads of a match: no bullets, sections or
    sources (``SearchStore.related_hits``; decoding whole briefings was most of it)."""

    id: str
    story_id: int | None
    headline: str
    lead: str
    created_at: datetime


class Briefing(_Model):
    """The condensed story, as the architecture page draws it."""

    id: str
    story_id: int | None = None
    headline: str = Field(max_length=HEADLINE_MAX)
    lead: str = Field(max_length=LEAD_MAX)
    # One to three; none for a short item (a headline, its outlet and link, nothing to
    # condense yet).
    bullets: list[Bullet] = Field(default_factory=list, max_length=BULLET_COUNT)
    what_happened: str = ""
    why_it_matters: str = ""
    what_to_watch: str = ""
    sources: list[Source] = Field(default_factory=list)
    topics: list[str] = Field(default_factory=list)
    related: list[RelatedRef] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime
    revision: int = 1
    condenser: str = "extractive"
    # The fields a model wrote (each passed the LLM condenser's checks), e.g.
    # ["headline", "lead", "bullet1", "what_happened"]; empty: all extractive.
    written_by_model: list[str] = Field(default_factory=list)

    @property
    def model_note(self) -> str:
        """The quiet line ``/brief more`` shows when a model wrote part of it ("")."""
        if not self.written_by_model:
            return ""
        if any(f in SECTION_FIELDS for f in self.written_by_model):
            return "Sections written by a model from the sources above"
        return "Lead and bullets written by a model from the sources above"

    @property
    def sections(self) -> list[tuple[str, str]]:
        """The three sections that have text, with the labels every renderer shows."""
        labelled = [
            ("What happened", self.what_happened),
            ("Why it matters", self.why_it_matters),
            ("What to watch next", self.what_to_watch),
        ]
        return [(label, text) for label, text in labelled if text.strip()]


def briefing_id_for(seed: str) -> str:
    """A short, stable, URL-safe id (8 base-32 characters) for a story."""
    import base64

    raw = hashlib.sha256(seed.encode()).digest()[:5]
    return base64.b32encode(raw).decode().lower()


# ------------------------------------------------------------------------- channels


class DeliveryMode(StrEnum):
    REALTIME = "realtime"
    DIGEST = "digest"


class Channel(_Model):
    """A place briefings go: ``<platform>:<platform channel id>``, e.g. ``console:general``."""

    id: str
    mode: DeliveryMode = DeliveryMode.REALTIME
    digest_time: str | None = None  # "HH:MM" local time
    timezone: str = "UTC"
    include_words: list[str] = Field(default_factory=list)
    exclude_words: list[str] = Field(default_factory=list)
    last_digest_at: datetime | None = None
    created_at: datetime | None = None
    # Set while the bot cannot post here (``errors.CannotPost``): what is wrong and
    # what to do, since when; deliveries are held until it can post again.
    paused_reason: str | None = None
    paused_at: datetime | None = None

    @property
    def platform(self) -> str:
        return self.id.split(":", 1)[0]

    @property
    def target(self) -> str:
        return self.id.split(":", 1)[1] if ":" in self.id else self.id


class Topic(_Model):
    channel_id: str
    slug: str
    query: str


class DeliveryState(StrEnum):
    HELD = "held"  # waiting for a digest
    PENDING = "pending"  # queued, not yet attempted
    SENDING = "sending"  # handed to the platform; outcome unknown until recorded
    SENT = "sent"
    SUPERSEDED = "superseded"  # an update made moot by a later one, or by the post itself
    FAILED = "failed"  # given up after a permanent error (recorded with the reason)


DeliveryKind = Literal["post", "update"]


class Delivery(_Model):
    """One row of the outbox: one (channel, briefing, revision)."""

    id: int
    channel_id: str
    briefing_id: str
    kind: DeliveryKind = "post"
    revision: int = 1  # the briefing revision this row carries
    state: DeliveryState
    attempts: int = 0
    message_ref: str | None = None  # platform message id (Slack ts, Discord snowflake)
    last_error: str | None = None
    not_before: datetime | None = None
    created_at: datetime
    # The attempt record, written before a message is handed to the platform: when the
    # first and the latest attempt began (the window to look the message up in after a
    # crash or a lost answer), and for a digest the key its part was sent under.
    first_attempt_at: datetime | None = None
    attempt_at: datetime | None = None
    digest_key: str | None = None


NoticeKind = Literal["failing", "recovered"]


class Notice(_Model):
    """A plain-text notice queued for one channel (feed health), delivered with
    ``Publisher.post_text``."""

    id: int
    channel_id: str
    feed_id: int | None = None
    kind: NoticeKind
    text: str
    state: DeliveryState
    attempts: int = 0
    message_ref: str | None = None
    last_error: str | None = None
    not_before: datetime | None = None
    created_at: datetime
    first_attempt_at: datetime | None = None  # the attempt record, as for the outbox
    attempt_at: datetime | None = None


class PostResult(_Model):
    message_ref: str


class Attempt(_Model):
    """One message as the outbox recorded it before handing it to the platform: a key
    unique to the message, sent along with it (Slack message metadata, Discord nonce),
    and the window in which it may have landed. After a crash or a lost answer the
    publisher looks the message up by this record instead of guessing from the
    channel's recent history."""

    key: str
    first_at: datetime  # when the first attempt began (the bot's clock)
    last_at: datetime  # when the latest attempt began
    parent_ref: str | None = None  # a thread reply: the message it replies to


# ---------------------------------------------------------------------------- replies


class Visibility(StrEnum):
    ASKER = "asker"  # only the person who asked (Slack ephemeral, Discord ephemeral)
    CHANNEL = "channel"


class Reply(_Model):
    """What a command answers; adapters render it for their platform."""

    text: str = ""
    briefings: list[Briefing] = Field(default_factory=list)
    full: bool = False  # render briefings with sections and every source (`more`)
    visibility: Visibility = Visibility.ASKER
    error: bool = False
    attachment: str | None = None  # e.g. an OPML export
    attachment_name: str | None = None
    # URLs the text shows as ``<url>`` that the core vouches for (a channel's feeds):
    # an adapter may render those as links. Any other ``<…>`` in the text is just text.
    links: list[str] = Field(default_factory=list)


def canonical_url(url: str) -> str:
    """Normalize a link for identity: lower-case scheme and host, no fragment, no
    default port, tracking parameters dropped."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url.strip()
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if (scheme, port) in {("http", 80), ("https", 443)}:
        port = None
    netloc = host + (f":{port}" if port else "")
    query = urlencode(
        [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not k.lower().startswith(("utm_", "fbclid", "gclid", "mc_"))
        ]
    )
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


class ServiceBeat(_Model):
    """The running service's last sign of life, written to the database each tick so
    that ``signaldesk healthcheck`` (another process) can judge it."""

    at: datetime
    pid: int
    version: str
    # platform -> "up", or what is wrong ("rejected the token", "unreachable")
    platforms: dict[str, str] = Field(default_factory=dict)


class StoreSnapshot(_Model):
    """What the database says about the work, for ``/metrics``: counted at scrape time."""

    feeds_by_health: dict[str, int]  # ok, failing, not fetched
    poll_lag_seconds: float  # how overdue the most overdue feed is (0: none)
    entries_pending: int
    entries_failed: int
    outbox_by_state: dict[str, int]
    notices_by_state: dict[str, int]
    channels: int
    llm_tokens_today: int
