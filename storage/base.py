"""The store's shared ground: opening a migrated database, the connection and its
write transaction, and every row <-> model converter in one place.

One connection, one writer: the engine calls every method from a single thread
(``storage.database.StoreRunner``), so the connection is opened with
``check_same_thread=False`` and never shared concurrently. WAL mode lets readers (a
backup, ``sqlite3`` in a shell) look in while the service writes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from sqlite_utils import Database

from bot.errors import StorageError
from bot.models import (
    Article,
    Channel,
    Delivery,
    DeliveryMode,
    DeliveryState,
    Feed,
    Notice,
    StoredEntry,
    Story,
)

from .migrations import migrations


def _ts(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def open_database(path: str | Path, *, timeout: float = 10.0) -> Database:
    """Open (creating if needed) and migrate a database. Every failure becomes a
    ``StorageError`` with one line saying what is wrong with the file."""
    target = str(path)
    try:
        if target != ":memory:":
            parent = Path(target).expanduser().resolve().parent
            if not parent.is_dir():
                raise StorageError(
                    f"database folder {parent} does not exist: create it or set "
                    "SIGNALDESK_DATABASE to another path"
                )
        conn = sqlite3.connect(target, timeout=timeout, check_same_thread=False)
        db = Database(conn)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        if target != ":memory:":
            db.enable_wal()
        conn.execute("PRAGMA synchronous = NORMAL")
        migrations.apply(db)
        # A write probe: a file that another process holds locked, or that cannot be
        # written, fails here with one line at start rather than at the first write.
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return db
    except StorageError:
        raise
    except sqlite3.DatabaseError as exc:
        raise StorageError(_explain(target, exc)) from None
    except OSError as exc:
        raise StorageError(f"cannot open database {target}: {exc.strerror or exc}") from None


def _copy(
    source: sqlite3.Connection, target: Path, progress: Callable[[int, int], None] | None
) -> int:
    def step(status: int, remaining: int, total: int) -> None:
        if progress is not None:
            progress(total - remaining, total)

    dest = sqlite3.connect(str(target))
    try:
        with dest:
            source.backup(dest, pages=1024, progress=step)
    except sqlite3.DatabaseError as exc:
        dest.close()
        target.unlink(missing_ok=True)  # never leave half a copy that looks whole
        raise StorageError(_explain(str(target), exc)) from None
    finally:
        dest.close()
    return target.stat().st_size


def restore_database(
    backup: str | Path,
    target: str | Path,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Copy ``backup`` (a file ``SqliteStore.backup`` wrote) to ``target``, which must
    not exist yet — an existing database is never overwritten: move it aside first.
    The copy is then migrated, so a backup taken by an older version restores into this
    one. Returns the restored file's size in bytes."""
    source, dest = Path(backup).expanduser(), Path(target).expanduser()
    if not source.is_file():
        raise StorageError(f"backup {source} does not exist")
    if dest.exists():
        raise StorageError(
            f"database {dest} exists: move it aside (or set SIGNALDESK_DATABASE to a new "
            "path) before restoring, so that nothing in it is lost"
        )
    if not dest.parent.is_dir():
        raise StorageError(f"database folder {dest.parent} does not exist: create it first")
    try:
        conn = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
        try:
            applied = Database(conn)["_sqlite_migrations"].exists()
            conn.execute("PRAGMA schema_version").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StorageError(_explain(str(source), exc)) from None
    if not applied:
        raise StorageError(f"{source} is a SQLite file but not a SignalDesk database")
    conn = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    try:
        _copy(conn, dest, progress)
    finally:
        conn.close()
    open_database(dest).close()  # migrate to this version
    return dest.stat().st_size


def _explain(target: str, exc: sqlite3.DatabaseError) -> str:
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return (
            f"database {target} is locked by another process: stop the other "
            "signaldesk process or use another SIGNALDESK_DATABASE"
        )
    if "readonly" in text or "read-only" in text:
        return f"database {target} is read-only: fix its permissions or choose a writable path"
    if "full" in text:
        return (
            f"database {target} cannot grow: the disk is full; free space "
            "(a running service retries by itself)"
        )
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return (
            f"database {target} is not a readable SQLite database (corrupt?): restore "
            "it from a backup (signaldesk backup) or move it aside"
        )
    if "unable to open" in text:
        return f"cannot open database {target}: check the path and its permissions"
    return f"database {target} failed: {exc}"


class StoreBase:
    """The connection and the converters every domain's methods share."""

    def __init__(self, db: Database) -> None:
        self.db = db
        # FTS term -> (expires, whether it is common); see ``_is_common``.
        self._common: dict[str, tuple[float, bool]] = {}

    @classmethod
    def open(cls, path: str | Path) -> Self:
        return cls(open_database(path))

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def _write(self) -> Iterator[Database]:
        try:
            with self.db.atomic():
                yield self.db
        except sqlite3.DatabaseError as exc:
            raise StorageError(_explain("(open database)", exc)) from None

    @staticmethod
    def _q(sql: str) -> str:
        """A statement written with ``?`` placeholders, in this backend's style (SQL
        that both backends run alike is written once: ``storage/slack.py``)."""
        return sql

    def _rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        return list(self.db.query(sql, params))

    def _row(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> dict[str, Any] | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def _mark(
        self,
        table: str,  # "outbox" or "notices": the two queues share their state columns
        row_id: int,
        state: DeliveryState,
        message_ref: str | None,
        error: str | None,
        not_before: datetime | None,
        now: datetime,
    ) -> None:
        # "sending" is the attempt record, committed before the message is handed to the
        # platform: one more attempt, when it began, and when the first one did.
        sending = state == DeliveryState.SENDING
        attempt = ", attempts = attempts + 1, attempt_at = ?, " if sending else ""
        if sending:
            attempt += "first_attempt_at = coalesce(first_attempt_at, ?)"
        with self._write() as db:
            db.execute(
                f"""UPDATE {table} SET state = ?, message_ref = coalesce(?, message_ref),
                   last_error = ?, not_before = ?, updated_at = ?{attempt}
                   WHERE id = ?""",
                [
                    state.value,
                    message_ref,
                    error,
                    _ts(not_before),
                    _ts(now),
                    *((_ts(now), _ts(now)) if sending else ()),
                    row_id,
                ],
            )

    @staticmethod
    def _feed(row: dict[str, Any]) -> Feed:
        return Feed(
            id=row["id"],
            url=row["url"],
            name=row["name"],
            title=row["title"],
            etag=row["etag"],
            last_modified=row["last_modified"],
            content_hash=row["content_hash"],
            interval_seconds=row["interval_seconds"],
            next_poll_at=_dt(row["next_poll_at"]),
            primed=bool(row["primed"]),
            consecutive_failures=row["consecutive_failures"],
            last_error=row["last_error"],
            last_error_at=_dt(row["last_error_at"]),
            last_success_at=_dt(row["last_success_at"]),
            failing_since=_dt(row["failing_since"]),
            created_at=_dt(row["created_at"]),
            failure_notice_at=_dt(row.get("failure_notice_at")),
            failed_entries=row.get("failed_entries") or 0,
            ref=row.get("ref"),
        )

    @staticmethod
    def _entry(row: dict[str, Any]) -> StoredEntry:
        return StoredEntry(
            id=row["id"],
            feed_id=row["feed_id"],
            key=row["key"],
            title=row["title"],
            link=row["link"],
            summary=row["summary"],
            content=row["content"],
            author=row["author"],
            published=_dt(row["published"]),
            fetched_at=_dt(row["fetched_at"]),
            story_id=row["story_id"],
            origin=row["origin"],
        )

    @staticmethod
    def _article(row: dict[str, Any]) -> Article | None:
        """The article saved with an entry's row (``save_article``), if any."""
        if row["article_text"] is None:
            return None
        return Article(
            url=row["link"],
            title=row["article_title"] or "",
            text=row["article_text"],
            author=row["article_author"],
            published=_dt(row["published"]),
            from_page=bool(row["article_from_page"]),
        )

    @staticmethod
    def _story(row: dict[str, Any]) -> Story:
        return Story(
            id=row["id"],
            briefing_id=row["briefing_id"],
            title=row["title"],
            first_seen=_dt(row["first_seen"]),
            updated_at=_dt(row["updated_at"]),
            follows=row.get("follows"),
        )

    def _channel_filter(
        self, channel_id: str | None, rowid: str = "b.rowid"
    ) -> tuple[str, list[Any]]:
        if channel_id is None:
            return "", []
        # Only briefings routed to the channel (tenant isolation): one probe of the
        # routes' (channel_id, briefing_rowid) key per candidate row. Given the full-text
        # index's rowid, the probe needs no briefing row read (rows are large: a search
        # of a channel that has few of the matches reads many rows it then drops).
        return (
            f""" AND EXISTS (SELECT 1 FROM briefing_routes r
                 WHERE r.channel_id = ? AND r.briefing_rowid = {rowid})""",
            [channel_id],
        )

    @staticmethod
    def _channel(row: dict[str, Any]) -> Channel:
        return Channel(
            id=row["id"],
            mode=DeliveryMode(row["mode"]),
            digest_time=row["digest_time"],
            timezone=row["timezone"],
            include_words=json.loads(row["include_words"]),
            exclude_words=json.loads(row["exclude_words"]),
            last_digest_at=_dt(row["last_digest_at"]),
            created_at=_dt(row["created_at"]),
            paused_reason=row["paused_reason"],
            paused_at=_dt(row["paused_at"]),
        )

    @staticmethod
    def _delivery(row: dict[str, Any]) -> Delivery:
        return Delivery(
            id=row["id"],
            channel_id=row["channel_id"],
            briefing_id=row["briefing_id"],
            kind=row["kind"],
            revision=row["revision"],
            state=DeliveryState(row["state"]),
            attempts=row["attempts"],
            message_ref=row["message_ref"],
            last_error=row["last_error"],
            not_before=_dt(row["not_before"]),
            created_at=_dt(row["created_at"]),
            first_attempt_at=_dt(row.get("first_attempt_at")),
            attempt_at=_dt(row.get("attempt_at")),
            digest_key=row.get("digest_key"),
        )

    @staticmethod
    def _notice(row: dict[str, Any]) -> Notice:
        return Notice(
            id=row["id"],
            channel_id=row["channel_id"],
            feed_id=row["feed_id"],
            kind=row["kind"],
            text=row["text"],
            state=DeliveryState(row["state"]),
            attempts=row["attempts"],
            message_ref=row["message_ref"],
            last_error=row["last_error"],
            not_before=_dt(row["not_before"]),
            created_at=_dt(row["created_at"]),
            first_attempt_at=_dt(row.get("first_attempt_at")),
            attempt_at=_dt(row.get("attempt_at")),
        )

    def llm_usage(self, day: str) -> tuple[int, int]:
        """Implements ``bot.ports.UsageStore``: (prompt, completion) tokens of ``day``."""
        row = self._row(
            "SELECT prompt_tokens, completion_tokens FROM llm_usage WHERE day = ?", [day]
        )
        return (int(row["prompt_tokens"]), int(row["completion_tokens"])) if row else (0, 0)

    def add_llm_usage(
        self, day: str, prompt_tokens: int, completion_tokens: int, now: datetime
    ) -> None:
        """Implements ``bot.ports.UsageStore``: add one request's tokens to ``day``."""
        with self._write() as db:
            db.execute(
                """INSERT INTO llm_usage (day, prompt_tokens, completion_tokens, requests,
                   updated_at) VALUES (?, ?, ?, 1, ?)
                   ON CONFLICT (day) DO UPDATE SET
                   prompt_tokens = prompt_tokens + excluded.prompt_tokens,
                   completion_tokens = completion_tokens + excluded.completion_tokens,
                   requests = requests + 1, updated_at = excluded.updated_at""",
                [day, prompt_tokens, completion_tokens, _ts(now)],
            )

    def reserve_llm_tokens(
        self, day: str, tokens: int, limit: int, now: datetime, until: datetime
    ) -> int | None:
        """Implements ``bot.ports.UsageStore``: see there."""
        with self._write() as db:
            db.execute("DELETE FROM llm_reservations WHERE expires_at <= ?", [_ts(now)])
            row = self._row(
                """SELECT (SELECT coalesce(sum(prompt_tokens + completion_tokens), 0)
                       FROM llm_usage WHERE day = ?)
                   + (SELECT coalesce(sum(tokens), 0) FROM llm_reservations WHERE day = ?)
                   AS promised""",
                [day, day],
            )
            if row is None or int(row["promised"]) + tokens > limit:
                return None
            cursor = db.execute(
                "INSERT INTO llm_reservations (day, tokens, expires_at) VALUES (?, ?, ?)",
                [day, tokens, _ts(until)],
            )
            return int(cursor.lastrowid or 0)

    def release_llm_tokens(self, reservation: int) -> None:
        """Implements ``bot.ports.UsageStore``: see there."""
        with self._write() as db:
            db.execute("DELETE FROM llm_reservations WHERE id = ?", [reservation])

    def backup(self, target: str | Path, progress: Callable[[int, int], None] | None = None) -> int:
        """A consistent copy of the live database (SQLite's online backup API, a few
        megabytes at a time so that the service's writes go on meanwhile). Returns the
        copy's size in bytes."""
        return _copy(self.db.conn, Path(target), progress)
