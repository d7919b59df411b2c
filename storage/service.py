"""The service's own state: its heartbeat, the counts ``/metrics`` shows, and the
read-only probe ``signaldesk healthcheck`` runs from another process."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from sqlite_utils import Database

from bot.models import ServiceBeat, StoreSnapshot

from .base import StoreBase, _dt, _explain, _ts
from .migrations import migrations


class ServiceMixin(StoreBase):
    """The ``service_heartbeat`` row and the work counted for metrics."""

    def record_heartbeat(
        self, at: datetime, *, pid: int, version: str, platforms: Mapping[str, str]
    ) -> None:
        with self._write() as db:
            db.execute(
                """INSERT INTO service_heartbeat (id, at, pid, version, platforms)
                   VALUES (1, ?, ?, ?, ?)
                   ON CONFLICT (id) DO UPDATE SET at = excluded.at, pid = excluded.pid,
                   version = excluded.version, platforms = excluded.platforms""",
                [_ts(at), pid, version, json.dumps(dict(platforms), sort_keys=True)],
            )

    def service_heartbeat(self) -> ServiceBeat | None:
        return _beat(self.db)

    def metrics_snapshot(self, now: datetime) -> StoreSnapshot:
        # Feeds some channel follows: a feed nobody follows (removed, or refused by
        # feed add) is never polled, so it would read as failing and overdue forever.
        followed = "id IN (SELECT feed_id FROM subscriptions)"
        feeds = {
            row["health"]: row["n"]
            for row in self._rows(
                """SELECT CASE WHEN consecutive_failures > 0 THEN 'failing'
                          WHEN last_success_at IS NULL THEN 'not fetched'
                          ELSE 'ok' END AS health, count(*) AS n
                   FROM feeds WHERE """
                + followed
                + " GROUP BY health"
            )
        }
        [overdue] = self._rows(
            f"SELECT min(next_poll_at) AS at FROM feeds WHERE next_poll_at <= ? AND {followed}",
            [_ts(now)],
        )
        oldest = _dt(overdue["at"])
        [entries] = self._rows(
            """SELECT coalesce(sum(pending = 1 AND failed_at IS NULL), 0) AS pending,
                      coalesce(sum(failed_at IS NOT NULL), 0) AS failed FROM entries"""
        )
        [usage] = self._rows(
            "SELECT coalesce(sum(prompt_tokens + completion_tokens), 0) AS n FROM llm_usage "
            "WHERE day = ?",
            [now.date().isoformat()],
        )
        return StoreSnapshot(
            feeds_by_health={k: feeds.get(k, 0) for k in ("ok", "failing", "not fetched")},
            poll_lag_seconds=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
            entries_pending=int(entries["pending"]),
            entries_failed=int(entries["failed"]),
            outbox_by_state=self._count_by("outbox", "state"),
            notices_by_state=self._count_by("notices", "state"),
            channels=int(self._rows("SELECT count(*) AS n FROM channels")[0]["n"]),
            llm_tokens_today=int(usage["n"]),
        )

    def _count_by(self, table: str, column: str) -> dict[str, int]:
        return {
            str(r["k"]): int(r["n"])
            for r in self._rows(f"SELECT {column} AS k, count(*) AS n FROM {table} GROUP BY k")
        }


class Probe:
    """What ``signaldesk healthcheck`` found in a database file, without changing it."""

    def __init__(self, problem: str | None, beat: ServiceBeat | None = None) -> None:
        self.problem = problem
        self.beat = beat


def probe_database(path: str | Path) -> Probe:
    """Open ``path`` read-only: it must exist, be a SQLite database, and carry every
    migration this version knows (a service that has not started since an upgrade has
    not migrated it yet). Nothing is created or written."""
    target = Path(path).expanduser()
    if not target.is_file():
        return Probe(f"database {target} does not exist (is SIGNALDESK_DATABASE right?)")
    try:
        conn = sqlite3.connect(f"{target.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    except sqlite3.DatabaseError as exc:
        return Probe(_explain(str(target), exc))
    try:
        db = Database(conn)
        pending = migrations.pending(db)
        if pending:
            return Probe(
                f"database {target} is not migrated to this version ({len(pending)} "
                f"migrations pending, first {pending[0].name}): start the service once"
            )
        return Probe(None, _beat(db))
    except sqlite3.DatabaseError as exc:
        return Probe(_explain(str(target), exc))
    finally:
        conn.close()


def _beat(db: Database) -> ServiceBeat | None:
    rows = list(db.query("SELECT at, pid, version, platforms FROM service_heartbeat"))
    if not rows:
        return None
    row = rows[0]
    at = _dt(row["at"])
    assert at is not None
    return ServiceBeat(
        at=at, pid=row["pid"], version=row["version"], platforms=json.loads(row["platforms"])
    )


__all__ = ["Probe", "ServiceMixin", "probe_database"]
