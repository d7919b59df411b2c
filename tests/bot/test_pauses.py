"""A channel the bot cannot post in is paused, not failed (issue 17, point 2): its
briefings are held in order, its admins are told why in ``/brief feeds`` and beside
their next command, nothing is retried on a timer faster than hourly, and once the
platform lets the bot back in (an invite, a permission) everything held goes out."""

from __future__ import annotations

from adapters.testing import TestDesk
from bot.errors import CannotPost
from bot.models import DeliveryState
from tests.support.news import VALLEY_RSS as RSS

REASON = "the bot is not a member of this channel: invite it with /invite @SignalDesk"


async def _two_briefings_refused(desk: TestDesk) -> None:
    url = desk.site.serve("/valley.xml", RSS)
    await desk.push(f"/brief feed add {url} Valley Post")
    desk.pop()
    desk.publisher.fail_next = [CannotPost(REASON, code="not_in_channel")]
    await desk.poll()


async def test_refused_channel_holds_its_briefings_and_tells_its_admins() -> None:
    async with TestDesk() as desk:
        await _two_briefings_refused(desk)
        assert desk.posts == []
        rows = desk.desk.store.deliveries("console:general")
        assert len(rows) == 2 and {r.state for r in rows} == {DeliveryState.PENDING}

        await desk.push("/brief feeds")
        feeds = desk.pop()
        assert "Valley Post" in feeds
        assert "Nothing can be posted here since 2026-03-02 09:00 UTC" in feeds
        assert REASON in feeds and "held, not lost" in feeds

        await desk.push("/brief topics")
        assert REASON in desk.pop()  # an admin, who can fix it, is told beside any answer
        await desk.push("/brief topics", admin=False)
        assert REASON not in desk.pop()

        # Not hammered: the publisher would take a post now, but is not asked before
        # the hourly probe (a refusal repeated every few seconds is what gets a bot
        # banned on Discord).
        desk.clock.advance(seconds=30 * 60)
        await desk.poll()
        assert desk.posts == []


async def test_invited_back_the_held_briefings_go_out_in_order() -> None:
    async with TestDesk() as desk:
        await _two_briefings_refused(desk)
        queued = [r.briefing_id for r in desk.desk.store.deliveries("console:general")]

        assert await desk.desk.resume_channel("console", "general") is True
        await desk.desk.engine.deliver_all()
        assert [p.briefing_id for p in desk.posts] == queued
        assert {r.state for r in desk.desk.store.deliveries("console:general")} == {
            DeliveryState.SENT
        }
        await desk.push("/brief feeds")
        assert "Nothing can be posted" not in desk.pop()
        # Nothing else was paused: a resume elsewhere is a no-op.
        assert await desk.desk.resume_channel("console", "general") is False


async def test_the_hourly_probe_reopens_a_channel_fixed_without_an_event() -> None:
    async with TestDesk() as desk:
        await _two_briefings_refused(desk)
        # Still refused at the first probe: paused again, since the first refusal.
        desk.publisher.fail_next = [CannotPost("the bot may not send messages here")]
        desk.clock.advance(seconds=61 * 60)
        await desk.poll()
        assert desk.posts == []
        await desk.push("/brief feeds")
        feeds = desk.pop()
        assert "since 2026-03-02 09:00 UTC: the bot may not send messages here" in feeds

        desk.clock.advance(seconds=61 * 60)  # fixed by hand: the next probe posts
        await desk.poll()
        assert len(desk.posts) == 2
        await desk.push("/brief feeds")
        assert "Nothing can be posted" not in desk.pop()
