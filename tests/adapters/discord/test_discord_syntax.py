"""Discord's help and hints in Discord's own syntax (issue 17, point 4): the core's
answers named Slack's grammar (``/brief feed add <url>``, ``/brief mode``, "Try /brief
chips") where Discord's commands are ``/brief-admin feed add url:`` and so on. Checked
against the command tree the real discord.py registered with the fake Discord, and
end to end with the real core answering ``/brief help`` and a failed command."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.discord.app import DiscordService, topic_lister
from adapters.discord.syntax import help_text, localise
from bot.commands.grammar import USAGE
from bot.desk import commands_for
from bot.engine import Engine
from bot.fetch import Fetcher
from bot.settings import Settings
from storage import SqliteStore
from storage.database import StoreRunner
from tests.support.fake_discord_api import (
    CHANNEL_ID,
    MANAGE_CHANNELS,
    TOKEN,
    FakeDiscord,
    Recorded,
    fake_discord,  # noqa: F401  (fixture)
    interaction,
    slash,
)


def registered(commands: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Every command path Discord registered ("brief-admin feed add") -> its options."""
    out: dict[str, set[str]] = {}

    def walk(prefix: str, options: list[dict[str, Any]]) -> None:
        subs = [o for o in options if o["type"] in (1, 2)]
        if not subs:
            out[prefix] = {o["name"] for o in options}
        for sub in subs:
            walk(f"{prefix} {sub['name']}", sub.get("options") or [])

    for command in commands:
        walk(command["name"], command.get("options") or [])
    return out


def named_commands(text: str) -> list[tuple[str, set[str]]]:
    """The commands a text names: (path, options used), e.g. ("brief more", {"id"})."""
    found = []
    for match in re.finditer(r"/brief(?:-admin)?(?: [^\s·—()]+)*", text):
        words = match.group().lstrip("/").split()
        path = [w for w in words if ":" not in w and not w.startswith(("<", "["))]
        options = {w.split(":", 1)[0] for w in words if ":" in w}
        # Words after an option belong to its value ("query:nvidia OR tsmc").
        first_option = next((i for i, w in enumerate(words) if ":" in w), len(words))
        found.append((" ".join(path[:first_option] if path else words[:1]), options))
    return found


@pytest.fixture
async def service(fake_discord: FakeDiscord) -> AsyncIterator[DiscordService]:  # noqa: F811
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
        yield svc
    finally:
        await svc.stop()
        await engine.aclose()
        store.close()


async def ask(service: DiscordService, fake: FakeDiscord, payload: dict[str, Any]) -> str:
    service.client._connection.parse_interaction_create(payload)  # type: ignore[arg-type]

    def mine(r: Recorded) -> bool:
        return r.path.endswith("/callback") and payload["token"] in r.path

    [callback] = await fake.wait_for(mine)
    return str(callback.body["data"]["content"])


async def test_every_command_in_discords_help_and_hints_is_registered(
    fake_discord: FakeDiscord,  # noqa: F811
    service: DiscordService,
) -> None:
    tree = registered(fake_discord.commands["global"])
    texts = [help_text(), *(localise("usage: " + hint) for hint in USAGE.values())]
    named = [item for text in texts for item in named_commands(text)]
    assert len(named) > 30
    for path, options in named:
        assert path in tree, f"{path!r} is not a registered Discord command"
        assert options <= tree[path], f"{path!r} has no option {options - tree[path]}"
    # Every registered command is in the help (the admin's way to find them).
    shown = {path for path, _ in named_commands(help_text())}
    assert set(tree) <= shown


async def test_help_and_a_hint_from_the_core_speak_discord(
    fake_discord: FakeDiscord,  # noqa: F811
    service: DiscordService,
) -> None:
    answer = await ask(service, fake_discord, interaction(slash("brief", "help")))
    assert "/brief-admin feed add url:" in answer and "/brief topic name:" in answer
    assert "/brief feed add" not in answer and "/brief mode" not in answer
    # A channel with no feeds: the core's hint names the command to add one.
    answer = await ask(service, fake_discord, interaction(slash("brief", "feeds")))
    assert "/brief-admin feed add url:" in answer, answer
    assert "/brief feed add" not in answer
    # Digest time the core cannot read: the usage hint is Discord's.
    data = slash("brief-admin", "mode", mode="digest", time="25:99")
    answer = await ask(service, fake_discord, interaction(data, permissions=MANAGE_CHANNELS))
    assert "/brief-admin mode mode:digest time:" in answer, answer


def test_feed_text_that_looks_like_a_command_mention_is_left_alone() -> None:
    # "</brief:1>" is how Discord writes a slash-command mention; feed text is hostile.
    assert localise("see </brief:1> and /brief-admin x") == "see </brief:1> and /brief-admin x"
    assert localise("Try /brief chips.") == "Try /brief topic name:chips."
