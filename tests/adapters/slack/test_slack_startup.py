"""Slack start-up faults are one line (issue 17, point 8): a token Slack refuses, a
Slack that cannot be reached and a busy port each stop the start with one line naming
the setting to fix; and SIGTERM stops a service whose Slack connection hangs while it
starts, within seconds (a real ``signaldesk run`` process against the fake Slack)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.slack.app import SlackService
from bot.errors import ConfigError
from bot.settings import load_settings
from tests.support.service import wait_until
from tests.support.slack_fake import Failure, FakeSlack
from tests.support.slack_requests import SECRET


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = await FakeSlack().start()
    try:
        yield server
    finally:
        await server.stop()


class NoCommands:
    async def handle(self, text: str, asker: Any) -> Any:  # never called here
        raise AssertionError(text)


def service(api_url: str, **values: Any) -> SlackService:
    settings = load_settings(
        **{
            "database": ":memory:",
            "slack_bot_token": "xoxb-good",
            "slack_signing_secret": SECRET,
            "slack_api_url": api_url,
            "slack_host": "127.0.0.1",
            "slack_port": 0,
        }
        | values
    )
    return SlackService.from_settings(settings, None, NoCommands())


async def refused(app: SlackService) -> str:
    with pytest.raises(ConfigError) as error:
        await app.start()
    await app.stop()
    text = str(error.value)
    assert "\n" not in text
    return text


async def test_a_bot_token_slack_refuses_is_one_line_at_start(fake: FakeSlack) -> None:
    fake.rejected_tokens.add("xoxb-good")
    text = await refused(service(fake.api_url))
    assert text.startswith("Slack refused SLACK_BOT_TOKEN (invalid_auth)")


async def test_an_app_token_slack_refuses_is_one_line_not_retried_forever(
    fake: FakeSlack,
) -> None:
    fake.rejected_tokens.add("xapp-1-revoked")
    text = await refused(service(fake.api_url, slack_app_token="xapp-1-revoked"))
    assert text.startswith("Slack refused SLACK_APP_TOKEN (invalid_auth)")
    assert len(fake.calls_to("apps.connections.open")) == 1


async def test_slack_out_of_reach_is_one_line() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    text = await refused(service(f"http://127.0.0.1:{closed}/api/"))
    assert (
        text.startswith("cannot reach Slack at http://127.0.0.1:")
        and "SIGNALDESK_SLACK_API_URL" in text
    )


async def test_a_busy_port_in_http_mode_is_one_line(fake: FakeSlack) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        text = await refused(service(fake.api_url, slack_port=port))
    assert f"cannot listen on 127.0.0.1:{port}" in text and "SLACK_PORT" in text


@pytest.mark.slow
async def test_sigterm_stops_a_service_whose_slack_connection_hangs(
    fake: FakeSlack, tmp_path: Path
) -> None:
    released = asyncio.Event()  # Slack does not answer until the test is over
    fake.fail("apps.connections.open", Failure(until=released))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNALDESK_", "SLACK_"))} | {
        "SIGNALDESK_DATABASE": str(tmp_path / "desk.db"),
        "SLACK_BOT_TOKEN": "xoxb-good",
        "SLACK_APP_TOKEN": "xapp-1-good",
        "SIGNALDESK_SLACK_API_URL": fake.api_url,
    }
    log = tmp_path / "service.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "adapters.main", "run",
            cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
        )  # fmt: skip
    try:
        asked = await wait_until(lambda: bool(fake.calls_to("apps.connections.open")), 30)
        assert asked, log.read_text()[-2000:]
        stopped_at = time.monotonic()
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 20)
    finally:
        released.set()
        if process.returncode is None:
            process.kill()
    assert process.returncode == 0
    assert time.monotonic() - stopped_at < 10
    text = log.read_text()
    assert "stopped while starting" in text and "Traceback" not in text


@pytest.mark.slow
async def test_a_refused_token_ends_the_service_with_one_line(
    fake: FakeSlack, tmp_path: Path
) -> None:
    fake.rejected_tokens.add("xoxb-typo")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNALDESK_", "SLACK_"))} | {
        "SIGNALDESK_DATABASE": str(tmp_path / "desk.db"),
        "SLACK_BOT_TOKEN": "xoxb-typo",
        "SLACK_APP_TOKEN": "xapp-1-good",
        "SIGNALDESK_SLACK_API_URL": fake.api_url,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adapters.main", "run",
        cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode != 0
    assert "Slack refused SLACK_BOT_TOKEN (invalid_auth)" in err.decode()
    assert "Traceback" not in err.decode() + out.decode()
