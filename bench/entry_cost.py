"""What a new entry costs as the window fills: placing, condensing and related search
with 1,000, 10,000 and 50,000 stories in the window.

The parts of briefing an entry that look at other stories are placing it (the cluster
index, ``bot.cluster.ClusterIndex.place``) and finding related briefings (the store's
full-text search, as ``Briefer._related`` does it: ``related_query``,
``related_hits`` over the newest ``RELATED_WINDOW`` matches, ``pick_related``).
Condensing reads only the entry's own story and is shown as the constant it should be.
For each window size the script fills a fresh SQLite file with that many briefings
of the last 72 hours (``bench/commands.py``'s generator, written with real news
sentences: those of the BBC and CNN/DailyMail dev articles in
``../shared/eval/summaries``, read in place, shuffled into headlines, leads and
bullets, their names mostly replaced by invented ones) and a cluster index with their
fingerprints, then briefs the AllSides roundup items (``../shared/eval/clusters``) one
by one against them: their own fingerprint, placement, condensing and the related
search, each timed (thread CPU time, so another process on the machine does not
count).

Target (issue 19): per-entry cost flat from 1k to 50k stories; the ratio of each
part's median at the largest window to the smallest is printed.

    python bench/entry_cost.py                      # 1k, 10k, 50k; ~1 minute
    python bench/entry_cost.py --sizes 1000,5000 --probes 100   # quick
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from commands import generate  # noqa: E402

from bot.cluster import ClusterIndex, StoryClusterer  # noqa: E402
from bot.condense import ExtractiveCondenser, load_language_model  # noqa: E402
from bot.models import BULLET_MAX, Source, SourceText  # noqa: E402
from bot.search import RELATED_WINDOW, pick_related, related_query  # noqa: E402
from bot.sentences import split_sentences  # noqa: E402
from storage import SqliteStore  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"
SUMMARIES = ("cnn_dailymail_dev50.jsonl", "bbc_news_summary_dev250.jsonl")
ITEMS = "clusters/allsides_roundups_dev.jsonl"
NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
WINDOW = timedelta(hours=72)
PARTS = ("fingerprint", "place", "condense", "related", "total")


def _sentences(eval_dir: Path) -> list[str]:
    out: list[str] = []
    for name in SUMMARIES:
        with (eval_dir / "summaries" / name).open(encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                out += [
                    s
                    for s in split_sentences(str(row.get("text") or row.get("article") or ""))
                    if 40 < len(s) <= BULLET_MAX
                ]
    return out


def _writer(pool: list[str]) -> Any:
    """Real sentences, their names (capitalised words after the first) mostly replaced
    by invented ones: a window of 50,000 stories names far more people, places and
    firms than 5,000 dev sentences do, and a name shared by every fifth story would
    make each lookup walk more than a real window asks of it."""

    def sentence(rng: random.Random, words: int) -> str:
        out = rng.choice(pool).split()
        for i in range(1, len(out)):
            if out[i][:1].isupper() and rng.random() < 0.8:
                out[i] = "".join(rng.choices("bcdfghklmnprstvz", k=2)).capitalize()
                out[i] += "".join(rng.choices("aeiou", k=1)) + rng.choice(["ra", "lin", "sk"])
        if words <= 10:
            out = out[:words]
        return " ".join(out)[: BULLET_MAX - 1].rstrip(" .") + "."

    return sentence


def _window(path: Path, n: int, pool: list[str]) -> tuple[SqliteStore, ClusterIndex]:
    generate(path, n, sentence=_writer(pool), span=WINDOW, end=NOW)
    store = SqliteStore.open(path)
    index = ClusterIndex(StoryClusterer(window=WINDOW), prune=False)
    step = WINDOW / n
    conn = store.db.conn
    rows = conn.execute("SELECT story_id, headline, lead, body FROM briefings ORDER BY story_id")
    for sid, headline, lead, body in rows:
        fp = index.clusterer.fingerprint(headline, f"{lead}\n{body}")
        index.add(sid, fp, NOW - WINDOW + step * sid, (f"Outlet {sid % 200}",))
    return store, index


def _probe(store: SqliteStore, index: ClusterIndex, items: list[dict[str, Any]]) -> dict:
    condenser = ExtractiveCondenser()
    spent: dict[str, list[float]] = {p: [] for p in PARTS}
    for n, item in enumerate(items):
        title, text = str(item["title"]), str(item.get("text") or item["title"])
        source = Source(publisher=str(item.get("source") or "Outlet"), title=title)
        t0 = time.thread_time()
        fp = index.clusterer.fingerprint(title, text)
        t1 = time.thread_time()
        index.place(fp, NOW, source.publisher)
        t2 = time.thread_time()
        briefing = condenser.condense(f"probe{n}", [SourceText(source=source, text=text)], NOW)
        t3 = time.thread_time()
        query = related_query(briefing)
        if query is not None:
            found = store.related_hits(query, limit=30, window=RELATED_WINDOW)
            pick_related(briefing, found, 3)
        t4 = time.thread_time()
        for part, value in zip(PARTS, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0), strict=True):
            spent[part].append(value * 1000)
    return spent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,50000", help="stories in the window")
    parser.add_argument("--probes", type=int, default=300, help="entries briefed per size")
    parser.add_argument("--eval-dir", type=Path, default=EVAL)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    pool = _sentences(args.eval_dir)
    with (args.eval_dir / ITEMS).open(encoding="utf-8") as fh:
        items = [json.loads(line) for line in fh if line.strip()]
    probes = [items[i % len(items)] for i in range(args.probes)]
    load_language_model()  # as the service does at start
    print(f"{len(pool):,} real sentences for the window; {len(probes)} entries briefed per size")
    print(f"{'stories':>8}  " + "  ".join(f"{p + ' p50/p99 ms':>22}" for p in PARTS))
    medians: dict[int, dict[str, float]] = {}
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            store, index = _window(Path(tmp) / "window.db", n, pool)
            _probe(store, index, probes)  # warm the caches, as a running service is
            spent = _probe(store, index, probes)
            store.close()
        medians[n] = {p: statistics.median(v) for p, v in spent.items()}
        cells = []
        for p in PARTS:
            ordered = sorted(spent[p])
            p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
            cells.append(f"{medians[n][p]:>12.2f} / {p99:>7.2f}")
        print(f"{n:>8,}  " + "  ".join(cells), flush=True)
    if len(sizes) > 1:
        low, high = min(sizes), max(sizes)
        ratios = ", ".join(
            f"{p} {medians[high][p] / medians[low][p]:.2f}x" for p in PARTS if medians[low][p]
        )
        print(f"median at {high:,} stories / at {low:,} (flat = 1.0x): {ratios}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
