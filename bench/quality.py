"""ROUGE of the extractive condenser's bullets, beside the standard Lead-3 and TextRank.

Reads the shared dev sets in place (never copied into the repository)::

    .venv/bin/python bench/quality.py [--limit N] [--eval-dir ../shared/eval]

For each article: our bullets (one per line) against ``reference``, with ROUGE-1/2/Lsum
F1 and Porter stemming (``rouge-score``), beside two baselines computed in the same run
with other people's code, so that a weakness of ours cannot weaken them:

- Lead-3, the standard one: the first three real sentences of the text, split by
  ``pysbd`` (a rule-based sentence splitter), where a real sentence has at least four
  alphabetic words (so Daily Mail fragments such as ``By . Jane Doe .`` are skipped);
- TextRank as ``sumy`` implements it (three sentences; pysbd sentences, Treebank words,
  sumy's Snowball stemmer and English stop words).

Each baseline is checked against the reference figure given in
``../shared/eval/README.md``: one more than a point below it is broken, not beaten, and
the script then says so and exits 1. It also exits 1 when a ROUGE target is missed
(bullets above Lead-3 in R-1 and R-Lsum on CNN/DailyMail; within 2 points of TextRank
in R-1 on BBC). ``--limit`` runs a quick subset and skips both checks.

Three more rows compare at equal length (not targets: the targets are on the bullets
against the standard baselines): ``tr=ours-len`` is sumy's TextRank sentences in rank
order cut to as many words as the bullets (as ``bench/multisource.py`` does);
``briefing`` is what a channel reads, the lead and the bullets, and ``tr=brief-len``
TextRank cut to its length.

``--ceilings`` adds, for reading the targets, what the same baselines score under the
briefing's own constraints (a bullet is a whole sentence of at most ``BULLET_MAX``
characters, and no bullet repeats the lead, which is the text's first sentence):

- ``lead3-skip1``: Lead-3 from the second real sentence on (position alone, lead shown
  apart);
- ``textrank-fit``: sumy's TextRank ranking over the sentences that fit a bullet whole;
- ``tr-fit-skip1``: the same without the first real sentence;
- ``tr-our-pool``: sumy's TextRank rating (over all the condenser's sentences of the
  text) choosing among the sentences the briefing's rules let a bullet be (the
  condenser's own analysis: a whole sentence that stands alone, names no one by surname
  only, is not the lead or a scene-setter, and fits a bullet whole): TextRank's choice
  held to the same candidates as ours, to tell the ranking from the rules.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pysbd
from nltk.tokenize import TreebankWordTokenizer
from rouge_score import rouge_scorer
from sumy.models.dom import ObjectDocumentModel, Paragraph, Sentence
from sumy.nlp.stemmers import Stemmer
from sumy.parsers.plaintext import PlaintextParser
from sumy.summarizers.text_rank import TextRankSummarizer
from sumy.utils import get_stop_words

from bot.condense import ExtractiveCondenser
from bot.condense.analysis import _analyse_story
from bot.condense.bullets import _eligible, _point
from bot.condense.lead import _lead, _scene_setters
from bot.models import BULLET_MAX, Source, SourceText

DEFAULT_EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
DATASETS = ("cnn_dailymail_dev50.jsonl", "bbc_news_summary_dev250.jsonl")
METRICS = ("rouge1", "rouge2", "rougeLsum")
SYSTEMS = ("ours", "lead3", "textrank", "tr=ours-len", "briefing", "tr=brief-len")
CEILINGS = ("lead3-skip1", "textrank-fit", "tr-fit-skip1", "tr-our-pool")
NOW = datetime(2025, 1, 1, tzinfo=UTC)
# The reference baseline figures of ../shared/eval/README.md (ROUGE F1 x 100).
REFERENCE = {
    ("cnn_dailymail_dev50.jsonl", "lead3"): {"rouge1": 38.1, "rouge2": 18.6, "rougeLsum": 35.4},
    ("bbc_news_summary_dev250.jsonl", "textrank"): {"rouge1": 58.6},
}
TOLERANCE = 1.0  # a baseline this far below its reference figure is broken
TEXTRANK_GAP = 2.0  # the BBC target: ours within this many R-1 points of TextRank
_ALPHA = re.compile(r"[^\W\d_]")


@lru_cache(maxsize=1)
def _segmenter() -> pysbd.Segmenter:
    return pysbd.Segmenter(language="en", clean=False)


def sentences(text: str) -> list[str]:
    """pysbd's sentences of ``text``, paragraph by paragraph."""
    seg = _segmenter()
    out: list[str] = []
    for paragraph in text.split("\n"):
        if paragraph.strip():
            out.extend(s.strip() for s in seg.segment(paragraph) if s.strip())
    return out


def is_real_sentence(sentence: str) -> bool:
    """At least four alphabetic words: not a byline or timestamp fragment."""
    return sum(1 for w in sentence.split() if _ALPHA.search(w)) >= 4


def lead3(text: str) -> list[str]:
    return [s for s in sentences(text) if is_real_sentence(s)][:3]


class _Tokenizer:
    """sumy's tokenizer interface over pysbd and NLTK's Treebank word tokenizer (sumy's
    own needs NLTK's punkt data, which is not a Python package)."""

    language = "english"
    _words = TreebankWordTokenizer()

    def to_sentences(self, paragraph: str) -> tuple[str, ...]:
        return tuple(sentences(paragraph))

    def to_words(self, sentence: str) -> tuple[str, ...]:
        return tuple(w for w in self._words.tokenize(sentence) if re.search(r"\w", w))


@lru_cache(maxsize=1)
def _textrank() -> TextRankSummarizer:
    summarizer = TextRankSummarizer(Stemmer("english"))
    summarizer.stop_words = get_stop_words("english")
    return summarizer


def textrank(text: str, k: int = 3) -> list[str]:
    document = PlaintextParser.from_string(text, _Tokenizer()).document
    return [str(s) for s in _textrank()(document, k)]


def textrank_words(text: str, words: int) -> list[str]:
    """TextRank's sentences in rank order, cut to ``words`` words in all."""
    document = PlaintextParser.from_string(text, _Tokenizer()).document
    ratings = _textrank().rate_sentences(document)
    order = {s: i for i, s in enumerate(document.sentences)}
    out: list[str] = []
    for sentence in sorted(document.sentences, key=lambda s: (-ratings.get(s, 0.0), order[s])):
        if words <= 0:
            break
        cut = str(sentence).split()[:words]
        out.append(" ".join(cut))
        words -= len(cut)
    return out


def textrank_fit(text: str, k: int = 3, *, skip: str = "") -> list[str]:
    """TextRank's ``k`` best-rated sentences that fit a bullet whole (and are not
    ``skip``), in text order."""
    document = PlaintextParser.from_string(text, _Tokenizer()).document
    ratings = _textrank().rate_sentences(document)
    order = {s: i for i, s in enumerate(document.sentences)}
    fit = [s for s in document.sentences if len(str(s)) <= BULLET_MAX and str(s) != skip]
    best = sorted(fit, key=lambda s: (-ratings.get(s, 0.0), order[s]))[:k]
    return [str(s) for s in sorted(best, key=order.__getitem__)]


def textrank_pool(material: list[SourceText], k: int = 3) -> list[str]:
    """TextRank's ``k`` best-rated sentences among those the bullets may be (see
    ``tr-our-pool`` above), in text order."""
    story = _analyse_story(material)
    if not any(_eligible(s) for s in story.sentences):
        return []
    parts, _ = _lead(story)
    used = {id(s) for s in (*parts, *_scene_setters(story))}
    every = [Sentence(s.text, _Tokenizer()) for s in story.sentences]
    ratings = _textrank().rate_sentences(ObjectDocumentModel([Paragraph(every)]))
    pool = [
        (i, s)
        for i, s in enumerate(story.sentences)
        if id(s) not in used
        and _point(s)
        and not s.dangling
        and not s.surname
        and len(s.text) <= BULLET_MAX
    ]
    best = sorted(pool, key=lambda it: (-ratings.get(every[it[0]], 0.0), it[0]))[:k]
    return [s.text for _, s in sorted(best, key=lambda it: it[0])]


def ceilings(text: str) -> dict[str, list[str]]:
    real = [s for s in sentences(text) if is_real_sentence(s)]
    first = real[0] if real else ""
    return {
        "lead3-skip1": real[1:4],
        "textrank-fit": textrank_fit(text),
        "tr-fit-skip1": textrank_fit(text, skip=first),
    }


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


def reference_of(row: dict[str, object]) -> str:
    """The reference with one sentence a line (rougeLsum splits at newlines)."""
    bullets = row.get("reference_bullets")
    if isinstance(bullets, list) and bullets:
        return "\n".join(str(b).strip() for b in bullets)
    return "\n".join(sentences(str(row["reference"])))


def evaluate(
    path: Path, limit: int | None, extra: bool = False
) -> tuple[dict[str, dict[str, float]], float, int]:
    scorer = rouge_scorer.RougeScorer(list(METRICS), use_stemmer=True)
    condenser = ExtractiveCondenser()
    rows = load(path, limit)
    names = SYSTEMS + (CEILINGS if extra else ())
    totals = {name: dict.fromkeys(METRICS, 0.0) for name in names}
    spent = 0.0
    for i, row in enumerate(rows):
        text = str(row.get("text") or "")
        t0 = time.perf_counter()
        briefing = condenser.condense(f"dev{i}", material_of(row), NOW)
        spent += time.perf_counter() - t0
        bullets = [b.text for b in briefing.bullets]
        shown = [briefing.lead, *bullets] if briefing.lead else []
        systems = {
            "ours": bullets,
            "lead3": lead3(text),
            "textrank": textrank(text),
            "tr=ours-len": textrank_words(text, sum(len(u.split()) for u in bullets)),
            "briefing": shown,
            "tr=brief-len": textrank_words(text, sum(len(u.split()) for u in shown)),
        }
        if extra:
            systems.update(ceilings(text))
            systems["tr-our-pool"] = textrank_pool(material_of(row))
        ref = reference_of(row)
        for name, sents in systems.items():
            scores = scorer.score(ref, "\n".join(sents))
            for m in METRICS:
                totals[name][m] += scores[m].fmeasure
    n = max(1, len(rows))
    means = {name: {m: 100 * v / n for m, v in ms.items()} for name, ms in totals.items()}
    return means, 1000 * spent / n, len(rows)


def report(name: str, means: dict[str, dict[str, float]], ms: float, n: int) -> None:
    print(f"\n{name}  ({n} articles; ours {ms:.1f} ms/article)")
    print(f"{'system':<12}" + "".join(f"{m:>11}" for m in METRICS) + "   reference")
    for system in means:
        ref = REFERENCE.get((name, system))
        note = " / ".join(f"{ref[m]:.1f}" for m in METRICS if m in ref) if ref else ""
        figures = "".join(f"{means[system][m]:>11.2f}" for m in METRICS)
        print(f"{system:<12}{figures}   {note}")
    for base in ("lead3", "textrank"):
        deltas = "".join(f"{means['ours'][m] - means[base][m]:>+11.2f}" for m in METRICS)
        print(f"{'Δ vs ' + base:<12}{deltas}")
    for mine, theirs, what in (
        ("ours", "tr=ours-len", "the bullets"),
        ("briefing", "tr=brief-len", "what a channel reads (lead + bullets)"),
    ):
        deltas = ", ".join(f"{m} {means[mine][m] - means[theirs][m]:+.2f}" for m in METRICS)
        print(f"{what} vs TextRank at the same length: {deltas}")


def check(name: str, means: dict[str, dict[str, float]]) -> list[str]:
    """What is wrong with this run: a broken baseline, or a target missed."""
    problems = []
    for (dataset, system), figures in REFERENCE.items():
        if dataset != name:
            continue
        for m, ref in figures.items():
            got = means[system][m]
            if got < ref - TOLERANCE:
                problems.append(
                    f"BROKEN BASELINE: {system} {m} on {name} is {got:.2f}, more than "
                    f"{TOLERANCE:.0f} point below the reference {ref:.1f}"
                )
    ours = means["ours"]
    if name.startswith("cnn_dailymail"):
        for m in ("rouge1", "rougeLsum"):
            if ours[m] <= means["lead3"][m]:
                problems.append(
                    f"TARGET MISSED: ours {m} {ours[m]:.2f} does not beat Lead-3 "
                    f"{means['lead3'][m]:.2f} on {name}"
                )
    if name.startswith("bbc_news") and ours["rouge1"] < means["textrank"]["rouge1"] - TEXTRANK_GAP:
        problems.append(
            f"TARGET MISSED: ours rouge1 {ours['rouge1']:.2f} is more than {TEXTRANK_GAP:.0f} "
            f"points below TextRank {means['textrank']['rouge1']:.2f} on {name}"
        )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="articles per dataset")
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL)
    parser.add_argument(
        "--ceilings",
        action="store_true",
        help="also the baselines under the briefing's constraints (see module doc)",
    )
    args = parser.parse_args(argv)
    problems: list[str] = []
    for name in DATASETS:
        path = args.eval_dir / "summaries" / name
        if not path.exists():
            print(f"missing: {path}", file=sys.stderr)
            return 2
        means, ms, n = evaluate(path, args.limit, args.ceilings)
        report(name, means, ms, n)
        if args.limit is None:
            problems += check(name, means)
    print()
    if args.limit is not None:
        print("(subset run: baselines and targets not checked)")
        return 0
    if problems:
        for line in problems:
            print("!!! " + line, file=sys.stderr)
        return 1
    print("baselines reproduce the reference figures within a point; ROUGE targets hold")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
