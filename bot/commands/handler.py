"""The ``/brief`` command handler: parse, check admin rights, dispatch, and the reading
commands (help, a topic, search, more, related, topics, feeds, filter).

Adapters (console, Slack, Discord) hand in the command text and an ``Asker`` (who asked,
in which channel, and whether the platform says they are a channel admin) and render
the ``Reply`` that comes back. Nothing here knows a platform.

    text --parse_command--> Command --CommandHandler.handle--> Reply

``CommandHandler.handle`` never raises: a bad argument is a one-line error only the
asker sees, and an unexpected failure is logged and answered with one line too. The
admin commands live in ``bot.commands.admin``.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import time
from collections.abc import Callable

from ..cluster import FOLLOWS_PREFIX
from ..errors import QueryError, SignalDeskError
from ..models import Briefing, Channel, Reply, Topic, Visibility
from ..ports import Clock, Runner
from ..search import (
    MAX_SEARCH_WORDS,
    pick_related,
    query_problem,
    quoted_query,
    rank_search,
    related_query,
    words,
)
from ..telemetry import Telemetry
from ..text import cut, one_line, plural
from ..topics import DEFAULT_TOPICS, default_topic
from .admin import AdminCommands
from .common import (
    CommandStore,
    StoreLookups,
    _capped,
    _error,
    _feed_line,
    _filters_text,
    _info,
    _when,
    shown_feed,
)
from .grammar import (
    ADMIN_ACTIONS,
    HELP_TEXT,
    USAGE,
    Asker,
    Command,
    Export,
    FeedAdd,
    FeedRefresh,
    FeedRemove,
    FilterAdd,
    FilterClear,
    Help,
    Import,
    ListFeeds,
    ListTopics,
    ModeDigest,
    ModeRealtime,
    More,
    Related,
    Search,
    ShowFilters,
    ShowTopic,
    TopicAdd,
    TopicAdopt,
    TopicRemove,
    Usage,
    parse_command,
)
from .overview import ChannelOverviews, Overview

log = logging.getLogger("signaldesk.commands")

TOPIC_RESULTS = 3
SEARCH_RESULTS = 5
SEARCH_POOL = 50  # FTS hits re-ranked in Python
RELATED_RESULTS = 5
RELATED_POOL = 40  # FTS hits screened for related briefings


class CommandHandler(StoreLookups):
    """Runs commands against the store's roles; the admin commands are delegated to
    ``AdminCommands``. ``health`` says what is wrong with the service itself (the
    scheduler's ``health_problem``), shown with ``/brief feeds``.

    Every store call goes through ``runner.first`` (see ``StoreLookups``)."""

    def __init__(
        self,
        store: CommandStore,
        runner: Runner,
        clock: Clock,
        *,
        admin: AdminCommands,
        health: Callable[[], str | None] = lambda: None,
        telemetry: Telemetry | None = None,
    ) -> None:
        super().__init__(store, runner, clock)
        self.admin = admin
        self.health = health
        self.telemetry = telemetry or Telemetry()
        self._overviews = ChannelOverviews(store, runner, clock)

    async def overview(
        self, platform: str, channel_ids: list[str] | None = None, *, admin: bool
    ) -> Overview:
        """A setup screen's facts: the platform's subscribed channels (see ``overview``)."""
        return await self._overviews.overview(platform, channel_ids, admin=admin)

    async def handle(self, text: str, asker: Asker) -> Reply:
        """Parse and run one command. Never raises: every failure is a one-line Reply
        that only the asker sees."""
        started = time.perf_counter()
        command: Command | None = None
        try:
            command = parse_command(text)
            reply = await self.run(command, asker)
            if asker.is_admin and not reply.error and not isinstance(command, ListFeeds):
                reply = await self._with_pause_notice(asker.channel_id, reply)
            return reply
        except asyncio.CancelledError:
            raise
        except SignalDeskError as exc:  # e.g. the database is locked: say so
            log.warning("command %r in %s failed: %s", cut(str(text), 80), asker.channel_id, exc)
            return _error(f"could not run that command: {exc}")
        except Exception:
            log.exception("command %r in %s failed", cut(str(text), 80), asker.channel_id)
            return _error("something went wrong running that command; it has been logged")
        finally:
            name = type(command).__name__.lower() if command is not None else "unparsed"
            self.telemetry.command_took(name, time.perf_counter() - started)

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
                return await self.admin.feed_add(channel, url, name)
            case FeedRemove(ref):
                return await self.admin.feed_remove(channel, ref)
            case FeedRefresh(ref):
                return await self.admin.feed_refresh(channel, ref)
            case TopicAdd(slug, query):
                return await self.admin.topic_add(channel, slug, query)
            case TopicRemove(slug):
                return await self.admin.topic_remove(channel, slug)
            case TopicAdopt(slug):
                return await self.admin.topic_adopt(channel, slug)
            case ModeRealtime():
                return await self.admin.mode_realtime(channel)
            case ModeDigest(at, timezone):
                return await self.admin.mode_digest(channel, at, timezone)
            case FilterAdd(kind, words):
                return await self.admin.filter_add(channel, kind, words)
            case FilterClear():
                return await self.admin.filter_clear(channel)
            case Export():
                return await self.admin.export(channel)
            case Import(url, opml):
                return await self.admin.import_feeds(channel, url, opml)
        return _error("usage: /brief help")  # unreachable while every command is matched

    # ---------------------------------------------------------------- helpers

    async def _with_pause_notice(self, channel_id: str, reply: Reply) -> Reply:
        """Tell an admin, privately, that the bot cannot post here: they can fix it."""
        if reply.visibility != Visibility.ASKER:
            return reply
        channel = await self.db.first(self.store.get_channel, channel_id)
        notice = _pause_text(channel)
        if not notice:
            return reply
        return reply.model_copy(
            update={"text": f"{reply.text}\n{notice}" if reply.text else notice}
        )

    async def _find_topic(self, channel_id: str, slug: str) -> tuple[Topic | None, list[Topic]]:
        topics = await self.db.first(self.store.channel_topics, channel_id)
        own = next((t for t in topics if t.slug == slug), None)
        if own is not None:
            return own, topics
        default = default_topic(slug)
        return (default.as_topic(channel_id) if default else None), topics

    async def _no_feeds_hint(self, channel_id: str) -> str:
        if await self.db.first(self.store.channel_has_feeds, channel_id):
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
        top = rank_search(hits, self.clock.now())[:SEARCH_RESULTS]
        shown = f"top {len(top)} of {len(hits)}" if len(hits) > len(top) else str(len(top))
        return _info(f"Search “{cut(text, 80)}”: {shown}", briefings=top)

    async def _get_briefing(self, channel_id: str, briefing_id: str) -> Briefing | None:
        # Only a briefing routed to the asking channel: another channel's id answers
        # exactly like an unknown one.
        return await self.db.first(self.store.channel_briefing, channel_id, briefing_id)

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
            mine = await self.db.first(self.store.routed_ids, channel_id, ids)
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
            f"({plural(len(b.sources), 'source')})"
            for b in found
            if all(r.id != b.id for r in follows)
        ]
        # The earlier story this one develops comes first, if this channel has it.
        for ref in reversed(follows):
            posted = await self.db.first(self.store.post_state, channel_id, ref.id)
            if posted is not None:
                lines.insert(0, f"  {ref.id}  {ref.created_at:%Y-%m-%d}  {one_line(ref.headline)}")
        head = f"Related to {briefing.id} “{cut(one_line(briefing.headline), 80)}”"
        if not lines:
            return _info(head + ": nothing related found yet.")
        return _info("\n".join([head + ":", *lines, "Read one with /brief more <id>."]))

    async def _topics(self, channel_id: str) -> Reply:
        own = await self.db.first(self.store.channel_topics, channel_id)
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
        # Feed URLs can carry credentials (?api_key=…): whole for admins only.
        feeds = [
            shown_feed(feed, admin=admin)
            for feed in await self.db.first(self.store.channel_feeds, channel_id)
        ]
        channel = await self.db.first(self.store.get_channel, channel_id)
        if not feeds:
            lines = ["This channel follows no feeds. An admin can add one: " + USAGE["feed add"]]
        else:
            lines = [f"This channel follows {plural(len(feeds), 'feed')}:"]
            lines += _capped([_feed_line(feed) for feed in feeds])
            lines.append(self.health() or "")  # the service itself, not one feed
        lines.append(_pause_text(channel))
        reply = _info("\n".join(line for line in lines if line))
        reply.links = [feed.url for feed in feeds]
        return reply

    async def _show_filters(self, channel_id: str) -> Reply:
        channel = await self.db.first(self.store.get_channel, channel_id)
        return _info(_filters_text(channel))


def _pause_text(channel: Channel | None) -> str:
    if channel is None or channel.paused_reason is None:
        return ""
    return (
        f"⚠ Nothing can be posted here since {_when(channel.paused_at)}: "
        f"{one_line(channel.paused_reason)}. Briefings are held, not lost, and go out "
        "once the bot can post here again."
    )
