"""A small, fast, abbreviation-aware sentence splitter for news text.

Pure Python and regex-based, because the condenser splits every report of every story
and must stay well under a few milliseconds per article. It knows the cases that break
naive splitters in news copy: titles (``Mr.``, ``Dr.``), dotted acronyms (``U.S.``),
initials (``J. K. Rowling``), months and numbers (``Jan. 5``, ``No. 10``), decimals
(``3.5``), ellipses, and closing quotes after the full stop. Paragraph breaks (newlines)
always end a sentence: feed and page text keep one paragraph per line.
"""

from __future__ import annotations

import re

__all__ = ["split_sentences"]

# A candidate boundary: a run of terminal punctuation (".", "!", "?", "…", ellipses
# included), optional closing quotes/brackets, then whitespace. Whether it really ends
# a sentence is decided by `_is_boundary`. One character class, not an alternation
# under "+": "(?:\.{2,}|[.])+" backtracks exponentially on a row of dots not followed
# by a space (a table of contents), which hung the condenser on a real page. The
# lookbehind starts a candidate only where a run of marks starts and the possessive
# runs never give back: without them a scan of a long run of marks not followed by a
# space restarted at every mark and was quadratic.
_CANDIDATE = re.compile(r"(?<![.!?…])[.!?…]++[\"'”’»)\]]*+\s+")

# Words that (almost) never end a sentence when followed by a period.
_TITLES = frozenset(
    """mr mrs ms mx dr prof sr jr st mt ft gen gov sen rep lt col capt cpt sgt maj adm cmdr
    rev fr hon pres supt insp det cpl pte brig messrs mme mlle vs v etc al approx dept
    est fig vol ch sec art cf""".split()
)
# Abbreviations that end a sentence only when a plain sentence starter follows
# ("Jan. 5" and "No. 10" stay whole; "... in Jan. The ..." splits).
_BEFORE_NUMBER = frozenset(
    """jan feb mar apr jun jul aug sep sept oct nov dec no nos nr pp p art op""".split()
)
# Company suffixes and dotted acronyms: ambiguous, split only before a sentence starter.
_AMBIGUOUS = frozenset("""inc corp ltd co bros plc llc ave blvd rd""".split())
_STARTERS = frozenset(
    """a an the he she it they we i you his her its their our my this that these those
    there here but and or so yet then when while after before if as in on at for from by
    with without since because although though however meanwhile still also now one two
    three some many most all both each no not what who why how where which police
    officials authorities mr mrs ms dr""".split()
)
# A dotted acronym at the end of a word plus its period: "U.S.", "U.S.A.", "e.g.",
# "Ph.D.". Only its last few characters decide (the shortest endings of
# "(?:[A-Za-z]\.){2,}$|[A-Za-z]\.(?:[A-Za-z]\.)+[A-Za-z]?\.?$", which retried a long
# dotted word from every letter), so a search is linear.
_ACRONYM = re.compile(r"[A-Za-z]\.[A-Za-z]\.(?:[A-Za-z]\.?|\.)?$")
_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_WORD_CHARS = _LETTERS | {"."}
_OPENERS = "\"'“‘«([¿¡"


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences, in order, each stripped; empty pieces are dropped.

    Newlines are hard breaks (paragraphs). Within a paragraph a sentence ends at ``.``,
    ``!``, ``?`` or an ellipsis (with any closing quotes) followed by whitespace and an
    upper-case letter, a digit or an opening quote — unless the word before the period
    is a known abbreviation, an initial or a dotted acronym that is not followed by a
    typical sentence starter.
    """
    out: list[str] = []
    for paragraph in text.split("\n"):
        paragraph = paragraph.strip()
        if paragraph:
            out.extend(_split_paragraph(paragraph))
    return out


def _split_paragraph(par: str) -> list[str]:
    pieces: list[str] = []
    start = 0
    for m in _CANDIDATE.finditer(par):
        end = m.end()
        if end >= len(par):
            break
        if _is_boundary(par, start, m.start(), m.group(), end):
            piece = par[start : m.end()].strip()
            if piece:
                pieces.append(piece)
            start = end
    tail = par[start:].strip()
    if tail:
        pieces.append(tail)
    return pieces


def _next_word(par: str, pos: int) -> str:
    i = pos
    while i < len(par) and par[i] in _OPENERS:
        i += 1
    j = i
    while j < len(par) and (par[j].isalnum() or par[j] in "'’-"):
        j += 1
    return par[i:j]


def _last_word(par: str, start: int, end: int) -> str:
    """The letters and dots just before ``end`` (not before ``start``), from the first
    letter of that run: "U.S" in "in the U.S", "Mr" in "said Mr". Scans back over
    the word only (never copies the sentence so far: that made a paragraph of
    200,000 characters of "Mr. " quadratic, 96 s); a word ends at a space, so the
    scans of all the candidates of a paragraph cover it once."""
    i = end
    while i > start and par[i - 1] in _WORD_CHARS:
        i -= 1
    while i < end and par[i] == ".":
        i += 1
    return par[i:end]


def _is_boundary(par: str, start: int, punct_at: int, punct: str, after: int) -> bool:
    nxt = _next_word(par, after)
    if not nxt:
        # Followed by a symbol or a dash: only an opener quote counts as a new start.
        return par[after] in _OPENERS or par[after] in "-–—•*"
    first = nxt[0]
    if first.islower():
        # "he said. then" is rare in edited copy; "e.g. the" and "(...) he" are common.
        return False
    mark = punct.rstrip()
    if mark[0] in "!?" or mark.startswith(("..", "…")):
        return True
    if not mark.startswith("."):
        return True
    # A period followed by something capitalised or a digit: look at the word before.
    # Space before the period (tokenised copy such as "works ." ) is always an end.
    if punct_at <= start or par[punct_at - 1].isspace():
        return True
    word = _last_word(par, start, punct_at)
    if not word:
        return True  # a number, a closing bracket, a quote: "rose 5%." ends a sentence
    low = word.lower().rstrip(".")
    starter = nxt.lower() in _STARTERS
    if _ACRONYM.search(word[-8:] + "."):
        # "U.S. officials" stays whole; "in the U.S. The" splits.
        return starter and not first.isdigit()
    if "." in word:
        low = low.rsplit(".", 1)[-1]
    if len(low) == 1 and word[-1].isupper():
        return False  # an initial: "J. K. Rowling", "George W. Bush"
    if low in _TITLES:
        return False
    if low in _BEFORE_NUMBER:
        return not first.isdigit() and starter
    if low in _AMBIGUOUS:
        return starter
    return True
