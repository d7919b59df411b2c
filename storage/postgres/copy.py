"""``copy_sqlite``: an existing SQLite database into a new PostgreSQL one
(``signaldesk migrate-to``), in one transaction — all of it or, on any failure,
nothing.

Rows keep their ids (a feed's number, an outbox row's order, a briefing's place in the
search index's recency order), the sequences continue after them, and each value takes
PostgreSQL's type (ISO text to ``timestamptz``, 0/1 to boolean). The source is only
read; it must be a SignalDesk database migrated to this version."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.errors import StorageError

from ..service import probe_database
from . import PostgresStore

# Parents before children. (table, its SQLite source expression for "seq"/renamed columns)
_TABLES = [
    "feeds",
    "channels",
    "subscriptions",
    "topics",
    "stories",
    "entries",
    "briefings",
    "briefing_routes",
    "outbox",
    "notices",
    "llm_usage",
    "service_heartbeat",
    "slack_installations",
    "slack_bots",
    "slack_oauth_states",
    "slack_channels",
]
_RENAMED = {("briefings", "seq"): "rowid", ("briefing_routes", "briefing_seq"): "briefing_rowid"}
_BATCH = 1000


def _convert(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "timestamp with time zone":
        return datetime.fromisoformat(value)
    if kind == "boolean":
        return bool(value)
    return value


def copy_sqlite(
    source: str | Path, dsn: str, progress: Callable[[str, int], None] | None = None
) -> dict[str, int]:
    """Copy every table (the Slack workspaces of OAuth mode too); returns rows copied
    per table."""
    path = Path(source).expanduser()
    probe = probe_database(path)
    if probe.problem:
        raise StorageError(probe.problem)
    lite = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    lite.row_factory = sqlite3.Row
    store = PostgresStore.open(dsn)  # creates the schema
    try:
        copied: dict[str, int] = {}
        with store._write() as conn:
            if conn.execute("SELECT 1 FROM feeds UNION ALL SELECT 1 FROM channels").fetchone():
                raise StorageError(
                    "the PostgreSQL database is not empty: migrate-to copies into a new, "
                    "empty database (createdb a fresh one)"
                )
            for table in _TABLES:
                kinds = {
                    r["column_name"]: r["data_type"]
                    for r in conn.execute(
                        "SELECT column_name, data_type, is_generated FROM "
                        "information_schema.columns WHERE table_name = %s "
                        "AND is_generated = 'NEVER'",
                        [table],
                    ).fetchall()
                }
                have = {r[1] for r in lite.execute(f"PRAGMA table_info({table})")}
                columns = [
                    c for c in kinds if c in have or _RENAMED.get((table, c)) in {"rowid", *have}
                ]
                sources = [_RENAMED.get((table, c), c) for c in columns]
                # A story may follow a later one: follows are set once all stories exist.
                later = "follows" if table == "stories" else None
                insert = (
                    f"INSERT INTO {table} ({', '.join(columns)}) "
                    f"VALUES ({', '.join(['%s'] * len(columns))})"
                )
                cursor = lite.execute(f"SELECT {', '.join(sources)} FROM {table} ORDER BY rowid")
                count = 0
                follows: list[tuple[int, int]] = []
                while rows := cursor.fetchmany(_BATCH):
                    batch = []
                    for row in rows:
                        values = [_convert(kinds[c], row[i]) for i, c in enumerate(columns)]
                        if later:
                            at = columns.index(later)
                            if values[at] is not None:
                                follows.append((values[at], values[columns.index("id")]))
                                values[at] = None
                        batch.append(values)
                    with conn.cursor() as cur:
                        cur.executemany(insert, batch)
                    count += len(batch)
                    if progress is not None:
                        progress(table, count)
                if follows:
                    with conn.cursor() as cur:
                        cur.executemany("UPDATE stories SET follows = %s WHERE id = %s", follows)
                serial = "seq" if table == "briefings" else "id"
                if serial in kinds and table not in ("channels", "service_heartbeat"):
                    conn.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', '{serial}'), "
                        f"coalesce((SELECT max({serial}) FROM {table}), 0) + 1, false)"
                    )
                copied[table] = count
        return copied
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"cannot read {path}: {exc}") from None
    finally:
        lite.close()
        store.close()


__all__ = ["copy_sqlite"]
