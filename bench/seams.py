"""What the fetch and parse seams cost beside the library they wrap, in the same process.

- Fetch: CPU per request of ``Fetcher.fetch`` (every guard: SSRF check, validators,
  bounded decompression, redirects checked hop by hop, one-line errors) against plain
  ``aiohttp`` GETs (``session.get`` + ``read``) to the same local feed server, the same
  number of requests at the same concurrency. Target: within 2x.
- Parse: ``bot.parse.parse_feed`` against ``feedparser.parse`` alone on the same
  realistic bodies (``bench/fleet.py``: 10-100 items, 5-200 kB). Target: within 1.2x.

Each pair runs alternately, several rounds, and the ratio of the medians is printed: on
a shared machine absolute figures drift, the ratio much less.

    python bench/seams.py                    # ~1 minute
    python bench/seams.py --requests 2000 --bodies 60 --rounds 3   # quick
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from feedserver import FeedServer  # noqa: E402
from fleet import Mix  # noqa: E402


async def _plain(urls: list[str], concurrency: int) -> float:
    import aiohttp

    sem = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency, limit_per_host=0)
    ) as session:

        async def one(url: str) -> None:
            async with sem, session.get(url) as response:
                await response.read()

        await one(urls[0])  # connect first, as the fetcher's warm-up below
        cpu0 = time.process_time()
        await asyncio.gather(*(one(u) for u in urls))
        return (time.process_time() - cpu0) / len(urls)


async def _seam(urls: list[str], concurrency: int) -> float:
    from bot.fetch import Fetcher
    from bot.settings import load_settings

    settings = load_settings(
        _env_file=None,
        allow_private_networks=True,
        concurrency=concurrency,
        per_host_concurrency=100,
        log_level="WARNING",
    )
    async with Fetcher(settings) as fetcher:
        await fetcher.fetch(urls[0])
        cpu0 = time.process_time()
        await asyncio.gather(*(fetcher.fetch(u) for u in urls))
        return (time.process_time() - cpu0) / len(urls)


def _parse_pair(bodies: list[bytes]) -> tuple[float, float]:
    import feedparser

    from bot.parse import parse_feed

    cpu0 = time.process_time()
    for body in bodies:
        feedparser.parse(body)
    library = (time.process_time() - cpu0) / len(bodies)
    cpu0 = time.process_time()
    for body in bodies:
        parse_feed(body, headers={"content-type": "application/rss+xml"})
    ours = (time.process_time() - cpu0) / len(bodies)
    return library, ours


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--bodies", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--port", type=int, default=18_865)
    args = parser.parse_args()

    # Plain 200s of the kind preset's 4 kB feeds ("static" kind, no validators sent):
    # the request path, not the body, is what is measured.
    with FeedServer(hosts=4, port=args.port, changing_per_mille=0, lifetime=600) as server:
        urls = [server.url(i) for i in range(args.requests)]
        plain, seam = [], []
        for _ in range(args.rounds):
            plain.append(asyncio.run(_plain(urls, args.concurrency)))
            seam.append(asyncio.run(_seam(urls, args.concurrency)))
    p, s = statistics.median(plain), statistics.median(seam)
    print(
        f"fetch: Fetcher.fetch {1000 * s:.3f} ms CPU/request, plain aiohttp {1000 * p:.3f} ms "
        f"({s / p:.2f}x; target <= 2x) — {args.requests:,} requests x {args.rounds} rounds, "
        f"{args.concurrency} in flight, loopback"
    )

    mix = Mix(base=time.time())
    bodies = [mix.body(i) for i in range(args.bodies)]
    size = sum(map(len, bodies)) / len(bodies) / 1024
    library, ours = [], []
    for _ in range(args.rounds):
        lib, own = _parse_pair(bodies)
        library.append(lib)
        ours.append(own)
    lib_m, own_m = statistics.median(library), statistics.median(ours)
    print(
        f"parse: parse_feed {1000 * own_m:.2f} ms CPU/body ({1 / own_m:.0f}/s), "
        f"feedparser.parse {1000 * lib_m:.2f} ms ({1 / lib_m:.0f}/s) "
        f"({own_m / lib_m:.2f}x; target <= 1.2x) — {len(bodies)} realistic bodies, "
        f"mean {size:.0f} kB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
