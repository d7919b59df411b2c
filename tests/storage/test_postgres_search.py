"""Search on both backends: one invented corpus of wire briefs saved to SQLite (FTS5)
and to PostgreSQL (tsvector), the same queries through the core's query language —
the same briefings come back (as sets: the two rank differently), newest-first lists
in the same order, and the same refusals."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.errors import QueryError
from bot.models import Briefing, Bullet, Source
from storage import SqliteStore

T0 = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)

# (headline, lead, a bullet, publisher)
CORPUS = [
    ("Dock workers strike at Rotterdam container terminal",
     "Crane operators walked out at dawn over a pay offer the union called an insult.",
     "Ships queued at anchor off Hook of Holland by midday.", "NL Times"),
    ("Ferry operator cancels Channel crossings as storm nears",
     "Gusts of up to 110 km/h are forecast for the Strait of Dover on Thursday.",
     "Freight traffic was diverted to the tunnel.", "Kent Online"),
    ("Central bank holds rates, signals cut in the new year",
     "Policymakers voted 7-2 to keep the main rate at 4.25 per cent.",
     "Two members wanted an immediate quarter-point cut.", "Reuters"),
    ("Port of Antwerp reports record container volumes",
     "Throughput rose 6 per cent in the third quarter despite the strike in Rotterdam.",
     "Rail links to Germany carried a larger share.", "Lloyd's List"),
    ("Tidal turbine array beats its output record off Orkney",
     "The four turbines delivered power for 21 days without a stop.",
     "The developer plans a second array in 2028.", "BBC News"),
    ("Union and port employers agree talks after two-day strike",
     "Mediators will meet both sides on Monday in The Hague.",
     "Crane operators return to work on Sunday night.", "NOS"),
    ("Storm Bert floods coastal roads in Wales",
     "Rescue crews evacuated 40 homes as rivers burst their banks.",
     "The Met Office issued an amber warning for wind.", "The Guardian"),
    ("Shipping rates climb as Red Sea detours continue",
     "Container freight from Shanghai to Rotterdam doubled since June.",
     "Insurers raised war-risk premiums again.", "Bloomberg"),
]  # fmt: skip

QUERIES = [
    "strike",
    "strikes",  # both stem
    "container rotterdam",
    "container OR turbine",
    '"crane operators"',
    "headline: strike",
    "lead: strike",
    "-headline: rotterdam",
    "{headline lead}: storm",
    "port NOT strike",
    "contain*",
    "NEAR(strike rotterdam)",
    "NEAR(strike rotterdam, 3)",
    "(storm OR strike) NOT wales",
    "the",  # no stop words on either side
    "record AND (orkney OR antwerp)",
    '"nothing-like-this"',
]


def _briefing(n: int, headline: str, lead: str, bullet: str, publisher: str) -> Briefing:
    when = T0 + timedelta(minutes=17 * n)
    return Briefing(
        id=f"b{n:03d}",
        headline=headline,
        lead=lead,
        bullets=[Bullet(text=bullet)],
        sources=[Source(publisher=publisher, title=headline)],
        created_at=when,
        updated_at=when,
    )


@pytest.fixture
def both(pg_store_dsn: str) -> Iterator[tuple[Any, Any]]:
    from storage.postgres import PostgresStore

    lite, pg = SqliteStore.open(":memory:"), PostgresStore.open(pg_store_dsn)
    for n, row in enumerate(CORPUS):
        for store in (lite, pg):
            store.save_briefing(_briefing(n, *row))
    yield lite, pg
    lite.close()
    pg.close()


def _ids(store: Any, query: str, **kw: Any) -> list[str]:
    return [b.id for b in store.search_briefings(query, limit=20, **kw)]


@pytest.mark.parametrize("query", QUERIES)
def test_both_backends_find_the_same_briefings(both: tuple[Any, Any], query: str) -> None:
    lite, pg = both
    assert set(_ids(pg, query)) == set(_ids(lite, query))
    assert _ids(pg, query, newest=True) == _ids(lite, query, newest=True)


def test_a_headline_match_outranks_a_passing_mention(both: tuple[Any, Any]) -> None:
    # "strike" heads two briefs and is a passing word in Antwerp's volumes (b003): on
    # both backends the two headlines come first.
    for store in both:
        found = _ids(store, "strike")
        assert set(found[:2]) == {"b000", "b005"} and found[2:] == ["b003"], found


def test_a_revised_briefing_is_found_by_its_new_words_only(both: tuple[Any, Any]) -> None:
    lite, pg = both
    for store in (lite, pg):
        store.save_briefing(_briefing(4, "Tidal array paused for repairs", "A cable failed.",
                                      "Repairs take a month.", "BBC News"))  # fmt: skip
        assert "b004" not in _ids(store, "orkney")
        assert "b004" in _ids(store, "repairs")


def test_the_same_bad_queries_are_refused(both: tuple[Any, Any]) -> None:
    lite, pg = both
    for text in ['"unbalanced', "(storm", "strike AND"]:
        for store in (lite, pg):
            with pytest.raises(QueryError):
                store.search_briefings(text, limit=5)


def test_tsquery_syntax_in_a_search_word_is_text(both: tuple[Any, Any]) -> None:
    lite, pg = both
    for text in ["\"storm & !wales\"", "\"rotterdam':*\"", "\"o'brien | x\"", "\"port\x00s\"",
                 "\"<-> storm\"", "\"storm\\\\\"", "\"\\\\' ( ) :A\""]:  # fmt: skip
        assert set(_ids(pg, text)) == set(_ids(lite, text)), text
