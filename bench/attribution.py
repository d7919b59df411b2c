"""Attribution: every number and quotation in a briefing must come from its sources.

Runs the extractive condenser over the shared dev sets (read in place) and checks each
briefing text field (headline, lead, bullets, the three sections) for:

- numbers: digit runs with their decimal/thousands separators, percent signs and
  currency symbols (``3.5``, ``2,400``, ``16%``, ``$4bn``, ``£17.5million``);
- quoted phrases: text between straight double quotes or curly double quotes.

Each must occur in the text of one of the briefing's sources or in a source's title
(the headline is the first source's title). Numbers must match as whole numbers, so
``5`` does not pass because ``15`` is in the source. Prints the share of briefings
fully attributed (100% is required of the extractive condenser) and every failure.

    .venv/bin/python bench/attribution.py [--limit N] [--eval-dir ../shared/eval]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import DATASETS, DEFAULT_EVAL, NOW, load, material_of

from bot.condense import ExtractiveCondenser
from bot.models import Briefing, SourceText
from bot.text import clean_text

_NUMBER = re.compile(r"[$£€¥]?\d+(?:[.,]\d+)*%?")
_QUOTED = re.compile(r"\"([^\"\n]{2,}?)\"|“([^”\n]{2,}?)”")


def _norm(text: str) -> str:
    return " ".join(clean_text(text).split())


def claims(briefing: Briefing) -> list[tuple[str, str, str]]:
    """(field, kind, claim) for every number and quoted phrase in the briefing."""
    fields = {
        "headline": briefing.headline,
        "lead": briefing.lead,
        "what_happened": briefing.what_happened,
        "why_it_matters": briefing.why_it_matters,
        "what_to_watch": briefing.what_to_watch,
    }
    for i, bullet in enumerate(briefing.bullets):
        fields[f"bullet{i + 1}"] = bullet.text
    out = []
    for name, text in fields.items():
        for m in _NUMBER.finditer(text):
            out.append((name, "number", m.group().rstrip(".,")))
        for m in _QUOTED.finditer(text):
            out.append((name, "quote", m.group(1) or m.group(2)))
    return out


def attributed(kind: str, claim: str, corpus: str) -> bool:
    if kind == "quote":
        return _norm(claim) in corpus
    pattern = r"(?<![\d.,])" + re.escape(claim) + r"(?![\d]|[.,]\d)"
    return re.search(pattern, corpus) is not None


def check(briefing: Briefing, material: list[SourceText]) -> list[str]:
    corpus = "\n".join(_norm(m.text) + "\n" + _norm(m.source.title) for m in material)
    return [
        f"{field}: {kind} {claim!r} not in any source"
        for field, kind, claim in claims(briefing)
        if not attributed(kind, claim, corpus)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="articles per dataset")
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL)
    args = parser.parse_args(argv)
    condenser = ExtractiveCondenser()
    total = ok = checked = 0
    failures: list[str] = []
    for name in DATASETS:
        for i, row in enumerate(load(args.eval_dir / "summaries" / name, args.limit)):
            material = material_of(row)
            briefing = condenser.condense(f"dev{i}", material, NOW)
            problems = check(briefing, material)
            checked += len(claims(briefing))
            total += 1
            if problems:
                failures += [f"{name}#{i} ({row.get('id')}): {p}" for p in problems]
            else:
                ok += 1
    share = 100 * ok / max(1, total)
    print(f"briefings fully attributed: {ok}/{total} ({share:.1f}%); claims checked: {checked}")
    for line in failures:
        print("  FAIL", line)
    return 0 if ok == total else 1


if __name__ == "__main__":
    raise SystemExit(main())
