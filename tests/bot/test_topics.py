"""Default topics: valid FTS5, and the Python tagger agrees with the index on examples."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.models import Briefing, Bullet
from bot.topics import DEFAULT_TOPICS, default_topic, is_valid_slug, topics_for
from storage import SqliteStore

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def briefing(bid: str, headline: str, lead: str = "") -> Briefing:
    return Briefing(
        id=bid,
        headline=headline,
        lead=lead or headline + ".",
        bullets=[Bullet(text="A detail."), Bullet(text="Another detail."), Bullet(text="More.")],
        created_at=NOW,
        updated_at=NOW,
    )


EXAMPLES = {
    "china-ai": "Chinese lab releases an open AI model that tops coding tests",
    "ai-policy": "Lawmakers pass an AI act requiring safety tests for large models",
    "chips": "TSMC raises prices as demand for semiconductors climbs",
    "markets": "Stocks slide as the central bank signals a longer pause",
    "climate": "Record heatwave and drought push emissions debate to the fore",
    "space": "NASA delays the lunar lander test after a rocket engine fault",
    "security": "Ransomware gang claims data breach at a regional hospital",
}


def test_every_default_has_an_example() -> None:
    assert set(EXAMPLES) == set(DEFAULT_TOPICS)


def test_slugs_are_valid_and_lookup_works() -> None:
    for slug, topic in DEFAULT_TOPICS.items():
        assert is_valid_slug(slug) and topic.slug == slug
        assert default_topic(slug) is topic
    assert default_topic("nope") is None


@pytest.mark.parametrize(
    ("slug", "ok"),
    [("china-ai", True), ("a", True), ("x1-y2", True), ("-x", False), ("x-", False),
     ("China", False), ("a_b", False), ("", False), ("a" * 40, True), ("a" * 41, False)],
)  # fmt: skip
def test_is_valid_slug(slug: str, ok: bool) -> None:
    assert is_valid_slug(slug) is ok


def test_queries_are_valid_fts5_and_agree_with_the_tagger() -> None:
    store = SqliteStore.open(":memory:")
    for n, headline in enumerate(EXAMPLES.values()):
        store.save_briefing(briefing(f"b{n}", headline))
    unrelated = briefing("zz", "Village fete raises money for a new bakery roof")
    store.save_briefing(unrelated)
    for n, (slug, headline) in enumerate(EXAMPLES.items()):
        found = {b.id for b in store.search_briefings(DEFAULT_TOPICS[slug].query, limit=50)}
        assert f"b{n}" in found, slug
        assert "zz" not in found
        assert slug in topics_for(briefing(f"b{n}", headline))
    assert topics_for(unrelated) == []
    store.close()


def test_china_ai_needs_both_halves() -> None:
    assert topics_for(briefing("a", "Chinese tea exports rise")) == []
    assert topics_for(briefing("b", "AI model beats doctors at reading scans")) == []
    assert "china-ai" in topics_for(briefing("c", "Beijing startup DeepSeek ships a new model"))


def test_a_passing_mention_in_the_sections_is_not_the_topic() -> None:
    store = SqliteStore.open(":memory:")
    story = briefing("eu", "EU committees back disclosure rules for large AI models").model_copy(
        update={"why_it_matters": "Only a few US and Chinese developers are affected."}
    )
    store.save_briefing(story)
    assert store.search_briefings(DEFAULT_TOPICS["china-ai"].query, limit=5) == []
    assert topics_for(story) == ["ai-policy"]
    store.close()


def test_query_shape() -> None:
    query = DEFAULT_TOPICS["china-ai"].query
    assert query.startswith('{headline lead}: ("china" OR "chinese"')
    assert ' AND {headline lead}: ("ai" OR "artificial intelligence"' in query
    assert '"semiconductor"*' in query


def test_a_channel_shows_its_own_topics_then_the_defaults_it_does_not_override() -> None:
    from bot.models import Topic
    from bot.topics import channel_slugs

    own = [Topic(channel_id="c", slug="tides", query="tide*"),
           Topic(channel_id="c", slug="chips", query="wafer")]  # fmt: skip
    slugs = channel_slugs(own)
    assert slugs[:2] == ["tides", "chips"] and slugs.count("chips") == 1
    assert slugs[2:] == [s for s in DEFAULT_TOPICS if s != "chips"]


def test_default_queries_are_built_as_trees_and_read_back_the_same() -> None:
    from bot.query import parse_query

    for topic in DEFAULT_TOPICS.values():
        assert parse_query(topic.query) == topic.parsed
