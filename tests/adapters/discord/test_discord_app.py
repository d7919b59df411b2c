"""DiscordService: login, command sync, slash commands, autocomplete, admin checks,
deferral, buttons and the OPML export — raw INTERACTION_CREATE payloads dispatched
through discord.py's own command tree, answers read from a fake Discord REST server."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import discord
import pytest

from adapters.discord.app import (
    BOT_PERMISSIONS,
    DiscordService,
    invite_url,
    invite_url_for_settings,
    resolve_application_id,
    set_api_base,
    topic_lister,
)
from bot.commands import Asker
from bot.desk import commands_for
from bot.engine import Engine
from bot.errors import ConfigError
from bot.fetch import Fetcher
from bot.models import Channel, Reply, Visibility
from bot.settings import Settings
from storage import SqliteStore
from storage.database import StoreRunner
from tests.support.fake_discord_api import (
    APP_ID,
    CHANNEL_ID,
    GUILD_ID,
    MANAGE_CHANNELS,
    TOKEN,
    FakeDiscord,
    Recorded,
    fake_discord,  # noqa: F401  (fixture)
    interaction,
    slash,
)
from tests.support.golden_discord import assert_golden, sample_briefing


class FakeCommands:
    """Records what the adapter asks the core; answers like the core would."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Asker]] = []
        self.delay = 0.0

    async def handle(self, text: str, asker: Asker) -> Reply:
        self.calls.append((text, asker))
        if self.delay:
            await asyncio.sleep(self.delay)
        if text == "export":
            return Reply(text="2 feeds", attachment="<opml/>", attachment_name="feeds.opml")
        if text.startswith("more "):
            return Reply(briefings=[sample_briefing()], full=True)
        if text == "shared":
            return Reply(text="for all", visibility=Visibility.CHANNEL)
        return Reply(text=f"ok: {text}")


async def channel_topics(channel_id: str) -> list[str]:
    assert channel_id == f"discord:{CHANNEL_ID}"
    return ["china-ai", "chips", "climate", "ai-policy"]


@pytest.fixture
async def commands() -> FakeCommands:
    return FakeCommands()


@pytest.fixture
async def service(
    fake_discord: FakeDiscord,  # noqa: F811
    commands: FakeCommands,
) -> AsyncIterator[DiscordService]:
    svc = DiscordService(
        token=TOKEN,
        commands=commands,
        topics=channel_topics,
        connect_gateway=False,
        defer_after=0.3,
    )
    await svc.start()
    try:
        yield svc
    finally:
        await svc.stop()


def is_callback(r: Recorded) -> bool:
    return r.path.endswith("/callback")


async def dispatch(
    service: DiscordService, fake: FakeDiscord, payload: dict[str, Any]
) -> dict[str, Any]:
    """Feed one INTERACTION_CREATE to the client; return the callback Discord got."""
    service.client._connection.parse_interaction_create(payload)  # type: ignore[arg-type]
    token = payload["token"]
    [callback] = await fake.wait_for(lambda r: is_callback(r) and token in r.path)
    assert callback.body is not None
    return callback.body


# ------------------------------------------------------------------- start


async def test_login_and_global_command_sync(
    fake_discord: FakeDiscord,  # noqa: F811
    service: DiscordService,
) -> None:
    paths = [(r.method, r.path) for r in fake_discord.requests]
    assert ("GET", "/users/@me") in paths
    assert ("PUT", f"/applications/{APP_ID}/commands") in paths
    synced = {c["name"]: c for c in fake_discord.commands["global"]}
    assert set(synced) == {"brief", "brief-admin"}
    brief, admin = synced["brief"], synced["brief-admin"]
    assert [o["name"] for o in brief["options"]] == [
        "topic", "search", "more", "related", "topics", "feeds", "filters", "help"
    ]  # fmt: skip
    assert brief.get("default_member_permissions") is None
    assert int(admin["default_member_permissions"]) == MANAGE_CHANNELS
    assert admin["dm_permission"] is False  # servers only
    # Not offered in the bot's DMs nor as a user-installed app (issue 17, point 9):
    # contexts [GUILD] and integration_types [GUILD_INSTALL], not just dm_permission.
    for command in (brief, admin):
        assert command["contexts"] == [0] and command["integration_types"] == [0]
    topic = brief["options"][0]["options"][0]
    assert topic["name"] == "name" and topic["autocomplete"] is True
    groups = {o["name"]: o for o in admin["options"]}
    assert [o["name"] for o in groups["feed"]["options"]] == ["add", "remove", "refresh"]
    assert [o["name"] for o in groups["topic"]["options"]] == ["add", "remove", "adopt"]
    assert {"mode", "filter", "import", "export"} <= set(groups)
    assert [c["value"] for c in groups["mode"]["options"][0]["choices"]] == ["realtime", "digest"]
    assert_golden("command_sync", fake_discord.commands["global"])
    assert service.invite_url() == invite_url(APP_ID)


async def test_guild_sync_when_a_guild_is_set(
    fake_discord: FakeDiscord,  # noqa: F811
    commands: FakeCommands,
) -> None:
    svc = DiscordService(
        token=TOKEN, commands=commands, topics=channel_topics, guild_id=GUILD_ID,
        connect_gateway=False,
    )  # fmt: skip
    await svc.start()
    await svc.stop()
    synced = fake_discord.commands[str(GUILD_ID)]
    assert {c["name"] for c in synced} == {"brief", "brief-admin"}


async def test_bad_token_is_one_clear_line(fake_discord: FakeDiscord) -> None:  # noqa: F811
    svc = DiscordService(
        token="wrong", commands=FakeCommands(), topics=channel_topics, connect_gateway=False
    )
    with pytest.raises(ConfigError, match="DISCORD_TOKEN was rejected"):
        await svc.start()
    await svc.stop()


def test_invite_url_has_minimal_permissions_and_both_scopes() -> None:
    url = invite_url(APP_ID)
    assert url.startswith("https://discord.com/oauth2/authorize?")
    assert f"client_id={APP_ID}" in url
    assert "scope=bot+applications.commands" in url
    # View Channel, Send Messages, Send Messages in Threads, Embed Links, Read History,
    # Create Public Threads (update notes go in a thread on the post).
    expected = (1 << 10) | (1 << 11) | (1 << 38) | (1 << 14) | (1 << 16) | (1 << 35)
    assert BOT_PERMISSIONS.value == expected
    assert f"permissions={expected}" in url


async def test_application_id_is_resolved_from_the_token(
    fake_discord: FakeDiscord,  # noqa: F811
) -> None:
    base = fake_discord.base.removesuffix("/api/v10")
    settings = Settings(discord_token=TOKEN, discord_api_url=base)
    assert await resolve_application_id(settings) == APP_ID
    with pytest.raises(ConfigError, match="rejected"):
        await resolve_application_id(Settings(discord_token="wrong", discord_api_url=base))
    with pytest.raises(ConfigError, match="DISCORD_TOKEN"):
        await resolve_application_id(Settings(discord_token=None))


def test_invite_url_for_an_explicit_application_id_needs_no_network() -> None:
    assert invite_url_for_settings(Settings(), 42) == invite_url(42)


def test_set_api_base_accepts_a_bare_server_url() -> None:
    old = discord.http.Route.BASE
    try:
        assert set_api_base("http://127.0.0.1:9999/") == "http://127.0.0.1:9999/api/v10"
        assert set_api_base("http://127.0.0.1:9999/api/v10") == "http://127.0.0.1:9999/api/v10"
        assert discord.http.Route("GET", "/users/@me").url.startswith("http://127.0.0.1:9999/")
    finally:
        discord.http.Route.BASE = old


# ---------------------------------------------------------------- commands


@pytest.mark.parametrize(
    ("data", "core_text"),
    [
        (slash("brief", "topic", name="china-ai"), "#china-ai"),
        (slash("brief", "topic", name="feeds"), "#feeds"),  # a topic, never a command
        (slash("brief", "search", words="trillion chips"), "search trillion chips"),
        (slash("brief", "related", id="k7q2xw4m"), "related k7q2xw4m"),
        (slash("brief", "topics"), "topics"),
        (slash("brief", "feeds"), "feeds"),
        (slash("brief", "filters"), "filter"),
        (slash("brief", "help"), "help"),
    ],
)
async def test_brief_commands_reach_the_core_and_answer_ephemerally(
    fake_discord: FakeDiscord,  # noqa: F811
    service: DiscordService,
    commands: FakeCommands,
    data: dict[str, Any],
    core_text: str,
) -> None:
    body = await dispatch(service, fake_discord, interaction(data))
    [(text, asker)] = commands.calls
    assert text == core_text
    assert asker == Asker(f"discord:{CHANNEL_ID}", str(888_000_000_000_000_001), False)
    assert body["type"] == 4  # CHANNEL_MESSAGE_WITH_SOURCE
    assert body["data"]["flags"] == 64  # ephemeral
    assert body["data"]["content"] == f"ok: {core_text}"
    assert body["data"]["allowed_mentions"] == {"parse": []}


async def test_more_answers_with_the_full_briefing(
    fake_discord: FakeDiscord,  # noqa: F811
    service: DiscordService,
) -> None:
    body = await dispatch(service, fake_discord, interaction(slash("brief", "more", id="k7q2xw4m")))
    [embed] = body["data"]["embeds"]
    assert [f["name"] for f in embed["fields"]][:3] == [
        "What happened", "Why it matters", "What to watch next"
    ]  # fmt: skip
    assert_golden("reply_more", body)


async def test_channel_visible_reply_is_not_ephemeral(
    fake_discord: FakeDiscord,  # noqa: F811
    service: DiscordService,
) -> None:
    # The core only answers the asker today; a CHANNEL reply must still render as such.
    service.commands = type("C", (), {"handle": staticmethod(_shared)})()
    body = await dispatch(service, fake_discord, interaction(slash("brief", "help")))
    assert not body["data"].get("flags")


async def _shared(text: str, asker: Asker) -> Reply:
    return Reply(text="for all", visibility=Visibility.CHANNEL)


async def test_topic_autocomplete_offers_the_channels_topics(
    fake_discord: FakeDiscord,  # noqa: F811
    service: DiscordService,
) -> None:
    data = slash("brief", "topic", name=("focused", "ch"))
    body = await dispatch(service, fake_discord, interaction(data, kind=4))
    assert body["type"] == 8  # APPLICATION_COMMAND_AUTOCOMPLETE_RESULT
    assert [c["value"] for c in body["data"]["choices"]] == ["china-ai", "chips"]


@pytest.mark.parametrize(
    ("data", "core_text"),
    [
        (slash("brief-admin", "feed", "add", url="https://x.example/feed.xml", name="X Daily"),
         "feed add https://x.example/feed.xml X Daily"),
        (slash("brief-admin", "feed", "remove", feed="3"), "feed remove 3"),
        (slash("brief-admin", "topic", "add", name="china-ai", query="(china OR chinese) AND ai"),
         "topic add china-ai (china OR chinese) AND ai"),
        (slash("brief-admin", "topic", "remove", name="chips"), "topic remove chips"),
        (slash("brief-admin", "topic", "adopt", name="all"), "topic adopt all"),
        (slash("brief-admin", "mode", mode="digest", time="08:30", timezone="Europe/Paris"),
         "mode digest 08:30 Europe/Paris"),
        (slash("brief-admin", "mode", mode="realtime"), "mode realtime"),
        (slash("brief-admin", "filter", action="include", words="chips"), "filter include chips"),
        (slash("brief-admin", "filter", action="clear"), "filter clear"),
        (slash("brief-admin", "import", url="https://x.example/list.opml"),
         "import https://x.example/list.opml"),
    ],
)  # fmt: skip
async def test_admin_commands_refused_without_manage_channels_and_run_with_it(
    fake_discord: FakeDiscord,  # noqa: F811
    service: DiscordService,
    commands: FakeCommands,
    data: dict[str, Any],
    core_text: str,
) -> None:
    refused = await dispatch(service, fake_discord, interaction(data))
    assert commands.calls == []
    assert "Manage Channels" in refused["data"]["content"]
    assert refused["data"]["flags"] == 64

    accepted = await dispatch(service, fake_discord, interaction(data, permissions=MANAGE_CHANNELS))
    [(text, asker)] = commands.calls
    assert text == core_text and asker.is_admin
    assert accepted["data"]["content"] == f"ok: {core_text}"


async def test_export_sends_the_opml_as_a_file(
    fake_discord: FakeDiscord,  # noqa: F811
    service: DiscordService,
) -> None:
    payload = interaction(slash("brief-admin", "export"), permissions=MANAGE_CHANNELS)
    body = await dispatch(service, fake_discord, payload)
    [callback] = fake_discord.find(lambda r: is_callback(r) and payload["token"] in r.path)
    assert callback.files == {"feeds.opml": b"<opml/>"}
    assert body["data"]["attachments"][0]["filename"] == "feeds.opml"
    assert body["data"]["flags"] == 64


async def test_import_reads_an_uploaded_opml_file(
    fake_discord: FakeDiscord,  # noqa: F811
    service: DiscordService,
    commands: FakeCommands,
) -> None:
    opml = b'<?xml version="1.0"?><opml version="2.0"><body/></opml>'
    fake_discord.attachments["feeds.opml"] = opml
    url = fake_discord.base.removesuffix("/api/v10") + "/attachments/feeds.opml"
    data = slash("brief-admin", "import")
    data["options"][0]["options"] = [{"name": "file", "type": 11, "value": "901"}]
    data["resolved"] = {
        "attachments": {
            "901": {
                "id": "901",
                "filename": "feeds.opml",
                "size": len(opml),
                "url": url,
                "proxy_url": url,
            }
        }
    }
    payload = interaction(data, permissions=MANAGE_CHANNELS)
    body = await dispatch(service, fake_discord, payload)
    assert body == {"type": 5, "data": {"flags": 64}}  # deferred while the file downloads
    [followup] = await fake_discord.wait_for(
        lambda r: r.path == f"/webhooks/{APP_ID}/{payload['token']}"
    )
    [(text, asker)] = commands.calls
    assert text == "import " + opml.decode() and asker.is_admin
    assert followup.body["content"].startswith("ok: import")


async def test_slow_answer_is_deferred_then_followed_up(
    fake_discord: FakeDiscord,  # noqa: F811
    service: DiscordService,
    commands: FakeCommands,
) -> None:
    commands.delay = 0.6  # longer than defer_after (0.3 s here, 1.5 s in production)
    payload = interaction(slash("brief", "search", words="slow"))
    body = await dispatch(service, fake_discord, payload)
    assert body == {"type": 5, "data": {"flags": 64}}  # DEFERRED, ephemeral "thinking…"
    [followup] = await fake_discord.wait_for(
        lambda r: r.method == "POST" and r.path == f"/webhooks/{APP_ID}/{payload['token']}"
    )
    assert followup.body["content"] == "ok: search slow"
    assert followup.body["allowed_mentions"] == {"parse": []}


async def test_buttons_work_after_a_restart(
    fake_discord: FakeDiscord,  # noqa: F811
    service: DiscordService,
    commands: FakeCommands,
) -> None:
    """A message posted by an earlier process: only its custom ids are known."""
    channel = Channel(id=f"discord:{CHANNEL_ID}")
    posted = await service.publisher.post_briefing(channel, sample_briefing())
    message = fake_discord.messages[CHANNEL_ID][0]
    assert message["id"] == posted.message_ref
    for action in ("more", "related"):
        data = {"custom_id": f"sd:{action}:k7q2xw4m", "component_type": 2}
        await dispatch(service, fake_discord, interaction(data, kind=3, message=message))
    assert [text for text, _ in commands.calls] == ["more k7q2xw4m", "related k7q2xw4m"]


# ------------------------------------------------------- with the real core


async def test_start_connects_the_gateway_and_serves_brief_from_it(
    fake_discord: FakeDiscord,  # noqa: F811
    commands: FakeCommands,
) -> None:
    """``start()`` as ``signaldesk run`` calls it: REST login, sync, then the gateway
    in a background task on the same loop; an interaction arriving over the gateway is
    answered over REST."""
    svc = DiscordService(token=TOKEN, commands=commands, topics=channel_topics)
    await svc.start()
    try:
        await asyncio.wait_for(fake_discord.identified.wait(), 5)
        payload = interaction(slash("brief", "search", words="via gateway"))
        await fake_discord.push("INTERACTION_CREATE", payload)
        [callback] = await fake_discord.wait_for(lambda r: payload["token"] in r.path)
        assert callback.body["data"]["content"] == "ok: search via gateway"
    finally:
        await svc.stop()
    assert svc.client.is_closed()
    # Stopped within a second of READY: nothing of the client is left running.
    left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not [t for t in left if f"{os.sep}discord{os.sep}" in repr(t)], left


async def test_real_command_handler_end_to_end(
    fake_discord: FakeDiscord,  # noqa: F811
) -> None:
    settings = Settings(database=":memory:")
    store = SqliteStore.open(":memory:")
    engine = Engine(
        settings, store, fetcher=Fetcher(settings), publishers={}, runner=StoreRunner(store)
    )
    store.ensure_channel(f"discord:{CHANNEL_ID}", datetime.now(UTC))
    svc = DiscordService(
        token=TOKEN,
        commands=commands_for(engine),
        topics=topic_lister(store, engine.db),
        connect_gateway=False,
    )
    await svc.start()
    try:
        add = slash("brief-admin", "topic", "add", name="zeppelins", query="airship OR zeppelin")
        body = await dispatch(svc, fake_discord, interaction(add, permissions=MANAGE_CHANNELS))
        assert "zeppelins" in body["data"]["content"]
        denied = await dispatch(svc, fake_discord, interaction(add))
        assert "Manage Channels" in denied["data"]["content"]
        complete = slash("brief", "topic", name=("focused", "zep"))
        body = await dispatch(svc, fake_discord, interaction(complete, kind=4))
        assert body["data"]["choices"][0] == {"name": "zeppelins", "value": "zeppelins"}
        body = await dispatch(svc, fake_discord, interaction(slash("brief", "topics")))
        assert "zeppelins" in body["data"]["content"]
        body = await dispatch(svc, fake_discord, interaction(slash("brief", "more", id="nope0000")))
        assert body["data"]["flags"] == 64 and body["data"]["content"].startswith("⚠️")
    finally:
        await svc.stop()
        await engine.aclose()
        store.close()
