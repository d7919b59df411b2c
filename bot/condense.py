"""Condense: a story's reports -> a :class:`~bot.models.Briefing`, extractively.

The :class:`ExtractiveCondenser` is offline, deterministic and pure Python. It never
writes a word of its own about the story: every bullet and section sentence is copied
verbatim from a source text (a whole sentence, or a prefix of one cut at a clause
boundary), so every number and quotation in a briefing can be traced to a source.

How sentences are chosen:

1. Each source text is split into sentences (:func:`bot.sentences.split_sentences`).
   Datelines ("BEIJING (Reuters) -") are stripped from the front; boilerplate (bylines,
   captions, calls to action, copyright lines, questions to the reader, all-caps lines,
   fragments) is dropped for good.
2. Each remaining sentence gets a score: a strong position prior (news puts the point
   first; later sources weigh a little less), centrality (how many of its content words
   recur across the story), overlap with the headline, and a length prior.
3. The lead is the best opening sentence of the first source (two when the first is
   short). Bullets are picked by maximal marginal relevance over *all* sources: high
   score, low word overlap with the lead and with bullets already picked, with a small
   bonus for a source not yet quoted.
4. Sections by what sentences say: future/plan cues go to "what to watch",
   consequence/significance cues to "why it matters", the remaining factual sentences
   to "what happened". A section with no candidate stays empty; nothing is invented.

Fallbacks for thin material (the model requires exactly three distinct bullets): when
fewer than three distinct usable sentences remain besides the lead, the condenser first
splits long sentences into clauses (at ``;``, ``, and``, ``, but``, dashes), then uses
the titles of other sources, then the lead itself, and only then fixed, non-factual
placeholders (see ``PLACEHOLDER_BULLETS``). It never raises on any text.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache

from .models import (
    BULLET_COUNT,
    BULLET_MAX,
    HEADLINE_MAX,
    LEAD_MAX,
    Briefing,
    Bullet,
    Source,
    SourceText,
)
from .multisource import plan_story
from .sentences import split_sentences
from .text import clean_text, cut, one_line

__all__ = ["PLACEHOLDER_BULLETS", "ExtractiveCondenser"]

# Used only when the material has fewer than three distinct usable pieces of text: they
# state a fact about the material, never about the story.
PLACEHOLDER_BULLETS = (
    "The source gives no further details yet.",
    "See the linked report for the full text.",
    "This briefing will be updated if more reports arrive.",
)
UNTITLED = "Untitled story"

# ----------------------------------------------------------------- tuning constants
# Chosen on the CNN/DailyMail and BBC dev sets, then rounded: the general shape (a
# strong position prior, centrality as a tie-breaker, redundancy removal) matters much
# more than the exact values.
W_POSITION = 1.0
W_CENTRALITY = 1.5
W_TITLE = 0.3
POSITION_DECAY = 0.5  # prior = 1 / (1 + decay * position)
OTHER_SOURCE_WEIGHT = 0.85  # later reports repeat the first one's news
NEW_SOURCE_BONUS = 0.08
MMR_LAMBDA = 0.6
REDUNDANT = 0.6  # overlap coefficient of content words above which two texts say the same
MIN_WORDS = 6
MAX_CHARS = 700  # longer "sentences" are run-on lists, tables or unsplit paragraphs
IDEAL_WORDS = (25, 50)
SHORT_LEAD = 90  # a first sentence shorter than this gets the second one beside it
UNBALANCED = 0.8  # score factor for a bullet that opens a quote it does not close
CLAUSE_MIN = 60  # a cut bullet keeps at least this many characters
# Sources whose sentence analysis is kept for the next condense of their story: about
# 250 articles' worth of text, some 20 MB of analysis.
ANALYSIS_CACHE_CHARS = 2_000_000

# ----------------------------------------------------------------------- boilerplate
_BOILERPLATE = re.compile(
    r"""
    click\ here | read\ more | read\ the\ full | sign\ up | subscribe | follow\ us
    | follow\ (?:him|her|them|me)\ on | share\ this | share\ on | scroll\ down
    | copyright | ©|\(c\)\ \d{4} | all\ rights\ reserved | newsletter | cookies?\ policy
    | privacy\ policy | terms\ of\ (?:use|service) | advertisement | sponsored
    | image\ caption | media\ caption | photo\ ?: | image\ ?: | picture\ ?: | video\ ?:
    | \(getty\ images\) | getty\ images | \(ap\ photo | \(reuters\)\s*$ | \bcredit\ ?:
    | file\ photo | \bpictured\b | \(left\)|\(right\)|\(centre\)|\(center\)|\(above\)
    | \bemail\ us\b | contact\ us | listen\ to\ this | watch\ the\ video | watch\ now
    | \bjavascript\b | your\ browser | https?:// | www\. | \S+@\S+\.\w
    | ^by\s*\.?\s*$ | published:\s | updated:\s | last\ updated | (?:^|\s)\|\s
    """,
    re.IGNORECASE | re.VERBOSE,
)
# "By Jane Doe", "By Jane Doe and John Roe, Reuters" — a byline is short and verbless.
_BYLINE = re.compile(
    r"^by\s+(?:[A-Z][\w.'’-]*\s*){1,4}(?:(?:,|and|&)\s*(?:[A-Z][\w.'’-]*\s*){1,4})*[.,]?$"
    r"|^(?:[A-Z][\w.'’-]+\s+){1,3}[A-Z][\w'’-]+\s*,\s*(?:Reuters|AP|AFP|Associated Press|"
    r"Bloomberg|CNN|BBC|Staff|Staff Writer|Correspondent|Reporter)\b.{0,40}$"
)
# "Frustration: Travellers at the station" — a label and a caption, unless a quote follows.
_LABEL = re.compile(r"^[A-Z][\w'’-]*(?:\s+[\w'’-]+){0,2}\s*:\s+(?![\"'“‘])")
# Datelines: "BEIJING (Reuters) -", "LONDON, March 3 (AP) —", "(CNN) --", "PARIS —".
_DATELINE = re.compile(
    r"^(?:[A-Z][\w .,'’/&-]{0,60}?\s*)?\((?:[A-Z][\w .&-]{1,25})\)\s*(?:--|[-–—:])\s*"
    r"|^[A-Z][A-Z .,'’/]{2,40}(?:,\s*[A-Z][\w .]{1,30})?\s*(?:--|[-–—])\s+"
)
_TERMINAL = re.compile(r"[.!?…][\"'”’)\]]*$")

# _BOILERPLATE is ~40 case-insensitive alternatives with no common prefix, so `re`
# tries every one at every position (~60 µs a sentence, the condenser's largest single
# cost). Each alternative needs one of these lower-case substrings (or, for "^by", a
# leading "by"), so a sentence whose lower-cased text holds none cannot match and the
# regex is skipped. Exact only when lower() keeps positions and `re.IGNORECASE` matches
# no non-ASCII character to an ASCII letter: the four characters below break that
# ("İ" lowers to two characters; "ı", "ſ" and the Kelvin sign fold to i, s, k), so a
# sentence holding one always runs the full regex.
_BOILERPLATE_KEYS = (
    "click here", "read more", "read the full", "sign up", "subscribe", "follow ",
    "share ", "scroll down", "copyright", "©", "(c) ", "all rights reserved",
    "newsletter", "cookie", "privacy policy", "terms of ", "advertisement", "sponsored",
    "caption", "photo", "image", "picture", "video", "getty images", "(reuters)",
    "credit", "pictured", "(left)", "(right)", "(centre)", "(center)", "(above)",
    "email us", "contact us", "listen to this", "watch ", "javascript", "your browser",
    "http", "www.", "@", "published:", "updated", "|",
)  # fmt: skip
_FOLD_TRAPS = frozenset("\u0130\u0131\u017f\u212a")


def _cue_count(rx: re.Pattern[str], keys: tuple[str, ...], text: str) -> int:
    """``len(rx.findall(text))`` for a case-insensitive cue regex, skipped when no key of
    ``keys`` occurs in ``text`` (see _BOILERPLATE_KEYS for why this is exact)."""
    if _FOLD_TRAPS.isdisjoint(text):
        low = text.lower()
        if not any(k in low for k in keys):
            return 0
    return len(rx.findall(text))


def _boilerplate_match(s: str) -> bool:
    """``_BOILERPLATE.search(s)``, skipped when a substring test proves it would fail."""
    if _FOLD_TRAPS.isdisjoint(s):
        low = s.lower()
        if not low.startswith("by") and not any(k in low for k in _BOILERPLATE_KEYS):
            return False
    return _BOILERPLATE.search(s) is not None


# ------------------------------------------------------------------------- cues
_WATCH = re.compile(
    r"""\b(?:
    will | won[’']t | shall | is\ to\ be | are\ to\ be | expected\ to | expects?\ to
    | plans?\ to | planning\ to | intends?\ to | aims?\ to | (?:is|are)\ set\ to
    | (?:is|are|was|were)\ due\ (?:to\ (?:be|begin|start|open|close|vote|meet|appear
      |report|resume|take|hold|launch|finish|end|return|arrive|rule|decide|announce
      |publish|release|sign|debate|visit)|on|in|next|by)
    | next\ (?:week|month|year|season|summer|winter|spring|autumn|fall|monday|tuesday
      |wednesday|thursday|friday|saturday|sunday|round|step|phase|election)
    | later\ this\ (?:week|month|year) | this\ coming\ (?:week|weekend|month)
    | by\ (?:the\ end\ of\ )?20[2-9]\d | in\ 20[3-9]\d | scheduled\ (?:to|for)
    | (?:has|have|had)\ scheduled
    | deadline | vote\ on | awaits? | awaiting | upcoming | forthcoming
    | (?:is|are)\ likely\ to
    )\b""",
    re.IGNORECASE | re.VERBOSE,
)
_WHY = re.compile(
    r"""\b(?:
    because | means | meaning | which\ would | impact | impacts | affects?
    | first\ time | largest | biggest | highest | lowest | worst | record | concerns?
    | risks? | threat(?:en|ens)? | analysts?\ (?:said|say|says|warned|expect)
    | significant(?:ly)? | crucial | important | consequences? | as\ a\ result | so\ that
    | signals? | blow | fears? | warn(?:ed|s)? | boost | undermine | jeopardi[sz]e
    | implications? | critics | unprecedented | historic
    )\b""",
    re.IGNORECASE | re.VERBOSE,
)
# A time ahead ("on Friday", "next month", "in March 2027"): of two plans, the dated one
# is what a reader can watch for. ("May" is left out: it is far more often the verb.)
_WHEN = re.compile(
    r"""\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|tomorrow
    | january|february|march|april|june|july|august|september|october|november
    | december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec|next|20[2-9]\d
    )\b""",
    re.VERBOSE,
)
# Quoted words: what someone said. "It will set the template" in a quotation is
# rhetoric, not a plan; cues for what to watch are read outside quotations.
_QUOTATION = re.compile(r"“[^”]*”?|\"[^\"]*\"?")
# Modal verbs hint at significance, but alone they are too common to decide.
_MODAL = re.compile(r"\b(?:could|would|might)\b", re.IGNORECASE)
_PAST = re.compile(r"\b(?:was|were|had|did|said|told|announced|reported|\w{3,}ed)\b", re.IGNORECASE)
# Substrings one of which every match of _WATCH / _WHY contains, lower-cased: as for
# _BOILERPLATE_KEYS, a sentence holding none is known to have no cue without running
# the (slow, prefix-less) case-insensitive alternation.
_WATCH_KEYS = (
    "will", "won", "shall", " to be", "expect", "plan", "intend", "aim", "set to", "due",
    "next", "later this", "coming", "by the end of ", "by 20", "in 20", "scheduled",
    "deadline", "vote on", "await", "likely to",
)  # fmt: skip
_WHY_KEYS = (
    "because", "mean", "which would", "impact", "affect", "first time", "largest",
    "biggest", "highest", "lowest", "worst", "record", "concern", "risk", "threat",
    "analyst", "significant", "crucial", "important", "consequence", "as a result",
    "so that", "signal", "blow", "fear", "warn", "boost", "undermine", "jeopardi",
    "implication", "critics", "unprecedented", "historic",
)  # fmt: skip

# ------------------------------------------------------------------------- words
_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
_STOP = frozenset(
    """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each
    few for from further had has have having he her here hers herself him himself his
    how i if in into is it its itself just me more most my myself no nor not now of off
    on once only or other our ours out over own same she should so some such than that
    the their theirs them themselves then there these they this those through to too
    under until up very was we were what when where which while who whom why will with
    would you your yours said says say told mr mrs ms one two new year years last first
    after s t it's he's she's don't didn't can't won't isn't wasn't i'm we're they're""".split()
)


@lru_cache(maxsize=1 << 16)
def _stem(word: str) -> str:
    # Cached (it is pure): a story repeats its words, and this ran ~1000 times an article.
    # A light suffix strip: enough to match "banks"/"bank", "ruled"/"rule"; it only
    # has to be consistent within one story.
    word = word.replace("’", "'")
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) > 5:
        for suffix in ("ings", "ing", "edly", "ed", "ies", "es", "s", "ly"):
            if word.endswith(suffix):
                return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _content_words(text: str) -> list[str]:
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1]


def _overlap(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


# ----------------------------------------------------------------------- sentences


@dataclass
class _Sentence:
    text: str  # what a briefing may show: the sentence without a dateline
    original: str  # the full source sentence
    source: int
    position: int  # index among the usable sentences of its source
    words: frozenset[str]
    n_words: int
    score: float = 0.0
    watch: int = 0
    why: int = 0
    when: bool = False  # names a time ahead (only meaningful with a watch cue)
    past: bool = False
    balanced: bool = True  # its double quotes open and close within the sentence
    dangling: bool = False  # opens on a word that points back ("He", "This", "But")


# Opening words that lean on the sentence before: out of context ("He said the talks
# would resume") a reader cannot tell who or what they mean.
_DANGLING = frozenset(
    """he she it they this these those that his her its their them him but however also
    and meanwhile still yet such""".split()
)


def _dangles(text: str) -> bool:
    first = text.lstrip("\"“'‘([ ").split(" ", 1)[0].rstrip(",;:").lower()
    return first in _DANGLING


def strip_dateline(sentence: str) -> str:
    """Drop a leading dateline ("BEIJING (Reuters) -", "(CNN) --", "PARIS —")."""
    m = _DATELINE.match(sentence)
    if m is None:
        return sentence
    rest = sentence[m.end() :].lstrip()
    # Only when what follows still reads as a sentence.
    if len(rest) >= 20 and (rest[0].isupper() or rest[0].isdigit() or rest[0] in "\"“‘'"):
        return rest
    return sentence


def is_boilerplate(sentence: str) -> bool:
    """True for text that must never be shown as a point of the story: bylines,
    datelines alone, captions, calls to action, copyright lines, questions to the
    reader, all-caps lines and fragments."""
    s = sentence.strip()
    if len(s) < 25 or len(s) > MAX_CHARS:
        return True
    words = s.split()
    # map() keeps the per-character tests in C: these two scans ran as Python
    # generators over every character of every sentence.
    alpha = [w for w in words if any(map(str.isalpha, w))]
    if len(alpha) < MIN_WORDS:
        return True
    if len(alpha) <= 8 and all(w[0].isupper() or w in {"and", "by", "of"} for w in alpha):
        return True  # "John Hall . and Ted Thornhill ." — names only: a byline
    if _boilerplate_match(s) or _BYLINE.match(s) or _LABEL.match(s):
        return True
    if s.rstrip("\"'”’)] ").endswith("?"):
        return True  # a question to the reader, or a quoted one: never a key point
    letters = "".join(filter(str.isalpha, s))
    if len(letters) < 15:
        return True
    upper = sum(map(str.isupper, letters))
    if upper / len(letters) > 0.6:
        return True  # ALL-CAPS banners and shouted headlines
    # A heading, a menu item, a caption without a full stop.
    return not _TERMINAL.search(s) and len(words) < 12


def _sentences_of(index: int, text: str) -> list[_Sentence]:
    out: list[_Sentence] = []
    for raw in split_sentences(text):
        shown = strip_dateline(raw)
        if is_boilerplate(shown):
            continue
        words = _content_words(shown)
        if not words:
            continue
        unquoted = _QUOTATION.sub(" ", shown)  # shared by the two cue tests below
        out.append(
            _Sentence(
                text=shown,
                original=raw,
                source=index,
                position=len(out),
                words=frozenset(words),
                n_words=len(shown.split()),
                # In half points: a modal verb alone is a weak hint of significance.
                watch=2 * _cue_count(_WATCH, _WATCH_KEYS, unquoted),
                why=2 * _cue_count(_WHY, _WHY_KEYS, shown) + (1 if _MODAL.search(shown) else 0),
                past=bool(_PAST.search(shown)),
                when=bool(_WHEN.search(unquoted.lower())),
                balanced=_quotes_balanced(shown),
                dangling=_dangles(shown),
            )
        )
    return out


class _AnalysisCache:
    """Recently analysed sources, least recently used dropped first once their text
    passes ``budget`` characters (the analysis takes a few times its text in memory).

    A story is condensed again each time a source joins it, from all its sources; the
    earlier sources' analysis, most of a condense's time, is reused from here. Shared
    by the threads condensing different stories at once."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._items: OrderedDict[str, tuple[str, tuple[_Sentence, ...]]] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()

    def get(self, raw: str) -> tuple[str, tuple[_Sentence, ...]]:
        with self._lock:
            hit = self._items.get(raw)
            if hit is not None:
                self._items.move_to_end(raw)
                return hit
        text = clean_text(raw)
        value = (text, tuple(_sentences_of(0, text)))
        if len(raw) <= self.budget // 4:
            with self._lock:
                if raw not in self._items:
                    self._items[raw] = value
                    self._chars += len(raw)
                while self._chars > self.budget:
                    old, _ = self._items.popitem(last=False)
                    self._chars -= len(old)
        return value


_ANALYSED = _AnalysisCache(budget=ANALYSIS_CACHE_CHARS)


def _analyse(raw: str) -> tuple[str, tuple[_Sentence, ...]]:
    """A source's cleaned text and its usable sentences (as source 0, unscored)."""
    return _ANALYSED.get(raw)


def _quotes_balanced(text: str) -> bool:
    # A sentence cut out of a multi-sentence quotation has a dangling quote mark; shown
    # beside other sentences it would pair up with their quotes and misattribute words.
    return text.count('"') % 2 == 0 and text.count("“") == text.count("”")


def _score(sentences: list[_Sentence], title_words: frozenset[str]) -> None:
    # Centrality: a content word's weight is how many sentences of the story use it,
    # so a sentence scores high when it talks about what the whole story talks about.
    spread: Counter[str] = Counter()
    for s in sentences:
        spread.update(s.words)
    raw: list[float] = []
    for s in sentences:
        weight = sum(spread[w] - 1 for w in s.words)
        raw.append(weight / math.sqrt(len(s.words) + 4))
    top = max(raw, default=0.0) or 1.0
    lo, hi = IDEAL_WORDS
    for s, c in zip(sentences, raw, strict=True):
        position = 1.0 / (1.0 + POSITION_DECAY * s.position)
        if s.source:
            position *= OTHER_SOURCE_WEIGHT
        title = len(s.words & title_words) / len(title_words) if title_words else 0.0
        if s.n_words < lo:
            length = 1.0 - (lo - s.n_words) / lo * 0.5
        elif s.n_words > hi:
            length = max(0.5, 1.0 - (s.n_words - hi) / hi)
        else:
            length = 1.0
        s.score = (W_POSITION * position + W_CENTRALITY * c / top + W_TITLE * title) * length


# -------------------------------------------------------------------------- bullets

_CLAUSE_BREAK = re.compile(r"(?:;|,|:|\s[–—-])\s+(?=\S)")
_CLAUSE_SPLIT = re.compile(r";\s+|,\s+(?:and|but|while|although|whereas)\s+|\s[–—]\s+")


def fit_bullet(text: str, limit: int = BULLET_MAX) -> str:
    """``text`` if it fits, else its longest prefix that ends at a clause boundary
    (``;``, ``,``, ``:``, a dash) within ``limit``; as a last resort, at a word.
    A boundary that leaves a quotation open is used only when no other fits."""
    text = text.strip()
    if len(text) <= limit:
        return text
    best = inside_quote = -1
    for m in _CLAUSE_BREAK.finditer(text, 0, limit + 1):
        if CLAUSE_MIN <= m.start() <= limit:
            if _quotes_balanced(text[: m.start()]):
                best = m.start()
            else:
                inside_quote = m.start()
    if best < 0:
        best = inside_quote
    if best < 0:
        head = text[: limit + 1]
        space = head.rfind(" ")
        best = space if space >= CLAUSE_MIN else limit
    return text[:best].rstrip(" ,;:–—-")


def _pick_bullets(candidates: list[_Sentence], taken: list[frozenset[str]]) -> list[_Sentence]:
    picked: list[_Sentence] = []
    sources_used: set[int] = set()
    pool = list(candidates)
    while pool and len(picked) < BULLET_COUNT:
        best: _Sentence | None = None
        best_value = -math.inf
        for s in pool:
            sim = max((_overlap(s.words, t) for t in taken), default=0.0)
            if sim > REDUNDANT:
                continue
            base = s.score if s.balanced else s.score * UNBALANCED
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
    return picked


# ---------------------------------------------------------------------- condenser


class ExtractiveCondenser:
    """The default condenser: offline, deterministic, extractive (see module doc)."""

    name = "extractive"

    def condense(self, briefing_id: str, material: Sequence[SourceText], now: datetime) -> Briefing:
        """A story's reports (first report first) -> its briefing. Never raises on
        odd text; thin material yields placeholder bullets (``PLACEHOLDER_BULLETS``)."""
        sources = [m.source for m in material]
        analysed = [_analyse(m.text or "") for m in material]
        texts = [text for text, _ in analysed]
        headline = _headline(sources, texts)
        title_words = frozenset(_content_words(headline))

        sentences: list[_Sentence] = []
        for i, (_, cached) in enumerate(analysed):
            # Fresh copies: scoring writes to them, and ``id()`` tells them apart below.
            sentences.extend(replace(s, source=i) for s in cached)
        _score(sentences, title_words)

        lead_parts = _lead(sentences)
        plan = plan_story(sentences, [s.publisher for s in sources], [s.title for s in sources])
        if plan is not None:  # several outlets: lead and bullets by agreement
            lead_parts = [plan.lead]
        if len(sources) > 1 and lead_parts and one_line(sources[lead_parts[0].source].title):
            # The headline of the report the lead comes from, not of the first to arrive
            # (a bare headline from an aggregator may well arrive first).
            headline = _headline([sources[lead_parts[0].source]], [])
        lead = " ".join(s.text for s in lead_parts)
        if len(lead) > LEAD_MAX:
            lead = fit_bullet(lead, LEAD_MAX)
        taken = [s.words for s in lead_parts]
        if title_words and not lead_parts:
            taken.append(title_words)
        used = {id(s) for s in lead_parts}

        ranked = sorted(
            (s for s in sentences if id(s) not in used),
            key=lambda s: (-s.score, s.source, s.position),
        )
        chosen = plan.bullets if plan is not None else _pick_bullets(ranked, list(taken))
        bullets = [
            Bullet(text=fit_bullet(s.text), source=s.source, sentence=s.original) for s in chosen
        ]
        if plan is not None:  # new facts only: other headlines, then placeholders
            bullets += [Bullet(text=fit_bullet(t), source=i, sentence=t) for t, i in plan.extra]
            if plan.differ:
                differ = Bullet(text=fit_bullet(plan.differ), source=plan.differ_source)
                bullets = [*bullets[: BULLET_COUNT - 1], differ]
            if len(bullets) < BULLET_COUNT:
                bullets = _fill_bullets(bullets, [], [], [], headline)
        if len(bullets) < BULLET_COUNT:
            bullets = _fill_bullets(bullets, sentences, lead_parts, sources, headline)

        # The full briefing shows the bullets right above the sections: no section may
        # repeat one, as none repeats the lead.
        shown = used | {id(s) for s in chosen}
        what_happened, why, watch = _sections(sentences, shown, taken + [s.words for s in chosen])
        return Briefing(
            id=briefing_id,
            headline=headline,
            lead=lead,
            bullets=bullets,
            what_happened=what_happened,
            why_it_matters=why,
            what_to_watch=watch,
            sources=sources,
            created_at=now,
            updated_at=now,
            condenser=self.name,
        )


def _headline(sources: list[Source], texts: list[str]) -> str:
    for src in sources:
        title = one_line(src.title or "")
        if title:
            return cut(title, HEADLINE_MAX)
    for text in texts:
        for raw in split_sentences(text):
            shown = strip_dateline(raw)
            if not is_boilerplate(shown):
                return cut(shown, HEADLINE_MAX)
    return UNTITLED


def _lead(sentences: list[_Sentence]) -> list[_Sentence]:
    if not sentences:
        return []
    main = sentences[0].source  # the first source with usable text
    opening = [s for s in sentences if s.source == main][:2]
    first = opening[0]
    parts = [first]
    if len(opening) > 1 and len(first.text) < SHORT_LEAD:
        second = opening[1]
        if len(first.text) + 1 + len(second.text) <= LEAD_MAX:
            parts.append(second)
    return parts


def _fill_bullets(
    bullets: list[Bullet],
    sentences: list[_Sentence],
    lead_parts: list[_Sentence],
    sources: list[Source],
    headline: str,
) -> list[Bullet]:
    """Thin material: top up to three distinct bullets without inventing anything."""
    seen = {b.text.casefold() for b in bullets} | {headline.casefold()}
    out = list(bullets)

    def add(text: str, source: int, sentence: str) -> None:
        text = fit_bullet(text)
        key = text.casefold()
        if len(out) < BULLET_COUNT and text and key not in seen:
            seen.add(key)
            out.append(Bullet(text=text, source=source, sentence=sentence))

    # 1. Clauses of long sentences (not the lead's), each still verbatim.
    lead_ids = {id(s) for s in lead_parts}
    for s in sentences:
        if id(s) in lead_ids:
            continue
        for clause in _CLAUSE_SPLIT.split(s.text):
            clause = clause.strip(" ,;")
            if len(clause.split()) >= MIN_WORDS and not is_boilerplate(clause + "."):
                add(clause, s.source, s.original)
    # 2. The other sources' own titles: they are the publishers' words.
    for i, src in enumerate(sources):
        title = one_line(src.title or "")
        if title and not is_boilerplate(title + "."):
            add(title, i, title)
    # 3. The lead sentence itself, when nothing else is left.
    for s in lead_parts:
        add(s.text, s.source, s.original)
    # 4. Fixed, non-factual placeholders.
    for text in PLACEHOLDER_BULLETS:
        add(text, 0, "")
    return out


def _sections(
    sentences: list[_Sentence], used: set[int], lead_words: list[frozenset[str]]
) -> tuple[str, str, str]:
    # A section shows its sentences without the ones before them, so a sentence that
    # leans on its predecessor comes only after every one that stands alone.
    pool = sorted(
        (s for s in sentences if id(s) not in used and s.balanced),
        key=lambda s: (s.dangling, -s.score, s.source, s.position),
    )
    # Seeded with the lead and bullets so that no section repeats what the message
    # already says.
    taken = list(lead_words)

    def choose(cands: list[_Sentence], limit: int) -> list[_Sentence]:
        out: list[_Sentence] = []
        for s in cands:
            if len(out) >= limit:
                break
            if any(_overlap(s.words, t) > REDUNDANT for t in taken):
                continue
            # One that leans on its predecessor only as a section's sole sentence.
            if s.dangling and out:
                continue
            out.append(s)
            taken.append(s.words)
        return out

    # Dated plans first (sorted() is stable: by score within each group).
    watch_pool = [s for s in pool if s.watch and s.watch >= s.why]
    watch = choose(sorted(watch_pool, key=lambda s: (s.dangling, not s.when)), 2)
    chosen = {id(s) for s in watch}
    why_pool = [s for s in pool if id(s) not in chosen and s.why > s.watch]
    # Explicit significance cues first; a bare "could" or "would" only when none exist.
    why = choose(sorted(why_pool, key=lambda s: (s.dangling, s.why < 2)), 2)
    chosen |= {id(s) for s in why}
    rest = [s for s in pool if id(s) not in chosen]
    happened = choose([s for s in rest if s.past and not s.watch], 3)
    if len(happened) < 2:
        happened += choose(
            [s for s in rest if id(s) not in {id(h) for h in happened}], 2 - len(happened)
        )

    def join(group: list[_Sentence]) -> str:
        return " ".join(s.text for s in sorted(group, key=lambda s: (s.source, s.position)))

    return join(happened), join(why), join(watch)
