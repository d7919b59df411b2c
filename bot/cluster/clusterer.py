"""The clusterer: which recent story an entry's fingerprint belongs to (IDF learned
online, a length-aware bar, containment for a bare headline, a ratio test among
candidates; see ``bot.cluster``)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.models import StoryDoc

from .terms import _MAX_TERMS, Fingerprint, _events_in, _terms, _top, prior_df, prior_idf

#: Similarity at or above which an entry joins a story when two stories compete for it
#: (tuned on the dev sets in ``bench/cluster.py``; see that script for the sweep).
DEFAULT_THRESHOLD = 0.44
#: Ratio test: the evidence for the best story is its similarity plus this share of its
#: lead over the runner-up, so a clear winner needs less than the threshold.
RATIO_WEIGHT = 0.3
#: Added to the bar of a story that already has an entry from the entry's source.
SAME_SOURCE_PENALTY = 0.25
DEFAULT_WINDOW = timedelta(hours=72)
#: Two reports of one event share at least this many specific terms (a name, a place,
#: a number, a rare word): one name in common is a person in the news, not an event.
MIN_SHARED = 2
SPECIFIC_IDF = math.log(20.0)
#: How a related list names the earlier story a development follows.
FOLLOWS_PREFIX = "Follows: "
#: Share of the joining bar a development must reach to be linked to the earlier story
#: (a link is cheap: a wrong one costs a glance, a missing one the context).
FOLLOW_BAR = 2 / 3
#: How many reports the word-frequency prior of the IDF is worth (see ``idf``).
PRIOR_DOCUMENTS: float | None = 1000.0

_LEAD_TOKENS = 100  # content tokens of text kept; later paragraphs are background
# Length-aware bar (see ``StoryClusterer.threshold_for``): slope and the effective
# size (in terms) at which the bar equals the threshold.
_SIZE_SLOPE = 0.5
_SIZE_REFERENCE = 1.0 / math.sqrt(60.0)
_TAIL_TOKENS = 0  # off: reading further measured no gain on the dev sets
_TAIL_WEIGHT = 0.5
_TITLE_WEIGHT = 1.3  # headline words (applied after sublinear tf)


class StoryClusterer:
    """Decides which story an entry belongs to.

    IDF is learned online: every fingerprint passed to :meth:`observe` (``assign``,
    ``cluster_items`` and ``ClusterIndex.add`` do it for you) updates the document
    frequencies, so the longer it runs, the better it knows which words are generic.
    """

    def __init__(
        self, *, threshold: float = DEFAULT_THRESHOLD, window: timedelta = DEFAULT_WINDOW
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        self.threshold = threshold
        self.window = window
        self._df: Counter[str] = Counter()
        self._docs = 0
        self._log_docs = 0.0
        self._idf: dict[str, float] = {}  # memo, valid until the next ``observe``

    # ------------------------------------------------------------------ fingerprints

    def fingerprint(self, title: str, text: str) -> Fingerprint:
        """Fingerprint an entry from its title and (lead) text. Cheap and pure."""
        head, head_boost = _terms(title)
        body, body_boost = _terms(
            text, limit=_LEAD_TOKENS, tail=_TAIL_TOKENS, tail_weight=_TAIL_WEIGHT
        )
        weights: dict[str, float] = {}
        for term in head.keys() | body.keys():
            # Sublinear term frequency: a name repeated ten times is not ten times the
            # evidence, and it must not drown the rest of the lead. Boosts apply after
            # it so that they keep their full effect.
            count = head.get(term, 0.0) + body.get(term, 0.0)
            boost = max(head_boost.get(term, 1.0), body_boost.get(term, 1.0))
            if term in head:
                boost *= _TITLE_WEIGHT
            tf = 1.0 + math.log(count) if count >= 1.0 else count
            weights[term] = tf * boost
        return Fingerprint(terms=_top(weights, _MAX_TERMS), size=1, events=_events_in(head))

    def observe(self, fp: Fingerprint) -> None:
        """Count ``fp``'s terms into the document frequencies used for IDF."""
        self._docs += 1
        self._log_docs = math.log(self._docs + 1)
        self._df.update(fp.terms.keys())
        self._idf.clear()

    def idf(self, term: str) -> float:
        """Inverse document frequency of ``term``: the prior from English word
        frequencies (``prior_df``), worth ``PRIOR_DOCUMENTS`` reports, updated by the
        reports observed since. A cold start thus already knows "earthquake" from
        "Teixeira", and a name that every recent story carries becomes generic as
        the evidence for it grows."""
        value = self._idf.get(term)
        if value is None:
            if PRIOR_DOCUMENTS is None:
                value = prior_idf(term)
            else:
                df = PRIOR_DOCUMENTS * prior_df(term) + self._df.get(term, 0)
                value = math.log((PRIOR_DOCUMENTS + self._docs) / df) if df > 0 else 20.0
            self._idf[term] = value
        return value

    @property
    def documents(self) -> int:
        """How many fingerprints have been observed (the IDF's corpus size)."""
        return self._docs

    # -------------------------------------------------------------------- similarity

    def _query(self, fp: Fingerprint) -> tuple[dict[str, float], float]:
        """The fingerprint prepared for scoring against raw story terms: each weight
        times IDF squared (the story side then needs no IDF look-ups), and the norm of
        the IDF-weighted vector."""
        prepared: dict[str, float] = {}
        square = 0.0
        for term, w in fp.terms.items():
            idf = self.idf(term)
            prepared[term] = w * idf * idf
            square += (w * idf) ** 2
        return prepared, math.sqrt(square)

    def norm(self, fp: Fingerprint) -> float:
        """Length of the IDF-weighted vector of ``fp``."""
        return math.sqrt(sum((w * self.idf(t)) ** 2 for t, w in fp.terms.items()))

    def norm_and_size(self, fp: Fingerprint) -> tuple[float, float]:
        """Length of the IDF-weighted vector of ``fp`` and its effective number of
        terms, ``(sum w)^2 / sum w^2`` over the IDF-weighted weights (a few dominant
        terms count as few, however many minor ones trail behind)."""
        total = square = 0.0
        for t, w in fp.terms.items():
            x = w * self.idf(t)
            total += x
            square += x * x
        if square == 0.0:
            return 0.0, 0.0
        return math.sqrt(square), total * total / square

    def threshold_for(self, size_a: float, size_b: float) -> float:
        """The similarity two fingerprints of these effective sizes must reach.

        Short texts (a headline and a two-sentence lead) share a large part of their
        few terms by chance — the person or place the news is about — so cosine
        between them is noisier than between long ones. The bar therefore rises for
        the shorter of the two like the noise does, with ``1/sqrt(terms)``, and equals
        :attr:`threshold` at a typical lead's size.
        """
        size = max(1.0, min(size_a, size_b))
        bar = self.threshold + _SIZE_SLOPE * (1.0 / math.sqrt(size) - _SIZE_REFERENCE)
        return min(1.0, max(0.5 * self.threshold, bar))

    def similarity(self, a: Fingerprint, b: Fingerprint) -> float:
        """Cosine similarity of the IDF-weighted fingerprints, in [0, 1]."""
        query, qnorm = self._query(a)
        return _score(query, qnorm, b.terms, self.norm(b))

    def within_window(self, a: datetime | None, b: datetime | None) -> bool:
        """True when the two times are within the window (or either is unknown)."""
        if a is None or b is None:
            return True
        return abs(_aware(a) - _aware(b)) <= self.window

    def assign(
        self, doc: StoryDoc, candidates: Sequence[tuple[StoryDoc, Fingerprint]]
    ) -> int | None:
        """The ``story_id`` of the most similar candidate story within the time window
        whose similarity reaches the threshold, or ``None`` to open a new story.

        Candidates are ``(story, story fingerprint)`` pairs; the story's ``published``
        is its latest entry's time. The entry's terms are counted into the IDF. For
        many candidates, keep a :class:`ClusterIndex` instead.
        """
        fp = self.fingerprint(doc.title, doc.text)
        self.observe(fp)
        query, qnorm = self._query(fp)
        qsize = self.norm_and_size(fp)[1]
        own = set(doc.sources)
        scored: list[tuple[int, float, float]] = []
        for story, sfp in candidates:
            if story.story_id is None or not self.within_window(doc.published, story.published):
                continue
            norm, size = self.norm_and_size(sfp)
            bar = self.threshold_for(qsize, size)
            if own.intersection(story.sources):
                bar += SAME_SOURCE_PENALTY
            if _shared(fp.terms, sfp.terms, self) < MIN_SHARED:
                continue
            score = _match(self, fp.terms, query, qnorm, qsize, sfp.terms, norm, size)
            scored.append((story.story_id, score, bar))
        fps = {story.story_id: sfp for story, sfp in candidates if story.story_id is not None}
        return _place(fp, scored, fps.__getitem__).story_id


@dataclass(frozen=True, slots=True)
class Placement:
    """Where an entry goes: ``story_id`` of the story it reports, or ``None`` for a
    new story; a new story ``follows`` the earlier story it develops, if any."""

    story_id: int | None = None
    follows: int | None = None
    #: A new story that is the earlier event of a story already seen (it arrived late).
    followed_by: int | None = None


def _place(
    fp: Fingerprint,
    scored: Sequence[tuple[int, float, float]],
    story_fp: Callable[[int], Fingerprint],
    kin: Callable[[int, int], bool] | None = None,
) -> Placement:
    """Choose among the candidates the entry could join. A story whose next event the
    entry announces is not one it can join; if that story would have won, the entry
    opens a new story that follows it."""
    same: list[tuple[int, float, float]] = []
    earlier: list[tuple[int, float, float]] = []
    later: list[tuple[int, float, float]] = []
    for c in scored:
        story = story_fp(c[0])
        if fp.events and fp.develops(story) is not None:
            earlier.append(c)
        elif story.events and story.develops(fp) is not None:
            # The story reports a next event this entry never speaks of: the entry is
            # the earlier event (a backlog, a late feed), so arrival order cannot merge
            # the two.
            later.append(c)
        else:
            same.append(c)
    if not earlier and not later:
        return Placement(_choose(scored, kin))
    joined = _choose(same, kin)
    if joined is not None:
        return Placement(joined)
    # A next event shares the people and places of the earlier story more than its
    # wording, so linking asks for less than joining.
    follows = _choose([(sid, s, bar * FOLLOW_BAR) for sid, s, bar in earlier])
    followed_by = _choose([(sid, s, bar * FOLLOW_BAR) for sid, s, bar in later])
    return Placement(None, follows, followed_by)


def _choose(
    scored: Sequence[tuple[int, float, float]], kin: Callable[[int, int], bool] | None = None
) -> int | None:
    """The winner among ``(story_id, similarity, bar)`` candidates, or ``None``.

    The best candidate is the one furthest above (or least below) its bar; it wins if
    its similarity plus ``RATIO_WEIGHT`` times its lead over the runner-up's
    similarity reaches its bar (see the module docstring: a ratio test).
    """
    best: tuple[int, float, float] | None = None
    for candidate in scored:
        if best is None or candidate[1] - candidate[2] > best[1] - best[2]:
            best = candidate
    if best is None:
        return None
    story_id, score, bar = best
    # A story of the same thread (the development that follows it) is no rival: it
    # resembles the story by construction.
    runner_up = max(
        (s for sid, s, _ in scored if sid != story_id and not (kin and kin(sid, story_id))),
        default=0.0,
    )
    evidence = score + RATIO_WEIGHT * (score - runner_up)
    return story_id if evidence >= bar else None


def _shared(a: Mapping[str, float], b: Mapping[str, float], clusterer: StoryClusterer) -> int:
    """How many specific terms (used by fewer than one report in twenty) two
    fingerprints share."""
    if len(a) > len(b):
        a, b = b, a
    return sum(1 for t in a if t in b and clusterer.idf(t) >= SPECIFIC_IDF)


def _match(
    clusterer: StoryClusterer,
    entry: Mapping[str, float],
    query: Mapping[str, float],
    qnorm: float,
    qsize: float,
    story: Mapping[str, float],
    norm: float,
    size: float,
) -> float:
    """How well an entry matches a story: their cosine, or, when the smaller of the two
    is found in the larger far better than the two vectors align, that containment
    (see ``_containment``) discounted by the square root of the cosine.

    A bare headline states its story in a few specific words, and a full report of
    the same event carries them among many more of its own; their cosine stays low
    however well they agree, because most of the report's weight lies on words a
    headline has no room for. What tells the same event there is whether the report
    contains the headline's words: all of them, the event's words as well as its
    names (a headline about the same company's strike finds the company, not the
    strike). The cosine's square root discounts a headline whose words the report
    only mentions in passing. Between two texts of like length the containment is no
    higher than that and changes nothing. Both measures are symmetric, so arrival
    order does not matter: a headline joining a report scores what the report joining
    the headline does.
    """
    cos = _score(query, qnorm, story, norm)
    if cos <= 0.0:
        return cos
    # The IDF-weighted mass (sum of weights) of each side, from its norm and
    # effective size: size = mass^2 / norm^2.
    smaller = min(qnorm * math.sqrt(qsize), norm * math.sqrt(size))
    contained = _containment(clusterer, entry, story, smaller)
    return max(cos, math.sqrt(cos) * contained)


def _containment(
    clusterer: StoryClusterer, a: Mapping[str, float], b: Mapping[str, float], smaller: float
) -> float:
    """The share of the smaller fingerprint's IDF-weighted mass (``smaller``) that the
    other carries too: each shared term counts the lesser of its two weights, so a
    headline word a report mentions once counts less than one it leads with."""
    if smaller <= 0.0:
        return 0.0
    if len(a) > len(b):
        a, b = b, a
    common = 0.0
    for term, w in a.items():
        v = b.get(term)
        if v is not None:
            common += min(w, v) * clusterer.idf(term)
    return min(1.0, common / smaller)


def _score(
    query: Mapping[str, float], qnorm: float, terms: Mapping[str, float], norm: float
) -> float:
    """Cosine between a prepared query (see ``StoryClusterer._query``) and raw terms."""
    if qnorm == 0.0 or norm == 0.0:
        return 0.0
    dot = 0.0
    if len(query) <= len(terms):
        for term, q in query.items():
            w = terms.get(term)
            if w is not None:
                dot += q * w
    else:
        for term, w in terms.items():
            q = query.get(term)  # type: ignore[assignment]
            if q is not None:
                dot += q * w
    return min(1.0, dot / (qnorm * norm))


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)
