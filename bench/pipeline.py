"""Time per article for each pipeline stage on real pages (``../shared/eval/pages``).

Stages: parse (a one-item RSS feed carrying the page's link and title), extract
(trafilatura), cluster (fingerprint + index match), condense (extractive), store
(entries, article, story and briefing written to a SQLite file). Also prints the
extraction's token F1 against the pages' expected text.

    python bench/pipeline.py [--eval ../shared/eval] [--limit N]
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.cluster import ClusterIndex, StoryClusterer  # noqa: E402
from bot.condense import ExtractiveCondenser  # noqa: E402
from bot.errors import ExtractError  # noqa: E402
from bot.extract import extract_article  # noqa: E402
from bot.models import Source, SourceText, StoryDoc  # noqa: E402
from bot.parse import parse_feed  # noqa: E402
from storage import SqliteStore  # noqa: E402

NOW = datetime(2026, 11, 29, tzinfo=UTC)
_TOKEN = re.compile(r"\w+", re.UNICODE)


def token_f1(got: str, expected: str) -> float:
    a, b = Counter(_TOKEN.findall(got.lower())), Counter(_TOKEN.findall(expected.lower()))
    common = sum((a & b).values())
    if not common:
        return 0.0
    precision, recall = common / sum(a.values()), common / sum(b.values())
    return 2 * precision * recall / (precision + recall)


def one_item_feed(title: str, link: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Bench</title>'
        f"<link>https://bench.invalid/</link><item><title>{escape(title)}</title>"
        f"<link>{escape(link)}</link><guid>{escape(link)}</guid>"
        "<pubDate>Sun, 29 Nov 2026 08:00:00 GMT</pubDate></item></channel></rss>"
    ).encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eval", default=str(ROOT.parent / "shared" / "eval"))
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    pages_dir = Path(args.eval) / "pages"
    index = pages_dir / "INDEX.jsonl"
    if not index.is_file():
        print(f"bench/pipeline.py: {index} not found (pass --eval)", file=sys.stderr)
        return 2
    rows = [json.loads(line) for line in index.read_text().splitlines() if line.strip()]
    if args.limit:
        rows = rows[: args.limit]

    times: dict[str, list[float]] = {
        k: [] for k in ("parse", "extract", "cluster", "condense", "store")
    }
    f1s: list[float] = []
    failed = 0
    condenser = ExtractiveCondenser()
    clusterer = StoryClusterer()
    cluster_index = ClusterIndex(clusterer)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore.open(Path(tmp) / "bench.db")
        feed, _ = store.add_feed("https://bench.invalid/feed.xml", name="Bench", now=NOW)
        for n, row in enumerate(rows):
            html = gzip.decompress((pages_dir / row["html"]).read_bytes())
            expected = json.loads((pages_dir / row["expected"]).read_text())
            url = row.get("url") or f"https://bench.invalid/article/{n}"
            title = expected.get("title") or f"Article {n}"

            t0 = time.perf_counter()
            parsed = parse_feed(one_item_feed(title, url), url="https://bench.invalid/feed.xml")
            t1 = time.perf_counter()
            try:
                article = extract_article(html, url=url)
            except ExtractError:
                failed += 1
                continue
            t2 = time.perf_counter()
            fp = clusterer.fingerprint(title, article.text[:4000])
            story_id = cluster_index.match(fp, NOW)
            t3 = time.perf_counter()
            source = Source(publisher="Bench", title=title, url=url)
            briefing = condenser.condense(
                f"b{n:05d}", [SourceText(source=source, text=article.text)], NOW
            )
            t4 = time.perf_counter()
            (entry,) = store.add_entries(feed.id, parsed.entries, NOW)
            store.save_article(entry.id, article)
            doc = StoryDoc(title=title, text=article.text[:1000], fingerprint=fp.to_json())
            story = store.create_story(entry, doc, NOW)
            store.save_briefing(
                briefing.model_copy(update={"id": story.briefing_id, "story_id": story.id})
            )
            t5 = time.perf_counter()
            cluster_index.add(story_id or story.id, fp, NOW)

            for key, value in zip(
                times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True
            ):
                times[key].append(value * 1000)
            if expected.get("expected_text"):
                f1s.append(token_f1(article.text, expected["expected_text"]))
        store.close()

    done = len(times["parse"])
    print(f"pipeline stages on {done} pages ({failed} with no extractable text)")
    print(f"{'stage':<10}{'mean ms':>10}{'p50 ms':>10}{'p95 ms':>10}{'share':>9}")
    total = sum(sum(v) for v in times.values()) or 1.0
    for key, values in times.items():
        values_sorted = sorted(values)
        p95 = values_sorted[int(0.95 * (len(values_sorted) - 1))] if values_sorted else 0.0
        print(
            f"{key:<10}{statistics.fmean(values or [0]):>10.2f}"
            f"{statistics.median(values or [0]):>10.2f}{p95:>10.2f}"
            f"{100 * sum(values) / total:>8.1f}%"
        )
    per_article = total / max(done, 1)
    print(f"{'total':<10}{per_article:>10.2f} ms per article, {1000 / per_article:.1f} articles/s")
    if f1s:
        print(
            f"extraction token F1 vs expected text: mean {statistics.fmean(f1s):.3f} "
            f"over {len(f1s)} pages"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
