"""The slash-command tree: ``/brief`` and ``/brief-admin`` with their options, as
``DiscordService`` registers them. Each command turns its options into the core's
command text and hands it to ``DiscordService.answer``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from .setup import open_setup

if TYPE_CHECKING:
    from .app import DiscordService


def build_groups(service: DiscordService) -> list[app_commands.Group]:
    """``/brief`` (anyone) and ``/brief-admin`` (Manage Channels), each command handing
    its options to the core as the text an admin would type."""
    # Server channels only, and only where the bot is installed to the server:
    # ``contexts`` and ``integration_types`` (``dm_permission`` is deprecated; it is
    # still sent, false, for clients that read only it), so neither group is offered
    # in the bot's DMs or as a user-installed app.
    where: dict[str, Any] = {
        "guild_only": True,
        "allowed_contexts": app_commands.AppCommandContext(guild=True),
        "allowed_installs": app_commands.AppInstallationType(guild=True),
    }
    brief = app_commands.Group(name="brief", description="News briefings for this channel", **where)
    admin = app_commands.Group(
        name="brief-admin",
        description="Manage this channel's feeds, topics and delivery",
        default_permissions=discord.Permissions(manage_channels=True),
        **where,
    )
    feed = app_commands.Group(name="feed", description="This channel's feeds", parent=admin)
    topic = app_commands.Group(name="topic", description="This channel's topics", parent=admin)
    answer = service.answer

    async def topic_choices(
        interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return await service.topic_choices(interaction, current)

    # ---- /brief (anyone)

    @brief.command(name="topic", description="The latest briefings on a topic")
    @app_commands.describe(name="A topic, e.g. china-ai")
    @app_commands.autocomplete(name=topic_choices)
    async def brief_topic(interaction: discord.Interaction[Any], name: str) -> None:
        # "#slug" reads as a topic even when the slug is also a command word.
        await answer(interaction, "#" + name.strip().lstrip("#"))

    @brief.command(name="search", description="Search the briefings of this channel's feeds")
    @app_commands.describe(words="Words to search for")
    async def brief_search(interaction: discord.Interaction[Any], words: str) -> None:
        await answer(interaction, f"search {words}")

    @brief.command(name="more", description="A full briefing: sections and every source")
    @app_commands.describe(id="The briefing id (in the footer of each briefing)")
    async def brief_more(interaction: discord.Interaction[Any], id: str) -> None:
        await answer(interaction, f"more {id}")

    @brief.command(name="related", description="Related briefings from other days")
    @app_commands.describe(id="The briefing id (in the footer of each briefing)")
    async def brief_related(interaction: discord.Interaction[Any], id: str) -> None:
        await answer(interaction, f"related {id}")

    @brief.command(name="topics", description="The topics this channel follows")
    async def brief_topics(interaction: discord.Interaction[Any]) -> None:
        await answer(interaction, "topics")

    @brief.command(name="feeds", description="The feeds this channel follows, with health")
    async def brief_feeds(interaction: discord.Interaction[Any]) -> None:
        await answer(interaction, "feeds")

    @brief.command(name="filters", description="This channel's include and exclude words")
    async def brief_filters(interaction: discord.Interaction[Any]) -> None:
        await answer(interaction, "filter")

    @brief.command(name="help", description="How to use SignalDesk")
    async def brief_help(interaction: discord.Interaction[Any]) -> None:
        await answer(interaction, "help")

    # ---- /brief-admin (Manage Channels)

    @feed.command(name="add", description="Follow a feed (RSS, Atom or JSON Feed) here")
    @app_commands.describe(url="The feed's URL", name="A short name to show (optional)")
    async def feed_add(
        interaction: discord.Interaction[Any], url: str, name: str | None = None
    ) -> None:
        if await service.refuse_unpostable(interaction):
            return
        await answer(interaction, f"feed add {url} {name or ''}".strip(), admin=True)

    @feed.command(name="remove", description="Stop following a feed")
    @app_commands.describe(feed="The feed's number (see /brief feeds) or URL")
    async def feed_remove(interaction: discord.Interaction[Any], feed: str) -> None:
        await answer(interaction, f"feed remove {feed}", admin=True)

    @feed.command(name="refresh", description="Check a feed now, not at its turn")
    @app_commands.describe(feed="The feed's number (see /brief feeds) or URL")
    async def feed_refresh(interaction: discord.Interaction[Any], feed: str) -> None:
        await answer(interaction, f"feed refresh {feed}", admin=True)

    @topic.command(name="add", description="Save a topic: a name and a search query")
    @app_commands.describe(name="e.g. china-ai", query="e.g. (china OR chinese) AND ai")
    async def topic_add(interaction: discord.Interaction[Any], name: str, query: str) -> None:
        await answer(interaction, f"topic add {name} {query}", admin=True)

    @topic.command(name="remove", description="Remove a saved topic")
    @app_commands.describe(name="The topic's name")
    @app_commands.autocomplete(name=topic_choices)
    async def topic_remove(interaction: discord.Interaction[Any], name: str) -> None:
        await answer(interaction, f"topic remove {name}", admin=True)

    @topic.command(name="adopt", description="Copy a built-in topic into this channel")
    @app_commands.describe(name="A built-in topic, or all")
    @app_commands.autocomplete(name=topic_choices)
    async def topic_adopt(interaction: discord.Interaction[Any], name: str) -> None:
        await answer(interaction, f"topic adopt {name}", admin=True)

    @admin.command(name="mode", description="Post briefings as they come, or once a day")
    @app_commands.describe(
        mode="realtime or digest",
        time="Digest time, HH:MM (digest only)",
        timezone="IANA timezone, e.g. Europe/Paris (digest only)",
    )
    @app_commands.choices(
        mode=[
            app_commands.Choice(name="realtime", value="realtime"),
            app_commands.Choice(name="digest", value="digest"),
        ]
    )
    async def mode(
        interaction: discord.Interaction[Any],
        mode: str,
        time: str | None = None,
        timezone: str | None = None,
    ) -> None:
        text = " ".join(p for p in ("mode", mode, time, timezone) if p)
        await answer(interaction, text, admin=True)

    @admin.command(name="filter", description="Only include, or exclude, briefings with words")
    @app_commands.describe(
        action="include, exclude or clear", words="Words, or phrases separated by commas"
    )
    @app_commands.choices(
        action=[
            app_commands.Choice(name="include", value="include"),
            app_commands.Choice(name="exclude", value="exclude"),
            app_commands.Choice(name="clear", value="clear"),
        ]
    )
    async def filter_(
        interaction: discord.Interaction[Any], action: str, words: str | None = None
    ) -> None:
        await answer(interaction, f"filter {action} {words or ''}".strip(), admin=True)

    @admin.command(name="import", description="Follow every feed of an OPML file")
    @app_commands.describe(url="The OPML file's URL", file="Or upload the OPML file")
    async def import_(
        interaction: discord.Interaction[Any],
        url: str | None = None,
        file: discord.Attachment | None = None,
    ) -> None:
        await service.import_feeds(interaction, url, file)

    @admin.command(name="setup", description="Add a feed, a topic or a digest time in a form")
    async def setup(interaction: discord.Interaction[Any]) -> None:
        await open_setup(service, interaction)

    @admin.command(name="export", description="This channel's feeds as an OPML file")
    async def export(interaction: discord.Interaction[Any]) -> None:
        await answer(interaction, "export", admin=True)

    return [brief, admin]
