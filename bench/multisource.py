"""Multi-source briefings against editors' neutral roundups of three-outlet stories.

Every story of ``../shared/eval/clusters/allsides_roundups_dev.jsonl`` (read in place,
never copied) is condensed as one story, its items as sources, by the engine's own
condenser; lead + bullets (what a channel gets) are scored against the human roundup in
``allsides_roundups_dev.roundups.jsonl`` with ROUGE-1/2/Lsum F1 (Porter stemming,
``rouge-score``). In the same run, beside it:

- ``first3``: the standard Lead-3 of the first-arriving item (its first three sentences
  of at least four alphabetic words);
- ``textrank``: sumy's TextRank over all the story's items, cut to our length in words;
- ``--others`` adds sumy's LexRank, Luhn, LSA, KL-Sum and SumBasic the same way (each
  one's sentences in the order its growing summaries take them in): whether a standard
  method comes 2 points above TextRank;
- ``tr-our-pool`` (not a baseline: it tells the ranking from the rules): sumy's
  TextRank rating over the condenser's own sentences of all the items, choosing among
  those a multi-source lead or bullet may be (whole, standing alone, fitting a bullet),
  cut to our length.

Both baselines split sentences with pysbd and words with NLTK's Treebank tokenizer, as
``bench/quality.py`` does (whose baselines reproduce the reference figures), so that no
weakness of the condenser's own splitter can weaken them. The targets (R-1 at least 2
points above TextRank, the spread under 0.5, at most 5 % repeating a fact) are checked
on the full roundup; the exit status is 1 when one is missed.

Each story is run in three arrival orders (each outlet first once); the spread is the
largest difference between the orders' means. ``repeat`` is the share of our
briefings that say one fact twice in lead + bullets: two units sharing most of their
content words, or the same multi-digit number about the same name (detected here,
independently of the condenser's own rule). Reported with and without the roundup's
last paragraph, which often comments on the coverage itself.

    .venv/bin/python bench/multisource.py [--limit N] [--eval-dir ../shared/eval]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import _Tokenizer, lead3
from rouge_score import rouge_scorer
from sumy.models.dom import ObjectDocumentModel, Paragraph, Sentence
from sumy.nlp.stemmers import Stemmer
from sumy.summarizers.kl import KLSummarizer
from sumy.summarizers.lex_rank import LexRankSummarizer
from sumy.summarizers.lsa import LsaSummarizer
from sumy.summarizers.luhn import LuhnSummarizer
from sumy.summarizers.sum_basic import SumBasicSummarizer
from sumy.summarizers.text_rank import TextRankSummarizer
from sumy.utils import get_stop_words

from bot.condense import ExtractiveCondenser, fits
from bot.condense.analysis import _analyse_story
from bot.condense.bullets import _point
from bot.models import Briefing, Source, SourceText

DEFAULT_EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
ITEMS = "clusters/allsides_roundups_dev.jsonl"
ROUNDUPS = "clusters/allsides_roundups_dev.roundups.jsonl"
METRICS = ("rouge1", "rouge2", "rougeLsum")
NOW = datetime(2025, 1, 1, tzinfo=UTC)
TEXTRANK_MARGIN = 2.0  # R-1 points above TextRank at equal length
MAX_SPREAD = 0.5  # R-1 points between the arrival orders' means
MAX_REPEATS = 5.0  # percent of briefings saying one fact twice
_WORD = re.compile(r"[A-Za-z0-9]+(?:'[a-z]+)?")


TOKENIZER = _Tokenizer()


def _document(texts: Sequence[str]) -> ObjectDocumentModel:
    """All ``texts`` as one sumy document: pysbd sentences, Treebank words (the standard
    tokenisers of ``bench/quality.py``, not the condenser's)."""
    paragraphs = [
        Paragraph([Sentence(s, TOKENIZER) for s in TOKENIZER.to_sentences(t)]) for t in texts
    ]
    return ObjectDocumentModel([p for p in paragraphs if p.sentences])


def _cut(ordered: Sequence[object], words: int) -> str:
    """Sentences in rank order, one a line, cut to ``words`` words in all."""
    lines: list[str] = []
    left = words
    for s in ordered:
        if left <= 0:
            break
        cut = str(s).split()[:left]
        lines.append(" ".join(cut))
        left -= len(cut)
    return "\n".join(lines)


def _summarizer(kind: type[Any]) -> Any:
    summarizer = kind(Stemmer("english"))
    summarizer.stop_words = get_stop_words("english")
    return summarizer


def textrank(texts: Sequence[str], words: int) -> str:
    """sumy's TextRank over all ``texts``; its best sentences in rank order, one a line,
    cut to ``words`` words."""
    document = _document(texts)
    if not document.sentences:
        return ""
    ranked = _summarizer(TextRankSummarizer).rate_sentences(document)
    return _cut(sorted(document.sentences, key=lambda s: -ranked[s]), words)


# ``--others``: the rest of sumy's standard extractive summarizers, for reading the
# TextRank target (is +2 over it within reach of a standard method?).
OTHERS = {
    "lexrank": LexRankSummarizer,
    "luhn": LuhnSummarizer,
    "lsa": LsaSummarizer,
    "kl": KLSummarizer,
    "sumbasic": SumBasicSummarizer,
}


def ranked_by(kind: type[Any], texts: Sequence[str], words: int) -> str:
    """One of ``OTHERS`` over all ``texts``: its sentences in the order growing summaries
    take them in (sumy's public call, ``summarizer(document, n)``), cut to ``words``."""
    document = _document(texts)
    summarizer = _summarizer(kind)
    order: list[object] = []
    for n in range(1, len(document.sentences) + 1):
        order += [s for s in summarizer(document, n) if s not in order]
        if sum(len(str(s).split()) for s in order) >= words:
            break
    return _cut(order, words)


def textrank_pool(material: Sequence[SourceText], words: int) -> str:
    """TextRank's best sentences among those the multi-source plan may show (see
    ``tr-our-pool`` above), in rank order, one a line, cut to ``words`` words."""
    story = _analyse_story(material)
    every = [Sentence(s.text, TOKENIZER) for s in story.sentences]
    if not every:
        return ""
    ratings = _summarizer(TextRankSummarizer).rate_sentences(
        ObjectDocumentModel([Paragraph(every)])
    )
    pool = [
        (i, s)
        for i, s in enumerate(story.sentences)
        if _point(s) and not s.dangling and fits(s.text)
    ]
    ranked = sorted(pool, key=lambda it: (-ratings.get(every[it[0]], 0.0), it[0]))
    return _cut([s.text for _, s in ranked], words)


def first3(text: str) -> str:
    """The standard Lead-3 of one item: its first three real sentences."""
    return "\n".join(lead3(text))


def shown(briefing: Briefing) -> list[str]:
    """What the channel's message says: the lead and the bullets."""
    return [briefing.lead, *(b.text for b in briefing.bullets)]


_STOP = frozenset(
    """a an the and or but of in on at to for from by with as is are was were be been
    has have had it its this that these those he she they his her their them we you i
    said says told will would could should may can not no than then who which what""".split()
)


def _content(text: str) -> set[str]:
    return {w.lower()[:6] for w in _WORD.findall(text) if w.lower() not in _STOP and len(w) > 2}


def _names(text: str) -> set[str]:
    words = text.split()
    return {w.strip(".,;:'\"”“()").lower() for w in words[1:] if w[:1].isupper()}


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in re.findall(r"\d[\d,.]*\d|\d{2,}", text)}


def repeats(units: Sequence[str]) -> bool:
    """Whether two units say one fact: most content words shared, or the same
    multi-digit number with a shared name."""
    for i, a in enumerate(units):
        for b in units[i + 1 :]:
            ca, cb = _content(a), _content(b)
            if ca and cb and len(ca & cb) / min(len(ca), len(cb)) >= 0.6:
                return True
            if _numbers(a) & _numbers(b) and _names(a) & _names(b):
                return True
    return False


def load(eval_dir: Path) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[str]]]:
    stories: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with (eval_dir / ITEMS).open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                stories[row["cluster"]].append(
                    {k: row.get(k) or "" for k in ("title", "text", "source", "url")}
                )
    roundups: dict[str, list[str]] = {}
    with (eval_dir / ROUNDUPS).open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                roundups[row["cluster"]] = [p for p in row["roundup"] if p.strip()]
    return stories, roundups


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL)
    parser.add_argument("--limit", type=int, default=0, help="first N stories only")
    parser.add_argument("--show", type=int, default=0, help="print N briefings")
    parser.add_argument(
        "--others", action="store_true", help="sumy's other summarizers too (slower)"
    )
    args = parser.parse_args(argv)
    stories, roundups = load(args.eval_dir)
    keys = [k for k in stories if k in roundups and len(stories[k]) >= 2]
    if args.limit:
        keys = keys[: args.limit]
    scorer = rouge_scorer.RougeScorer(list(METRICS), use_stemmer=True)
    condenser = ExtractiveCondenser()
    systems = ("ours", "first3", "textrank", "tr-our-pool") + (tuple(OTHERS) if args.others else ())
    refs = ("full", "no last paragraph")
    # totals[ref][system][order][metric]
    totals: dict[str, dict[str, list[dict[str, float]]]] = {
        r: {s: [dict.fromkeys(METRICS, 0.0) for _ in range(3)] for s in systems} for r in refs
    }
    lengths = {s: 0 for s in systems}
    repeated = 0
    runs = 0
    shown_n = 0
    for key in keys:
        items = stories[key]
        paragraphs = roundups[key]
        references = {
            "full": "\n".join(paragraphs),
            "no last paragraph": "\n".join(paragraphs[:-1] if len(paragraphs) > 1 else paragraphs),
        }
        for order in range(3):
            shift = order % len(items)
            arrived = items[shift:] + items[:shift]
            material = [
                SourceText(
                    source=Source(publisher=it["source"] or "outlet", title=it["title"], url=None),
                    text=it["text"],
                )
                for it in arrived
            ]
            briefing = condenser.condense(key.replace(":", "-"), material, NOW)
            units = shown(briefing)
            ours = "\n".join(units)
            words = len(ours.split())
            outputs = {
                "ours": ours,
                "first3": first3(arrived[0]["text"]),
                "textrank": textrank([it["text"] for it in arrived], words),
                "tr-our-pool": textrank_pool(material, words),
                **{
                    name: ranked_by(kind, [it["text"] for it in arrived], words)
                    for name, kind in (OTHERS.items() if args.others else ())
                },
            }
            # A "Sources differ" line restates a number on purpose, to contrast it.
            repeated += repeats([u for u in units if not u.startswith("Sources differ:")])
            runs += 1
            for s in systems:
                lengths[s] += len(outputs[s].split())
            for ref_name, reference in references.items():
                for s in systems:
                    scores = scorer.score(reference, outputs[s])
                    for m in METRICS:
                        totals[ref_name][s][order][m] += scores[m].fmeasure
            if shown_n < args.show and order == 0:
                shown_n += 1
                print(f"--- {key}\n{briefing.headline}\n{briefing.lead}")
                for b in briefing.bullets:
                    outlet = (
                        briefing.sources[b.source].publisher
                        if 0 <= b.source < len(briefing.sources)
                        else ""
                    )
                    print(f"  • {b.text} ({outlet})")
    n = len(keys)
    means: dict[str, dict[str, float]] = {}
    spreads: dict[str, float] = {}
    print(f"\n## {n} stories × 3 arrival orders ({runs} briefings)")
    for ref_name in refs:
        print(f"\nreference: roundup, {ref_name}")
        header = (
            f"{'system':<12} {'R-1':>6} {'R-2':>6} {'R-Lsum':>7}  {'spread R-1':>10} {'words':>6}"
        )
        print(header)
        print("-" * len(header))
        for s in systems:
            per_order = [{m: 100 * t[m] / n for m in METRICS} for t in totals[ref_name][s]]
            mean = {m: sum(o[m] for o in per_order) / 3 for m in METRICS}
            spread = max(o["rouge1"] for o in per_order) - min(o["rouge1"] for o in per_order)
            if ref_name == "full":
                means[s], spreads[s] = mean, spread
            print(
                f"{s:<12} {mean['rouge1']:>6.1f} {mean['rouge2']:>6.1f} {mean['rougeLsum']:>7.1f}"
                f"  {spread:>10.2f} {lengths[s] / runs:>6.0f}"
            )
    share = 100 * repeated / runs
    print(f"\nours: briefings repeating a fact in lead + bullets: {share:.1f} %")
    gap = means["ours"]["rouge1"] - means["textrank"]["rouge1"]
    checks = [
        (
            f"R-1 {gap:+.1f} against TextRank at equal length",
            f">= +{TEXTRANK_MARGIN:.0f}",
            gap >= TEXTRANK_MARGIN,
        ),
        (
            f"spread across arrival orders {spreads['ours']:.2f}",
            f"< {MAX_SPREAD}",
            spreads["ours"] < MAX_SPREAD,
        ),
        (
            f"briefings repeating a fact {share:.1f} %",
            f"<= {MAX_REPEATS:.0f} %",
            share <= MAX_REPEATS,
        ),
    ]
    print("\ntargets (reference: the full roundup)")
    for what, target, met in checks:
        print(f"  {what:<48} target {target:<8} {'met' if met else 'MISSED'}")
    return 0 if all(met for _, _, met in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
