"""Briefings and full-text search on PostgreSQL (tsvector + GIN), behind the core's
query tree (``bot.query``) — the same grammar as SQLite's FTS5 and, on the same data,
the same matches; only the ranking differs (``ts_rank`` instead of bm25).

``tsquery_text`` turns the tree into tsquery text. No user text is ever read as
tsquery syntax: each word or phrase goes to the server as a value,
``phraseto_tsquery`` splits and stems it with the index's own configuration, and what
comes back — quoted lexemes joined by ``<->`` — is only ever decorated (a field's
weights, a prefix mark) and joined with operators here. Fields are weights of one
vector: headline A, lead B, body C.

Two parts of the grammar are approximate: ``NEAR`` of more than two terms holds when
every pair is within the distance (FTS5 asks for one window holding them all), and
``^`` (a field's first word) is refused with one line: a tsvector cannot say which
word opened its field."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import psycopg

from bot.errors import QueryError
from bot.models import Briefing, BriefingHit
from bot.query import And, Field, Near, Or, Query, Term, parse_query

from .base import PgBase

_LEXEME = re.compile(r"'(?:[^']|'')*'")
_WEIGHTS = {"headline": "A", "lead": "B", "body": "C"}
_ALL = frozenset("ABC")


def _clean(text: str) -> str:
    # PostgreSQL text holds no NUL; controls are never words anyway.
    return "".join(" " if ord(c) < 32 or c == "\x7f" else c for c in text)


def tsquery_text(
    query: Query, phrase: Callable[[str], str], weights: frozenset[str] = _ALL
) -> str | None:
    """``query`` as tsquery text; None when it can match nothing (a term with no word
    in it, a field set left empty). ``phrase`` is the server's ``phraseto_tsquery``."""
    if isinstance(query, Term):
        if query.initial:
            raise QueryError("'^' (a field's first word) cannot be searched on this store")
        found = phrase(_clean(query.text))
        lexemes = _LEXEME.findall(found)
        if not lexemes:
            return None
        mask = "" if weights == _ALL else "".join(sorted(weights))
        last = len(lexemes) - 1
        marks = iter(range(len(lexemes)))

        def decorate(m: re.Match[str]) -> str:
            star = "*" if query.prefix and next(marks) == last else ""
            return m.group(0) + (f":{star}{mask}" if star or mask else "")

        return "(" + _LEXEME.sub(decorate, found) + ")"
    if isinstance(query, Near):
        parts = [tsquery_text(t, phrase, weights) for t in query.terms]
        if any(p is None for p in parts):
            return None
        found_parts = [p for p in parts if p is not None]
        if len(found_parts) == 1:
            return found_parts[0]
        pairs = []
        for i, a in enumerate(found_parts):
            for b in found_parts[i + 1 :]:
                # FTS5's distance counts the words between; <k> is k positions apart.
                spans = range(1, query.distance + 2)
                pairs.append(
                    "("
                    + " | ".join(f"{x} <{k}> {y}" for k in spans for x, y in ((a, b), (b, a)))
                    + ")"
                )
        return "(" + " & ".join(pairs) + ")"
    if isinstance(query, Field):
        named = frozenset(_WEIGHTS[n] for n in query.names)
        inner = (weights - named) if query.exclude else (weights & named)
        return tsquery_text(query.query, phrase, inner) if inner else None
    if isinstance(query, And):
        parts = [tsquery_text(p, phrase, weights) for p in query.parts]
        if any(p is None for p in parts):
            return None
        return "(" + " & ".join(p for p in parts if p is not None) + ")"
    if isinstance(query, Or):
        kept = [p for p in (tsquery_text(p, phrase, weights) for p in query.parts) if p]
        return "(" + " | ".join(kept) + ")" if kept else None
    keep = tsquery_text(query.keep, phrase, weights)
    drop = tsquery_text(query.drop, phrase, weights)
    if keep is None or drop is None:
        return keep
    return f"({keep} & !{drop})"


def _body(briefing: Briefing) -> str:
    # What a person would search for, exactly as storage/briefings.py indexes it.
    return "\n".join(
        [b.text for b in briefing.bullets]
        + [briefing.what_happened, briefing.why_it_matters, briefing.what_to_watch]
        + [s.title for s in briefing.sources]
        + [s.publisher for s in briefing.sources]
    )


_HIT_COLUMNS = "id, story_id, headline, lead, created_at"


class PgSearchMixin(PgBase):
    """The ``briefings`` table and its tsvector index."""

    SEARCH_WINDOW = 2000  # relevance is ranked among the newest this many matches

    def save_briefing(self, briefing: Briefing, *, view: str | None = None) -> None:
        with self._write() as conn:
            conn.execute(
                """INSERT INTO briefings (id, story_id, headline, lead, body, source_count,
                   revision, created_at, updated_at, data, view)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (id) DO UPDATE SET headline = excluded.headline,
                   lead = excluded.lead, body = excluded.body,
                   source_count = excluded.source_count, revision = excluded.revision,
                   updated_at = excluded.updated_at, data = excluded.data,
                   view = coalesce(excluded.view, briefings.view)""",
                [
                    briefing.id,
                    briefing.story_id,
                    _clean(briefing.headline),
                    _clean(briefing.lead),
                    _clean(_body(briefing)),
                    len(briefing.sources),
                    briefing.revision,
                    briefing.created_at,
                    briefing.updated_at,
                    briefing.model_dump_json(),
                    view,
                ],
            )

    def get_briefing(self, briefing_id: str) -> Briefing | None:
        row = self._row("SELECT data FROM briefings WHERE id = %s", [briefing_id.strip().lower()])
        return Briefing.model_validate_json(row["data"]) if row else None

    def _routed(self, channel_id: str | None) -> tuple[str, list[object]]:
        if channel_id is None:
            return "", []
        return (
            " AND EXISTS (SELECT 1 FROM briefing_routes r "
            "WHERE r.channel_id = %s AND r.briefing_seq = b.seq)",
            [channel_id],
        )

    def latest_briefings(self, *, limit: int, channel_id: str | None = None) -> list[Briefing]:
        where, params = self._routed(channel_id)
        rows = self._rows(
            f"SELECT b.data FROM briefings b WHERE true {where} "
            "ORDER BY b.created_at DESC, b.seq DESC LIMIT %s",
            [*params, limit],
        )
        return [Briefing.model_validate_json(r["data"]) for r in rows]

    def channel_briefing(self, channel_id: str, briefing_id: str) -> Briefing | None:
        row = self._row(
            """SELECT b.data FROM briefings b JOIN briefing_routes r ON r.briefing_seq = b.seq
               WHERE b.id = %s AND r.channel_id = %s""",
            [briefing_id.strip().lower(), channel_id],
        )
        return Briefing.model_validate_json(row["data"]) if row else None

    def routed_ids(self, channel_id: str, briefing_ids: Sequence[str]) -> set[str]:
        if not briefing_ids:
            return set()
        rows = self._rows(
            "SELECT b.id FROM briefings b JOIN briefing_routes r ON r.briefing_seq = b.seq "
            "WHERE r.channel_id = %s AND b.id = ANY(%s)",
            [channel_id, list(briefing_ids)],
        )
        return {r["id"] for r in rows}

    def story_audience(self, story_id: int) -> list[tuple[str, int, str | None]]:
        rows = self._rows(
            """SELECT s.channel_id, s.feed_id, s.name FROM subscriptions s
               WHERE s.feed_id IN (SELECT DISTINCT feed_id FROM entries WHERE story_id = %s)
               ORDER BY s.channel_id, s.feed_id""",
            [story_id],
        )
        return [(r["channel_id"], r["feed_id"], r["name"]) for r in rows]

    def story_routes(self, story_id: int) -> list[tuple[str, str]]:
        rows = self._rows(
            """SELECT r.channel_id, b.id AS briefing_id FROM briefing_routes r
               JOIN briefings b ON b.seq = r.briefing_seq WHERE b.story_id = %s
               ORDER BY r.id""",
            [story_id],
        )
        return [(r["channel_id"], r["briefing_id"]) for r in rows]

    def story_views(self, story_id: int) -> dict[str, str | None]:
        rows = self._rows("SELECT id, view FROM briefings WHERE story_id = %s", [story_id])
        return {r["id"]: r["view"] for r in rows}

    def briefing_stories(self, briefing_ids: Sequence[str]) -> dict[str, int | None]:
        if not briefing_ids:
            return {}
        rows = self._rows(
            "SELECT id, story_id FROM briefings WHERE id = ANY(%s)", [list(briefing_ids)]
        )
        return {r["id"]: r["story_id"] for r in rows}

    def briefing_feed_ids(self, briefing_id: str) -> list[int]:
        rows = self._rows(
            """SELECT DISTINCT e.feed_id FROM entries e JOIN stories s ON s.id = e.story_id
               WHERE s.briefing_id = %s ORDER BY e.feed_id""",
            [briefing_id],
        )
        return [r["feed_id"] for r in rows]

    def _phrase(self, text: str) -> str:
        row = self._row("SELECT phraseto_tsquery('signaldesk', %s)::text AS q", [text])
        return str(row["q"]) if row else ""

    def search_briefings(
        self,
        query: Query | str,
        *,
        limit: int,
        channel_id: str | None = None,
        newest: bool = False,
        window: int | None = None,
    ) -> list[Briefing]:
        rows = self._matches("data", query, limit, channel_id, newest, window)
        return [Briefing.model_validate_json(r["data"]) for r in rows]

    def related_hits(self, query: Query, *, limit: int, window: int) -> list[BriefingHit]:
        rows = self._matches(_HIT_COLUMNS, query, limit, None, False, window)
        return [
            BriefingHit(
                r["id"],
                r["story_id"],
                r["headline"],
                r["lead"],
                # Read as text, like every timestamp here (``storage.base._dt``).
                datetime.fromisoformat(str(r["created_at"])),
            )
            for r in rows
        ]

    def _matches(
        self,
        columns: str,
        query: Query | str,
        limit: int,
        channel_id: str | None,
        newest: bool,
        window: int | None,
    ) -> list[dict[str, Any]]:
        if isinstance(query, str):
            query = parse_query(query)  # QueryError, in the core's words, if it is not one
        text = tsquery_text(query, self._phrase)
        if text is None:
            return []
        where, params = self._routed(channel_id)
        order = "w.created_at DESC, w.seq DESC" if newest else "w.score DESC, w.seq DESC"
        window = max(10 * limit, 100) if newest else window or self.SEARCH_WINDOW
        names = columns.split(", ")
        inner = ", ".join(f"b.{c}" for c in names if c != "created_at")
        outer = ", ".join(f"w.{c}" for c in names)
        # Equal weights for the fields, as FTS5's bm25 gives them; scores divided by
        # 1 + log(length), so that a long body does not outrank a matching headline.
        sql = f"""SELECT {outer} FROM (
                      SELECT {inner}, b.seq, b.created_at,
                             ts_rank('{{1,1,1,1}}', b.tsv, q, 1) AS score
                      FROM briefings b, CAST(%s AS tsquery) q
                      WHERE b.tsv @@ q {where} ORDER BY b.seq DESC LIMIT %s
                  ) w ORDER BY {order} LIMIT %s"""
        try:
            return self._rows(sql, [text, *params, window, limit])
        except Exception as exc:  # a StorageError around a psycopg syntax error
            if isinstance(exc.__cause__, psycopg.errors.SyntaxError):
                raise QueryError("the search index cannot run it") from None
            raise
