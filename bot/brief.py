"""The briefing stage: one stored entry to the outbox.

    entry -> read the article -> place in a story (``bot.place``) -> one briefing per
          view (``bot.tenancy``): condense -> related / follows -> route (``bot.route``)

Blocking work goes off the event loop: store calls through the one writer thread (the
``Runner``), extraction through the ``ParseGate`` (a work-pool process, or a thread),
condensing through ``asyncio.to_thread`` (an
``AsyncCondenser``, network-bound, is awaited on the loop). Placing decides one entry at
a time (the cluster index is shared state); condensing and routing hold only their
story, so a slow model answer for one story does not stall every other story.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Protocol

from .cluster import FOLLOWS_PREFIX
from .condense import load_language_model
from .errors import ExtractError, FetchError, QueryError
from .extract import article_from_entry, extract_article
from .fetch import PAGE_ACCEPT, Fetcher
from .models import (
    HEADLINE_MAX,
    Article,
    Briefing,
    RelatedRef,
    Source,
    SourceText,
    StoredEntry,
    Story,
)
from .parsegate import ParseGate
from .place import StoryPlacer
from .ports import (
    AsyncCondenser,
    BriefingStore,
    ChannelStore,
    Clock,
    Condenser,
    EntryStore,
    FeedStore,
    Runner,
    SearchStore,
    StoryStore,
)
from .route import Router
from .search import RELATED_WINDOW, pick_related, related_query
from .settings import Settings
from .tenancy import View, feed_label, plan_views, view_key
from .text import cut
from .topics import topics_for
from .urls import canonical_link, mirror_key

log = logging.getLogger("signaldesk.engine")
# A paragraph of plain news English for ``warm_up``.
_WARM = (
    "The city council approved the harbour budget on Monday after a two-hour debate. "
    "Officials said work on the new quay would begin in the spring and take two years."
)


class KeyedLock:
    """One asyncio lock per key, kept only while someone holds or waits for it."""

    def __init__(self) -> None:
        self._slots: dict[int, tuple[asyncio.Lock, list[int]]] = {}

    def __len__(self) -> int:
        return len(self._slots)

    @asynccontextmanager
    async def hold(self, key: int) -> AsyncIterator[None]:
        lock, users = self._slots.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._slots[key]


class BriefStore(
    FeedStore,
    EntryStore,
    StoryStore,
    BriefingStore,
    SearchStore,
    ChannelStore,
    Protocol,
):
    """The roles the briefing stage uses (routing writes the outbox: see ``Router``)."""


class Briefer:
    """Briefs stored entries: ``process_entry`` (the poll, the retry pass) and
    ``route_backlog`` (a channel subscribing to a feed others already follow)."""

    def __init__(
        self,
        settings: Settings,
        store: BriefStore,
        runner: Runner,
        *,
        fetcher: Fetcher,
        clock: Clock,
        condenser: Condenser,
        placer: StoryPlacer,
        router: Router,
        parse_gate: ParseGate,
    ) -> None:
        self.settings = settings
        self.store = store
        self.db = runner
        self.fetcher = fetcher
        self.clock = clock
        self.condenser = condenser
        self.placer = placer
        self.router = router
        self._parse_gate = parse_gate  # bounds concurrent large parses (memory)
        self._place_lock = asyncio.Lock()
        self.story_locks = KeyedLock()

    async def process_entry(self, entry: StoredEntry) -> str | None:
        """Extract, cluster, condense and route one new entry, then mark it briefed.
        Returns the briefing id. Safe to repeat for an entry a crash interrupted: an
        entry already placed keeps its story, and routing is idempotent."""
        placed = None
        if entry.story_id is not None:
            placed = await self.db(self.store.get_story, entry.story_id)
        if placed is not None:
            story = placed
        else:
            article = await self.prepare(entry)
            async with self._place_lock:
                story, known = await self.placer.place(entry, article)
            if known and not await self._new_audience(story, entry):
                # An article the story already has, through another feed: no new
                # source, no update (a channel that follows only this feed is routed
                # below, from its own copy).
                await self.db(self.store.mark_briefed, entry.id)
                return story.briefing_id
        async with self.story_locks.hold(story.id):
            # One briefing per set of followed feeds (bot.tenancy): condensed and routed.
            briefings = await self.brief_story(story, entry)
        pending = self.placer.pending_follows
        for later, earlier in [(k, v) for k, v in pending.items() if v == story.id]:
            del pending[later]
            await self._link_later(later, earlier)
        await self.db(self.store.mark_briefed, entry.id)
        return briefings[0].id if briefings else None

    async def prepare(self, entry: StoredEntry) -> Article:
        """The entry's article, read once and saved. Alone, all a process of a fleet
        that does not hold the ``brief`` role (``bot.roles``) does with what it polled
        (the entry stays pending); the one that holds it then finds the article saved."""
        article = await self.db(self.store.saved_article, entry.id)
        if article is None:
            article = await self.read_article(entry)
            await self.db(self.store.save_article, entry.id, article)
        return article

    async def _new_audience(self, story: Story, entry: StoredEntry) -> bool:
        """Whether a channel that follows ``entry``'s feed has not been given the story."""
        audience = await self.db(self.store.story_audience, story.id)
        routed = {channel for channel, _ in await self.db(self.store.story_routes, story.id)}
        return any(f == entry.feed_id and c not in routed for c, f, _ in audience)

    async def _link_later(self, later: int, earlier: int) -> None:
        """A story placed before the event it develops had arrived: record the link
        and put "Follows: …" at the head of its stored related list (what /brief more
        and /brief related read); its post is not sent again."""
        await self.db(self.store.set_story_follows, later, earlier)
        story = await self.db(self.store.get_story, later)
        if story is None:
            return
        async with self.story_locks.hold(later):
            briefing = await self.db(self.store.get_briefing, story.briefing_id)
            if briefing is None:
                return
            briefing.related = await self._with_follows(earlier, briefing.related)
            await self.db(self.store.save_briefing, briefing)

    async def read_article(self, entry: StoredEntry) -> Article:
        """The linked page's article text, else the feed's own text."""
        fallback = article_from_entry(
            entry.title,
            entry.content if len(entry.content) >= len(entry.summary) else entry.summary,
            url=entry.link,
            author=entry.author,
            published=entry.published,
        )
        if not (self.settings.fetch_pages and entry.link):
            return fallback
        try:
            page = await self.fetcher.fetch(entry.link, accept=PAGE_ACCEPT)
            # A page past the work pool's time budget (one that freezes the parser)
            # raises WorkTimeout: the entry fails with that reason, and is retried.
            article = await self._parse_gate.run(
                functools.partial(extract_article, url=page.url),
                page.body,
                size=len(page.body),  # a 5 MB page's tree is large
                what="extracting the article page",
            )
        except (FetchError, ExtractError) as exc:
            log.info("article %s: %s; using the feed's text", entry.link, exc)
            return fallback
        if len(article.text) < len(fallback.text):
            return fallback
        return article.model_copy(
            update={
                "title": article.title or entry.title,
                "published": article.published or entry.published,
                "author": article.author or entry.author,
            }
        )

    async def condense(self, story: Story, view: View | None = None) -> Briefing:
        """Condense the story (with ``view``: only the entries of the view's feeds, under
        the view's names, as the view's briefing id) and save the briefing."""
        material_rows = await self.db(self.store.story_material, story.id)
        briefing_id = story.briefing_id
        if view is not None:
            briefing_id = view.briefing_id
            material_rows = [
                (entry, article, view.labels[entry.feed_id])
                for entry, article, _ in material_rows
                if entry.feed_id in view.labels
            ]
        # One article (or a mirror of it), one source: after the view's feeds are
        # chosen, so that a channel following only the second feed still has its copy.
        seen: set[str] = set()
        unique = []
        for row in material_rows:
            keys = {canonical_link(row[0].link), mirror_key(row[1].text if row[1] else "")} - {""}
            if keys & seen:
                continue
            seen |= keys
            unique.append(row)
        material_rows = unique
        material = [
            SourceText(
                source=Source(
                    publisher=publisher,
                    title=entry.title or (article.title if article else "") or "(untitled)",
                    url=entry.link,
                    entry_id=entry.id,
                    published=entry.published,
                ),
                text=(article.text if article else "") or entry.summary or entry.title,
                summary=entry.summary,
            )
            for entry, article, publisher in material_rows
        ]
        now = self.clock.now()
        if isinstance(self.condenser, AsyncCondenser):
            # Network-bound (the LLM condenser): awaited on the loop, no thread held.
            briefing = await self.condenser.acondense(briefing_id, material, now)
        else:
            # A thread is enough: every pattern is linear (tests/test_regex_linear.py) and
            # an article is capped (bot.text.MAX_ARTICLE_CHARS), so no single call holds
            # the GIL for long; tests/test_responsive.py times commands meanwhile.
            briefing = await asyncio.to_thread(self.condenser.condense, briefing_id, material, now)
        previous = await self.db(self.store.get_briefing, briefing_id)
        update: dict[str, Any] = {"story_id": story.id}
        if previous is not None:
            update |= {"created_at": previous.created_at, "revision": previous.revision + 1}
        briefing = briefing.model_copy(update=update)
        briefing.topics = topics_for(briefing)
        if previous is not None and (previous.headline, previous.lead) == (
            briefing.headline,
            briefing.lead,
        ):
            # A source joined but the story still reads the same: the same question to
            # the index finds the same earlier briefings.
            briefing.related = previous.related
        else:
            briefing.related = await self._related(briefing)
        if story.follows is not None:
            briefing.related = await self._with_follows(story.follows, briefing.related)
        await self.db(self.store.save_briefing, briefing, view=view.key if view else None)
        return briefing

    async def _with_follows(self, story_id: int, related: list[RelatedRef]) -> list[RelatedRef]:
        """``related`` led by the earlier story this one develops ("Follows: …")."""
        earlier = await self.db(self.store.get_story, story_id)
        before = await self.db(self.store.get_briefing, earlier.briefing_id) if earlier else None
        if before is None:
            return related
        ref = RelatedRef(
            id=before.id,
            headline=cut(f"{FOLLOWS_PREFIX}{before.headline}", HEADLINE_MAX),
            created_at=before.created_at,
        )
        return [ref, *(r for r in related if r.id != before.id)][:4]

    async def _related(self, briefing: Briefing, limit: int = 3) -> list[RelatedRef]:
        """Up to ``limit`` earlier briefings about the same things (other stories)."""
        query = related_query(briefing)
        if not query:
            return []
        try:
            search = self.store.related_hits  # among the newest matches only
            found = await self.db(search, query, limit=30, window=RELATED_WINDOW)
        except QueryError:
            return []
        return [
            RelatedRef(id=b.id, headline=b.headline, created_at=b.created_at)
            for b in pick_related(briefing, found, limit)
        ]

    async def route(
        self, briefing: Briefing, story: Story | None = None, *, channels: Sequence[str] = ()
    ) -> int:
        """Outbox rows for the briefing (see ``Router.route``)."""
        return await self.router.route(briefing, story, channels=channels)

    async def brief_story(self, story: Story, entry: StoredEntry | None) -> list[Briefing]:
        """Condense and route a story for every channel that follows one of its feeds: one
        briefing per view (see ``plan_views``). ``entry`` is the entry that just joined
        (None: only route channels that do not have the story yet). Returns the briefings
        made or routed, the story's largest audience first."""
        db, store = self.db, self.store
        audience_rows = await db(store.story_audience, story.id)
        # The story's feeds without its material (the article texts: the condenser reads them).
        story_feeds = await db(store.briefing_feed_ids, story.briefing_id)
        feed_ids = sorted({r[1] for r in audience_rows} | set(story_feeds))
        feeds = {f.id: f for f in [await db(store.get_feed, i) for i in feed_ids] if f is not None}
        audience: dict[str, dict[int, str]] = {}
        for channel_id, feed_id, name in audience_rows:
            if feed_id in feeds:
                audience.setdefault(channel_id, {})[feed_id] = feed_label(feeds[feed_id], name)
        routes = await db(store.story_routes, story.id)
        stored = await db(store.story_views, story.id)
        if not audience:
            # No channel follows the story's feeds (any more). Its own briefing stays current
            # for search and related, unless a channel has already been given it.
            if any(b == story.briefing_id for _, b in routes):
                return []
            labels = {f: feed_label(feeds[f]) for f in story_feeds if f in feeds}
            full = View(story.briefing_id, view_key(labels), labels)
            return [await self.condense(story, full)]
        blocked: frozenset[str] = frozenset()
        while True:
            plans = plan_views(story.briefing_id, audience, routes, blocked)
            fresh = [p.briefing_id for p in plans if p.briefing_id not in stored]
            owners = await db(store.briefing_stories, fresh)
            clash = {b for b, owner in owners.items() if owner != story.id}
            if not clash:
                break
            blocked |= clash  # a 40-bit id of another story: take the next candidate
        routed: dict[str, set[str]] = {}
        for channel_id, briefing_id in routes:
            routed.setdefault(briefing_id, set()).add(channel_id)
        made: list[Briefing] = []
        for plan in plans:
            changed = (
                plan.briefing_id not in stored
                or stored[plan.briefing_id] != plan.key
                or (entry is not None and entry.feed_id in plan.labels)
            )
            targets: Sequence[str] = plan.channels
            briefing = None if changed else await db(store.get_briefing, plan.briefing_id)
            if briefing is None:
                briefing = await self.condense(story, plan)
            else:
                # Nothing new for this view: only channels that do not have it yet (new
                # followers, or channels moving to it) are routed.
                have = routed.get(plan.briefing_id, set())
                targets = [c for c in plan.channels if c not in have]
            if targets:
                await self.route(briefing, story, channels=targets)
            made.append(briefing)
        return made

    async def route_backlog(self, channel_id: str, feed_id: int, limit: int) -> int:
        """Give a channel that just subscribed to an already-followed feed the briefings of
        the stories of the feed's newest ``limit`` entries, each as the channel's own view.
        Returns how many of those entries reached the channel (as a first poll counts)."""
        if limit <= 0:
            return 0
        routed = 0
        done: dict[int, bool] = {}
        for story_id in await self.db(self.store.feed_newest_stories, feed_id, limit):
            if story_id not in done:
                story = await self.db(self.store.get_story, story_id)
                made: list[Briefing] = []
                if story is not None:
                    async with self.story_locks.hold(story.id):
                        made = await self.brief_story(story, None)
                ids = [b.id for b in made]
                done[story_id] = bool(await self.db(self.store.routed_ids, channel_id, ids))
            routed += done[story_id]
        return routed


async def warm_up(briefer: Briefer, now: datetime) -> None:
    """Load what the first briefing needs (the condenser's language model, the
    clusterer's word table) before polling starts. Plainly English text is told apart
    without the model (``bot.words.plainly_english``), but a short summary, a
    headline-only item or another language soon needs it, and loading it takes ~100 MB
    for a moment: loaded then, on top of a poll's own memory, it set the process's peak
    (``bench/poll.py``, realistic, 10,000 feeds: 304 MB against 191 MB warmed up). A
    failure here is only logged: the first briefing loads them instead."""
    sample = [SourceText(source=Source(publisher="SignalDesk", title="Warm-up"), text=_WARM)]
    try:
        await asyncio.to_thread(briefer.placer.clusterer.fingerprint, "Warm-up", _WARM)
        condenser = briefer.condenser
        if not isinstance(condenser, AsyncCondenser):
            await asyncio.to_thread(load_language_model)
            await asyncio.to_thread(condenser.condense, "warm-up", sample, now)
    except Exception:
        log.exception("warming up the briefing stage failed")


__all__ = ["BriefStore", "Briefer", "KeyedLock", "warm_up"]
