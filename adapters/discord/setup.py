"""``/brief-admin setup``: a form (a Discord modal) to add a feed, a topic or a digest
time without typing command syntax. The form only collects fields; each filled one
becomes the core command an admin would have typed (``feed add``, ``topic add``,
``mode digest``), run with the same admin check (Manage Channels) and the same
can-post check as ``/brief-admin feed add``. The answer lists each result."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord

from bot.commands import Asker
from bot.models import Reply
from bot.topics import SLUG_MAX

from .permissions import cannot_post_here
from .render import render_reply

if TYPE_CHECKING:
    from .app import DiscordService

SETUP_ID = "sd:setup"
NOTHING = "Nothing to do: fill in a feed URL, a topic (name and query) or a digest time."
HALF_TOPIC = "A topic needs both a name and a query; the topic was not saved."


class SetupModal(discord.ui.Modal):
    """The form. Five text inputs, Discord's most; every one optional."""

    def __init__(self, service: DiscordService, form_id: int) -> None:
        # One id per opened form: two admins' forms open at once are two modals.
        super().__init__(
            title="Set up SignalDesk here", custom_id=f"{SETUP_ID}:{form_id}", timeout=900
        )
        self.service = service
        self.url: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label="Feed URL (RSS, Atom or JSON Feed)",
            custom_id=f"{SETUP_ID}:url",
            placeholder="https://news.example/world/rss.xml",
            required=False,
            max_length=500,
        )
        self.topic: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label="Topic name",
            custom_id=f"{SETUP_ID}:topic",
            placeholder="e.g. chips",
            required=False,
            max_length=SLUG_MAX,
        )
        self.query: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label="Topic query",
            custom_id=f"{SETUP_ID}:query",
            placeholder="e.g. nvidia OR tsmc OR semiconductor",
            required=False,
            max_length=300,
        )
        self.digest: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label="Daily digest time, HH:MM (empty: unchanged)",
            custom_id=f"{SETUP_ID}:digest",
            placeholder="08:30",
            required=False,
            max_length=5,
        )
        self.timezone: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label="Timezone of the digest time",
            custom_id=f"{SETUP_ID}:timezone",
            placeholder="e.g. Europe/Paris (default UTC)",
            required=False,
            max_length=64,
        )
        for item in (self.url, self.topic, self.query, self.digest, self.timezone):
            self.add_item(item)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        await submit_setup(
            self.service,
            interaction,
            url=self.url.value,
            topic=self.topic.value,
            query=self.query.value,
            digest=self.digest.value,
            timezone=self.timezone.value,
        )


async def open_setup(service: DiscordService, interaction: discord.Interaction[Any]) -> None:
    """``/brief-admin setup``: the form, to admins only."""
    if not service.is_admin(interaction):
        await service.refuse_non_admin(interaction)
        return
    await interaction.response.send_modal(SetupModal(service, interaction.id))


def setup_commands(
    url: str, topic: str, query: str, digest: str, timezone: str
) -> tuple[list[str], list[str]]:
    """The core commands the filled fields stand for, and the notes on what was not."""
    url, topic, query = url.strip(), topic.strip().lstrip("#"), " ".join(query.split())
    digest, timezone = digest.strip(), timezone.strip()
    commands: list[str] = []
    notes: list[str] = []
    if url:
        commands.append(f"feed add {url}")
    if topic and query:
        commands.append(f"topic add {topic} {query}")
    elif topic or query:
        notes.append(HALF_TOPIC)
    if digest:
        commands.append(" ".join(p for p in ("mode digest", digest, timezone) if p))
    if not commands and not notes:
        notes.append(NOTHING)
    return commands, notes


async def submit_setup(
    service: DiscordService,
    interaction: discord.Interaction[Any],
    *,
    url: str,
    topic: str,
    query: str,
    digest: str,
    timezone: str,
) -> None:
    """Run the form's commands, checked as the typed ones are, and answer privately."""
    if not service.is_admin(interaction):  # a role may have changed since the form opened
        await service.refuse_non_admin(interaction)
        return
    commands, notes = setup_commands(url, topic, query, digest, timezone)
    lines: list[str] = []
    if any(c.startswith("feed add ") for c in commands):
        problem = cannot_post_here(interaction.app_permissions)
        if problem is not None:
            commands = [c for c in commands if not c.startswith("feed add ")]
            lines.append("⚠️ " + problem)
    await interaction.response.defer(ephemeral=True, thinking=True)
    asker = Asker(
        channel_id=f"discord:{interaction.channel_id}",
        user_id=str(interaction.user.id),
        is_admin=True,
    )
    for command in commands:
        reply = await service.commands.handle(command, asker)
        lines.append(("⚠️ " if reply.error else "") + (reply.text or "done"))
    lines += notes
    await service.send_answer(interaction, render_reply(Reply(text="\n".join(lines))))
