"""ROUGE of the extractive condenser's three bullets, beside Lead-3 and TextRank.

Reads the shared dev sets in place (never copied into the repository)::

    .venv/bin/python bench/quality.py [--limit N] [--eval-dir ../shared/eval]

For each article: our three bullets (one per line) against ``reference``, with
ROUGE-1/2/Lsum F1 and Porter stemming (``rouge-score``); Lead-3 is the first three
sentences of the text (``bot.sentences``), TextRank the three most central sentences
of a word-overlap graph (PageRank by power iteration), both computed in the same run.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rouge_score import rouge_scorer

from bot.condense import ExtractiveCondenser
from bot.models import Source, SourceText
from bot.sentences import split_sentences

DEFAULT_EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
DATASETS = ("cnn_dailymail_dev50.jsonl", "bbc_news_summary_dev250.jsonl")
METRICS = ("rouge1", "rouge2", "rougeLsum")
NOW = datetime(2025, 1, 1, tzinfo=UTC)
_WORD = re.compile(r"\w+")


def load(path: Path, limit: int | None) -> list[dict[str, object]]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rows.append(json.loads(line))
            if limit and len(rows) >= limit:
                break
    return rows


def material_of(row: dict[str, object]) -> list[SourceText]:
    source = Source(publisher="dev", title=str(row.get("title") or ""), url=None)
    return [SourceText(source=source, text=str(row.get("text") or ""))]


def lead3(text: str) -> list[str]:
    return split_sentences(text)[:3]


def textrank(text: str, k: int = 3, damping: float = 0.85, iterations: int = 50) -> list[str]:
    """TextRank (Mihalcea & Tarau 2004): sentences as nodes, edges weighted by word
    overlap normalised by log lengths, PageRank by power iteration; top k in text order."""
    sents = split_sentences(text)
    if len(sents) <= k:
        return sents
    words = [set(_WORD.findall(s.lower())) for s in sents]
    n = len(sents)
    weights = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            common = len(words[i] & words[j])
            if common and len(words[i]) > 1 and len(words[j]) > 1:
                w = common / (math.log(len(words[i])) + math.log(len(words[j])))
                weights[i][j] = weights[j][i] = w
    out_sum = [sum(row) for row in weights]
    rank = [1.0 / n] * n
    for _ in range(iterations):
        new = []
        for i in range(n):
            incoming = sum(weights[j][i] / out_sum[j] * rank[j] for j in range(n) if weights[j][i])
            new.append((1 - damping) / n + damping * incoming)
        delta = sum(abs(a - b) for a, b in zip(new, rank, strict=True))
        rank = new
        if delta < 1e-6:
            break
    top = sorted(range(n), key=lambda i: (-rank[i], i))[:k]
    return [sents[i] for i in sorted(top)]


def evaluate(path: Path, limit: int | None) -> tuple[dict[str, dict[str, float]], float, int]:
    scorer = rouge_scorer.RougeScorer(list(METRICS), use_stemmer=True)
    condenser = ExtractiveCondenser()
    rows = load(path, limit)
    totals: dict[str, dict[str, float]] = {
        name: dict.fromkeys(METRICS, 0.0) for name in ("ours", "lead3", "textrank")
    }
    spent = 0.0
    for i, row in enumerate(rows):
        reference = str(row["reference"])
        text = str(row.get("text") or "")
        material = material_of(row)
        t0 = time.perf_counter()
        briefing = condenser.condense(f"dev{i}", material, NOW)
        spent += time.perf_counter() - t0
        systems = {
            "ours": [b.text for b in briefing.bullets],
            "lead3": lead3(text),
            "textrank": textrank(text),
        }
        # rougeLsum splits summaries into sentences at newlines.
        ref = "\n".join(split_sentences(reference))
        for name, sents in systems.items():
            scores = scorer.score(ref, "\n".join(sents))
            for m in METRICS:
                totals[name][m] += scores[m].fmeasure
    n = max(1, len(rows))
    means = {name: {m: 100 * v / n for m, v in ms.items()} for name, ms in totals.items()}
    return means, 1000 * spent / n, len(rows)


def report(name: str, means: dict[str, dict[str, float]], ms: float, n: int) -> None:
    print(f"\n{name}  ({n} articles; ours {ms:.1f} ms/article)")
    print(f"{'system':<12}" + "".join(f"{m:>11}" for m in METRICS))
    for system in ("ours", "lead3", "textrank"):
        print(f"{system:<12}" + "".join(f"{means[system][m]:>11.2f}" for m in METRICS))
    for base in ("lead3", "textrank"):
        deltas = "".join(f"{means['ours'][m] - means[base][m]:>+11.2f}" for m in METRICS)
        print(f"{'Δ vs ' + base:<12}{deltas}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="articles per dataset")
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL)
    args = parser.parse_args(argv)
    for name in DATASETS:
        path = args.eval_dir / "summaries" / name
        if not path.exists():
            print(f"missing: {path}", file=sys.stderr)
            return 2
        means, ms, n = evaluate(path, args.limit)
        report(name, means, ms, n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
