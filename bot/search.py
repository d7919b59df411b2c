"""Full-text query helpers: user words become safe FTS5 queries.

User text is never passed to FTS5 as syntax: each word is quoted, so ``china-ai`` or a
stray ``"`` can never make a query fail. Saved topics are the exception: they are
validated FTS5 expressions (``(china OR chinese) AND ai``).
"""

from __future__ import annotations

import re

from .models import Briefing

_WORD = re.compile(r"[\w][\w'’.-]*", re.UNICODE)
_STOP = frozenset(
    """a an and are as at be been but by for from has have he her his in into is it its
    of on or over said says she than that the their them they this to under up was
    were will with after new more about amid""".split()
)


def words(text: str) -> list[str]:
    """The searchable words of ``text``, lower-cased, in order, without duplicates."""
    seen: dict[str, None] = {}
    for match in _WORD.finditer(text.lower()):
        word = match.group(0).strip(".'’-")
        if word:
            seen.setdefault(word, None)
    return list(seen)


def quote(word: str) -> str:
    """One word or phrase as an FTS5 string literal."""
    return '"' + word.replace('"', '""') + '"'


def quoted_query(text: str, *, any_word: bool = False) -> str | None:
    """All (or, with ``any_word``, any) of the words of ``text``, each quoted.
    None when the text has no searchable word."""
    terms = [quote(w) for w in words(text)]
    if not terms:
        return None
    return (" OR " if any_word else " AND ").join(terms)


def related_query(briefing: Briefing, *, max_terms: int = 12) -> str | None:
    """A query for briefings about the same things: the salient words of the headline and
    lead, any of them (bm25 ranks those sharing more words first)."""
    salient = [
        w
        for w in words(briefing.headline + " " + briefing.lead)
        if w not in _STOP and len(w) > 2 and not w.isdigit()
    ]
    if not salient:
        return None
    return " OR ".join(quote(w) for w in salient[:max_terms])
