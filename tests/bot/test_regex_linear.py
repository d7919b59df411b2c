"""Every regex the core applies to feed and page text runs in linear time.

A pattern with nested or overlapping quantifiers backtracks exponentially (or
polynomially) on the right input, and ``re`` holds the GIL while it does: one crafted
sentence stops every command, poll and delivery. This test finds every compiled
pattern in the core's modules by introspection (a new pattern is covered without
touching this file) and runs each against inputs built from the pattern itself: for
every quantified part, a prefix that reaches it, a long run of what it repeats (its own
literals and members of its character classes) and a character that makes the match
fail. At 60,000 characters a linear pattern takes a few milliseconds; a quadratic
one takes seconds and an exponential one never ends, so a generous bound separates
them even on a loaded machine.
"""

from __future__ import annotations

import importlib
import pkgutil
import random
import re
import signal
import time
from collections.abc import Iterator
from re import _parser as sre  # type: ignore[attr-defined]
from typing import Any

import pytest

import adapters
import bot
import storage

SHORT = 3_000  # characters of pumped text in every input
LENGTH = 60_000  # ... and in the slowest few of each pattern
WORST = 3
BOUND = 0.5  # seconds; a linear pattern takes a few milliseconds at LENGTH
SAMPLES = 4  # random pumps per quantified part
KILLERS = ("\x00", "!", "x", "")

# Characters the pumps are drawn from: ASCII, the punctuation and spaces of news copy.
_POOL = (
    [chr(c) for c in range(0x20, 0x7F)]
    + list("\t\n\r")
    + list("“”‘’«»…–—é€£¥§©\u00a0\u2009\u200bßİı\u212a")
)


def _core_modules() -> list[Any]:
    # The core's packages too (bot.condense, bot.cluster, bot.commands): their
    # patterns live in their modules, not in the package's namespace.
    names = [m.name for m in pkgutil.walk_packages(bot.__path__, "bot.")]
    names += ["adapters." + m.name for m in pkgutil.iter_modules(adapters.__path__)]
    names += [m.name for m in pkgutil.walk_packages(storage.__path__, "storage.")]
    for platform in ("slack", "discord", "console"):
        names += [f"adapters.{platform}.render", f"adapters.{platform}.app"]
    modules = []
    for name in names:
        try:
            modules.append(importlib.import_module(name))
        except ImportError:  # an optional platform SDK is missing
            continue
    return modules


def _patterns() -> list[tuple[str, re.Pattern[Any]]]:
    found: dict[tuple[Any, int], tuple[str, re.Pattern[Any]]] = {}
    for module in _core_modules():
        spaces = [(module.__name__, vars(module))]
        spaces += [
            (f"{module.__name__}.{k}", vars(v))
            for k, v in vars(module).items()
            if isinstance(v, type) and v.__module__ == module.__name__
        ]
        for owner, space in spaces:
            for key, value in space.items():
                if isinstance(value, re.Pattern):
                    found.setdefault((value.pattern, value.flags), (f"{owner}.{key}", value))
    return sorted(found.values(), key=lambda item: item[0])


PATTERNS = _patterns()


class _Timeout(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Timeout


class _Sampler:
    """Strings that match parts of a parsed pattern (sre parse tree)."""

    def __init__(self, pattern: re.Pattern[Any], rnd: random.Random) -> None:
        self.flags = pattern.flags
        self.rnd = rnd
        self.is_bytes = isinstance(pattern.pattern, bytes)
        self.tree = sre.parse(pattern.pattern, pattern.flags)
        self._sets: dict[int, list[str]] = {}

    def members(self, node: tuple[Any, Any]) -> list[str]:
        """Pool characters that match a one-character node (IN, NOT_LITERAL, ANY)."""
        key = id(node)
        if key not in self._sets:
            sub = sre.SubPattern(self.tree.state, [node])
            rx = re._compiler.compile(sub, self.flags)  # type: ignore[attr-defined]
            chars = []
            for c in _POOL:
                probe: Any = c.encode("latin-1", "ignore") if self.is_bytes else c
                if probe and rx.fullmatch(probe):
                    chars.append(c)
            self._sets[key] = chars or ["a"]
        return self._sets[key]

    def sample(self, seq: Any, *, long: bool = False) -> str:
        out = []
        for node in seq:
            out.append(self._one(node, long))
        return "".join(out)

    def _one(self, node: tuple[Any, Any], long: bool) -> str:
        op, av = node
        if op is sre.LITERAL:
            return chr(av)
        if op in (sre.NOT_LITERAL, sre.ANY, sre.IN):
            return self.rnd.choice(self.members(node))
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            lo, hi, body = av
            hi = min(hi, lo + 3)
            return "".join(self.sample(body) for _ in range(self.rnd.randint(lo, max(lo, hi))))
        if op is sre.SUBPATTERN:
            return self.sample(av[-1])
        if op is sre.ATOMIC_GROUP:
            return self.sample(av)
        if op is sre.BRANCH:
            return self.sample(self.rnd.choice(av[1]))
        return ""  # anchors, lookarounds, backreferences: nothing to emit

    def pumps(self) -> Iterator[tuple[str, Any]]:
        """(prefix, body) for every repeat that can run long: prefix reaches it."""
        yield from self._walk(self.tree, "")

    def _walk(self, seq: Any, prefix: str) -> Iterator[tuple[str, Any]]:
        done = prefix
        for node in seq:
            op, av = node
            if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
                _lo, hi, body = av
                if hi > 1:
                    yield done, body
                yield from self._walk(body, done)
            elif op is sre.SUBPATTERN:
                yield from self._walk(av[-1], done)
            elif op is sre.ATOMIC_GROUP:
                yield from self._walk(av, done)
            elif op is sre.BRANCH:
                for branch in av[1]:
                    yield from self._walk(branch, done)
            elif op in (sre.ASSERT, sre.ASSERT_NOT):
                yield from self._walk(av[1], done)
            done += self._one(node, False)


def _inputs(pattern: re.Pattern[Any]) -> list[tuple[str, str, str]]:
    """(prefix, unit, killer): the input is the prefix, the unit repeated to the wanted
    length, then the killer (a character that makes the match fail)."""
    rnd = random.Random(pattern.pattern)
    sampler = _Sampler(pattern, rnd)
    out: list[tuple[str, str, str]] = []
    for prefix, body in sampler.pumps():
        for _ in range(SAMPLES):
            pump = "".join(sampler.sample(body) for _ in range(3))
            if pump:
                out += [(prefix, pump, killer) for killer in KILLERS]
    # The pattern's own opening, again and again: a scan restarts at each copy, and a
    # part that runs to the end of the text from each one is quadratic.
    tree = sampler.tree
    for k in range(1, len(tree)):
        for _ in range(2):
            head = sampler.sample(tree[:k])
            if head:
                out += [("", head, killer) for killer in KILLERS[:2]]
    # Long runs of every single character the pattern names.
    for char in sorted(_literal_chars(sampler)):
        out += [("", char, killer) for killer in KILLERS[:2]]
    return out


def _build(case: tuple[str, str, str], length: int) -> str:
    prefix, unit, killer = case
    return prefix + unit * (length // len(unit) + 1) + killer


def _literal_chars(sampler: _Sampler) -> set[str]:
    chars: set[str] = set()

    def visit(seq: Any) -> None:
        for node in seq:
            op, av = node
            if op is sre.LITERAL:
                chars.add(chr(av))
            elif op in (sre.IN, sre.NOT_LITERAL):
                chars.update(sampler.members(node)[:3])
            elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
                visit(av[2])
            elif op is sre.SUBPATTERN:
                visit(av[-1])
            elif op is sre.ATOMIC_GROUP:
                visit(av)
            elif op is sre.BRANCH:
                for branch in av[1]:
                    visit(branch)
            elif op in (sre.ASSERT, sre.ASSERT_NOT):
                visit(av[1])

    visit(sampler.tree)
    return chars


def _time(pattern: re.Pattern[Any], text: Any) -> float:
    """Worst of the ways the core applies a pattern: a full scan (search, findall, sub)."""
    start = time.process_time()
    signal.setitimer(signal.ITIMER_REAL, BOUND * 4)
    try:
        for _ in pattern.finditer(text):
            pass
        pattern.match(text)
    except _Timeout:
        pass
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return time.process_time() - start


def test_the_core_patterns_are_found() -> None:
    names = {name for name, _ in PATTERNS}
    # The patterns that failed the red team are among those introspected.
    assert "bot.condense.boilerplate._BYLINE" in names
    assert "bot.sentences._CANDIDATE" in names
    assert "storage.sqlite._QUOTED" in names  # search queries are user text
    assert len(PATTERNS) > 30


@pytest.mark.parametrize(("name", "pattern"), PATTERNS, ids=[name for name, _ in PATTERNS])
def test_pattern_runs_in_linear_time(name: str, pattern: re.Pattern[Any]) -> None:
    # Every input at a short length first (an exponential pattern fails here already),
    # then the slowest few at a length where a quadratic one takes seconds.
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        cases = _inputs(pattern)
        timed = []
        for case in cases:
            took = _time(pattern, _probe(pattern, _build(case, SHORT)))
            _check(name, took, _build(case, SHORT))
            timed.append((took, case))
        timed.sort(key=lambda item: -item[0])
        for _, case in timed[:WORST]:
            text = _build(case, LENGTH)
            _check(name, _time(pattern, _probe(pattern, text)), text)
    finally:
        signal.signal(signal.SIGALRM, previous)


def _probe(pattern: re.Pattern[Any], text: str) -> Any:
    return text.encode("utf-8") if isinstance(pattern.pattern, bytes) else text


def _check(name: str, took: float, text: str) -> None:
    assert took < BOUND, (
        f"{name} took {took:.2f} s on {len(text)} characters starting "
        f"{text[:60]!r}: nested or overlapping quantifiers backtrack"
    )


def test_byline_of_capitalised_words_is_quick() -> None:
    # The red team's sentence: "by" and comma-separated capitalised words that do not end
    # like a byline. Twelve words never finished before.
    from bot.condense import is_boilerplate

    names = ", ".join(["NASA", "FEMA", "McKinsey", "DeepMind", "OpenAI", "IBM"] * 2)
    sentence = f"by {names} were all named in the filing on Tuesday"
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        start = time.process_time()
        signal.setitimer(signal.ITIMER_REAL, 5)
        try:
            is_boilerplate(sentence)
        except _Timeout:
            pass
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        assert time.process_time() - start < 0.05
    finally:
        signal.signal(signal.SIGALRM, previous)
