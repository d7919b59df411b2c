"""The shipped test desk (``adapters.testing.TestDesk``) driven as a channel would drive
SignalDesk: commands in, replies and posts out, over the real stages, store and fetch."""

from __future__ import annotations

from adapters.testing import TestDesk
from tests.support.news import VALLEY_FERRY as FERRY
from tests.support.news import VALLEY_RSS as RSS


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
