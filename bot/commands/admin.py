"""The admin ``/brief`` commands: topic add/remove/adopt, delivery mode, filters, and
(from ``bot.commands.feeds``) the feed commands. ``CommandHandler`` checks the asker's
admin right before it delegates here."""

from __future__ import annotations

import difflib
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..brief import Briefer
from ..digest import Digests, next_digest_at
from ..errors import QueryError
from ..fetch import Fetcher
from ..ingest import Ingest
from ..models import DeliveryMode, Reply, Topic
from ..ports import Clock, Runner
from ..search import query_problem
from ..settings import Settings
from ..text import cut, plural
from ..topics import DEFAULT_TOPICS, default_topic
from .common import (
    CommandStore,
    _error,
    _filters_text,
    _info,
    explain_query_error,
)
from .feeds import FeedAdmin
from .grammar import MAX_FILTER_WORDS, MAX_TEXT

MAX_TOPICS = 100


class AdminCommands(FeedAdmin):
    """The commands that change what a channel follows and how it gets briefings:
    built from the store's roles and the stages they drive (a new feed is polled and
    briefed by the ingest stage, a backlog routed by the briefing stage, held
    briefings flushed by the digests)."""

    def __init__(
        self,
        store: CommandStore,
        runner: Runner,
        clock: Clock,
        *,
        settings: Settings,
        ingest: Ingest,
        briefer: Briefer,
        digests: Digests,
        fetcher: Fetcher,
    ) -> None:
        super().__init__(store, runner, clock)
        self.settings = settings
        self.ingest = ingest
        self.briefer = briefer
        self.digests = digests
        self.fetcher = fetcher

    async def topic_add(self, channel_id: str, slug: str, query: str) -> Reply:
        if len(query) > MAX_TEXT:
            return _error(f"a topic query is at most {MAX_TEXT} characters")
        costly = query_problem(query)
        if costly:
            return _error(f"that topic query is too broad: {costly}. Use fewer, longer terms")
        try:
            # Reads the query (QueryError says what is wrong) and proves it runs.
            await self._search_hits(query, channel_id, 1)
        except QueryError as exc:
            return _error(
                f"not a valid search query: {explain_query_error(exc)}. Use words, "
                '"quoted phrases", OR, AND, NOT and parentheses, e.g. (china OR chinese) AND ai'
            )
        own = await self.db.first(self.store.channel_topics, channel_id)
        if len(own) >= MAX_TOPICS and slug not in {t.slug for t in own}:
            return _error(f"a channel can have at most {MAX_TOPICS} topics; remove one first")
        await self._channel(channel_id)
        topic = Topic(channel_id=channel_id, slug=slug, query=query)
        await self.db.first(self.store.save_topic, topic)
        verb = "Updated" if slug in {t.slug for t in own} else "Saved"
        return _info(f"{verb} topic {slug}: {query}. Try /brief {slug}")

    async def topic_remove(self, channel_id: str, slug: str) -> Reply:
        removed = await self.db.first(self.store.remove_topic, channel_id, slug)
        if not removed:
            return _error(f"this channel has no topic '{slug}'; see /brief topics")
        return _info(f"Removed topic {slug}.")

    async def topic_adopt(self, channel_id: str, slug: str) -> Reply:
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
            await self.db.first(self.store.save_topic, topic.as_topic(channel_id))
        return _info("Adopted " + ", ".join(t.slug for t in chosen) + ". See /brief topics")

    async def mode_realtime(self, channel_id: str) -> Reply:
        channel = await self._channel(channel_id)
        was_digest = channel.mode == DeliveryMode.DIGEST
        channel = channel.model_copy(update={"mode": DeliveryMode.REALTIME})
        await self.db.first(self.store.save_channel, channel)
        text = "This channel now gets each briefing as it is made."
        # Briefings held for the next digest would otherwise never be posted.
        flushed = await self.digests.flush_held(channel) if was_digest else 0
        if flushed:
            text += f" The {plural(flushed, 'briefing')} held for the digest went out now."
        return _info(text)

    async def mode_digest(self, channel_id: str, at: str, timezone: str | None) -> Reply:
        channel = await self._channel(channel_id)
        zone_name = timezone or channel.timezone or "UTC"
        try:
            ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            return _error(
                f"unknown timezone '{cut(zone_name, 60)}'; use an IANA name such as "
                "Europe/Berlin, America/New_York or UTC"
            )
        now = self.clock.now()
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
        await self.db.first(self.store.save_channel, channel)
        upcoming = next_digest_at(channel, now)
        when = ""
        if upcoming is not None:
            local = upcoming.astimezone(ZoneInfo(zone_name))
            when = f" Next: {local:%Y-%m-%d %H:%M %Z}."
        return _info(
            f"This channel now gets one digest a day at {at} ({zone_name}) with the top "
            f"briefings since the last one.{when}"
        )

    async def filter_add(self, channel_id: str, kind: str, words: tuple[str, ...]) -> Reply:
        channel = await self._channel(channel_id)
        field = "include_words" if kind == "include" else "exclude_words"
        merged = list(dict.fromkeys([*getattr(channel, field), *words]))
        if len(merged) > MAX_FILTER_WORDS:
            return _error(f"a channel can have at most {MAX_FILTER_WORDS} {kind} words")
        channel = channel.model_copy(update={field: merged})
        await self.db.first(self.store.save_channel, channel)
        return _info(_filters_text(channel))

    async def filter_clear(self, channel_id: str) -> Reply:
        channel = await self._channel(channel_id)
        channel = channel.model_copy(update={"include_words": [], "exclude_words": []})
        await self.db.first(self.store.save_channel, channel)
        return _info("Filters cleared: this channel gets every briefing of its feeds.")
