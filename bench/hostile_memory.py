"""Peak memory of a poll under hostile feeds, and database growth under GUID churn.

Each scenario runs in a fresh process (so one's peak does not hide another's) that polls
real feeds over loopback HTTP through the real engine: fetcher, parser, SQLite store
(a file), clusterer and condenser. Feeds are served from a separate process, so their
bodies are not charged to the engine.

- ``six_large``: six 5.9 MB RSS feeds (1,540 items of long HTML each) polled at once;
- ``six_many``: six 5.9 MB feeds of 48,000 short items each, polled at once;
- ``many_items``: one feed of 100,000 tiny items (5.9 MB);
- ``churn``: one feed whose 10 items link to 4.5 MB article pages and get fresh GUIDs
  and fresh text on every poll: database growth per poll.

The body cap is raised to 6 MB (``max_response_bytes``) so that the 5.9 MB feeds are
read, as in the red-team run. Prints one line per scenario: the RSS the poll added at
its peak (``ru_maxrss`` minus the RSS before polling), and for ``churn`` the database
bytes added per poll. The README's budget is 300 MB for the whole process.

    nice .venv/bin/python bench/hostile_memory.py [six_large six_many many_items churn]
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PARAGRAPH = (
    "<p>The port authority said on Tuesday that container traffic through the harbour "
    "rose 4 percent in October from a year earlier, helped by a new rail link to the "
    "inland terminal. Dockworkers' unions said overtime had doubled since the summer and "
    "asked for talks on staffing before the winter peak.</p>"
)


def large_feed(n: int, items: int = 1540, paragraphs: int = 12) -> bytes:
    body = PARAGRAPH * paragraphs
    parts = [
        f"<item><title>Harbour traffic report {n}-{i}</title>"
        f"<link>http://127.0.0.1:{{port}}/news/{n}/{i}.html</link>"
        f"<guid>harbour-{n}-{i}</guid><pubDate>Tue, 24 Nov 2026 08:{i % 60:02d}:00 GMT</pubDate>"
        f"<description><![CDATA[{body}]]></description></item>"
        for i in range(items)
    ]
    return _rss(parts)


def many_small_feed(n: int, items: int = 48_000) -> bytes:
    parts = [
        f"<item><title>Berth notice {n}-{i}</title><guid>b{n}-{i}</guid>"
        "<category>Port</category><category>Shipping</category></item>"
        for i in range(items)
    ]
    return _rss(parts)


def many_items_feed(items: int = 100_000) -> bytes:
    parts = [f"<item><title>Notice {i}</title><guid>n{i}</guid></item>" for i in range(items)]
    return _rss(parts)


def churn_feed(poll: int) -> bytes:
    parts = [
        f"<item><title>Council budget vote, report {poll}-{i}</title>"
        f"<link>http://127.0.0.1:{{port}}/page/{poll}/{i}.html</link>"
        f"<guid>urn:uuid:{poll:08d}-{i:04d}</guid>"
        f"<description>The council voted on its budget on Tuesday (report {poll}-{i}). "
        f"{PARAGRAPH}</description></item>"
        for i in range(10)
    ]
    return _rss(parts)


def article_page(size: int = 4_500_000) -> bytes:
    # Numbered paragraphs: an extractor drops repeated ones, and a real 4.5 MB page
    # (a live blog, a transcript) does not repeat itself either.
    count = size // (len(PARAGRAPH) + 12)
    paragraphs = "".join(
        PARAGRAPH.replace("on Tuesday", f"on Tuesday (update {n})") for n in range(count)
    )
    return (
        "<!doctype html><html><head><title>Council budget vote</title></head><body>"
        f"<article><h1>Council budget vote</h1>{paragraphs}</article></body></html>"
    ).encode()


def _rss(items: list[str]) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        "<title>Harbour wire</title><link>http://127.0.0.1/</link>"
        "<description>bench</description>" + "".join(items) + "</channel></rss>"
    ).encode()


# --------------------------------------------------------------------- the server


def serve() -> None:
    """The feed server (own process): prints its port, serves until stdin closes."""
    cache: dict[str, bytes] = {}
    page = article_page()
    polls: dict[str, int] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            port = self.server.server_address[1]
            path = self.path
            if path.startswith("/large/"):
                n = int(path.rsplit("/", 1)[1])
                body = cache.setdefault(path, large_feed(n).replace(b"{port}", str(port).encode()))
            elif path.startswith("/small/"):
                n = int(path.rsplit("/", 1)[1])
                body = cache.setdefault(path, many_small_feed(n))
            elif path == "/many":
                body = cache.setdefault(path, many_items_feed())
            elif path == "/churn":
                polls[path] = polls.get(path, -1) + 1
                body = churn_feed(polls[path]).replace(b"{port}", str(port).encode())
            elif path.startswith("/page/"):
                body = page
            else:
                body = b"<html><body><p>Not here.</p></body></html>"
            kind = "text/html" if path.startswith(("/page/", "/news/")) else "application/rss+xml"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    import threading

    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()
    server.shutdown()


# ------------------------------------------------------------------- a scenario


def _head_condenser() -> object:
    """The extractive condenser on the first 20,000 characters of each source: what is
    measured here is memory and storage, and before issue 12 the sentence splitter took
    hours on a 4.5 MB text (that is bench/ and tests of the text module's business)."""
    from bot.condense import ExtractiveCondenser

    class HeadCondenser(ExtractiveCondenser):
        def condense(self, briefing_id, material, now):  # type: ignore[no-untyped-def]
            heads = [m.model_copy(update={"text": m.text[:20_000]}) for m in material]
            return super().condense(briefing_id, heads, now)

    return HeadCondenser()


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


async def scenario(name: str, port: int) -> dict[str, object]:
    from adapters.testing import RecordingPublisher
    from bot.engine import Engine
    from bot.fetch import Fetcher
    from bot.settings import load_settings
    from storage import SqliteStore
    from storage.database import StoreRunner

    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        settings = load_settings(
            database=str(db),
            allow_private_networks=True,
            max_response_bytes=6_000_000,
            fetch_timeout=120.0,
            fetch_pages=name == "churn",
            first_poll_limit=10 if name == "churn" else 3,
        )
        store = SqliteStore.open(db)
        engine = Engine(
            settings,
            store,
            fetcher=Fetcher(settings),
            publishers={"console": RecordingPublisher()},
            condenser=_head_condenser(),
            runner=StoreRunner(store),
        )
        urls = {
            "six_large": [f"{base}/large/{n}" for n in range(6)],
            "six_many": [f"{base}/small/{n}" for n in range(6)],
            "many_items": [f"{base}/many"],
            "churn": [f"{base}/churn"],
        }[name]
        for url in urls:
            await engine.add_feed("console:bench", url)
        before = rss_mb()
        started = time.perf_counter()
        out: dict[str, object] = {"scenario": name}
        if name == "churn":
            sizes = []
            for _ in range(4):
                store.db.execute("UPDATE feeds SET next_poll_at = '2000-01-01T00:00:00+00:00'")
                await engine.poll_once()
                store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                sizes.append(db.stat().st_size)
            growth = [(b - a) / 1e6 for a, b in itertools.pairwise(sizes)]
            out["db_mb_per_poll"] = round(sum(growth) / len(growth), 2)
            out["entries"] = store.db.execute("SELECT count(*) FROM entries").fetchone()[0]
        else:
            report = await engine.poll_once()
            out["feeds_polled"] = report.feeds_polled
            out["entries"] = store.db.execute("SELECT count(*) FROM entries").fetchone()[0]
            out["errors"] = report.errors[:3]
        out["seconds"] = round(time.perf_counter() - started, 1)
        out["rss_before_mb"] = round(before)
        out["peak_rss_mb"] = round(peak_mb())
        out["peak_added_mb"] = round(peak_mb() - before)
        await engine.aclose()
        store.close()
    return out


def main(argv: list[str]) -> int:
    if argv[:1] == ["--serve"]:
        serve()
        return 0
    if argv[:1] == ["--scenario"]:
        result = asyncio.run(scenario(argv[1], int(argv[2])))
        print(json.dumps(result))
        return 0
    names = argv or ["six_large", "six_many", "many_items", "churn"]
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        for name in names:
            done = subprocess.run(
                [sys.executable, __file__, "--scenario", name, str(port)],
                capture_output=True,
                text=True,
                check=False,
            )
            line = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
            print(line, flush=True)
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
