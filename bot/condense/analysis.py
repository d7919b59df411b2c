"""A story's sentences as the condenser analyses them: each source's usable
sentences with their flags (cached per source text), and their scores."""

from __future__ import annotations

import math
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ..models import Source, SourceText
from ..sentences import split_sentences
from ..text import clean_text, one_line
from ..words import content_words
from .boilerplate import _TERMINAL, _readable, is_boilerplate, strip_dateline
from .cues import _PAST, _QUOTATION, _WHEN, section_of
from .headline import _headline
from .tuning import (
    ANALYSIS_CACHE_CHARS,
    IDEAL_WORDS,
    NEWS_TOP,
    OTHER_SOURCE_WEIGHT,
    POSITION_DECAY,
    W_CENTRALITY,
    W_POSITION,
    W_TITLE,
)


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
    balanced: bool = True  # its quotes and brackets open and close within the sentence
    dangling: bool = False  # opens on a word that points back ("He", "This", "But")
    ended: bool = True  # closes with a full stop (or ! ? …): a whole sentence
    # The last sentence of an excerpt the source cut to length ("…the group that
    # accounted for a majority..."): it may lead thin material, never be a bullet.
    truncated: bool = False
    listed: bool = False  # a list item, a table row, a caption: never a point on its own
    unattributed: bool = False  # a quotation that does not name who said it
    scene: bool = False  # opens like a feature's scene-setting, not like news
    label: bool = False  # a live-blog or section label ("The latest (all times local):")
    personal: bool = False  # the writer speaks ("I asked him", "my colleagues"), unquoted
    # The surname it opens on when the text gave that person's full name before
    # ("Schulberg told the magazine…" after "Budd Schulberg…"): shown where the name is
    # not, the reader does not know who it is.
    surname: str = ""


# Opening words that lean on the sentence before: out of context ("He said the talks
# would resume") a reader cannot tell who or what they mean.
_DANGLING = frozenset(
    """he she it they this these those that his her its their them him but however also
    and meanwhile still yet such so then thus hence instead there here it's that's
    he's she's they're there's nor or besides likewise similarly otherwise
    anyway indeed moreover furthermore nevertheless nonetheless therefore consequently
    accordingly again worse""".split()
)
_DANGLING_PHRASE = re.compile(
    r"^(?:in\ other\ words|as\ a\ result|in\ addition|on\ the\ other\ hand|by\ contrast"
    r"|for\ (?:example|instance)|even\ so|at\ the\ same\ time|the\ (?:same|latter|former)"
    r"|in\ (?:that|this|the\ meantime|the\ process|so\ doing|doing\ so)"
    r"|after\ (?:that|this|all)|because\ of\ (?:that|this)"
    r"|of\ course|in\ fact|that\ said|what'?s\ more|on\ top\ of\ (?:that|this)|even\ then"
    r"|in\ turn|as\ such|all\ the\ same|to\ that\ end|when\ (?:that|this)\b|if\ (?:so|not)\b"
    r"|(?:since|by|until|back)\ then\b|before\ (?:that|then)\b|at\ that\ (?:time|point)\b"
    r"|the\ (?:move|decision|announcement|comments?|remarks?|statement|news|deal|plan)\b"
    r"|(?:this|that)\ (?:is|was|comes|came|means|meant)"
    r"|like\ (?:that|this|these|those|the\ (?:first|last|others?|rest))"
    # A preposition on a pronoun, or on a document the sentence before named: "Without
    # it, …", "Despite this, …", "For that reason", "In the letter, Hoyer said…" (not
    # "Despite this year's losses", "In the 1990s, …").
    r"|(?:without|with|despite|for|beyond|against|under|through|thanks\ to|unlike|besides"
    r"|apart\ from|along\ with|instead\ of|in\ spite\ of|after|before)\ (?:it|them|him|her)\b"
    r"|(?:without|with|despite|beyond|besides|apart\ from|thanks\ to|in\ spite\ of)"
    r"\ (?:this|that|these|those)\b(?!\ (?:year|week|month|season|summer|winter|spring"
    r"|autumn|fall|weekend|morning|afternoon|evening|time)\b)"
    r"|for\ (?:this|that|these|those)\ (?:reasons?|purposes?|matter)\b"
    r"|in\ the\ (?:letter|memo|statement|interview|report|filing|complaint|lawsuit|suit"
    r"|ruling|video|post|speech|email|document|tweet|message|order|book|study|survey)(?=,)"
    r"|the\ (?:incident|episode)\b"
    # "None", "neither", "both" and "either" standing for things named before: "If none
    # are available, …", "Both were hurt" (not "None of the 12 crew …", "Both the mayor
    # and …").
    r"|(?:if\ |when\ |but\ |and\ )?(?:none|neither|both|either)\ (?:are|is|was|were|has|have"
    r"|had|will|would|could|can|did|do|does|said|say|says|remain|remains|remained))\b",
    re.IGNORECASE | re.VERBOSE,
)
# Anywhere in a sentence: a phrase that names what the sentence before said ("blows away
# every other headset in this regard").
_BACK_REFERENCE = re.compile(
    r"\bin\ (?:this|that|these|those)\ (?:regard|respect|sense|case|context)s?\b",
    re.IGNORECASE | re.VERBOSE,
)


def _dangles(text: str) -> bool:
    bare = text.lstrip("\"“'‘([ ").replace("’", "'")
    first = bare.split(" ", 1)[0].rstrip(",;:").lower()
    return (
        first in _DANGLING
        or _DANGLING_PHRASE.match(bare) is not None
        or _BACK_REFERENCE.search(bare) is not None
    )


# A list item, a table row or a figure reference: "- Fixed …", "• …", "22/50 …", "[figure",
# and a quotation's credit line ("— Sen. Tom Cotton, in a tweet").
_LISTED = re.compile(r"^(?:[-•*+–—·▪►^#]\s|\[|\d{1,3}(?:[.)]|/\d+)\s)")
# Who said it: a quotation that names no speaker reads as the briefing's own voice.
_SAYS = re.compile(
    r"\b(?:said|says|say|told|tells|according\ to|added|adds|asked|asks|stated|states|wrote"
    r"|writes|explained|explains|insisted|insists|warned|warns|argued|argues|noted|notes"
    r"|announced|announces|declared|declares|recalled|recalls|claimed|claims|admitted"
    r"|admits|replied|replies|continued|continues|quipped|tweeted|posted"
    r"|saying|adding|telling|writing|warning|arguing|noting|insisting)\b",
    re.IGNORECASE | re.VERBOSE,
)
# Feature openings that set a scene instead of reporting the news: "On a cold morning in
# the harbour town…", "It was just after dawn when…", "Imagine…", "When Maria Lopez…",
# and the essayist's appeal to the reader ("Anyone who has…", "You either…").
_SCENE = re.compile(
    r"^(?:on\ an?\ |in\ an?\ |at\ an?\ |it\ (?:was|is)\ |there\ (?:was|is|are|were)\ "
    r"|imagine\b|picture\ this|when\ |as\ (?:the|a|dawn|night|dusk)\b|once\ |for\ (?:years|decades"
    r"|months|most\ of)\b|every\ (?:morning|day|night|year|week)|standing\ |inside\ |outside\ "
    r"|under\ a\ |beneath\ |just\ after\ |shortly\ (?:after|before)\ (?:dawn|dusk|midnight)"
    r"|[a-z]+ing\ (?:through|along|past|into|down|up|across|beside|outside|inside)\b|i\ |we\ "
    r"|you\ |anyone\ who\b|everyone\ (?:who|knows)\b|few\ (?:people|things)\b"
    r"|most\ (?:people|of\ us)\b)",
    re.IGNORECASE | re.VERBOSE,
)
# Live-blog and section labels: "The latest on the strike (all times local):".
_LABEL_LINE = re.compile(
    r":\s*$|^(?:the\ latest|latest|live|live\ updates?|breaking|update|updated|here'?s\ "
    r"|what\ (?:we\ know|to\ know)|key\ (?:points|facts))\b",
    re.IGNORECASE | re.VERBOSE,
)


# The writer's own voice outside a quotation: "I" before a lowercase word or with a
# contraction ("I asked", "I've"; not "World War I"), "me", "my", "myself", "of mine"
# (not "the mine"). Shown apart from the article (a bullet, a section) it reads as the
# bot speaking.
_FIRST_PERSON = re.compile(r"\bI\b(?=['’][a-z]|\s+[a-z])|\b(?i:me|my|myself|of mine)\b")


_CUT_MARKS = ("...", "…")
# Reference marks of an encyclopaedia or a paper ("in 1991 and 1992,[207] following"):
# noise in a chat message. An editor's insertion ("[the Americans]") has letters.
_CITATIONS = re.compile(r"(?:\[\d{1,3}\])+")


# "…,” she said", "…are typically 400 breaks a year, he added.": the speaker is named in
# an earlier sentence, whether the words are quoted or reported.
_PRONOUN_SPEAKER = re.compile(
    r"(?:^|[,.])\s*(?:he|she|they)\s+(?:said|says|added|adds|told|tells|asked|insisted)\b"
    r"|\b(?:said|says|added|adds)\s+(?:he|she|they)\s*(?:[,.;]|$)",
    re.IGNORECASE,
)


def _unattributed_quote(text: str) -> bool:
    """A quotation (a sentence that opens on a quote mark, or is mostly quoted words)
    without a speaker outside the quotation marks."""
    bare = text.strip()
    quoted = sum(len(q) for q in _QUOTATION.findall(bare))
    if not (bare[:1] in "\"“‘'" or quoted > 0.6 * len(bare)):
        return False
    return _SAYS.search(_QUOTATION.sub(" ", bare)) is None


# An instruction or a call to action: a bare verb addressing the reader ("Open the
# Customize panel…", "Keep your favourite features…", "Check if we already used one…",
# "Don't say…"). News reports; it does not tell the reader what to do. (Not "Share
# prices fell", "Open banking rules…", "Set in South Wales, the film…", "Save the
# Children said…".)
_INSTRUCTION = re.compile(
    r"^(?:(?:don[’']t|do\ not)\ \w"
    r"|(?:read|watch|click|tap|open|keep|get|add|check|try|see|find|learn|sign|join"
    r"|subscribe|download|follow|share|visit|contact|call|email|take|make|use|go"
    r"|stay|remember|consider|choose|select|enter|type|press|install|let[’']s|give|turn|buy"
    r"|order|book|save|start|stop|look|ask|tell|send|bring|pick|grab|head|explore|discover"
    r"|enjoy|register|apply|upgrade|switch|count)"
    # Lower case, and "the", "a" not before a capital: "Save the Children said…", "Stop
    # the Steal", "Get Out won…" are names.
    r"\ (?-i:(?:the|a|an)\ (?![A-Z])|(?:your|our|this|these|those|it|them|us|me|if"
    r"|how|what|out|up|more|any|all|yourself|sure|away|back|here|now|today|one|some|each"
    r"|every)\b))",
    re.IGNORECASE | re.VERBOSE,
)


# A picture's caption left in the text: "U.S. Navy image of pirates operating off the
# coast of Somalia in October." A credit and "image of" with no verb of its own ("Images
# of devices bolted on to heads have pervaded…" is a sentence).
_CAPTION = re.compile(
    r"^(?:(?:an?|the)\s+)?(?:[A-Z][\w.'’-]*\s+){0,4}(?:file\s+|handout\s+)?"
    r"(?:image|photo|photograph|picture|screenshot|screengrab)s?\s+of\b",
    re.IGNORECASE,
)
# A finite verb, as far as words tell: a caption has none.
FINITE_WORDS = (
    r"is|are|was|were|has|have|had|will|would|can|could|may|might|must|shall|should"
    r"|do|does|did|said|says|went|came|became|shows|showed|\w{3,}ed"
)
_FINITE = re.compile(rf"\b(?:{FINITE_WORDS})\b", re.IGNORECASE)


def _listed(text: str) -> bool:
    if _LISTED.match(text) or " | " in text or "\t" in text:
        return True
    if _CAPTION.match(text) and not _FINITE.search(text):
        return True
    if _INSTRUCTION.match(text):
        return True
    if text.startswith("(") and text.rstrip(".").endswith(")"):
        return True  # an aside in brackets: an editor's note, a credit, a correction
    digits = sum(map(str.isdigit, text))
    return digits > len(text) / 5


def _overlap(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


# A sentence opening on a capitalised word and a lower-case one ("Moore said…",
# "Mr Williams had said…", "Okafor's team plans…") or an apposition ("Hicks, a Navy
# veteran herself, said…", "Parata, 75, has…"), and full names ("Budd Schulberg",
# "Hayao Miyazaki's").
_SURNAME_OPENING = re.compile(
    r"(?:(?:Mr|Mrs|Ms|Dr|Prof)\.?\s+)?([A-Z][a-z]+(?:-[A-Z][a-z]+)?)(?:['’]s)?"
    r"(?:\s+[a-z]|,\s+[a-z\d])"
)
# A surname as the speaker after a clause or a quotation: "…could freeze, Mr. Michaels
# said.", "…,” Hicks told ABC News.", "…,” explains Dr. Shadlen." (not "said Tom Michaels").
_SPEAKING = r"(?:said|says|added|adds|told|tells|wrote|writes|explained|explains|noted|notes"
_SPEAKING += r"|recalled|recalls|argued|argues|warned|warns)"
_SURNAME_SPEAKER = re.compile(
    r"[,”\"]\s+(?:(?:(?:Mr|Mrs|Ms|Dr|Prof)\.?\s+)?([A-Z][a-z]+(?:-[A-Z][a-z]+)?)\s+"
    + _SPEAKING
    + r"\b|"
    + _SPEAKING
    + r"\s+(?:(?:Mr|Mrs|Ms|Dr|Prof)\.?\s+)?([A-Z][a-z]+(?:-[A-Z][a-z]+)?)\b(?![\s-]+[A-Z]))"
)
# (The surname in a lookahead: "Professor Marianne Okafor" gives "Marianne" and "Okafor".)
_FULL_NAME = re.compile(r"\b[A-Z][a-z]+\s+(?=([A-Z][a-z]+(?:-[A-Z][a-z]+)?)\b)")


def _sentences_of(index: int, text: str) -> list[_Sentence]:
    out: list[_Sentence] = []
    introduced: set[str] = set()  # surnames the text has given with a first name
    for n, raw in enumerate(split_sentences(text)):
        shown = _CITATIONS.sub("", strip_dateline(raw, opening=n == 0))
        opening = _SURNAME_OPENING.match(shown)
        surname = opening.group(1) if opening and opening.group(1) in introduced else ""
        if not surname and introduced:
            speakers = (m[1] or m[2] for m in _SURNAME_SPEAKER.finditer(shown))
            surname = next((name for name in speakers if name in introduced), "")
        # From every sentence, shown or not ("says Katie Allen, MD, PhD." is a credit
        # line): a name given there is still one the reader of the briefing lacks.
        introduced.update(_FULL_NAME.findall(shown))
        if is_boilerplate(shown):
            continue
        words = content_words(shown)
        if not words:
            continue
        unquoted = _QUOTATION.sub(" ", shown)
        section = section_of(shown)
        out.append(
            _Sentence(
                text=shown,
                original=raw,
                source=index,
                position=len(out),
                words=frozenset(words),
                n_words=len(shown.split()),
                watch=int(section == "ahead"),
                why=int(section == "significance"),
                past=bool(_PAST.search(shown)),
                when=bool(_WHEN.search(unquoted.lower())),
                balanced=_quotes_balanced(shown),
                dangling=_dangles(shown) or _PRONOUN_SPEAKER.search(unquoted) is not None,
                ended=_TERMINAL.search(shown) is not None,
                listed=_listed(shown),
                unattributed=_unattributed_quote(shown),
                scene=_SCENE.match(shown) is not None,
                label=_LABEL_LINE.search(shown) is not None,
                personal=_FIRST_PERSON.search(unquoted) is not None,
                surname=surname,
            )
        )
    if out and text.rstrip().endswith(_CUT_MARKS) and out[-1].text.endswith(_CUT_MARKS):
        out[-1] = replace(out[-1], ended=not _cut_mid_clause(out[-1].text), truncated=True)
    return out


def _cut_mid_clause(sentence: str) -> bool:
    """A text that stops on an ellipsis is an excerpt cut to length (a feed's summary,
    an aggregator's lead). Its last sentence was cut mid-clause when the ellipsis
    follows a function word ("…54% of adults are...", "…in the…"): not even a lead.
    After a content word ("…according to Johns Hopkins University data…") it may lead
    thin material; it is never a point either way (``_Sentence.truncated``)."""
    if not sentence.endswith(_CUT_MARKS):
        return False
    words = sentence.rstrip(".… ").split()
    return bool(words) and not content_words(words[-1])


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


# Memory the cache takes per character of source text (the text itself, the cleaned
# copy and its sentences with their flags): 13.7 bytes measured on the BBC dev set.
_BYTES_PER_CHAR = 14


def set_cache_bytes(budget: int) -> None:
    """Size the analysis cache to about ``budget`` bytes (the memory budget setting,
    ``bot.engine``)."""
    _ANALYSED.budget = max(budget // _BYTES_PER_CHAR, 0)


def _analyse(raw: str) -> tuple[str, tuple[_Sentence, ...]]:
    """A source's cleaned text and its usable sentences (as source 0, unscored)."""
    return _ANALYSED.get(raw)


def _quotes_balanced(text: str) -> bool:
    # A sentence cut out of a multi-sentence quotation has a dangling quote mark; shown
    # beside other sentences it would pair up with their quotes and misattribute words.
    # One cut out of a bracketed aside ("…the way they would to (if they ever got any
    # criticism.") reads as broken.
    return (
        text.count('"') % 2 == 0
        and text.count("“") == text.count("”")
        and text.count("(") == text.count(")")
        and text.count("[") == text.count("]")
    )


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
        # Flat over the top of the pyramid, then decaying (tuning.NEWS_TOP).
        position = 1.0 / (1.0 + POSITION_DECAY * max(0, s.position - NEWS_TOP))
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


@dataclass
class _Story:
    """A story's material as the condenser analysed it: the seam where a multi-source
    selection can take over the choice of lead and bullets."""

    sources: list[Source]
    texts: list[str]
    summaries: list[str]
    sentences: list[_Sentence]  # every usable sentence of every source, scored
    headline: str
    title_words: frozenset[str]


def _analyse_story(material: Sequence[SourceText]) -> _Story:
    sources = [m.source for m in material]
    analysed = [_analyse(_readable(m.text or "", m.source.title)) for m in material]
    texts = [text for text, _ in analysed]
    headline = _headline(sources, texts)
    sentences: list[_Sentence] = []
    for i, (_, cached) in enumerate(analysed):
        # Fresh copies: scoring writes to them, and ``id()`` tells them apart below.
        sentences.extend(replace(s, source=i) for s in cached)
    title_words = frozenset(content_words(headline))
    _score(sentences, title_words)
    return _Story(
        sources=sources,
        texts=texts,
        summaries=[one_line(m.summary or "") for m in material],
        sentences=sentences,
        headline=headline,
        title_words=title_words,
    )
