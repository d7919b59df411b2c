"""Full-text search over briefings (FTS5), ranked among the newest matches.

Named to sort after ``sqlite``: tests/test_regex_linear.py names the pattern by the first
module holding it, and ``storage.sqlite`` re-exports ``_QUOTED``."""

from __future__ import annotations

import re
import sqlite3
import time

from bot.errors import QueryError
from bot.models import Briefing

from .base import StoreBase

_QUOTED = re.compile(r'"(?:[^"]|"")+"')  # one FTS5 string literal, as bot.search.quote makes


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
