"""Attribution: every number and quotation in a briefing must come from its sources.

Runs the extractive condenser over the shared dev sets (read in place) and checks each
briefing text field (headline, lead, bullets, the three sections) for:

- numbers: digit runs with their decimal/thousands separators, percent signs and
  currency symbols (``3.5``, ``2,400``, ``16%``, ``$4bn``, ``£17.5million``);
- quoted phrases: text between straight double quotes or curly double quotes.

Each must occur in the text of one of the briefing's sources or in a source's title
(the headline is the first source's title). Numbers must match as whole numbers, so
``5`` does not pass because ``15`` is in the source. The check itself is
``bot.attribution.unattributed``, the same one the LLM condenser runs on every answer.
Prints the share of briefings fully attributed (100% is required of the extractive
condenser) and every failure.

    .venv/bin/python bench/attribution.py [--limit N] [--eval-dir ../shared/eval]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import DATASETS, DEFAULT_EVAL, NOW, load, material_of

from bot.attribution import claims, unattributed
from bot.condense import ExtractiveCondenser


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
            problems = unattributed(briefing, material)
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
