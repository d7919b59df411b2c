"""Attribution: every number and quoted phrase in a briefing must come from its sources.

The check behind ``bench/attribution.py`` (which requires 100% of extractive briefings)
and the guard the LLM condenser runs on every model answer before it is used. A claim
is:

- a number: a digit run with its decimal/thousands separators, a percent sign and a
  currency symbol (``3.5``, ``2,400``, ``16%``, ``$4bn``, ``£17.5million``);
- a quoted phrase: text between straight or curly double quotes.

Each must occur in the text of one of the briefing's sources or in a source's title
(the headline is usually the first source's title). Numbers match as whole numbers, so
``5`` does not pass because ``15`` is in a source.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .models import Briefing, SourceText
from .text import clean_text

__all__ = ["attributed", "claims", "source_corpus", "unattributed"]

_NUMBER = re.compile(r"[$£€¥]?\d+(?:[.,]\d+)*%?")
# A curly quotation stops at the next opening mark too: scanning from every "“" of a
# line without "”" to its end was quadratic (a second, 8 kB of "“" took a second).
_QUOTED = re.compile(r"\"([^\"\n]{2,}?)\"|“([^“”\n]{2,}?)”")


def _norm(text: str) -> str:
    return " ".join(clean_text(text).split())


def claims(briefing: Briefing) -> list[tuple[str, str, str]]:
    """(field, kind, claim) for every number and quoted phrase in the briefing; kind
    is ``"number"`` or ``"quote"``."""
    fields = {
        "headline": briefing.headline,
        "lead": briefing.lead,
        "what_happened": briefing.what_happened,
        "why_it_matters": briefing.why_it_matters,
        "what_to_watch": briefing.what_to_watch,
    }
    for i, bullet in enumerate(briefing.bullets):
        fields[f"bullet{i + 1}"] = bullet.text
    out = []
    for name, text in fields.items():
        for m in _NUMBER.finditer(text):
            out.append((name, "number", m.group().rstrip(".,")))
        for m in _QUOTED.finditer(text):
            out.append((name, "quote", m.group(1) or m.group(2)))
    return out


def source_corpus(material: Sequence[SourceText]) -> str:
    """The normalized text a claim is looked up in: every source's text and title."""
    return "\n".join(_norm(m.text) + "\n" + _norm(m.source.title) for m in material)


def attributed(kind: str, claim: str, corpus: str) -> bool:
    """Whether one claim occurs in ``corpus`` (see :func:`source_corpus`)."""
    if kind == "quote":
        return _norm(claim) in corpus
    pattern = r"(?<![\d.,])" + re.escape(claim) + r"(?![\d]|[.,]\d)"
    return re.search(pattern, corpus) is not None


def unattributed(briefing: Briefing, material: Sequence[SourceText]) -> list[str]:
    """One line per number or quoted phrase of ``briefing`` found in none of its
    sources; an empty list means the briefing is fully attributed."""
    corpus = source_corpus(material)
    return [
        f"{field}: {kind} {claim!r} not in any source"
        for field, kind, claim in claims(briefing)
        if not attributed(kind, claim, corpus)
    ]
