"""Multi-source briefings: a story's lead and bullets chosen from what its sources agree on.

When several outlets report one story, the single-article logic of
:mod:`bot.condense` would lead with whichever outlet arrived first and repeat the same
fact in each outlet's words. This module works on the sentences the condenser has
already analysed (anything with ``text``, ``original``, ``source`` and ``position``)
and decides, for stories with two or more sources:

- **The lead by agreement.** Each opening sentence is scored by how much the *other*
  sources support it: the weight of its specific words (by the clusterer's
  word-frequency IDF, so "Geneva" counts and "said" does not) that the other sources
  also report near their top, with its position and how central its words are to the
  story. The sentence the others back most leads; ties go to the earlier position,
  then to the text itself, never to arrival order.
- **One fact, said once.** Two sentences are one fact when they share most of their
  specific words, or when they give the same numbers about the same names. A bullet
  that repeats the lead or an earlier bullet is skipped.
- **Sources differ.** When two outlets give different numbers for the same thing (the
  same unit: "months", "people", "percent", with the same names around it), the
  briefing says so: ``Sources differ: three months (Outlet A), two months (Outlet B)``
  (only when no outlet gives both figures itself: then it is telling two things apart).
- **Bullets from several outlets.** The three bullets come from at least two outlets
  when the story has them, and a bullet that opens on a pronoun or quotes a speaker
  named only in the sentence before ("…," she said) is passed over when another will do.

Pure standard library and deterministic; the result does not depend on the order the
sources are given in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Generic, Protocol, TypeVar

from .cluster import prior_idf, term_of
from .models import Briefing, Bullet
from .words import FACT_STOPWORDS, FACT_WORD, FIGURE_TOKEN, LETTER_RUN, UNIT_STOPWORDS

__all__ = ["MultiSourcePlan", "SourceSentence", "bullet_outlet", "plan_story"]

DIFFER = "Sources differ: "
LEAD_POOL = 3  # opening sentences of each source considered for the lead
SUPPORT_POOL = 8  # sentences of each source that can support a claim
SAME_FACT = 0.4  # share of the smaller sentence's specific weight that makes one fact
BULLETS = 3
POSITION_DECAY = 0.25
MIN_SPECIFIC = 2.5  # IDF below this is a function word for agreement purposes
NEARBY = 3  # words either side of a figure that say what it counts
# Words that hedge a figure, not say what it counts ("at least nine", "nearly 30").
_HEDGES = frozenset(
    term_of(w)
    for w in """least most more than about nearly almost around roughly approximately over
    under some estimated just only fewer less up another total""".split()
)
# A sentence's value: how much the other outlets support it, where it stands in its
# report, and how central its words are to the whole story (all order-free).
W_AGREE = 1.0
W_POS = 0.5
W_OWN = 1.0


class SourceSentence(Protocol):
    """What the planner needs of an analysed sentence."""

    @property
    def text(self) -> str: ...
    @property
    def original(self) -> str: ...
    @property
    def source(self) -> int: ...
    @property
    def position(self) -> int: ...


S = TypeVar("S", bound=SourceSentence)


@dataclass(frozen=True)
class MultiSourcePlan(Generic[S]):
    """The chosen lead sentence, the bullet sentences (at most three) and, when the
    sources give different numbers for the same thing, a ``Sources differ`` line with
    the index of the first source it cites."""

    lead: S
    bullets: list[S]
    differ: str | None = None
    differ_source: int = 0
    #: When the sentences run out before three bullets: other outlets' headlines that
    #: say something new, as ``(text, source)``.
    extra: tuple[tuple[str, int], ...] = ()


_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        """zero one two three four five six seven eight nine ten eleven twelve thirteen
        fourteen fifteen sixteen seventeen eighteen nineteen twenty""".split()
    )
} | {w: 10 * i for i, w in enumerate("thirty forty fifty sixty seventy eighty ninety".split(), 3)}
_SCALE = {"hundred": 1e2, "thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
# A number and the noun it counts: "three months", "600,000 deaths", "5.4 billion euros".
_QUANTITY = re.compile(
    r"(?<![\w.,-])(\d+(?:[.,]\d+)*|" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + ")"
    r"(?:\s+(hundred|thousand|million|billion|trillion))?"
    r"(?:\s+(?:more|new|other|extra|additional))?\s+([a-z][a-z-]+)"
    r"(?:(?=\s+([a-z][a-z-]+)))?",  # the word after, unconsumed: "18 prominent scientists"
    re.IGNORECASE,
)
_DANGLING = frozenset("he she it they this these those his her its their but however".split())
# "…," she told reporters: the speaker is named in an earlier sentence.
_PRONOUN_SPEAKER = re.compile(r"[”\"],?\s+(?:he|she|they)\s+(?:said|says|told|added)\b", re.I)
_ATTRIBUTION = re.compile(r"\b(?:said|says|told|according|added|wrote|asked)\b", re.IGNORECASE)


@dataclass(frozen=True)
class _Facts:
    weights: dict[str, float]  # specific words -> IDF
    total: float
    numbers: frozenset[str]
    names: frozenset[str]
    # (unit, value, as written, the content words either side of it)
    quantities: tuple[tuple[str, float, str, frozenset[str]], ...]
    counts: frozenset[tuple[str, float]]  # (noun, value), the noun next or one further


@lru_cache(maxsize=1024)  # ~2.5 kB each: the sentences of the stories planned lately
def _facts(text: str) -> _Facts:
    """What ``text`` states, for telling facts apart. Cached (never changed once made):
    a story is planned again each time a source joins it, over every source's
    sentences, and this was most of the planning."""
    weights: dict[str, float] = {}
    names: set[str] = set()
    numbers: set[str] = set()
    first = True
    spans: list[tuple[int, int, str]] = []  # the words (not figures) and where they stand
    for m in FACT_WORD.finditer(text):
        raw = m.group(0)
        if raw[0].isdigit():
            numbers.add(raw.replace(",", ""))
            weights[raw.replace(",", "")] = 6.0
            first = False
            continue
        low = raw.lower()
        if low in FACT_STOPWORDS or len(low) < 2:
            spans.append((m.start(), m.end(), ""))
            first = False
            continue
        term = term_of(low)
        spans.append((m.start(), m.end(), term))
        idf = prior_idf(term)
        if idf >= MIN_SPECIFIC:
            weights[term] = idf
        if raw[0].isupper() and not first:
            names.add(term)
        first = False
    quantities = []
    counts: set[tuple[str, float]] = set()
    for m in _QUANTITY.finditer(text):
        value = _value(m.group(1), m.group(2))
        unit = term_of(m.group(3))
        if value is None or unit in UNIT_STOPWORDS or _is_year(m.group(1), m.group(2)):
            continue
        numbers.add(_number_key(value))
        shown = " ".join(g for g in (m.group(1), m.group(2), m.group(3)) if g)
        before = [t for start, end, t in spans if end <= m.start()][-NEARBY:]
        after = [t for start, end, t in spans if start >= m.end()][:NEARBY]
        near = frozenset(before + after) - _HEDGES - {unit, ""}
        quantities.append((unit, value, shown, near))
        counts.add((unit, value))
        if m.group(4):
            counts.add((term_of(m.group(4)), value))
    return _Facts(
        weights=weights,
        total=sum(weights.values()),
        numbers=frozenset(numbers),
        names=frozenset(names),
        quantities=tuple(quantities),
        counts=frozenset(counts),
    )


def _value(number: str, scale: str | None) -> float | None:
    low = number.lower()
    if low in _NUMBER_WORDS:
        value = float(_NUMBER_WORDS[low])
    else:
        try:
            value = float(low.replace(",", ""))
        except ValueError:
            return None
    return value * _SCALE.get((scale or "").lower(), 1.0)


def _is_year(number: str, scale: str | None) -> bool:
    return not scale and len(number) == 4 and number[:2] in ("19", "20")


def _number_key(value: float) -> str:
    return f"{value:g}"


def _overlap(a: _Facts, b: _Facts) -> float:
    """Shared specific weight over the smaller sentence's: 1 when one says all the
    other says."""
    if not a.weights or not b.weights:
        return 0.0
    if len(a.weights) > len(b.weights):
        a, b = b, a
    shared = sum(w for t, w in a.weights.items() if t in b.weights)
    return shared / min(a.total, b.total)


def _same_fact(a: _Facts, b: _Facts) -> bool:
    """One fact in two wordings: most specific words shared, or the same numbers
    about the same names."""
    if _overlap(a, b) >= SAME_FACT:
        return True
    # The same count of the same thing ("600,000 deaths") is one fact however it is
    # worded; so is a telling number (three digits or more) beside the same name.
    if a.counts & b.counts:
        return True
    numbers = a.numbers & b.numbers
    big = {n for n in numbers if len(n.replace(".", "")) >= 2}
    return bool(big) and (len(a.names & b.names) >= 1 or _overlap(a, b) >= 0.3)


def _stands_alone(s: SourceSentence) -> bool:
    """False for a sentence that leans on the one before: it opens on a pronoun, or
    it is a quotation whose speaker is named elsewhere."""
    text = s.text.lstrip()
    first = text.lstrip("\"“'‘([ ").split(" ", 1)[0].rstrip(",;:").lower()
    if first in _DANGLING or _PRONOUN_SPEAKER.search(text):
        return False
    return not (text[:1] in '"“' and not _ATTRIBUTION.search(text))


def plan_story(
    sentences: Sequence[S],
    publishers: Sequence[str],
    titles: Sequence[str] = (),
    bullet_weight: Callable[[S], float] = lambda s: 1.0,
    may_follow: Callable[[S, Sequence[S]], bool] = lambda s, above: True,
) -> MultiSourcePlan[S] | None:
    """Lead, bullets and any ``Sources differ`` line for a story of several sources.

    ``sentences`` are the usable sentences of every source (``source`` indexes
    ``publishers``). ``bullet_weight`` scales a sentence's value as a bullet: less for
    one that must be cut to fit, 0 for one that cannot be a bullet at all;
    ``may_follow`` says whether one may be shown below the lead and bullets chosen so
    far (a person named by surname only, once the full name is above it). Returns
    ``None`` when fewer than two sources have sentences (the single-article logic then
    decides)."""
    by_source: dict[int, list[S]] = {}
    for s in sentences:
        by_source.setdefault(s.source, []).append(s)
    if len(by_source) < 2:
        return None
    for group in by_source.values():
        group.sort(key=lambda s: s.position)
    facts = {id(s): _facts(s.text) for s in sentences}

    # What each source reports near its top: the words a claim can be checked against.
    reported = {
        src: set().union(*(facts[id(o)].weights for o in group[:SUPPORT_POOL]))
        for src, group in by_source.items()
    }

    def support(s: S) -> float:
        """The specific weight of ``s`` that the other sources also report, on
        average over them: a sentence full of facts that every outlet confirms."""
        f = facts[id(s)]
        total = 0.0
        for src, words in reported.items():
            if src != s.source:
                total += sum(w for t, w in f.weights.items() if t in words)
        return total / (len(by_source) - 1)

    def rank_key(s: S, value: float) -> tuple[float, int, str]:
        # Arrival order never decides: ties go to position, then to the text.
        return (-round(value, 6), s.position, s.text)

    openings = [s for g in by_source.values() for s in g[:LEAD_POOL] if _stands_alone(s)]
    if not openings:
        openings = [g[0] for g in by_source.values()]
    raw = {id(s): support(s) for s in sentences}
    top = max(raw.values(), default=0.0) or 1.0
    agreement = {k: v / top for k, v in raw.items()}

    # Centrality over the whole story: a sentence whose specific words recur across
    # many sentences talks about what the story is about (the same for any order).
    spread: dict[str, int] = {}
    for s in sentences:
        for t in facts[id(s)].weights:
            spread[t] = spread.get(t, 0) + 1
    central = {
        id(s): sum(spread[t] - 1 for t in facts[id(s)].weights)
        / (len(facts[id(s)].weights) + 4) ** 0.5
        for s in sentences
    }
    central_top = max(central.values(), default=0.0) or 1.0

    def own(s: S) -> float:
        return central[id(s)] / central_top

    def lead_value(s: S) -> float:
        return (
            W_AGREE * agreement[id(s)]
            + W_POS * 1.0 / (1.0 + POSITION_DECAY * s.position)
            + W_OWN * own(s)
        )

    lead = min(openings, key=lambda s: rank_key(s, lead_value(s)))

    weight = {id(s): bullet_weight(s) for s in sentences}
    pool = [s for s in sentences if s is not lead and weight[id(s)] > 0]

    def bullet_value(s: S) -> float:
        value = lead_value(s) * weight[id(s)]
        if not _stands_alone(s):
            value -= 0.5
        return value

    ranked = sorted(pool, key=lambda s: rank_key(s, bullet_value(s)))

    def select(count: int) -> tuple[list[S], list[_Facts]]:
        """``count`` bullets by value, each a new fact; the last one from another outlet
        than the others when they all come from one and another outlet has a new fact."""
        said = [facts[id(lead)]]
        bullets: list[S] = []

        def new(s: S) -> bool:
            return (
                s not in bullets
                and not any(_same_fact(facts[id(s)], t) for t in said)
                and may_follow(s, [lead, *bullets])
            )

        while len(bullets) < count:
            outlets = {b.source for b in bullets}
            # What each candidate adds: its value, less the part of it already said.
            order = sorted(
                ranked,
                key=lambda s: rank_key(
                    s, bullet_value(s) * (1.0 - max(_overlap(facts[id(s)], t) for t in said))
                ),
            )
            pick = None
            if count > 1 and len(bullets) == count - 1 and len(outlets) == 1:
                pick = next((s for s in order if s.source not in outlets and new(s)), None)
            if pick is None:
                pick = next((s for s in order if new(s)), None)
            if pick is None:
                break
            bullets.append(pick)
            said.append(facts[id(pick)])
        return bullets, said

    bullets, said = select(BULLETS)
    differ, differ_source = _differences([lead, *bullets], sentences, facts, publishers)
    if differ:  # the line takes the last bullet's place
        bullets, said = select(BULLETS - 1)

    extra: list[tuple[str, int]] = []
    # The lead's own report's headline is the briefing's headline: never a bullet too,
    # nor another outlet's headline that says the same.
    if 0 <= lead.source < len(titles):
        said.append(_facts(titles[lead.source]))
    for i, title in sorted(enumerate(titles), key=lambda it: it[1]):
        if len(bullets) + len(extra) >= BULLETS:
            break
        if i == lead.source:
            continue
        f = _facts(title)
        if len(title.split()) >= 6 and not any(_same_fact(f, t) for t in said):
            extra.append((title, i))
            said.append(f)
    if differ:
        extra = extra[: BULLETS - 1 - len(bullets)]
    return MultiSourcePlan(
        lead=lead, bullets=bullets, differ=differ, differ_source=differ_source, extra=tuple(extra)
    )


def _differences(
    shown: Sequence[S],
    sentences: Sequence[S],
    facts: dict[int, _Facts],
    publishers: Sequence[str],
) -> tuple[str | None, int]:
    """``Sources differ: …`` when another outlet gives a different number for a
    quantity in the story: the same counted noun, in sentences sharing a name or a
    specific word besides it. Quantities the briefing states are checked first."""
    # Every figure each source gives: an outlet that gives both figures itself is
    # telling two things apart (two models, two votes), not disagreeing.
    figures: dict[int, set[str]] = {}
    for o in sentences:
        figures.setdefault(o.source, set()).update(_figures(o.text))
    rest = sorted((s for s in sentences if s not in shown), key=lambda s: (s.position, s.text))
    for s in [*shown, *rest]:
        f = facts[id(s)]
        for unit, value, written, near in f.quantities:
            rivals: dict[int, str] = {}
            for o in sentences:
                if o.source == s.source or o.source in rivals:
                    continue
                g = facts[id(o)]
                # The same thing: sentences that share two specific words besides the
                # counted noun and the numbers (or a name and one more).
                context = (f.weights.keys() & g.weights.keys()) - {unit} - f.numbers - g.numbers
                if len(context) < 2 and not (f.names & g.names and context):
                    continue
                for unit2, value2, written2, near2 in g.quantities:
                    # And the same thing is counted: a word beside both figures ("killed
                    # at least nine people", "…killed at least eight people"), not "after
                    # two months of weak growth" beside "the average of the previous
                    # three months".
                    if (
                        unit2 == unit
                        and near & near2
                        and _conflict(value, value2)
                        and _figure(written2) not in figures[s.source]
                        and _figure(written) not in figures[o.source]
                    ):
                        rivals[o.source] = written2
                        break
            if rivals:
                parts = [f"{written} ({_outlet(publishers, s.source)})"]
                others = sorted((_outlet(publishers, i), w) for i, w in rivals.items())
                parts += [f"{w} ({name})" for name, w in others]
                return DIFFER + ", ".join(parts), s.source
    return None, 0


def bullet_outlet(briefing: Briefing, bullet: Bullet) -> str:
    """The outlet a bullet comes from, for the posted message of a story from several
    outlets ("" for a one-outlet story, a placeholder or a "Sources differ" line,
    which names its outlets itself)."""
    if len({s.publisher for s in briefing.sources}) < 2:
        return ""
    # A placeholder or a "Sources differ" line quotes no sentence of one outlet.
    if not 0 <= bullet.source < len(briefing.sources) or not bullet.sentence:
        return ""
    return briefing.sources[bullet.source].publisher


def _figure(token: str) -> str:
    """The figure of a number as written ("1.2" of "1.2-trillion", "3" of "three")."""
    first = FIGURE_TOKEN.match(token)
    word = first.group(0).lower().replace(",", "") if first else ""
    return str(_NUMBER_WORDS[word]) if word in _NUMBER_WORDS else word


def _figures(text: str) -> set[str]:
    return {_figure(m.group(0)) for m in FIGURE_TOKEN.finditer(text) if m.group(0)[0].isdigit()} | {
        str(_NUMBER_WORDS[w.lower()])
        for w in LETTER_RUN.findall(text)
        if w.lower() in _NUMBER_WORDS
    }


def _conflict(a: float, b: float) -> bool:
    """Two counts of one thing that disagree: apart by a tenth or more (a rounded
    "10,000" is not a different figure from "10,503"), but within a factor of three
    (266,000 against a million is more often two different things)."""
    low, high = sorted((a, b))
    if low <= 0:
        return False
    return high - low >= 0.1 * high and high <= 3 * low


def _outlet(publishers: Sequence[str], index: int) -> str:
    return publishers[index] if 0 <= index < len(publishers) else f"source {index + 1}"
