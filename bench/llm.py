"""The LLM condenser on the dev data: its checks offline, and a configured endpoint.

Two parts, read in place from ``../shared/eval`` (never copied):

1. **The checks, offline** (always runs; no model needed). Sentences people wrote from
   the sources are what a faithful model answer looks like: the journalists' highlight
   bullets of the CNN/DailyMail dev articles (each citing its article) and the editors'
   roundup sentences of the AllSides stories (each citing the story's three items, the
   cross-source synthesis a multi-source briefing needs). The share of them each check
   passes is the checks' false-refusal rate on real abstractive news prose. Each is then
   spoiled the ways a model goes wrong — a negation added or removed, a number changed,
   a person's name that no source gives — and the share caught is each check's catch
   rate.
2. **A configured endpoint** (``SIGNALDESK_LLM_BASE_URL``, ``SIGNALDESK_LLM_MODEL``):
   the dev summaries and roundup stories go through :class:`bot.llm.LLMCondenser`;
   ROUGE-1/2/Lsum F1 (``rouge-score``, Porter stemming) of lead + bullets is printed
   beside the extractive condenser's in the same run, with how many fields passed and
   the tokens used. Without an endpoint this part says plainly that it skipped.

    .venv/bin/python bench/llm.py [--limit N] [--eval-dir ../shared/eval]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rouge_score import rouge_scorer

from bot.condense import ExtractiveCondenser
from bot.llm.checks import Cited, sentence_problems
from bot.models import Source, SourceText
from bot.sentences import split_sentences
from bot.settings import load_settings

DEFAULT_EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
CNN = "summaries/cnn_dailymail_dev50.jsonl"
ITEMS = "clusters/allsides_roundups_dev.jsonl"
ROUNDUPS = "clusters/allsides_roundups_dev.roundups.jsonl"
METRICS = ("rouge1", "rouge2", "rougeLsum")
NOW = datetime(2026, 1, 1, tzinfo=UTC)
# A name no dev source gives, put where a model would put an invented one.
INVENTED = "Marta Kowalczyk"
_AUX = re.compile(r"\b(is|are|was|were|has|have|had|will|would|can|could|did|does)\b")
_NOT = re.compile(r"\b(is|are|was|were|has|have|had|will|would|can|could|did|does) not\b")
_DIGITS = re.compile(r"(?<![\d.,])\d+(?![\d.,]\d)")


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def cnn_cases(eval_dir: Path, limit: int | None) -> list[tuple[list[SourceText], list[str]]]:
    out = []
    for row in _jsonl(eval_dir / CNN)[:limit]:
        source = Source(publisher="dev", title=str(row.get("title") or ""))
        bullets = [str(b) for b in row.get("reference_bullets") or []]
        out.append(([SourceText(source=source, text=str(row["text"]))], bullets))
    return out


def roundup_cases(eval_dir: Path, limit: int | None) -> list[tuple[list[SourceText], list[str]]]:
    items: dict[str, list[SourceText]] = {}
    for row in _jsonl(eval_dir / ITEMS):
        source = Source(publisher=str(row.get("source") or ""), title=str(row.get("title") or ""))
        items.setdefault(row["cluster"], []).append(
            SourceText(source=source, text=str(row.get("text") or ""))
        )
    out = []
    for row in _jsonl(eval_dir / ROUNDUPS)[:limit]:
        # The last paragraph often comments on the coverage itself: left out.
        paragraphs = [p for p in row["roundup"] if p.strip()][:-1] or row["roundup"][:1]
        said = [s for p in paragraphs for s in split_sentences(p)]
        if row["cluster"] in items:
            out.append((items[row["cluster"]], said))
    return out


def spoil(sentence: str) -> dict[str, str]:
    """The ways a model goes wrong, applied to a faithful sentence (where they apply)."""
    out = {}
    if _NOT.search(sentence):
        out["negation"] = _NOT.sub(lambda m: m.group(1), sentence, count=1)
    elif _AUX.search(sentence):
        out["negation"] = _AUX.sub(lambda m: m.group(1) + " not", sentence, count=1)
    m = _DIGITS.search(sentence)
    if m:
        changed = str(int(m.group()) * 3 + 7)
        out["number"] = sentence[: m.start()] + changed + sentence[m.end() :]
    words = sentence.split()
    if len(words) > 4:
        out["name"] = " ".join([*words[:3], f"{INVENTED} said", *words[3:]])
    return out


def calibrate(name: str, cases: list[tuple[list[SourceText], list[str]]]) -> None:
    faithful, passed = 0, 0
    refused: Counter[str] = Counter()
    spoiled: Counter[str] = Counter()
    caught: Counter[str] = Counter()
    for material, said in cases:
        cited = Cited(material, range(len(material)))
        for sentence in said:
            faithful += 1
            problems = sentence_problems(sentence, cited)
            if problems:
                refused.update({p.split(" ")[0].split(":")[0] for p in problems})
            else:
                passed += 1
                for kind, bad in spoil(sentence).items():
                    spoiled[kind] += 1
                    caught[kind] += bool(sentence_problems(bad, cited))
    print(f"\n{name}: {faithful} sentences people wrote from the sources")
    print(f"  passed every check: {100 * passed / max(1, faithful):5.1f}%")
    for kind, n in refused.most_common():
        print(f"  refused by {kind:<10} {100 * n / max(1, faithful):5.1f}%")
    for kind in ("negation", "number", "name"):
        n = spoiled[kind]
        print(f"  spoiled ({kind:<8}) caught: {100 * caught[kind] / max(1, n):5.1f}% of {n}")


def endpoint(cases: dict[str, list[tuple[list[SourceText], list[str]]]]) -> int:
    settings = load_settings()
    if not settings.llm_base_url:
        print(
            "\nendpoint: SKIPPED - no model endpoint configured (set SIGNALDESK_LLM_BASE_URL "
            "and SIGNALDESK_LLM_MODEL to run the dev data through it)"
        )
        return 0
    from bot.llm import LLMCondenser

    scorer = rouge_scorer.RougeScorer(list(METRICS), use_stemmer=True)
    extractive = ExtractiveCondenser()
    llm = LLMCondenser(settings, fallback=extractive)
    for name, rows in cases.items():
        totals = {s: dict.fromkeys(METRICS, 0.0) for s in ("llm", "extractive")}
        for i, (material, reference) in enumerate(rows):
            ref = "\n".join(reference)
            for system, condenser in (("llm", llm), ("extractive", extractive)):
                b = condenser.condense(f"{name}{i}", material, NOW)
                got = "\n".join([b.lead, *(x.text for x in b.bullets)])
                scores = scorer.score(ref, got)
                for m in METRICS:
                    totals[system][m] += scores[m].fmeasure
        n = max(1, len(rows))
        print(f"\nendpoint {settings.llm_model} on {name} ({len(rows)} stories), lead + bullets:")
        for system, ms in totals.items():
            print(f"  {system:<10} " + "  ".join(f"{m} {100 * v / n:5.1f}" for m, v in ms.items()))
    usage = llm._usage
    print(f"  fields passed {llm.fields['passed']}, refused {llm.fields['refused']}")
    for reason, count in llm.field_failures.most_common(8):
        print(f"    {count:4d}  {reason}")
    print(f"  outcomes {dict(llm.outcomes)}")
    if usage is not None:
        print(f"  tokens: prompt {usage.prompt_tokens}, completion {usage.completion_tokens}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="stories per data set")
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL)
    args = parser.parse_args(argv)
    os.environ.setdefault("SIGNALDESK_LOG_LEVEL", "ERROR")
    cases = {
        "cnn_dailymail_dev50": cnn_cases(args.eval_dir, args.limit),
        "allsides_roundups": roundup_cases(args.eval_dir, args.limit),
    }
    calibrate("CNN/DailyMail highlights (each citing its article)", cases["cnn_dailymail_dev50"])
    calibrate("AllSides roundups (each citing the story's three items)", cases["allsides_roundups"])
    return endpoint(cases)


if __name__ == "__main__":
    raise SystemExit(main())
