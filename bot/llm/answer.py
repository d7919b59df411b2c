"""A model's answer -> the briefing, field by field.

The answer must parse as a JSON object with a headline (anything less is
:class:`LLMError` and the whole story is condensed extractively). Past that, every
field stands or falls on its own: the headline, the lead, each bullet and each section
is checked sentence by sentence against the sources it cites
(:func:`bot.llm.checks.sentence_problems`), and one that fails is replaced by the
extractive briefing's own (for a section: left out when the extractive one has none).
The briefing records in ``written_by_model`` which fields the model wrote.

Lenient in what it reads, since local models drift from the schema: a sentence may be a
string (then it is checked against every source), cite ``"source": n`` instead of
``"sources": [n]``, and a section may be a string, a list of sentences or a list of
paragraphs.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..models import (
    BULLET_COUNT,
    BULLET_MAX,
    HEADLINE_MAX,
    LEAD_MAX,
    SECTION_FIELDS,
    Briefing,
    Bullet,
    SourceText,
)
from ..text import one_line
from ..words import paraphrase_words
from .checks import Cited, sentence_problems
from .prompt import MAX_SOURCES

__all__ = ["LLMError", "merge_answer", "parse_answer"]

SECTION_MAX = 1000  # characters per section, paragraph breaks included

# Greedy body, possessive spaces: "(.*?)\s*```" retried the whitespace run at every
# character of the body (quadratic in a long answer). json.loads skips the spaces.
_FENCE = re.compile(r"^\s*+```(?:json)?(.*)```\s*+$", re.DOTALL | re.IGNORECASE)


class LLMError(Exception):
    """Why a model answer was not used (the story is condensed extractively)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass
class _Said:
    """One sentence of the answer and the sources it cites (0-based; None: all)."""

    text: str
    sources: list[int] | None


def _sentence(item: Any) -> _Said:
    if isinstance(item, str):
        return _Said(one_line(item), None)
    if not isinstance(item, dict) or not isinstance(item.get("text"), str):
        raise ValueError("a sentence is neither a string nor {text, sources}")
    cited = item.get("sources", item.get("source"))
    if isinstance(cited, int) and not isinstance(cited, bool):
        cited = [cited]
    if not isinstance(cited, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) for n in cited
    ):
        raise ValueError("sources is not a list of source numbers")
    return _Said(one_line(item["text"]), [n - 1 for n in cited] if cited else None)


def _sentences(value: Any) -> list[_Said]:
    if isinstance(value, str):
        return [_Said(one_line(value), None)] if value.strip() else []
    if isinstance(value, dict):
        return [_sentence(value)]
    if isinstance(value, list):
        return [_sentence(v) for v in value]
    raise ValueError("expected sentences")


def _paragraphs(value: Any) -> list[list[_Said]]:
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        return [p for p in (_sentences(v) for v in value) if p]
    said = _sentences(value if value is not None else [])
    return [said] if said else []


@dataclass
class Answer:
    """The answer's fields, read but not yet checked."""

    headline: str
    lead: list[_Said]
    bullets: list[_Said]
    sections: dict[str, list[list[_Said]]]


def parse_answer(content: str) -> Answer:
    """A model's message -> its fields, or :class:`LLMError` (``invalid-json``,
    ``schema``) when it is not a briefing at all."""
    fenced = _FENCE.match(content)  # models often wrap JSON in a code fence anyway
    try:
        data = json.loads(fenced.group(1) if fenced else content)
    except ValueError as exc:
        raise LLMError("invalid-json", str(exc)) from None
    if not isinstance(data, dict) or not isinstance(data.get("headline"), str):
        raise LLMError("schema", "not a JSON object with a headline")
    try:
        return Answer(
            headline=one_line(data["headline"]),
            lead=_sentences(data.get("lead", [])),
            bullets=_sentences(data.get("bullets", [])),
            sections={name: _paragraphs(data.get(name)) for name in SECTION_FIELDS},
        )
    except ValueError as exc:
        raise LLMError("schema", str(exc)) from None


class _Checker:
    def __init__(self, material: Sequence[SourceText]) -> None:
        self.material = material
        self.sent = min(len(material), MAX_SOURCES)
        self._cited: dict[tuple[int, ...], Cited] = {}

    def cited(self, said: _Said) -> Cited:
        key = tuple(range(self.sent)) if said.sources is None else tuple(sorted(set(said.sources)))
        if key not in self._cited:
            self._cited[key] = Cited(self.material, key)
        return self._cited[key]

    def problems(self, said: Sequence[_Said], *, headline: bool = False) -> list[str]:
        if not said or not all(s.text for s in said):
            return ["empty"]
        out: list[str] = []
        for s in said:
            bad = [n + 1 for n in s.sources or [] if not 0 <= n < self.sent]
            if bad:
                out.append(f"cites source {bad[0]} of {self.sent}")
                continue
            out += sentence_problems(s.text, self.cited(s), headline=headline)
        return out


def _bullet(said: _Said, checker: _Checker) -> Bullet:
    """A checked bullet: the source (and its sentence) closest to what it says."""
    closest = checker.cited(said).closest(paraphrase_words(said.text))
    source = (said.sources or [0])[0]
    if closest is not None:
        for i in checker.cited(said).indices:
            if closest.text in checker.material[i].text or closest.text in (
                checker.material[i].source.title
            ):
                source = i
                break
    return Bullet(text=said.text, source=source, sentence=closest.text if closest else "")


def merge_answer(
    answer: Answer,
    extractive: Briefing,
    material: Sequence[SourceText],
    now: datetime,
    failures: Counter[str] | None = None,
) -> Briefing:
    """The extractive briefing with every field the model wrote that passes its checks
    put in its place. ``failures`` counts, per field, why one was refused."""
    checker = _Checker(material)
    used: list[str] = []
    failures = failures if failures is not None else Counter()

    def passes(name: str, said: Sequence[_Said], limit: int, *, headline: bool = False) -> bool:
        length = sum(len(s.text) + 1 for s in said)
        problems = [f"longer than {limit} characters"] if length > limit + 1 else []
        problems = problems or checker.problems(said, headline=headline)
        if problems:
            failures[f"{name}: {problems[0]}"] += 1
            return False
        used.append(name)
        return True

    update: dict[str, Any] = {}
    if passes("headline", [_Said(answer.headline, None)], HEADLINE_MAX, headline=True):
        update["headline"] = answer.headline
    if passes("lead", answer.lead[:2], LEAD_MAX) and len(answer.lead) <= 2:
        update["lead"] = " ".join(s.text for s in answer.lead)
    bullets: list[Bullet] = []
    seen: set[str] = set()
    for i, said in enumerate(answer.bullets[:BULLET_COUNT]):
        name = f"bullet{i + 1}"
        if said.text.casefold() in seen:
            failures[f"{name}: repeats another bullet"] += 1
        elif passes(name, [said], BULLET_MAX):
            bullets.append(_bullet(said, checker))
            seen.add(said.text.casefold())
            continue
        if i < len(extractive.bullets):
            bullets.append(extractive.bullets[i])
    if bullets:
        unique = {b.text.casefold(): b for b in bullets}  # an extractive stand-in may repeat
        update["bullets"] = list(unique.values())
    for name, paragraphs in answer.sections.items():
        flat = [s for p in paragraphs for s in p]
        if flat and len(paragraphs) <= 2 and passes(name, flat, SECTION_MAX - 2):
            update[name] = "\n\n".join(" ".join(s.text for s in p) for p in paragraphs)
    if not used:
        raise LLMError("unsupported", "; ".join(list(failures)[:3]) or "no field passed")
    return extractive.model_copy(
        update={
            **update,
            "written_by_model": used,
            "condenser": "llm",
            "created_at": now,
            "updated_at": now,
        }
    )
