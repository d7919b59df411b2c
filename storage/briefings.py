"""Briefings: saved briefings, the channels each reached, their stories."""

from __future__ import annotations

from collections.abc import Sequence

from bot.models import Briefing

from .base import StoreBase, _ts


class BriefingsMixin(StoreBase):
    """The ``briefings`` and ``routes`` tables."""

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
