"""Bullets: whole sentences that fit (or cut at a clause), picked by maximal
marginal relevance over all sources."""

from __future__ import annotations

import math
import re

from ..models import BULLET_COUNT, BULLET_MAX
from ..words import content_words
from .analysis import FINITE_WORDS, _overlap, _quotes_balanced, _Sentence
from .tuning import CLAUSE_MIN, LONG_FACTOR, MMR_LAMBDA, NEW_SOURCE_BONUS, REDUNDANT

_CLAUSE_BREAK = re.compile(r"(?:;|,|:|\s[–—-])\s+(?=\S)")
# A cut must keep the sentence's main clause. Without it the bullet is a subordinate
# clause ("While centrist Democrats are eager to pass the bill…") or a subject and the
# asides that describe it ("The shooting, which happened minutes before the verdict…"):
# words that say nothing on their own.
_SUBORDINATE = re.compile(
    r"^[\"“‘'(]?(?:while|when|whenever|although|though|even\s+(?:though|if|as|when)|if|as"
    r"|after|before|because|since|unless|until|whereas|once|despite|amid)\b",
    re.IGNORECASE,
)
_ASIDE = re.compile(
    r"^(?:which|who|whom|whose|where|a|an|the|including|such\s+as|like|especially"
    r"|particularly|notably|with|\w+ing)\b",
    re.IGNORECASE,
)
# A main clause's verb: a caption's finite verbs, and news's commonest irregular past
# tenses ("Prices rose sharply, the highest since…"), which a caption may use as
# participles ("a mug hastily put together").
_IRREGULAR = """rose fell won lost took made told began hit set put cut met led ran saw got gave
    left held struck sent spent kept found brought thought fought wrote spoke chose drew
    grew knew threw flew shot sold paid laid stood sat fled bought caught felt meant heard
    built broke stole wore sank drove froze hid bit shut quit let beat dealt fed hung lit
    overcame spread sought withdrew upheld swept slid"""
_VERB = re.compile(
    rf"\b(?:{FINITE_WORDS}|be|been|\w+n[’']t|" + "|".join(_IRREGULAR.split()) + r")\b",
    re.IGNORECASE,
)
# "The FTC's amended suit": a participle after a determiner describes a noun.
_ATTRIBUTIVE = re.compile(
    r"\b(?:the|a|an|its|his|her|their|our|this|\w+[’']s)\s+\w+ed\b", re.IGNORECASE
)
_PART = re.compile(r",\s+|\s[–—]\s*")
SUBJECT_WORDS = 12  # a subject with its modifiers, before the asides that describe it


def _headless(prefix: str) -> bool:
    """Whether a sentence cut to ``prefix`` lost its main clause: only a subordinate
    clause is left, or only a subject (no verb) and asides set off by commas or dashes."""
    parts = _PART.split(prefix.strip())
    if len(parts) == 1:
        return _SUBORDINATE.match(prefix) is not None
    subject = _ATTRIBUTIVE.sub(" ", parts[0])
    return (
        len(subject.split()) <= SUBJECT_WORDS
        and _VERB.search(subject) is None
        and all(_ASIDE.match(p) for p in parts[1:])
    )


def _cut_at(text: str, limit: int) -> int | None:
    """Where ``fit_bullet`` cuts a text longer than ``limit``: the last clause boundary
    that keeps the main clause and fits with the ellipsis, preferring one outside a
    quotation; else the last word that does; None when no cut keeps the main clause."""
    room = limit - 1  # the ellipsis
    best = inside_quote = -1
    for m in _CLAUSE_BREAK.finditer(text, 0, room + 1):
        if CLAUSE_MIN <= m.start() <= room and not _headless(text[: m.start()]):
            if _quotes_balanced(text[: m.start()]):
                best = m.start()
            else:
                inside_quote = m.start()
    if best < 0:
        best = inside_quote
    if best < 0:
        space = text.rfind(" ", 0, room + 1)
        best = space if space >= CLAUSE_MIN else room
        if _headless(text[:best]):
            return None
    return best


def fit_bullet(text: str, limit: int = BULLET_MAX) -> str:
    """``text`` if it fits, else its longest prefix that ends at a clause boundary
    (``;``, ``,``, ``:``, a dash) within ``limit`` and keeps the main clause, with an
    ellipsis to show the cut; as a last resort, at a word. A boundary that leaves a
    quotation open is used only when no other fits."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = _cut_at(text, limit)
    if cut is None:  # no cut keeps the main clause, and the caller has no other text
        space = text.rfind(" ", 0, limit)
        cut = space if space >= CLAUSE_MIN else limit - 1
    return text[:cut].rstrip(" ,;:–—-") + "…"


def fits(text: str, limit: int = BULLET_MAX) -> bool:
    """Whether ``text`` can be a bullet: it fits whole, or a cut keeps its main clause."""
    text = text.strip()
    return len(text) <= limit or _cut_at(text, limit) is not None


def _eligible(s: _Sentence) -> bool:
    """May be shown on its own (a lead, a bullet, a section sentence): a whole sentence,
    not a list item or a label, and no quotation without its speaker."""
    return s.ended and s.balanced and not (s.listed or s.unattributed or s.label)


def _point(s: _Sentence) -> bool:
    """May be a bullet or a section sentence, shown apart from the article: eligible,
    not the writer speaking in the first person (outside the article, "I asked him" is
    the bot's voice), and not where the source cut its excerpt off."""
    return _eligible(s) and not s.personal and not s.truncated


def _name_given(s: _Sentence, shown_words: frozenset[str]) -> bool:
    """Whether a sentence that names a person by surname only (``_Sentence.surname``)
    may be shown: the name is among ``shown_words`` (the headline's, the lead's, the
    bullets' above it). A sentence with no such surname always may."""
    return not s.surname or set(content_words(s.surname)) <= shown_words


def _pick_bullets(
    candidates: list[_Sentence],
    taken: list[frozenset[str]],
    shown: list[_Sentence],
    known: frozenset[str] = frozenset(),
) -> list[_Sentence]:
    """Up to three bullets by maximal marginal relevance. A sentence that leans on the
    one before it is a candidate only once that one is shown (the lead or a bullet), and
    is then placed right after it; one that names a person by surname only, once the
    name is in the headline (``known``, its words), the lead or a bullet; one longer
    than a bullet weighs less than one that fits whole. Returned in the text's order."""
    picked: list[_Sentence] = []
    sources_used: set[int] = set()
    pool = [s for s in candidates if _point(s) and fits(s.text)]
    while pool and len(picked) < BULLET_COUNT:
        best: _Sentence | None = None
        best_value = -math.inf
        visible = {(s.source, s.position) for s in shown + picked}
        named = known.union(*taken)
        for s in pool:
            if s.dangling and (s.source, s.position - 1) not in visible:
                continue
            if not _name_given(s, named):
                continue
            # Saying what the lead or a bullet says rules a sentence out; short of that,
            # only overlap with the other bullets weighs against it: a bullet may
            # elaborate the lead's event, but the bullets should not elaborate each other.
            if any(_overlap(s.words, t) > REDUNDANT for t in taken):
                continue
            sim = max((_overlap(s.words, o.words) for o in picked), default=0.0)
            base = s.score if len(s.text) <= BULLET_MAX else s.score * LONG_FACTOR
            value = MMR_LAMBDA * base - (1 - MMR_LAMBDA) * sim
            if picked and s.source not in sources_used:
                value += NEW_SOURCE_BONUS
            if value > best_value:
                best, best_value = s, value
        if best is None:
            break
        picked.append(best)
        taken.append(best.words)
        sources_used.add(best.source)
        pool.remove(best)
    # In the text's own order, the order its reader met them in ("the buyer" after the
    # sentence that introduced the auction), so a bullet that leans on the one before it
    # follows it directly; one that leans on the lead comes first, right under it.
    ordered = sorted(picked, key=lambda s: (s.source, s.position))
    above = {(s.source, s.position) for s in shown}
    first = [s for s in ordered if s.dangling and (s.source, s.position - 1) in above]
    return first + [s for s in ordered if s not in first]
