"""One tokenizer, one stemmer, one stop-word list per purpose, all in ``bot/words.py``.

Before ``bot.words`` the core read words in private copies (these rules find three
stemmers, six stop-word lists and eight tokenizers in clustering, the condenser, the
multi-source planner, the LLM check, search and topics), so a change to one went unseen
by the others. They find a new private copy anywhere else in ``bot/`` by what it is,
not by its name:

- a stop-word list: a set of words spelt out in the source that holds "the" and one
  of "of", "was", "said" (each list of the core does; no other word set does);
- a tokenizer: a regular expression written in the source that cuts a plain sentence
  into its words;
- a stemmer: a function named for stemming.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from bot import words

ROOT = Path(__file__).resolve().parents[2]
WORDS = ROOT / "bot" / "words.py"
# Owned by another helper in this round (the search and topic query language); the
# lead points them at ``bot.words`` (or its own query module) when merging.

SAMPLE = (
    "the harbour council voted on tuesday to close the old ferry pier after engineers found cracks"
)
_RE_CALLS = {"compile", "findall", "finditer", "split", "search", "match", "fullmatch", "sub"}


def _literal_words(node: ast.AST, strings: dict[str, str]) -> frozenset[str] | None:
    """The words of a set spelt out in the source: ``frozenset("a b".split())``,
    ``frozenset(TEXT.split())`` of a module's string ``TEXT``, ``frozenset({"a", "b"})``,
    ``{"a", "b"}``, ``set([...])``."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr != "split" or node.args:
            return None
        value = node.func.value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return frozenset(value.value.split())
        if isinstance(value, ast.Name) and value.id in strings:
            return frozenset(strings[value.id].split())
        return None
    if isinstance(node, ast.Set | ast.List | ast.Tuple):
        items = [e.value for e in node.elts if isinstance(e, ast.Constant)]
        if len(items) == len(node.elts) and all(isinstance(i, str) for i in items):
            return frozenset(str(i) for i in items)
    return None


def _sets(tree: ast.Module) -> Iterator[tuple[int, frozenset[str]]]:
    """Every set of words spelt out in a module, with its line."""
    strings = {
        t.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for t in node.targets
        if isinstance(t, ast.Name)
    }
    inner: set[int] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"frozenset", "set"}
            and len(node.args) == 1
        ):
            inner.add(id(node.args[0]))
            found = _literal_words(node.args[0], strings)
        elif isinstance(node, ast.Set) and id(node) not in inner:
            found = _literal_words(node, strings)
        else:
            continue
        if found is not None:
            yield node.lineno, found


def _is_stop_list(found: frozenset[str]) -> bool:
    return "the" in found and bool(found & {"of", "was", "said"})


def _patterns(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Regular expressions written as literals: ``re.compile(r"...")``,
    ``re.findall(r"...", text)``."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "re"
            and node.func.attr in _RE_CALLS
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.lineno, node.args[0].value


def _is_tokenizer(pattern: str) -> bool:
    try:
        compiled = re.compile(pattern, re.UNICODE)
    except re.error:
        return False
    sample = SAMPLE.split()
    hits = [m.group(0) for m in compiled.finditer(SAMPLE) if m.group(0) in sample]
    return len(hits) >= len(sample) - 2


def _findings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: list[str] = []
    for lineno, found in _sets(tree):
        if _is_stop_list(found):
            out.append(f"stop-word list at line {lineno}")
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and "stem" in node.name.lower():
            out.append(f"stemmer {node.name}() at line {node.lineno}")
    for lineno, pattern in _patterns(tree):
        if _is_tokenizer(pattern):
            out.append(f"tokenizer {pattern!r} at line {lineno}")
    return out


def test_the_rules_recognise_the_word_readers_of_bot_words() -> None:
    # The detector is not blind: it finds every list, pattern and stemmer kept here.
    found = _findings(WORDS)
    assert sum(f.startswith("stop-word list") for f in found) == 8, found
    assert sum(f.startswith("tokenizer") for f in found) == 9, found
    assert sum(f.startswith("stemmer") for f in found) == 3, found


def test_no_module_outside_bot_words_keeps_its_own_tokenizer_stemmer_or_stop_words() -> None:
    offenders = {
        str(path.relative_to(ROOT)): found
        for path in sorted((ROOT / "bot").rglob("*.py"))
        if path != WORDS and (found := _findings(path))
    }
    assert offenders == {}, (
        "read words with bot.words (one tokenizer, stemmer and stop-word list per "
        f"purpose), not a private copy: {offenders}"
    )


def test_each_purpose_keeps_its_own_reading() -> None:
    # The purposes differ on purpose (the benchmarks were tuned on each): clustering
    # folds verb endings fully, the condenser strips a plain suffix, the LLM check
    # compares five-letter prefixes.
    text = "The council's ferries were stopped, officials said, after 212 passengers fled."
    assert words.content_words(text) == [
        "council",
        "ferry",
        "stopp",
        "official",
        "212",
        "passenger",
        "fled",
    ]
    assert words.cluster_stem("stopped") == "stop"
    assert words.condense_stem("stopped") == "stopp"
    assert words.paraphrase_words("Officials announced; the official announces") == {
        "offic",
        "annou",
    }
