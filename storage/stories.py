"""Stories: entries clustered as one story, and the material to brief it."""

from __future__ import annotations

from datetime import datetime

from bot.models import Article, StoredEntry, Story, StoryDoc, briefing_id_for
from bot.urls import canonical_link, source_of

from .base import StoreBase, _dt, _ts


class StoriesMixin(StoreBase):
    """The ``stories`` table."""

    def get_story(self, story_id: int) -> Story | None:
        try:
            return self._load_story(story_id)
        except KeyError:
            return None

    def _load_story(self, story_id: int) -> Story:
        row = self._row("SELECT * FROM stories WHERE id = ?", [story_id])
        if row is None:
            raise KeyError(story_id)
        return self._story(row)

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
        return [(self._entry(r), self._article(r), r["publisher"]) for r in rows]
