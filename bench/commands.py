"""Slash-command latency with a million briefings stored.

``/brief <topic>``, ``/brief search <words>``, ``/brief more <id>`` and
``/brief related <id>`` go through ``CommandHandler.handle`` (parse, the store's
thread, rendering into a ``Reply``) against a SQLite file of N synthetic briefings
(default 1,000,000: stories, entries, briefings and the FTS5 index, half of the feeds
followed by the asking channel, whose briefings are routed to it: a channel reads only
what was routed to it). Reported: p50/p99 latency per command and peak RSS;
then the same questions through the queries the store used before (bm25 over every
hit, a 200-hit pool sorted in Python, an ``IN`` over all of a channel's stories) as the
baseline, fewer times and bounded in time (for ``more`` the baseline is the bare
primary-key lookup, without the command around it).

The database is generated once (executemany in one transaction, a few minutes) into
``bench/results/`` (git-ignored) and reused while its size matches.

    python bench/commands.py                       # 1,000,000 briefings
    python bench/commands.py --briefings 50000 --runs 50   # quick
    python bench/commands.py --postgresql          # and the same on PostgreSQL

``--postgresql`` copies that database (``signaldesk migrate-to``'s copy) into a
throwaway PostgreSQL server (Debian's ``postgresql`` package and psycopg needed) and asks
the same questions there, printed beside SQLite's: search through the ``tsvector``/GIN
index, ranked by ``ts_rank``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.testing import RecordingPublisher  # noqa: E402
from bot.commands import Asker  # noqa: E402
from bot.desk import commands_for  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.fetch import Fetcher  # noqa: E402
from bot.query import Query  # noqa: E402
from bot.search import quoted_query, related_query  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from bot.topics import DEFAULT_TOPICS  # noqa: E402
from storage import SqliteStore  # noqa: E402
from storage.database import StoreRunner  # noqa: E402
from storage.textsearch import fts5_match  # noqa: E402

CHANNEL = "console:bench"
FEEDS = 200
END = datetime(2026, 11, 29, tzinfo=UTC)
TOPIC_WORDS = [
    "china", "chinese", "ai", "model", "chip", "semiconductor", "nvidia", "regulation",
    "court", "shares", "inflation", "central bank", "election", "storm", "flood",
    "climate", "battery", "strike", "port", "football", "satellite", "orbit",
]  # fmt: skip


def _vocabulary(rng: random.Random, size: int = 20_000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choices(letters, k=rng.randint(4, 10))) for _ in range(size)]


def _words(rng: random.Random, vocab: list[str], k: int) -> list[str]:
    # Zipf-like: a few words are very common, most are rare, as in news text.
    return [vocab[min(int(rng.paretovariate(1.1)) - 1, len(vocab) - 1)] for _ in range(k)]


def _sentence(rng: random.Random, vocab: list[str], k: int) -> str:
    words = _words(rng, vocab, k)
    if rng.random() < 0.3:
        words.insert(rng.randrange(len(words)), rng.choice(TOPIC_WORDS))
    return " ".join(words).capitalize() + "."


def generate(
    path: Path,
    n: int,
    seed: int = 7,
    *,
    sentence: Callable[[random.Random, int], str] | None = None,
    span: timedelta = timedelta(days=365),
    end: datetime = END,
) -> None:
    """Write ``n`` briefings (with their stories and entries) to a new database, dated
    over the ``span`` before ``end``; ``sentence(rng, words)`` writes their text
    (default: invented words drawn Zipf-like)."""
    rng = random.Random(seed)
    if sentence is None:
        vocab = _vocabulary(rng)

        def sentence(rng: random.Random, k: int) -> str:
            return _sentence(rng, vocab, k)

    store = SqliteStore.open(path)
    conn = store.db.conn
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -200000")
    start = end - span
    step = span / n
    now = end.isoformat()
    with conn:
        conn.execute("INSERT INTO channels (id, created_at) VALUES (?, ?)", [CHANNEL, now])
        conn.executemany(
            "INSERT INTO feeds (id, url, name, interval_seconds, next_poll_at, primed, "
            "created_at) VALUES (?, ?, ?, 900, ?, 1, ?)",
            [(f, f"https://feed{f}.example/rss", f"Outlet {f}", now, now) for f in range(1, 201)],
        )
        conn.executemany(
            "INSERT INTO subscriptions (channel_id, feed_id, created_at) VALUES (?, ?, ?)",
            [(CHANNEL, f, now) for f in range(1, FEEDS // 2 + 1)],
        )

        def rows() -> Any:
            for i in range(1, n + 1):
                created = (start + step * i).isoformat(timespec="seconds")
                # Like real ids (8 base32 characters), unique: a bijection on 40 bits.
                bid = base64.b32encode(((i * 0x9E3779B97F) % 2**40).to_bytes(5, "big"))
                bid = bid.decode().lower()
                headline = sentence(rng, 8)[:-1]
                lead = sentence(rng, 25)
                bullets = [sentence(rng, 18) for _ in range(3)]
                feed = rng.randint(1, FEEDS)
                source = {"publisher": f"Outlet {feed}", "title": headline, "url": None}
                data = {
                    "id": bid,
                    "story_id": i,
                    "headline": headline,
                    "lead": lead,
                    "bullets": [{"text": b, "source": 0, "sentence": b} for b in bullets],
                    "what_happened": bullets[0],
                    "sources": [source],
                    "created_at": created,
                    "updated_at": created,
                }
                yield i, bid, headline, created, feed, lead, bullets, json.dumps(data)

        batch: list[Any] = []
        for row in rows():
            batch.append(row)
            if len(batch) == 20_000:
                _write_batch(conn, batch)
                batch = []
        _write_batch(conn, batch)
    conn.execute("PRAGMA optimize")
    store.close()


def _write_batch(conn: Any, batch: list[Any]) -> None:
    conn.executemany(
        "INSERT INTO stories (id, briefing_id, title, published, first_seen, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(i, bid, h, c, c, c) for i, bid, h, c, *_ in batch],
    )
    conn.executemany(
        "INSERT INTO entries (id, feed_id, key, title, fetched_at, story_id) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(i, feed, f"k{i}", h, c, i) for i, bid, h, c, feed, *_ in batch],
    )
    conn.executemany(
        "INSERT INTO briefings (id, story_id, headline, lead, body, source_count, revision, "
        "created_at, updated_at, data) VALUES (?, ?, ?, ?, ?, 1, 1, ?, ?, ?)",
        [
            (bid, i, h, lead, "\n".join(bullets), c, c, data)
            for i, bid, h, c, _feed, lead, bullets, data in batch
        ],
    )
    # What the router records for the channel: the briefings of the feeds it follows.
    conn.executemany(
        "INSERT INTO briefing_routes (channel_id, briefing_rowid, created_at) VALUES (?, ?, ?)",
        [(CHANNEL, i, c) for i, _bid, _h, c, feed, *_ in batch if feed <= FEEDS // 2],
    )


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def _questions(store: SqliteStore, runs: int, seed: int = 11) -> dict[str, list[str]]:
    rng = random.Random(seed)
    count = store.db.execute("SELECT max(rowid) FROM briefings").fetchone()[0]
    ids = [
        store.db.execute(
            "SELECT id FROM briefings WHERE rowid = ?", [rng.randint(1, count)]
        ).fetchone()[0]
        for _ in range(runs)
    ]
    slugs = list(DEFAULT_TOPICS)
    vocab = [
        r[0]
        for r in store.db.execute(
            "SELECT headline FROM briefings WHERE rowid % 997 = 0 LIMIT 500"
        ).fetchall()
    ]
    searches = []
    for _ in range(runs):
        words = rng.choice(vocab).lower().split()
        searches.append(" ".join(rng.sample(words, k=min(len(words), rng.choice([1, 2, 2, 3])))))
    return {
        "topic": [slugs[k % len(slugs)] for k in range(runs)],
        "search": [f"search {s}" for s in searches],
        "more": [f"more {i}" for i in ids],
        "related": [f"related {i}" for i in ids],
    }


async def _measure(store: Any, questions: dict[str, list[str]]) -> dict[str, list[float]]:
    settings = load_settings(_env_file=None, log_level="WARNING")
    engine = Engine(
        settings,
        store,
        fetcher=Fetcher(settings),
        publishers={"console": RecordingPublisher()},
        runner=StoreRunner(store),
    )
    handler = commands_for(engine)
    asker = Asker(channel_id=CHANNEL, user_id="bench", is_admin=False)
    for kind in questions:  # warm the page cache and the statement cache
        await handler.handle(questions[kind][0], asker)
    times: dict[str, list[float]] = {}
    for kind, texts in questions.items():
        for text in texts:
            t0 = time.perf_counter()
            reply = await handler.handle(text, asker)
            times.setdefault(kind, []).append(1000 * (time.perf_counter() - t0))
            if reply.text.startswith("something went wrong"):
                raise RuntimeError(f"{text}: {reply.text}")
    await engine.fetcher.aclose()
    engine.db.close()
    return times


# The store's queries before this benchmark (kept here as the baseline).
_OLD_FILTER = """ AND b.story_id IN (SELECT e.story_id FROM entries e JOIN subscriptions s
                 ON s.feed_id = e.feed_id WHERE s.channel_id = ?)"""
_OLD_SEARCH = f"""SELECT b.data FROM briefings_fts JOIN briefings b
    ON b.rowid = briefings_fts.rowid WHERE briefings_fts MATCH ? {_OLD_FILTER}
    ORDER BY bm25(briefings_fts) LIMIT ?"""


def _baseline(
    store: SqliteStore, questions: dict[str, list[str]], runs: int, budget: float
) -> dict[str, list[float]]:
    from bot.models import Briefing

    def old_search(query: Query | str, limit: int) -> list[Briefing]:
        match = query if isinstance(query, str) else fts5_match(query)
        rows = store.db.execute(_OLD_SEARCH, [match, CHANNEL, limit]).fetchall()
        return [Briefing.model_validate_json(r[0]) for r in rows]

    times: dict[str, list[float]] = {}
    for kind, texts in questions.items():
        started = time.monotonic()
        for text in texts[:runs]:
            arg = text.split(" ", 1)[-1]
            t0 = time.perf_counter()
            if kind == "topic":
                hits = old_search(DEFAULT_TOPICS[arg].query, 200)
                sorted(hits, key=lambda b: b.created_at, reverse=True)[:3]
            elif kind == "search":
                query = quoted_query(arg)
                if query and not old_search(query, 50):
                    old_search(quoted_query(arg, any_word=True) or query, 50)
            else:
                row = store.db.execute("SELECT data FROM briefings WHERE id = ?", [arg]).fetchone()
                if kind == "related" and row:
                    query = related_query(Briefing.model_validate_json(row[0]))
                    if query:
                        old_search(query, 40)
            times.setdefault(kind, []).append(1000 * (time.perf_counter() - t0))
            if time.monotonic() - started > budget:
                break
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--briefings", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=300, help="questions per command")
    parser.add_argument("--baseline-runs", type=int, default=30)
    parser.add_argument("--baseline-seconds", type=float, default=20.0, help="per command")
    parser.add_argument("--db", default=str(ROOT / "bench" / "results"))
    parser.add_argument(
        "--postgresql", action="store_true", help="also on a throwaway PostgreSQL server"
    )
    args = parser.parse_args()

    # "-routed": databases generated before briefings were routed per channel (and
    # commands scoped by those routes) are not reused.
    path = Path(args.db) / f"commands-{args.briefings}-routed.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        t0 = time.monotonic()
        print(f"generating {args.briefings:,} briefings into {path} …", flush=True)
        partial = path.with_suffix(".partial")
        for stale in path.parent.glob(partial.name + "*"):
            stale.unlink()
        generate(partial, args.briefings)
        partial.rename(path)
        print(f"  done in {time.monotonic() - t0:.0f}s", flush=True)
    store = SqliteStore.open(path)  # also applies any newer migration (indexes)
    questions = _questions(store, args.runs)
    times = asyncio.run(_measure(store, questions))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    base = _baseline(store, questions, args.baseline_runs, args.baseline_seconds)
    store.close()
    version, pg_times = _on_postgresql(path, questions) if args.postgresql else ("", {})

    print(
        f"commands on {args.briefings:,} briefings, {args.runs} each; "
        f"Python {sys.version.split()[0]}; target p99 < 50 ms"
    )
    print(f"{'command':<9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}   {'base p50':>10}{'ratio':>10}")
    for kind, values in times.items():
        b = base.get(kind) or [float("nan")]
        print(
            f"{kind:<9}{_pct(values, 0.5):>9.1f}{_pct(values, 0.99):>9.1f}{max(values):>9.1f}"
            f"   {statistics.median(b):>10.1f}{statistics.median(b) / _pct(values, 0.5):>9.1f}x"
            f"  (baseline {len(b)} runs)"
        )
    print(f"peak RSS {rss:.0f} MB")
    if pg_times:
        print(f"the same on PostgreSQL {version}, beside SQLite:")
        head = f"{'command':<9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        print(f"{head}   {'SQLite p99':>10}{'ratio':>10}")
        for kind, values in pg_times.items():
            lite = _pct(times[kind], 0.99)
            print(
                f"{kind:<9}{_pct(values, 0.5):>9.1f}{_pct(values, 0.99):>9.1f}"
                f"{max(values):>9.1f}   {lite:>10.1f}{_pct(values, 0.99) / lite:>9.1f}x"
            )
    return 0


def _on_postgresql(
    path: Path, questions: dict[str, list[str]]
) -> tuple[str, dict[str, list[float]]]:
    """The same questions against a copy of ``path`` on a throwaway server."""
    import shutil
    import tempfile

    import psycopg

    from storage.postgres import PostgresStore
    from storage.postgres.copy import copy_sqlite
    from tests.support.postgres import start_server, stop_server

    root = Path(tempfile.mkdtemp(prefix="signaldesk-pg-"))
    server, stop = start_server(root)
    try:
        with psycopg.connect(server.dsn(), autocommit=True) as admin:
            admin.execute('CREATE DATABASE "commands"')
            version = str(admin.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
        dsn = server.dsn("commands")
        t0 = time.monotonic()
        print(f"copying {path.name} into PostgreSQL …", flush=True)
        copy_sqlite(path, dsn)
        print(f"  done in {time.monotonic() - t0:.0f}s", flush=True)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            n = conn.execute("SELECT count(*) FROM briefings").fetchone()[0]  # type: ignore[index]
            sizes = conn.execute(
                "SELECT relname, pg_total_relation_size(oid) FROM pg_class WHERE relname IN "
                "('briefings', 'stories', 'entries', 'briefing_routes') ORDER BY 2 DESC"
            ).fetchall()
            total = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
        print(
            f"  database {total / 2**20:,.0f} MB for {n:,} briefings ("
            + ", ".join(f"{name} {size / max(n, 1):,.0f} B" for name, size in sizes)
            + " per briefing, indexes included)",
            flush=True,
        )
        store = PostgresStore.open(dsn)
        return version, asyncio.run(_measure(store, questions))
    finally:
        stop_server(root, stop)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
