"""Slack and Discord in one process and one event loop, as ``signaldesk run`` wires them:
a story from a local feed reaches a Slack channel and a Discord channel once each."""

from __future__ import annotations

import asyncio
import io

from adapters.main import assemble
from bot.settings import load_settings
from tests.support.fake_discord_api import CHANNEL_ID, TOKEN, FakeDiscord, fake_discord  # noqa: F401
from tests.support.http import LocalServer, Response
from tests.support.news import QUAKE_FACTS, article_page, date, rss
from tests.support.slack_fake import FakeSlack

SLACK_CHANNEL = "slack:C0SHARED1"
DISCORD_CHANNEL = f"discord:{CHANNEL_ID}"


async def test_slack_and_discord_share_one_process(
    local_server: LocalServer,
    fake_discord: FakeDiscord,  # noqa: F811
) -> None:
    slack = await FakeSlack().start()
    page = local_server.route(
        "/quake.html",
        Response(200, article_page("Quake", QUAKE_FACTS), {"Content-Type": "text/html"}),
    )
    items = [{"title": "Quake damages 240 homes", "link": page, "guid": "q", "date": date(1)}]
    feed = local_server.route(
        "/feed.xml", Response(200, rss("Valley Post", items), {"Content-Type": "application/xml"})
    )
    settings = load_settings(
        database=":memory:",
        allow_private_networks=True,
        slack_bot_token="xoxb-test",
        slack_signing_secret="secret",
        slack_api_url=slack.api_url,
        slack_port=0,
        slack_host="127.0.0.1",
        discord_token=TOKEN,
        discord_api_url=fake_discord.base,
    )
    # Built by the composition root, as ``signaldesk run`` builds it.
    desk = assemble(settings, io.StringIO(), True)
    engine, services = desk.engine, desk.services
    assert sorted(s.platform for s in services) == ["discord", "slack"]
    for service in services:
        await service.start()
    try:
        await engine.add_feed(SLACK_CHANNEL, feed)
        await engine.add_feed(DISCORD_CHANNEL, feed)
        report = await engine.poll_once()
        assert report.briefings and not report.errors
        assert await asyncio.wait_for(engine.deliver_all(), 20) == 2
    finally:
        for service in services:
            await service.stop()
        await desk.aclose()
        await slack.stop()

    slack_posts = slack.calls_to("chat.postMessage", ok=True)
    assert [c.params["channel"] for c in slack_posts] == ["C0SHARED1"]
    discord_posts = fake_discord.posts(CHANNEL_ID)
    assert len(discord_posts) == 1
    assert discord_posts[0].body["allowed_mentions"] == {"parse": []}
    assert "Quake damages 240 homes" in str(slack_posts[0].params["blocks"])
    assert "Quake damages 240 homes" in str(discord_posts[0].body["embeds"])
