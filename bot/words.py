"""Words: every tokenizer, stemmer and stop-word list of the core, side by side.

Each stage reads words for its own purpose, and the purposes differ on purpose (the
benchmarks were tuned on each as it is): clustering wants every content token of a
report, names and numbers kept whole; the condenser compares sentences of one story;
the multi-source planner weighs the specific words and counted nouns of two outlets'
sentences; the LLM check asks only whether an answer paraphrases its material. So there
is one of each *per purpose*, named for it, here and nowhere else
(``tests/test_words.py`` keeps it so).

========================  ======================  ========================  ================
purpose                   tokenizer               stop words                stemmer
========================  ======================  ========================  ================
clustering fingerprints   ``CLUSTER_TOKEN``       ``CLUSTER_STOPWORDS``     ``cluster_stem``
                                                  (``NOT_NAMES``)
condenser sentences       ``CONDENSE_WORD``       ``CONDENSE_STOPWORDS``    ``condense_stem``
                          (``content_words``)
multi-source facts        ``FACT_WORD``           ``FACT_STOPWORDS``        ``cluster_stem``
                          (``FIGURE_TOKEN``,      (``UNIT_STOPWORDS``)      (``term_of``)
                          ``LETTER_RUN``)
LLM paraphrase check      ``PARAPHRASE_WORD``     ``PARAPHRASE_STOPWORDS``  5-letter prefix
                          (``paraphrase_words``)
search and related        ``SEARCH_WORD``         ``RELATED_STOPWORDS``     the index's own
                          (``search_words``)
topic matching            ``TOPIC_TOKEN``         —                         ``plural_stem``
                          (``topic_tokens``)
plainly English?          ``LANGUAGE_WORD``       ``ENGLISH_MARKERS``       —
                          (``plainly_english``)
========================  ======================  ========================  ================
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = [
    "CLUSTER_STOPWORDS",
    "CLUSTER_TOKEN",
    "CONDENSE_STOPWORDS",
    "CONDENSE_WORD",
    "ENGLISH_MARKERS",
    "FACT_STOPWORDS",
    "FACT_WORD",
    "FIGURE_TOKEN",
    "LANGUAGE_WORD",
    "LETTER_RUN",
    "LINE_CARRIES_ON",
    "NOT_NAMES",
    "PARAPHRASE_STOPWORDS",
    "PARAPHRASE_WORD",
    "RELATED_STOPWORDS",
    "SEARCH_WORD",
    "TOPIC_TOKEN",
    "UNIT_STOPWORDS",
    "cluster_stem",
    "condense_stem",
    "content_words",
    "paraphrase_words",
    "plainly_english",
    "plural_stem",
    "search_words",
    "topic_tokens",
]

# ------------------------------------------------------------ clustering fingerprints
# A token: letters and digits, with inner dots, commas, apostrophes and hyphens kept
# ("U.S.", "5,000", "O'Neill", "Hsinchu-based"); the clusterer splits it further.
CLUSTER_TOKEN = re.compile(r"[^\W_]+(?:[.,'’-][^\W_]+)*", re.UNICODE)

_CLUSTER_STOPWORD_TEXT = """
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
CLUSTER_STOPWORDS = frozenset(_CLUSTER_STOPWORD_TEXT.split())
# Capitalised words that are not names (months, rubrics).
_NOT_NAME_TEXT = """
    january february march april may june july august september october november
    december breaking exclusive watch video photos live opinion analysis
"""
NOT_NAMES = CLUSTER_STOPWORDS | frozenset(_NOT_NAME_TEXT.split())


def cluster_stem(word: str) -> str:
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


# ---------------------------------------------------------------- condenser sentences
CONDENSE_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
CONDENSE_STOPWORDS = frozenset(
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
def condense_stem(word: str) -> str:
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


def content_words(text: str) -> list[str]:
    """The condenser's content words of ``text``: lower-cased, stop words and single
    letters dropped, stemmed, in order."""
    return [
        condense_stem(w)
        for w in CONDENSE_WORD.findall(text.lower())
        if w not in CONDENSE_STOPWORDS and len(w) > 1
    ]


# ----------------------------------------------------------------- multi-source facts
FACT_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*|\d+(?:[.,]\d+)*")
FACT_STOPWORDS = frozenset(
    """a an the and or but of in on at to for from by with as is are was were be been
    has have had it its this that these those he she they his her their them him we
    our you your i said says say told tell according also after before over under
    about into than then there which who whom whose what when where while will would
    could should may might can not no one new""".split()
)
# Words after a number that are not what it counts ("one of the", "37,000 last month",
# "64 who"): the number then measures nothing two outlets could disagree on.
UNIT_STOPWORDS = frozenset(
    """of the a an and or to in on at for by with per from as who which that than over
    under last next more less about this these those is are was were has have had will
    would could""".split()
)

# A figure as written: a number, or a run of letters that may spell one ("three");
# "1.2" of "1.2-trillion".
FIGURE_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[A-Za-z]+")
LETTER_RUN = re.compile(r"[A-Za-z]+")

# --------------------------------------------------------------- LLM paraphrase check
PARAPHRASE_WORD = re.compile(r"[a-z0-9]+")
PARAPHRASE_STOPWORDS = frozenset(
    """the and for that with from this have has had was were are been its their his her
    they them said says will would could which who what when where than then into also
    not but about after over more most other some such only can one two new""".split()
)


def paraphrase_words(text: str) -> set[str]:
    # Five-letter prefixes: "announced" and "announces" count as the same word, which
    # is all the tolerance a close paraphrase needs.
    return {
        w[:5]
        for w in PARAPHRASE_WORD.findall(text.lower())
        if len(w) > 2 and w not in PARAPHRASE_STOPWORDS
    }


# ---------------------------------------------------------------- extraction
# Words a sentence does not end on: a line of page text that stops on one was cut
# inside a sentence (hard-wrapped prose, ``bot.extract``).
LINE_CARRIES_ON = frozenset(
    "a an the of to in on at by for from with and or but as than that into over".split()
)


# ---------------------------------------------------------------- search and related
# A searchable word keeps its inner apostrophes, dots and hyphens ("U.S.", "co-op").
SEARCH_WORD = re.compile(r"[\w][\w'’.-]*", re.UNICODE)
# Words too common to say what a briefing is about, when looking for related ones.
RELATED_STOPWORDS = frozenset(
    """a an and are as at be been but by for from has have he her his in into is it its
    of on or over said says she than that the their them they this to under up was
    were will with after new more about amid""".split()
)


def search_words(text: str) -> list[str]:
    """The searchable words of ``text``, lower-cased, in order, without duplicates."""
    seen: dict[str, None] = {}
    for match in SEARCH_WORD.finditer(text.lower()):
        word = match.group(0).strip(".'’-")
        if word:
            seen.setdefault(word, None)
    return list(seen)


# -------------------------------------------------------------------- topic matching
TOPIC_TOKEN = re.compile(r"\w+", re.UNICODE)
#: The same runs of word characters, which are what ``\b`` delimits in a pattern: the
#: condenser reads a sentence's words with it before running its cue patterns.
WORD_RUN = TOPIC_TOKEN


def topic_tokens(text: str) -> list[str]:
    """Lower-case word tokens in order (duplicates kept: phrases need positions)."""
    return TOPIC_TOKEN.findall(text.lower())


def plural_stem(word: str) -> str:
    """A crude plural fold: the index's stemmer already matches "chip" to "chips"; the
    topic matcher in Python only needs to agree with it on the common cases."""
    if len(word) > 4 and word.endswith("es"):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


# ------------------------------------------------------------ plainly English?
# Function words of English that are not words of the other languages news is written
# in with Latin letters (no "a", "in", "on", "de", "die", "is", "an"). Running English
# prose is a fifth or more of them, "the" alone about one word in sixteen; German,
# Dutch, the Romance and Nordic languages have almost none ("was", "will" at most).
ENGLISH_MARKERS = frozenset(
    """the of and to that with was were for this which from have has had been would will
    their they there said not but his her she who when after about its than""".split()
)
LANGUAGE_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def plainly_english(text: str) -> bool:
    """True when ``text`` is plainly English prose: a dozen words or more, Latin letters
    without accents (at most one letter in a hundred), "the" at least once in
    thirty-three words and English function words a fifth of all. Anything else is left
    to the language model (``bot.condense.language_of``), which costs most of a second
    and 74 MB to load."""
    words = LANGUAGE_WORD.findall(text.lower())
    n = len(words)
    if n < 12:
        return False
    letters = sum(len(w) for w in words)
    if sum(1 for ch in text if ch.isalpha() and not ch.isascii()) > letters / 100:
        return False
    return words.count("the") * 33 >= n and sum(w in ENGLISH_MARKERS for w in words) * 5 >= n
