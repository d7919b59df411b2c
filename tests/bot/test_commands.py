"""The /brief grammar and its handlers, against a real SqliteStore and a real Engine.

Feeds are served by the ``local_server`` fixture; briefings for search, more and related
are written straight into the store and routed to the channels that follow their feed
(a channel sees only briefings routed to it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.testing import RecordingPublisher
from bot.commands import (
    HELP_TEXT,
    MAX_TEXT,
    Asker,
    CommandHandler,
    Export,
    FeedAdd,
    FeedRemove,
    FilterAdd,
    FilterClear,
    Help,
    Import,
    ListFeeds,
    ListTopics,
    ModeDigest,
    ModeRealtime,
    More,
    Related,
    Search,
    ShowFilters,
    ShowTopic,
    TopicAdd,
    TopicAdopt,
    TopicRemove,
    Usage,
    parse_command,
    pick_related,
    rank_search,
    usage,
)
from bot.desk import commands_for
from bot.engine import Engine
from bot.fetch import Fetcher
from bot.models import (
    Briefing,
    Bullet,
    DeliveryMode,
    DeliveryState,
    FeedEntry,
    FetchState,
    Source,
    StoryDoc,
    Visibility,
)
from bot.opml import parse_opml
from bot.settings import load_settings
from storage import SqliteStore
from storage.database import StoreRunner
from tests.support.clock import FakeClock
from tests.support.http import LocalServer, Response

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
CHANNEL = "console:desk"
ADMIN = Asker(CHANNEL, "ada", is_admin=True)
MEMBER = Asker(CHANNEL, "bo", is_admin=False)


def rss(title: str, count: int, *, stem: str = "Tidal turbine array") -> str:
    items = "".join(
        f"""<item><title>{escape(stem)} reaches stage {i}</title>
<link>https://coast.example/{i}</link><guid>coast-{i}</guid>
<pubDate>Mon, 0{i} Mar 2026 09:00:00 GMT</pubDate>
<description>Engineers in the fictional port of Selby Reach switched on stage {i} of a
tidal turbine array on Monday. The array now powers {i * 400} homes, operators said.
A further stage is planned for the autumn.</description></item>"""
        for i in range(1, count + 1)
    )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>{escape(title)}</title>
<link>https://coast.example/</link>{items}</channel></rss>"""


@dataclass
class Desk:
    engine: Engine
    store: SqliteStore
    handler: CommandHandler
    server: LocalServer
    clock: FakeClock
    publisher: RecordingPublisher

    async def run(self, text: str, asker: Asker = MEMBER) -> str:
        reply = await self.handler.handle(text, asker)
        return reply.text

    def follow(self, url: str = "https://wire.example/feed", name: str = "Wire") -> int:
        """A feed the channel follows, without fetching it."""
        feed, _ = self.store.add_feed(url, name=name, now=NOW)
        self.store.ensure_channel(CHANNEL, NOW)
        self.store.subscribe(CHANNEL, feed.id, NOW)
        return feed.id

    def brief(
        self,
        feed_id: int,
        headline: str,
        *,
        lead: str = "",
        created: datetime = NOW,
        sources: int = 1,
        story_of: Briefing | None = None,
        key: str | None = None,
        routed: bool = True,
    ) -> Briefing:
        """A briefing stored as the pipeline would: an entry, its story, the briefing."""
        [entry] = self.store.add_entries(
            feed_id, [FeedEntry(guid=key or headline, title=headline)], created
        )
        if story_of is None:
            story = self.store.create_story(entry, StoryDoc(title=headline), created)
            briefing_id, story_id = story.briefing_id, story.id
        else:
            briefing_id, story_id = (key or "copy")[:8], story_of.story_id
        briefing = Briefing(
            id=briefing_id,
            story_id=story_id,
            headline=headline,
            lead=lead or headline + ".",
            bullets=[Bullet(text=f"Point {n} about {headline}") for n in range(3)],
            sources=[
                Source(publisher=f"Outlet {n}", title=headline, url=f"https://o{n}.example/a")
                for n in range(sources)
            ],
            created_at=created,
            updated_at=created,
        )
        self.store.save_briefing(briefing)
        # Routed as the pipeline routes: to every channel that follows the feed.
        for channel in self.store.channels_for_feeds([feed_id]) if routed else []:
            self.store.enqueue_delivery(
                channel.id,
                briefing.id,
                kind="post",
                revision=briefing.revision,
                state=DeliveryState.SENT,
                now=created,
            )
        return briefing


def _engine(
    store: SqliteStore, clock: FakeClock, publisher: RecordingPublisher, **overrides: object
) -> Engine:
    options: dict[str, object] = {
        "database": ":memory:",
        "allow_private_networks": True,
        "fetch_pages": False,
    }
    options.update(overrides)
    transport = options.pop("transport", None)
    settings_ = load_settings(**options)
    fetcher = Fetcher(settings_, transport=transport)  # type: ignore[arg-type]
    return Engine(
        settings_,
        store,
        fetcher=fetcher,
        publishers={"console": publisher},
        clock=clock,
        runner=StoreRunner(store),
    )


@pytest.fixture
async def desk(local_server: LocalServer) -> AsyncIterator[Desk]:
    store = SqliteStore.open(":memory:")
    clock = FakeClock(NOW)
    publisher = RecordingPublisher()
    engine = _engine(store, clock, publisher)
    yield Desk(engine, store, commands_for(engine), local_server, clock, publisher)
    await engine.aclose()
    store.close()


# ======================================================================== grammar


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Help()),
        ("/brief", Help()),
        ("  /brief   help ", Help()),
        ("HELP", Help()),
        ("/brief china-ai", ShowTopic("china-ai")),
        ("#China-AI", ShowTopic("china-ai")),
        ("search china-ai", Search("china-ai")),
        ('/brief search  "tidal  power', Search('"tidal power')),
        ("more ABC234xy", More("abc234xy")),
        ("related abc234xy", Related("abc234xy")),
        ("topics", ListTopics()),
        ("feeds", ListFeeds()),
        ("filter", ShowFilters()),
        ("feed add https://a.example/rss", FeedAdd("https://a.example/rss")),
        ("feed add https://a.example/rss Port News", FeedAdd("https://a.example/rss", "Port News")),
        ("feed remove 7", FeedRemove("7")),
        ("feed rm #7", FeedRemove("7")),
        (
            "topic add china-ai (china OR chinese) AND ai",
            TopicAdd("china-ai", "(china OR chinese) AND ai"),
        ),
        ("topic remove china-ai", TopicRemove("china-ai")),
        ("topic adopt all", TopicAdopt("all")),
        ("mode realtime", ModeRealtime()),
        ("mode digest 8:05", ModeDigest("08:05")),
        ("mode digest 18:30 Europe/Berlin", ModeDigest("18:30", "Europe/Berlin")),
        ("filter include ai, open source", FilterAdd("include", ("ai", "open source"))),
        ("filter exclude Crypto NFT", FilterAdd("exclude", ("crypto", "nft"))),
        ("filter clear", FilterClear()),
        ("export", Export()),
        ("import https://a.example/list.opml", Import(url="https://a.example/list.opml")),
        ("import\n<opml version='2.0'/>", Import(opml="<opml version='2.0'/>")),
    ],
)
def test_parse_reads_every_command(text: str, expected: object) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "more",
        "more a b",
        "more not-an-id!",
        "related",
        "search",
        "search    ",
        "topics now",
        "feed",
        "feed add",
        "feed fly https://a.example",
        "feed remove",
        "topic",
        "topic add china-ai",
        "topic add China_AI china",
        "topic add feeds anything",
        "topic add " + "a" * 41 + " x",
        "topic remove",
        "mode",
        "mode weekly",
        "mode digest",
        "mode digest 25:00",
        "mode digest 8pm",
        "mode digest 08:00 Europe/Berlin extra",
        "filter include",
        "filter include , ,",
        "filter sort",
        "import",
        "import two urls",
        "what is new today",
        "ümlaut!",
        "search " + "x" * MAX_TEXT,
    ],
)
def test_parse_bad_input_gives_a_one_line_usage(text: str) -> None:
    command = parse_command(text)
    assert isinstance(command, Usage)
    assert command.hint and "\n" not in command.hint


def test_the_help_is_built_from_the_grammar_table() -> None:
    from bot.commands.grammar import VERBS

    for verb in VERBS:
        for form in (*verb.member, *verb.admin):
            assert form in HELP_TEXT, form
        for word in verb.words:  # every command word reaches its own parser
            command = parse_command(word)
            assert not (isinstance(command, Usage) and "unknown command" in command.hint), word
    assert parse_command("import <opml/>") == Import(opml="<opml/>")  # text, not a link
    assert parse_command("feed add https://a.example/rss") == FeedAdd("https://a.example/rss")


def test_usage_lists_every_command() -> None:
    assert usage() == HELP_TEXT
    for word in ("search", "more", "related", "topics", "feeds", "feed add", "feed remove",
                 "topic add", "topic remove", "mode realtime", "mode digest", "filter",
                 "export", "import"):  # fmt: skip
        assert word in HELP_TEXT


@given(st.text(max_size=700))
def test_parse_never_raises(text: str) -> None:
    assert parse_command(text) is not None
    assert parse_command("/brief " + text) is not None


WORDS = ["feed", "add", "remove", "topic", "adopt", "mode", "digest", "realtime", "filter",
         "include", "exclude", "clear", "search", "more", "related", "import", "export", "all",
         "08:00", "25:99", "Europe/Berlin", "Nowhere/City", "https://a.example/x", "ftp://x",
         '"', "(", ")", "AND", "OR", "NOT", "*", "china-ai", "<opml>", "#7", "7", ","]  # fmt: skip


@given(st.lists(st.sampled_from(WORDS) | st.text(max_size=12), max_size=8))
def test_parse_never_raises_on_near_commands(parts: list[str]) -> None:
    assert parse_command(" ".join(parts)) is not None


# ====================================================================== dispatcher


async def test_help_for_empty_and_help(desk: Desk) -> None:
    for text in ("/brief", "/brief help", ""):
        reply = await desk.handler.handle(text, MEMBER)
        assert reply.text == HELP_TEXT and not reply.error
        assert reply.visibility == Visibility.ASKER


async def test_bad_input_is_a_one_line_error_to_the_asker(desk: Desk) -> None:
    reply = await desk.handler.handle("/brief mode digest 25:00", ADMIN)
    assert reply.error and reply.visibility == Visibility.ASKER
    assert "\n" not in reply.text and "25:00" in reply.text and "08:30" in reply.text
    reply = await desk.handler.handle("/brief what is new", MEMBER)
    assert reply.error and "/brief search what is new" in reply.text


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("feed add https://a.example/rss", "add feeds"),
        ("feed remove 1", "remove feeds"),
        ("topic add chips nvidia", "add topics"),
        ("topic remove chips", "remove topics"),
        ("topic adopt all", "adopt topics"),
        ("mode realtime", "change the delivery mode"),
        ("mode digest 08:00", "change the delivery mode"),
        ("filter include ai", "change filters"),
        ("filter clear", "change filters"),
        ("export", "export the feed list"),
        ("import https://a.example/list.opml", "import feeds"),
    ],
)
async def test_admin_commands_refuse_members(desk: Desk, text: str, action: str) -> None:
    reply = await desk.handler.handle(text, MEMBER)
    assert reply.error and reply.text == f"only channel admins can {action}"
    assert desk.store.channel_feeds(CHANNEL) == []
    assert desk.store.get_channel(CHANNEL) is None  # nothing was written


async def test_handle_survives_an_unexpected_failure(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    desk.store.channel_topics = broken  # type: ignore[method-assign]
    reply = await desk.handler.handle("topics", MEMBER)
    assert reply.error and "went wrong" in reply.text and "disk" not in reply.text
    assert "disk on fire" in caplog.text


# --------------------------------------------------------------------- feed add


async def test_feed_add_polls_once_and_reports_title_and_entries(desk: Desk) -> None:
    url = desk.server.route("/coast.xml", Response(body=rss("Coastal Ledger", 6)))
    reply = await desk.handler.handle(f"/brief feed add {url}", ADMIN)
    assert not reply.error, reply.text
    assert "Coastal Ledger" in reply.text and "6 entries" in reply.text
    [feed] = desk.store.channel_feeds(CHANNEL)
    assert feed.url == url and feed.primed
    # The flood guard: a six-entry backlog briefs at most the newest three.
    assert 1 <= len(desk.store.deliveries(CHANNEL)) <= 3


async def test_feed_add_keeps_the_given_name(desk: Desk) -> None:
    url = desk.server.route("/coast.xml", Response(body=rss("Coastal Ledger", 1)))
    reply = await desk.handler.handle(f"feed add {url} Ledger Desk", ADMIN)
    assert "“Ledger Desk”" in reply.text


async def test_feed_add_duplicate(desk: Desk) -> None:
    url = desk.server.route("/coast.xml", Response(body=rss("Coastal Ledger", 2)))
    await desk.handler.handle(f"feed add {url}", ADMIN)
    reply = await desk.handler.handle(f"feed add {url}", ADMIN)
    assert reply.error and "already follows" in reply.text
    assert len(desk.store.channel_feeds(CHANNEL)) == 1


async def test_feed_add_feed_known_from_another_channel(desk: Desk) -> None:
    url = desk.server.route("/coast.xml", Response(body=rss("Coastal Ledger", 2)))
    first = await desk.handler.handle(f"feed add {url}", Asker("console:other", "x", True))
    requests = len(desk.server.requests)
    reply = await desk.handler.handle(f"feed add {url}", ADMIN)
    assert not reply.error and "Coastal Ledger" in reply.text
    # Polled like any first add, and answered alike: nothing tells the admin that
    # another channel follows the URL.
    assert len(desk.server.requests) == requests + 1
    assert reply.text == first.text
    # The newest stories, as the first channel got them.
    assert len(desk.store.deliveries(CHANNEL)) == len(desk.store.deliveries("console:other")) > 0


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://files.example/feed", "only http and https"),
        ("https://user:pw@a.example/feed", "user name or password"),
        ("not-a-url", "only http and https"),
        ("https://", "no host"),
    ],
)
async def test_feed_add_bad_url(desk: Desk, url: str, reason: str) -> None:
    reply = await desk.handler.handle(f"feed add {url}", ADMIN)
    assert reply.error and reason in reply.text
    assert desk.store.channel_feeds(CHANNEL) == []


@pytest.mark.parametrize(
    ("route", "response", "reason"),
    [
        ("/page", Response(body="<html><body><p>Hello</p></body></html>",
                           headers={"Content-Type": "text/html"}), "it names no feed"),
        ("/gone", Response(status=404, body="no"), "HTTP 404"),
        ("/busy", Response(status=503, body="later"), "HTTP 503"),
    ],
)  # fmt: skip
async def test_feed_add_unusable_feed_says_why_and_is_not_added(
    desk: Desk, route: str, response: Response, reason: str
) -> None:
    url = desk.server.route(route, response)
    reply = await desk.handler.handle(f"feed add {url}", ADMIN)
    assert reply.error and reason in reply.text and "not added" in reply.text
    assert "\n" not in reply.text
    assert desk.store.channel_feeds(CHANNEL) == []


async def test_feed_add_too_large(local_server: LocalServer) -> None:
    store = SqliteStore.open(":memory:")
    engine = _engine(store, FakeClock(NOW), RecordingPublisher(), max_response_bytes=10_000)
    url = local_server.route("/big.xml", Response(body=rss("Big", 1) + " " * 20_000))
    reply = await commands_for(engine).handle(f"feed add {url}", ADMIN)
    assert reply.error and "larger than" in reply.text
    await engine.aclose()
    store.close()


async def test_feed_add_refused_address(local_server: LocalServer) -> None:
    store = SqliteStore.open(":memory:")
    engine = _engine(store, FakeClock(NOW), RecordingPublisher(), allow_private_networks=False)
    url = local_server.route("/feed.xml", Response(body=rss("Local", 1)))
    reply = await commands_for(engine).handle(f"feed add {url}", ADMIN)
    assert reply.error and "refused" in reply.text and "loopback" in reply.text
    assert local_server.requests == []  # refused before any connection
    assert store.channel_feeds(CHANNEL) == []
    await engine.aclose()
    store.close()


# ---------------------------------------------------------------- feeds, remove


async def test_feeds_lists_health(desk: Desk) -> None:
    ok = desk.follow("https://ok.example/feed", "Calm Wire")
    bad = desk.follow("https://bad.example/feed", "Shaky Wire")
    desk.store.record_fetch(ok, FetchState(next_poll_at=NOW), NOW)
    for hour in (1, 2, 3):
        failed = FetchState(next_poll_at=NOW, ok=False, error="HTTP 502 Bad Gateway")
        desk.store.record_fetch(bad, failed, NOW + timedelta(hours=hour))
    text = await desk.run("feeds")
    assert "2 feeds" in text
    calm, shaky = text.splitlines()[1:]
    assert "Calm Wire" in calm and "ok, last success 2026-03-04 12:00 UTC" in calm
    assert "Shaky Wire" in shaky and "3 consecutive failures" in shaky
    assert "HTTP 502" in shaky and "2026-03-04 15:00 UTC" in shaky and "last success never" in shaky


async def test_feeds_when_none(desk: Desk) -> None:
    assert "follows no feeds" in await desk.run("feeds")


async def test_feed_remove(desk: Desk) -> None:
    feed_id = desk.follow(name="Calm Wire")
    reply = await desk.handler.handle(f"feed remove {feed_id}", ADMIN)
    assert not reply.error and "Calm Wire" in reply.text
    assert desk.store.channel_feeds(CHANNEL) == []


async def test_feed_remove_unknown_id(desk: Desk) -> None:
    desk.follow()
    other, _ = desk.store.add_feed("https://elsewhere.example/f", name=None, now=NOW)
    for ref in ("99", str(other.id)):  # unknown, and a feed this channel does not follow
        reply = await desk.handler.handle(f"feed remove {ref}", ADMIN)
        assert reply.error and "/brief feeds" in reply.text
    assert len(desk.store.channel_feeds(CHANNEL)) == 1


# ------------------------------------------------------------------------ topics


async def test_topic_add_show_and_remove(desk: Desk) -> None:
    feed = desk.follow()
    for day in range(5):
        desk.brief(feed, f"Turbine output record number {day}", created=NOW - timedelta(days=day))
    desk.brief(feed, "Ferry timetable changes for winter")
    reply = await desk.handler.handle("topic add tides turbine AND (output OR record)", ADMIN)
    assert not reply.error and "Saved topic tides" in reply.text
    shown = await desk.handler.handle("/brief tides", MEMBER)
    assert [b.headline[-1] for b in shown.briefings] == ["0", "1", "2"]  # newest three
    assert "tides: turbine AND (output OR record)" in await desk.run("topics")
    assert not (await desk.handler.handle("topic remove tides", ADMIN)).error
    assert desk.store.channel_topics(CHANNEL) == []


@pytest.mark.parametrize(
    ("query", "explained"),
    [
        ("turbine AND (output", "ends too early"),
        ('"unclosed', "a quote is not closed"),
        ("turbine OR", "ends too early"),
        ("ai-policy", "'policy' after a '-'"),
        ("NOT turbine", 'syntax error near "NOT"'),
        ("*", "cannot start with '*'"),
    ],
)
async def test_topic_add_malformed_query(desk: Desk, query: str, explained: str) -> None:
    reply = await desk.handler.handle(f"topic add tides {query}", ADMIN)
    assert reply.error and reply.text.startswith("not a valid search query: ")
    assert explained in reply.text and "\n" not in reply.text
    assert desk.store.channel_topics(CHANNEL) == []


async def test_topic_add_bad_slug_and_overlong_query(desk: Desk) -> None:
    assert (await desk.handler.handle("topic add Tides_2 turbine", ADMIN)).error
    assert (await desk.handler.handle("topic add search turbine", ADMIN)).error
    reply = await desk.handler.handle("topic add tides " + "turbine OR " * 60 + "x", ADMIN)
    assert reply.error and "too long" in reply.text


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        (" OR ".join(f"{c}*" for c in "abcdefghijklmnopqrstuvwxyz"), "at least 3 letters"),
        ('"ch"* AND ai', "at least 3 letters"),
        (" OR ".join(f"{w}*" for w in ("port", "harb", "ferr", "dock", "ship", "cargo",
                                        "crane", "berth", "quay")), "at most 8 prefix"),
        (" OR ".join(f"word{n}" for n in range(40)), "at most 32 words"),
    ],
)  # fmt: skip
async def test_topic_add_refuses_queries_too_broad_to_run_fast(
    desk: Desk, query: str, problem: str
) -> None:
    reply = await desk.handler.handle(f"topic add wide {query}", ADMIN)
    assert reply.error and problem in reply.text and "\n" not in reply.text
    assert desk.store.channel_topics(CHANNEL) == []


async def test_a_saved_topic_too_broad_to_run_is_refused_at_use(desk: Desk) -> None:
    from bot.models import Topic

    desk.brief(desk.follow(), "Harbour cranes idle as dockworkers strike")
    broad = " OR ".join(f"{c}*" for c in "abcdefghijklmnopqrstuvwxyz")
    desk.store.save_topic(Topic(channel_id=CHANNEL, slug="everything", query=broad))
    reply = await desk.handler.handle("/brief everything", MEMBER)
    assert reply.error and "too broad" in reply.text and "topic add everything" in reply.text
    # The shipped topics stay within the bounds.
    assert not (await desk.handler.handle("/brief china-ai", MEMBER)).error


async def test_search_with_too_many_words_says_so(desk: Desk) -> None:
    text = " ".join(f"harbour{n}" for n in range(20))
    reply = await desk.handler.handle(f"search {text}", MEMBER)
    assert reply.error and "at most 16 words" in reply.text


async def test_topic_remove_unknown(desk: Desk) -> None:
    reply = await desk.handler.handle("topic remove tides", ADMIN)
    assert reply.error and "no topic 'tides'" in reply.text


async def test_unknown_topic_suggests_close_names(desk: Desk) -> None:
    await desk.handler.handle("topic add tidal-power turbine", ADMIN)
    reply = await desk.handler.handle("/brief tidal-powr", MEMBER)
    assert reply.error and "tidal-power" in reply.text and "/brief search tidal-powr" in reply.text
    reply = await desk.handler.handle("/brief chian-ai", MEMBER)
    assert "china-ai" in reply.text
    reply = await desk.handler.handle("/brief zzzzzz", MEMBER)
    assert reply.error and "Did you mean" not in reply.text


async def test_default_topic_works_without_adopting(desk: Desk) -> None:
    feed = desk.follow()
    desk.brief(feed, "Chinese startup unveils a reasoning AI model")
    desk.brief(feed, "Harbour wall reopens after storm")
    reply = await desk.handler.handle("/brief china-ai", MEMBER)
    assert [b.headline for b in reply.briefings] == ["Chinese startup unveils a reasoning AI model"]


async def test_topic_shows_only_this_channels_feeds(desk: Desk) -> None:
    mine = desk.follow()
    other, _ = desk.store.add_feed("https://other.example/f", name="Other", now=NOW)
    desk.brief(other.id, "Chinese chip exports rise on AI demand")
    reply = await desk.handler.handle("/brief china-ai", MEMBER)
    assert reply.briefings == [] and "No briefings on china-ai" in reply.text
    desk.brief(mine, "Chinese AI lab opens a new office")
    reply = await desk.handler.handle("/brief china-ai", MEMBER)
    assert [b.headline for b in reply.briefings] == ["Chinese AI lab opens a new office"]


async def test_topic_adopt(desk: Desk) -> None:
    reply = await desk.handler.handle("topic adopt china-ai", ADMIN)
    assert not reply.error
    assert [t.slug for t in desk.store.channel_topics(CHANNEL)] == ["china-ai"]
    await desk.handler.handle("topic adopt all", ADMIN)
    assert len(desk.store.channel_topics(CHANNEL)) >= 5
    reply = await desk.handler.handle("topic adopt chinaai", ADMIN)
    assert reply.error and "china-ai" in reply.text


# ------------------------------------------------------------------------ search


async def test_search_quotes_user_words(desk: Desk) -> None:
    feed = desk.follow()
    desk.brief(feed, "Regulators weigh china-ai export rules")
    for text in ("search china-ai", 'search "export', "search rules)", "search NOT AND OR"):
        reply = await desk.handler.handle(text, MEMBER)
        assert not reply.error, (text, reply.text)
    reply = await desk.handler.handle("search china-ai", MEMBER)
    assert [b.headline for b in reply.briefings] == ["Regulators weigh china-ai export rules"]


async def test_search_without_words(desk: Desk) -> None:
    reply = await desk.handler.handle("search !!! ???", MEMBER)
    assert reply.error and "at least one word" in reply.text


async def test_search_falls_back_to_any_word(desk: Desk) -> None:
    feed = desk.follow()
    desk.brief(feed, "Ferry strike ends after talks")
    reply = await desk.handler.handle("search ferry volcano", MEMBER)
    assert [b.headline for b in reply.briefings] == ["Ferry strike ends after talks"]


async def test_search_no_results_mentions_missing_feeds(desk: Desk) -> None:
    reply = await desk.handler.handle("search ferry", MEMBER)
    assert not reply.error and "follows no feeds" in reply.text


async def test_search_boosts_recent_and_well_sourced(desk: Desk) -> None:
    feed = desk.follow()
    old = desk.brief(feed, "Glacier survey finds faster melt", created=NOW - timedelta(days=20))
    fresh = desk.brief(
        feed, "Glacier melt survey published", created=NOW - timedelta(hours=2), sources=4
    )
    reply = await desk.handler.handle("search glacier melt survey", MEMBER)
    assert [b.id for b in reply.briefings] == [fresh.id, old.id]


def test_rank_search_keeps_relevance_when_all_else_is_equal() -> None:
    briefings = [
        Briefing(
            id=f"b{n}",
            headline=f"h{n}",
            lead="l",
            bullets=[Bullet(text="x")] * 3,
            created_at=NOW,
            updated_at=NOW,
        )
        for n in range(4)
    ]
    assert [b.id for b in rank_search(briefings, NOW)] == ["b0", "b1", "b2", "b3"]
    assert rank_search([], NOW) == []


# ------------------------------------------------------------------ more, related


async def test_more_gives_the_full_briefing(desk: Desk) -> None:
    briefing = desk.brief(desk.follow(), "Lighthouse keeper retires after 40 years", sources=2)
    reply = await desk.handler.handle(f"more {briefing.id.upper()}", MEMBER)
    assert reply.full and [b.id for b in reply.briefings] == [briefing.id]
    assert len(reply.briefings[0].sources) == 2 and not reply.error


async def test_more_and_related_unknown_id(desk: Desk) -> None:
    for text in ("more abcdefgh", "related abcdefgh"):
        reply = await desk.handler.handle(text, MEMBER)
        assert reply.error and "no briefing with id 'abcdefgh'" in reply.text


async def test_related_across_days_not_the_same_story(desk: Desk) -> None:
    feed = desk.follow()
    base = desk.brief(feed, "Selby Reach tidal turbines reach full power", created=NOW)
    earlier = desk.brief(
        feed, "Selby Reach council approves tidal turbine plan", created=NOW - timedelta(days=30)
    )
    desk.brief(feed, "Selby Reach tidal turbines reach full power", key="dupe-same-story",
               story_of=base)  # fmt: skip
    desk.brief(feed, "Selby Reach tidal turbines reach full power today", key="near-copy")
    desk.brief(feed, "Ferry strike ends after talks")
    reply = await desk.handler.handle(f"related {base.id}", MEMBER)
    assert not reply.error
    lines = reply.text.splitlines()
    assert (
        f"  {earlier.id}  2026-02-02  Selby Reach council approves tidal turbine plan" in lines[1]
    )
    assert len(lines) == 3  # header, the one related briefing, the hint
    assert "Ferry" not in reply.text and "today" not in reply.text


def test_pick_related_needs_more_than_one_shared_word() -> None:
    def b(bid: str, headline: str, story: int) -> Briefing:
        return Briefing(
            id=bid,
            story_id=story,
            headline=headline,
            lead=headline + ".",
            bullets=[Bullet(text="x")] * 3,
            created_at=NOW,
            updated_at=NOW,
        )

    base = b("base", "Ferrolith opens a solid-state battery pilot line", 1)
    hits = [
        b("ferry", "Island ferry operator orders battery ships", 2),  # one word: battery
        b("plant", "Ferrolith battery plant hires 300 workers", 3),  # ferrolith, battery
        b("line", "Ferrolith solid-state battery line passes first audit", 4),  # four words
        b("copy", "Ferrolith opens a solid-state battery pilot line", 5),  # a near-copy
    ]
    assert [x.id for x in pick_related(base, hits)] == ["line", "plant"]
    assert pick_related(base, hits, limit=1)[0].id == "line"


async def test_related_when_nothing_is(desk: Desk) -> None:
    base = desk.brief(desk.follow(), "Lighthouse keeper retires")
    reply = await desk.handler.handle(f"related {base.id}", MEMBER)
    assert not reply.error and "nothing related" in reply.text


# ------------------------------------------------------------------------- modes


async def test_mode_digest_and_unknown_timezone(desk: Desk) -> None:
    reply = await desk.handler.handle("mode digest 07:30 Mars/Olympus_Mons", ADMIN)
    assert reply.error and "unknown timezone 'Mars/Olympus_Mons'" in reply.text
    reply = await desk.handler.handle("mode digest 07:30 ../../etc/passwd", ADMIN)
    assert reply.error and "unknown timezone" in reply.text
    reply = await desk.handler.handle("mode digest 7:30 Asia/Tokyo", ADMIN)
    assert not reply.error and "07:30 (Asia/Tokyo)" in reply.text
    assert "Next: 2026-03-05 07:30 JST" in reply.text
    channel = desk.store.get_channel(CHANNEL)
    assert channel is not None and channel.mode == DeliveryMode.DIGEST
    assert (channel.digest_time, channel.timezone, channel.last_digest_at) == (
        "07:30",
        "Asia/Tokyo",
        NOW,
    )
    # Changing the time keeps the record of the last digest.
    desk.clock.current = NOW + timedelta(hours=1)
    await desk.handler.handle("mode digest 09:00", ADMIN)
    channel = desk.store.get_channel(CHANNEL)
    assert channel is not None and channel.last_digest_at == NOW
    assert channel.timezone == "Asia/Tokyo"


async def test_mode_realtime_posts_what_was_held(desk: Desk) -> None:
    feed = desk.follow()
    await desk.handler.handle("mode digest 08:00", ADMIN)
    held = [desk.brief(feed, f"Held story {n}", routed=False) for n in range(2)]
    for briefing in held:
        desk.store.enqueue_delivery(
            CHANNEL, briefing.id, kind="post", revision=1, state=DeliveryState.HELD, now=NOW
        )
    reply = await desk.handler.handle("mode realtime", ADMIN)
    assert not reply.error and "2 briefings held" in reply.text
    [digest] = desk.publisher.of_kind("digest")
    assert sorted(digest.briefing_ids) == sorted(b.id for b in held)
    assert desk.store.held_deliveries(CHANNEL) == []
    channel = desk.store.get_channel(CHANNEL)
    assert channel is not None and channel.mode == DeliveryMode.REALTIME


# ------------------------------------------------------------------------ filters


async def test_filters(desk: Desk) -> None:
    assert "No filters" in await desk.run("filter")
    await desk.handler.handle("filter include tidal, wave power", ADMIN)
    await desk.handler.handle("filter exclude Crypto", ADMIN)
    await desk.handler.handle("filter include tidal", ADMIN)  # no duplicates
    channel = desk.store.get_channel(CHANNEL)
    assert channel is not None
    assert channel.include_words == ["tidal", "wave power"]
    assert channel.exclude_words == ["crypto"]
    text = await desk.run("filter", MEMBER)
    assert "tidal, wave power" in text and "crypto" in text
    await desk.handler.handle("filter clear", ADMIN)
    channel = desk.store.get_channel(CHANNEL)
    assert channel is not None and channel.include_words == channel.exclude_words == []


# --------------------------------------------------------------- export, import


async def test_export_is_opml_of_the_channels_feeds(desk: Desk) -> None:
    desk.follow("https://a.example/feed", "Alpha & Co <News>")
    desk.follow("https://b.example/feed?x=1&y=2", "Beta")
    reply = await desk.handler.handle("export", ADMIN)
    assert reply.attachment_name == "signaldesk-console-desk.opml"
    assert reply.attachment is not None
    assert parse_opml(reply.attachment) == [
        ("https://a.example/feed", "Alpha & Co <News>"),
        ("https://b.example/feed?x=1&y=2", "Beta"),
    ]


OPML = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>Mine</title></head><body>
  <outline text="Tech">
    <outline type="rss" text="Gamma" xmlUrl="https://g.example/rss"/>
    <outline type="rss" text="Delta" xmlUrl="https://d.example/rss"/>
  </outline>
  <outline type="rss" text="Known" xmlUrl="https://wire.example/feed"/>
  <outline type="rss" text="Sneaky" xmlUrl="file:///etc/passwd"/>
  <outline type="rss" text="Creds" xmlUrl="https://u:p@c.example/rss"/>
</body></opml>"""


async def test_import_pasted_opml_reports_added_duplicate_refused(desk: Desk) -> None:
    desk.follow()  # https://wire.example/feed
    reply = await desk.handler.handle("/brief import " + OPML, ADMIN)
    assert not reply.error, reply.text
    head, *rest = reply.text.splitlines()
    assert head == "Imported 2 feeds; 1 skipped as duplicate; 2 refused."
    assert "Added: Gamma, Delta" in rest
    assert "Duplicate: Known" in rest
    assert any(line.startswith("Refused: Sneaky (refused: only http") for line in rest)
    urls = {f.url for f in desk.store.channel_feeds(CHANNEL)}
    assert urls == {"https://wire.example/feed", "https://g.example/rss", "https://d.example/rss"}
    again = await desk.handler.handle("import " + OPML, ADMIN)
    assert again.text.startswith("Imported 0 feeds; 3 skipped as duplicate")


async def test_import_from_url(desk: Desk) -> None:
    url = desk.server.route("/list.opml", Response(body=OPML))
    reply = await desk.handler.handle(f"import {url}", ADMIN)
    assert reply.text.startswith("Imported 3 feeds;")


async def test_import_bad_inputs(desk: Desk) -> None:
    gone = desk.server.url("/missing.opml")
    cases = {
        f"import {gone}": "HTTP 404",
        "import ftp://x.example/list.opml": "only http and https",
        "import <opml><body><outline": "not a readable OPML",
        "import <html><body/></html>": "not an OPML file",
        "import <opml version='2.0'><body/></opml>": "lists no feeds",
        'import <!DOCTYPE opml [<!ENTITY a "b">]><opml/>': "DOCTYPE",
    }
    for text, reason in cases.items():
        reply = await desk.handler.handle(text, ADMIN)
        assert reply.error and reason in reply.text, (text, reply.text)
    assert desk.store.channel_feeds(CHANNEL) == []


# ---------------------------------------------------------- the dispatcher is total


@pytest.fixture
def offline_handler() -> Iterator[tuple[CommandHandler, asyncio.AbstractEventLoop]]:
    """A handler whose fetcher answers every URL with 404 without touching a socket, so
    that random ``feed add`` and ``import`` URLs are harmless."""
    loop = asyncio.new_event_loop()
    store = SqliteStore.open(":memory:")
    transport = httpx.MockTransport(lambda request: httpx.Response(404))
    engine = _engine(store, FakeClock(NOW), RecordingPublisher(), transport=transport)
    feed, _ = store.add_feed("https://wire.example/feed", name="Wire", now=NOW)
    store.ensure_channel(CHANNEL, NOW)
    store.subscribe(CHANNEL, feed.id, NOW)
    yield commands_for(engine), loop
    loop.run_until_complete(engine.aclose())
    loop.close()
    store.close()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.text(max_size=300) | st.lists(st.sampled_from(WORDS), max_size=6).map(" ".join),
    admin=st.booleans(),
)
def test_handle_never_raises(
    offline_handler: tuple[CommandHandler, asyncio.AbstractEventLoop], text: str, admin: bool
) -> None:
    handler, loop = offline_handler
    reply = loop.run_until_complete(handler.handle(text, Asker(CHANNEL, "u", admin)))
    assert reply.visibility == Visibility.ASKER
    if reply.error:
        assert reply.text and "\n" not in reply.text
