"""Condense: a story's reports -> a :class:`~bot.models.Briefing`, extractively.

The :class:`ExtractiveCondenser` is offline and deterministic. It never
writes a word of its own about the story: every bullet and section sentence is copied
verbatim from a source text (a whole sentence, or a prefix of one cut at a clause
boundary), so every number and quotation in a briefing can be traced to a source.

How sentences are chosen:

1. Each source text is read only when the condenser can brief it: English (by
   py3langid), running prose rather than a table or a listing, and more than its own
   headline. Otherwise the story is a *short item*: headline and sources, no lead, no
   bullets, until a source with text joins it.
2. Each text is split into sentences (:func:`bot.sentences.split_sentences`).
   Datelines ("BEIJING (Reuters) -", and at a text's start "Portland, OR –" or
   "April 17, 2015 --") and live-blog entry times are stripped; boilerplate (bylines,
   captions, calls to action, copyright lines, questions, all-caps lines, fragments)
   is dropped. Each sentence is flagged: whole or not, a list item or table row, a
   label, a quotation without its speaker, a scene-setting opening, and whether it
   points back to the sentence before ("He said…", "That is…", "…,” she said").
3. Each remaining sentence gets a score: a strong position prior (news puts the point
   first; later sources weigh a little less), centrality (how many of its content words
   recur across the story), overlap with the headline, and a length prior.
4. The lead states the news: the publisher's own summary when it is a whole sentence
   the text bears out, else the first opening sentence that is neither a scene-setter
   (it shares nothing with the headline, or opens like a feature), a label, nor a
   sentence leaning on another. Bullets are picked by maximal marginal relevance over
   *all* sources: whole sentences that stand alone (a longer one weighs less, and is
   cut at a clause with an ellipsis), a pointing-back one only right after the sentence
   it leans on, at most three and as many as the material has distinct points.
5. Sections only when true (:func:`section_of`): "what to watch" for a dated plan or an
   expected decision, "why it matters" for stated significance or consequence, the
   remaining factual sentences for "what happened". A section with no candidate stays
   empty; nothing is invented, and nothing pads thin material.

``_analyse_story`` / ``_choose`` are the seam where a story's sources are analysed and
its lead and bullets picked; a multi-source selection can replace ``_choose``.
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
from urllib.parse import urlsplit

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
from .multisource import MultiSourcePlan, plan_story
from .sentences import split_sentences
from .text import clean_text, cut, one_line

__all__ = [
    "PLACEHOLDER_BULLETS",
    "ExtractiveCondenser",
    "clean_headline",
    "language_of",
    "section_of",
]

# No longer posted: thin material gets fewer bullets or a short item, never stock lines.
# Kept so that callers (and tests of renderers) that name them still import.
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
LONG_FACTOR = 0.6  # score factor for a sentence too long to be a bullet whole
LEAD_WINDOW = 4  # the lead is one of the first source's first few usable sentences
ARTICLE_MIN_LINES = 8  # a text this short is judged by its sentences alone
ARTICLE_PROSE = 0.3  # share of a text's lines that are sentences, below which it is a table
SUMMARY_MIN_WORDS = 10  # a shorter summary is a teaser ("There's no going back.")
LANG_SAMPLE = 1500  # characters the language is judged on
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
    | \bjavascript\b | your\ browser | https?:// | www\. | \S@\S(?:[^\s.@]|\.(?!\w))*+\.\w
    # (An e-mail address above: its run after "@" stops at the next "@", so a scan
    # from every "@" of "@@@@…" is linear, not cubic as with "\S+@\S+\.\w".)
    | ^by\s*+\.?\s*+$ | published:\s | updated:\s | last\ updated | (?:^|\s)\|\s
    """,
    re.IGNORECASE | re.VERBOSE,
)
# "By Jane Doe", "By Jane Doe and John Roe, Reuters" — a byline is short and verbless.
# Possessive quantifiers (``*+``, ``{1,4}+``): a name is all of its word characters,
# never split in two. Without them "by" and a dozen comma-separated capitalised words
# that do not end like a byline backtracked exponentially (8 words 5 s, 12 for ever),
# holding the GIL. tests/test_regex_linear.py times every core pattern.
_BYLINE = re.compile(
    r"^by\s++(?:[A-Z][\w.'’-]*+\s*+){1,4}+(?:(?:,|and|&)\s*+(?:[A-Z][\w.'’-]*+\s*+){1,4}+)*+"
    r"[.,]?$"
    r"|^(?:[A-Z][\w.'’-]++\s++){1,3}[A-Z][\w'’-]++\s*+,\s*+(?:Reuters|AP|AFP|Associated Press|"
    r"Bloomberg|CNN|BBC|Staff|Staff Writer|Correspondent|Reporter)\b.{0,40}$"
)
# "Frustration: Travellers at the station" — a label and a caption, unless a quote follows.
_LABEL = re.compile(r"^[A-Z][\w'’-]*(?:\s+[\w'’-]+){0,2}\s*:\s+(?![\"'“‘])")
# Datelines: "BEIJING (Reuters) -", "LONDON, March 3 (AP) —", "(CNN) --", "PARIS —".
_DATELINE = re.compile(
    r"^(?:[A-Z][\w .,'’/&-]{0,60}?\s*)?\((?:[A-Z][\w .&-]{1,25})\)\s*(?:--|[-–—:])\s*"
    r"|^[A-Z][A-Z .,'’/]{2,40}(?:,\s*[A-Z][\w .]{1,30})?\s*(?:--|[-–—])\s+"
)
# "Springfield –", "Portland, OR –", "St. Louis, Mo. —", "April 17, 2015 --": only at
# the start of a text.
_MIXED_DATELINE = re.compile(
    r"^(?:(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?\s\d{1,2},\s\d{4}"
    r"\s(?:--|[–—-])\s+)"
    r"|^[A-Z][\w.'’]*(?:\s[A-Z][\w.'’]*){0,2}(?:,\s[A-Z][\w.]{1,14}(?:\s[A-Z][\w.]*)?)?"
    r"\s(?:--|[–—-])\s+"
)
_TIMESTAMP = re.compile(
    r"^\d{1,2}[:.]\d{2}\s?(?:[ap]\.?m\.?|GMT|BST|UTC|ET|EST|EDT|CET)?\s?(?:--|[:–—-])\s+",
    re.IGNORECASE,
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


def _boilerplate_match(s: str) -> bool:
    """``_BOILERPLATE.search(s)``, skipped when a substring test proves it would fail."""
    if _FOLD_TRAPS.isdisjoint(s):
        low = s.lower()
        if not low.startswith("by") and not any(k in low for k in _BOILERPLATE_KEYS):
            return False
    return _BOILERPLATE.search(s) is not None


# ------------------------------------------------------------------------- cues
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
_PAST = re.compile(r"\b(?:was|were|had|did|said|told|announced|reported|\w{3,}ed)\b", re.IGNORECASE)
# -------------------------------------------------------- sections, by what is said
# A wrong label is worse than an absent section: these read only explicit forms.
# A plan or a decision ahead by its form alone ("is due to", "has scheduled").
_AHEAD_STRONG = re.compile(
    r"""\b(?:
    (?:is|are|was|were)\ (?:due|scheduled)\ to | (?:is|are)\ to\ be\ \w+ed
  | (?:is|are)\ scheduled | (?:has|have)\ scheduled | no\ word\ yet
  | (?:it\ is|it's|remains)\ (?:unclear|not\ clear)\ whether
  | deadline | awaits | awaiting | upcoming | next\ step
  | later\ this\ (?:week|month|year) | next\ (?:week|month|year|weekend)
    \b(?=.*\b(?:will|would|to\ be|expected)\b)
  )\b""",
    re.I | re.X,
)
# Forecasts and intentions are plans to watch only with a time ahead: "is expected to
# rule on Friday", not "is expected to serve two years" or "are likely to close".
_AHEAD_SOFT = r"""\b(?:(?:is|are|was|were)\ (?:expected|set|likely|poised)\ to
  | (?<!no\ )plans\ to | planning\ to | intends\ to | aims\ to)\b[^.;]{0,80}?"""
_FUTURE = re.compile(r"\b(?:will|won[’']t|shall|[’']ll)\b", re.I)
_AHEAD_TIME = re.compile(
    r"""\b(?:on\ (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)
  | (?:this|next|coming)\ (?:week|month|year|weekend|monday|tuesday|wednesday|thursday|friday
    |saturday|sunday|spring|summer|autumn|fall|winter)
  | in\ (?:january|february|march|april|may|june|july|august|september|october|november|december
    |the\ coming|the\ (?:spring|summer|autumn|fall|winter|new\ year))
  | by\ the\ end\ of | within\ (?:days|weeks|months)
  | (?:in|by|from|until)\ 20[2-9]\d | later | soon | at\ the\ closing | tomorrow | then
    | before\ the
  | the\ next\ (?:month|week|year|few)
  )\b""",
    re.I | re.X,
)
_GENERIC = re.compile(
    r"""\b(?:if|whenever|you|your|inevitably|always|automatically|usually)\b""", re.I | re.X
)
_SIGNIFICANCE = re.compile(
    r"""\b(?:
    raised?\ (?:fears|concerns|questions|hopes|doubts) | rais(?:es|ing)\ (?:fears|concerns
    |questions)
  | (?:worry|worries|worried|fear|fears|feared|concerned)\ that | warn(?:s|ed)?\ that
  | analysts?\ (?:said|say|says|believe|expect|warn\w*) | experts?\ (?:said|say|says|warn\w*)
  | could\ (?:strengthen|weaken|hurt|boost|lead|cost|mean|affect|undermine|push|force|threaten
    |trigger|derail|damage|jeopardi[sz]e|reshape|change)
  | would\ (?:strengthen|weaken|hurt|boost|lead|cost|mean|affect|undermine|push|force|threaten
    |trigger|derail|damage)
  | (?:means|meaning)\ that | which\ means
  | a\ (?:new\ )?record\b(?!\ (?:label|store|player|number))
  | (?:largest|biggest|highest|lowest|worst)\ (?:since|ever|in\ (?:history|decades|years))
  | will\ (?:eat\ up|overtake|cost|force|mean) | at\ risk | the\ risk\ of
  | a\ blow\ to | a\ boost\ (?:to|for) | unprecedented
  )\b""",
    re.I | re.X,
)
_DATED_FUTURE = re.compile(
    r"\b(?:will|won[’']t|shall)\b[^.;]{0,80}?" + _AHEAD_TIME.pattern, re.I | re.X
)
_NEGATION = re.compile(r"\b(?:not|never|n[’']t)\b", re.I)
_DATED_PLAN = re.compile(_AHEAD_SOFT + _AHEAD_TIME.pattern, re.I | re.X)
_TIME_FIRST = re.compile(
    r"^(?:then,?\ )?" + _AHEAD_TIME.pattern + r"[^.;]{0,80}?\b(?:will|shall)\b", re.I | re.X
)


def section_of(text: str) -> str:
    """ "ahead" for a sentence that looks ahead (a dated plan, an expected decision, a
    next step), "significance" for one that states significance or consequence, else
    "". Cue words alone decide nothing: generic statements ("you", "if", "always") are
    neither, and quoted words are not read. Measured against hand labels in
    tests/data/section_labels.jsonl (tests/test_sections.py)."""
    bare = _QUOTATION.sub(" ", text)
    if _GENERIC.search(bare):
        return ""
    if _SIGNIFICANCE.search(bare):
        # "he did not think it would mean meltdown" denies the consequence it names.
        return "" if _NEGATION.search(bare) else "significance"
    if (
        _AHEAD_STRONG.search(bare)
        or _DATED_FUTURE.search(bare)
        or _DATED_PLAN.search(bare)
        or _TIME_FIRST.search(bare)
    ):
        return "ahead"
    return ""


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
    ended: bool = True  # closes with a full stop (or ! ? …): a whole sentence
    listed: bool = False  # a list item, a table row, a caption: never a point on its own
    unattributed: bool = False  # a quotation that does not name who said it
    scene: bool = False  # opens like a feature's scene-setting, not like news
    label: bool = False  # a live-blog or section label ("The latest (all times local):")


# Opening words that lean on the sentence before: out of context ("He said the talks
# would resume") a reader cannot tell who or what they mean.
_DANGLING = frozenset(
    """he she it they this these those that his her its their them him but however also
    and meanwhile still yet such so then thus hence instead there here it's that's
    he's she's they're there's nor or besides likewise similarly otherwise""".split()
)
_DANGLING_PHRASE = re.compile(
    r"^(?:in\ other\ words|as\ a\ result|in\ addition|on\ the\ other\ hand|by\ contrast"
    r"|for\ (?:example|instance)|even\ so|at\ the\ same\ time|the\ (?:same|latter|former)"
    r"|in\ (?:that|this|the\ meantime)|after\ (?:that|this)|because\ of\ (?:that|this)"
    r"|the\ (?:move|decision|announcement|comments?|remarks?|statement|news|deal|plan)\b"
    r"|(?:this|that)\ (?:is|was|comes|came|means|meant))\b",
    re.IGNORECASE | re.VERBOSE,
)


def _dangles(text: str) -> bool:
    bare = text.lstrip("\"“'‘([ ").replace("’", "'")
    first = bare.split(" ", 1)[0].rstrip(",;:").lower()
    return first in _DANGLING or _DANGLING_PHRASE.match(bare) is not None


# A list item, a table row or a figure reference: "- Fixed …", "• …", "22/50 …", "[figure".
_LISTED = re.compile(r"^(?:[-•*+–·▪►^#]\s|\[|\d{1,3}(?:[.)]|/\d+)\s)")
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
# the harbour town…", "It was just after dawn when…", "Imagine…", "When Maria Lopez…".
_SCENE = re.compile(
    r"^(?:on\ an?\ |in\ an?\ |at\ an?\ |it\ (?:was|is)\ |there\ (?:was|is|are|were)\ "
    r"|imagine\b|picture\ this|when\ |as\ (?:the|a|dawn|night|dusk)\b|once\ |for\ (?:years|decades"
    r"|months|most\ of)\b|every\ (?:morning|day|night|year|week)|standing\ |inside\ |outside\ "
    r"|under\ a\ |beneath\ |just\ after\ |shortly\ (?:after|before)\ (?:dawn|dusk|midnight)"
    r"|[a-z]+ing\ (?:through|along|past|into|down|up|across|beside|outside|inside)\b|i\ |we\ )",
    re.IGNORECASE | re.VERBOSE,
)
# Live-blog and section labels: "The latest on the strike (all times local):".
_LABEL_LINE = re.compile(
    r":\s*$|^(?:the\ latest|latest|live|live\ updates?|breaking|update|updated|here'?s\ "
    r"|what\ (?:we\ know|to\ know)|key\ (?:points|facts))\b",
    re.IGNORECASE | re.VERBOSE,
)


# "…,” she said": the speaker is named in an earlier sentence.
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


def _listed(text: str) -> bool:
    if _LISTED.match(text) or " | " in text or "\t" in text:
        return True
    digits = sum(map(str.isdigit, text))
    return digits > len(text) / 5


def strip_dateline(sentence: str, *, opening: bool = False) -> str:
    """Drop a leading dateline ("BEIJING (Reuters) -", "(CNN) --", "PARIS —"); with
    ``opening`` (the first sentence of a text) also a mixed-case one ("Springfield –",
    "Portland, OR –"), which mid-text could be a name followed by an aside."""
    stamp = _TIMESTAMP.match(sentence)
    if stamp is not None and len(sentence) - stamp.end() >= 20:
        sentence = sentence[stamp.end() :]  # a live blog's "9:30 a.m.:" entry time
    m = _DATELINE.match(sentence)
    if m is None and opening:
        m = _MIXED_DATELINE.match(sentence)
    if m is None:
        return sentence
    rest = sentence[m.end() :].lstrip()
    # Only when what follows still reads as a sentence.
    if len(rest) >= 20 and (rest[0].isupper() or rest[0].isdigit() or rest[0] in "\"“‘'"):
        return rest
    return sentence


# "Council backs barrier after long debate The Northgate council voted…": a standfirst
# (or a headline) run into the first sentence without a full stop. A capitalised
# article after a lower-case word, with no punctuation between, starts a sentence;
# after a preposition it is a title ("reported by The Times").
_GLUED = re.compile(r"(?<=[a-z0-9%’'”)])\s+(?=(?:The|A|An)\s+\w)")
_NOT_BEFORE_TITLE = frozenset("by in of at from to for with on into about and or".split())


def unglue_standfirst(sentence: str, title_words: frozenset[str]) -> str:
    """The first sentence without a standfirst glued to its front, if it has one: a
    run of words that says what the headline says ("movie The Aviator" is a title)."""
    m = _GLUED.search(sentence)
    if m is None:
        return sentence
    head, rest = sentence[: m.start()], sentence[m.end() :]
    words = head.split()
    if len(words) < 4 or len(rest.split()) < 10 or words[-1].lower() in _NOT_BEFORE_TITLE:
        return sentence
    if _TERMINAL.search(head) or any(c in head for c in ',;:"“”'):
        return sentence  # a clause of the sentence itself, not a standfirst
    return rest


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
    for n, raw in enumerate(split_sentences(text)):
        shown = strip_dateline(raw, opening=n == 0)
        if is_boilerplate(shown):
            continue
        words = _content_words(shown)
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
                dangling=_dangles(shown)
                or (unquoted != shown and _PRONOUN_SPEAKER.search(unquoted) is not None),
                ended=_TERMINAL.search(shown) is not None,
                listed=_listed(shown),
                unattributed=_unattributed_quote(shown),
                scene=_SCENE.match(shown) is not None,
                label=_LABEL_LINE.search(shown) is not None,
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
    (``;``, ``,``, ``:``, a dash) within ``limit``, with an ellipsis to show the cut; as
    a last resort, at a word. A boundary that leaves a quotation open is used only when
    no other fits."""
    text = text.strip()
    if len(text) <= limit:
        return text
    room = limit - 1  # the ellipsis
    best = inside_quote = -1
    for m in _CLAUSE_BREAK.finditer(text, 0, room + 1):
        if CLAUSE_MIN <= m.start() <= room:
            if _quotes_balanced(text[: m.start()]):
                best = m.start()
            else:
                inside_quote = m.start()
    if best < 0:
        best = inside_quote
    if best < 0:
        head = text[: room + 1]
        space = head.rfind(" ")
        best = space if space >= CLAUSE_MIN else room
    return text[:best].rstrip(" ,;:–—-") + "…"


def _eligible(s: _Sentence) -> bool:
    """May be shown on its own (a lead, a bullet, a section sentence): a whole sentence,
    not a list item or a label, and no quotation without its speaker."""
    return s.ended and s.balanced and not (s.listed or s.unattributed or s.label)


def _pick_bullets(
    candidates: list[_Sentence], taken: list[frozenset[str]], shown: list[_Sentence]
) -> list[_Sentence]:
    """Up to three bullets by maximal marginal relevance. A sentence that leans on the
    one before it is a candidate only once that one is shown (the lead or a bullet), and
    is then placed right after it; one longer than a bullet weighs less than one that
    fits whole."""
    picked: list[_Sentence] = []
    sources_used: set[int] = set()
    pool = [s for s in candidates if _eligible(s)]
    while pool and len(picked) < BULLET_COUNT:
        best: _Sentence | None = None
        best_value = -math.inf
        visible = {(s.source, s.position) for s in shown + picked}
        for s in pool:
            if s.dangling and (s.source, s.position - 1) not in visible:
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
    # A bullet that leans on the one before it follows it directly.
    ordered: list[_Sentence] = []
    for s in picked:
        if s.dangling:
            before = next(
                (
                    i
                    for i, o in enumerate(ordered)
                    if (o.source, o.position + 1) == (s.source, s.position)
                ),
                None,
            )
            ordered.insert(0 if before is None else before + 1, s)
        else:
            ordered.append(s)
    return ordered


# ---------------------------------------------------------------------- condenser


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


class ExtractiveCondenser:
    """The default condenser: offline, deterministic, extractive (see module doc)."""

    name = "extractive"

    def condense(self, briefing_id: str, material: Sequence[SourceText], now: datetime) -> Briefing:
        """A story's reports (first report first) -> its briefing. Never raises on odd
        text; material with nothing to condense (a headline only, a page in a language
        the condenser does not read, a table) gives a short item: headline and sources,
        no lead and no bullets."""
        story = _analyse_story(material)
        headline = story.headline
        plan = _plan(story) if _briefable(story) else None
        if plan is not None:  # several outlets: lead and bullets by agreement
            lead_parts, chosen = [plan.lead], plan.bullets
            lead = (
                plan.lead.text
                if len(plan.lead.text) <= LEAD_MAX
                else fit_bullet(plan.lead.text, LEAD_MAX)
            )
        elif _briefable(story):
            lead_parts, lead, chosen = _choose(story)
        else:
            lead_parts, lead, chosen = [], "", []
        if len(story.sources) > 1 and lead_parts:
            main = story.sources[lead_parts[0].source]
            if one_line(main.title):
                # The headline of the report the lead comes from, not of the first to
                # arrive (a bare headline from an aggregator may well arrive first).
                headline = _headline([main], [])
        bullets = [
            Bullet(text=fit_bullet(s.text), source=s.source, sentence=s.original) for s in chosen
        ]
        if plan is not None:  # new facts only: other outlets' headlines, then any conflict
            bullets += [Bullet(text=fit_bullet(t), source=i, sentence=t) for t, i in plan.extra]
            bullets = bullets[:BULLET_COUNT]
            if plan.differ:
                differ = Bullet(text=fit_bullet(plan.differ), source=plan.differ_source)
                bullets = [*bullets[: BULLET_COUNT - 1], differ]
        what_happened = why = watch = ""
        if lead:
            # The full briefing shows the bullets right above the sections: no section
            # may repeat one, as none repeats the lead.
            shown = {id(s) for s in lead_parts} | {id(s) for s in chosen}
            taken = [frozenset(_content_words(lead)), *(s.words for s in lead_parts)]
            what_happened, why, watch = _sections(
                story.sentences, shown, taken + [s.words for s in chosen]
            )
        return Briefing(
            id=briefing_id,
            headline=headline,
            lead=lead,
            bullets=bullets,
            what_happened=what_happened,
            why_it_matters=why,
            what_to_watch=watch,
            sources=story.sources,
            created_at=now,
            updated_at=now,
            condenser=self.name,
        )


def _analyse_story(material: Sequence[SourceText]) -> _Story:
    sources = [m.source for m in material]
    analysed = [_analyse(_readable(m.text or "", m.source.title)) for m in material]
    texts = [text for text, _ in analysed]
    headline = _headline(sources, texts)
    sentences: list[_Sentence] = []
    for i, (_, cached) in enumerate(analysed):
        # Fresh copies: scoring writes to them, and ``id()`` tells them apart below.
        sentences.extend(replace(s, source=i) for s in cached)
    title_words = frozenset(_content_words(headline))
    _score(sentences, title_words)
    return _Story(
        sources=sources,
        texts=texts,
        summaries=[one_line(m.summary or "") for m in material],
        sentences=sentences,
        headline=headline,
        title_words=title_words,
    )


def _readable(text: str, title: str) -> str:
    """The text, or "" when the condenser cannot brief it: a headline repeated as the
    only text, a language other than English (its sentences and boilerplate follow
    rules these are not), or a page that is not an article (a table, a listing)."""
    if not text.strip() or one_line(text).casefold() == one_line(title).casefold():
        return ""
    if language_of(text) != "en":
        return ""
    return text if _is_article(text) else ""


def _plan(story: _Story) -> MultiSourcePlan[_Sentence] | None:
    """Lead and bullets by agreement for a story of several outlets (bot.multisource),
    chosen among the sentences a briefing may show; None for a single source."""
    if len(story.sources) < 2:
        return None
    # Not a sentence that leans on the one before, either: the plan interleaves outlets,
    # so the sentence it leans on would not be above it.
    usable = [s for s in story.sentences if _eligible(s) and not s.dangling]
    return plan_story(
        usable, [s.publisher for s in story.sources], [s.title for s in story.sources]
    )


def _briefable(story: _Story) -> bool:
    return any(_eligible(s) for s in story.sentences)


def _choose(story: _Story) -> tuple[list[_Sentence], str, list[_Sentence]]:
    """The lead (the sentences it was taken from, and its text) and the bullets."""
    lead_parts, lead = _lead(story)
    taken = [frozenset(_content_words(lead)), *(s.words for s in lead_parts)]
    # The lead passed over a scene-setting opening: it is no point of the story either.
    used = {id(s) for s in lead_parts} | {id(s) for s in _scene_setters(story)}
    ranked = sorted(
        (s for s in story.sentences if id(s) not in used),
        key=lambda s: (-s.score, s.source, s.position),
    )
    # A pointing-back bullet may follow the lead only when the lead is the sentence it
    # leans on (not the page's summary written over it).
    shown = lead_parts if lead == " ".join(s.text for s in lead_parts) else []
    return lead_parts, lead, _pick_bullets(ranked, taken, shown)


def _lead(story: _Story) -> tuple[list[_Sentence], str]:
    """The sentence that reports the event: the page's own summary when it is a whole
    sentence the text bears out, else the first of the opening sentences that is not a
    scene-setter, a label, a question or a sentence leaning on another."""
    eligible = [s for s in story.sentences if _eligible(s)]
    main = eligible[0].source
    opening = [s for s in eligible if s.source == main and s.position < LEAD_WINDOW]
    summary = _summary_lead(story.summaries[main], story.texts[main])
    if summary:
        return [
            s for s in opening if _overlap(s.words, frozenset(_content_words(summary))) > REDUNDANT
        ][:1], summary
    title = story.title_words
    first = next((s for s in opening if _news_like(s, title)), None)
    if first is None:
        first = next((s for s in opening if not s.dangling), eligible[0])
    # The opening sentence may carry a standfirst run into it: the lead shows the rest.
    opening_text = unglue_standfirst(first.text, title) if first.position == 0 else first.text
    parts = [first]
    after = [s for s in eligible if s.source == main and s.position == first.position + 1]
    if after and len(opening_text) < SHORT_LEAD:
        second = after[0]
        if len(first.text) + 1 + len(second.text) <= LEAD_MAX:
            parts.append(second)
    lead = " ".join([opening_text, *(s.text for s in parts[1:])])
    if len(lead) > LEAD_MAX:
        lead = fit_bullet(lead, LEAD_MAX)
    return parts, lead


def _scene_setters(story: _Story) -> list[_Sentence]:
    """The main source's opening sentences before the first that reports the news."""
    eligible = [s for s in story.sentences if _eligible(s)]
    if not eligible:
        return []
    main = eligible[0].source
    out = []
    for s in eligible:
        if s.source != main or s.position >= LEAD_WINDOW or _news_like(s, story.title_words):
            break
        if not s.dangling:
            out.append(s)
    return out


def _news_like(s: _Sentence, title: frozenset[str]) -> bool:
    if s.dangling:
        return False
    shared = len(s.words & title)
    if s.scene:
        # A scene-setter shares little with the headline; the same opening words that
        # report the event ("When police arrived…" under "Police …") do.
        return shared >= max(2, len(title) // 3)
    # The news is what the headline says: an opening that shares not one word with it
    # ("The brass band was still tuning up…") sets a scene.
    return shared > 0 or len(title) < 3


def _summary_lead(summary: str, text: str) -> str:
    """The publisher's summary as a lead: one or two whole sentences, every content word
    and number of which is in the text (a teaser or a claim the text does not make is
    not the news)."""
    if not summary or len(summary) > LEAD_MAX:
        return ""
    parts = split_sentences(summary)
    if (
        len(summary.split()) < SUMMARY_MIN_WORDS
        or not 1 <= len(parts) <= 2
        or any(is_boilerplate(s) or not _TERMINAL.search(s) for s in parts)
    ):
        return ""
    if _dangles(summary) or _SCENE.match(summary) or _unattributed_quote(summary):
        return ""
    words = set(_content_words(summary))
    have = set(_content_words(text))
    if not words or len(words - have) > len(words) // 10:
        return ""
    numbers = set(_NUMBER.findall(summary))
    if numbers - set(_NUMBER.findall(text)):
        return ""
    return summary


_NUMBER = re.compile(r"\d[\d.,]*")


def _is_article(text: str) -> bool:
    """Running prose, not a table or a listing: most of its lines are whole sentences."""
    lines = [line for line in text.split("\n") if line.strip()]
    if len(lines) < ARTICLE_MIN_LINES:
        return True
    prose = sum(
        1 for line in lines if _TERMINAL.search(line.strip()) and len(line.split()) >= MIN_WORDS
    )
    chars = sum(len(line) for line in lines if _TERMINAL.search(line.strip()))
    return prose / len(lines) >= ARTICLE_PROSE or chars / max(1, len(text)) >= 0.6


def language_of(text: str) -> str:
    """The language of ``text`` (ISO 639-1, e.g. "en", "pt", "ja"), by py3langid on its
    first few thousand characters."""
    # Imported here: loading the model takes most of a second, once, when first needed.
    import py3langid

    return str(py3langid.classify(text[:LANG_SAMPLE])[0])


# A separator is tried only where a run of spaces starts (the lookbehind): tried inside a
# long run too, each try would scan the rest of it, and a hostile title would cost
# quadratic time. Leftmost matching starts at a run's first space anyway.
_SITE_SEPARATORS = re.compile(r"(?<!\s)(?:\s++(?:[|–—·•»]|-|::)\s+|\s*+\|\s*)")
_TAGLINE = re.compile(
    r"^[^:]{0,80}\b(?:news|source|platform|favou?rite|home\ of|daily|online|portal)\b"
    r"[^:]{0,40}:\s+",
    re.IGNORECASE | re.VERBOSE,
)


def clean_headline(title: str, publisher: str = "", url: str | None = None) -> str:
    """A title without the site's name: "Story | Site", "Story - Site", "Site | The
    region's favourite news source: Story", breadcrumbs "Story » Section » Site"."""
    title = one_line(title)
    site = _site_words(publisher, url)
    parts = _SITE_SEPARATORS.split(title)
    if len(parts) < 2:
        return title
    seps = _SITE_SEPARATORS.findall(title)

    def is_site(part: str) -> bool:
        squashed = re.sub(r"[\W_]", "", part.lower())
        if not squashed:
            return True
        return any(w in squashed for w in site) or squashed in site

    # From the end, then from the start: drop segments that name the site; after a
    # pipe or a chevron, a short tail is a site or a section name even when unnamed.
    while len(parts) > 1:
        tail, sep = parts[-1], seps[-1].strip()
        short = len(tail.split()) <= 5 and len(tail) < len(" ".join(parts[:-1]))
        if (is_site(tail) and len(tail.split()) <= 6) or (sep in {"|", "»"} and short):
            parts, seps = parts[:-1], seps[:-1]
        else:
            break
    while len(parts) > 1 and is_site(parts[0]) and len(parts[0].split()) <= 4:
        parts, seps = parts[1:], seps[1:]
    out = parts[0]
    for sep, part in zip(seps, parts[1:], strict=True):
        out += sep + part
    out = out.strip()
    m = _TAGLINE.match(out)
    if m and len(out) - m.end() >= 20:
        out = out[m.end() :]
    return out or title


def _site_words(publisher: str, url: str | None) -> set[str]:
    words: set[str] = set()
    squashed = re.sub(r"[\W_]", "", publisher.lower())
    if len(squashed) >= 3:
        words.add(squashed)
    if url:
        try:
            host = (urlsplit(url).hostname or "").lower()
        except ValueError:
            host = ""
        for w in re.split(r"[.-]", host):
            if len(w) >= 4 and w not in _HOST_NOISE:
                words.add(w)
    return words


_HOST_NOISE = frozenset("www com org net news blog blogs html info co uk edition".split())


def _headline(sources: list[Source], texts: list[str]) -> str:
    for src in sources:
        title = clean_headline(src.title or "", src.publisher, src.url)
        if title:
            return cut(title, HEADLINE_MAX)
    for text in texts:
        for n, raw in enumerate(split_sentences(text)):
            shown = strip_dateline(raw, opening=n == 0)
            if not is_boilerplate(shown):
                return cut(shown, HEADLINE_MAX)
    return UNTITLED


def _sections(
    sentences: list[_Sentence], used: set[int], lead_words: list[frozenset[str]]
) -> tuple[str, str, str]:
    # A section shows its sentences without the ones before them, so a sentence that
    # leans on its predecessor comes only after every one that stands alone.
    pool = sorted(
        (s for s in sentences if id(s) not in used and _eligible(s)),
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
            # A section shows a sentence without the one before it: one that leans on
            # its predecessor ("But it is not the only player") would not make sense.
            if s.dangling:
                continue
            out.append(s)
            taken.append(s.words)
        return out

    # Dated plans first (sorted() is stable: by score within each group).
    watch_pool = [s for s in pool if s.watch and s.watch >= s.why]
    watch = choose(sorted(watch_pool, key=lambda s: (s.dangling, not s.when)), 2)
    chosen = {id(s) for s in watch}
    why_pool = [s for s in pool if id(s) not in chosen and s.why > s.watch]
    why = choose(sorted(why_pool, key=lambda s: s.dangling), 2)
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
