"""``/brief-admin setup``: a form (a Discord modal) to add a feed, a topic or a digest
time without typing command syntax. The form only collects fields; each filled one
becomes the core command an admin would have typed (``feed add``, ``topic add``,
``mode digest``), run with the same admin check (Manage Channels) and the same
can-post check as ``/brief-admin feed add``. The answer lists each result."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord

from bot.commands import Asker
from bot.commands.forms import SetupForm, setup_plan
from bot.models import Reply
from bot.topics import SLUG_MAX

from .permissions import cannot_post_here
from .render import render_reply

if TYPE_CHECKING:
    from .app import DiscordService

SETUP_ID = "sd:setup"


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
    plan = setup_plan(SetupForm(url, topic, query, digest, timezone))
    commands = plan.commands
    lines: list[str] = []
    if plan.feed_add:
        problem = cannot_post_here(interaction.app_permissions)
        if problem is not None:
            commands = plan.without_feed_add()
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
    lines += [problem for _, problem in plan.problems]
    await service.send_answer(interaction, render_reply(Reply(text="\n".join(lines))))
