"""Slack start-up faults are one line naming the setting (issue 17, point 8): a bot
token Slack rejects (``auth.test`` at start, single workspace), an app-level token
Socket Mode cannot connect with, Slack unreachable, and a busy HTTP port. Real
slack-bolt/slack-sdk against the fake Slack Web API; the errors are ``ConfigError``,
which ``signaldesk serve`` prints as one line and exits 1."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest

from adapters.slack.app import SlackService
from bot.errors import ConfigError
from tests.slack_fake import Failure, FakeSlack
from tests.test_slack_app import RecordingCommands, slack_settings


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = await FakeSlack().start()
    try:
        yield server
    finally:
        await server.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_rejected_bot_token_stops_http_mode_at_start(fake: FakeSlack) -> None:
    fake.fail("auth.test", Failure(error="invalid_auth"))
    service = SlackService.from_settings(slack_settings(fake), None, RecordingCommands())
    with pytest.raises(ConfigError) as err:
        await service.start()
    assert "SLACK_BOT_TOKEN" in str(err.value) and "\n" not in str(err.value)
    assert service.port == 0  # never started listening


async def test_a_rejected_app_token_stops_socket_mode_with_one_line(fake: FakeSlack) -> None:
    fake.fail("apps.connections.open", Failure(error="invalid_auth"))
    settings = slack_settings(fake, slack_app_token="xapp-1-bad", slack_signing_secret=None)
    service = SlackService.from_settings(settings, None, RecordingCommands())
    with pytest.raises(ConfigError) as err:
        await service.start()
    assert "SLACK_APP_TOKEN" in str(err.value) and "invalid_auth" in str(err.value)
    await service.stop()  # nothing left running to stop


async def test_slack_unreachable_in_socket_mode_is_one_line(fake: FakeSlack) -> None:
    settings = slack_settings(
        fake,
        slack_api_url=f"http://127.0.0.1:{free_port()}/api/",
        slack_app_token="xapp-1-good",
        slack_signing_secret=None,
    )
    service = SlackService.from_settings(settings, None, RecordingCommands())
    with pytest.raises(ConfigError) as err:
        await service.start()
    assert "could not reach Slack" in str(err.value)
    assert "SIGNALDESK_SLACK_API_URL" in str(err.value)


async def test_a_busy_port_in_http_mode_names_the_setting(fake: FakeSlack) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        service = SlackService.from_settings(
            slack_settings(fake, slack_port=port), None, RecordingCommands()
        )
        with pytest.raises(ConfigError) as err:
            await service.start()
    assert f"127.0.0.1:{port}" in str(err.value) and "SIGNALDESK_SLACK_PORT" in str(err.value)
    await service.stop()
