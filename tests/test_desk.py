"""The shipped test desk (``adapters.testing.TestDesk``) driven as a channel would drive
SignalDesk: commands in, replies and posts out, over the real stages, store and fetch."""

from __future__ import annotations

from adapters.testing import TestDesk

FERRY_TEXT = (
    "The only car ferry to Gull Island will stay out of service for at least three weeks "
    "after inspectors found a 40-centimetre crack in its hull during routine dry dock work, "
    "the operator said on Monday. Islanders will rely on a passenger launch that carries 60 "
    "people and no vehicles. The operator said a replacement vessel had been requested from "
    "a partner line but would not arrive before the end of the month. The island council "
    "called an emergency meeting for Tuesday evening."
)
LIBRARY_TEXT = (
    "Eastfield's central library will open from 11:00 to 16:00 on Sundays from April, the "
    "city said, after a survey of 3,200 residents found weekend hours were the most "
    "requested change. The extra day will be staffed by moving two part-time posts from the "
    "mobile library service, which keeps its weekday routes."
)
ITEM = """<item><guid>{guid}</guid><title>{title}</title><link>{link}</link>
<pubDate>{date}</pubDate><description>{text}</description></item>"""
RSS = f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Valley Post</title><link>https://valleypost.example/</link>
{
    ITEM.format(
        guid="vp-2026-0302-ferry",
        title="Gull Island ferry suspended after hull crack found in dry dock",
        link="https://valleypost.example/news/gull-island-ferry-suspended",
        date="Mon, 02 Mar 2026 07:40:00 GMT",
        text=FERRY_TEXT,
    )
}
{
    ITEM.format(
        guid="vp-2026-0302-library",
        title="Eastfield library to open on Sundays from April",
        link="https://valleypost.example/news/eastfield-library-sundays",
        date="Mon, 02 Mar 2026 06:15:00 GMT",
        text=LIBRARY_TEXT,
    )
}
</channel></rss>"""

FERRY = "Gull Island ferry suspended after hull crack found in dry dock"


async def test_a_feed_added_polls_posts_and_more_shows_the_briefing() -> None:
    async with TestDesk() as desk:
        url = desk.site.serve("/valley.xml", RSS)
        await desk.push(f"/brief feed add {url} Valley Post")
        assert desk.pop().startswith("Added “Valley Post” (feed 1): 2 entries")
        await desk.poll()

        posted = {p.text: p.briefing_id for p in desk.posts if p.kind == "post"}
        assert FERRY in posted and len(posted) == 2
        await desk.push(f"/brief more {posted[FERRY]}")
        shown = desk.pop()
        assert FERRY in shown
        assert "three weeks" in shown and "Valley Post" in shown

        await desk.push("/brief feeds")
        assert "Valley Post" in desk.pop()


async def test_a_channel_cannot_read_another_channels_briefing() -> None:
    async with TestDesk() as desk:
        url = desk.site.serve("/valley.xml", RSS)
        await desk.push(f"/brief feed add {url}")
        desk.pop()
        await desk.poll()
        ferry = next(p.briefing_id for p in desk.posts if p.text == FERRY)

        # Another channel, following nothing: the id answers as an unknown one would,
        # and search finds nothing there.
        await desk.push(f"/brief more {ferry}", channel="console:elsewhere")
        assert desk.pop().startswith(f"error: no briefing with id '{ferry}'")
        await desk.push("/brief search ferry", channel="console:elsewhere")
        assert "No briefings match" in desk.pop()
        await desk.push("/brief search ferry")
        assert FERRY in desk.pop()


async def test_a_url_that_is_not_a_feed_is_refused_and_not_followed() -> None:
    async with TestDesk() as desk:
        await desk.push(f"/brief feed add {desk.site.base}/gone.xml")
        reply = desk.pop()
        assert "The feed was not added." in reply and "404" in reply
        await desk.push("/brief feeds")
        assert "gone.xml" not in desk.pop()
        await desk.push("/brief feed add https://valleypost.example/rss.xml", admin=False)
        assert desk.pop() == "error: only channel admins can add feeds"
