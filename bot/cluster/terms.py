"""Fingerprint terms: the content tokens of a report, their IDF prior, and the
storable :class:`Fingerprint` of an entry or story (see ``bot.cluster``)."""

from __future__ import annotations

import gzip
import json
import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from bot.words import CLUSTER_STOPWORDS, CLUSTER_TOKEN, NOT_NAMES, cluster_stem

# Fingerprint budget: enough terms to tell events apart, small enough to store per story.
_MAX_TERMS = 150
_NAME_BOOST = 1.3  # proper-noun-like and numeric tokens

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
_NUMBER = re.compile(r"^\d+(?:[.,]\d+)*$")
_NUMBER_PREFIX = re.compile(r"\d+(?:[.,]\d+)*")
# What may follow a number inside one token and still leave the number the point.
_NUMBER_SUFFIXES = frozenset(
    "k m bn b mn tn t st nd rd th s pc km kg mph ft mm cm am pm gb tb mw gw".split()
)


_DEVELOPMENT_STEMS = {
    kind: frozenset(cluster_stem(w) for w in words) for kind, words in DEVELOPMENTS.items()
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
            freq[cluster_stem(word)] += value
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
    return cluster_stem(word.lower().replace("'", "").replace("’", "").replace(".", ""))


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
    tokens = list(CLUSTER_TOKEN.finditer(text))
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
            if lower in CLUSTER_STOPWORDS or (len(lower) < 2 and not lower.isdigit()):
                continue
            weight = 1.0
            if _NUMBER.match(raw):
                term = raw.replace(",", "")
                weight = _NAME_BOOST
            else:
                term = cluster_stem(lower.replace("'", "").replace(".", ""))
                if names_visible and raw[0].isupper() and not starts and lower not in NOT_NAMES:
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
