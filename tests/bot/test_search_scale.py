"""Search stays bounded when a query word is in most briefings (the million-briefing
case, shrunk: the store's "common word" threshold is lowered for the test)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.models import Briefing, Bullet
from storage import SqliteStore

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def _store() -> SqliteStore:
    store = SqliteStore.open(":memory:")
    store.COMMON_FLOOR = 5
    for n in range(20):
        extra = " quake" if n in (3, 15) else ""
        store.save_briefing(
            Briefing(
                id=f"b{n:04d}",
                headline=f"Harbour report {n}{extra}",
                lead="The harbour authority published figures.",
                bullets=[Bullet(text=f"Point {k}.") for k in range(3)],
                created_at=NOW + timedelta(hours=n),
                updated_at=NOW + timedelta(hours=n),
            )
        )
    return store


def test_or_query_ranks_by_its_distinctive_words_only() -> None:
    hits = _store().search_briefings('"harbour" OR "quake"', limit=10)
    assert {b.id for b in hits} == {"b0003", "b0015"}


def test_or_of_common_words_only_finds_nothing_distinctive() -> None:
    assert _store().search_briefings('"harbour" OR "authority"', limit=10) == []


def test_and_with_a_common_word_returns_the_newest_matches() -> None:
    store = _store()
    assert [b.id for b in store.search_briefings('"harbour" AND "quake"', limit=10)] == [
        "b0015",
        "b0003",
    ]
    newest = store.search_briefings('"harbour"', limit=3)
    assert [b.id for b in newest] == ["b0019", "b0018", "b0017"]


def test_rare_words_keep_bm25_ranking() -> None:
    store = _store()
    store.COMMON_FLOOR = 1000
    hits = store.search_briefings('"harbour" OR "quake"', limit=30)
    assert len(hits) == 20 and {hits[0].id, hits[1].id} == {"b0003", "b0015"}
