"""The checks one model-written sentence must pass against the sources it cites.

A sentence is trusted when, against the text and titles of its cited sources:

- **numbers**: every number it gives is stated there, compared by value, so "18,000"
  matches "18000", "$4bn" matches "$4 billion", "16%" matches "16 per cent" and "2"
  matches "two";
- **changed number**: each number sits beside the same thing in a source sentence as in
  the answer ("240 homes", not "240 people"), or in a source sentence that shares most
  of the answer sentence's words;
- **quotes**: every double-quoted phrase is there word for word;
- **names**: every capitalised word after the first (people, organisations, places,
  days) occurs there;
- **support**: at least :data:`SUPPORT_MIN` of its content words occur there;
- **negation**: clause by clause (split at commas and "and"/"but"), the source clause
  closest to it (most shared content words) is negated ("not", "no", "never", "n't",
  "without" ...) exactly when it is.

What they cannot catch: a wrong claim made of the sources' own words (a cause and an
effect swapped, "before" for "after"), an antonym in place of a negation ("rejected"
for "approved"), and a single-word name at the start of a sentence (left to the support
check).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from ..attribution import attributed
from ..models import SourceText
from ..sentences import split_sentences
from ..text import clean_text
from ..words import LETTER_RUN, SEARCH_WORD, paraphrase_words

__all__ = ["SUPPORT_MIN", "Cited", "sentence_problems"]

SUPPORT_MIN = 0.5  # share of a sentence's content words its cited sources must hold

_SCALES = {
    "k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6, "bn": 1e9,
    "billion": 1e9, "tn": 1e12, "trillion": 1e12,
}  # fmt: skip
_NUMBER = re.compile(
    r"(?<![\w.,])[$£€¥]?(\d+(?:[.,]\d+)*)(?:\s?(%|per\s?cent|percent))?"
    r"(?:\s?(thousand|million|billion|trillion|mn|bn|tn|k|m)\b)?",
    re.IGNORECASE,
)
_WORD_NUMBERS = {
    w: float(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve".split()
    )
}
_WORD_NUMBER = re.compile(r"\b(" + "|".join(_WORD_NUMBERS) + r")\b", re.IGNORECASE)
_QUOTED = re.compile(r"\"([^\"\n]{2,}?)\"|“([^“”\n]{2,}?)”")
_CAPITALISED = re.compile(r"(?<![\w'’])[A-Z][\w'’.-]*")
_TOKEN = SEARCH_WORD  # a word with its inner apostrophes ("didn't"), dots and hyphens
_NEGATION = frozenset(
    "not no never none nobody nothing neither nor without cannot cant".split()
)  # fmt: skip
_NEGATION_SUFFIX = ("n't", "n’t")


def _value(digits: str, percent: str | None, scale: str | None) -> tuple[float, bool]:
    # "1,200" and "1.200" both read as thousands when the group has three digits.
    parts = re.split(r"[.,]", digits)
    if len(parts) > 1 and all(len(p) == 3 for p in parts[1:]):
        number = float("".join(parts))
    else:
        number = float(digits.replace(",", ""))
    return number * _SCALES.get((scale or "").lower(), 1.0), bool(percent)


def numbers(text: str) -> list[tuple[tuple[float, bool], int]]:
    """(value, is-percent) of every number in ``text``, with where it ends."""
    out = [(_value(m.group(1), m.group(2), m.group(3)), m.end()) for m in _NUMBER.finditer(text)]
    return out


def _source_values(text: str) -> set[tuple[float, bool]]:
    values = {v for v, _ in numbers(text)}
    values |= {(_WORD_NUMBERS[m.group(1).lower()], False) for m in _WORD_NUMBER.finditer(text)}
    return values


def _positions(text: str) -> list[tuple[tuple[float, bool], int]]:
    """Like :func:`numbers`, with numbers spelt as words ("two of its piers") too."""
    words = [
        ((_WORD_NUMBERS[m.group(1).lower()], False), m.end()) for m in _WORD_NUMBER.finditer(text)
    ]
    return numbers(text) + words


# Where a sentence's claims divide: a negation belongs to its own clause, so "14 were
# treated and no deaths were reported" shortened to its first clause is no reversal.
# One character either side, no runs: a split that retried a long run of spaces at each
# of its characters was quadratic.
_CLAUSE = re.compile(r"[,;:]\s|\s(?:and|but|while|whereas)\s")


def _clauses(text: str) -> list[str]:
    return [c.strip() for c in _CLAUSE.split(text) if len(paraphrase_words(c)) >= 2] or [text]


def _negated(text: str) -> bool:
    for token in _TOKEN.findall(text.lower()):
        if token in _NEGATION or token.endswith(_NEGATION_SUFFIX):
            return True
    return False


def _unit(text: str, end: int) -> str:
    """The content word right after a number (what it counts), as a 5-letter prefix."""
    for token in _TOKEN.findall(text[end:])[:3]:
        words = paraphrase_words(token)
        if words and not any(ch.isdigit() for ch in token):
            return next(iter(words))
    return ""


@dataclass
class _Sentence:
    text: str
    words: set[str]
    values: set[tuple[float, bool]]


@dataclass
class Cited:
    """The sources one answer sentence cites: their sentences, words and numbers."""

    material: Sequence[SourceText]
    indices: Sequence[int]

    @cached_property
    def sentences(self) -> list[_Sentence]:
        out = []
        for i in self.indices:
            m = self.material[i]
            for text in [clean_text(m.source.title), *split_sentences(clean_text(m.text))]:
                out.append(_Sentence(text, paraphrase_words(text), _source_values(text)))
        return out

    @cached_property
    def corpus(self) -> str:
        return "\n".join(" ".join(s.text.split()) for s in self.sentences)

    @cached_property
    def words(self) -> set[str]:
        return set().union(*(s.words for s in self.sentences)) if self.sentences else set()

    @cached_property
    def folded(self) -> set[str]:
        return {t.strip(".'’-").casefold() for t in _TOKEN.findall(self.corpus)}

    @cached_property
    def values(self) -> set[tuple[float, bool]]:
        return set().union(*(s.values for s in self.sentences)) if self.sentences else set()

    @cached_property
    def clauses(self) -> list[tuple[str, set[str]]]:
        return [(c, paraphrase_words(c)) for s in self.sentences for c in _clauses(s.text)]

    def closest_clause(self, words: set[str]) -> str | None:
        best, shared = None, 0
        for text, clause_words in self.clauses:
            n = len(words & clause_words)
            if n > shared:
                best, shared = text, n
        return best

    def closest(self, words: set[str]) -> _Sentence | None:
        best, shared = None, 0
        for s in self.sentences:
            n = len(words & s.words)
            if n > shared:
                best, shared = s, n
        return best


def _name_tokens(text: str, *, title_case: bool) -> list[str]:
    """Capitalised words after each sentence's first word: the names to look up."""
    if title_case:
        return []
    out = []
    for sentence in split_sentences(text) or [text]:
        for m in _CAPITALISED.finditer(sentence):
            if sentence[: m.start()].strip(" \"“‘'([") == "":
                continue  # a sentence's first word is capitalised anyway
            token = re.sub(r"['’]s$", "", m.group().rstrip(".-'’"))
            if len(token) > 1:
                out.append(token)
    return out


def _is_title_case(text: str) -> bool:
    words = [w for w in LETTER_RUN.findall(text) if len(w) > 3]
    return len(words) >= 3 and sum(w[0].isupper() for w in words) / len(words) > 0.6


def sentence_problems(text: str, cited: Cited, *, headline: bool = False) -> list[str]:
    """What is wrong with one answer sentence against the sources it cites ([] if
    nothing): each problem one short line naming the check."""
    problems: list[str] = []
    answer_numbers = numbers(text)
    words = paraphrase_words(text)
    for value, end in answer_numbers:
        if value not in cited.values:
            problems.append(f"number {text[:end].split()[-1]!r} in no cited source")
            continue
        unit = _unit(text, end)
        ok = False
        for s in cited.sentences:
            if value not in s.values:
                continue
            if len(words & s.words) * 2 >= len(words):
                ok = True
            elif unit:
                ok = any(v == value and _unit(s.text, e) == unit for v, e in _positions(s.text))
            else:
                ok = True
            if ok:
                break
        if not ok:
            problems.append(f"changed number: {text[:end].split()[-1]!r} counts something else")
    for m in _QUOTED.finditer(text):
        if not attributed("quote", m.group(1) or m.group(2), cited.corpus):
            problems.append(f"quote {(m.group(1) or m.group(2))[:40]!r} in no cited source")
    for name in _name_tokens(text, title_case=headline and _is_title_case(text)):
        if name.casefold() not in cited.folded:
            problems.append(f"name {name!r} in no cited source")
    if not words:
        problems.append("no content words")
    elif len(words & cited.words) / len(words) < SUPPORT_MIN:
        problems.append("its cited sources do not support it")
    else:
        for clause in _clauses(text):
            closest = cited.closest_clause(paraphrase_words(clause))
            if closest is not None and _negated(closest) != _negated(clause):
                problems.append("negation differs from the closest source sentence")
                break
    return problems
