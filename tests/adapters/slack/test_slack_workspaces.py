"""A workspace uninstalls SignalDesk (or revokes its token) and installs it again, in
multi-workspace OAuth mode: the real slack-bolt app, signed events, the fake Slack —
with the workspaces kept in SQLite and in PostgreSQL (``any_store``)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.slack.app import SlackService
from adapters.slack.installations import SlackStorage
from bot.errors import CannotPost
from bot.models import Channel
from storage.database import StoreRunner
from tests.support.service import wait_until
from tests.support.slack_fake import FakeSlack
from tests.support.slack_requests import command_body, event_body, signed_headers
from tests.support.slack_service import RecordingCommands, install, oauth_settings, post

TEAM = "T7"


@pytest.fixture
def storage(any_store: Any) -> Iterator[SlackStorage]:
    runner = StoreRunner(any_store)
    try:
        yield SlackStorage(any_store, runner)
    finally:
        runner.close()


async def started(
    fake: FakeSlack, tmp_path: Path, storage: SlackStorage, resumed: list[tuple[str, str]]
) -> SlackService:
    async def resume(platform: str, channel: str) -> bool:
        resumed.append((platform, channel))
        return True

    settings = oauth_settings(fake, tmp_path / "signaldesk.db")
    service = SlackService.from_settings(settings, storage, RecordingCommands(), resume=resume)
    await service.start()
    status, _ = await install(service, fake, TEAM)
    assert status == 200
    # Someone runs /brief in two channels: the service learns they are the workspace's.
    for channel in ("C1", "C2"):
        body = command_body(fake, "feeds", team=TEAM, channel=channel)
        assert (await post(service, body, signed_headers(body)))[0] == 200
    return service


async def send_event(service: SlackService, event: dict[str, object]) -> None:
    body = event_body(event, team=TEAM)
    status, _ = await post(service, body, signed_headers(body, json_body=True))
    assert status == 200


async def refused(service: SlackService) -> CannotPost:
    with pytest.raises(CannotPost) as caught:
        await service.publisher.post_text(Channel(id="slack:C1"), "Harbour cranes back at work")
    return caught.value


async def test_an_uninstalled_workspace_is_held_then_resumed_by_its_reinstall(
    fake: FakeSlack, tmp_path: Path, storage: SlackStorage, caplog: pytest.LogCaptureFixture
) -> None:
    resumed: list[tuple[str, str]] = []
    service = await started(fake, tmp_path, storage, resumed)
    try:
        await service.publisher.post_text(Channel(id="slack:C1"), "Ferries resume on Tuesday")
        assert len(fake.calls_to("chat.postMessage")) == 1
        resumed.clear()  # the first install resumed nothing held, but may have been asked

        with caplog.at_level(logging.WARNING, logger="signaldesk.slack"):
            await send_event(service, {"type": "app_uninstalled"})
            # The service's own line: slack-bolt's debug lines name the "uninstalled"
            # listener before it has run.
            said = "workspace T7: the app was uninstalled"
            assert await wait_until(lambda: said in caplog.text, 5)
        assert "2 known channel(s)" in caplog.text
        # Its token is forgotten: a post to its channel is held (the channel paused with
        # a reason its admins can act on), not sent with a dead token nor failed for good.
        problem = await refused(service)
        assert "/slack/install" in problem.reason and problem.code == "not_installed"
        assert len(fake.calls_to("chat.postMessage")) == 1

        # The workspace installs the app again: both its channels get their held posts.
        status, _ = await install(service, fake, TEAM)
        assert status == 200
        assert sorted(resumed) == [("slack", "C1"), ("slack", "C2")]
        await service.publisher.post_text(Channel(id="slack:C1"), "Ferries resume on Tuesday")
        assert len(fake.calls_to("chat.postMessage")) == 2
    finally:
        await service.stop()


async def test_a_revoked_bot_token_holds_the_workspace_but_a_user_token_does_not(
    fake: FakeSlack, tmp_path: Path, storage: SlackStorage, caplog: pytest.LogCaptureFixture
) -> None:
    service = await started(fake, tmp_path, storage, [])
    try:
        # A user's own token revoked: the bot still posts.
        await send_event(service, {"type": "tokens_revoked", "tokens": {"oauth": ["U1"]}})
        await service.publisher.post_text(Channel(id="slack:C1"), "Ferries resume on Tuesday")
        assert len(fake.calls_to("chat.postMessage")) == 1
        # The bot's token revoked: held from now on (the event is acknowledged first and
        # handled after, as Slack asks of an app).
        with caplog.at_level(logging.WARNING, logger="signaldesk.slack"):
            await send_event(service, {"type": "tokens_revoked", "tokens": {"bot": ["UBOT"]}})
            assert await wait_until(lambda: "its bot token was revoked" in caplog.text, 5)
        problem = await refused(service)
        assert problem.code == "not_installed"
    finally:
        await service.stop()
