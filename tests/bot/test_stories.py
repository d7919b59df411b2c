"""Stories as a channel meets them: headline-only items join, developments get their own
post linked to the earlier story, one article is one source however many feeds carry it."""

from __future__ import annotations

from adapters.testing import RecordingPublisher
from bot.cluster import FOLLOWS_PREFIX, cluster_items
from bot.commands import Asker
from bot.desk import commands_for
from bot.engine import Engine
from bot.urls import MIRROR_CHARS, canonical_link, mirror_key
from tests.support import pipeline
from tests.support.clock import FakeClock
from tests.support.news import CHANNEL, Site, date, rss

# The engine fixtures: a local site, a fake clock, a recording publisher.
clock, engine, publisher, site = pipeline.clock, pipeline.engine, pipeline.publisher, pipeline.site

RECALL = [
    "Battery maker Ferrolith is recalling 40,000 Hearth home storage units sold in Finland "
    "and Sweden after 12 reports of overheating, the company said on Tuesday.",
    "Owners were told to switch the units off and wait for a technician to replace a "
    "faulty cell module, free of charge.",
    "Ferrolith shares fell 9% in Helsinki trading after the announcement.",
]
RESIGNATION = [
    "Ferrolith chief executive Maria Lind resigned on Wednesday, a day after the battery "
    "maker recalled 40,000 Hearth home storage units over fire risk.",
    "Chairman Olli Rask will lead the company until a successor is named, Ferrolith said "
    "in a statement.",
    "Lind had led the Tampere-based company since 2019 and oversaw the launch of the Hearth range.",
]


def test_a_headline_only_pair_from_two_outlets_merges() -> None:
    # What an aggregator or a paywall leaves: a title, an outlet and a link.
    labels = cluster_items(
        [
            {"title": "Gullrock Ferries orders three electric ships from Vassen yard",
             "source": "Coastline Courier"},
            {"title": "Northgate council approves Aldwater flood barrier",
             "source": "Northgate Bulletin"},
            {"title": "Vassen shipyard wins Gullrock order for three electric ferries",
             "source": "Harbor Tech"},
        ]
    )  # fmt: skip
    assert labels[0] == labels[2] != labels[1]


def test_two_headline_only_events_of_the_same_kind_stay_apart() -> None:
    labels = cluster_items(
        [
            {"title": "Magnitude 6.4 earthquake strikes Castavia coast near Merino"},
            {"title": "Magnitude 5.8 earthquake hits Brennmark highlands near Odal"},
        ]
    )
    assert labels[0] != labels[1]


def test_tracking_and_amp_variants_are_one_link() -> None:
    base = "https://www.example.com/news/2026/03/ferrolith-recall"
    assert (
        canonical_link(base)
        == canonical_link("http://m.example.com/news/2026/03/ferrolith-recall/amp/?utm_source=x")
        == canonical_link(base + "?fbclid=abc&gclid=1#comments")
    )
    assert canonical_link(base + "?page=2") != canonical_link(base)


def test_a_mirror_is_known_by_its_opening_words_however_it_is_dressed() -> None:
    body = "Ferrolith said on Tuesday it would recall 40,000 home batteries. " * 200
    dressed = "  FERROLITH said -- on Tuesday -- it would recall 40,000 home-batteries!!! " * 200
    assert mirror_key(body) == mirror_key(dressed)
    assert len(mirror_key(body)) == MIRROR_CHARS
    # Punctuation runs long enough to thin out the opening do not shorten the key.
    sparse = ("Recall" + " ." * 300 + " ") * 200
    assert mirror_key(sparse) == ("recall " * 200)[:MIRROR_CHARS]
    assert mirror_key("Ferrolith recalls batteries.") == ""  # too short to tell a copy


async def test_a_development_is_its_own_post_linked_to_the_earlier_story(
    engine: Engine, site: Site, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    recall = [
        {
            "title": "Ferrolith recalls 40,000 home batteries over fire risk",
            "link": site.page("/a/recall.html", "Ferrolith recall", RECALL),
            "guid": "recall",
            "date": date(2),
            "summary": RECALL[0],
        }
    ]
    first = site.feed("/one.xml", rss("Outlet One", recall))
    await engine.add_feed(CHANNEL, first, "Outlet One")
    await engine.poll_once()
    await engine.deliver_all()

    resigned = [
        {
            "title": "Ferrolith chief executive Maria Lind resigns after battery recall",
            "link": site.page("/b/lind.html", "Ferrolith CEO resigns", RESIGNATION),
            "guid": "lind",
            "date": date(-20),
            "summary": RESIGNATION[0],
        }
    ]
    second = site.feed("/two.xml", rss("Outlet Two", resigned))
    await engine.add_feed(CHANNEL, second, "Outlet Two")
    clock.advance(hours=22)
    await engine.poll_once()
    await engine.deliver_all()

    posts = publisher.of_kind("post")
    assert len(posts) == 2, "the resignation is news of its own, not an update"
    assert not publisher.of_kind("update")
    recall_post, lind_post = posts
    briefing = engine.store.get_briefing(lind_post.briefing_id or "")
    assert briefing is not None
    assert "resigned" in briefing.lead
    follows = briefing.related[0]
    assert follows.id == recall_post.briefing_id
    assert follows.headline.startswith(FOLLOWS_PREFIX)
    # /brief related leads with it too.
    reply = await commands_for(engine).handle(
        f"related {briefing.id}", Asker(CHANNEL, "u1", is_admin=False)
    )
    first = reply.text.splitlines()[1]
    assert recall_post.briefing_id in first and "Follows: Ferrolith recalls" in first


async def test_the_same_article_from_two_feeds_is_one_source(
    engine: Engine, site: Site, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    link = site.page("/a/recall.html", "Ferrolith recall", RECALL)
    item = {
        "title": "Ferrolith recalls 40,000 home batteries over fire risk",
        "link": link,
        "guid": "recall",
        "date": date(2),
        "summary": RECALL[0],
    }
    first = site.feed("/one.xml", rss("Outlet One", [item]))
    await engine.add_feed(CHANNEL, first, "Outlet One")
    await engine.poll_once()
    await engine.deliver_all()
    # An aggregator carries the same article, its link dressed with tracking tags.
    tagged = dict(item, link=link + "?utm_source=aggregator&utm_medium=rss", guid="agg-1")
    second = site.feed("/agg.xml", rss("Aggregator", [tagged]))
    await engine.add_feed(CHANNEL, second, "Aggregator")
    clock.advance(seconds=120)
    await engine.poll_once()
    await engine.deliver_all()

    assert len(publisher.of_kind("post")) == 1
    assert not publisher.of_kind("update"), "the same article is no new source"


async def test_a_mirror_with_the_same_text_is_one_source(
    engine: Engine, site: Site, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    item = {
        "title": "Ferrolith recalls 40,000 home batteries over fire risk",
        "link": site.page("/a/recall.html", "Ferrolith recall", RECALL),
        "guid": "recall",
        "date": date(2),
        "summary": RECALL[0],
    }
    first = site.feed("/one.xml", rss("Outlet One", [item]))
    await engine.add_feed(CHANNEL, first, "Outlet One")
    await engine.poll_once()
    await engine.deliver_all()
    # A syndication partner republishes the wire copy word for word under its own link.
    mirror = dict(
        item,
        title="Ferrolith recalls 40,000 home batteries over fire risk | Partner News",
        link=site.page("/partner/ferrolith.html", "Ferrolith recall", RECALL),
        guid="partner-1",
    )
    second = site.feed("/partner.xml", rss("Partner News", [mirror]))
    await engine.add_feed(CHANNEL, second, "Partner News")
    clock.advance(seconds=120)
    await engine.poll_once()
    await engine.deliver_all()

    assert len(publisher.of_kind("post")) == 1
    assert not publisher.of_kind("update"), "a mirror is no new source"


async def test_an_earlier_event_arriving_late_is_linked_from_its_development(
    engine: Engine, site: Site, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    # A slow feed: the resignation is read first, the recall it follows an hour later.
    resigned = [
        {
            "title": "Ferrolith chief executive Maria Lind resigns after battery recall",
            "link": site.page("/b/lind.html", "Ferrolith CEO resigns", RESIGNATION),
            "guid": "lind",
            "date": date(1),
            "summary": RESIGNATION[0],
        }
    ]
    await engine.add_feed(CHANNEL, site.feed("/two.xml", rss("Outlet Two", resigned)), "Two")
    await engine.poll_once()
    await engine.deliver_all()
    recall = [
        {
            "title": "Ferrolith recalls 40,000 home batteries over fire risk",
            "link": site.page("/a/recall.html", "Ferrolith recall", RECALL),
            "guid": "recall",
            "date": date(20),
            "summary": RECALL[0],
        }
    ]
    await engine.add_feed(CHANNEL, site.feed("/one.xml", rss("Outlet One", recall)), "One")
    clock.advance(hours=1)
    await engine.poll_once()
    await engine.deliver_all()

    lind_post, recall_post = publisher.of_kind("post")
    assert not publisher.of_kind("update"), "the recall is not the resignation's update"
    lind = engine.store.get_briefing(lind_post.briefing_id or "")
    assert lind is not None
    assert lind.related[0].id == recall_post.briefing_id
    assert lind.related[0].headline.startswith(FOLLOWS_PREFIX)
