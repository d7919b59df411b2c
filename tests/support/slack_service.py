"""The real ``SlackService`` (slack-bolt) started against the fake Slack for a test, with a
stand-in for the core where a test must control timing or see who asked."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import aiohttp

from adapters.slack.app import SlackService
from adapters.slack.installations import SlackStorage
from bot.commands import Asker
from bot.models import Reply
from bot.settings import Settings, load_settings
from tests.support.slack_fake import FakeSlack
from tests.support.slack_requests import SECRET
from tests.support.slack_requests import post as post_to

WAIT = 5.0  # upper bound for events that arrive in milliseconds
ADMIN = "U9"  # the fake workspace's admin (tests/adapters/slack/conftest.py)


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


def oauth_settings(fake: FakeSlack, database: Path) -> Settings:
    return slack_settings(
        fake,
        database=str(database),
        slack_client_id="111.222",
        slack_client_secret="oauth-secret",
    )


async def install(service: SlackService, fake: FakeSlack, team: str) -> tuple[int, str]:
    """A workspace admin installs the app: the install page's "Add to Slack" link, Slack's
    consent screen (a code for the workspace), the redirect back with the state cookie."""
    fake.oauth_codes[f"code-{team}"] = team
    base = f"http://127.0.0.1:{service.port}"
    async with aiohttp.ClientSession() as session:
        async with session.get(base + "/slack/install") as response:
            assert response.status == 200
            page = await response.text()
            cookie = response.headers["Set-Cookie"].split(";")[0]
        found = re.search(r"[?&;]state=([\w-]+)", page)
        assert found, page
        return await redirect(session, base, f"code-{team}", found[1], cookie)


async def redirect(
    session: aiohttp.ClientSession, base: str, code: str, state: str, cookie: str
) -> tuple[int, str]:
    async with session.get(
        base + "/slack/oauth_redirect",
        params={"code": code, "state": state},
        headers={"Cookie": cookie},
    ) as response:
        return response.status, await response.text()
