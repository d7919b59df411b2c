"""Tenant isolation: a channel sees only briefings routed to it, and a story merged from
feeds that different channels follow gives each channel a briefing of its own feeds.

The pipeline end to end (local feeds and pages over HTTP, a real SQLite store, the real
clusterer and condenser) and the real command handler."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.testing import RecordingPublisher
from bot.commands import Asker
from bot.desk import commands_for
from bot.engine import Engine
from bot.fetch import Fetcher
from bot.models import Briefing
from bot.settings import load_settings
from bot.tenancy import plan_views
from storage import SqliteStore
from storage.database import StoreRunner
from tests.support.clock import FakeClock
from tests.support.http import LocalServer
from tests.support.news import START, Site, date, quake_items, rss

PRIVATE = "console:deals-desk"  # follows a subscriber-only wire
PUBLIC = "console:lobby"  # follows the public outlet
BOTH = "console:editors"

# The subscriber-only wire's report of the quake: it has details of its own.
WIRE_FACTS = [
    "Hundreds of homes were damaged when a 6.1-magnitude quake hit Varenna Alta early on "
    "Monday, leaving 18,000 people without power.",
    "Fourteen people needed hospital treatment, officials said, and there were no deaths.",
    "Inspectors shut the Varenna viaduct after they found cracks in two piers.",
    "Insurers Halden Re and Corvo Mutual face claims of up to 90 million euros, according "
    "to a loss estimate circulated to clients on Monday afternoon.",
    "The regional government will decide on Friday whether to ask for national emergency funds.",
]
WIRE_LINK_PATH = "/wire/quake-claims.html"


@pytest.fixture
def site(local_server: LocalServer) -> Site:
    return Site(local_server)


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    settings = load_settings(
        database=":memory:", allow_private_networks=True, fetch_timeout=2.0, first_poll_limit=3
    )
    store = SqliteStore.open(":memory:")
    eng = Engine(
        settings,
        store,
        fetcher=Fetcher(settings),
        publishers={"console": RecordingPublisher()},
        clock=FakeClock(START),
        runner=StoreRunner(store),
    )
    yield eng
    await eng.aclose()
    store.close()


def _publisher(engine: Engine) -> RecordingPublisher:
    publisher = engine.publishers["console"]
    assert isinstance(publisher, RecordingPublisher)
    return publisher


def _wire_items(site: Site) -> list[dict[str, str]]:
    return [
        {
            "title": "Varenna Alta earthquake: 6.1 quake leaves 18,000 without power",
            "link": site.page(WIRE_LINK_PATH, "Varenna Alta quake claims", WIRE_FACTS),
            "guid": "wire-quake",
            "date": date(1),
            "summary": WIRE_FACTS[0],
        }
    ]


async def _merged_story(engine: Engine, site: Site, public_feed_channels: list[str]) -> None:
    """The public outlet's quake report, then the wire's report of the same event."""
    public = site.feed("/public.xml", rss("Valley Herald", quake_items(site)))
    for channel in public_feed_channels:
        await engine.add_feed(channel, public, "Valley Herald")
    await engine.poll_once()
    await engine.deliver_all()
    wire = site.feed("/wire.xml", rss("Halden Wire", _wire_items(site)))
    await engine.add_feed(PRIVATE, wire, "Halden Wire (subscribers)")
    await engine.add_feed(BOTH, wire, "Halden Wire (subscribers)")
    engine.clock.advance(seconds=60)  # type: ignore[attr-defined]
    await engine.poll_once()
    await engine.deliver_all()


def _shown(engine: Engine, channel: str) -> list[Briefing]:
    """The briefings a channel's messages show now (the latest post or update of each)."""
    latest: dict[str, str] = {}
    for post in _publisher(engine).posts:
        if post.channel_id == channel and post.briefing_id:
            latest[post.message_ref] = post.briefing_id
    found = [engine.store.get_briefing(b) for b in latest.values()]
    return [b for b in found if b is not None]


async def test_a_merged_story_gives_each_channel_only_its_own_sources(
    engine: Engine, site: Site
) -> None:
    await _merged_story(engine, site, [PUBLIC, BOTH])
    store = engine.store
    assert len(store.story_material(1)) == 2, "the two reports must cluster as one story"

    # The public channel: one message, the public outlet only; nothing of the wire.
    [public] = _shown(engine, PUBLIC)
    assert [s.publisher for s in public.sources] == ["Valley Herald"]
    text = " ".join([public.headline, public.lead, *(b.text for b in public.bullets)])
    assert "Halden" not in text and "90 million" not in text
    assert all(WIRE_LINK_PATH not in (s.url or "") for s in public.sources)
    # The channel following both has both sources in one message, updated in place.
    [both] = _shown(engine, BOTH)
    assert sorted(s.publisher for s in both.sources) == [
        "Halden Wire (subscribers)",
        "Valley Herald",
    ]
    posts = [p for p in _publisher(engine).posts if p.channel_id == BOTH]
    assert [p.kind for p in posts] == ["post", "update"]
    assert posts[0].message_ref == posts[1].message_ref
    # The private channel: the wire only.
    [private] = _shown(engine, PRIVATE)
    assert [s.publisher for s in private.sources] == ["Halden Wire (subscribers)"]
    assert len({public.id, both.id, private.id}) == 3

    # And the public channel cannot read the others by id.
    handler = commands_for(engine)
    member = Asker(PUBLIC, "u1", is_admin=False)
    for other in (both.id, private.id):
        reply = await handler.handle(f"more {other}", member)
        assert reply.error and reply.briefings == []
    reply = await handler.handle("search insurers claims", member)
    assert reply.briefings == []
    reply = await handler.handle("search varenna", member)
    assert [b.id for b in reply.briefings] == [public.id]


async def test_channels_that_follow_the_same_feeds_share_one_briefing(
    engine: Engine, site: Site
) -> None:
    public = site.feed("/public.xml", rss("Valley Herald", quake_items(site)))
    await engine.add_feed(PUBLIC, public, "Valley Herald")
    await engine.add_feed(BOTH, public, "Valley Herald")
    await engine.poll_once()
    await engine.deliver_all()
    ids = {p.briefing_id for p in _publisher(engine).posts}
    assert len(_publisher(engine).posts) == 2 and len(ids) == 1


async def test_a_channel_whose_feeds_did_not_report_the_new_source_is_not_updated(
    engine: Engine, site: Site
) -> None:
    await _merged_story(engine, site, [PUBLIC, BOTH])
    posts = [p for p in _publisher(engine).posts if p.channel_id == PUBLIC]
    assert [p.kind for p in posts] == ["post"], "nothing new from the public channel's feeds"


async def test_a_feed_name_is_the_channels_own(engine: Engine, site: Site) -> None:
    public = site.feed("/public.xml", rss("Valley Herald", quake_items(site)))
    await engine.add_feed(PUBLIC, public, "Herald (via lobby)")
    await engine.add_feed(BOTH, public)  # no name: the feed's own title
    await engine.poll_once()
    await engine.deliver_all()
    [mine] = _shown(engine, BOTH)
    [theirs] = _shown(engine, PUBLIC)
    assert [s.publisher for s in mine.sources] == ["Valley Herald"]
    assert [s.publisher for s in theirs.sources] == ["Herald (via lobby)"]
    handler = commands_for(engine)
    listed = await handler.handle("feeds", Asker(BOTH, "u2", is_admin=False))
    assert "Valley Herald" in listed.text and "via lobby" not in listed.text


async def test_more_related_and_buttons_of_another_channel_answer_as_unknown(
    engine: Engine, site: Site
) -> None:
    public = site.feed("/public.xml", rss("Valley Herald", quake_items(site)))
    await engine.add_feed(PRIVATE, public, "Valley Herald")
    await engine.poll_once()
    await engine.deliver_all()
    [briefing] = _shown(engine, PRIVATE)
    handler = commands_for(engine)
    outsider = Asker("console:elsewhere", "u3", is_admin=True)
    for verb in ("more", "related"):
        theirs = await handler.handle(f"{verb} {briefing.id}", outsider)
        unknown = await handler.handle(f"{verb} zzzzzzzz", outsider)
        assert theirs.error and theirs.briefings == []
        assert theirs.text == unknown.text.replace("zzzzzzzz", briefing.id)
    mine = await handler.handle(f"more {briefing.id}", Asker(PRIVATE, "u4", is_admin=False))
    assert not mine.error and [b.id for b in mine.briefings] == [briefing.id]
    for text in ("search varenna earthquake", "quake", "/brief china-ai"):
        reply = await handler.handle(text, outsider)
        assert reply.briefings == [], text


def test_plan_views_keeps_a_briefing_only_for_channels_entitled_to_it() -> None:
    herald, wire = {1: "Herald"}, {1: "Herald", 2: "Wire"}
    # Both channels saw the story alike: one briefing, the story's own id.
    [view] = plan_views("main0000", {"a": herald, "b": herald}, [])
    assert view.briefing_id == "main0000" and view.channels == ("a", "b")
    # A source only "b" follows joins: "a" keeps the briefing it has (its content stays
    # what "a" may read); "b" moves to a briefing of its own.
    routes = [("a", "main0000"), ("b", "main0000")]
    plans = {p.channels: p for p in plan_views("main0000", {"a": herald, "b": wire}, routes)}
    assert plans[("a",)].briefing_id == "main0000"
    assert plans[("b",)].briefing_id != "main0000"
    assert dict(plans[("b",)].labels) == wire
    # The same inputs give the same plan (a repeat after a crash routes to the same ids).
    again = {p.channels: p for p in plan_views("main0000", {"a": herald, "b": wire}, routes)}
    assert again == plans
    # A channel that unsubscribed keeps what it had: the briefing is frozen for it.
    [view] = plan_views("main0000", {"b": wire}, routes)
    assert view.briefing_id not in {"main0000"}


async def test_feed_add_of_a_url_another_tenant_follows_reads_like_a_first_add(
    engine: Engine, site: Site
) -> None:
    other = site.feed("/other.xml", rss("Halden Wire", _wire_items(site)))
    url = site.feed("/public.xml", rss("Valley Herald", quake_items(site)))
    handler = commands_for(engine)
    await handler.handle(f"feed add {other}", Asker(PRIVATE, "a1", is_admin=True))
    first = await handler.handle(f"feed add {url}", Asker(PRIVATE, "a1", is_admin=True))
    second = await handler.handle(f"feed add {url}", Asker(PUBLIC, "a2", is_admin=True))
    assert not first.error and not second.error
    assert "elsewhere" not in second.text and "already follow" not in second.text
    # The answer a first add gives, numbered as this channel's first feed: the shared
    # feed id (2, a global counter) would show that the URL was known before.
    assert "(feed 2)" in first.text
    assert second.text == first.text.replace("(feed 2)", "(feed 1)")
    listed = await handler.handle("feeds", Asker(PUBLIC, "a2", is_admin=True))
    assert listed.text.splitlines()[1].startswith("  1  Valley Herald")
    removed = await handler.handle("feed remove 1", Asker(PUBLIC, "a2", is_admin=True))
    assert not removed.error and "Valley Herald" in removed.text
    assert [f.url for f in engine.store.channel_feeds(PRIVATE)] == [other, url]
    # And the channel gets the newest stories as a first add would give it.
    assert engine.store.deliveries(PUBLIC), "the newest briefing of the feed is routed here"


async def test_feed_urls_with_credentials_are_whole_for_admins_only(engine: Engine) -> None:
    from tests.support.news import START

    store = engine.store
    url = "https://wire.example/rss?category=world&api_key=s3cr3tk3y&sig=ab12cd"
    feed, _ = store.add_feed(url, name=None, now=START)
    store.ensure_channel(PUBLIC, START)
    store.subscribe(PUBLIC, feed.id, START, name="Wire")
    handler = commands_for(engine)
    member = await handler.handle("feeds", Asker(PUBLIC, "m", is_admin=False))
    assert "s3cr3tk3y" not in member.text and "ab12cd" not in member.text
    assert "https://wire.example/rss?category=world&api_key=" in member.text
    admin = await handler.handle("feeds", Asker(PUBLIC, "a", is_admin=True))
    assert url in admin.text
    exported = await handler.handle("export", Asker(PUBLIC, "a", is_admin=True))
    assert "s3cr3tk3y" in (exported.attachment or "")


async def test_the_related_list_of_more_shows_only_this_channels_briefings(
    engine: Engine,
) -> None:
    from bot.models import Bullet, DeliveryState, RelatedRef

    store = engine.store

    def routed(bid: str, headline: str, channel: str, related: list[RelatedRef]) -> Briefing:
        briefing = Briefing(
            id=bid,
            headline=headline,
            lead=headline + ".",
            bullets=[Bullet(text=f"{headline}, point {n}.") for n in range(3)],
            related=related,
            created_at=START,
            updated_at=START,
        )
        store.save_briefing(briefing)
        store.ensure_channel(channel, START)
        store.enqueue_delivery(
            channel, bid, kind="post", revision=1, state=DeliveryState.SENT, now=START
        )
        return briefing

    theirs = routed("pr1vate0", "Halden Re weighs quake losses", PRIVATE, [])
    mine = routed("publ1c00", "Lowmere harbour wall opens", PUBLIC, [])
    base = routed(
        "base0000",
        "Varenna viaduct reopens to traffic",
        PUBLIC,
        [RelatedRef(id=b.id, headline=b.headline, created_at=START) for b in (theirs, mine)],
    )
    reply = await commands_for(engine).handle(f"more {base.id}", Asker(PUBLIC, "u", False))
    [shown] = reply.briefings
    assert [r.id for r in shown.related] == [mine.id]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://wire.example/rss?api_key=k1&lang=en", "https://wire.example/rss?api_key=…&lang=en"),
        ("https://ana:pw@wire.example/rss", "https://…@wire.example/rss"),
        ("https://s3.example/f.xml?X-Amz-Signature=ab&X-Amz-Credential=cd",
         "https://s3.example/f.xml?X-Amz-Signature=…&X-Amz-Credential=…"),
        ("https://news.example/feeds/3f9a2b7c9d1e4f5a6b7c8d9e0f1a2b3c/rss",
         "https://news.example/feeds/…/rss"),
        ("https://news.example/rss?category=world&page=2", "https://news.example/rss?category=world&page=2"),
        ("https://news.example/rss?authToken=x#top", "https://news.example/rss?authToken=…"),
    ],
)  # fmt: skip
def test_redact_url_masks_credentials_and_keeps_the_rest(url: str, shown: str) -> None:
    from bot.redact import redact_url

    assert redact_url(url) == shown


async def test_briefing_a_merged_story_again_after_a_crash_posts_nothing_twice(
    engine: Engine, site: Site
) -> None:
    await _merged_story(engine, site, [PUBLIC, BOTH])
    ids = {c: [b.id for b in _shown(engine, c)] for c in (PUBLIC, BOTH, PRIVATE)}
    # A process killed after routing but before marking the entry briefed does it again.
    [wire_entry] = [e for e, _, _ in engine.store.story_material(1) if e.feed_id == 2]
    await engine.briefer.process_entry(wire_entry)
    await engine.deliver_all()
    for channel in (PUBLIC, BOTH, PRIVATE):
        posts = [p for p in _publisher(engine).posts if p.channel_id == channel]
        assert [p.kind for p in posts].count("post") == 1, channel
        assert len({p.message_ref for p in posts}) == 1, channel
        assert [b.id for b in _shown(engine, channel)] == ids[channel]


async def test_feed_health_notices_name_the_feed_as_each_channel_does(engine: Engine) -> None:
    from bot.models import FetchState

    store = engine.store
    other, _ = store.add_feed("https://wire.example/other", name=None, now=START)
    feed, _ = store.add_feed("https://wire.example/rss?token=t0k3n", name=None, now=START)
    for channel in (PRIVATE, PUBLIC):
        store.ensure_channel(channel, START)
    store.subscribe(PRIVATE, other.id, START, name="Other wire")
    store.subscribe(PRIVATE, feed.id, START, name="Deals wire (paid)")
    store.subscribe(PUBLIC, feed.id, START)
    for _ in range(engine.settings.failure_notice_after):
        failed = FetchState(next_poll_at=START, ok=False, error="HTTP 401 Unauthorized")
        store.record_fetch(feed.id, failed, START)
    assert await engine.delivery.notify_feed_health() == 2
    texts = {n.channel_id: n.text for n in store.notices()}
    assert texts[PRIVATE].startswith("feed Deals wire (paid) (feed 2) has failed")
    assert texts[PUBLIC].startswith("feed https://wire.example/rss?token=… (feed 1) has failed")
    assert "paid" not in texts[PUBLIC] and "t0k3n" not in texts[PUBLIC]


async def test_importing_a_feed_another_tenant_follows_brings_its_newest_stories(
    engine: Engine, site: Site
) -> None:
    url = site.feed("/public.xml", rss("Valley Herald", quake_items(site)))
    handler = commands_for(engine)
    await handler.handle(f"feed add {url}", Asker(PRIVATE, "a1", is_admin=True))
    opml = (
        '<?xml version="1.0"?><opml version="2.0"><head><title>Desk</title></head><body>'
        f'<outline text="Herald" type="rss" xmlUrl="{url}"/></body></opml>'
    )
    reply = await handler.handle(f"import {opml}", Asker(PUBLIC, "a2", is_admin=True))
    assert not reply.error and "Imported 1 feed" in reply.text
    assert len(engine.store.deliveries(PUBLIC)) == len(engine.store.deliveries(PRIVATE)) == 1
    [delivered] = engine.store.deliveries(PUBLIC)
    briefing = engine.store.get_briefing(delivered.briefing_id)
    assert briefing is not None and [s.publisher for s in briefing.sources] == ["Herald"]
