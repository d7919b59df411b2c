"""Placing an entry in a story: the cluster index, and one source per article.

    entry + article --fingerprint--> ClusterIndex.place --> a new story, or an earlier one

The index is shared state (one entry is placed at a time, under the briefing stage's
lock); it is rebuilt from the stored stories of the clustering window at the first
placement after a start. Links and mirrored texts remember their story, so that one
article carried by several feeds (or syndicated under another link) is one source.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta
from typing import Protocol

from .cluster import ClusterIndex, Fingerprint, StoryClusterer, source_of
from .models import Article, StoredEntry, Story, StoryDoc
from .ports import Clock, Runner, StoryStore
from .urls import canonical_link, mirror_key

LINK_MEMORY = 200_000  # links and mirror texts remembered for one-source-per-article
# What one story costs in memory here: its fingerprint and postings in the index
# (~11.4 kB measured with 76-term fingerprints of BBC articles) and the links and
# mirror texts that remember it (``LINKS_PER_STORY`` at ~250 bytes).
STORY_BYTES = 14_000
LINKS_PER_STORY = 8


def stories_for(budget_bytes: int) -> int:
    """Stories the index may hold within ``budget_bytes``."""
    return max(100, budget_bytes // STORY_BYTES)


class PlaceStore(StoryStore, Protocol):
    """The stories a placement reads and writes."""


class StoryPlacer:
    """Decides which story an entry belongs to (``place``), and keeps the index of the
    recent stories that decision compares against."""

    def __init__(
        self,
        store: PlaceStore,
        runner: Runner,
        clock: Clock,
        clusterer: StoryClusterer,
        *,
        window_hours: float,
        max_stories: int | None = None,
    ) -> None:
        self.store = store
        self.db = runner
        self.clock = clock
        self.clusterer = clusterer
        self.window = timedelta(hours=window_hours)
        self._index: ClusterIndex | None = None
        # The memory budget: past it the stories with the oldest news leave the index
        # (they still match by link), so memory follows the budget, not the window.
        self.max_stories = max_stories
        self.links = LINK_MEMORY if max_stories is None else max_stories * LINKS_PER_STORY
        # Canonical link or mirrored text -> story. Bounded: oldest forgotten.
        self._story_of_link: dict[str, int] = {}
        # Later stories to link to an earlier one once its briefing exists.
        self.pending_follows: dict[int, int] = {}

    async def index(self) -> ClusterIndex:
        if self._index is None:
            since = self.clock.now() - self.window
            docs = await self.db(self.store.recent_story_docs, since)
            index = ClusterIndex(self.clusterer)
            for doc in docs:
                try:
                    fp = Fingerprint.from_json(doc.fingerprint or "")
                except ValueError:
                    fp = self.clusterer.fingerprint(doc.title, doc.text)
                assert doc.story_id is not None
                index.add(doc.story_id, fp, doc.published, doc.sources)
                if doc.follows is not None:
                    index.link(doc.story_id, doc.follows)
                for link in doc.links:
                    self._story_of_link.setdefault(link, doc.story_id)
                if key := mirror_key(doc.text):
                    self._story_of_link.setdefault(key, doc.story_id)
            self._keep_within_budget(index)
            self._index = index
        return self._index

    def _keep_within_budget(self, index: ClusterIndex) -> None:
        """Past ``max_stories``, drop the oldest tenth (a scan, so not at every add)."""
        if self.max_stories is not None and len(index) > self.max_stories:
            index.shrink(self.max_stories * 9 // 10)
        if len(self._story_of_link) > self.links:
            for key in list(
                itertools.islice(self._story_of_link, len(self._story_of_link) - self.links // 2)
            ):
                del self._story_of_link[key]

    async def place(self, entry: StoredEntry, article: Article) -> tuple[Story, bool]:
        """The entry's story, and whether the story already had this very article
        (the same canonical link from another feed)."""
        now = self.clock.now()
        index = await self.index()
        canonical = canonical_link(entry.link)
        mirror = mirror_key(article.text) if article.text else ""
        same = next(
            (self._story_of_link[k] for k in (canonical, mirror) if k and k in self._story_of_link),
            None,
        )
        if same is not None:
            doc = StoryDoc(title=entry.title or article.title, published=entry.published or now)
            return await self.db(self.store.attach_to_story, same, entry, doc, now), True
        title = entry.title or article.title
        text = article.text[:4000]
        fingerprint = await asyncio.to_thread(self.clusterer.fingerprint, title, text)
        doc = StoryDoc(
            title=title,
            text=text[:1000],
            published=entry.published or now,
            fingerprint=fingerprint.to_json(),
        )
        source = source_of(entry.origin or entry.link, f"feed:{entry.feed_id}")
        placed = index.place(fingerprint, doc.published, source)
        story_id = placed.story_id
        if story_id is None:
            doc.follows = placed.follows
            story = await self.db(self.store.create_story, entry, doc, now)
            index.add(story.id, fingerprint, doc.published, (source,))
            if placed.follows is not None:
                index.link(story.id, placed.follows)
            if placed.followed_by is not None:
                # This entry reports the event that an earlier-placed story develops (a
                # late feed): that story now follows this one.
                index.link(placed.followed_by, story.id)
                self.pending_follows[placed.followed_by] = story.id
            for key in (canonical, mirror):
                if key:
                    self._story_of_link[key] = story.id
            self._keep_within_budget(index)
            return story, False
        for key in (canonical, mirror):
            if key:
                self._story_of_link[key] = story_id
        self._keep_within_budget(index)
        # The story keeps the centroid of its entries' fingerprints, so that it survives
        # a restart as the index knew it.
        index.add(story_id, fingerprint, doc.published, (source,))
        centroid = index.fingerprint_of(story_id) or fingerprint
        doc.fingerprint = centroid.to_json()
        return await self.db(self.store.attach_to_story, story_id, entry, doc, now), False


__all__ = ["LINK_MEMORY", "STORY_BYTES", "PlaceStore", "StoryPlacer", "stories_for"]
