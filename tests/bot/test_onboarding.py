"""Forgiving onboarding: an admin pastes a site's home page or a ``feed://`` link, as
browsers and podcast pages show them, and still gets the feed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlite_utils import Database

from adapters.testing import TestDesk
from bot.discover import feed_links, normalise_feed_url
from bot.ingest import Ingest
from bot.parsegate import ParseGate
from storage import SqliteStore
from storage.migrations import migrations
from tests.support.news import ITEM, VALLEY_RSS

HOME = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Valley Post — news for the valley</title>
<link rel="stylesheet" href="/static/site.css">
<link rel="alternate" type="application/rss+xml" title="Valley Post: all stories" href="{feed}">
<link rel="alternate" hreflang="cy" href="/cy/">
</head><body><h1>Valley Post</h1><p>Ferry suspended; library opens Sundays.</p></body></html>
"""
SECTIONS = """<html><head>
<link rel="alternate" type="application/rss+xml" title="News" href="/news.xml">
<link rel="alternate" type="application/atom+xml" title="Sport" href="sport.atom">
<link rel="alternate" type="application/rss+xml" title="News (again)" href="/news.xml">
<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
</head><body></body></html>"""


def test_feed_urls_browsers_show_are_normalised() -> None:
    assert normalise_feed_url("feed://valleypost.example/rss") == "http://valleypost.example/rss"
    assert normalise_feed_url("feed:https://valleypost.example/rss") == (
        "https://valleypost.example/rss"
    )
    assert normalise_feed_url(" https://valleypost.example/rss ") == (
        "https://valleypost.example/rss"
    )


def test_a_page_names_its_feeds_resolved_deduplicated_and_only_http() -> None:
    links = feed_links(SECTIONS.encode(), "https://valleypost.example/section/")
    assert [(link.url, link.title, link.kind) for link in links] == [
        ("https://valleypost.example/news.xml", "News", "RSS"),
        ("https://valleypost.example/section/sport.atom", "Sport", "Atom"),
    ]
    assert feed_links(b"", "https://valleypost.example/") == []
    assert feed_links(b"\x00\xff not html at all", "https://valleypost.example/") == []


async def test_feed_add_with_a_home_page_adds_the_feed_it_names() -> None:
    async with TestDesk() as desk:
        feed = desk.site.serve("/rss/all.xml", VALLEY_RSS)
        home = desk.site.serve("/", HOME.format(feed="/rss/all.xml"), "text/html; charset=utf-8")
        await desk.push(f"/brief feed add {home}")
        reply = desk.pop()
        assert reply.startswith(f"{home} is a web page; it names the feed {feed}.")
        assert "Added “Valley Post” (feed 1): 2 entries" in reply
        await desk.push("/brief feeds")
        assert feed in desk.pop()


async def test_a_page_with_several_feeds_lists_them_and_adds_none() -> None:
    async with TestDesk() as desk:
        page = desk.site.serve("/section/", SECTIONS, "text/html")
        await desk.push(f"/brief feed add {page}")
        reply = desk.pop()
        assert "is a web page naming 2 feeds" in reply
        assert f"{desk.site.base}/news.xml" in reply and "sport.atom" in reply
        await desk.push("/brief feeds")
        assert "news.xml" not in desk.pop()


async def test_a_page_naming_no_feed_says_so_in_one_line() -> None:
    async with TestDesk() as desk:
        page = desk.site.serve("/about", "<html><body><p>About us</p></body></html>", "text/html")
        await desk.push(f"/brief feed add {page}")
        reply = desk.pop_reply()
        assert reply.error and "is a web page, not a feed, and it names no feed" in reply.text
        assert "\n" not in reply.text


async def test_a_feed_scheme_link_is_added_as_http() -> None:
    async with TestDesk() as desk:
        url = desk.site.serve("/valley.xml", VALLEY_RSS)
        await desk.push("/brief feed add " + url.replace("http://", "feed://", 1))
        assert desk.pop().startswith("Added “Valley Post” (feed 1)")


async def test_a_changed_default_interval_reaches_feeds_added_before_it() -> None:
    # Added while the default was 15 minutes; the operator then sets an hour.
    async with TestDesk(poll_interval=900) as before:
        url = before.site.serve("/valley.xml", VALLEY_RSS)
        await before.push(f"/brief feed add {url}")
        before.pop()
        (feed,) = before.desk.store.list_feeds()
        assert feed.next_poll_at - before.clock.now() == timedelta(seconds=900)
        store = before.desk.store
        settings = before.settings.model_copy(update={"poll_interval": 3600})
        ingest = Ingest(
            settings,
            store,
            before.desk.engine.db,
            fetcher=before.desk.engine.fetcher,
            clock=before.clock,
            briefer=before.desk.engine.briefer,
            parse_gate=ParseGate(),
        )
        await ingest.poll_feed(feed)
        (feed,) = store.list_feeds()
        assert feed.next_poll_at - before.clock.now() == timedelta(seconds=3600)


def test_feeds_stored_by_older_versions_follow_the_setting_after_the_upgrade(
    tmp_path: Path,
) -> None:
    database = tmp_path / "old.db"
    db = Database(database)
    migrations.apply(db, stop_before="m016_feeds_follow_the_default_interval")
    db.execute(
        "INSERT INTO feeds (url, interval_seconds, next_poll_at, created_at) VALUES "
        "('https://valleypost.example/rss', 900, '2026-03-02T07:00:00+00:00', "
        "'2026-03-01T07:00:00+00:00')"
    )
    db.conn.commit()
    db.close()
    store = SqliteStore.open(database)
    try:
        (feed,) = store.list_feeds()
    finally:
        store.close()
    assert feed.interval_seconds == 0


BRIDGE_ITEM = ITEM.format(
    guid="vp-2026-0302-bridge",
    title="Mill Lane bridge reopens to traffic a week early",
    link="https://valleypost.example/news/mill-lane-bridge-reopens",
    date="Mon, 02 Mar 2026 09:05:00 GMT",
    text=(
        "Mill Lane bridge reopened to cars and buses at 9am on Monday, a week ahead of "
        "schedule, after resurfacing finished early in dry weather, the county council said."
    ),
)


async def test_feed_refresh_checks_a_feed_now_once_a_minute_at_most() -> None:
    async with TestDesk() as desk:
        url = desk.site.serve("/valley.xml", VALLEY_RSS)
        await desk.push(f"/brief feed add {url} Valley Post")
        desk.pop()
        await desk.push("/brief feed refresh 1")  # just checked by feed add
        assert desk.pop().startswith("error: “Valley Post” (feed 1) was checked 0 s ago")

        desk.clock.advance(seconds=90)
        await desk.push("/brief feed refresh 1")
        assert desk.pop() == "Checked “Valley Post” (feed 1) now: nothing new."

        desk.clock.advance(seconds=90)  # long before its turn (the default: 10 minutes)
        desk.site.serve("/valley.xml", VALLEY_RSS.replace("</channel>", BRIDGE_ITEM + "</channel>"))
        await desk.push("/brief feed refresh 1")
        assert desk.pop() == (
            "Checked “Valley Post” (feed 1) now: 1 new entry, 1 briefing made or updated."
        )
        await desk.desk.engine.deliver_all()
        assert "Mill Lane bridge reopens to traffic a week early" in [p.text for p in desk.posts]


async def test_feed_refresh_of_a_failing_feed_says_why_and_who_may_ask() -> None:
    async with TestDesk() as desk:
        url = desk.site.serve("/valley.xml", VALLEY_RSS)
        await desk.push(f"/brief feed add {url}")
        desk.pop()
        del desk.site.pages["/valley.xml"]  # the site moved it
        desk.clock.advance(seconds=120)
        await desk.push("/brief feed refresh 1")
        reply = desk.pop()
        assert reply.startswith("error: “Valley Post” (feed 1) still fails: HTTP 404")
        assert "\n" not in reply

        desk.site.serve("/valley.xml", VALLEY_RSS)  # put back: no waiting out the back-off
        desk.clock.advance(seconds=120)
        await desk.push("/brief feed refresh 1")
        assert desk.pop() == "Checked “Valley Post” (feed 1) now: nothing new."
        await desk.push("/brief feeds")
        assert "ok, last success" in desk.pop()

        await desk.push("/brief feed refresh 1", admin=False)
        assert desk.pop() == "error: only channel admins can refresh feeds"
        await desk.push("/brief feed refresh 7")
        assert desk.pop().startswith("error: this channel follows no feed '7'")
