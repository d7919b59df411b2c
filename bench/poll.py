"""Feed checks per second through the real poll path, against a naive baseline.

A local feed server (``bench/feedserver.py``, its own process, loopback only) serves N
distinct feed URLs over 50 loopback hosts: 85% answer 304 to their ETag, 14% send the
same body again without validators, 1% change on every request. The engine polls them
through the real path (``Engine.poll_forever``: leased batches, worker pool, aiohttp
pool, conditional GET, hash skip, batched store writes, SqliteStore on a temp file),
with every feed primed (steady state) and due at the start, for a fixed time or until
each feed was checked once. That is capacity: at a 2-minute refresh 75,000 feeds need
625 checks a second.

Reported: checks/s, CPU per check (process CPU time / checks, all threads), peak RSS
(``ru_maxrss``), then the baseline in the same process: ``feedparser.parse(url)`` one
feed at a time (no validators, a parse every time) for a short fixed time.

While the engine polls, a probe sends a slash command through the real command
handler every 100 ms (``/brief topics``, ``search``, ``more``, ``related`` in turn) and
reports their latency: commands share the event loop and the store's one thread with
the poll's writes, so this is what a user waits under load. The poll here runs flat
out (every feed due at once, the loop saturated), so it is the worst case; at a fleet's
steady rate the loop has time to spare.

Each size runs in a fresh child process so peak RSS is that size's own.

    python bench/poll.py                       # 10,000 and 75,000 feeds, ~3 minutes
    python bench/poll.py --feeds 2000 --seconds 10 --baseline-seconds 3   # quick
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from feedserver import FeedServer, body_hash, etag_of, kind_of  # noqa: E402

CHANNEL = "console:bench"
TARGET = 625.0  # 75,000 feeds / 120 s


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _populate(store: object, server: FeedServer, n: int, changing: int) -> None:
    """N primed feeds, all due now, one channel following all of them. Written with
    executemany in one transaction: the bench measures polling, not 75,000 inserts."""
    conn = store.db.conn  # type: ignore[attr-defined]
    now = datetime.now(UTC).isoformat(timespec="microseconds")
    with conn:
        conn.execute("INSERT INTO channels (id, created_at) VALUES (?, ?)", [CHANNEL, now])
        conn.executemany(
            "INSERT INTO feeds (id, url, etag, content_hash, interval_seconds, next_poll_at, "
            "primed, created_at) VALUES (?, ?, ?, ?, 120, ?, 1, ?)",
            (
                (
                    i + 1,
                    server.url(i),
                    etag_of(i) if kind_of(i, changing) == "etag" else None,
                    body_hash(i),
                    now,
                    now,
                )
                for i in range(n)
            ),
        )
        conn.executemany(
            "INSERT INTO subscriptions (channel_id, feed_id, created_at) VALUES (?, ?, ?)",
            ((CHANNEL, i + 1, now) for i in range(n)),
        )
        # Steady state: a changing feed's current items are known, so each change
        # brings one new entry, not a first-contact backlog of ten.
        conn.executemany(
            "INSERT INTO entries (feed_id, key, title, fetched_at) VALUES (?, ?, '', ?)",
            (
                (i + 1, f"guid:f{i}-s{item}", now)
                for i in range(n)
                if kind_of(i, changing) == "changing"
                for item in range(1, 11)
            ),
        )


async def _engine_phase(args: argparse.Namespace, server: FeedServer) -> dict[str, float]:
    from adapters.testing import RecordingPublisher
    from bot.engine import Engine, PollReport
    from bot.fetch import Fetcher
    from bot.settings import load_settings
    from storage import SqliteStore
    from storage.database import StoreRunner

    settings = load_settings(
        _env_file=None,
        allow_private_networks=True,  # the bench server is on loopback
        concurrency=args.concurrency,
        per_host_concurrency=args.per_host,
        poll_interval=120,
        fetch_pages=False,  # no article pages here: bench/ingest.py measures extraction
        log_level="WARNING",
    )
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore.open(Path(tmp) / "poll.db")
        _populate(store, server, args.one, args.changing)
        engine = Engine(
            settings,
            store,
            fetcher=Fetcher(settings),
            publishers={"console": RecordingPublisher()},
            runner=StoreRunner(store),
        )
        report = PollReport()
        stop = asyncio.Event()
        latencies: list[float] = []
        cpu0, t0 = time.process_time(), time.monotonic()
        task = asyncio.create_task(engine.poll_forever(stop, report, tick=0.2))
        probe = asyncio.create_task(_probe_commands(engine, stop, latencies))
        deadline = t0 + args.seconds
        while time.monotonic() < deadline and report.feeds_polled < args.one:  # noqa: ASYNC110
            await asyncio.sleep(0.1)  # polling a counter: there is no event to wait on
        elapsed, cpu = time.monotonic() - t0, time.process_time() - cpu0
        stop.set()
        await task
        await probe
        await engine.aclose()
        store.close()
    checks = max(report.feeds_polled, 1)
    return {
        "checks": report.feeds_polled,
        "seconds": elapsed,
        "checks_per_s": report.feeds_polled / elapsed,
        "cpu_ms_per_check": 1000 * cpu / checks,
        "unchanged": report.not_modified,
        "failures": report.failures,
        "new_entries": report.new_entries,
        "peak_rss_mb": _peak_rss_mb(),
        "commands": len(latencies),
        "command_p50_ms": _percentile(latencies, 50),
        "command_p99_ms": _percentile(latencies, 99),
        "command_max_ms": max(latencies, default=float("nan")),
    }


async def _probe_commands(engine: object, stop: asyncio.Event, out: list[float]) -> None:
    """A slash command every 100 ms while the engine polls; their latencies in ms."""
    from bot.commands import Asker
    from bot.desk import commands_for

    handler = commands_for(engine)  # type: ignore[arg-type]
    asker = Asker(channel_id=CHANNEL, user_id="bench", is_admin=False)
    texts = ["topics", "search harbour strike", "more abcd1234", "related abcd1234"]
    n = 0
    while not stop.is_set():
        t0 = time.perf_counter()
        await handler.handle(texts[n % len(texts)], asker)
        out.append(1000 * (time.perf_counter() - t0))
        n += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def _baseline_phase(args: argparse.Namespace, server: FeedServer) -> dict[str, float]:
    import feedparser

    checks = 0
    cpu0, t0 = time.process_time(), time.monotonic()
    while time.monotonic() - t0 < args.baseline_seconds:
        parsed = feedparser.parse(server.url(checks % args.one))
        if parsed.get("bozo") and not parsed.entries:
            raise RuntimeError(f"baseline fetch failed: {parsed.get('bozo_exception')}")
        checks += 1
    elapsed, cpu = time.monotonic() - t0, time.process_time() - cpu0
    return {
        "checks": checks,
        "checks_per_s": checks / elapsed,
        "cpu_ms_per_check": 1000 * cpu / max(checks, 1),
    }


def _child(args: argparse.Namespace) -> int:
    server = FeedServer(hosts=args.hosts, port=args.port, changing_per_mille=args.changing)
    engine = asyncio.run(_engine_phase(args, server))
    baseline = _baseline_phase(args, server)
    print(json.dumps({"engine": engine, "baseline": baseline}))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", default="10000,75000", help="comma-separated sizes")
    parser.add_argument("--seconds", type=float, default=60.0, help="engine time per size")
    parser.add_argument("--baseline-seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=200, help="workers and fetches")
    parser.add_argument("--per-host", type=int, default=8, help="fetches per host at once")
    parser.add_argument("--hosts", type=int, default=50, help="loopback hosts serving feeds")
    parser.add_argument("--changing", type=int, default=10, help="changing feeds per 1000")
    parser.add_argument("--port", type=int, default=18_765)
    parser.add_argument("--one", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        return _child(args)

    sizes = [int(s) for s in args.feeds.split(",") if s.strip()]
    print(
        f"poll: {args.hosts} loopback hosts, concurrency {args.concurrency}, "
        f"per host {args.per_host}; mix 85% 304 / {14 - 0:d}% unchanged 200 / "
        f"{args.changing / 10:g}% changed; Python {sys.version.split()[0]}"
    )
    print(
        f"{'feeds':>7} {'checks/s':>9} {'CPU ms/chk':>11} {'peak RSS':>9} "
        f"{'base/s':>7} {'base CPU':>9} {'ratio':>6}  target {TARGET:.0f}/s, < 300 MB"
    )
    lifetime = (args.seconds + args.baseline_seconds + 120) * len(sizes)
    with FeedServer(
        hosts=args.hosts, port=args.port, changing_per_mille=args.changing, lifetime=lifetime
    ):
        for n in sizes:
            child = [
                sys.executable,
                __file__,
                "--one",
                str(n),
                *("--seconds", str(args.seconds)),
                *("--baseline-seconds", str(args.baseline_seconds)),
                *("--concurrency", str(args.concurrency)),
                *("--per-host", str(args.per_host)),
                *("--hosts", str(args.hosts)),
                *("--changing", str(args.changing)),
                *("--port", str(args.port)),
            ]
            out = subprocess.run(
                child, capture_output=True, text=True, timeout=lifetime, check=False
            )
            if out.returncode != 0:
                print(out.stderr, file=sys.stderr)
                return 1
            result = json.loads(out.stdout.strip().splitlines()[-1])
            e, b = result["engine"], result["baseline"]
            print(
                f"{n:>7,} {e['checks_per_s']:>9.0f} {e['cpu_ms_per_check']:>11.3f} "
                f"{e['peak_rss_mb']:>6.0f} MB {b['checks_per_s']:>7.0f} "
                f"{b['cpu_ms_per_check']:>7.2f}ms {e['checks_per_s'] / b['checks_per_s']:>5.1f}x"
                f"  ({e['checks']:,} checks in {e['seconds']:.0f}s, {e['unchanged']:,} "
                f"unchanged, {e['new_entries']:,} new entries, {e['failures']:,} failures)"
            )
            print(
                f"{'':>7} commands while polling: {e['commands']} answered, p50 "
                f"{e['command_p50_ms']:.1f} ms, p99 {e['command_p99_ms']:.1f} ms, "
                f"max {e['command_max_ms']:.1f} ms"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
