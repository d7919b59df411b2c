"""Every file of the shared feed corpus (``../shared/eval/feeds``: feedparser's and
gofeed's test feeds, well- and ill-formed) parses to a feed or a one-line typed
``ParseError``, never an unhandled exception. The files are read in place (never copied
into the repository); the test is skipped where the corpus is not beside the repo.
``bench/feeds.py`` prints the same counts with timings."""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "eval" / "feeds"


def _bench_feeds() -> ModuleType:
    """bench/feeds.py as a module: one definition of how a corpus file is parsed (the
    ``Header:`` comments of feedparser's encoding tests stand for HTTP headers)."""
    spec = importlib.util.spec_from_file_location("bench_feeds", ROOT / "bench" / "feeds.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"no feed corpus at {CORPUS}")
def test_every_corpus_file_parses_or_fails_with_a_typed_one_line_error() -> None:
    bench = _bench_feeds()
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "MANIFEST.jsonl")
    outcomes: Counter[str] = Counter()
    unhandled = []
    for path in files:
        outcome, detail = bench.parse_one(path)
        outcomes[outcome] += 1
        if outcome == "UNHANDLED":
            unhandled.append(f"{path.relative_to(CORPUS)}: {detail}")
        elif outcome == "ParseError":
            assert detail and "\n" not in detail
    print(f"\nfeed corpus: {len(files)} files, {dict(outcomes)}")
    assert not unhandled, unhandled[:10]
    assert outcomes["entries"] > len(files) / 3  # the corpus is mostly readable feeds
