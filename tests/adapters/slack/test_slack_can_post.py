"""``feed add``/``import`` on Slack check first that the bot can post in the channel
(issue 17, point 2): ``conversations.info`` says whether it is a member; a public
channel is joined when the app has ``channels:join``; otherwise, or in a private
channel, the admin reads "invite @SignalDesk first" and nothing is added. Real
slack-bolt against the fake Slack Web API, with signed slash commands."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.slack.app import SlackService
from bot.desk import commands_for
from bot.engine import Engine
from tests.support.slack_fake import FakeSlack
from tests.support.slack_requests import command_body, signed_headers
from tests.support.slack_service import ADMIN, RecordingCommands, post, running, slack_settings


@pytest.fixture
async def services() -> AsyncIterator[list[SlackService]]:
    started: list[SlackService] = []
    try:
        yield started
    finally:
        for service in started:
            await service.stop()


async def ask(service: SlackService, fake: FakeSlack, text: str, user: str = ADMIN) -> Any:
    body = command_body(fake, text, user=user)
    status, answer = await post(service, body, signed_headers(body))
    assert status == 200
    return json.loads(answer)


async def test_a_public_channel_without_channels_join_says_what_is_missing(
    fake: FakeSlack, engine: Engine, services: list[SlackService]
) -> None:
    fake.outside.add("C1")
    service = await running(slack_settings(fake), commands_for(engine))
    services.append(service)
    answer = json.dumps(await ask(service, fake, "feed add https://news.example.org/world.rss"))
    assert "/invite @SignalDesk" in answer and "channels:join" in answer
    assert engine.store.list_feeds() == []  # nothing added where it cannot post


async def test_a_public_channel_is_joined_when_the_scope_allows_and_the_command_runs(
    fake: FakeSlack, services: list[SlackService]
) -> None:
    fake.outside.add("C1")
    fake.scopes.add("channels:join")
    commands = RecordingCommands()
    service = await running(slack_settings(fake), commands)
    services.append(service)
    await ask(service, fake, "feed add https://news.example.org/world.rss")
    assert [c.params["channel"] for c in fake.calls_to("conversations.join", ok=True)] == ["C1"]
    assert [text for text, _ in commands.calls] == ["feed add https://news.example.org/world.rss"]


async def test_a_private_channel_is_never_joined_only_an_invite_helps(
    fake: FakeSlack, services: list[SlackService]
) -> None:
    fake.private.add("C1")
    fake.outside.add("C1")
    fake.scopes.add("channels:join")
    commands = RecordingCommands()
    service = await running(slack_settings(fake), commands)
    services.append(service)
    answer = json.dumps(await ask(service, fake, "import https://news.example.org/feeds.opml"))
    assert "/invite @SignalDesk" in answer
    assert commands.calls == [] and not fake.calls_to("conversations.join")
