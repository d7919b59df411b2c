"""``SqliteStore``: the engine's state in one SQLite file, through sqlite-utils.

One connection, one writer: the engine calls every method from a single thread
(``bot.engine.StoreRunner``), so the connection is opened with
``check_same_thread=False`` and never shared concurrently. WAL mode lets readers (a
backup, ``sqlite3`` in a shell) look in while the service writes.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
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
from bot.urls import canonical_link

from .migrations import migrations

_QUOTED = re.compile(r'"(?:[^"]|"")+"')  # one FTS5 string literal, as bot.search.quote makes


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
        return f"database {target} cannot grow: the disk is full; free space and restart"
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
        new_ids: list[int] = []
        with self._write() as db:
            for entry in entries:
                pending = brief is None or entry.key in brief
                cursor = db.execute(
                    """INSERT INTO entries (feed_id, key, title, link, summary, content, author,
                       published, fetched_at, pending, origin)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT (feed_id, key) DO NOTHING""",
                    [
                        feed_id,
                        entry.key,
                        entry.title,
                        entry.link,
                        entry.summary,
                        entry.content,
                        entry.author,
                        _ts(entry.published),
                        _ts(now),
                        int(pending),
                        entry.origin,
                    ],
                )
                if cursor.rowcount == 1 and cursor.lastrowid is not None:
                    new_ids.append(cursor.lastrowid)
        if not new_ids:
            return []
        marks = ",".join("?" * len(new_ids))
        rows = self._rows(f"SELECT * FROM entries WHERE id IN ({marks}) ORDER BY id", new_ids)
        return [self._entry(r) for r in rows]

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

    def pending_entries(self, limit: int) -> list[StoredEntry]:
        rows = self._rows("SELECT * FROM entries WHERE pending = 1 ORDER BY id LIMIT ?", [limit])
        return [self._entry(r) for r in rows]

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
                [article.title, article.text, article.author, int(article.from_page), entry_id],
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

    def save_briefing(self, briefing: Briefing) -> None:
        body = "\n".join(
            [b.text for b in briefing.bullets]
            + [briefing.what_happened, briefing.why_it_matters, briefing.what_to_watch]
            + [s.title for s in briefing.sources]
            + [s.publisher for s in briefing.sources]
        )
        with self._write() as db:
            db.execute(
                """INSERT INTO briefings (id, story_id, headline, lead, body, source_count,
                   revision, created_at, updated_at, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (id) DO UPDATE SET headline = excluded.headline,
                   lead = excluded.lead, body = excluded.body,
                   source_count = excluded.source_count, revision = excluded.revision,
                   updated_at = excluded.updated_at, data = excluded.data""",
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
                ],
            )

    def get_briefing(self, briefing_id: str) -> Briefing | None:
        row = self._row("SELECT data FROM briefings WHERE id = ?", [briefing_id.strip().lower()])
        return Briefing.model_validate_json(row["data"]) if row else None

    def _channel_filter(self, channel_id: str | None) -> tuple[str, list[Any]]:
        if channel_id is None:
            return "", []
        # Correlated, per candidate row (two index lookups): an IN over every story of
        # the channel's feeds would be built in full, a million rows, for each query.
        return (
            """ AND EXISTS (SELECT 1 FROM entries e JOIN subscriptions s
                 ON s.feed_id = e.feed_id WHERE e.story_id = b.story_id
                 AND s.channel_id = ?)""",
            [channel_id],
        )

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
        where, params = self._channel_filter(channel_id)
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
            sql = f"""SELECT data FROM (
                          SELECT b.data, b.created_at FROM briefings_fts
                          JOIN briefings b ON b.rowid = briefings_fts.rowid
                          WHERE briefings_fts MATCH ? {where}
                          ORDER BY briefings_fts.rowid DESC LIMIT ?
                      ) ORDER BY created_at DESC LIMIT ?"""
            args = [fts_query, *params, max(10 * limit, 100), limit]
        else:
            sql = f"""SELECT b.data FROM (
                          SELECT briefings_fts.rowid AS rid, bm25(briefings_fts) AS score
                          FROM briefings_fts JOIN briefings b ON b.rowid = briefings_fts.rowid
                          WHERE briefings_fts MATCH ? {where}
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

    def subscribe(self, channel_id: str, feed_id: int, now: datetime) -> bool:
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO subscriptions (channel_id, feed_id, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                [channel_id, feed_id, _ts(now)],
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
        rows = self._rows(
            "SELECT f.* FROM feeds f JOIN subscriptions s ON s.feed_id = f.id "
            "WHERE s.channel_id = ? ORDER BY f.id",
            [channel_id],
        )
        return [self._feed(r) for r in rows]

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
        return cursor.rowcount == 1

    def post_state(self, channel_id: str, briefing_id: str) -> DeliveryState | None:
        row = self._row(
            "SELECT state FROM outbox WHERE channel_id = ? AND briefing_id = ? AND kind = 'post' "
            "ORDER BY id LIMIT 1",
            [channel_id, briefing_id],
        )
        return DeliveryState(row["state"]) if row else None

    def supersede_updates(self, channel_id: str, briefing_id: str) -> int:
        with self._write() as db:
            cursor = db.execute(
                "UPDATE outbox SET state = 'superseded' WHERE channel_id = ? AND briefing_id = ? "
                "AND kind = 'update' AND state = 'pending' AND attempts = 0",
                [channel_id, briefing_id],
            )
        return cursor.rowcount

    def due_deliveries(self, now: datetime, limit: int) -> list[Delivery]:
        # The head of each channel's queue only, so that a row waiting for a retry is
        # never overtaken by a later one: per-channel order is kept.
        rows = self._rows(
            """SELECT o.* FROM outbox o JOIN (
                   SELECT channel_id, min(id) AS head FROM outbox
                   WHERE state IN ('pending', 'sending') GROUP BY channel_id
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
        self._mark("outbox", delivery_id, state, message_ref, error, not_before, now)

    def posted_ref(self, channel_id: str, briefing_id: str) -> str | None:
        row = self._row(
            "SELECT message_ref FROM outbox WHERE channel_id = ? AND briefing_id = ? "
            "AND kind = 'post' AND state = 'sent' ORDER BY id LIMIT 1",
            [channel_id, briefing_id],
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

    def queue_feed_notice(self, feed_id: int, kind: NoticeKind, text: str, now: datetime) -> int:
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
            cursor = db.execute(
                """INSERT INTO notices (channel_id, feed_id, kind, text, state, created_at,
                   updated_at) SELECT channel_id, feed_id, ?, ?, 'pending', ?, ?
                   FROM subscriptions WHERE feed_id = ? ORDER BY channel_id""",
                [kind, text, _ts(now), _ts(now), feed_id],
            )
            return cursor.rowcount

    def due_notices(self, now: datetime, limit: int) -> list[Notice]:
        rows = self._rows(
            "SELECT * FROM notices WHERE state = 'pending' "
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
        self._mark("notices", notice_id, state, message_ref, error, not_before, now)

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
