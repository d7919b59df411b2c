"""The real ``SlackService`` (slack-bolt) started against the fake Slack for a test, with a
stand-in for the core where a test must control timing or see who asked."""

from __future__ import annotations

import asyncio
from typing import Any

from adapters.slack.app import SlackService
from adapters.slack.installations import SlackStorage
from bot.commands import Asker
from bot.models import Reply
from bot.settings import Settings, load_settings
from tests.support.slack_fake import FakeSlack
from tests.support.slack_requests import SECRET
from tests.support.slack_requests import post as post_to

WAIT = 5.0  # upper bound for events that arrive in milliseconds


class RecordingCommands:
    """Stands in for the core where a test needs to control timing or see the Asker."""

    def __init__(self, reply: Reply | None = None, delay: float = 0.0) -> None:
        self.reply = reply or Reply(text="ok")
        self.delay = delay
        self.calls: list[tuple[str, Asker]] = []

    async def handle(self, text: str, asker: Asker) -> Reply:
        self.calls.append((text, asker))
        await asyncio.sleep(self.delay)
        return self.reply


def slack_settings(fake: FakeSlack, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database": ":memory:",
        "slack_bot_token": "xoxb-test",
        "slack_signing_secret": SECRET,
        "slack_api_url": fake.api_url,
        "slack_host": "127.0.0.1",
        "slack_port": 0,
    }
    return load_settings(**(values | overrides))


async def running(
    settings: Settings, commands: Any, storage: SlackStorage | None = None
) -> SlackService:
    service = SlackService.from_settings(settings, storage, commands)
    await service.start()
    return service


async def post(service: SlackService, body: str, headers: dict[str, str]) -> tuple[int, str]:
    return await post_to(service.port, body, headers)


# ---------------------------------------------------------------------- /brief
