"""Entries on PostgreSQL: what feeds published, their article text, and the bounds on
both — the rules of ``storage/entries.py`` (what counts as new, GUID churn, the text
and row caps), on PostgreSQL's types.

What counts as new is decided by the UNIQUE (feed_id, key) constraint, as on SQLite:
two processes storing one poll's entries at once each get back only the rows they
inserted themselves (``ON CONFLICT DO NOTHING ... RETURNING``), so an entry is briefed
by one of them, never by both."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from bot.models import Article, FeedEntry, StoredEntry
from bot.urls import canonical_link

from ..entries import (
    KEEP_ROWS_PER_FEED,
    KEEP_TEXT_PER_FEED,
    MAX_ARTICLE_TEXT,
    MAX_FEED_TEXT,
    _cap,
    _text_hash,
)
from .base import PgBase
from .feeds import _utc
from .search import _clean


class PgEntriesMixin(PgBase):
    """The ``entries`` table."""

    def add_entries(
        self,
        feed_id: int,
        entries: Sequence[FeedEntry],
        now: datetime,
        *,
        brief: Collection[str] | None = None,
    ) -> list[StoredEntry]:
        new_ids: list[int] = []
        with self._write() as conn:
            # The keys this feed already has, in one round trip: a changed feed lists
            # 10-100 items of which one to three are new, and an INSERT per item (each
            # its own round trip) made polling the store thread's whole load.
            stored = {
                r["key"]
                for r in self._rows(
                    "SELECT key FROM entries WHERE feed_id = %s AND key = ANY(%s)",
                    [feed_id, [_clean(e.key) for e in entries]],
                )
            }
            # Only the unseen need their link and text normalised (ON CONFLICT below
            # still decides a race).
            fresh = [(e, canonical_link(e.link)) for e in entries if _clean(e.key) not in stored]
            links = list({link for _, link in fresh if link})
            known: set[tuple[str, str]] = set()
            if links:
                known = {
                    (r["link_key"], r["text_hash"])
                    for r in self._rows(
                        "SELECT link_key, text_hash FROM entries WHERE feed_id = %s "
                        "AND link_key = ANY(%s) AND text_hash IS NOT NULL",
                        [feed_id, links],
                    )
                }
            for entry, link in fresh:
                pending = brief is None or entry.key in brief
                summary = _cap(entry.summary, MAX_FEED_TEXT)
                content = _cap(entry.content, MAX_FEED_TEXT)
                capped = entry.model_copy(update={"summary": summary, "content": content})
                link_key = link or None
                text_hash = _text_hash(capped)
                if link_key:
                    if (link_key, text_hash) in known:
                        continue  # the same item under a fresh GUID
                    known.add((link_key, text_hash))
                row = conn.execute(
                    """INSERT INTO entries (feed_id, key, title, link, summary, content, author,
                       published, fetched_at, pending, origin, link_key, text_hash)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                       ON CONFLICT (feed_id, key) DO NOTHING RETURNING id""",
                    [
                        feed_id,
                        _clean(entry.key),
                        _clean(entry.title),
                        entry.link and _clean(entry.link),
                        _clean(summary),
                        _clean(content),
                        entry.author and _clean(entry.author),
                        _utc(entry.published),
                        _utc(now),
                        pending,
                        entry.origin,
                        link_key,
                        text_hash,
                    ],
                ).fetchone()
                if row is not None:
                    new_ids.append(int(row["id"]))
        if not new_ids:
            return []
        rows = self._rows("SELECT * FROM entries WHERE id = ANY(%s) ORDER BY id", [new_ids])
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
        still_listed = " AND NOT (key = ANY(%s)) AND (link_key IS NULL OR NOT (link_key = ANY(%s)))"
        with self._write() as conn:
            cleared = deleted = 0
            floor = self._row(
                "SELECT id FROM entries WHERE feed_id = %s ORDER BY id DESC LIMIT 1 OFFSET %s",
                [feed_id, min(keep_text, keep_rows)],
            )
            if floor is None:
                return 0, 0  # fewer rows than either bound: the common case, nothing to do
            keys = [_clean(e.key) for e in listed]
            links = [link for e in listed if (link := canonical_link(e.link))]
            floor = self._row(
                "SELECT id FROM entries WHERE feed_id = %s ORDER BY id DESC LIMIT 1 OFFSET %s",
                [feed_id, keep_text],
            )
            if floor is not None:
                cleared = conn.execute(
                    """UPDATE entries SET summary = '', content = '', article_text = NULL
                       WHERE feed_id = %s AND id <= %s AND NOT pending
                       AND (article_text IS NOT NULL OR summary != '' OR content != '')"""
                    + still_listed,
                    [feed_id, floor["id"], keys, links],
                ).rowcount
            floor = self._row(
                "SELECT id FROM entries WHERE feed_id = %s ORDER BY id DESC LIMIT 1 OFFSET %s",
                [feed_id, keep_rows],
            )
            if floor is not None:
                deleted = conn.execute(
                    """DELETE FROM entries WHERE feed_id = %s AND id <= %s AND NOT pending
                       AND (story_id IS NULL OR story_id IN
                            (SELECT id FROM stories WHERE updated_at < %s))"""
                    + still_listed,
                    [feed_id, floor["id"], _utc(quiet_before), keys, links],
                ).rowcount
        return cleared, deleted

    def forget_old_text(self, before: datetime, limit: int) -> int:
        cutoff = _utc(before)
        with self._write() as conn:
            cleared = conn.execute(
                """UPDATE entries SET summary = '', content = '', article_text = NULL
                   WHERE id IN (
                       SELECT e.id FROM entries e LEFT JOIN stories s ON s.id = e.story_id
                       WHERE e.fetched_at < %s AND NOT e.pending
                         AND (e.article_text IS NOT NULL OR e.summary != ''
                              OR e.content != '')
                         AND (s.id IS NULL OR s.updated_at < %s)
                       LIMIT %s)""",
                [cutoff, cutoff, limit],
            ).rowcount
            conn.execute(
                """UPDATE stories SET text = '', fingerprint = NULL WHERE id IN (
                       SELECT id FROM stories WHERE updated_at < %s AND text != '' LIMIT %s)""",
                [cutoff, limit],
            )
        return cleared

    def pending_entries(self, limit: int, after_id: int = 0) -> list[StoredEntry]:
        rows = self._rows(
            "SELECT * FROM entries WHERE pending AND id > %s ORDER BY id LIMIT %s",
            [after_id, limit],
        )
        return [self._entry(r) for r in rows]

    def entry_failed(self, entry_id: int, error: str, now: datetime, max_attempts: int) -> bool:
        with self._write() as conn:
            conn.execute(
                "UPDATE entries SET attempts = attempts + 1, last_error = %s WHERE id = %s",
                [_clean(error[:500]), entry_id],
            )
            # Two processes failing one entry at once: the second waits on the row's
            # lock, then finds it no longer pending — the feed counts it once.
            row = conn.execute(
                "UPDATE entries SET pending = false, failed_at = %s "
                "WHERE id = %s AND pending AND attempts >= %s RETURNING feed_id",
                [_utc(now), entry_id, max_attempts],
            ).fetchone()
            if row is None:
                return False
            conn.execute(
                "UPDATE feeds SET failed_entries = failed_entries + 1 WHERE id = %s",
                [row["feed_id"]],
            )
        return True

    def failed_entries(self, feed_id: int) -> list[tuple[int, str]]:
        rows = self._rows(
            "SELECT id, last_error FROM entries WHERE feed_id = %s AND failed_at IS NOT NULL "
            "ORDER BY id DESC LIMIT 100",
            [feed_id],
        )
        return [(r["id"], r["last_error"] or "") for r in rows]

    def mark_briefed(self, entry_id: int) -> None:
        with self._write() as conn:
            conn.execute("UPDATE entries SET pending = false WHERE id = %s", [entry_id])

    def saved_article(self, entry_id: int) -> Article | None:
        row = self._row(
            "SELECT link, published, article_title, article_text, article_author, "
            "article_from_page FROM entries WHERE id = %s",
            [entry_id],
        )
        return self._article(row) if row else None

    def save_article(self, entry_id: int, article: Article) -> None:
        with self._write() as conn:
            conn.execute(
                """UPDATE entries SET article_title = %s, article_text = %s,
                   article_author = %s, article_from_page = %s WHERE id = %s""",
                [
                    article.title and _clean(article.title),
                    _clean(_cap(article.text, MAX_ARTICLE_TEXT)),
                    article.author and _clean(article.author),
                    bool(article.from_page),
                    entry_id,
                ],
            )
