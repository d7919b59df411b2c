"""Entries: what feeds published, their article text, and the bounds on both."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from datetime import datetime

from bot.models import Article, FeedEntry, StoredEntry
from bot.urls import canonical_link

from .base import StoreBase, _ts

# What one entry may store (h3): a 4.5 MB page re-issued under fresh GUIDs added 46 MB
# of database a poll. Article text and each of the feed's own text fields are cut (at a
# word) to these; a feed keeps the text of its newest KEEP_TEXT_PER_FEED entries and the
# rows of its newest KEEP_ROWS_PER_FEED (see ``trim_feed``).
MAX_ARTICLE_TEXT = 50_000
MAX_FEED_TEXT = 20_000
KEEP_TEXT_PER_FEED = 500
KEEP_ROWS_PER_FEED = 5_000


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


class EntriesMixin(StoreBase):
    """The ``entries`` table."""

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
        with self._write() as db:
            # The keys this feed already has, in one query: a changed feed lists 10-100
            # items of which one to three are new, and only those need their link and
            # text normalised (that was most of a changed feed's cost to the store).
            stored: set[str] = set()
            if entries:
                marks = ",".join("?" * len(entries))
                stored = {
                    r["key"]
                    for r in self._rows(
                        f"SELECT key FROM entries WHERE feed_id = ? AND key IN ({marks})",
                        [feed_id, *(e.key for e in entries)],
                    )
                }
            fresh = [(e, canonical_link(e.link)) for e in entries if e.key not in stored]
            links = {link for _, link in fresh if link}
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
        with self._write() as db:
            cleared = deleted = 0
            floor = self._row(
                "SELECT id FROM entries WHERE feed_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?",
                [feed_id, min(keep_text, keep_rows)],
            )
            if floor is None:
                return 0, 0  # fewer rows than either bound: the common case, nothing to do
            keys = [e.key for e in listed]
            links = [link for e in listed if (link := canonical_link(e.link))]
            still_listed = (
                f" AND key NOT IN ({','.join('?' * len(keys))})"
                f" AND (link_key IS NULL OR link_key NOT IN ({','.join('?' * len(links))}))"
            )
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

    def saved_article(self, entry_id: int) -> Article | None:
        row = self._row(
            "SELECT link, published, article_title, article_text, article_author, "
            "article_from_page FROM entries WHERE id = ?",
            [entry_id],
        )
        return self._article(row) if row else None

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
