"""Story clustering: decide whether a new entry reports a story we have already seen.

Two feeds that report the same event should give one briefing with two sources; two
different events of the same kind (two earthquakes, two product launches) must stay
apart. The clusterer compares a cheap, storable *fingerprint* of each entry — weighted
title and lead-text terms — with the fingerprints of recent stories.

Why it works the way it does:

- Same-event reports share the *specific* words of the event: names, places, numbers,
  rare verbs. Different events of the same kind share the *generic* words ("earthquake",
  "magnitude", "killed"). So terms are weighted by an IDF that is learned online from
  everything the clusterer has seen, and name-like tokens (capitalised mid-sentence,
  numbers) get an extra boost.
- Outlets frame headlines differently, so the lead text counts as much as the title; the
  lead (not the whole article) is used because later paragraphs drift into background
  shared by many related stories.
- Numbers are compared as numbers ("$5.4bn" and "5.4 billion" share "5.4") and
  hyphenated compounds by their words ("Hsinchu-based" shares "Hsinchu").
- The bar an entry must clear depends on the texts' effective length: two short leads
  about the same person share much by chance, two long reports little, so short texts
  need a higher cosine (see ``StoryClusterer.threshold_for``).
- A bare headline against a full report is judged by containment: the share of the
  shorter side's weighted terms the longer one carries (see ``_match``), since their
  cosine is low by construction, whichever of the two arrived first.
- A story's fingerprint is the centroid of its entries' fingerprints, so the store keeps
  one compact JSON string per story and a long-running story does not chain into a
  neighbouring one the way single-link clustering does.
- A ratio test, as in feature matching: an entry that resembles one recent story far
  more than any other needs a little less similarity to join it, and one that sits
  between two similar stories (the preview, the event and the row after it) needs more.
- An outlet rarely reports one event twice within the window; its second article is
  more often the next development. So a story that already has an entry from the same
  source asks more of the newcomer (``SAME_SOURCE_PENALTY``); a near-copy still joins.

Pure standard library: the poll path runs this for every new entry.
"""

from __future__ import annotations

import gzip
import heapq
import json
import math
import re
import sys
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from importlib import resources
from typing import IO, Any

from bot.models import StoryDoc
from bot.urls import link_date, source_of

__all__ = [
    "DEFAULT_THRESHOLD",
    "DEVELOPMENTS",
    "FOLLOWS_PREFIX",
    "RATIO_WEIGHT",
    "SAME_SOURCE_PENALTY",
    "ClusterIndex",
    "Fingerprint",
    "Placement",
    "StoryClusterer",
    "cluster_items",
    "run_cluster_cli",
    "source_of",
]

#: Similarity at or above which an entry joins a story when two stories compete for it
#: (tuned on the dev sets in ``bench/cluster.py``; see that script for the sweep).
DEFAULT_THRESHOLD = 0.44
#: Ratio test: the evidence for the best story is its similarity plus this share of its
#: lead over the runner-up, so a clear winner needs less than the threshold.
RATIO_WEIGHT = 0.3
#: Added to the bar of a story that already has an entry from the entry's source.
SAME_SOURCE_PENALTY = 0.25
#: Sources remembered per story (an outlet list, not a log).
_MAX_SOURCES = 64
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

# Fingerprint budget: enough terms to tell events apart, small enough to store per story.
_MAX_TERMS = 150
_LEAD_TOKENS = 100  # content tokens of text kept; later paragraphs are background
# Length-aware bar (see ``StoryClusterer.threshold_for``): slope and the effective
# size (in terms) at which the bar equals the threshold.
_SIZE_SLOPE = 0.5
_SIZE_REFERENCE = 1.0 / math.sqrt(60.0)
_TAIL_TOKENS = 0  # off: reading further measured no gain on the dev sets
_TAIL_WEIGHT = 0.5
_TITLE_WEIGHT = 1.3  # headline words (applied after sublinear tf)
_NAME_BOOST = 1.3  # proper-noun-like and numeric tokens

_STOPWORD_TEXT = """
    a about above after again against all almost also although am among an and another
    any are around as at be became because been before being below between both but by
    can could did do does doing down during each either else enough even ever every few
    for from further get gets got had has have having he her here hers herself him
    himself his how however i if in into is it its itself just last least less let like
    made make many may me might more most much must my myself near neither never new
    next no nor not now of off often on once one only or other others our ours ourselves
    out over own per perhaps quite rather really said same say says see seem seemed
    several shall she should since so some still such than that the their theirs them
    themselves then there these they this those though through thus to too toward
    towards under until up upon us very via was we well were what whatever when where
    whether which while who whom whose why will with within without would yet you your
    yours yourself yourselves s t d ll m re ve don didn doesn isn wasn weren won wouldn
    couldn shouldn hasn haven hadn aren ain mr mrs ms dr according told tell tells
    reported reports report reporting week today yesterday tomorrow monday tuesday
    wednesday thursday friday saturday sunday year years day days time times people
    news via first two three four five six seven eight nine ten update updated
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
# Capitalised words that are not names (months, rubrics).
_NOT_NAME_TEXT = """
    january february march april may june july august september october november
    december breaking exclusive watch video photos live opinion analysis
"""
_NOT_NAMES = _STOPWORDS | frozenset(_NOT_NAME_TEXT.split())
# Next events: what happens to the people or company of an earlier story, in words
# that rarely mean anything else. (Deaths, arrests and strikes are left out: "five dead"
# and "police arrest a suspect" are usually the event itself, and "strike" has too many
# meanings.) A headline
# that announces one of these, about a story that never spoke of it, reports a new
# development: its own briefing, linked to the earlier one. (A second report of the
# same resignation finds "resign" in the story it joins.)
DEVELOPMENTS: dict[str, tuple[str, ...]] = {
    "resignation": ("resign", "resigns", "resigned", "resignation", "quits", "quit",
                    "ousted", "fired", "sacked", "steps", "stepping"),
    "verdict": ("verdict", "guilty", "convicted", "acquitted", "acquittal", "sentenced",
                "jailed", "sentencing"),
    "lawsuit": ("sues", "sued", "lawsuit", "lawsuits"),
    "appeal": ("appeal", "appeals", "appealed"),
    "aftershock": ("aftershock", "aftershocks"),
    "settlement": ("settles", "settled", "settlement"),
    "plea": ("pleads", "pleaded", "plea"),
    "bankruptcy": ("bankruptcy", "insolvency"),
}  # fmt: skip
_TOKEN = re.compile(r"[^\W_]+(?:[.,'’-][^\W_]+)*", re.UNICODE)
_NUMBER = re.compile(r"^\d+(?:[.,]\d+)*$")
_NUMBER_PREFIX = re.compile(r"\d+(?:[.,]\d+)*")
# What may follow a number inside one token and still leave the number the point.
_NUMBER_SUFFIXES = frozenset(
    "k m bn b mn tn t st nd rd th s pc km kg mph ft mm cm am pm gb tb mw gw".split()
)


def _stem(word: str) -> str:
    """Stemming-lite: fold plurals and common verb endings so "quakes"/"quake" and
    "launched"/"launches" meet. Crude by design; both sides get the same treatment."""
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith("ing") and len(word) > 5:
        word = word[:-3]
    elif word.endswith("ed") and len(word) > 4:
        word = word[:-2]
    elif word.endswith("e") and len(word) > 4:
        word = word[:-1]
    # "stopped" -> "stopp" -> "stop"
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiousl":
        word = word[:-1]
    return word


_DEVELOPMENT_STEMS = {
    kind: frozenset(_stem(w) for w in words) for kind, words in DEVELOPMENTS.items()
}
_DEVELOPMENT_OF = {stem: kind for kind, stems in _DEVELOPMENT_STEMS.items() for stem in stems}


def _events_in(title_terms: Iterable[str]) -> frozenset[str]:
    return frozenset(_DEVELOPMENT_OF[t] for t in title_terms if t in _DEVELOPMENT_OF)


# ------------------------------------------------------------------- IDF prior

# A news report's length in tokens: turns a word's frequency into the chance that a
# report uses it, which is what IDF is about.
_REPORT_TOKENS = 400
# Frequency assumed for a word the list does not have (it holds words used at least
# once per million): names, places, rare terms.
_UNLISTED = 2e-7
_WORD_FREQUENCIES = "data/word_frequency_en.txt.gz"


@lru_cache(maxsize=1)
def _prior() -> dict[str, float]:
    """Frequency per token of each (stemmed) English word, from the shipped wordfreq
    table (see ``bench/idf_table.py``). Forms that share a stem add up."""
    freq: dict[str, float] = defaultdict(float)
    try:
        raw = resources.files("bot").joinpath(_WORD_FREQUENCIES).read_bytes()
        lines = gzip.decompress(raw).decode("utf-8").splitlines()
    except (OSError, EOFError, UnicodeDecodeError):  # a broken install: online IDF only
        return {}
    for line in lines:
        centibels, _, words = line.partition("\t")
        value = 10.0 ** (-int(centibels) / 100.0)
        for word in words.split():
            freq[_stem(word)] += value
    return dict(freq)


def _number_frequency(term: str) -> float:
    """How common a number is in news, by its shape: small counts and years are
    everywhere; a number with three or more significant digits (a death toll, a sum,
    a vote count) is nearly as telling as a name."""
    digits = term.replace(".", "").lstrip("0")
    if len(digits) <= 2:
        return 2e-3
    if len(term) == 4 and term[:2] in ("19", "20"):
        return 5e-4  # a year
    if len(digits.rstrip("0")) <= 1:
        return 2e-4 if len(digits) <= 3 else 3e-5  # a round number: 500; 600,000
    return 2e-6


@lru_cache(maxsize=1 << 17)
def prior_idf(term: str) -> float:
    """IDF of ``term`` (a fingerprint term) before any story was seen: minus the log of
    the chance that a report of ``_REPORT_TOKENS`` words uses it."""
    return -math.log(prior_df(term))


@lru_cache(maxsize=1 << 17)
def prior_df(term: str) -> float:
    """The chance that a report of ``_REPORT_TOKENS`` words uses ``term``, from the
    word-frequency table (numbers by their shape)."""
    p = _number_frequency(term) if _NUMBER.match(term) else _prior().get(term, _UNLISTED)
    return -math.expm1(-p * _REPORT_TOKENS)


def term_of(word: str) -> str:
    """The fingerprint term of one word (lower-cased, apostrophes and dots dropped,
    stemmed), as :func:`prior_idf` expects it."""
    return _stem(word.lower().replace("'", "").replace("’", "").replace(".", ""))


def _parts(raw: str) -> list[str]:
    """Split a token into the pieces that are compared: hyphenated compounds into
    their words ("Hsinchu-based" -> "Hsinchu", "based"), and a number glued to a unit
    or scale ("$5.4bn", "334m", "10th") down to the number itself."""
    pieces = raw.split("-") if "-" in raw else [raw]
    out = []
    for piece in pieces:
        if not piece:
            continue
        number = _NUMBER_PREFIX.match(piece)
        if number is not None and number.end() < len(piece):
            suffix = piece[number.end() :].lower()
            if suffix in _NUMBER_SUFFIXES:
                piece = number.group(0)
        out.append(piece)
    return out


def _terms(
    text: str, limit: int | None = None, tail: int = 0, tail_weight: float = 0.5
) -> tuple[dict[str, float], dict[str, float]]:
    """Content terms of ``text`` (stopwords dropped, stemmed) with their counts, and the
    boost each earned (name-like and numeric tokens). ``limit`` caps how many content
    tokens are read at full weight; ``tail`` more after them count ``tail_weight``
    each (later paragraphs carry the event's details, but also background)."""
    counts: dict[str, float] = defaultdict(float)
    boosts: dict[str, float] = {}
    if not text:
        return counts, boosts
    text = unicodedata.normalize("NFKC", text)
    tokens = list(_TOKEN.finditer(text))
    # In Title Case or ALL CAPS text (many headlines) capitals say nothing about names.
    alpha = [m.group(0) for m in tokens if m.group(0)[0].isalpha()]
    caps = sum(1 for w in alpha if w[0].isupper())
    names_visible = not alpha or caps <= 0.5 * len(alpha) or len(alpha) < 4
    seen = 0
    stop = None if limit is None else limit + tail
    sentence_start = True
    for match in tokens:
        whole = match.group(0).replace("’", "'")
        if whole.endswith(("'s", "'S")):
            whole = whole[:-2]
        starts = sentence_start
        # The next token starts a sentence if this one ends with terminal punctuation
        # (look at the character right after the token).
        end = match.end()
        nxt = text[end : end + 2]
        sentence_start = bool(nxt) and (nxt[0] in ".!?\n" or nxt.startswith(": "))
        for raw in _parts(whole):
            lower = raw.lower()
            if lower in _STOPWORDS or (len(lower) < 2 and not lower.isdigit()):
                continue
            weight = 1.0
            if _NUMBER.match(raw):
                term = raw.replace(",", "")
                weight = _NAME_BOOST
            else:
                term = _stem(lower.replace("'", "").replace(".", ""))
                if names_visible and raw[0].isupper() and not starts and lower not in _NOT_NAMES:
                    weight = _NAME_BOOST
            counts[term] += 1.0 if limit is None or seen < limit else tail_weight
            boosts[term] = max(boosts.get(term, 1.0), weight)
            seen += 1
            starts = False
        if stop is not None and seen >= stop:
            break
    return counts, boosts


@dataclass(slots=True)
class Fingerprint:
    """A compact, storable summary of a story or entry: weighted terms (before IDF).

    ``terms`` maps a normalised term to its weight (title terms count double);
    ``size`` is how many entries were merged into it (1 for a single entry).
    Serialise with :meth:`to_json` and keep one per story.
    """

    terms: dict[str, float] = field(default_factory=dict)
    size: int = 1
    #: Kinds of next event (see ``DEVELOPMENTS``) its headlines announce.
    events: frozenset[str] = frozenset()

    def to_json(self) -> str:
        """A compact JSON string (a few hundred bytes to ~2 KB)."""
        obj: dict[str, Any] = {
            "v": 1,
            "n": self.size,
            "t": {k: round(w, 2) for k, w in self.terms.items()},
        }
        if self.events:
            obj["e"] = sorted(self.events)
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, data: str) -> Fingerprint:
        """Inverse of :meth:`to_json`. Raises ``ValueError`` on malformed input."""
        try:
            obj = json.loads(data)
            terms = {str(k): float(w) for k, w in obj["t"].items()}
            size = int(obj.get("n", 1))
            events = frozenset(str(e) for e in obj.get("e", ()))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"not a fingerprint: {exc}") from exc
        return cls(terms=terms, size=max(1, size), events=events)

    def merged(self, other: Fingerprint) -> Fingerprint:
        """The centroid of two fingerprints (weighted by their sizes), capped to the
        fingerprint budget so a story's stored fingerprint stays small."""
        total = self.size + other.size
        acc: dict[str, float] = defaultdict(float)
        for k, w in self.terms.items():
            acc[k] += w * self.size / total
        for k, w in other.terms.items():
            acc[k] += w * other.size / total
        return Fingerprint(
            terms=_top(acc, _MAX_TERMS), size=total, events=self.events | other.events
        )

    def mentions(self, event: str) -> bool:
        """Whether this story (or entry) speaks of ``event`` anywhere: announced in a
        headline, or one of its words among the story's terms."""
        return event in self.events or not _DEVELOPMENT_STEMS[event].isdisjoint(self.terms)

    def develops(self, story: Fingerprint) -> str | None:
        """The kind of next event this entry announces that ``story`` never speaks of
        (a resignation after a recall, a verdict after a trial), or ``None``."""
        for event in sorted(self.events):
            if not story.mentions(event):
                return event
        return None


def _top(weights: Mapping[str, float], k: int) -> dict[str, float]:
    if len(weights) <= k:
        return dict(weights)
    best = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
    return dict(best)


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


# ---------------------------------------------------------------------------- index


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
        limit = max(32, int(self._COMMON * len(self._stories)))
        partial: dict[int, float] = defaultdict(float)
        # A story must share specific terms to be a candidate (``MIN_SHARED``), so only
        # their postings are walked (generic words would visit every story), and only
        # those of the entry's most telling terms: a report of the same event shares
        # some of its names, places and numbers, not just its minor words.
        specific = [(t, q) for t, q in query.items() if clusterer.idf(t) >= SPECIFIC_IDF]
        if len(specific) > self._PROBE_TERMS:
            specific = heapq.nlargest(self._PROBE_TERMS, specific, key=lambda tq: tq[1])
        for term, q in specific:
            posting = self._postings.get(term)
            if posting is None or len(posting) > limit:
                continue
            for sid, w in posting.items():
                partial[sid] += q * w
        if not partial:
            return Placement()
        if len(partial) > self._RESCORE:
            ranked = heapq.nlargest(self._RESCORE, partial, key=partial.__getitem__)
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
            bar = clusterer.threshold_for(qsize, story.size)
            if source and source in story.sources:
                bar += SAME_SOURCE_PENALTY
            if _shared(fingerprint.terms, story.fp.terms, clusterer) < MIN_SHARED:
                continue
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


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if _aware(a) >= _aware(b) else b


# ---------------------------------------------------------------------------- batch


def _parse_time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"bad 'published' time: {value!r}") from exc


def cluster_items(
    items: Sequence[Mapping[str, Any]], clusterer: StoryClusterer | None = None
) -> list[int]:
    """Cluster ``items`` online, in input order; returns one label per item.

    Each item is a mapping with ``title`` (required), and optional ``text``,
    ``published`` (datetime, ISO 8601 string or epoch seconds) and ``source``.
    An item joins the best earlier cluster or opens a new one; labels are 0, 1, 2…
    in order of first appearance. Raises ``ValueError`` for an item without a title.
    """
    # A batch is held in memory whole and may come in any order of time: nothing is
    # pruned, so an item can join any story within the window of its own time.
    index = ClusterIndex(clusterer, prune=False)
    labels: list[int] = []
    opened = 0
    for n, item in enumerate(items):
        title = item.get("title")
        if not isinstance(title, str):
            raise ValueError(f"item {n}: missing 'title'")
        text = item.get("text") or ""
        if not isinstance(text, str):
            raise ValueError(f"item {n}: 'text' must be a string")
        url = item.get("url") or item.get("link")
        url = url if isinstance(url, str) else None
        # Undated items: many outlets write the day into the link.
        published = _parse_time(item.get("published")) or link_date(url)
        source = item.get("source")
        source = source if isinstance(source, str) and source else None
        fp = index.clusterer.fingerprint(title, text)
        placed = index.place(fp, published, source)
        label = placed.story_id
        if label is None:
            label, opened = opened, opened + 1
            if placed.follows is not None:
                index.link(label, placed.follows)
            if placed.followed_by is not None:
                index.link(placed.followed_by, label)
        labels.append(label)
        index.add(label, fp, published, (source,) if source else ())
    return labels


def run_cluster_cli(stdin: IO[str], stdout: IO[str], stderr: IO[str] | None = None) -> int:
    """``signaldesk cluster``: read JSON Lines ``{"id", "title", "text"?, "published"?,
    "source"?}`` from ``stdin``, write each object back with an added ``"cluster"``
    label. On bad input, write one line to stderr and return 2 (nothing is written to
    stdout then); otherwise return 0."""
    err = stderr if stderr is not None else sys.stderr
    items: list[dict[str, Any]] = []
    for lineno, line in enumerate(stdin, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            err.write(f"error: line {lineno}: invalid JSON ({exc.args[0]})\n")
            return 2
        if not isinstance(obj, dict):
            err.write(f"error: line {lineno}: expected a JSON object\n")
            return 2
        if not isinstance(obj.get("title"), str):
            err.write(f'error: line {lineno}: missing "title"\n')
            return 2
        items.append(obj)
    try:
        labels = cluster_items(items)
    except ValueError as exc:
        err.write(f"error: {exc}\n")
        return 2
    for obj, label in zip(items, labels, strict=True):
        stdout.write(json.dumps({**obj, "cluster": label}, ensure_ascii=False) + "\n")
    return 0
