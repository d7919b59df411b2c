"""Full-text search over briefings (FTS5), ranked among the newest matches.

The core hands in a ``bot.query.Query`` (or a query text, read with ``parse_query``);
this module alone turns it into FTS5 ``MATCH`` syntax (``fts5_match``) and turns FTS5's
complaints into one line (``fts5_problem``). Every term goes to FTS5 as a quoted string,
so no user text is ever read as FTS5 syntax.

Named to sort after ``sqlite``: tests/test_regex_linear.py names the pattern by the first
module holding it, and ``storage.sqlite`` re-exports ``_QUOTED``."""

from __future__ import annotations

import re
import sqlite3
import time
from datetime import datetime
from typing import Any, Literal

from bot.errors import QueryError
from bot.models import Briefing, BriefingHit
from bot.query import And, Field, Near, Not, Or, Query, Term, any_of, parse_query

from .base import StoreBase

_QUOTED = re.compile(r'"(?:[^"]|"")+"')  # one FTS5 string literal, as fts5_string makes

# The core's field names -> the columns of ``briefings_fts``.
_COLUMNS = {"headline": "headline", "lead": "lead", "body": "body"}


def fts5_string(text: str) -> str:
    """Text as one FTS5 string literal. FTS5 reads its query up to a NUL, so NULs (and
    the other C0 controls, never words) become spaces."""
    clean = "".join(" " if ord(c) < 32 or c == "\x7f" else c for c in text)
    return '"' + clean.replace('"', '""') + '"'


def fts5_match(query: Query) -> str:
    """``query`` as an FTS5 ``MATCH`` expression. Terms are always quoted strings and
    every group is parenthesised, so the result is valid FTS5 whatever the terms say."""
    if isinstance(query, Term):
        return (
            ("^" if query.initial else "") + fts5_string(query.text) + ("*" if query.prefix else "")
        )
    if isinstance(query, Near):
        inner = " ".join(fts5_match(t) for t in query.terms)
        return f"NEAR({inner}, {query.distance})"
    if isinstance(query, Field):
        columns = []
        for name in query.names:
            column = _COLUMNS.get(name)
            if column is None:
                raise QueryError(f"this store cannot search the field '{name[:30]}'")
            columns.append(column)
        spec = "{" + " ".join(columns) + "}"
        return ("-" if query.exclude else "") + f"{spec}: ({fts5_match(query.query)})"
    if isinstance(query, And | Or):
        joiner = " AND " if isinstance(query, And) else " OR "
        return joiner.join(_operand(p) for p in query.parts)
    # NOT groups from the left in FTS5 too: a chain needs no parentheses on its left
    # side (a left-nested "((a NOT b) NOT c) ..." would fill FTS5's parser stack).
    keep: Query = query
    drops: list[Query] = []
    while isinstance(keep, Not):
        drops.append(keep.drop)
        keep = keep.keep
    return " NOT ".join([_operand(keep), *(_operand(d) for d in reversed(drops))])


def _operand(query: Query) -> str:
    text = fts5_match(query)
    return f"({text})" if isinstance(query, And | Or | Not) else text


def fts5_problem(exc: sqlite3.OperationalError) -> str:
    """SQLite's FTS5 complaint about a query, in words a channel admin can act on. The
    queries built by ``fts5_match`` should never draw one; this is the last line."""
    detail = str(exc).removeprefix("fts5: ")
    if detail == 'syntax error near ""':
        return "it ends too early (an unclosed parenthesis, or a trailing AND/OR/NOT)"
    if detail.startswith("no such column: "):
        name = detail.removeprefix("no such column: ")
        return f"'{name[:30]}' is not a field this store can search"
    if detail == "unterminated string":
        return "a quote is not closed"
    if "stack overflow" in detail or "too large" in detail:
        return "the query is nested too deeply; use fewer parentheses"
    return f"the search index cannot run it ({detail[:80]})"


def _plain_terms(query: Query) -> tuple[type, list[Term]] | None:
    # What search and related send: one word, or an AND or OR of words and phrases.
    if isinstance(query, Term):
        query = And((query,))
    if not isinstance(query, And | Or):
        return None
    parts = list(query.parts)
    if not all(isinstance(p, Term) and not p.prefix and not p.initial for p in parts):
        return None
    return type(query), [p for p in parts if isinstance(p, Term)]


_HIT_COLUMNS = "b.id, b.story_id, b.headline, b.lead, b.created_at"
_ts_in = datetime.fromisoformat  # created_at is written by ``_ts`` and never empty


class SearchMixin(StoreBase):
    """The ``briefings_fts`` index."""

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
        self,
        query: Query | str,
        *,
        limit: int,
        channel_id: str | None = None,
        newest: bool = False,
        window: int | None = None,
    ) -> list[Briefing]:
        rows = self._matches("b.data", query, limit, channel_id, newest, window)
        return [Briefing.model_validate_json(r["data"]) for r in rows]

    def related_hits(self, query: Query, *, limit: int, window: int) -> list[BriefingHit]:
        rows = self._matches(_HIT_COLUMNS, query, limit, None, False, window)
        return [
            BriefingHit(r["id"], r["story_id"], r["headline"], r["lead"], _ts_in(r["created_at"]))
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
        where, params = self._channel_filter(channel_id, "briefings_fts.rowid")
        if not newest:
            ranked = self._ranked_query(query)
            if ranked is None:  # an AND with a common word: every match is alike, take
                newest = True  # the newest (the command re-ranks by recency anyway)
            elif ranked is False:
                return []  # an OR of common words only: nothing distinctive to relate
            else:
                query = ranked
        match = fts5_match(query)
        # briefings' rowids grow with creation (a revision keeps its row), and FTS5 walks
        # its doclists in rowid order, so "newest first" reads a short window of the
        # latest rows (sorted by date, for rows written out of order) and stops.
        if newest:
            sql = f"""SELECT {columns} FROM (
                          SELECT briefings_fts.rowid AS rid FROM briefings_fts
                          WHERE briefings_fts MATCH ? {where}
                          ORDER BY briefings_fts.rowid DESC LIMIT ?
                      ) w JOIN briefings b ON b.rowid = w.rid
                      ORDER BY b.created_at DESC LIMIT ?"""
            args = [match, *params, max(10 * limit, 100), limit]
        else:
            sql = f"""SELECT {columns} FROM (
                          SELECT briefings_fts.rowid AS rid, bm25(briefings_fts) AS score
                          FROM briefings_fts WHERE briefings_fts MATCH ? {where}
                          ORDER BY briefings_fts.rowid DESC LIMIT ?
                      ) w JOIN briefings b ON b.rowid = w.rid
                      ORDER BY w.score LIMIT ?"""
            args = [match, *params, window or self.SEARCH_WINDOW, limit]
        try:
            return self._rows(sql, args)
        except sqlite3.OperationalError as exc:
            raise QueryError(fts5_problem(exc)) from None

    def _ranked_query(self, query: Query) -> Query | Literal[False] | None:
        """The query to rank with bm25: ``query`` itself unless it is a plain AND or OR
        of words and phrases (what search and related send) with a common word in it. An
        OR loses its common words (False when none is left); an AND with one gives None.
        """
        plain = _plain_terms(query)
        if plain is None:
            return query
        kind, terms = plain
        common = [t for t in terms if self._is_common(fts5_match(t))]
        if not common:
            return query
        if kind is And:
            return None
        rest = [t for t in terms if t not in common]
        return any_of(rest) if rest else False

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
