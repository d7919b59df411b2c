"""``SqliteStore``: the engine's state in one SQLite file, through sqlite-utils.

One connection, one writer: the engine calls every method from a single thread
(``bot.engine.StoreRunner``), so the connection is opened with
``check_same_thread=False`` and never shared concurrently. WAL mode lets readers (a
backup, ``sqlite3`` in a shell) look in while the service writes.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from bot.cluster import source_of
from bot.errors import QueryError, StorageError
from bot.models import (
    Article,
    Briefing,
    Channel,
    Delivery,
    DeliveryKind,
    DeliveryMode,
    DeliveryState,
    Feed,
    FeedEntry,
    FetchState,
    Notice,
    NoticeKind,
    StoredEntry,
    Story,
    StoryDoc,
    Topic,
    briefing_id_for,
)
from bot.ports import NoticeText
from bot.urls import canonical_link

from .migrations import migrations

# What one entry may store (h3): a 4.5 MB page re-issued under fresh GUIDs added 46 MB
# of database a poll. Article text and each of the feed's own text fields are cut (at a
# word) to these; a feed keeps the text of its newest KEEP_TEXT_PER_FEED entries and the
# rows of its newest KEEP_ROWS_PER_FEED (see ``trim_feed``).
MAX_ARTICLE_TEXT = 50_000
MAX_FEED_TEXT = 20_000
KEEP_TEXT_PER_FEED = 500
KEEP_ROWS_PER_FEED = 5_000

_QUOTED = re.compile(r'"(?:[^"]|"")+"')  # one FTS5 string literal, as bot.search.quote makes


def _ts(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _cap(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, at a word when there is one near the end."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ", limit - 200)
    return cut[:space] if space > 0 else cut


def _text_hash(entry: FeedEntry) -> str:
    """The entry's text, whitespace and case aside, as a hash: "the same item"."""
    text = "\n".join(" ".join(part.split()).casefold() for part in (entry.title, entry.text))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


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


class SqliteStore:
    """Implements ``bot.ports.Store``."""

    def __init__(self, db: Database) -> None:
        self.db = db
        # FTS term -> (expires, whether it is common); see ``_is_common``.
        self._common: dict[str, tuple[float, bool]] = {}

    @classmethod
    def open(cls, path: str | Path) -> SqliteStore:
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

    def _rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        return list(self.db.query(sql, params))

    def _row(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> dict[str, Any] | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    # ------------------------------------------------------------------ feeds

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

    def add_feed(
        self, url: str, *, name: str | None, now: datetime, interval_seconds: int = 900
    ) -> tuple[Feed, bool]:
        existing = self.feed_by_url(url)
        if existing:
            return existing, False
        with self._write() as db:
            db.execute(
                "INSERT INTO feeds (url, name, interval_seconds, next_poll_at, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [url, name, interval_seconds, _ts(now), _ts(now)],
            )
        feed = self.feed_by_url(url)
        assert feed is not None
        return feed, True

    def get_feed(self, feed_id: int) -> Feed | None:
        row = self._row("SELECT * FROM feeds WHERE id = ?", [feed_id])
        return self._feed(row) if row else None

    def feed_by_url(self, url: str) -> Feed | None:
        row = self._row("SELECT * FROM feeds WHERE url = ?", [url])
        return self._feed(row) if row else None

    def list_feeds(self) -> list[Feed]:
        return [self._feed(r) for r in self._rows("SELECT * FROM feeds ORDER BY id")]

    def due_feeds(self, now: datetime, limit: int) -> list[Feed]:
        # Only feeds some channel follows are polled.
        rows = self._rows(
            "SELECT * FROM feeds WHERE next_poll_at <= ? "
            "AND id IN (SELECT feed_id FROM subscriptions) ORDER BY next_poll_at LIMIT ?",
            [_ts(now), limit],
        )
        return [self._feed(r) for r in rows]

    def claim_due_feeds(self, now: datetime, limit: int, lease_until: datetime) -> list[Feed]:
        """Due feeds, oldest first, leased: their next poll time moves to ``lease_until``
        in the same transaction, so the next claim skips them while they are polled and
        a poll lost to a crash is retried when the lease runs out."""
        with self._write():
            feeds = self.due_feeds(now, limit)
            if feeds:
                marks = ",".join("?" * len(feeds))
                self.db.execute(
                    f"UPDATE feeds SET next_poll_at = ? WHERE id IN ({marks})",
                    [_ts(lease_until), *(f.id for f in feeds)],
                )
        return feeds

    def shift_schedule(self, delta: timedelta) -> int:
        """Move every feed's next poll by ``delta`` (the wall clock jumped by it).
        Returns how many feeds were moved."""
        rows = self._rows("SELECT id, next_poll_at FROM feeds")
        moved = []
        for r in rows:
            when = _dt(r["next_poll_at"])
            if when is None:
                continue
            try:
                moved.append((_ts(when + delta), r["id"]))
            except OverflowError:
                continue
        with self._write() as db:
            db.conn.executemany("UPDATE feeds SET next_poll_at = ? WHERE id = ?", moved)
        return len(moved)

    def cap_schedule(self, latest: datetime) -> int:
        """Bring every poll planned after ``latest`` forward to it: no plan, whatever
        wrote it (an old release's Retry-After, a clock that was years ahead), may park
        a feed beyond the longest wait there is. Returns how many feeds moved."""
        with self._write() as db:
            return db.execute(
                "UPDATE feeds SET next_poll_at = ? WHERE next_poll_at > ?",
                [_ts(latest), _ts(latest)],
            ).rowcount

    def record_fetch(self, feed_id: int, state: FetchState, now: datetime) -> Feed:
        with self._write() as db:
            if state.ok:
                db.execute(
                    """UPDATE feeds SET etag = ?, last_modified = ?,
                       content_hash = coalesce(?, content_hash), title = coalesce(?, title),
                       next_poll_at = ?, primed = max(primed, ?), consecutive_failures = 0,
                       last_success_at = ?, failing_since = NULL WHERE id = ?""",
                    [
                        state.etag,
                        state.last_modified,
                        state.content_hash,
                        state.title,
                        _ts(state.next_poll_at),
                        int(state.primed),
                        _ts(now),
                        feed_id,
                    ],
                )
            else:
                db.execute(
                    """UPDATE feeds SET next_poll_at = ?, last_error = ?, last_error_at = ?,
                       consecutive_failures = consecutive_failures + 1,
                       failing_since = coalesce(failing_since, ?) WHERE id = ?""",
                    [_ts(state.next_poll_at), state.error, _ts(now), _ts(now), feed_id],
                )
        feed = self.get_feed(feed_id)
        assert feed is not None
        return feed

    def record_fetches(self, results: Sequence[tuple[int, FetchState]], now: datetime) -> None:
        """``record_fetch`` for many successful polls (304s, unchanged bodies) in one
        transaction: at hundreds of checks a second a commit per feed would be the cap."""
        ok = [(feed_id, state) for feed_id, state in results if state.ok]
        if len(ok) != len(results):
            raise ValueError("record_fetches records successful polls only")
        with self._write() as db:
            db.conn.executemany(
                """UPDATE feeds SET etag = ?, last_modified = ?,
                   content_hash = coalesce(?, content_hash), title = coalesce(?, title),
                   next_poll_at = ?, primed = max(primed, ?), consecutive_failures = 0,
                   last_success_at = ?, failing_since = NULL WHERE id = ?""",
                [
                    (
                        state.etag,
                        state.last_modified,
                        state.content_hash,
                        state.title,
                        _ts(state.next_poll_at),
                        int(state.primed),
                        _ts(now),
                        feed_id,
                    )
                    for feed_id, state in ok
                ],
            )

    # ---------------------------------------------------------------- entries

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

    def add_entries(
        self,
        feed_id: int,
        entries: Sequence[FeedEntry],
        now: datetime,
        *,
        brief: Collection[str] | None = None,
    ) -> list[StoredEntry]:
        """Store the entries this feed has not had yet. An entry is not new when its key
        is known, nor when the feed already has an entry with the same canonical link
        and the same text under another GUID (GUID churn: a feed re-issuing its items
        with fresh ids must not brief, post or update anything again)."""
        new_ids: list[int] = []
        links = {link for e in entries if (link := canonical_link(e.link))}
        with self._write() as db:
            # What this feed already holds under these links, in one query.
            known: set[tuple[str, str]] = set()
            if links:
                marks = ",".join("?" * len(links))
                known = {
                    (r["link_key"], r["text_hash"])
                    for r in self._rows(
                        "SELECT link_key, text_hash FROM entries WHERE feed_id = ? "
                        f"AND link_key IN ({marks}) AND text_hash IS NOT NULL",
                        [feed_id, *links],
                    )
                }
            for entry in entries:
                pending = brief is None or entry.key in brief
                summary = _cap(entry.summary, MAX_FEED_TEXT)
                content = _cap(entry.content, MAX_FEED_TEXT)
                capped = entry.model_copy(update={"summary": summary, "content": content})
                link_key = canonical_link(entry.link) or None
                text_hash = _text_hash(capped)
                if link_key:
                    if (link_key, text_hash) in known:
                        continue  # the same item under a fresh GUID
                    known.add((link_key, text_hash))
                cursor = db.execute(
                    """INSERT INTO entries (feed_id, key, title, link, summary, content, author,
                       published, fetched_at, pending, origin, link_key, text_hash)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT (feed_id, key) DO NOTHING""",
                    [
                        feed_id,
                        entry.key,
                        entry.title,
                        entry.link,
                        summary,
                        content,
                        entry.author,
                        _ts(entry.published),
                        _ts(now),
                        int(pending),
                        entry.origin,
                        link_key,
                        text_hash,
                    ],
                )
                if cursor.rowcount == 1 and cursor.lastrowid is not None:
                    new_ids.append(cursor.lastrowid)
        if not new_ids:
            return []
        marks = ",".join("?" * len(new_ids))
        rows = self._rows(f"SELECT * FROM entries WHERE id IN ({marks}) ORDER BY id", new_ids)
        return [self._entry(r) for r in rows]

    def trim_feed(
        self,
        feed_id: int,
        listed: Sequence[FeedEntry],
        quiet_before: datetime,
        *,
        keep_text: int = KEEP_TEXT_PER_FEED,
        keep_rows: int = KEEP_ROWS_PER_FEED,
    ) -> tuple[int, int]:
        """Bound one feed's storage: the text of entries older than its newest
        ``keep_text`` is cleared, and the rows older than its newest ``keep_rows`` are
        deleted when their story has been quiet since ``quiet_before``. Entries still
        pending, and those the feed still lists (``listed``: by key or canonical link),
        are kept whole, so that nothing old is ever taken for new. Returns (entries
        cleared, entries deleted)."""
        keys = [e.key for e in listed]
        links = [link for e in listed if (link := canonical_link(e.link))]
        still_listed = (
            f" AND key NOT IN ({','.join('?' * len(keys))})"
            f" AND (link_key IS NULL OR link_key NOT IN ({','.join('?' * len(links))}))"
        )
        with self._write() as db:
            cleared = deleted = 0
            floor = self._row(
                "SELECT id FROM entries WHERE feed_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?",
                [feed_id, keep_text],
            )
            if floor is not None:
                cleared = db.execute(
                    """UPDATE entries SET summary = '', content = '', article_text = NULL
                       WHERE feed_id = ? AND id <= ? AND pending = 0
                       AND (article_text IS NOT NULL OR summary != '' OR content != '')"""
                    + still_listed,
                    [feed_id, floor["id"], *keys, *links],
                ).rowcount
            floor = self._row(
                "SELECT id FROM entries WHERE feed_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?",
                [feed_id, keep_rows],
            )
            if floor is not None:
                deleted = db.execute(
                    """DELETE FROM entries WHERE feed_id = ? AND id <= ? AND pending = 0
                       AND (story_id IS NULL OR story_id IN
                            (SELECT id FROM stories WHERE updated_at < ?))"""
                    + still_listed,
                    [feed_id, floor["id"], _ts(quiet_before), *keys, *links],
                ).rowcount
        return cleared, deleted

    def forget_old_text(self, before: datetime, limit: int) -> int:
        """Clear the full text (feed summary and content, article text) of up to
        ``limit`` entries fetched before ``before`` whose story has been quiet since
        then, and the clustering text of such stories. Keys, titles and links stay, so
        an old item a feed still lists is never taken for new; briefings stay whole.
        Returns how many entries were cleared (less than ``limit``: none are left)."""
        cutoff = _ts(before)
        with self._write() as db:
            cleared = db.execute(
                """UPDATE entries SET summary = '', content = '', article_text = NULL
                   WHERE id IN (
                       SELECT e.id FROM entries e LEFT JOIN stories s ON s.id = e.story_id
                       WHERE e.fetched_at < ? AND e.pending = 0
                         AND (e.article_text IS NOT NULL OR e.summary != ''
                              OR e.content != '')
                         AND (s.id IS NULL OR s.updated_at < ?)
                       LIMIT ?)""",
                [cutoff, cutoff, limit],
            ).rowcount
            db.execute(
                """UPDATE stories SET text = '', fingerprint = NULL WHERE id IN (
                       SELECT id FROM stories WHERE updated_at < ? AND text != '' LIMIT ?)""",
                [cutoff, limit],
            )
        return cleared

    def pending_entries(self, limit: int, after_id: int = 0) -> list[StoredEntry]:
        rows = self._rows(
            "SELECT * FROM entries WHERE pending = 1 AND id > ? ORDER BY id LIMIT ?",
            [after_id, limit],
        )
        return [self._entry(r) for r in rows]

    def entry_failed(self, entry_id: int, error: str, now: datetime, max_attempts: int) -> bool:
        """Count a failed attempt to brief an entry. At ``max_attempts`` the entry is no
        longer pending but failed (its feed's ``failed_entries`` counts it). Returns True
        when it was marked failed."""
        with self._write() as db:
            db.execute(
                "UPDATE entries SET attempts = attempts + 1, last_error = ? WHERE id = ?",
                [error[:500], entry_id],
            )
            cursor = db.execute(
                "UPDATE entries SET pending = 0, failed_at = ? "
                "WHERE id = ? AND pending = 1 AND attempts >= ?",
                [_ts(now), entry_id, max_attempts],
            )
            if cursor.rowcount != 1:
                return False
            db.execute(
                "UPDATE feeds SET failed_entries = failed_entries + 1 "
                "WHERE id = (SELECT feed_id FROM entries WHERE id = ?)",
                [entry_id],
            )
        return True

    def failed_entries(self, feed_id: int) -> list[tuple[int, str]]:
        """(entry id, last error) of the feed's entries marked failed, newest first."""
        rows = self._rows(
            "SELECT id, last_error FROM entries WHERE feed_id = ? AND failed_at IS NOT NULL "
            "ORDER BY id DESC LIMIT 100",
            [feed_id],
        )
        return [(r["id"], r["last_error"] or "") for r in rows]

    def mark_briefed(self, entry_id: int) -> None:
        with self._write() as db:
            db.execute("UPDATE entries SET pending = 0 WHERE id = ?", [entry_id])

    def get_story(self, story_id: int) -> Story | None:
        try:
            return self._load_story(story_id)
        except KeyError:
            return None

    def save_article(self, entry_id: int, article: Article) -> None:
        with self._write() as db:
            db.execute(
                """UPDATE entries SET article_title = ?, article_text = ?, article_author = ?,
                   article_from_page = ? WHERE id = ?""",
                [
                    article.title,
                    _cap(article.text, MAX_ARTICLE_TEXT),
                    article.author,
                    int(article.from_page),
                    entry_id,
                ],
            )

    # ---------------------------------------------------------------- stories

    @staticmethod
    def _story(row: dict[str, Any], entry_ids: list[int]) -> Story:
        return Story(
            id=row["id"],
            briefing_id=row["briefing_id"],
            title=row["title"],
            first_seen=_dt(row["first_seen"]),
            updated_at=_dt(row["updated_at"]),
            entry_ids=entry_ids,
            follows=row.get("follows"),
        )

    def _load_story(self, story_id: int) -> Story:
        row = self._row("SELECT * FROM stories WHERE id = ?", [story_id])
        if row is None:
            raise KeyError(story_id)
        ids = [
            r["id"]
            for r in self._rows("SELECT id FROM entries WHERE story_id = ? ORDER BY id", [story_id])
        ]
        return self._story(row, ids)

    def recent_story_docs(self, since: datetime) -> list[StoryDoc]:
        rows = self._rows(
            "SELECT id, title, text, fingerprint, published, follows FROM stories "
            "WHERE updated_at >= ? ORDER BY id",
            [_ts(since)],
        )
        sources: dict[int, set[str]] = {}
        links: dict[int, set[str]] = {}
        for r in self._rows(
            "SELECT e.story_id, e.link, e.origin, e.feed_id FROM entries e "
            "JOIN stories s ON s.id = e.story_id WHERE s.updated_at >= ?",
            [_ts(since)],
        ):
            sources.setdefault(r["story_id"], set()).add(
                source_of(r["origin"] or r["link"], f"feed:{r['feed_id']}")
            )
            if canonical := canonical_link(r["link"]):
                links.setdefault(r["story_id"], set()).add(canonical)
        return [
            StoryDoc(
                story_id=r["id"],
                title=r["title"],
                text=r["text"],
                fingerprint=r["fingerprint"],
                published=_dt(r["published"]),
                follows=r["follows"],
                sources=tuple(sorted(sources.get(r["id"], ()))),
                links=tuple(sorted(links.get(r["id"], ()))),
            )
            for r in rows
        ]

    def create_story(self, entry: StoredEntry, doc: StoryDoc, now: datetime) -> Story:
        briefing_id = briefing_id_for(f"{entry.feed_id}:{entry.key}")
        with self._write() as db:
            # A collision of the 40-bit id is unlikely but must not merge two stories.
            while self._row("SELECT 1 FROM stories WHERE briefing_id = ?", [briefing_id]):
                briefing_id = briefing_id_for(briefing_id)
            cursor = db.execute(
                """INSERT INTO stories (briefing_id, title, text, fingerprint, published,
                   first_seen, updated_at, follows) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                [
                    briefing_id,
                    doc.title,
                    doc.text,
                    doc.fingerprint,
                    _ts(doc.published),
                    _ts(now),
                    _ts(now),
                    doc.follows,
                ],
            )
            story_id = cursor.lastrowid
            db.execute("UPDATE entries SET story_id = ? WHERE id = ?", [story_id, entry.id])
        assert story_id is not None
        return self._load_story(story_id)

    def attach_to_story(
        self, story_id: int, entry: StoredEntry, doc: StoryDoc, now: datetime
    ) -> Story:
        with self._write() as db:
            db.execute("UPDATE entries SET story_id = ? WHERE id = ?", [story_id, entry.id])
            db.execute(
                "UPDATE stories SET updated_at = ?, fingerprint = coalesce(?, fingerprint) "
                "WHERE id = ?",
                [_ts(now), doc.fingerprint, story_id],
            )
        return self._load_story(story_id)

    def set_story_follows(self, story_id: int, follows: int) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE stories SET follows = ? WHERE id = ? AND follows IS NULL",
                [follows, story_id],
            )

    def story_material(self, story_id: int) -> list[tuple[StoredEntry, Article | None, str]]:
        rows = self._rows(
            """SELECT e.*, coalesce(f.name, f.title, f.url) AS publisher FROM entries e
               JOIN feeds f ON f.id = e.feed_id WHERE e.story_id = ? ORDER BY e.id""",
            [story_id],
        )
        out: list[tuple[StoredEntry, Article | None, str]] = []
        for r in rows:
            article = None
            if r["article_text"] is not None:
                article = Article(
                    url=r["link"],
                    title=r["article_title"] or "",
                    text=r["article_text"],
                    author=r["article_author"],
                    published=_dt(r["published"]),
                    from_page=bool(r["article_from_page"]),
                )
            out.append((self._entry(r), article, r["publisher"]))
        return out

    # -------------------------------------------------------------- briefings

    def save_briefing(self, briefing: Briefing, *, view: str | None = None) -> None:
        body = "\n".join(
            [b.text for b in briefing.bullets]
            + [briefing.what_happened, briefing.why_it_matters, briefing.what_to_watch]
            + [s.title for s in briefing.sources]
            + [s.publisher for s in briefing.sources]
        )
        with self._write() as db:
            db.execute(
                """INSERT INTO briefings (id, story_id, headline, lead, body, source_count,
                   revision, created_at, updated_at, data, view)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (id) DO UPDATE SET headline = excluded.headline,
                   lead = excluded.lead, body = excluded.body,
                   source_count = excluded.source_count, revision = excluded.revision,
                   updated_at = excluded.updated_at, data = excluded.data,
                   view = coalesce(excluded.view, view)""",
                [
                    briefing.id,
                    briefing.story_id,
                    briefing.headline,
                    briefing.lead,
                    body,
                    len(briefing.sources),
                    briefing.revision,
                    _ts(briefing.created_at),
                    _ts(briefing.updated_at),
                    briefing.model_dump_json(),
                    view,
                ],
            )

    def get_briefing(self, briefing_id: str) -> Briefing | None:
        row = self._row("SELECT data FROM briefings WHERE id = ?", [briefing_id.strip().lower()])
        return Briefing.model_validate_json(row["data"]) if row else None

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

    def channel_briefing(self, channel_id: str, briefing_id: str) -> Briefing | None:
        """The briefing if it was routed to the channel, else None (exactly as for an
        unknown id: no channel learns what another one was sent)."""
        row = self._row(
            """SELECT b.data FROM briefings b JOIN briefing_routes r ON r.briefing_rowid = b.rowid
               WHERE b.id = ? AND r.channel_id = ?""",
            [briefing_id.strip().lower(), channel_id],
        )
        return Briefing.model_validate_json(row["data"]) if row else None

    def routed_ids(self, channel_id: str, briefing_ids: Sequence[str]) -> set[str]:
        """Which of ``briefing_ids`` were routed to the channel."""
        if not briefing_ids:
            return set()
        marks = ",".join("?" * len(briefing_ids))
        rows = self._rows(
            f"SELECT b.id AS briefing_id FROM briefings b JOIN briefing_routes r "
            f"ON r.briefing_rowid = b.rowid WHERE r.channel_id = ? AND b.id IN ({marks})",
            [channel_id, *briefing_ids],
        )
        return {r["briefing_id"] for r in rows}

    def story_audience(self, story_id: int) -> list[tuple[str, int, str | None]]:
        """(channel, feed, the channel's name for the feed) for every subscription to
        a feed that carried the story."""
        rows = self._rows(
            """SELECT s.channel_id, s.feed_id, s.name FROM subscriptions s
               WHERE s.feed_id IN (SELECT DISTINCT feed_id FROM entries WHERE story_id = ?)
               ORDER BY s.channel_id, s.feed_id""",
            [story_id],
        )
        return [(r["channel_id"], r["feed_id"], r["name"]) for r in rows]

    def story_routes(self, story_id: int) -> list[tuple[str, str]]:
        """(channel, briefing) for every briefing of the story routed anywhere, oldest
        first."""
        rows = self._rows(
            """SELECT r.channel_id, b.id AS briefing_id FROM briefing_routes r
               JOIN briefings b ON b.rowid = r.briefing_rowid WHERE b.story_id = ?
               ORDER BY r.id""",
            [story_id],
        )
        return [(r["channel_id"], r["briefing_id"]) for r in rows]

    def story_views(self, story_id: int) -> dict[str, str | None]:
        """Briefing id -> the view it was condensed from, for every briefing of the
        story."""
        rows = self._rows("SELECT id, view FROM briefings WHERE story_id = ?", [story_id])
        return {r["id"]: r["view"] for r in rows}

    def briefing_stories(self, briefing_ids: Sequence[str]) -> dict[str, int | None]:
        """Briefing id -> its story, for those of ``briefing_ids`` that exist."""
        if not briefing_ids:
            return {}
        marks = ",".join("?" * len(briefing_ids))
        rows = self._rows(
            f"SELECT id, story_id FROM briefings WHERE id IN ({marks})", list(briefing_ids)
        )
        return {r["id"]: r["story_id"] for r in rows}

    # Relevance is ranked among the newest this many matches, so that no query reads
    # more of the index than that (search is recency-boosted anyway).
    SEARCH_WINDOW = 2000
    # bm25() counts the documents holding each query term by reading the term's whole
    # doclist: ~50 ms for a word in a million briefings. A term in more than this share
    # of briefings (at least COMMON_FLOOR) is "common": it carries almost no weight in
    # bm25 and is kept out of ranking (see ``_ranked_query``). The share also bounds
    # the probe that decides it (a term's first use costs up to ~1 ms at 1M).
    COMMON_SHARE = 0.002
    COMMON_FLOOR = 1000
    _COMMON_TTL = 600.0

    def search_briefings(
        self, fts_query: str, *, limit: int, channel_id: str | None = None, newest: bool = False
    ) -> list[Briefing]:
        where, params = self._channel_filter(channel_id, "briefings_fts.rowid")
        if not newest:
            ranked = self._ranked_query(fts_query)
            if ranked is None:  # an AND with a common word: every match is alike, take
                newest = True  # the newest (the command re-ranks by recency anyway)
            elif not ranked:
                return []  # an OR of common words only: nothing distinctive to relate
            else:
                fts_query = ranked
        # briefings' rowids grow with creation (a revision keeps its row), and FTS5 walks
        # its doclists in rowid order, so "newest first" reads a short window of the
        # latest rows (sorted by date, for rows written out of order) and stops.
        if newest:
            sql = f"""SELECT b.data FROM (
                          SELECT briefings_fts.rowid AS rid FROM briefings_fts
                          WHERE briefings_fts MATCH ? {where}
                          ORDER BY briefings_fts.rowid DESC LIMIT ?
                      ) w JOIN briefings b ON b.rowid = w.rid
                      ORDER BY b.created_at DESC LIMIT ?"""
            args = [fts_query, *params, max(10 * limit, 100), limit]
        else:
            sql = f"""SELECT b.data FROM (
                          SELECT briefings_fts.rowid AS rid, bm25(briefings_fts) AS score
                          FROM briefings_fts WHERE briefings_fts MATCH ? {where}
                          ORDER BY briefings_fts.rowid DESC LIMIT ?
                      ) w JOIN briefings b ON b.rowid = w.rid
                      ORDER BY w.score LIMIT ?"""
            args = [fts_query, *params, self.SEARCH_WINDOW, limit]
        try:
            rows = self._rows(sql, args)
        except sqlite3.OperationalError as exc:
            raise QueryError(f"not a valid search query: {exc}") from None
        return [Briefing.model_validate_json(r["data"]) for r in rows]

    def _ranked_query(self, fts_query: str) -> str | None:
        """The query to rank with bm25: ``fts_query`` itself unless it is a plain AND or
        OR of quoted words (what search and related send) with a common word in it. An
        OR loses its common words (``""`` when none is left); an AND with one gives None.
        """
        joiner = " OR " if " OR " in fts_query else " AND "  # one word is an AND of one
        terms = fts_query.split(joiner)
        if not all(_QUOTED.fullmatch(t) for t in terms):
            return fts_query
        common = [t for t in terms if self._is_common(t)]
        if not common:
            return fts_query
        if joiner == " AND ":
            return None
        return joiner.join(t for t in terms if t not in common)

    def _is_common(self, term: str) -> bool:
        now = time.monotonic()
        hit = self._common.get(term)
        if hit is not None and hit[0] > now:
            return hit[1]
        if len(self._common) > 10_000:
            self._common.clear()
        total = self._row("SELECT max(rowid) AS n FROM briefings")
        cap = max(self.COMMON_FLOOR, int((total["n"] or 0) * self.COMMON_SHARE) if total else 0)
        try:
            # Counting stops at cap + 1: the probe reads no more than that of the doclist.
            found = self._row(
                "SELECT count(*) AS n FROM (SELECT rowid FROM briefings_fts "
                "WHERE briefings_fts MATCH ? ORDER BY rowid DESC LIMIT ?)",
                [term, cap + 1],
            )
        except sqlite3.OperationalError:
            return False
        common = bool(found and found["n"] > cap)
        self._common[term] = (now + self._COMMON_TTL, common)
        return common

    def latest_briefings(self, *, limit: int, channel_id: str | None = None) -> list[Briefing]:
        where, params = self._channel_filter(channel_id)
        rows = self._rows(
            f"SELECT b.data FROM briefings b WHERE 1 {where} ORDER BY b.created_at DESC LIMIT ?",
            [*params, limit],
        )
        return [Briefing.model_validate_json(r["data"]) for r in rows]

    def briefing_feed_ids(self, briefing_id: str) -> list[int]:
        rows = self._rows(
            """SELECT DISTINCT e.feed_id FROM entries e JOIN stories s ON s.id = e.story_id
               WHERE s.briefing_id = ? ORDER BY e.feed_id""",
            [briefing_id],
        )
        return [r["feed_id"] for r in rows]

    # ------------------------------------------------------------- channels

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
        )

    def ensure_channel(self, channel_id: str, now: datetime) -> Channel:
        # Every command asks for its channel: a read when it exists, so a read-only
        # command never commits (a commit can carry a WAL checkpoint).
        known = self.get_channel(channel_id)
        if known is not None:
            return known
        with self._write() as db:
            db.execute(
                "INSERT INTO channels (id, created_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
                [channel_id, _ts(now)],
            )
        channel = self.get_channel(channel_id)
        assert channel is not None
        return channel

    def get_channel(self, channel_id: str) -> Channel | None:
        row = self._row("SELECT * FROM channels WHERE id = ?", [channel_id])
        return self._channel(row) if row else None

    def save_channel(self, channel: Channel) -> None:
        with self._write() as db:
            db.execute(
                """INSERT INTO channels (id, mode, digest_time, timezone, include_words,
                   exclude_words, last_digest_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (id) DO UPDATE SET mode = excluded.mode,
                   digest_time = excluded.digest_time, timezone = excluded.timezone,
                   include_words = excluded.include_words, exclude_words = excluded.exclude_words,
                   last_digest_at = excluded.last_digest_at""",
                [
                    channel.id,
                    channel.mode.value,
                    channel.digest_time,
                    channel.timezone,
                    json.dumps(channel.include_words),
                    json.dumps(channel.exclude_words),
                    _ts(channel.last_digest_at),
                    _ts(channel.created_at or datetime.now(UTC)),
                ],
            )

    def list_channels(self) -> list[Channel]:
        return [self._channel(r) for r in self._rows("SELECT * FROM channels ORDER BY id")]

    def subscribe(
        self, channel_id: str, feed_id: int, now: datetime, *, name: str | None = None
    ) -> bool:
        """True if the subscription is new. ``name`` is the channel's own name for the
        feed: shown in that channel only."""
        with self._write() as db:
            # The channel's own number for the feed: one more than its highest.
            cursor = db.execute(
                """INSERT INTO subscriptions (channel_id, feed_id, created_at, name, ref)
                   VALUES (?, ?, ?, ?, (SELECT coalesce(max(ref), 0) + 1 FROM subscriptions
                                        WHERE channel_id = ?))
                   ON CONFLICT DO NOTHING""",
                [channel_id, feed_id, _ts(now), name, channel_id],
            )
        return cursor.rowcount == 1

    def unsubscribe(self, channel_id: str, feed_id: int) -> bool:
        with self._write() as db:
            cursor = db.execute(
                "DELETE FROM subscriptions WHERE channel_id = ? AND feed_id = ?",
                [channel_id, feed_id],
            )
        return cursor.rowcount == 1

    def channel_feeds(self, channel_id: str) -> list[Feed]:
        """The channel's feeds, each named and numbered as the channel knows it
        (``Feed.name`` and ``Feed.ref`` are the subscription's, never another channel's)."""
        rows = self._rows(
            "SELECT f.*, s.name AS name, s.ref AS ref FROM feeds f "
            "JOIN subscriptions s ON s.feed_id = f.id WHERE s.channel_id = ? ORDER BY s.ref",
            [channel_id],
        )
        return [self._feed(r) for r in rows]

    def feed_entry_count(self, feed_id: int) -> int:
        row = self._row("SELECT count(*) AS n FROM entries WHERE feed_id = ?", [feed_id])
        return int(row["n"]) if row else 0

    def feed_newest_stories(self, feed_id: int, limit: int) -> list[int]:
        """The story of each of the feed's newest ``limit`` placed entries, newest first
        (a story once per entry of it)."""
        rows = self._rows(
            """SELECT story_id FROM entries WHERE feed_id = ? AND story_id IS NOT NULL
               ORDER BY coalesce(published, fetched_at) DESC, id DESC LIMIT ?""",
            [feed_id, limit],
        )
        return [r["story_id"] for r in rows]

    def channel_has_feeds(self, channel_id: str) -> bool:
        return (
            self._row("SELECT 1 FROM subscriptions WHERE channel_id = ? LIMIT 1", [channel_id])
            is not None
        )

    def channels_for_feeds(self, feed_ids: Sequence[int]) -> list[Channel]:
        if not feed_ids:
            return []
        marks = ",".join("?" * len(feed_ids))
        rows = self._rows(
            f"""SELECT * FROM channels WHERE id IN
                (SELECT channel_id FROM subscriptions WHERE feed_id IN ({marks})) ORDER BY id""",
            list(feed_ids),
        )
        return [self._channel(r) for r in rows]

    def channels_by_ids(self, channel_ids: Sequence[str]) -> list[Channel]:
        """The known channels among ``channel_ids``, by id."""
        found: list[Channel] = []
        ids = list(dict.fromkeys(channel_ids))
        for start in range(0, len(ids), 500):  # under SQLite's variable limit
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found += [
                self._channel(r)
                for r in self._rows(f"SELECT * FROM channels WHERE id IN ({marks})", chunk)
            ]
        return sorted(found, key=lambda c: c.id)

    def save_topic(self, topic: Topic) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO topics (channel_id, slug, query) VALUES (?, ?, ?) "
                "ON CONFLICT (channel_id, slug) DO UPDATE SET query = excluded.query",
                [topic.channel_id, topic.slug, topic.query],
            )

    def remove_topic(self, channel_id: str, slug: str) -> bool:
        with self._write() as db:
            cursor = db.execute(
                "DELETE FROM topics WHERE channel_id = ? AND slug = ?", [channel_id, slug]
            )
        return cursor.rowcount == 1

    def channel_topics(self, channel_id: str) -> list[Topic]:
        rows = self._rows("SELECT * FROM topics WHERE channel_id = ? ORDER BY slug", [channel_id])
        return [Topic(**r) for r in rows]

    # ---------------------------------------------------------------- outbox

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

    def enqueue_delivery(
        self,
        channel_id: str,
        briefing_id: str,
        *,
        kind: DeliveryKind,
        revision: int,
        state: DeliveryState,
        now: datetime,
    ) -> bool:
        with self._write() as db:
            cursor = db.execute(
                """INSERT INTO outbox (channel_id, briefing_id, kind, revision, state,
                   created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (channel_id, briefing_id, revision) DO NOTHING""",
                [channel_id, briefing_id, kind, revision, state.value, _ts(now), _ts(now)],
            )
            # In the same transaction: what is queued for a channel is what it may read.
            db.execute(
                "INSERT INTO briefing_routes (channel_id, briefing_rowid, created_at) "
                "SELECT ?, rowid, ? FROM briefings WHERE id = ? ON CONFLICT DO NOTHING",
                [channel_id, _ts(now), briefing_id],
            )
        return cursor.rowcount == 1

    # A channel's post of a story may carry an earlier briefing id of that story (the
    # channel moved to a briefing of its own when the story gained a source it does not
    # follow, see bot.tenancy): post state, updates and the message to update are the
    # channel's record for the story, not for one id.
    _SAME_STORY = """(SELECT ? UNION SELECT b2.id FROM briefings b2 WHERE b2.story_id =
                      (SELECT b1.story_id FROM briefings b1 WHERE b1.id = ?))"""

    def post_state(self, channel_id: str, briefing_id: str) -> DeliveryState | None:
        row = self._row(
            f"SELECT state FROM outbox WHERE channel_id = ? AND briefing_id IN "
            f"{self._SAME_STORY} AND kind = 'post' ORDER BY id LIMIT 1",
            [channel_id, briefing_id, briefing_id],
        )
        return DeliveryState(row["state"]) if row else None

    def supersede_updates(self, channel_id: str, briefing_id: str) -> int:
        with self._write() as db:
            cursor = db.execute(
                f"UPDATE outbox SET state = 'superseded' WHERE channel_id = ? AND briefing_id "
                f"IN {self._SAME_STORY} AND kind = 'update' AND state = 'pending' "
                f"AND attempts = 0",
                [channel_id, briefing_id, briefing_id],
            )
        return cursor.rowcount

    def due_deliveries(self, now: datetime, limit: int) -> list[Delivery]:
        # The head of each channel's queue only, so that a row waiting for a retry is
        # never overtaken by a later one: per-channel order is kept.
        rows = self._rows(
            """SELECT o.* FROM outbox o JOIN (
                   SELECT channel_id, min(id) AS head FROM outbox
                   WHERE state IN ('pending', 'sending') AND digest_key IS NULL
                   GROUP BY channel_id
               ) h ON h.head = o.id
               WHERE o.not_before IS NULL OR o.not_before <= ?
               ORDER BY o.id LIMIT ?""",
            [_ts(now), limit],
        )
        return [self._delivery(r) for r in rows]

    def mark_delivery(
        self,
        delivery_id: int,
        state: DeliveryState,
        *,
        message_ref: str | None = None,
        error: str | None = None,
        not_before: datetime | None = None,
        now: datetime,
    ) -> None:
        if state != DeliveryState.SENDING:
            self._mark("outbox", delivery_id, state, message_ref, error, not_before, now)
            return
        # The attempt record, committed before the message is handed to the platform.
        with self._write() as db:
            db.execute(
                """UPDATE outbox SET state = 'sending', attempts = attempts + 1,
                   attempt_at = ?, first_attempt_at = coalesce(first_attempt_at, ?),
                   last_error = ?, not_before = ?, updated_at = ? WHERE id = ?""",
                [_ts(now), _ts(now), error, _ts(not_before), _ts(now), delivery_id],
            )

    def start_digest_part(self, delivery_ids: Sequence[int], key: str, now: datetime) -> int:
        """Record that these held rows go out as one digest message under ``key``,
        before it is sent. Returns the rows recorded (only rows still held)."""
        if not delivery_ids:
            return 0
        marks = ",".join("?" * len(delivery_ids))
        with self._write() as db:
            cursor = db.execute(
                f"""UPDATE outbox SET state = 'sending', digest_key = ?, attempt_at = NULL,
                    first_attempt_at = ?, not_before = NULL, updated_at = ?
                    WHERE state = 'held' AND id IN ({marks})""",
                [key, _ts(now), _ts(now), *delivery_ids],
            )
        return cursor.rowcount

    def digest_parts_in_flight(self, channel_id: str | None = None) -> list[list[Delivery]]:
        """Digest parts recorded but not known to be sent (a crash, a lost answer):
        each part's rows, oldest part first."""
        where = "digest_key IS NOT NULL AND state = 'sending'"
        params: list[Any] = []
        if channel_id is not None:
            where += " AND channel_id = ?"
            params.append(channel_id)
        parts: dict[str, list[Delivery]] = {}
        for row in self._rows(f"SELECT * FROM outbox WHERE {where} ORDER BY id", params):
            parts.setdefault(row["digest_key"], []).append(self._delivery(row))
        return list(parts.values())

    def retry_digest_part(self, key: str, now: datetime, not_before: datetime) -> None:
        """An attempt at a recorded digest part begins (same key, same rows): should it
        be interrupted, the part is looked up no sooner than ``not_before``."""
        with self._write() as db:
            db.execute(
                """UPDATE outbox SET attempts = attempts + 1, attempt_at = ?,
                   not_before = ?, updated_at = ? WHERE digest_key = ? AND state = 'sending'""",
                [_ts(now), _ts(not_before), _ts(now), key],
            )

    def delay_digest_part(self, key: str, not_before: datetime, error: str) -> None:
        """The part's attempt failed and may be retried from ``not_before``."""
        with self._write() as db:
            db.execute(
                """UPDATE outbox SET not_before = ?, last_error = ?
                   WHERE digest_key = ? AND state = 'sending'""",
                [_ts(not_before), error, key],
            )

    def finish_digest_part(
        self,
        key: str,
        state: DeliveryState,
        *,
        message_ref: str | None = None,
        error: str | None = None,
        now: datetime,
    ) -> int:
        """The part is sent (``SENT`` with its message), or given up for today
        (``HELD``: its rows wait for the next digest, under no key)."""
        with self._write() as db:
            cursor = db.execute(
                """UPDATE outbox SET state = ?, message_ref = coalesce(?, message_ref),
                   last_error = ?, updated_at = ?, not_before = NULL,
                   digest_key = CASE WHEN ? = 'held' THEN NULL ELSE digest_key END
                   WHERE digest_key = ? AND state = 'sending'""",
                [state.value, message_ref, error, _ts(now), state.value, key],
            )
        return cursor.rowcount

    def posted_ref(self, channel_id: str, briefing_id: str) -> str | None:
        row = self._row(
            f"SELECT message_ref FROM outbox WHERE channel_id = ? AND briefing_id IN "
            f"{self._SAME_STORY} AND kind = 'post' AND state = 'sent' ORDER BY id LIMIT 1",
            [channel_id, briefing_id, briefing_id],
        )
        return row["message_ref"] if row else None

    def held_deliveries(self, channel_id: str) -> list[Delivery]:
        rows = self._rows(
            "SELECT * FROM outbox WHERE channel_id = ? AND state = 'held' ORDER BY id",
            [channel_id],
        )
        return [self._delivery(r) for r in rows]

    def deliveries(self, channel_id: str | None = None) -> list[Delivery]:
        """Every outbox row (for reports and tests)."""
        if channel_id is None:
            rows = self._rows("SELECT * FROM outbox ORDER BY id")
        else:
            rows = self._rows("SELECT * FROM outbox WHERE channel_id = ? ORDER BY id", [channel_id])
        return [self._delivery(r) for r in rows]

    # ------------------------------------------------------- feed-health notices

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

    def feeds_needing_notice(self, threshold: int) -> list[tuple[Feed, NoticeKind]]:
        # "> 0 AND >= ?" lets SQLite use the partial index feeds_failing.
        failing = self._rows(
            "SELECT * FROM feeds WHERE consecutive_failures > 0 AND consecutive_failures >= ? "
            "AND failure_notice_at IS NULL ORDER BY id",
            [max(threshold, 1)],
        )
        recovered = self._rows(
            "SELECT * FROM feeds WHERE failure_notice_at IS NOT NULL "
            "AND consecutive_failures = 0 ORDER BY id"
        )
        return [(self._feed(r), "failing") for r in failing] + [
            (self._feed(r), "recovered") for r in recovered
        ]

    def queue_feed_notice(
        self, feed_id: int, kind: NoticeKind, text: str | NoticeText, now: datetime
    ) -> int:
        """Queue a notice for every channel that follows the feed, once per change of
        state. ``text`` may be a function of the channel's own name and number for the
        feed, so that each channel reads the feed as it knows it."""
        with self._write() as db:
            if kind == "failing":
                cursor = db.execute(
                    "UPDATE feeds SET failure_notice_at = ? WHERE id = ? "
                    "AND failure_notice_at IS NULL AND consecutive_failures > 0",
                    [_ts(now), feed_id],
                )
            else:
                cursor = db.execute(
                    "UPDATE feeds SET failure_notice_at = NULL WHERE id = ? "
                    "AND failure_notice_at IS NOT NULL AND consecutive_failures = 0",
                    [feed_id],
                )
            if cursor.rowcount != 1:
                return 0  # already told (or the feed changed state since it was read)
            subscribers = self._rows(
                "SELECT channel_id, name, ref FROM subscriptions WHERE feed_id = ? "
                "ORDER BY channel_id",
                [feed_id],
            )
            db.conn.executemany(
                """INSERT INTO notices (channel_id, feed_id, kind, text, state, created_at,
                   updated_at) VALUES (?, ?, ?, ?, 'pending', ?, ?)""",
                [
                    (
                        r["channel_id"],
                        feed_id,
                        kind,
                        text if isinstance(text, str) else text(r["name"], r["ref"]),
                        _ts(now),
                        _ts(now),
                    )
                    for r in subscribers
                ],
            )
            return len(subscribers)

    def due_notices(self, now: datetime, limit: int) -> list[Notice]:
        # Pending notices, and those a crash left "sending" with an attempt record (to
        # be looked up by it); one left "sending" by an older version has no record
        # and is not sent again.
        rows = self._rows(
            "SELECT * FROM notices WHERE (state = 'pending' OR (state = 'sending' "
            "AND first_attempt_at IS NOT NULL)) "
            "AND (not_before IS NULL OR not_before <= ?) ORDER BY id LIMIT ?",
            [_ts(now), limit],
        )
        return [self._notice(r) for r in rows]

    def mark_notice(
        self,
        notice_id: int,
        state: DeliveryState,
        *,
        message_ref: str | None = None,
        error: str | None = None,
        not_before: datetime | None = None,
        now: datetime,
    ) -> None:
        if state != DeliveryState.SENDING:
            self._mark("notices", notice_id, state, message_ref, error, not_before, now)
            return
        with self._write() as db:  # the attempt record, before the send
            db.execute(
                """UPDATE notices SET state = 'sending', attempts = attempts + 1,
                   attempt_at = ?, first_attempt_at = coalesce(first_attempt_at, ?),
                   last_error = ?, not_before = ?, updated_at = ? WHERE id = ?""",
                [_ts(now), _ts(now), error, _ts(not_before), _ts(now), notice_id],
            )

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
        with self._write() as db:
            db.execute(
                f"""UPDATE {table} SET state = ?, message_ref = coalesce(?, message_ref),
                   last_error = ?, not_before = ?, updated_at = ?,
                   attempts = attempts + (CASE WHEN ? = 'sending' THEN 1 ELSE 0 END)
                   WHERE id = ?""",
                [state.value, message_ref, error, _ts(not_before), _ts(now), state.value, row_id],
            )

    def notices(self, channel_id: str | None = None) -> list[Notice]:
        """Every notice row (for reports and tests)."""
        if channel_id is None:
            rows = self._rows("SELECT * FROM notices ORDER BY id")
        else:
            rows = self._rows(
                "SELECT * FROM notices WHERE channel_id = ? ORDER BY id", [channel_id]
            )
        return [self._notice(r) for r in rows]

    # -------------------------------------------------------------- LLM usage

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

    def backup(self, target: str | Path) -> None:
        """A consistent copy of the live database (SQLite's online backup API)."""
        dest = sqlite3.connect(str(target))
        try:
            with dest:
                self.db.conn.backup(dest)
        finally:
            dest.close()
