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
(``ru_maxrss``), the whole service's memory while polling (the PSS of this process,
the work pool's forkserver and its workers, summed), then the baseline in the same
process: ``feedparser.parse(url)`` one feed at a time (no validators, a parse every
time) for a short fixed time.

While the engine polls, a probe sends a slash command through the real command
handler every 100 ms (``/brief topics``, ``search``, ``more``, ``related`` in turn) and
reports their latency: commands share the event loop and the store's one thread with
the poll's writes, so this is what a user waits under load. The poll here runs flat
out (every feed due at once, the loop saturated), so it is the worst case; at a fleet's
steady rate the loop has time to spare.

Each size runs in a fresh child process so peak RSS is that size's own.

``--preset realistic`` serves the fleet of ``bench/fleet.py`` instead: 10-100 items and
5-200 kB a feed, 70% 304 / 20% unchanged / 5% changed (1-3 new items) / 2% hanging /
1.5% 404 / 1.5% 500, a log-normal round trip (``--rtt-ms``, median), items dated now so
they enter the cluster window; every part of the mix is an option. ``--rate R`` spreads
the feeds' due times so that R checks a second come due (a fleet's steady rate: 75,000
feeds every 10 minutes is 125/s, every 2 minutes 625/s) instead of all at once; the
commands' latency is then what a user waits at that rate. It also reports new entries
and briefings a second and the stories in the window at the end.

    python bench/poll.py                       # 10,000 and 75,000 feeds, ~3 minutes
    python bench/poll.py --feeds 2000 --seconds 10 --baseline-seconds 3   # quick
    python bench/poll.py --preset realistic --feeds 10000 --rtt-ms 300 --rate 625
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from feedserver import FeedServer, body_hash, etag_of, kind_of  # noqa: E402
from fleet import KINDS, Mix  # noqa: E402
from procstats import peak_rss_mb, tree_pss_mb, worker_usage  # noqa: E402

CHANNEL = "console:bench"
TARGET = 625.0  # 75,000 feeds / 120 s


def _due(i: int, rate: float, start: datetime) -> str:
    when = start if rate <= 0 else start + timedelta(seconds=i / rate)
    return when.isoformat(timespec="microseconds")


def _populate_realistic(
    store: object, server: FeedServer, n: int, mix: Mix, rate: float, *, primed: bool = True
) -> None:
    """N primed feeds of the realistic mix: validators and hashes as served, every
    changing feed's current items known (so a change brings only its new items). With
    ``primed=False``, N feeds just added (an OPML import): nothing known of them yet."""
    conn = store.db.conn  # type: ignore[attr-defined]
    start = datetime.now(UTC)
    now = start.isoformat(timespec="microseconds")
    interval = max(120, round(n / rate)) if rate > 0 else 120
    with conn:
        conn.execute("INSERT INTO channels (id, created_at) VALUES (?, ?)", [CHANNEL, now])
        conn.executemany(
            "INSERT INTO feeds (id, url, etag, content_hash, interval_seconds, next_poll_at, "
            "primed, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    i + 1,
                    server.url(i),
                    mix.etag_of(i) if primed and mix.kind(i) == "etag" else None,
                    mix.body_hash(i) if primed and mix.kind(i) == "static" else None,
                    interval,
                    _due(i, rate, start),
                    int(primed),
                    now,
                )
                for i in range(n)
            ),
        )
        conn.executemany(
            "INSERT INTO subscriptions (channel_id, feed_id, created_at) VALUES (?, ?, ?)",
            ((CHANNEL, i + 1, now) for i in range(n)),
        )
        conn.executemany(
            "INSERT INTO entries (feed_id, key, title, fetched_at) VALUES (?, ?, '', ?)",
            (
                (i + 1, key, now)
                for i in range(n)
                if primed and mix.kind(i) == "changing"
                for key in mix.keys(i)
            ),
        )


def _populate(store: object, server: FeedServer, n: int, changing: int, rate: float) -> None:
    """N primed feeds, all due now, one channel following all of them. Written with
    executemany in one transaction: the bench measures polling, not 75,000 inserts."""
    conn = store.db.conn  # type: ignore[attr-defined]
    start = datetime.now(UTC)
    now = start.isoformat(timespec="microseconds")
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
                    _due(i, rate, start),
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


def _due_from_now(store: object, n: int, rate: float) -> None:
    """Due times again from now: filling the database took seconds, and feeds that came
    due meanwhile would start the run with a backlog instead of the steady rate."""
    conn = store.db.conn  # type: ignore[attr-defined]
    start = datetime.now(UTC)
    with conn:
        conn.executemany(
            "UPDATE feeds SET next_poll_at = ? WHERE id = ?",
            ((_due(i, rate, start), i + 1) for i in range(n)),
        )


def _count(store: object, table: str) -> int:
    conn = store.db.conn  # type: ignore[attr-defined]
    return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


async def _engine_phase(
    args: argparse.Namespace, server: FeedServer, mix: Mix | None
) -> dict[str, float]:
    from adapters.testing import RecordingPublisher
    from bot.engine import Engine, PollReport
    from bot.fetch import Fetcher
    from bot.settings import load_settings
    from storage import SqliteStore
    from storage.database import StoreRunner

    tuned: dict[str, int] = {"concurrency": args.concurrency} if args.concurrency else {}
    if args.workers is not None:
        tuned["workers"] = args.workers
    settings = load_settings(
        _env_file=None,
        allow_private_networks=True,  # the bench server is on loopback
        per_host_concurrency=args.per_host,
        poll_interval=120,
        **tuned,
        fetch_pages=False,  # no article pages here: bench/ingest.py measures extraction
        log_level="WARNING",
    )
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore.open(Path(tmp) / "poll.db")
        if mix is None:
            _populate(store, server, args.one, args.changing, args.rate)
        else:
            _populate_realistic(store, server, args.one, mix, args.rate, primed=not args.first_poll)
        if args.rate > 0:
            _due_from_now(store, args.one, args.rate)
        briefings0 = _count(store, "briefings")
        rss_filled = peak_rss_mb()  # filling the database, before the engine starts
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
        await engine.start(stop)  # as the service does: warm up, resume stored work
        cpu0, t0 = time.process_time(), time.monotonic()
        task = asyncio.create_task(engine.poll_forever(stop, report, tick=0.2))
        probe = asyncio.create_task(_probe_commands(engine, stop, latencies))
        deadline = t0 + args.seconds
        service_pss, sampled = 0.0, 0.0
        while time.monotonic() < deadline and report.feeds_polled < args.one:
            await asyncio.sleep(0.1)  # polling a counter: there is no event to wait on
            if time.monotonic() - sampled >= 1.0:  # the whole service, once a second
                service_pss, sampled = max(service_pss, tree_pss_mb()), time.monotonic()
        elapsed, cpu = time.monotonic() - t0, time.process_time() - cpu0
        workers = engine.pool.pids() if engine.pool else []
        worker_cpu, worker_rss = worker_usage(workers)
        in_flight = engine.in_flight.limit if engine.in_flight else 0  # where it settled
        stop.set()
        await task
        await probe
        await engine.aclose()
        briefed = _count(store, "briefings") - briefings0
        backlog = _count(store, "entries WHERE pending = 1")  # stored, not briefed yet
        window = _count(store, "stories")
        store.close()
    checks = max(report.feeds_polled, 1)
    return {
        "checks": report.feeds_polled,
        "seconds": elapsed,
        "checks_per_s": report.feeds_polled / elapsed,
        "cpu_ms_per_check": 1000 * (cpu + worker_cpu) / checks,
        "loop_cpu_ms_per_check": 1000 * cpu / checks,
        "workers": len(workers),
        "worker_rss_mb": worker_rss,
        "unchanged": report.not_modified,
        "failures": report.failures,
        "new_entries": report.new_entries,
        "briefed_per_s": briefed / elapsed,
        "window_stories": window,
        "backlog": backlog,
        "concurrency": settings.concurrency,
        "in_flight": in_flight,
        "peak_rss_mb": peak_rss_mb(),
        "rss_filled_mb": rss_filled,
        "service_pss_mb": service_pss,
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


def _baseline_phase(
    args: argparse.Namespace, server: FeedServer, mix: Mix | None
) -> dict[str, float]:
    import feedparser

    # Only feeds that answer with a feed: feedparser has no timeout for a hanging one.
    answering = [
        i
        for i in range(min(args.one, 5000))
        if mix is None or mix.kind(i) in {"etag", "static", "changing"}
    ]
    checks = 0
    cpu0, t0 = time.process_time(), time.monotonic()
    while time.monotonic() - t0 < args.baseline_seconds:
        parsed = feedparser.parse(server.url(answering[checks % len(answering)]))
        if parsed.get("bozo") and not parsed.entries:
            raise RuntimeError(f"baseline fetch failed: {parsed.get('bozo_exception')}")
        checks += 1
    elapsed, cpu = time.monotonic() - t0, time.process_time() - cpu0
    return {
        "checks": checks,
        "checks_per_s": checks / elapsed,
        "cpu_ms_per_check": 1000 * cpu / max(checks, 1),
    }


def _mix(args: argparse.Namespace) -> Mix | None:
    if args.preset == "kind":
        return None
    fields: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in args.mix.split(","))):
        name, _, value = part.partition("=")
        fields[name.strip()] = int(value)
    lo, _, hi = args.items.partition("-")
    kb_lo, _, kb_hi = args.kb.partition("-")
    new_lo, _, new_hi = args.new.partition("-")
    return Mix(
        **fields,  # type: ignore[arg-type]
        min_items=int(lo),
        max_items=int(hi or lo),
        min_kb=float(kb_lo),
        max_kb=float(kb_hi or kb_lo),
        min_new=int(new_lo),
        max_new=int(new_hi or new_lo),
        change_every=args.change_every,
        rtt_ms=args.rtt_ms,
        base=args.base,
    )


def _child(args: argparse.Namespace) -> int:
    mix = _mix(args)
    server = FeedServer(hosts=args.hosts, port=args.port, changing_per_mille=args.changing, mix=mix)
    if args.profile:  # the event loop's thread only: where its CPU goes
        import cProfile

        with cProfile.Profile() as prof:
            engine = asyncio.run(_engine_phase(args, server, mix))
        prof.dump_stats(args.profile)
    else:
        engine = asyncio.run(_engine_phase(args, server, mix))
    baseline = _baseline_phase(args, server, mix)
    print(json.dumps({"engine": engine, "baseline": baseline}))
    return 0


def _peer_row(
    args: argparse.Namespace, n: int, mix: Mix | None, e: dict[str, float], lifetime: float
) -> None:
    """The reader library on the same server and feeds, in its own process."""
    feeds = min(n, args.peer_feeds)
    peer = [sys.executable, str(ROOT / "bench" / "poll_peer.py"), "--feeds", str(feeds)]
    peer += ["--seconds", str(args.seconds), "--workers", str(args.peer_workers)]
    peer += ["--hosts", str(args.hosts), "--port", str(args.port)]
    peer += ["--mix", mix.dumps() if mix else ""]
    out = subprocess.run(peer, capture_output=True, text=True, timeout=lifetime, check=False)
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        print(f"{'':>7} peer (reader) failed: {out.stderr.strip().splitlines()[-1:]}")
        return
    r = json.loads(lines[-1])
    if "error" in r:
        print(f"{'':>7} peer (reader): {r['error']}")
        return
    ours = 1000 / e["cpu_ms_per_check"]
    print(
        f"{'':>7} peer reader ({feeds:,} feeds, {args.peer_workers} threads): "
        f"{r['checks_per_s']:.0f} checks/s, {r['cpu_ms_per_check']:.2f} ms CPU/check, "
        f"{r['peak_rss_mb']:.0f} MB; checks per CPU-second ours {ours:.0f} vs "
        f"{r['checks_per_cpu_s']:.0f} ({ours / r['checks_per_cpu_s']:.1f}x); "
        f"its first contact {r['first_contact_seconds']:.0f}s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", default="10000,75000", help="comma-separated sizes")
    parser.add_argument("--seconds", type=float, default=60.0, help="engine time per size")
    parser.add_argument("--baseline-seconds", type=float, default=8.0)
    parser.add_argument(
        "--concurrency", type=int, default=0, help="workers and fetches (0: the default)"
    )
    parser.add_argument("--per-host", type=int, default=8, help="fetches per host at once")
    parser.add_argument("--hosts", type=int, default=50, help="loopback hosts serving feeds")
    parser.add_argument("--changing", type=int, default=10, help="changing feeds per 1000")
    parser.add_argument("--port", type=int, default=18_765)
    parser.add_argument("--preset", choices=("kind", "realistic"), default="kind")
    parser.add_argument(
        "--mix",
        default="",
        help="realistic shares per 1000, e.g. etag=700,static=200,changing=50,"
        "hanging=20,missing=15,broken=15",
    )
    parser.add_argument("--items", default="10-100", help="realistic items per feed")
    parser.add_argument("--kb", default="5-200", help="realistic body size range, kB")
    parser.add_argument("--new", default="1-3", help="new items per change")
    parser.add_argument("--change-every", type=int, default=1, help="requests per change")
    parser.add_argument("--rtt-ms", type=float, default=0.0, help="median round trip")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="checks/s coming due (0: all due at once)"
    )
    parser.add_argument(
        "--peer", action="store_true", help="also run the reader library (bench/poll_peer.py)"
    )
    parser.add_argument("--peer-feeds", type=int, default=3000, help="feeds the peer polls")
    parser.add_argument("--peer-workers", type=int, default=32, help="the peer's threads")
    parser.add_argument("--base", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument(
        "--workers", type=int, default=None, help="SIGNALDESK_WORKERS (default: the setting's)"
    )
    parser.add_argument(
        "--first-poll",
        action="store_true",
        help="realistic feeds just added (an OPML import): their first poll",
    )
    parser.add_argument("--profile", default="", help="cProfile stats of the engine to PATH")
    parser.add_argument("--one", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        return _child(args)
    args.base = time.time()
    mix = _mix(args)

    sizes = [int(s) for s in args.feeds.split(",") if s.strip()]
    if mix is None:
        shape = f"kind mix 85% 304 / 14% unchanged 200 / {args.changing / 10:g}% changed, 4 kB"
    else:
        shape = (
            "realistic mix "
            + " / ".join(f"{k} {v / 10:g}%" for k, v in zip(KINDS, mix.shares(), strict=True))
            + f", {args.items} items, {args.kb} kB, median RTT {args.rtt_ms:g} ms"
        )
    rate = f"{args.rate:g} checks/s due" if args.rate else "all due at once"
    print(
        f"poll: {args.hosts} loopback hosts, concurrency {args.concurrency or 'default'}, "
        f"per host {args.per_host}; {shape}; {rate}; Python {sys.version.split()[0]}"
    )
    print(
        f"{'feeds':>7} {'checks/s':>9} {'CPU ms/chk':>11} {'peak RSS':>9} "
        f"{'base/s':>7} {'base CPU':>9} {'ratio':>6}  target {TARGET:.0f}/s, < 300 MB"
    )
    lifetime = (args.seconds + args.baseline_seconds + 120) * len(sizes)
    with FeedServer(
        hosts=args.hosts,
        port=args.port,
        changing_per_mille=args.changing,
        lifetime=lifetime,
        mix=mix,
    ):
        for n in sizes:
            # The child reads the same options, and the same base time for item dates.
            child = [sys.executable, __file__, *sys.argv[1:], "--base", str(args.base)]
            child += ["--one", str(n)]
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
                f"{'':>7} {e['new_entries'] / e['seconds']:.1f} new entries/s, "
                f"{e['briefed_per_s']:.1f} briefings/s, "
                f"{e['window_stories']:,} stories in the window, "
                f"{e['backlog']:,} entries waiting to be briefed, "
                f"concurrency {e['concurrency']} (limit at the end {e['in_flight']}); "
                f"{e['workers']} worker processes "
                f"(peak {e['worker_rss_mb']:.0f} MB together), main process "
                f"{e['rss_filled_mb']:.0f} MB peak before polling; the whole service "
                f"(main, forkserver, workers) at most {e['service_pss_mb']:.0f} MB PSS "
                "while polling; "
                f"{e['loop_cpu_ms_per_check']:.3f} ms CPU/check"
            )
            print(
                f"{'':>7} commands while polling: {e['commands']} answered, p50 "
                f"{e['command_p50_ms']:.1f} ms, p99 {e['command_p99_ms']:.1f} ms, "
                f"max {e['command_max_ms']:.1f} ms"
            )
            if args.peer:
                _peer_row(args, n, mix, e, lifetime)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
