"""The realistic fleet of ``bench/poll.py``: feeds shaped like the ones a desk follows.

The kind preset (``feedserver.kind_of``) serves 4 kB feeds that mostly answer 304 at
once. Real feeds are larger and slower: 10-100 items, bodies of 5-200 kB, a round trip
of a few hundred milliseconds, a few servers that accept the connection and never
answer, some 404s and 500s. ``Mix`` describes such a fleet; every feed's shape follows
from its number alone (deterministic), so the bench can prime its database with the
validators and items the server will serve, and the server (its own process) can serve
them without being told more than the mix.

Kinds, in thousandths of the fleet (``Mix`` defaults; all configurable):

- ``etag`` (700): answers 304 to its ETag;
- ``static`` (200): no validators, the same body every time (the hash skip's case);
- ``changing`` (50): no validators, 1-3 new items every ``change_every``-th request;
- ``hanging`` (20): accepts the request and never answers;
- ``missing`` (15): 404; ``broken`` (15): 500.

Items are dated from ``base`` (the bench's start), so they fall inside the cluster's
72-hour window and are clustered as new stories are.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

KINDS = ("etag", "static", "changing", "hanging", "missing", "broken")

# Wire-style headlines and paragraphs; a feed's items cycle through them with a place,
# so the clusterer sees many distinct stories, not one repeated headline.
_PLACES = (
    "Rotterdam", "Lagos", "Manila", "Valparaiso", "Gdansk", "Mombasa", "Halifax", "Busan",
    "Antwerp", "Karachi", "Santos", "Aarhus", "Durban", "Tacoma", "Chittagong", "Genoa",
)  # fmt: skip
_HEADLINES = (
    "dock workers walk out over pay as talks with port operator stall",
    "council approves harbour expansion after late-night session",
    "floods close main highway, thousands without power",
    "central bank holds rates, signals cuts could come next year",
    "hospital staff begin 48-hour strike over staffing levels",
    "police arrest three after warehouse fire in industrial district",
    "ferry operator suspends crossings as storm approaches coast",
    "city unveils plan to replace ageing water mains by 2030",
    "court blocks sale of state airline pending review",
    "teachers union accepts revised contract offer",
    "fuel prices climb for third week as refinery stays offline",
    "mayor names new transport chief after months-long search",
)
_PARAGRAPHS = (
    "Union officials said the walkout would continue until the operator returned to the "
    "table with an offer that kept pace with inflation, which has eroded wages for two "
    "years.",
    "A spokesperson for the city said the decision followed months of consultation with "
    "residents and businesses, and that work could begin as early as the spring.",
    "Emergency services said they had received hundreds of calls overnight, most of them "
    "from households in low-lying areas near the river.",
    "Analysts had widely expected the decision, though several noted that the statement "
    "accompanying it was more cautious than in previous months.",
    "The ministry did not respond to a request for comment. Opposition lawmakers called "
    "for an inquiry into how the contract had been awarded.",
    "Officials said it was too early to estimate the cost of the damage, but that "
    "insurers had already begun to assess claims from affected businesses.",
)


@dataclass(frozen=True)
class Mix:
    etag: int = 700
    static: int = 200
    changing: int = 50
    hanging: int = 20
    missing: int = 15
    broken: int = 15
    min_items: int = 10
    max_items: int = 100
    min_kb: float = 5.0
    max_kb: float = 200.0
    min_new: int = 1
    max_new: int = 3
    change_every: int = 1
    rtt_ms: float = 0.0  # median delay before the server answers
    rtt_sigma: float = 0.5  # spread of the log-normal delay
    base: float = 0.0  # epoch seconds items are dated from

    def __post_init__(self) -> None:
        if sum(self.shares()) != 1000:
            raise ValueError(f"the mix's shares must add up to 1000, not {sum(self.shares())}")

    def shares(self) -> list[int]:
        return [getattr(self, kind) for kind in KINDS]

    def dumps(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def loads(cls, text: str) -> Mix:
        return cls(**json.loads(text))

    def kind(self, i: int) -> str:
        slot = (i * 7919) % 1000
        for kind, share in zip(KINDS, self.shares(), strict=True):
            if slot < share:
                return kind
            slot -= share
        return KINDS[-1]

    def items(self, i: int) -> int:
        return self.min_items + (i * 2654435761 >> 7) % (self.max_items - self.min_items + 1)

    def size(self, i: int) -> int:
        """The feed's target body size in bytes: log-uniform between the bounds."""
        u = ((i * 40503) % 1009) / 1008
        return int(1024 * self.min_kb * (self.max_kb / self.min_kb) ** u)

    def new_per_change(self, i: int) -> int:
        return self.min_new + i % (self.max_new - self.min_new + 1)

    def top(self, i: int, version: int) -> int:
        """The number of the newest item at ``version`` (items are numbered from 1)."""
        return self.items(i) + version * self.new_per_change(i)

    def keys(self, i: int) -> list[str]:
        """Entry keys of the items served before any change (the primed state)."""
        return [f"guid:f{i}-s{n}" for n in range(1, self.items(i) + 1)]

    def etag_of(self, i: int) -> str:
        return f'"r{i}-v0"'

    def body(self, i: int, version: int = 0) -> bytes:
        count, top = self.items(i), self.top(i, version)
        per_item = max(120, self.size(i) // count - 420)
        out = []
        for n in range(top, top - count, -1):
            place = _PLACES[(i + n) % len(_PLACES)]
            headline = _HEADLINES[(i * 31 + n) % len(_HEADLINES)]
            text, k = [], n
            while sum(map(len, text)) < per_item:
                text.append(_PARAGRAPHS[k % len(_PARAGRAPHS)])
                k += 1
            when = datetime.fromtimestamp(self.base + (n - count) * 300, UTC)
            out.append(
                f"<item><title>{place}: {headline.capitalize()}</title>"
                f"<link>https://news{i % 500}.example/{i}/{n}</link>"
                f"<guid isPermaLink='false'>f{i}-s{n}</guid>"
                f"<pubDate>{format_datetime(when, usegmt=True)}</pubDate>"
                f"<description>{' '.join(text)[:per_item]}</description></item>"
            )
        return (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Desk feed {i}</title><link>https://news{i % 500}.example/</link>"
            f"<description>Feed {i}</description>{''.join(out)}</channel></rss>"
        ).encode()

    def body_hash(self, i: int) -> str:
        return hashlib.sha256(self.body(i)).hexdigest()

    def delay(self, rng: random.Random) -> float:
        """Seconds before an answer: log-normal around the median round trip."""
        if self.rtt_ms <= 0:
            return 0.0
        return self.rtt_ms / 1000 * math.exp(self.rtt_sigma * rng.gauss(0.0, 1.0))


# ------------------------------------------------------------------ the fleet bench
#
#     python bench/fleet.py                      # 1, 2 and 4 processes on PostgreSQL
#     python bench/fleet.py --feeds 3000 --seconds 15 --processes 1,2   # quick
#
# Several ``signaldesk run`` processes on one PostgreSQL database (a throwaway server
# started from Debian's packages, as the tests do) poll one fleet of the realistic mix
# from the local feed server (``bench/feedserver.py``, its own process) for a fixed
# time, all at once, every feed due at the start (capacity, flat out); one SQLite
# process on the same fleet is the reference. Each process is the real engine loop
# (``Engine.run``: polling, the fleet's roles, briefing, delivery to a console
# channel). Reported per run: feed checks/s and new entries/s summed over the
# processes, briefings made/s (counted in the database), CPU per check, the processes'
# peak RSS, and the ratio to one process on PostgreSQL.


_LOG = None if os.environ.get("FLEET_LOGS") else subprocess.DEVNULL


def _fleet_child(args: object) -> int:
    """One process of the fleet: the engine loop from ``args.go`` for ``args.seconds``."""
    import asyncio
    import time

    from procstats import peak_rss_mb

    from adapters.testing import RecordingPublisher
    from bot.engine import Engine, PollReport
    from bot.fetch import Fetcher
    from bot.settings import load_settings
    from storage import SqliteStore
    from storage.database import StoreRunner

    settings = load_settings(
        _env_file=None,
        database=args.database,  # type: ignore[attr-defined]
        allow_private_networks=True,
        per_host_concurrency=args.per_host,  # type: ignore[attr-defined]
        poll_interval=600,
        fetch_pages=False,
        fetch_timeout=5.0,
        log_level="WARNING",
    )

    async def run() -> dict[str, float]:
        roles = None
        if settings.database.startswith("postgresql://"):
            from storage.postgres import PostgresStore
            from storage.postgres.roles import PgRoles

            store: object = PostgresStore.open(settings.database)
            roles = PgRoles(settings.database)
        else:
            store = SqliteStore.open(settings.database)
        engine = Engine(
            settings,
            store,  # type: ignore[arg-type]
            fetcher=Fetcher(settings),
            publishers={"console": RecordingPublisher()},
            runner=StoreRunner(store),  # type: ignore[arg-type]
            roles=roles,
        )
        await engine.warm_up()
        await asyncio.sleep(max(0.0, args.go - time.time()))  # type: ignore[attr-defined]
        report, stop = PollReport(), asyncio.Event()
        cpu0, t0 = time.process_time(), time.monotonic()
        loop = asyncio.create_task(engine.run(stop, tick=0.2, report=report))
        await asyncio.sleep(args.seconds)  # type: ignore[attr-defined]
        elapsed, cpu = time.monotonic() - t0, time.process_time() - cpu0
        stop.set()
        await loop
        await engine.aclose()
        return {
            "checks": report.feeds_polled,
            "new_entries": report.new_entries,
            "others_briefed": engine.ingest.others_briefed,
            "seconds": elapsed,
            "cpu": cpu,
            "peak_rss_mb": peak_rss_mb(),
        }

    print(json.dumps(asyncio.run(run())))
    return 0


def _fleet_run(
    args: object, database: str, processes: int, count: Callable[..., int]
) -> dict[str, float]:
    """``processes`` fleet processes on ``database`` at once; ``count(sql, *params)``
    reads the database afterwards (``?`` placeholders, datetimes for times)."""
    import subprocess
    import sys
    import time

    go = time.time() + 4.0 + processes  # start-up of every process first
    before = count("SELECT count(*) FROM briefings")
    command = [sys.executable, __file__, "--child", "--database", database, "--go", str(go)]
    command += ["--seconds", str(args.seconds), "--per-host", str(args.per_host)]  # type: ignore[attr-defined]
    children = [
        # Their logs (a line per failing feed of the mix) are not the bench's output.
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=_LOG, text=True)
        for _ in range(processes)
    ]
    results = []
    for child in children:
        out, _ = child.communicate(timeout=args.seconds + 120)  # type: ignore[attr-defined]
        if child.returncode != 0:
            raise RuntimeError(f"a fleet process failed ({child.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    seconds = max(r["seconds"] for r in results)
    started = sum(r["checks"] for r in results)
    # Checks finished (recorded: a 200, a 304, a failure), not only begun: a process
    # whose loop falls behind begins more than it finishes.
    since = datetime.fromtimestamp(go, UTC)
    checks = count(
        "SELECT count(*) FROM feeds WHERE last_success_at >= ? OR last_error_at >= ?",
        since,
        since,
    )
    return {
        "checks_per_s": checks / seconds,
        "started_per_s": started / seconds,
        "new_per_s": sum(r["new_entries"] for r in results) / seconds,
        "briefed_per_s": (count("SELECT count(*) FROM briefings") - before) / seconds,
        "placed_per_s": count("SELECT count(*) FROM entries WHERE story_id IS NOT NULL") / seconds,
        "cpu_ms_per_check": 1000 * sum(r["cpu"] for r in results) / max(checks, 1),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
    }


def main() -> int:
    import argparse
    import shutil
    import sys
    import tempfile
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root))
    parser = argparse.ArgumentParser(description="Feed checks/s of 1, 2, 4 processes.")
    parser.add_argument("--feeds", type=int, default=6000)
    parser.add_argument("--seconds", type=float, default=30.0, help="polling time per run")
    parser.add_argument("--processes", default="1,2,4", help="fleet sizes on PostgreSQL")
    parser.add_argument("--rtt-ms", type=float, default=100.0, help="median round trip")
    parser.add_argument("--per-host", type=int, default=8, help="fetches per host at once")
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--port", type=int, default=18_775)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--database", default="", help=argparse.SUPPRESS)
    parser.add_argument("--go", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _fleet_child(args)

    import psycopg
    import sqlite_utils
    from feedserver import FeedServer
    from poll import _populate_realistic

    from storage import SqliteStore
    from storage.postgres.copy import copy_sqlite
    from tests.support.postgres import start_server, stop_server

    mix = Mix(rtt_ms=args.rtt_ms, base=time.time())
    sizes = [int(s) for s in args.processes.split(",") if s.strip()]
    print(
        f"fleet: {args.feeds:,} feeds of the realistic mix ("
        + " / ".join(f"{k} {v / 10:g}%" for k, v in zip(KINDS, mix.shares(), strict=True))
        + f"), median RTT {args.rtt_ms:g} ms, {args.hosts} hosts, per host {args.per_host}, "
        f"all due at once, {args.seconds:g} s a run; {os.cpu_count()} cores"
    )
    print(
        f"{'backend':>10} {'procs':>5} {'checks/s':>9} {'ratio':>6} {'begun/s':>8} "
        f"{'new/s':>7} {'placed/s':>8} {'briefed/s':>9} {'CPU ms/chk':>10} {'peak RSS':>9}"
    )
    tmp = Path(tempfile.mkdtemp(prefix="signaldesk-fleet-"))
    pg_root = Path(tempfile.mkdtemp(prefix="signaldesk-pg-"))  # the server's user enters it
    server, stop = start_server(pg_root)
    lifetime = args.seconds + 300
    try:
        source = tmp / "fleet.db"
        store = SqliteStore.open(source)
        # Only the URLs are read from this server; each run gets a fresh one, so that
        # every run sees the fleet from the same point (a changing feed's version
        # follows the requests it has had).
        _populate_realistic(
            store, FeedServer(hosts=args.hosts, port=args.port), args.feeds, mix, 0.0
        )
        store.close()
        runs: list[tuple[str, int, str]] = [("SQLite", 1, "")]
        runs += [("PostgreSQL", n, f"f{n}") for n in sizes]
        one = None
        for backend, n, name in runs:
            if backend == "SQLite":
                database = str(tmp / "run.db")
                shutil.copy(source, database)

                def count(sql: str, *params: object, path: str = database) -> int:
                    shown = [p.isoformat() if isinstance(p, datetime) else p for p in params]
                    db = sqlite_utils.Database(path)
                    try:
                        return int(db.execute(sql, shown).fetchone()[0])
                    finally:
                        db.close()

            else:
                with psycopg.connect(server.dsn(), autocommit=True) as admin:
                    admin.execute(f'CREATE DATABASE "{name}"')
                database = server.dsn(name)
                copy_sqlite(source, database)

                def count(sql: str, *params: object, dsn: str = database) -> int:
                    with psycopg.connect(dsn) as conn:
                        row = conn.execute(sql.replace("?", "%s"), params).fetchone()  # type: ignore[arg-type]
                        return int(row[0]) if row else 0

            with FeedServer(hosts=args.hosts, port=args.port, lifetime=lifetime, mix=mix):
                r = _fleet_run(args, database, n, count)
            if backend == "PostgreSQL" and one is None:
                one = r["checks_per_s"]
            ratio = f"{r['checks_per_s'] / one:.2f}x" if backend == "PostgreSQL" and one else ""
            print(
                f"{backend:>10} {n:>5} {r['checks_per_s']:>9.0f} {ratio:>6} "
                f"{r['started_per_s']:>8.0f} {r['new_per_s']:>7.1f} {r['placed_per_s']:>8.1f} "
                f"{r['briefed_per_s']:>9.1f} "
                f"{r['cpu_ms_per_check']:>10.3f} {r['peak_rss_mb']:>6.0f} MB",
                flush=True,
            )
    finally:
        stop_server(pg_root, stop)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
