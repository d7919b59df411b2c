"""The ``/brief`` commands: one grammar, parsed once in the core.

Adapters (console, Slack, Discord) hand in the command text and an ``Asker`` (who asked,
in which channel, and whether the platform says they are a channel admin) and render
the ``Reply`` that comes back. Nothing here knows a platform.

    text --parse_command--> Command --CommandHandler.handle--> Reply

``parse_command`` is pure and total: any string gives a command value, with ``Usage``
(a one-line hint) for input it cannot read. ``CommandHandler.handle`` never raises: a
bad argument is a one-line error only the asker sees, and an unexpected failure is
logged and answered with one line too.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import netguard
from .cluster import FOLLOWS_PREFIX
from .digest import flush_held, next_digest_at, parse_hhmm
from .errors import BlockedAddressError, FetchError, ParseError, QueryError, SignalDeskError
from .models import Briefing, Channel, DeliveryMode, Feed, Reply, Topic, Visibility
from .opml import MAX_OPML_BYTES, export_opml, parse_opml
from .redact import redact_text, redact_url
from .search import (
    MAX_SEARCH_WORDS,
    pick_related,
    query_problem,
    quoted_query,
    rank_search,
    related_query,
    words,
)
from .tenancy import route_backlog
from .text import cut, one_line
from .topics import DEFAULT_TOPICS, SLUG_MAX, default_topic, is_valid_slug

if TYPE_CHECKING:  # the engine imports the whole pipeline; commands only call into it
    from .engine import Engine

log = logging.getLogger("signaldesk.commands")

# Longest command text accepted (OPML pasted into ``import`` has its own, larger cap).
MAX_TEXT = 500
MAX_FILTER_WORDS = 50
MAX_TOPICS = 100
MAX_IMPORT_FEEDS = 500
TOPIC_RESULTS = 3
SEARCH_RESULTS = 5
SEARCH_POOL = 50  # FTS hits re-ranked in Python
RELATED_RESULTS = 5
RELATED_POOL = 40  # FTS hits screened for related briefings
LIST_LINES = 50  # longest list a reply shows before "… and N more"


@dataclass(frozen=True)
class Asker:
    """Who sent a command and where. ``is_admin`` is the platform's answer (Slack
    workspace admin or a configured list; Discord Manage Channels), passed in as a fact."""

    channel_id: str
    user_id: str
    is_admin: bool


# ------------------------------------------------------------------ commands


@dataclass(frozen=True)
class Help:
    """``/brief`` or ``/brief help``."""


@dataclass(frozen=True)
class ShowTopic:
    """``/brief <topic>``: the newest briefings matching a saved (or default) topic."""

    slug: str


@dataclass(frozen=True)
class Search:
    """``/brief search <words>``."""

    text: str


@dataclass(frozen=True)
class More:
    """``/brief more <id>``."""

    briefing_id: str


@dataclass(frozen=True)
class Related:
    """``/brief related <id>``."""

    briefing_id: str


@dataclass(frozen=True)
class ListTopics:
    """``/brief topics``."""


@dataclass(frozen=True)
class ListFeeds:
    """``/brief feeds``."""


@dataclass(frozen=True)
class ShowFilters:
    """``/brief filter``: the channel's include and exclude words."""


@dataclass(frozen=True)
class FeedAdd:
    """``/brief feed add <url> [name]`` (admin)."""

    url: str
    name: str | None = None


@dataclass(frozen=True)
class FeedRemove:
    """``/brief feed remove <id|url>`` (admin)."""

    ref: str


@dataclass(frozen=True)
class TopicAdd:
    """``/brief topic add <slug> <query>`` (admin)."""

    slug: str
    query: str


@dataclass(frozen=True)
class TopicRemove:
    """``/brief topic remove <slug>`` (admin)."""

    slug: str


@dataclass(frozen=True)
class TopicAdopt:
    """``/brief topic adopt <slug>|all`` (admin): copy a default topic into the channel."""

    slug: str


@dataclass(frozen=True)
class ModeRealtime:
    """``/brief mode realtime`` (admin)."""


@dataclass(frozen=True)
class ModeDigest:
    """``/brief mode digest <HH:MM> [IANA timezone]`` (admin). ``at`` is ``"HH:MM"``."""

    at: str
    timezone: str | None = None


@dataclass(frozen=True)
class FilterAdd:
    """``/brief filter include|exclude <words>`` (admin)."""

    kind: str  # "include" or "exclude"
    words: tuple[str, ...]


@dataclass(frozen=True)
class FilterClear:
    """``/brief filter clear`` (admin)."""


@dataclass(frozen=True)
class Export:
    """``/brief export`` (admin): the channel's feeds as OPML."""


@dataclass(frozen=True)
class Import:
    """``/brief import <url>`` or ``/brief import <opml text>`` (admin)."""

    url: str | None = None
    opml: str | None = None


@dataclass(frozen=True)
class Usage:
    """Input the grammar cannot read; ``hint`` is the one line to show."""

    hint: str


Command = (
    Help | ShowTopic | Search | More | Related | ListTopics | ListFeeds | ShowFilters
    | FeedAdd | FeedRemove | TopicAdd | TopicRemove | TopicAdopt | ModeRealtime | ModeDigest
    | FilterAdd | FilterClear | Export | Import | Usage
)  # fmt: skip

# What a non-admin is told they cannot do, per admin command.
ADMIN_ACTIONS: dict[type, str] = {
    FeedAdd: "add feeds",
    FeedRemove: "remove feeds",
    TopicAdd: "add topics",
    TopicRemove: "remove topics",
    TopicAdopt: "adopt topics",
    ModeRealtime: "change the delivery mode",
    ModeDigest: "change the delivery mode",
    FilterAdd: "change filters",
    FilterClear: "change filters",
    Export: "export the feed list",
    Import: "import feeds",
}

USAGE: dict[str, str] = {
    "help": "/brief help",
    "topic-show": "/brief <topic>  e.g. /brief china-ai",
    "search": "/brief search <words>",
    "more": "/brief more <id>",
    "related": "/brief related <id>",
    "topics": "/brief topics",
    "feeds": "/brief feeds",
    "feed": "/brief feed add <url> [name]  ·  /brief feed remove <id>",
    "feed add": "/brief feed add <url> [name]",
    "feed remove": "/brief feed remove <id>  (the number shown by /brief feeds)",
    "topic": "/brief topic add <slug> <query>  ·  topic remove <slug>  ·  topic adopt <slug>|all",
    "topic add": "/brief topic add <slug> <query>  e.g. /brief topic add chips nvidia OR tsmc",
    "topic remove": "/brief topic remove <slug>",
    "topic adopt": "/brief topic adopt <slug>|all  (see /brief topics for the defaults)",
    "mode": "/brief mode realtime  ·  /brief mode digest <HH:MM> [timezone]",
    "mode digest": "/brief mode digest <HH:MM> [IANA timezone]  e.g. 08:30 Europe/Berlin",
    "filter": "/brief filter include|exclude <words>  ·  /brief filter clear",
    "export": "/brief export",
    "import": "/brief import <url of an OPML file>  (or paste the OPML after `import`)",
}

HELP_TEXT = """\
SignalDesk: news briefings for this channel. Commands:
/brief <topic>                 the latest briefings on a topic, e.g. /brief china-ai
/brief search <words>          search all briefings of this channel's feeds
/brief more <id>               a full briefing: sections and every source
/brief related <id>            related briefings from other days
/brief topics · /brief feeds   what this channel follows (feeds with their health)
/brief filter                  this channel's include/exclude words
Channel admins:
/brief feed add <url> [name] · feed remove <id>
/brief topic add <slug> <query> · topic remove <slug> · topic adopt <slug>|all
/brief mode realtime · mode digest <HH:MM> [timezone]
/brief filter include|exclude <words> · filter clear
/brief export · import <url or OPML text>"""

# Command words can never be topic slugs: ``/brief feeds`` must not become a topic.
RESERVED = frozenset(
    {"help", "search", "more", "related", "topics", "feeds", "feed", "topic", "mode"}
    | {"filter", "export", "import", "adopt", "add", "remove", "all"}
)

_ID = re.compile(r"^[a-z0-9]{1,40}$")
_PREFIX = re.compile(r"^\s*/brief(?=\s|$)", re.IGNORECASE)
# Slack sends links in command text as <url> or <url|label>.
_SLACK_LINK = re.compile(r"^<([^<>|\s]+)(?:\|[^<>]*)?>$")


def usage() -> str:
    """The help text shown by ``/brief`` and ``/brief help``."""
    return HELP_TEXT


def _usage(key: str, problem: str | None = None) -> Usage:
    hint = "usage: " + USAGE[key]
    return Usage(f"{problem}; {hint}" if problem else hint)


def parse_command(text: str) -> Command:
    """Read one command. Accepts the text with or without the leading ``/brief``.

    Never raises: unreadable input (unknown command, missing or extra argument, too
    long) gives ``Usage`` with a one-line hint."""
    if not isinstance(text, str):
        return Usage("usage: /brief help")
    body = _PREFIX.sub("", text, count=1).strip()
    # ``import`` may carry pasted OPML (many lines, long): split it off before the
    # one-line clean-up and length cap that every other command gets.
    first, raw_rest = _split_first(body)
    if first.lower() == "import":
        return _parse_import(raw_rest.strip())
    if len(body) > MAX_TEXT:
        return Usage(f"that command is too long (at most {MAX_TEXT} characters)")
    body = one_line(body)
    parts = body.split()
    if not parts or parts[0].lower() in {"help", "?", "-h", "--help"}:
        return Help()
    head, args = parts[0].lower(), parts[1:]
    rest = body[len(parts[0]) :].strip()
    match head:
        case "search":
            return Search(rest) if rest else _usage("search", "what should I search for?")
        case "more" | "related":
            if len(args) != 1:
                return _usage(head, "give one briefing id")
            ref = args[0].strip("`'\"<>").lower()
            if not _ID.match(ref):
                return _usage(head, f"'{cut(args[0], 40)}' is not a briefing id")
            return More(ref) if head == "more" else Related(ref)
        case "topics" | "feeds" | "export":
            if args:
                return _usage(head, f"{head} takes no arguments")
            if head == "topics":
                return ListTopics()
            return ListFeeds() if head == "feeds" else Export()
        case "feed":
            return _parse_feed(args, rest)
        case "topic":
            return _parse_topic(args, rest)
        case "mode":
            return _parse_mode(args)
        case "filter":
            return _parse_filter(args, rest)
    if len(parts) == 1:
        slug = parts[0].lstrip("#").lower()
        if is_valid_slug(slug):
            return ShowTopic(slug)
        return Usage(f"unknown command '{cut(parts[0], 40)}'; see /brief help")
    return Usage(
        f"unknown command '{cut(parts[0], 40)}'; to search, try /brief search {cut(body, 60)}"
    )


def _split_first(body: str) -> tuple[str, str]:
    # Split on the first whitespace of any kind (an OPML paste may follow a newline).
    match = re.search(r"\s", body)
    if match is None:
        return body, ""
    return body[: match.start()], body[match.end() :]


def _unwrap_url(token: str) -> str:
    match = _SLACK_LINK.match(token)
    return match.group(1) if match else token


def _parse_feed(args: list[str], rest: str) -> Command:
    if not args:
        return _usage("feed")
    sub = args[0].lower()
    if sub == "add":
        if len(args) < 2:
            return _usage("feed add", "which URL?")
        name = " ".join(args[2:]).strip() or None
        return FeedAdd(_unwrap_url(args[1]), cut(name, 200) if name else None)
    if sub in {"remove", "rm", "delete"}:
        if len(args) != 2:
            return _usage("feed remove", "give one feed id")
        return FeedRemove(_unwrap_url(args[1].lstrip("#")))
    return _usage("feed", f"unknown feed command '{cut(args[0], 30)}'")


def _parse_topic(args: list[str], rest: str) -> Command:
    if not args:
        return _usage("topic")
    sub = args[0].lower()
    if sub == "add":
        if len(args) < 3:
            return _usage("topic add", "give a slug and a query")
        slug = args[1].lower()
        problem = _slug_problem(slug)
        if problem:
            return _usage("topic add", problem)
        query = rest.split(None, 2)[2].strip()
        return TopicAdd(slug, query)
    if sub in {"remove", "rm", "delete", "adopt"}:
        key = "topic adopt" if sub == "adopt" else "topic remove"
        if len(args) != 2:
            return _usage(key, "give one topic name")
        slug = args[1].lstrip("#").lower()
        if sub == "adopt":
            return TopicAdopt(slug) if slug == "all" or is_valid_slug(slug) else _usage(key)
        return (
            TopicRemove(slug) if is_valid_slug(slug) else _usage(key, f"no topic '{cut(slug, 40)}'")
        )
    return _usage("topic", f"unknown topic command '{cut(args[0], 30)}'")


def _slug_problem(slug: str) -> str | None:
    if len(slug) > SLUG_MAX:
        return f"a topic name is at most {SLUG_MAX} characters"
    if not is_valid_slug(slug):
        return "a topic name uses lower-case letters, digits and hyphens, e.g. china-ai"
    if slug in RESERVED:
        return f"'{slug}' is a command word; choose another topic name"
    return None


def _parse_mode(args: list[str]) -> Command:
    if not args:
        return _usage("mode")
    sub = args[0].lower()
    if sub == "realtime":
        return ModeRealtime() if len(args) == 1 else _usage("mode", "realtime takes no arguments")
    if sub == "digest":
        if len(args) not in (2, 3):
            return _usage("mode digest", "give a time and, optionally, a timezone")
        at = parse_hhmm(args[1])
        if at is None:
            return _usage("mode digest", f"'{cut(args[1], 20)}' is not a time like 08:30")
        return ModeDigest(f"{at:%H:%M}", args[2] if len(args) == 3 else None)
    return _usage("mode", f"unknown mode '{cut(args[0], 30)}'")


def _parse_filter(args: list[str], rest: str) -> Command:
    if not args:
        return ShowFilters()
    sub = args[0].lower()
    if sub == "clear":
        return FilterClear() if len(args) == 1 else _usage("filter", "clear takes no arguments")
    if sub in {"include", "exclude"}:
        text = rest.split(None, 1)[1] if len(args) > 1 else ""
        # Commas separate phrases ("open source, ai act"); without commas each word is
        # its own filter.
        pieces = text.split(",") if "," in text else text.split()
        words = tuple(dict.fromkeys(p.strip().lower() for p in pieces if p.strip()))
        if not words:
            return _usage("filter", f"which words should {sub} briefings?")
        if len(words) > MAX_FILTER_WORDS or any(len(w) > 60 for w in words):
            return _usage("filter", f"at most {MAX_FILTER_WORDS} words of up to 60 characters")
        return FilterAdd(sub, words)
    return _usage("filter", f"unknown filter command '{cut(args[0], 30)}'")


def _parse_import(rest: str) -> Command:
    if not rest:
        return _usage("import", "give the URL of an OPML file, or paste one")
    if rest.startswith("<") and not _SLACK_LINK.match(rest):
        if len(rest.encode("utf-8", "replace")) > MAX_OPML_BYTES:
            return Usage(f"that OPML is too large (at most {MAX_OPML_BYTES // 1_000_000} MB)")
        return Import(opml=rest)
    parts = rest.split()
    if len(parts) != 1 or len(rest) > MAX_TEXT:
        return _usage("import", "give one URL")
    return Import(url=_unwrap_url(parts[0]))


# ------------------------------------------------------------------ replies


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


def _plural(count: int, word: str) -> str:
    if count == 1:
        return f"{count} {word}"
    return f"{count} {word[:-1]}ies" if word.endswith("y") else f"{count} {word}s"


def _capped(lines: list[str]) -> list[str]:
    if len(lines) <= LIST_LINES:
        return lines
    return [*lines[:LIST_LINES], f"… and {len(lines) - LIST_LINES} more"]


def explain_query_error(exc: QueryError) -> str:
    """SQLite's FTS5 complaint in words a channel admin can act on."""
    detail = str(exc).removeprefix("not a valid search query: ").removeprefix("fts5: ")
    if detail == 'syntax error near ""':
        return "it ends too early (an unclosed parenthesis, or a trailing AND/OR/NOT)"
    if detail.startswith("no such column: "):
        name = detail.removeprefix("no such column: ")
        return (
            f"'{name}' after a '-' or ':' is read as a column name; "
            'put such words in quotes, e.g. "china-ai"'
        )
    if detail == "unterminated string":
        return "a quote is not closed"
    if detail.startswith("unknown special query"):
        return "a query cannot start with '*'"
    return detail


# ------------------------------------------------------------------ handler


class CommandHandler:
    """Runs commands against the engine's store, fetcher and publishers.

    Every store call goes through ``engine.db.first`` (the single writer thread, ahead of
    the poll's queued work), so a command never blocks the event loop, never races the
    pipeline for the database and never waits behind a poll's backlog."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def handle(self, text: str, asker: Asker) -> Reply:
        """Parse and run one command. Never raises: every failure is a one-line Reply
        that only the asker sees."""
        try:
            command = parse_command(text)
            return await self.run(command, asker)
        except asyncio.CancelledError:
            raise
        except SignalDeskError as exc:  # e.g. the database is locked: say so
            log.warning("command %r in %s failed: %s", cut(str(text), 80), asker.channel_id, exc)
            return _error(f"could not run that command: {exc}")
        except Exception:
            log.exception("command %r in %s failed", cut(str(text), 80), asker.channel_id)
            return _error("something went wrong running that command; it has been logged")

    async def run(self, command: Command, asker: Asker) -> Reply:
        """Run an already parsed command (checks admin rights first)."""
        action = ADMIN_ACTIONS.get(type(command))
        if action and not asker.is_admin:
            return _error(f"only channel admins can {action}")
        channel = asker.channel_id
        match command:
            case Usage(hint):
                return _error(hint)
            case Help():
                return _info(HELP_TEXT)
            case ShowTopic(slug):
                return await self._show_topic(channel, slug)
            case Search(text):
                return await self._search(channel, text)
            case More(briefing_id):
                return await self._more(channel, briefing_id)
            case Related(briefing_id):
                return await self._related(channel, briefing_id)
            case ListTopics():
                return await self._topics(channel)
            case ListFeeds():
                return await self._feeds(channel, admin=asker.is_admin)
            case ShowFilters():
                return await self._show_filters(channel)
            case FeedAdd(url, name):
                return await self._feed_add(channel, url, name)
            case FeedRemove(ref):
                return await self._feed_remove(channel, ref)
            case TopicAdd(slug, query):
                return await self._topic_add(channel, slug, query)
            case TopicRemove(slug):
                return await self._topic_remove(channel, slug)
            case TopicAdopt(slug):
                return await self._topic_adopt(channel, slug)
            case ModeRealtime():
                return await self._mode_realtime(channel)
            case ModeDigest(at, timezone):
                return await self._mode_digest(channel, at, timezone)
            case FilterAdd(kind, words):
                return await self._filter_add(channel, kind, words)
            case FilterClear():
                return await self._filter_clear(channel)
            case Export():
                return await self._export(channel)
            case Import(url, opml):
                return await self._import(channel, url, opml)
        return _error("usage: /brief help")  # unreachable while every command is matched

    # ---------------------------------------------------------------- helpers

    async def _channel(self, channel_id: str) -> Channel:
        engine = self.engine
        return await engine.db.first(engine.store.ensure_channel, channel_id, engine.clock.now())

    async def _find_topic(self, channel_id: str, slug: str) -> tuple[Topic | None, list[Topic]]:
        topics = await self.engine.db.first(self.engine.store.channel_topics, channel_id)
        own = next((t for t in topics if t.slug == slug), None)
        if own is not None:
            return own, topics
        default = default_topic(slug)
        return (default.as_topic(channel_id) if default else None), topics

    async def _search_hits(
        self, query: str, channel_id: str, limit: int, *, newest: bool = False
    ) -> list[Briefing]:
        engine = self.engine
        return await engine.db.first(
            engine.store.search_briefings, query, limit=limit, channel_id=channel_id, newest=newest
        )

    async def _channel_feed(self, channel_id: str, feed_id: int) -> Feed | None:
        feeds = await self.engine.db.first(self.engine.store.channel_feeds, channel_id)
        return next((f for f in feeds if f.id == feed_id), None)

    async def _no_feeds_hint(self, channel_id: str) -> str:
        if await self.engine.db.first(self.engine.store.channel_has_feeds, channel_id):
            return ""
        return (
            " This channel follows no feeds yet; an admin can add one with /brief feed add <url>."
        )

    # ------------------------------------------------------------------ reads

    async def _show_topic(self, channel_id: str, slug: str) -> Reply:
        topic, own = await self._find_topic(channel_id, slug)
        if topic is None:
            names = sorted({t.slug for t in own} | set(DEFAULT_TOPICS))
            close = difflib.get_close_matches(slug, names, n=3, cutoff=0.5)
            suggestion = f" Did you mean {', '.join(close)}?" if close else ""
            return _error(
                f"there is no topic '{slug}' in this channel.{suggestion} "
                f"To search all briefings, try /brief search {slug}"
            )
        costly = query_problem(topic.query)
        if costly:  # saved before the bounds existed: refuse rather than run for seconds
            return _error(
                f"topic '{slug}' has a query that is too broad ({costly}); "
                f"an admin can fix it with /brief topic add {slug} <query>"
            )
        try:
            # Newest first from the index itself: a pool ranked by relevance and sorted
            # here would score every match (slow at a million briefings) and could miss
            # the newest ones.
            hits = await self._search_hits(topic.query, channel_id, TOPIC_RESULTS, newest=True)
        except QueryError as exc:
            return _error(
                f"topic '{slug}' has a query that no longer works ({exc}); "
                f"an admin can fix it with /brief topic add {slug} <query>"
            )
        newest = sorted(hits, key=lambda b: b.created_at, reverse=True)[:TOPIC_RESULTS]
        if not newest:
            return _info(f"No briefings on {slug} yet." + await self._no_feeds_hint(channel_id))
        return _info(f"Latest on {slug}:", briefings=newest)

    async def _search(self, channel_id: str, text: str) -> Reply:
        # User words are always quoted: "china-ai" or a stray quote is text, not syntax.
        every = quoted_query(text)
        if every is None:
            return _error("search needs at least one word; usage: " + USAGE["search"])
        if len(words(text)) > MAX_SEARCH_WORDS:
            return _error(
                f"search takes at most {MAX_SEARCH_WORDS} words; leave out the common ones"
            )
        hits = await self._search_hits(every, channel_id, SEARCH_POOL)
        if not hits:
            # Nothing has every word: fall back to any word (ranked by how many match).
            anyword = quoted_query(text, any_word=True)
            if anyword and anyword != every:
                hits = await self._search_hits(anyword, channel_id, SEARCH_POOL)
        if not hits:
            return _info(
                f"No briefings match “{cut(text, 80)}”." + await self._no_feeds_hint(channel_id)
            )
        top = rank_search(hits, self.engine.clock.now())[:SEARCH_RESULTS]
        shown = f"top {len(top)} of {len(hits)}" if len(hits) > len(top) else str(len(top))
        return _info(f"Search “{cut(text, 80)}”: {shown}", briefings=top)

    async def _get_briefing(self, channel_id: str, briefing_id: str) -> Briefing | None:
        # Only a briefing routed to the asking channel: another channel's id answers
        # exactly like an unknown one.
        engine = self.engine
        return await engine.db.first(engine.store.channel_briefing, channel_id, briefing_id)

    @staticmethod
    def _unknown_id(briefing_id: str) -> Reply:
        return _error(
            f"no briefing with id '{briefing_id}'; ids are shown under each briefing, "
            "or find one with /brief search <words>"
        )

    async def _more(self, channel_id: str, briefing_id: str) -> Reply:
        briefing = await self._get_briefing(channel_id, briefing_id)
        if briefing is None:
            return self._unknown_id(briefing_id)
        if briefing.related:
            # The related list was found across every briefing: keep what this channel has.
            ids = [r.id for r in briefing.related]
            mine = await self.engine.db.first(self.engine.store.routed_ids, channel_id, ids)
            briefing = briefing.model_copy(
                update={"related": [r for r in briefing.related if r.id in mine]}
            )
        return _info("", briefings=[briefing], full=True)

    async def _related(self, channel_id: str, briefing_id: str) -> Reply:
        briefing = await self._get_briefing(channel_id, briefing_id)
        if briefing is None:
            return self._unknown_id(briefing_id)
        hits: list[Briefing] = []
        query = related_query(briefing)
        if query:
            try:
                hits = await self._search_hits(query, channel_id, RELATED_POOL)
            except QueryError:
                hits = []
        found = pick_related(briefing, hits)
        follows = [r for r in briefing.related if r.headline.startswith(FOLLOWS_PREFIX)]
        lines = [
            f"  {b.id}  {b.created_at:%Y-%m-%d}  {one_line(b.headline)}  "
            f"({_plural(len(b.sources), 'source')})"
            for b in found
            if all(r.id != b.id for r in follows)
        ]
        # The earlier story this one develops comes first, if this channel has it.
        for ref in reversed(follows):
            posted = await self.engine.db.first(self.engine.store.post_state, channel_id, ref.id)
            if posted is not None:
                lines.insert(0, f"  {ref.id}  {ref.created_at:%Y-%m-%d}  {one_line(ref.headline)}")
        head = f"Related to {briefing.id} “{cut(one_line(briefing.headline), 80)}”"
        if not lines:
            return _info(head + ": nothing related found yet.")
        return _info("\n".join([head + ":", *lines, "Read one with /brief more <id>."]))

    async def _topics(self, channel_id: str) -> Reply:
        own = await self.engine.db.first(self.engine.store.channel_topics, channel_id)
        lines = (
            ["This channel's topics:"] + [f"  {t.slug}: {t.query}" for t in own]
            if own
            else ["This channel has no topics of its own yet."]
        )
        others = [slug for slug in DEFAULT_TOPICS if slug not in {t.slug for t in own}]
        if others:
            lines.append(
                "Built-in topics (use directly, or an admin can /brief topic adopt <slug>): "
                + ", ".join(others)
            )
        return _info("\n".join(_capped(lines)))

    async def _feeds(self, channel_id: str, *, admin: bool = False) -> Reply:
        feeds = await self.engine.db.first(self.engine.store.channel_feeds, channel_id)
        if not feeds:
            return _info(
                "This channel follows no feeds. An admin can add one: " + USAGE["feed add"]
            )
        lines = [f"This channel follows {_plural(len(feeds), 'feed')}:"]
        # Feed URLs can carry credentials (?api_key=…): whole for admins only.
        lines += _capped([_feed_line(feed, admin=admin) for feed in feeds])
        problem = self.engine.health_problem()  # the service itself, not one feed
        if problem:
            lines.append(problem)
        return _info("\n".join(lines))

    async def _show_filters(self, channel_id: str) -> Reply:
        channel = await self.engine.db.first(self.engine.store.get_channel, channel_id)
        return _info(_filters_text(channel))

    # ----------------------------------------------------------------- admin

    async def _feed_add(self, channel_id: str, url: str, name: str | None) -> Reply:
        engine = self.engine
        try:
            netguard.check_url_syntax(url)
        except BlockedAddressError as exc:
            return _error(f"cannot add {cut(url, 100)}: {exc}")
        current = await engine.db.first(engine.store.channel_feeds, channel_id)
        duplicate = next((f for f in current if f.url == url), None)
        if duplicate is not None:
            return _error(
                f"this channel already follows {one_line(duplicate.display_name)} "
                f"(feed {_number(duplicate)})"
            )
        known = await engine.db.first(engine.store.feed_by_url, url)
        feed, subscribed = await engine.add_feed(channel_id, url, name)
        mine = await self._channel_feed(channel_id, feed.id)
        if not subscribed:  # another admin added it a moment ago
            return _error(
                f"this channel already follows {one_line(name or feed.display_name)} "
                f"(feed {_number(mine or feed)})"
            )
        # One poll now, so the admin learns at once whether the URL is a working feed.
        # The engine's flood guard briefs only the newest few entries of the backlog. A
        # feed other channels follow is polled too (a conditional GET): the answer, and
        # how long it takes, must not tell the admin that another tenant follows it.
        report = await engine.poll_feed(feed)
        fresh = await engine.db.first(engine.store.get_feed, feed.id) or feed
        if report.failures:
            reason = fresh.last_error or (report.errors[-1] if report.errors else "it failed")
            # An unusable URL is not left subscribed: the admin fixes it and adds again.
            await engine.db.first(engine.store.unsubscribe, channel_id, feed.id)
            return _error(
                f"cannot use {cut(url, 100)}: {one_line(reason)}. The feed was not added."
            )
        briefed = report.briefed_entries
        if known is not None:
            # Its backlog was recorded before this channel came: the channel gets the
            # newest few of its stories, as a first poll would give it.
            limit = max(engine.settings.first_poll_limit - briefed, 0)
            briefed += await route_backlog(engine, channel_id, feed.id, limit)
        title = one_line(name or fresh.display_name)
        entries = await engine.db.first(engine.store.feed_entry_count, feed.id)
        if entries == 0:
            return _info(f"Added “{title}” (feed {_number(mine or fresh)}): it has no entries yet.")
        detail = _plural(entries, "entry")
        if briefed:
            detail += f"; briefed the newest {briefed}, the rest are recorded as already seen"
        return _info(f"Added “{title}” (feed {_number(mine or fresh)}): {detail}.")

    async def _feed_remove(self, channel_id: str, ref: str) -> Reply:
        feeds = await self.engine.db.first(self.engine.store.channel_feeds, channel_id)
        feed = next((f for f in feeds if str(_number(f)) == ref or f.url == ref), None)
        if feed is None:
            return _error(
                f"this channel follows no feed '{cut(ref, 80)}'; see /brief feeds for ids"
            )
        await self.engine.db.first(self.engine.store.unsubscribe, channel_id, feed.id)
        return _info(
            f"Removed “{one_line(feed.display_name)}” (feed {_number(feed)}) from this channel."
        )

    async def _topic_add(self, channel_id: str, slug: str, query: str) -> Reply:
        if len(query) > MAX_TEXT:
            return _error(f"a topic query is at most {MAX_TEXT} characters")
        costly = query_problem(query)
        if costly:
            return _error(f"that topic query is too broad: {costly}. Use fewer, longer terms")
        try:
            # Running the query is the only complete FTS5 syntax check.
            await self._search_hits(query, channel_id, 1)
        except QueryError as exc:
            return _error(
                f"not a valid search query: {explain_query_error(exc)}. Use words, "
                '"quoted phrases", OR, AND, NOT and parentheses, e.g. (china OR chinese) AND ai'
            )
        own = await self.engine.db.first(self.engine.store.channel_topics, channel_id)
        if len(own) >= MAX_TOPICS and slug not in {t.slug for t in own}:
            return _error(f"a channel can have at most {MAX_TOPICS} topics; remove one first")
        await self._channel(channel_id)
        topic = Topic(channel_id=channel_id, slug=slug, query=query)
        await self.engine.db.first(self.engine.store.save_topic, topic)
        verb = "Updated" if slug in {t.slug for t in own} else "Saved"
        return _info(f"{verb} topic {slug}: {query}. Try /brief {slug}")

    async def _topic_remove(self, channel_id: str, slug: str) -> Reply:
        removed = await self.engine.db.first(self.engine.store.remove_topic, channel_id, slug)
        if not removed:
            return _error(f"this channel has no topic '{slug}'; see /brief topics")
        return _info(f"Removed topic {slug}.")

    async def _topic_adopt(self, channel_id: str, slug: str) -> Reply:
        if slug == "all":
            chosen = list(DEFAULT_TOPICS.values())
        else:
            default = default_topic(slug)
            if default is None:
                close = difflib.get_close_matches(slug, list(DEFAULT_TOPICS), n=3, cutoff=0.5)
                also = f" Did you mean {', '.join(close)}?" if close else ""
                return _error(
                    f"there is no built-in topic '{slug}'.{also} "
                    f"Built-in: {', '.join(DEFAULT_TOPICS)}"
                )
            chosen = [default]
        await self._channel(channel_id)
        for topic in chosen:
            await self.engine.db.first(self.engine.store.save_topic, topic.as_topic(channel_id))
        return _info("Adopted " + ", ".join(t.slug for t in chosen) + ". See /brief topics")

    async def _mode_realtime(self, channel_id: str) -> Reply:
        engine = self.engine
        channel = await self._channel(channel_id)
        was_digest = channel.mode == DeliveryMode.DIGEST
        channel = channel.model_copy(update={"mode": DeliveryMode.REALTIME})
        await engine.db.first(engine.store.save_channel, channel)
        text = "This channel now gets each briefing as it is made."
        # Briefings held for the next digest would otherwise never be posted.
        flushed = await flush_held(engine, channel) if was_digest else 0
        if flushed:
            text += f" The {_plural(flushed, 'briefing')} held for the digest went out now."
        return _info(text)

    async def _mode_digest(self, channel_id: str, at: str, timezone: str | None) -> Reply:
        engine = self.engine
        channel = await self._channel(channel_id)
        zone_name = timezone or channel.timezone or "UTC"
        try:
            ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            return _error(
                f"unknown timezone '{cut(zone_name, 60)}'; use an IANA name such as "
                "Europe/Berlin, America/New_York or UTC"
            )
        now = engine.clock.now()
        update: dict[str, object] = {
            "mode": DeliveryMode.DIGEST,
            "digest_time": at,
            "timezone": zone_name,
        }
        if channel.mode != DeliveryMode.DIGEST:
            # The first digest covers what arrives from now on: no slot before this
            # moment is owed (see bot.digest).
            update["last_digest_at"] = now
        channel = channel.model_copy(update=update)
        await engine.db.first(engine.store.save_channel, channel)
        upcoming = next_digest_at(channel, now)
        when = ""
        if upcoming is not None:
            local = upcoming.astimezone(ZoneInfo(zone_name))
            when = f" Next: {local:%Y-%m-%d %H:%M %Z}."
        return _info(
            f"This channel now gets one digest a day at {at} ({zone_name}) with the top "
            f"briefings since the last one.{when}"
        )

    async def _filter_add(self, channel_id: str, kind: str, words: tuple[str, ...]) -> Reply:
        channel = await self._channel(channel_id)
        field = "include_words" if kind == "include" else "exclude_words"
        merged = list(dict.fromkeys([*getattr(channel, field), *words]))
        if len(merged) > MAX_FILTER_WORDS:
            return _error(f"a channel can have at most {MAX_FILTER_WORDS} {kind} words")
        channel = channel.model_copy(update={field: merged})
        await self.engine.db.first(self.engine.store.save_channel, channel)
        return _info(_filters_text(channel))

    async def _filter_clear(self, channel_id: str) -> Reply:
        channel = await self._channel(channel_id)
        channel = channel.model_copy(update={"include_words": [], "exclude_words": []})
        await self.engine.db.first(self.engine.store.save_channel, channel)
        return _info("Filters cleared: this channel gets every briefing of its feeds.")

    async def _export(self, channel_id: str) -> Reply:
        feeds = await self.engine.db.first(self.engine.store.channel_feeds, channel_id)
        document = export_opml(f"SignalDesk feeds for {channel_id}", feeds)
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", channel_id).strip("-") or "channel"
        return _info(
            f"{_plural(len(feeds), 'feed')} exported as OPML.",
            attachment=document,
            attachment_name=f"signaldesk-{safe}.opml",
        )

    async def _import(self, channel_id: str, url: str | None, opml: str | None) -> Reply:
        engine = self.engine
        source: str | bytes
        if url is not None:
            try:
                netguard.check_url_syntax(url)
                result = await engine.fetcher.fetch(
                    url, accept="text/x-opml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
                )
            except FetchError as exc:
                return _error(f"cannot fetch {cut(url, 100)}: {exc}")
            source = result.body
        else:
            source = opml or ""
        try:
            outlines = parse_opml(source)
        except ParseError as exc:
            return _error(str(exc))
        if not outlines:
            return _error("the OPML file lists no feeds (no outline has an xmlUrl)")
        current = {f.url for f in await engine.db.first(engine.store.channel_feeds, channel_id)}
        added: list[str] = []
        duplicates: list[str] = []
        refused: list[str] = []
        for feed_url, name in outlines:
            label = one_line(name or feed_url)
            if len(added) >= MAX_IMPORT_FEEDS:
                refused.append(f"{label} (over the limit of {MAX_IMPORT_FEEDS} per import)")
                continue
            try:
                netguard.check_url_syntax(feed_url)
            except BlockedAddressError as exc:
                refused.append(f"{cut(label, 80)} ({exc})")
                continue
            if feed_url in current:
                duplicates.append(label)
                continue
            # Not polled here: an import can list hundreds of feeds. The scheduler polls
            # them on its next cycle (flood guard included); /brief feeds shows health.
            known = await engine.db.first(engine.store.feed_by_url, feed_url)
            feed, subscribed = await engine.add_feed(channel_id, feed_url, name)
            (added if subscribed else duplicates).append(label)
            current.add(feed_url)
            if subscribed and known is not None and known.primed:
                # Followed elsewhere: its next poll brings this channel nothing of the
                # backlog, so the newest few come now, as for any new feed.
                limit = engine.settings.first_poll_limit
                await route_backlog(engine, channel_id, feed.id, limit)
        lines = [
            f"Imported {_plural(len(added), 'feed')}; {len(duplicates)} skipped as "
            f"duplicate; {len(refused)} refused."
        ]
        for title, items in (("Added", added), ("Duplicate", duplicates), ("Refused", refused)):
            if items:
                shown = ", ".join(cut(i, 80) for i in items[:10])
                more = f" … and {len(items) - 10} more" if len(items) > 10 else ""
                lines.append(f"{title}: {shown}{more}")
        if added:
            lines.append("New feeds are fetched on the next poll; check them with /brief feeds.")
        return _info("\n".join(lines))


def _feed_line(feed: Feed, *, admin: bool = False) -> str:
    if not admin:
        error = redact_text(feed.last_error) if feed.last_error else None
        feed = feed.model_copy(update={"url": redact_url(feed.url), "last_error": error})
    if feed.consecutive_failures:
        health = (
            f"failing: {_plural(feed.consecutive_failures, 'consecutive failure')}, "
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
        health += f"; {_plural(feed.failed_entries, 'item')} could not be briefed (see the log)"
    return f"  {_number(feed)}  {cut(one_line(feed.display_name), 80)}  <{feed.url}>  {health}"


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


__all__ = [
    "HELP_TEXT",
    "Asker",
    "Command",
    "CommandHandler",
    "Usage",
    "parse_command",
    "pick_related",
    "rank_search",
    "usage",
]
