"""The in-memory inverted index of recent story fingerprints the poll path matches
entries against (see ``bot.cluster``)."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from .clusterer import (
    MIN_SHARED,
    SAME_SOURCE_PENALTY,
    SPECIFIC_IDF,
    Placement,
    StoryClusterer,
    _aware,
    _match,
    _place,
)
from .terms import Fingerprint

#: Sources remembered per story (an outlet list, not a log).
_MAX_SOURCES = 64


@dataclass(slots=True)
class _Story:
    fp: Fingerprint
    published: datetime | None
    sources: frozenset[str] = frozenset()
    norm: float = 0.0
    size: float = 0.0  # effective number of terms (see ``StoryClusterer.norm_and_size``)
    norm_docs: int = -1  # corpus size when ``norm`` was computed


class ClusterIndex:
    """An in-memory inverted index of recent story fingerprints for fast matching.

    ``match`` gathers candidates through the postings of the entry's informative terms
    (generic words shared by a large share of stories are skipped there), ranks them by
    that partial score and rescores only the best few exactly, so the poll path stays
    fast with thousands of recent stories. Stories no entry can match any more are
    dropped now and then (see ``prune``).
    """

    _COMMON = 0.01  # a posting longer than this share of the index is a generic word
    _RESCORE = 48  # exact cosine for this many best partial scores
    _PROBE_TERMS = 24  # postings walked per entry (its most telling terms)
    _PRUNE_EVERY = 256
    # A story is one event, so an event's own names and numbers are carried by a few
    # stories in the window (it, its developments, a related story or two); a term that
    # more stories than this carry names a topic, not an event, however large the window.
    _MAX_POSTING = 128

    def __init__(self, clusterer: StoryClusterer | None = None, *, prune: bool = True) -> None:
        self.clusterer = clusterer or StoryClusterer()
        self._prune = prune
        self._stories: dict[int, _Story] = {}
        self._postings: dict[str, dict[int, float]] = {}
        self._latest: datetime | None = None
        self._adds = 0
        self._follows: dict[int, int] = {}  # story -> the story it develops

    def __len__(self) -> int:
        return len(self._stories)

    def fingerprint_of(self, story_id: int) -> Fingerprint | None:
        """The story's current (centroid) fingerprint, e.g. to persist it."""
        story = self._stories.get(story_id)
        return story.fp if story else None

    def add(
        self,
        story_id: int,
        fingerprint: Fingerprint,
        published: datetime | None,
        sources: Iterable[str] = (),
    ) -> None:
        """Add an entry (or a stored story's fingerprint) under ``story_id``: a new
        story, or merged into the existing story's centroid. ``sources`` are the
        outlets it came from (one for an entry). Counts the fingerprint into the
        clusterer's IDF."""
        self.clusterer.observe(fingerprint)
        old = self._stories.get(story_id)
        known = frozenset(s for s in sources if s)
        if old is not None:
            self._unpost(story_id, old.fp)
            fp = old.fp.merged(fingerprint)
            pub = _later(old.published, published)
            if len(old.sources) < _MAX_SOURCES:
                known |= old.sources
            else:
                known = old.sources
        else:
            fp, pub = fingerprint, published
        self._stories[story_id] = _Story(fp, pub, known)
        for term, w in fp.terms.items():
            self._postings.setdefault(term, {})[story_id] = w
        if published is not None:
            self._latest = _later(self._latest, published)
            self._adds += 1
            # A full scan, so only now and then: memory stays bounded either way.
            if self._prune and self._adds % self._PRUNE_EVERY == 0:
                self.prune()

    def match(
        self, fingerprint: Fingerprint, published: datetime | None, source: str | None = None
    ) -> int | None:
        """The story ``fingerprint`` belongs to, or ``None`` for a new one. ``source``
        is the entry's outlet (see ``SAME_SOURCE_PENALTY``)."""
        return self.place(fingerprint, published, source).story_id

    def place(
        self, fingerprint: Fingerprint, published: datetime | None, source: str | None = None
    ) -> Placement:
        """Where the entry goes: the story it reports (``story_id``), or a new story,
        which ``follows`` the earlier story whose next development it reports (see
        ``Fingerprint.develops``) when there is one."""
        if not self._stories:
            return Placement()
        clusterer = self.clusterer
        query, qnorm = clusterer._query(fingerprint)
        qsize = clusterer.norm_and_size(fingerprint)[1]
        limit = min(self._MAX_POSTING, max(32, int(self._COMMON * len(self._stories))))
        partial: dict[int, float] = {}
        # A story must share specific terms to be a candidate (``MIN_SHARED``), so only
        # their postings are walked (generic words would visit every story), and only
        # those of the entry's most telling terms: a report of the same event shares
        # some of its names, places and numbers, not just its minor words.
        specific = [(t, q) for t, q in query.items() if clusterer.idf(t) >= SPECIFIC_IDF]
        telling = [t for t, _ in specific]  # what ``_shared`` counts, looked up once
        if len(specific) > self._PROBE_TERMS:
            specific = heapq.nlargest(self._PROBE_TERMS, specific, key=lambda tq: tq[1])
        for term, q in specific:
            posting = self._postings.get(term)
            if posting is None or len(posting) > limit:
                continue
            for sid, w in posting.items():
                if sid in partial:
                    partial[sid] += q * w
                else:
                    partial[sid] = q * w
        if not partial:
            return Placement()
        if len(partial) > self._RESCORE:
            # What heapq.nlargest returns (ties in the same order), at half its cost here
            ranked = sorted(partial, key=partial.__getitem__, reverse=True)[: self._RESCORE]
        else:
            ranked = list(partial)
        docs = clusterer.documents
        scored: list[tuple[int, float, float]] = []
        for sid in ranked:
            story = self._stories[sid]
            if not clusterer.within_window(published, story.published):
                continue
            # IDF drifts slowly as documents arrive: refresh a story's norm only once
            # the corpus has grown by a tenth since it was computed.
            if story.norm_docs < 0 or docs > story.norm_docs * 1.1 + 4:
                story.norm, story.size = clusterer.norm_and_size(story.fp)
                story.norm_docs = docs
            # Most candidates share one telling term, not two: ruled out before the rest.
            if not _shares(telling, story.fp.terms):
                continue
            bar = clusterer.threshold_for(qsize, story.size)
            if source and source in story.sources:
                bar += SAME_SOURCE_PENALTY
            score = _match(
                clusterer,
                fingerprint.terms,
                query,
                qnorm,
                qsize,
                story.fp.terms,
                story.norm,
                story.size,
            )
            scored.append((sid, score, bar))
        return _place(fingerprint, scored, lambda sid: self._stories[sid].fp, self.kin)

    def link(self, story_id: int, follows: int) -> None:
        """Record that ``story_id`` is the next development of ``follows``: the two are
        one thread, so neither counts as the other's rival in the ratio test."""
        if story_id != follows:
            self._follows[story_id] = follows

    def _root(self, story_id: int) -> int:
        for _ in range(16):  # a thread is short; the bound keeps a cycle harmless
            earlier = self._follows.get(story_id)
            if earlier is None:
                break
            story_id = earlier
        return story_id

    def kin(self, a: int, b: int) -> bool:
        """Whether two stories are one thread (one follows the other, or both follow
        the same earlier story)."""
        return bool(self._follows) and self._root(a) == self._root(b)

    def _unpost(self, story_id: int, fp: Fingerprint) -> None:
        for term in fp.terms:
            posting = self._postings.get(term)
            if posting is not None:
                posting.pop(story_id, None)
                if not posting:
                    del self._postings[term]

    def prune(self) -> None:
        """Drop stories that no entry can match any more.

        Entries arrive out of order (feeds publish late, backlogs are replayed), and an
        entry matches stories up to one window either side of its own time, so only
        stories more than two windows older than the newest time seen are dropped.
        """
        if self._latest is None:
            return
        horizon = _aware(self._latest) - 2 * self.clusterer.window
        stale = [
            sid
            for sid, s in self._stories.items()
            if s.published is not None and _aware(s.published) < horizon
        ]
        for sid in stale:
            self._unpost(sid, self._stories.pop(sid).fp)

    def shrink(self, keep: int) -> int:
        """Keep the ``keep`` stories with the latest news, dropping the rest (a memory
        budget, ``bot.place``: an entry about a dropped story starts a new one).
        Undated stories go first. Returns how many were dropped."""
        excess = len(self._stories) - max(keep, 0)
        if excess <= 0:
            return 0
        floor = datetime.min
        oldest = heapq.nsmallest(
            excess,
            self._stories,
            key=lambda sid: _aware(self._stories[sid].published or floor),
        )
        for sid in oldest:
            self._unpost(sid, self._stories.pop(sid).fp)
            self._follows.pop(sid, None)
        return len(oldest)


def _shares(telling: list[str], terms: Mapping[str, float]) -> bool:
    """Whether ``terms`` carry at least ``MIN_SHARED`` of the entry's specific terms
    (``_shared`` of the clusterer, with the entry's side looked up once)."""
    found = 0
    for term in telling:
        if term in terms:
            found += 1
            if found >= MIN_SHARED:
                return True
    return False


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if _aware(a) >= _aware(b) else b
