"""Stories on PostgreSQL: entries clustered as one story, and the material to brief it
(the rules of ``storage/stories.py``)."""

from __future__ import annotations

from datetime import datetime

from bot.models import Article, StoredEntry, Story, StoryDoc, briefing_id_for
from bot.urls import canonical_link, source_of

from ..base import _dt
from .base import PgBase
from .feeds import _utc
from .search import _clean


class PgStoriesMixin(PgBase):
    """The ``stories`` table."""

    def get_story(self, story_id: int) -> Story | None:
        row = self._row("SELECT * FROM stories WHERE id = %s", [story_id])
        return None if row is None else self._story(row)

    def _load_story(self, story_id: int) -> Story:
        story = self.get_story(story_id)
        if story is None:
            raise KeyError(story_id)
        return story

    def recent_story_docs(self, since: datetime) -> list[StoryDoc]:
        rows = self._rows(
            "SELECT id, title, text, fingerprint, published, follows FROM stories "
            "WHERE updated_at >= %s ORDER BY id",
            [_utc(since)],
        )
        sources: dict[int, set[str]] = {}
        links: dict[int, set[str]] = {}
        for r in self._rows(
            "SELECT e.story_id, e.link, e.origin, e.feed_id FROM entries e "
            "JOIN stories s ON s.id = e.story_id WHERE s.updated_at >= %s",
            [_utc(since)],
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
        with self._write() as conn:
            # A collision of the 40-bit id is unlikely but must not merge two stories;
            # the UNIQUE constraint decides, so two processes cannot both take one id.
            while True:
                row = conn.execute(
                    """INSERT INTO stories (briefing_id, title, text, fingerprint, published,
                       first_seen, updated_at, follows)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
                       ON CONFLICT (briefing_id) DO NOTHING RETURNING id""",
                    [
                        briefing_id,
                        _clean(doc.title),
                        _clean(doc.text),
                        doc.fingerprint,
                        _utc(doc.published),
                        _utc(now),
                        _utc(now),
                        doc.follows,
                    ],
                ).fetchone()
                if row is not None:
                    break
                briefing_id = briefing_id_for(briefing_id)
            story_id = int(row["id"])
            conn.execute("UPDATE entries SET story_id = %s WHERE id = %s", [story_id, entry.id])
        return self._load_story(story_id)

    def attach_to_story(
        self, story_id: int, entry: StoredEntry, doc: StoryDoc, now: datetime
    ) -> Story:
        with self._write() as conn:
            conn.execute("UPDATE entries SET story_id = %s WHERE id = %s", [story_id, entry.id])
            conn.execute(
                "UPDATE stories SET updated_at = %s, fingerprint = coalesce(%s, fingerprint) "
                "WHERE id = %s",
                [_utc(now), doc.fingerprint, story_id],
            )
        return self._load_story(story_id)

    def set_story_follows(self, story_id: int, follows: int) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE stories SET follows = %s WHERE id = %s AND follows IS NULL",
                [follows, story_id],
            )

    def story_material(self, story_id: int) -> list[tuple[StoredEntry, Article | None, str]]:
        rows = self._rows(
            """SELECT e.*, coalesce(f.name, f.title, f.url) AS publisher FROM entries e
               JOIN feeds f ON f.id = e.feed_id WHERE e.story_id = %s ORDER BY e.id""",
            [story_id],
        )
        return [(self._entry(r), self._article(r), r["publisher"]) for r in rows]
