"""New entries end to end through the engine, and what costs more than trafilatura.

For each page of ``../shared/eval/pages`` (read in place): a one-item feed is parsed,
``store.add_entries`` reports the entry new, and ``Briefer.process_entry`` fetches the
page (an in-memory transport: no network), extracts it, clusters, condenses, relates,
saves and routes it, with SqliteStore on a temp file, exactly as in a poll. Two runs:

- **one process** (``SIGNALDESK_WORKERS=0``, one entry at a time): the time inside
  ``trafilatura.bare_extraction`` is measured; the rest is our own overhead, with a
  target of at most 25% of the total;
- **the pool** (``--workers``, default 2 processes; ``--at-once`` entries briefed
  together, as the poll's workers brief theirs): entries a second end to end, with a
  target of at least 1.6x one core's trafilatura rate.

Baseline, same process: ``trafilatura.bare_extraction`` alone on the same pages (the
floor for any pipeline that extracts on one core).

    python bench/ingest.py [--eval ../shared/eval] [--limit N] [--rounds 2] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import trafilatura

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bot.extract  # noqa: E402
from adapters.testing import RecordingPublisher  # noqa: E402
from bench.pipeline import one_item_feed  # noqa: E402
from bench.procstats import worker_usage  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.fetch import Fetcher  # noqa: E402
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


async def _engine_run(
    pages: list[tuple[str, str, bytes]], rounds: int, *, workers: int, at_once: int
) -> tuple[int, float, float, float]:
    """Entries briefed, seconds, and CPU seconds of this process and of the pool's."""
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

    settings = load_settings(_env_file=None, log_level="WARNING", workers=workers)
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
        await engine.warm_up()  # the service's start: the language model, word tables
        if engine.pool is not None:
            await engine.pool.start()  # forkserver and workers, before the clock starts
        feeds = []
        for r in range(rounds):  # each round is another outlet carrying the same stories
            feed, _ = store.add_feed(f"https://outlet{r}.example/rss", name=f"Outlet {r}", now=NOW)
            store.ensure_channel(CHANNEL, NOW)
            store.subscribe(CHANNEL, feed.id, NOW)
            feeds.append(feed)
        slots = asyncio.Semaphore(at_once)
        gate = engine.ingest._parse_gate

        async def one(feed_id: int, feed_url: str, url: str, title: str) -> int:
            async with slots:
                # Through the engine's gate, as a poll parses: in the pool when there is one.
                parsed = await gate.parse(one_item_feed(title, url), url=feed_url)
                new = await engine.db(store.add_entries, feed_id, parsed.entries, NOW)
                for entry in new:
                    await engine.briefer.process_entry(entry)
                return len(new)

        pids = engine.pool.pids() if engine.pool is not None else []
        base_cpu = worker_usage(pids)[0]
        t0, cpu0 = time.perf_counter(), time.process_time()
        for r, feed in enumerate(feeds):  # an outlet's copy arrives after the first's
            counts = await asyncio.gather(
                *(one(feed.id, feed.url, f"{url}?r={r}", title) for url, title, _ in pages)
            )
            done += sum(counts)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        pool_cpu = worker_usage(pids)[0] - base_cpu
        await engine.aclose()
        store.close()
    return done, elapsed, cpu, pool_cpu


def _trafilatura_rate(pages: list[tuple[str, str, bytes]], rounds: int, fn: Any) -> float:
    """Pages a second inside ``trafilatura.bare_extraction`` alone, one core."""
    base = _Timed(fn)
    trafilatura.bare_extraction = base
    try:
        for _ in range(rounds):
            for url, _title, html in pages:
                with contextlib.suppress(Exception):  # a page without text still counts
                    bot.extract.extract_article(html, url=url)
    finally:
        trafilatura.bare_extraction = fn
    return base.calls / base.seconds if base.seconds else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eval", default=str(ROOT.parent / "shared" / "eval"))
    parser.add_argument("--limit", type=int, default=0, help="pages (0 = all)")
    parser.add_argument("--rounds", type=int, default=2, help="outlets carrying each page")
    parser.add_argument("--workers", type=int, default=2, help="pool processes (0: no pool run)")
    parser.add_argument("--at-once", type=int, default=8, help="entries briefed together")
    args = parser.parse_args()
    pages_dir = Path(args.eval) / "pages"
    if not (pages_dir / "INDEX.jsonl").is_file():
        print(f"bench/ingest.py: {pages_dir / 'INDEX.jsonl'} not found (pass --eval)")
        return 2
    pages = _load(pages_dir, args.limit)

    # One process: how much of the time is trafilatura's (extract_article imports it on
    # first use and looks the function up at each call, so the module is patched).
    timed = _Timed(trafilatura.bare_extraction)
    trafilatura.bare_extraction = timed
    try:
        entries, elapsed, cpu, _ = asyncio.run(
            _engine_run(pages, args.rounds, workers=0, at_once=1)
        )
    finally:
        trafilatura.bare_extraction = timed.fn
    if not timed.calls:
        print("bench/ingest.py: no extraction was timed: the measurement is broken")
        return 1
    inside = timed.seconds

    # Baseline: trafilatura alone, same pages, same options as bot.extract uses; taken
    # before and after the pool's run (a shared machine's speed drifts by 10% and more
    # within minutes), the pool compared with their mean.
    base_rate = _trafilatura_rate(pages, args.rounds, timed.fn)
    pooled, pooled_s, main_cpu, pool_cpu = 0, float("nan"), 0.0, 0.0
    after = base_rate
    if args.workers:
        pooled, pooled_s, main_cpu, pool_cpu = asyncio.run(
            _engine_run(pages, args.rounds, workers=args.workers, at_once=args.at_once)
        )
        after = _trafilatura_rate(pages, args.rounds, timed.fn)

    share = 1 - inside / elapsed
    print(
        f"ingest: {entries} new entries ({len(pages)} pages x {args.rounds} outlets), "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} cores"
    )
    print("  one process, one entry at a time:")
    print(
        f"    end to end         {entries / elapsed:7.1f} entries/s  ({elapsed:.1f} s, "
        f"{1000 * cpu / entries:.1f} ms CPU an entry)"
    )
    print(f"    inside trafilatura {inside:7.1f} s of {elapsed:.1f} s")
    print(f"    beyond trafilatura {100 * share:6.1f}%   target <= 25%")
    print(f"  baseline: trafilatura alone, one core: {base_rate:.1f} pages/s")
    if args.workers:
        rate = pooled / pooled_s
        mean = (base_rate + after) / 2
        print(
            f"  pool of {args.workers} processes, {args.at_once} entries at once: "
            f"{rate:.1f} entries/s ({pooled_s:.1f} s) = {rate / mean:.2f}x trafilatura "
            f"alone ({base_rate:.1f} pages/s before, {after:.1f} after)   target >= 1.6x"
        )
        print(
            f"    CPU an entry: {1000 * main_cpu / pooled:.1f} ms in this process, "
            f"{1000 * pool_cpu / pooled:.1f} ms in the workers; trafilatura alone "
            f"{1000 / mean:.1f} ms a page"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
