"""What a text or sentence is not: boilerplate (bylines, captions, calls to action),
a dateline, a standfirst glued to the first sentence, a table, another language."""

from __future__ import annotations

import re

from ..text import one_line
from ..words import plainly_english
from .tuning import ARTICLE_MIN_LINES, ARTICLE_PROSE, LANG_SAMPLE, MAX_CHARS, MIN_WORDS

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
    | \bisbn\b
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
# The note about the writer at the foot of a story: "Jane Doe is a reporter for The
# Ledger covering energy", "Additional reporting by Ana Lima", "The author is a
# professor of law". A journalist in the news ("… is a reporter for the Journal who was
# detained") names no beat, so the note needs one: covering, covers, based in, focus on.
_AUTHOR_NOTE = re.compile(
    r"^(?:[A-Z][\w.'’-]*+\s++){1,4}+is\ (?:a|an|the)\ (?:[\w-]++\ ){0,3}?"
    r"(?:reporter|correspondent|writer|editor|columnist|contributor|journalist|producer)s?\b"
    r"[^.;]*?\b(?:covering|who\ covers|where\ (?:he|she|they)\ covers?|based\ in"
    r"|focus(?:es|ing)?\ on|writes\ about)\b"
    r"|^(?i:additional\ )?(?i:reporting)\ by\ [A-Z]|^(?i:the\ (?:author|writer)\ (?:is|was))\ ",
    re.VERBOSE,
)
_AUTHOR_ROLES = ("reporter", "correspondent", "writer", "editor", "columnist", "contributor",
                 "journalist", "producer", "reporting by", "author")  # fmt: skip
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
# A live blog's entry time: "9:30 a.m.:", "12:00 PM PT --", "14:05 GMT -".
_TIMESTAMP = re.compile(
    r"^\d{1,2}[:.]\d{2}\s?(?:[ap]\.?m\.?)?\s?"
    r"(?:GMT|BST|UTC|CET|CEST|[ECMP][SD]?T|AEST|AEDT|IST|JST)?\s?(?:--|[:–—-])\s+",
    re.IGNORECASE,
)
_TERMINAL = re.compile(r"[.!?…][\"'”’)\]]*$")


def _reports_a_question(s: str) -> bool:
    """A statement that reports a question, quoted at its end: "Emery posted to Twitter
    asking if there were “any un-angry Trump supporters?”" (four words or more, and no
    question of its own, before the quotation opens)."""
    if not s.endswith(('?"', "?”")):
        return False
    opening = max(s.rfind('"', 0, len(s) - 1), s.rfind("“"))
    words = s[:opening].split()
    return (
        opening > 0
        and len(words) >= 4
        and "?" not in s[:opening]
        and words[0].lower() not in _ASKING  # "Why did the council ask “…?”": a question
    )


_ASKING = frozenset(
    """why what how who whom whose when where which is are was were do does did can could
    should would will shall has have had""".split()
)


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
    "http", "www.", "@", "published:", "updated", "|", "isbn",
)  # fmt: skip
_FOLD_TRAPS = frozenset("\u0130\u0131\u017f\u212a")


def _boilerplate_match(s: str) -> bool:
    """``_BOILERPLATE.search(s)``, skipped when a substring test proves it would fail."""
    if _FOLD_TRAPS.isdisjoint(s):
        low = s.lower()
        if not low.startswith("by") and not any(k in low for k in _BOILERPLATE_KEYS):
            return False
    return _BOILERPLATE.search(s) is not None


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
    low = s.lower()
    if any(r in low for r in _AUTHOR_ROLES) and _AUTHOR_NOTE.match(s):
        return True
    if s.rstrip("\"'”’)] ").endswith("?") and not _reports_a_question(s):
        return True  # a question to the reader, or a quoted one: never a key point
    letters = "".join(filter(str.isalpha, s))
    if len(letters) < 15:
        return True
    upper = sum(map(str.isupper, letters))
    if upper / len(letters) > 0.6:
        return True  # ALL-CAPS banners and shouted headlines
    # A heading, a menu item, a caption without a full stop.
    return not _TERMINAL.search(s) and len(words) < 12


# Service pieces, not news: a how-to or a ranked list ("How to…", "The 21 best movies
# of 2017", "10 ways to…", "Top 5…"). Their "sentences" are steps and entries; condensed
# as news they give bullets of whichever entries score highest. Posted as a short item.
_SERVICE_HEADLINE = re.compile(
    r"^(?:how\ to\b|(?:the\ )?(?:top\ )?\d{1,3}\ (?:best|worst|greatest|ways|things|tips"
    r"|tricks|steps|habits|mistakes|places|books|movies|films|songs|albums|apps|games"
    r"|foods|recipes)\b|(?:the\ )?(?:top|best)\ \d{1,3}\b)",
    re.IGNORECASE | re.VERBOSE,
)


def _readable(text: str, title: str) -> str:
    """The text, or "" when the condenser cannot brief it: a headline repeated as the
    only text, a how-to or a ranked list, a language other than English (its sentences
    and boilerplate follow rules these are not), or a page that is not an article (a
    table, a listing)."""
    if not text.strip() or one_line(text).casefold() == one_line(title).casefold():
        return ""
    if _SERVICE_HEADLINE.match(one_line(title).lstrip("\"'“‘")):
        return ""
    if language_of(text) != "en":
        return ""
    return text if _is_article(text) else ""


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
    """The language of ``text`` (ISO 639-1, e.g. "en", "pt", "ja"), judged on its first
    characters: "en" at once for plainly English prose (most news, ``plainly_english``),
    otherwise py3langid's answer."""
    sample = text[:LANG_SAMPLE]
    if plainly_english(sample):
        return "en"
    # Imported here: loading the model takes most of a second and 74 MB, once, when a
    # text first needs it (the service loads it at start: ``load_language_model``).
    import py3langid

    return str(py3langid.classify(sample)[0])


def load_language_model() -> None:
    """Load the model ``language_of`` falls back on, now rather than at the first text
    that needs it."""
    import py3langid

    py3langid.classify("warm-up")
