"""The fleet's roles (``bot.roles``) as PostgreSQL session-level advisory locks.

One connection per process, outside the pool, holds the locks of the roles this
process has. ``pg_try_advisory_lock`` never waits: a process asks again at its next
check. When the process dies its connection closes and the server releases its locks
at once, so another process takes the role within one check. While a role is held,
each check is a ``SELECT 1`` on that connection: if the connection is gone (the server
restarted, the network broke) the role is given up, since the server has released the
lock too, and it is asked for again on a new connection. TCP keepalives make a silent
network failure show within seconds.

Who holds a role, as the database sees it::

    SELECT a.application_name, l.objid FROM pg_locks l JOIN pg_stat_activity a USING (pid)
    WHERE l.locktype = 'advisory' AND l.classid = 21316  -- NAMESPACE; objid 1 brief, 2 deliver
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading

import psycopg

from bot.ports import FLEET_ROLES

from .base import explain

log = logging.getLogger("signaldesk.storage")

# The advisory lock space is shared with anything else on the database: a namespace
# of SignalDesk's own ("SD" in ASCII), then one key per role.
NAMESPACE = 0x5344
KEYS = {role: number for number, role in enumerate(FLEET_ROLES, start=1)}


class PgRoles:
    """``bot.ports.Roles`` on one dedicated connection (see the module's docstring)."""

    def __init__(self, dsn: str, *, connect_timeout: int = 5) -> None:
        self.dsn = dsn
        self.connect_timeout = connect_timeout
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._held: set[str] = set()
        self._lock = threading.Lock()  # one connection: one question at a time

    def _connection(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._conn is None or self._conn.closed:
            self._held.clear()  # a new session holds nothing
            self._conn = psycopg.connect(
                self.dsn,
                autocommit=True,
                connect_timeout=self.connect_timeout,
                # Which process holds what, for an operator (and the fleet kill test):
                # pg_locks joined with pg_stat_activity names the process id.
                application_name=f"signaldesk roles {os.getpid()}",
                keepalives=1,
                keepalives_idle=5,
                keepalives_interval=2,
                keepalives_count=3,
            )
        return self._conn

    def holds(self, role: str) -> bool:
        key = KEYS[role]
        with self._lock:
            try:
                conn = self._connection()
                if role in self._held:
                    conn.execute("SELECT 1")
                    return True
                row = conn.execute(
                    "SELECT pg_try_advisory_lock(%s, %s)", [NAMESPACE, key]
                ).fetchone()
            except psycopg.Error as exc:
                if self._held:
                    log.warning("lost the fleet's roles: %s", explain(self.dsn, exc))
                self._drop()
                return False
            if row is not None and row[0]:
                self._held.add(role)
                return True
            return False

    def fleet(self) -> int:
        """Processes with a roles connection to this database now (every process asks
        for its roles at each tick, so each live one has one)."""
        with self._lock:
            try:
                row = (
                    self._connection()
                    .execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND application_name LIKE 'signaldesk roles %'"
                    )
                    .fetchone()
                )
            except psycopg.Error:
                self._drop()
                return 1
        return max(1, int(str(row[0]))) if row else 1

    def _drop(self) -> None:
        self._held.clear()
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None

    def close(self) -> None:
        """Give up every role (another process takes them at its next check)."""
        with self._lock:
            self._drop()


__all__ = ["KEYS", "NAMESPACE", "PgRoles"]
