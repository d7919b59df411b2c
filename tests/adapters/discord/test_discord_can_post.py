"""The bot told when it cannot post on Discord (issue 17, point 2): ``feed add`` and
``import`` read the interaction's ``app_permissions`` and say what is missing; a 403 or
an unknown channel pauses the channel (``CannotPost``) instead of failing each post;
joining a server or a permission change hands the channel to ``Desk.resume_channel``.
Real discord.py against the fake Discord REST server and gateway payloads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.discord.app import DiscordService, build_client
from adapters.discord.publisher import DiscordPublisher
from bot.commands import Asker
from bot.errors import CannotPost
from bot.models import Channel, Reply
from tests.support.fake_discord_api import (
    BOT_ID,
    BOT_IN_CHANNEL,
    BOT_USER,
    CHANNEL_ID,
    GUILD_ID,
    MANAGE_CHANNELS,
    TOKEN,
    Failure,
    FakeDiscord,
    Recorded,
    fake_discord,  # noqa: F401  (fixture)
    interaction,
    slash,
)
from tests.support.golden_discord import sample_briefing

SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14


class Core:
    """Records the commands that reach the core and the channels offered to resume."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.resumed: list[tuple[str, str]] = []

    async def handle(self, text: str, asker: Asker) -> Reply:
        self.calls.append(text)
        return Reply(text="Added the feed")

    async def topics(self, channel_id: str) -> list[str]:
        return []

    async def resume(self, platform: str, target: str) -> bool:
        self.resumed.append((platform, target))
        return True


@pytest.fixture
async def core() -> Core:
    return Core()


@pytest.fixture
async def service(
    fake_discord: FakeDiscord,  # noqa: F811
    core: Core,
) -> AsyncIterator[DiscordService]:
    svc = DiscordService(
        token=TOKEN,
        commands=core,
        topics=core.topics,
        connect_gateway=False,
        resume=core.resume,
    )
    await svc.start()
    try:
        yield svc
    finally:
        await svc.stop()


async def dispatch(service: DiscordService, fake: FakeDiscord, payload: dict[str, Any]) -> str:
    service.client._connection.parse_interaction_create(payload)  # type: ignore[arg-type]

    def mine(r: Recorded) -> bool:
        return r.path.endswith("/callback") and payload["token"] in r.path

    [callback] = await fake.wait_for(mine)
    return str(callback.body["data"]["content"])


@pytest.mark.parametrize(
    ("app_permissions", "missing"),
    [
        (BOT_IN_CHANNEL & ~SEND_MESSAGES, "I lack Send Messages."),
        (BOT_IN_CHANNEL & ~SEND_MESSAGES & ~EMBED_LINKS, "I lack Send Messages and Embed Links."),
    ],
)
async def test_feed_add_where_the_bot_cannot_post_says_what_is_missing(
    fake_discord: FakeDiscord,  # noqa: F811
    service: DiscordService,
    core: Core,
    app_permissions: int,
    missing: str,
) -> None:
    data = slash("brief-admin", "feed", "add", url="https://news.kestrel.example/feed")
    payload = interaction(data, permissions=MANAGE_CHANNELS, app_permissions=app_permissions)
    answer = await dispatch(service, fake_discord, payload)
    assert missing in answer and "Nothing was added" in answer
    assert core.calls == []  # never subscribed, so no briefing fails later

    data = slash("brief-admin", "import", url="https://news.kestrel.example/list.opml")
    payload = interaction(data, permissions=MANAGE_CHANNELS, app_permissions=app_permissions)
    assert missing in await dispatch(service, fake_discord, payload)
    assert core.calls == []


async def test_feed_add_with_the_permissions_goes_ahead(
    fake_discord: FakeDiscord,  # noqa: F811
    service: DiscordService,
    core: Core,
) -> None:
    data = slash("brief-admin", "feed", "add", url="https://news.kestrel.example/feed")
    answer = await dispatch(service, fake_discord, interaction(data, permissions=MANAGE_CHANNELS))
    assert answer == "Added the feed"
    assert core.calls == ["feed add https://news.kestrel.example/feed"]


@pytest.mark.parametrize(
    ("status", "code", "words"),
    [
        (403, 50001, "cannot see it"),
        (403, 50013, "lacks a permission"),
        (404, 10003, "not found"),
    ],
)
async def test_a_channel_the_bot_cannot_post_in_raises_cannot_post(
    fake_discord: FakeDiscord,  # noqa: F811
    status: int,
    code: int,
    words: str,
) -> None:
    client = build_client()
    await client.login(TOKEN)
    try:
        publisher = DiscordPublisher(client, min_interval=0)
        message = {50001: "Missing Access", 50013: "Missing Permissions"}.get(code, "")
        fake_discord.fail(
            "POST", rf"/channels/{CHANNEL_ID}/messages", Failure(status, message=message, code=code)
        )
        with pytest.raises(CannotPost) as err:
            await publisher.post_briefing(Channel(id=f"discord:{CHANNEL_ID}"), sample_briefing())
    finally:
        await client.close()
    assert err.value.code == str(code) and not err.value.retryable
    assert words in err.value.reason and "\n" not in err.value.reason


def _guild(*, bot_permissions: int) -> dict[str, Any]:
    """A GUILD_CREATE payload: one text channel, the @everyone role, the bot's member."""
    return {
        "id": str(GUILD_ID),
        "name": "Kestrel Newsroom",
        "icon": None,
        "owner_id": "1",
        "roles": [
            {
                "id": str(GUILD_ID),
                "name": "@everyone",
                "permissions": str(bot_permissions),
                "position": 0,
                "color": 0,
                "hoist": False,
                "managed": False,
                "mentionable": False,
                "flags": 0,
            }
        ],
        "channels": [
            {
                "id": str(CHANNEL_ID),
                "type": 0,
                "name": "news",
                "position": 0,
                "permission_overwrites": [],
                "nsfw": False,
                "parent_id": None,
            }
        ],
        "members": [
            {
                "user": BOT_USER,
                "roles": [],
                "joined_at": "2026-12-01T00:00:00+00:00",
                "deaf": False,
                "mute": False,
                "flags": 0,
            }
        ],
        "member_count": 2,
        "emojis": [],
        "stickers": [],
        "features": [],
        "threads": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "voice_states": [],
        "presences": [],
        "large": False,
        "unavailable": None,
    }


async def test_joining_a_server_and_a_permission_fix_resume_its_channels(
    service: DiscordService,
    core: Core,
) -> None:
    state = service.client._connection
    state.user = state.store_user(BOT_USER)  # type: ignore[arg-type]
    # Invited back without Send Messages: nothing to resume yet.
    guild = _guild(bot_permissions=BOT_IN_CHANNEL & ~SEND_MESSAGES)
    del guild["unavailable"]
    state.parse_guild_create(guild)  # type: ignore[arg-type]
    await _settle()
    assert core.resumed == []
    # An admin grants it in the channel: an overwrite for the bot.
    overwrite = {"id": str(BOT_ID), "type": 1, "allow": str(SEND_MESSAGES), "deny": "0"}
    channel = {**guild["channels"][0], "guild_id": str(GUILD_ID)}
    state.parse_channel_update({**channel, "permission_overwrites": [overwrite]})  # type: ignore[arg-type]
    await _settle()
    assert core.resumed == [("discord", str(CHANNEL_ID))]


async def _settle() -> None:
    """Let the event handlers discord.py scheduled run (they are tasks)."""
    import asyncio

    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_health_notice_naming_a_url_does_not_unfurl(
    fake_discord: FakeDiscord,  # noqa: F811
) -> None:
    """Issue 17, point 9: a bare URL in a feed-health notice became a preview card."""
    client = build_client()
    await client.login(TOKEN)
    try:
        publisher = DiscordPublisher(client, min_interval=0)
        notice = "Feed https://news.kestrel.example/feed has failed 5 times: HTTP 503"
        await publisher.post_text(Channel(id=f"discord:{CHANNEL_ID}"), notice)
    finally:
        await client.close()
    [post] = fake_discord.posts()
    assert post.body["flags"] & 4  # SUPPRESS_EMBEDS
    assert "https://news.kestrel.example/feed" in post.body["content"]


async def test_discord_unreachable_at_start_is_one_line_naming_the_setting() -> None:
    """Issue 17, point 8: nothing listens at the API address -> one line, no traceback."""
    import socket

    from adapters.discord.app import set_api_base
    from bot.errors import ConfigError

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    import discord

    old = discord.http.Route.BASE
    set_api_base(f"http://127.0.0.1:{port}/api/v10")
    core = Core()
    svc = DiscordService(token=TOKEN, commands=core, topics=core.topics, connect_gateway=False)
    try:
        with pytest.raises(ConfigError) as err:
            await svc.start()
    finally:
        discord.http.Route.BASE = old
        await svc.stop()
    assert "cannot reach Discord" in str(err.value) and "SIGNALDESK_DISCORD_API_URL" in str(
        err.value
    )
    assert "\n" not in str(err.value)
