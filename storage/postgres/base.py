"""The PostgreSQL store's shared ground: the connection pool, the write transaction
and the row shape the shared converters (``storage.base.StoreBase``) read.

Synchronous psycopg, like the ports: a process's calls run on its store threads
(``storage.database.StoreRunner``, ``calls_at_once`` of them: one per pooled
connection, since PostgreSQL, unlike SQLite, lets them write at once), so a process
needs few connections — the pool holds them, reconnects after the server restarts and
checks one that has been idle before it is used (``_IdleCheck``).
Several processes on one database are what PostgreSQL is here for: what one process
claims (a due feed) is taken with ``FOR UPDATE SKIP LOCKED`` in one transaction.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Self

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from bot.errors import StorageError

from ..base import StoreBase, _ts
from .migrations import apply


def is_postgres_url(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def _shown(dsn: str) -> str:
    """The URL without its password, for messages."""
    head, sep, tail = dsn.partition("@")
    if not sep or ":" not in head.split("//", 1)[-1]:
        return dsn
    scheme, _, user = head.partition("//")
    return f"{scheme}//{user.split(':', 1)[0]}:***@{tail}"


def explain(dsn: str, exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    where = _shown(dsn)
    if "password authentication failed" in text or "no password supplied" in text:
        return f"database {where}: the server refused the login: check the user and password"
    if "does not exist" in text and "database" in text:
        return f"database {where} does not exist: create it (createdb) or fix the URL"
    if "Connection refused" in text or "could not connect" in text or "timeout" in text.lower():
        return (
            f"cannot reach the PostgreSQL server of {where}: is it running and is the "
            "host/port right? (a running service retries by itself)"
        )
    return f"database {where} failed: {text}"


def _as_text(row: dict[str, Any]) -> dict[str, Any]:
    # The converters shared with SQLite read timestamps as ISO text and flags as 0/1.
    return {key: _ts(value) if isinstance(value, datetime) else value for key, value in row.items()}


class _IdleCheck:
    """The pool's check before a connection is handed out, only for a connection idle
    for ``IDLE`` seconds: a check is a round trip, and a busy store (a poll's dozens
    of calls a second) paid one per call — a third of its time in the briefing stage.
    A connection the server dropped while it was busy fails its next call once (a
    ``StorageError``, retried as a locked SQLite database is) and is replaced."""

    IDLE = 5.0

    def __init__(self) -> None:
        self._returned: weakref.WeakKeyDictionary[psycopg.Connection[DictRow], float] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()  # store threads and the pool's workers

    def check(self, conn: psycopg.Connection[DictRow]) -> None:
        with self._lock:
            returned = self._returned.get(conn, 0.0)
        if time.monotonic() - returned > self.IDLE:
            ConnectionPool.check_connection(conn)

    def reset(self, conn: psycopg.Connection[DictRow]) -> None:
        with self._lock:
            self._returned[conn] = time.monotonic()


class PgBase(StoreBase):
    """A pool of connections to one migrated database, in place of SQLite's one."""

    def __init__(self, pool: ConnectionPool[psycopg.Connection[DictRow]], dsn: str) -> None:
        self.pool = pool
        self.dsn = dsn
        self._common = {}
        # Calls run on several store threads at once (``calls_at_once``, one connection
        # each): the open transaction is each thread's own.
        self._local = threading.local()
        self.calls_at_once = pool.max_size

    @property
    def _tx(self) -> psycopg.Connection[DictRow] | None:
        return getattr(self._local, "tx", None)

    @_tx.setter
    def _tx(self, conn: psycopg.Connection[DictRow] | None) -> None:
        self._local.tx = conn

    @classmethod
    def open(cls, path: Any, *, size: int = 4, timeout: float = 10.0) -> Self:
        dsn = str(path)
        idle = _IdleCheck()
        try:
            with psycopg.connect(dsn, connect_timeout=int(timeout)) as conn:
                apply(conn)
            pool = ConnectionPool(
                dsn,
                connection_class=psycopg.Connection[DictRow],
                min_size=1,
                max_size=size,
                timeout=timeout,
                kwargs={"row_factory": dict_row, "autocommit": True},
                check=idle.check,
                reset=idle.reset,
                open=False,
            )
            pool.open(wait=True, timeout=timeout)
        except (psycopg.Error, PoolTimeout) as exc:
            raise StorageError(explain(dsn, exc)) from None
        return cls(pool, dsn)

    def close(self) -> None:
        self.pool.close()

    @staticmethod
    def _q(sql: str) -> str:
        return sql.replace("?", "%s")

    @contextmanager  # the connection, where SQLite's hands its Database
    def _write(self) -> Iterator[psycopg.Connection[DictRow]]:  # type: ignore[override]
        """One transaction; nested calls join the one already open."""
        if self._tx is not None:
            yield self._tx
            return
        try:
            with self.pool.connection() as conn, conn.transaction():
                self._tx = conn
                try:
                    yield conn
                finally:
                    self._tx = None
        except (psycopg.Error, PoolTimeout) as exc:
            raise StorageError(explain(self.dsn, exc)) from None

    def _rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        try:
            if self._tx is not None:
                return [_as_text(r) for r in self._tx.execute(sql, params).fetchall()]
            with self.pool.connection() as conn:
                return [_as_text(r) for r in conn.execute(sql, params).fetchall()]
        except (psycopg.Error, PoolTimeout) as exc:
            raise StorageError(explain(self.dsn, exc)) from None

    def _row(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> dict[str, Any] | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None


__all__ = ["PgBase", "explain", "is_postgres_url"]
