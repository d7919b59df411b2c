"""The service's own state on PostgreSQL: its heartbeat and the counts ``/metrics``
shows (the rules of ``storage/service.py``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

from bot.models import ServiceBeat, StoreSnapshot

from ..base import _dt
from .base import PgBase
from .feeds import _utc


class PgServiceMixin(PgBase):
    """The ``service_heartbeat`` row and the work counted for metrics."""

    def record_heartbeat(
        self, at: datetime, *, pid: int, version: str, platforms: Mapping[str, str]
    ) -> None:
        with self._write() as conn:
            conn.execute(
                """INSERT INTO service_heartbeat (id, at, pid, version, platforms)
                   VALUES (1, %s, %s, %s, %s)
                   ON CONFLICT (id) DO UPDATE SET at = excluded.at, pid = excluded.pid,
                   version = excluded.version, platforms = excluded.platforms""",
                [_utc(at), pid, version, json.dumps(dict(platforms), sort_keys=True)],
            )

    def service_heartbeat(self) -> ServiceBeat | None:
        row = self._row("SELECT at, pid, version, platforms FROM service_heartbeat")
        if row is None:
            return None
        at = _dt(row["at"])
        assert at is not None
        return ServiceBeat(
            at=at, pid=row["pid"], version=row["version"], platforms=json.loads(row["platforms"])
        )

    def metrics_snapshot(self, now: datetime) -> StoreSnapshot:
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
            f"SELECT min(next_poll_at) AS at FROM feeds WHERE next_poll_at <= %s AND {followed}",
            [_utc(now)],
        )
        oldest = _dt(overdue["at"])
        [entries] = self._rows(
            """SELECT count(*) FILTER (WHERE pending AND failed_at IS NULL) AS pending,
                      count(*) FILTER (WHERE failed_at IS NOT NULL) AS failed FROM entries"""
        )
        [usage] = self._rows(
            "SELECT coalesce(sum(prompt_tokens + completion_tokens), 0) AS n FROM llm_usage "
            "WHERE day = %s",
            [now.date().isoformat()],
        )
        return StoreSnapshot(
            feeds_by_health={k: feeds.get(k, 0) for k in ("ok", "failing", "not fetched")},
            poll_lag_seconds=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
            entries_pending=int(entries["pending"]),
            entries_failed=int(entries["failed"]),
            outbox_by_state=self._count_by("outbox"),
            notices_by_state=self._count_by("notices"),
            channels=int(self._rows("SELECT count(*) AS n FROM channels")[0]["n"]),
            llm_tokens_today=int(usage["n"]),
        )

    def _count_by(self, table: str) -> dict[str, int]:
        if table not in ("outbox", "notices"):
            raise ValueError(table)
        return {
            str(r["k"]): int(r["n"])
            for r in self._rows(f"SELECT state AS k, count(*) AS n FROM {table} GROUP BY state")
        }
