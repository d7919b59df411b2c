"""New entries end to end through the engine, and what costs more than trafilatura.

For each page of ``../shared/eval/pages`` (read in place): a one-item feed is parsed,
``store.add_entries`` reports the entry new, and ``Briefer.process_entry`` fetches the
page (an in-memory transport: no network), extracts it, clusters, condenses, relates,
saves and routes it, with SqliteStore on a temp file, exactly as in a poll. The time
inside ``trafilatura.bare_extraction`` is measured separately; the rest is our own
overhead, with a target of at most 25% of the total.

Baseline, same process: ``trafilatura.bare_extraction`` alone on the same pages (the
floor for any pipeline that extracts).

    python bench/ingest.py [--eval ../shared/eval] [--limit N] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bot.extract  # noqa: E402
from adapters.testing import RecordingPublisher  # noqa: E402
from bench.pipeline import one_item_feed  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.fetch import Fetcher  # noqa: E402
from bot.parse import parse_feed  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from storage import SqliteStore  # noqa: E402
from storage.database import StoreRunner  # noqa: E402

NOW = datetime(2026, 11, 29, tzinfo=UTC)
CHANNEL = "console:bench"


class _Timed:
    """Wraps trafilatura's extraction to add up the time spent inside it."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.seconds = 0.0
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t0
            self.calls += 1


def _load(pages_dir: Path, limit: int) -> list[tuple[str, str, bytes]]:
    rows = [
        json.loads(line)
        for line in (pages_dir / "INDEX.jsonl").read_text().splitlines()
        if line.strip()
    ]
    if limit:
        rows = rows[:limit]
    pages = []
    for n, row in enumerate(rows):
        html = gzip.decompress((pages_dir / row["html"]).read_bytes())
        expected = json.loads((pages_dir / row["expected"]).read_text())
        title = expected.get("title") or f"Article {n}"
        pages.append((f"https://site{n % 40}.example/a/{n}", title, html))
    return pages


async def _engine_run(pages: list[tuple[str, str, bytes]], rounds: int) -> tuple[int, float]:
    by_url: dict[str, bytes] = {}
    for r in range(rounds):
        for url, _title, html in pages:
            by_url[f"{url}?r={r}"] = html

    def serve(request: httpx.Request) -> httpx.Response:
        body = by_url.get(str(request.url))
        if body is None:
            return httpx.Response(404)
        # A stream, as from the network: the fetcher reads it raw, in bounded steps.
        return httpx.Response(
            200, stream=httpx.ByteStream(body), headers={"Content-Type": "text/html"}
        )

    async def public(host: str) -> list[str]:
        return ["93.184.215.14"]  # a public address: the guard passes, nothing connects

    settings = load_settings(_env_file=None, log_level="WARNING")
    fetcher = Fetcher(settings, transport=httpx.MockTransport(serve), resolver=public)
    done = 0
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore.open(Path(tmp) / "ingest.db")
        engine = Engine(
            settings,
            store,
            fetcher=fetcher,
            publishers={"console": RecordingPublisher()},
            runner=StoreRunner(store),
        )
        feeds = []
        for r in range(rounds):  # each round is another outlet carrying the same stories
            feed, _ = store.add_feed(f"https://outlet{r}.example/rss", name=f"Outlet {r}", now=NOW)
            store.ensure_channel(CHANNEL, NOW)
            store.subscribe(CHANNEL, feed.id, NOW)
            feeds.append(feed)
        t0 = time.perf_counter()
        for r, feed in enumerate(feeds):
            for url, title, _html in pages:
                parsed = parse_feed(one_item_feed(title, f"{url}?r={r}"), url=feed.url)
                new = await engine.db(store.add_entries, feed.id, parsed.entries, NOW)
                for entry in new:
                    await engine.briefer.process_entry(entry)
                    done += 1
        elapsed = time.perf_counter() - t0
        await engine.aclose()
        store.close()
    return done, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eval", default=str(ROOT.parent / "shared" / "eval"))
    parser.add_argument("--limit", type=int, default=0, help="pages (0 = all)")
    parser.add_argument("--rounds", type=int, default=2, help="outlets carrying each page")
    args = parser.parse_args()
    pages_dir = Path(args.eval) / "pages"
    if not (pages_dir / "INDEX.jsonl").is_file():
        print(f"bench/ingest.py: {pages_dir / 'INDEX.jsonl'} not found (pass --eval)")
        return 2
    pages = _load(pages_dir, args.limit)

    timed = _Timed(bot.extract.trafilatura.bare_extraction)
    bot.extract.trafilatura.bare_extraction = timed  # type: ignore[assignment]
    entries, elapsed = asyncio.run(_engine_run(pages, args.rounds))
    inside = timed.seconds
    bot.extract.trafilatura.bare_extraction = timed.fn  # type: ignore[assignment]

    # Baseline: trafilatura alone, same pages, same options as bot.extract uses.
    base = _Timed(timed.fn)
    bot.extract.trafilatura.bare_extraction = base  # type: ignore[assignment]
    for _ in range(args.rounds):
        for url, _title, html in pages:
            with contextlib.suppress(Exception):  # a page without text still counts
                bot.extract.extract_article(html, url=url)
    bot.extract.trafilatura.bare_extraction = base.fn  # type: ignore[assignment]
    base_rate = base.calls / base.seconds if base.seconds else float("nan")

    share = 1 - inside / elapsed
    print(
        f"ingest: {entries} new entries ({len(pages)} pages x {args.rounds} outlets), "
        f"Python {sys.version.split()[0]}"
    )
    print(f"  end to end        {entries / elapsed:7.1f} entries/s  ({elapsed:.1f} s)")
    print(f"  inside trafilatura {inside:6.1f} s of {elapsed:.1f} s")
    print(f"  beyond trafilatura {100 * share:6.1f}%   target <= 25%")
    print(
        f"  baseline: trafilatura alone {base_rate:.1f} pages/s -> end to end runs at "
        f"{entries / elapsed / base_rate:.2f}x of it"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
