"""``/brief-admin setup`` (issue 17, point 8, Discord): a form instead of command syntax.
The real discord.py answers the slash command with a modal and handles its submission
as Discord sends it (a MODAL_SUBMIT interaction); the fields become the core commands an
admin would type, with the same admin and can-post checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.discord.app import DiscordService
from adapters.discord.setup import SETUP_ID
from bot.commands import Asker
from bot.models import Reply
from tests.support.fake_discord_api import (
    BOT_IN_CHANNEL,
    MANAGE_CHANNELS,
    TOKEN,
    FakeDiscord,
    Recorded,
    fake_discord,  # noqa: F401  (fixture)
    interaction,
    slash,
)


class Core:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Asker]] = []

    async def handle(self, text: str, asker: Asker) -> Reply:
        self.calls.append((text, asker))
        if text.startswith("mode digest 31:00"):
            return Reply(text="'31:00' is not a time like 08:30", error=True)
        return Reply(text=f"done: {text}")

    async def topics(self, channel_id: str) -> list[str]:
        return []


@pytest.fixture
async def core() -> Core:
    return Core()


@pytest.fixture
async def service(
    fake_discord: FakeDiscord,  # noqa: F811
    core: Core,
) -> AsyncIterator[DiscordService]:
    svc = DiscordService(token=TOKEN, commands=core, topics=core.topics, connect_gateway=False)
    await svc.start()
    try:
        yield svc
    finally:
        await svc.stop()


def submission(
    form: dict[str, Any], permissions: int = MANAGE_CHANNELS, **values: str
) -> dict[str, Any]:
    """A MODAL_SUBMIT interaction as Discord sends it: one action row per text input."""
    rows = [
        {"type": 1, "components": [{"type": 4, "custom_id": f"{SETUP_ID}:{k}", "value": v}]}
        for k, v in values.items()
    ]
    payload = interaction(
        {"custom_id": form["custom_id"], "components": rows}, kind=5, permissions=permissions
    )
    return payload


async def answered(service: DiscordService, fake: FakeDiscord, payload: dict[str, Any]) -> str:
    """Dispatch; the text of the answer (the callback, or the follow-up after a defer)."""
    service.client._connection.parse_interaction_create(payload)  # type: ignore[arg-type]
    token = payload["token"]

    def done(r: Recorded) -> bool:
        if token not in r.path or r.body is None:
            return False
        data = r.body.get("data", r.body)
        return bool(data.get("content")) or r.body.get("type") == 9

    [answer] = await fake.wait_for(done)
    return str(answer.body.get("data", answer.body).get("content") or answer.body)


async def open_form(service: DiscordService, fake: FakeDiscord) -> dict[str, Any]:
    payload = interaction(slash("brief-admin", "setup"), permissions=MANAGE_CHANNELS)
    service.client._connection.parse_interaction_create(payload)  # type: ignore[arg-type]
    [callback] = await fake.wait_for(lambda r: payload["token"] in r.path)
    assert callback.body["type"] == 9  # MODAL
    return dict(callback.body["data"])


async def test_the_setup_form_adds_a_feed_a_topic_and_a_digest_time(
    fake_discord: FakeDiscord,  # noqa: F811
    service: DiscordService,
    core: Core,
) -> None:
    form = await open_form(service, fake_discord)
    fields = [c["components"][0] for c in form["components"]]
    assert [f["custom_id"] for f in fields] == [
        f"{SETUP_ID}:{k}" for k in ("url", "topic", "query", "digest", "timezone")
    ]
    assert not any(f["required"] for f in fields)
    payload = submission(
        form,
        url="https://news.kestrel.example/harbour/rss.xml",
        topic="port-strike",
        query="dockers OR stevedores OR (port AND strike)",
        digest="07:45",
        timezone="Europe/Dublin",
    )
    answer = await answered(service, fake_discord, payload)
    assert [text for text, _ in core.calls] == [
        "feed add https://news.kestrel.example/harbour/rss.xml",
        "topic add port-strike dockers OR stevedores OR (port AND strike)",
        "mode digest 07:45 Europe/Dublin",
    ]
    assert all(asker.is_admin for _, asker in core.calls)
    assert "done: feed add" in answer and "done: mode digest" in answer


async def test_the_form_keeps_the_typed_commands_checks(
    fake_discord: FakeDiscord,  # noqa: F811
    service: DiscordService,
    core: Core,
) -> None:
    # A member without Manage Channels cannot open it ...
    payload = interaction(slash("brief-admin", "setup"))
    assert "Manage Channels" in await answered(service, fake_discord, payload)
    # ... nor submit one opened before a role change.
    form = await open_form(service, fake_discord)
    payload = submission(form, permissions=0, digest="07:45")
    answer = await answered(service, fake_discord, payload)
    assert "Manage Channels" in answer and core.calls == []
    # Where the bot cannot post, the feed is refused as by /brief-admin feed add; the
    # rest goes ahead, and a half-filled topic says so.
    form = await open_form(service, fake_discord)
    payload = submission(
        form, url="https://news.kestrel.example/rss", topic="ferries", digest="31:00"
    )
    payload["app_permissions"] = str(BOT_IN_CHANNEL & ~(1 << 11))  # no Send Messages
    answer = await answered(service, fake_discord, payload)
    assert "Send Messages" in answer
    assert "needs both a name and a query" in answer
    assert "'31:00' is not a time" in answer
    assert [text for text, _ in core.calls] == ["mode digest 31:00"]
