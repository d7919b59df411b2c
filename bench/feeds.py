"""Run ``parse_feed`` over a corpus of feed files and print how it fared.

    .venv/bin/python bench/feeds.py [/work/shared/eval/feeds]

Files are read in place. For feedparser's ``encoding/http_*`` tests, the XML comment's
``Header:`` line stands for the HTTP response header (e.g. ``Content-type: ...``) and is
passed as ``headers``. Counts: files that gave entries, files that gave a feed with no
entries, typed ``ParseError``s, and unhandled exceptions (must be 0); then timings.
Not part of the test run.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.errors import ParseError
from bot.parse import parse_feed

DEFAULT_ROOT = Path("/work/shared/eval/feeds")
_HEADER = re.compile(rb"^\s*Header:\s*([A-Za-z-]+):\s*(.+?)\s*$", re.MULTILINE)


def headers_for(path: Path, body: bytes) -> dict[str, str] | None:
    if not path.name.startswith("http_"):
        return None
    comment = re.search(rb"<!--(.*?)-->", body, re.DOTALL)
    if comment is None:
        return None
    found = {
        name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in _HEADER.findall(comment.group(1))
    }
    return found or None


def load_kinds(root: Path) -> dict[str, str]:
    """File -> kind ("feed", "expected", ...) from the corpus manifest, when there is one."""
    manifest = root / "MANIFEST.jsonl"
    if not manifest.is_file():
        return {}
    rows = (json.loads(line) for line in manifest.read_text().splitlines() if line.strip())
    return {row["file"]: row.get("kind", "?") for row in rows}


def parse_one(path: Path) -> tuple[str, str]:
    """(outcome, detail): outcome is "entries", "empty", "ParseError" or "UNHANDLED"."""
    body = path.read_bytes()
    try:
        feed = parse_feed(body, headers=headers_for(path, body), url="https://bench.example/feed")
    except ParseError as exc:
        return "ParseError", str(exc).split(" (")[0]
    except Exception as exc:  # counting exactly these is the point
        return "UNHANDLED", f"{type(exc).__name__}: {exc}"
    return ("entries" if feed.entries else "empty"), ""


def main(root: Path) -> int:
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != "MANIFEST.jsonl")
    kinds = load_kinds(root)
    outcomes: Counter[str] = Counter()
    by_kind: dict[str, Counter[str]] = {}
    errors: Counter[str] = Counter()
    timed: list[tuple[float, str]] = []
    for path in files:
        name = str(path.relative_to(root))
        started = time.perf_counter()
        outcome, detail = parse_one(path)
        timed.append((time.perf_counter() - started, name))
        outcomes[outcome] += 1
        by_kind.setdefault(kinds.get(name, "unlisted"), Counter())[outcome] += 1
        if outcome == "ParseError":
            errors[detail] += 1
        elif outcome == "UNHANDLED":
            print(f"UNHANDLED in {name}: {detail}", file=sys.stderr)

    print(f"files                 {len(files)}")
    print(f"with entries          {outcomes['entries']}")
    print(f"feed, no entries      {outcomes['empty']}")
    print(f"typed ParseError      {outcomes['ParseError']}")
    for message, count in errors.most_common():
        print(f"    {count:5d}  {message}")
    print(f"unhandled exceptions  {outcomes['UNHANDLED']}")
    for kind, counts in sorted(by_kind.items()):
        summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        print(f"kind {kind:<16} {summary}")
    times = [t for t, _ in timed]
    if times:
        print(
            f"time per file         mean {statistics.mean(times) * 1000:.2f} ms, "
            f"median {statistics.median(times) * 1000:.2f} ms, "
            f"max {max(times) * 1000:.1f} ms, total {sum(times):.2f} s"
        )
        for elapsed, name in sorted(timed, reverse=True)[:3]:
            print(f"    slowest {elapsed * 1000:7.1f} ms  {name}")
    return 1 if outcomes["UNHANDLED"] else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_ROOT))
