"""Full-text query helpers: user words become safe queries (``bot.query`` values).

User text is never read as query syntax: each word of ``/brief search`` is a plain term,
so ``china-ai`` or a stray ``"`` can never make a search fail. Saved topics are the
exception: they are written in the query language (``(china OR chinese) AND ai``) and
read with ``bot.query.parse_query``. Storage turns either into its index's syntax.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Protocol, TypeVar

from .errors import QueryError
from .models import Briefing
from .query import Query, Term, all_of, any_of, parse_query, terms
from .words import RELATED_STOPWORDS, search_words


def words(text: str) -> list[str]:
    """The searchable words of ``text``, lower-cased, in order, without duplicates."""
    return search_words(text)


def quoted_query(text: str, *, any_word: bool = False) -> Query | None:
    """All (or, with ``any_word``, any) of the words of ``text``, each a plain term.
    None when the text has no searchable word."""
    found: list[Query] = [Term(w) for w in words(text)]
    if not found:
        return None
    return any_of(found) if any_word else all_of(found)


#: Related briefings are ranked among the newest this many matches of their query (a
#: user's search among the store's larger window): what a new story relates to is
#: recent news, and each new entry's search then reads a bounded share of the index
#: however large the window of stories grows (``bench/entry_cost.py``: 7.2 ms an entry
#: at 50,000 stories with 2,000, 2.5 ms with this).
RELATED_WINDOW = 300


def related_query(briefing: Briefing, *, max_terms: int = 12) -> Query | None:
    """A query for briefings about the same things: the salient words of the headline and
    lead, any of them (bm25 ranks those sharing more words first)."""
    salient: list[Query] = [
        Term(w)
        for w in words(briefing.headline + " " + briefing.lead)
        if w not in RELATED_STOPWORDS and len(w) > 2 and not w.isdigit()
    ]
    if not salient:
        return None
    return any_of(salient[:max_terms])


# A saved topic is a query run on every use: bounded so that one admin's
# ``a* OR b* OR … OR z*`` cannot cost seconds a use. A prefix term makes the index merge
# the postings of every indexed word that starts with it before it returns a row; a
# one- or two-letter prefix is most of the index at a million briefings.
MAX_QUERY_TERMS = 32
MAX_PREFIX_TERMS = 8
MIN_PREFIX = 3
MAX_SEARCH_WORDS = 16


def query_problem(query: str) -> str | None:
    """Why a saved-topic query is too costly to run (one line), or None.

    Counts the words a query searches for (every word of a quoted phrase counts) and
    its prefix terms (``chip*``, ``"semi"*``); field names (``headline:``,
    ``{headline lead}:``) and operators do not count. A query that does not parse is
    not judged here: searching with it says what is wrong (``QueryError``)."""
    try:
        parsed = parse_query(query)
    except QueryError:
        return None
    return cost_problem(parsed)


def cost_problem(query: Query) -> str | None:
    """``query_problem`` for a query already read."""
    count = 0
    prefixes = 0
    for term in terms(query):
        found = words(term.text)
        count += max(len(found), 1)
        if term.prefix:
            prefixes += 1
            stem = found[-1] if found else ""
            if len(stem) < MIN_PREFIX:
                return (
                    f"a prefix needs at least {MIN_PREFIX} letters before the '*' "
                    f"('{(stem or term.text)[:20]}*' matches too many words)"
                )
    if count > MAX_QUERY_TERMS:
        return f"a query can search for at most {MAX_QUERY_TERMS} words (this one has {count})"
    if prefixes > MAX_PREFIX_TERMS:
        return f"a query can have at most {MAX_PREFIX_TERMS} prefix terms like chip* ({prefixes})"
    return None


def rank_search(hits: Sequence[Briefing], now: datetime) -> list[Briefing]:
    """Re-rank full-text hits (given best first) for ``/brief search``.

    Relevance comes from the FTS (bm25) rank position and falls gently, so recency
    (half-life of three days) and more sources (diminishing, capped at 8) reorder close
    neighbours without lifting a weak match over a much better one."""
    scored: list[tuple[float, int, Briefing]] = []
    for position, briefing in enumerate(hits):
        relevance = 1.0 / (1.0 + 0.1 * position)
        age_hours = max((now - briefing.created_at).total_seconds() / 3600.0, 0.0)
        recency = 0.5 ** (age_hours / 72.0)
        sources = math.log2(1 + min(len(briefing.sources), 8)) / math.log2(9)
        score = 0.6 * relevance + 0.25 * recency + 0.15 * sources
        scored.append((score, -position, briefing))
    scored.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return [b for _, _, b in scored]


# Words too common in news to say two stories are about the same thing.
_COMMON = frozenset(
    {"said", "says", "with", "from", "that", "this", "their", "there", "have", "been"}
    | {"will", "would", "could", "more", "than", "after", "over", "into", "about", "also"}
    | {"year", "years", "week", "today", "monday", "tuesday", "wednesday", "thursday"}
    | {"friday", "saturday", "sunday", "new", "first", "last", "which", "while", "what"}
)


class Matchable(Protocol):
    """What telling related briefings apart reads: a ``Briefing`` or a search's
    ``BriefingHit``."""

    @property
    def id(self) -> str: ...
    @property
    def story_id(self) -> int | None: ...
    @property
    def headline(self) -> str: ...
    @property
    def lead(self) -> str: ...


H = TypeVar("H", bound=Matchable)


def _salient(briefing: Matchable) -> frozenset[str]:
    return _salient_words(briefing.headline + " " + briefing.lead)


@lru_cache(maxsize=4096)
def _salient_words(text: str) -> frozenset[str]:
    # Cached: the same earlier briefings come up as hits for many new ones.
    found = set()
    for word in words(text):
        if len(word) > 3 and word not in _COMMON and not word.isdigit():
            found.add(word[:-1] if word.endswith("s") and len(word) > 4 else word)
    return frozenset(found)


def pick_related(base: Matchable, hits: Sequence[H], limit: int = 5) -> list[H]:
    """The related briefings among full-text ``hits`` (given best first): other stories
    (not ``base``'s story, nor a near-copy of it) that share at least two salient words
    of headline and lead with it, most shared words first. One shared word ("battery",
    "model") is a coincidence, not a relation."""
    mine = _salient(base)
    scored: list[tuple[int, int, H]] = []
    for position, hit in enumerate(hits):
        if _same_story(base, hit):
            continue
        shared = len(mine & _salient(hit))
        if shared >= 2:
            scored.append((shared, -position, hit))
    scored.sort(key=lambda item: (item[0], item[1]), reverse=True)
    chosen: list[H] = []
    for _, _, hit in scored:
        if not any(_same_story(hit, other) for other in chosen):
            chosen.append(hit)
        if len(chosen) == limit:
            break
    return chosen


def _same_story(a: Matchable, b: Matchable) -> bool:
    if a.id == b.id or (a.story_id is not None and a.story_id == b.story_id):
        return True
    # Two reports of one event that clustering kept apart read almost alike. The quick
    # ratios are upper bounds of ratio(): most pairs are ruled out without the full match,
    # and the quickest (the lengths alone) without building a matcher at all.
    short, long = sorted((len(a.headline), len(b.headline)))
    if long and 2 * short <= 0.9 * (short + long):
        return False
    matcher = difflib.SequenceMatcher(None, a.headline.lower(), b.headline.lower())
    return (
        matcher.real_quick_ratio() > 0.9 and matcher.quick_ratio() > 0.9 and matcher.ratio() > 0.9
    )
