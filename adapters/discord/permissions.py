"""What the bot may do in a channel, as Discord tells it with every interaction
(``app_permissions``: the bot's permissions there, roles and channel overwrites
resolved), and the one-line answers when a permission is missing.

``feed add`` and ``import`` check these before the core subscribes the channel, so an
admin learns at once that briefings could not be posted, instead of every post failing
later with 403 Missing Permissions."""

from __future__ import annotations

import discord

# Posting a briefing needs these; without any of them Discord answers 403.
POST_PERMISSIONS: tuple[tuple[str, str], ...] = (
    ("view_channel", "View Channel"),
    ("send_messages", "Send Messages"),
    ("embed_links", "Embed Links"),
)


def missing_to_post(permissions: discord.Permissions) -> list[str]:
    """The names (as Discord's settings show them) of the permissions the bot lacks to
    post briefings in a channel; empty when it can."""
    return [label for attr, label in POST_PERMISSIONS if not getattr(permissions, attr)]


def cannot_post_here(permissions: discord.Permissions) -> str | None:
    """One line for the admin when the bot cannot post in this channel, else None."""
    missing = missing_to_post(permissions)
    if not missing:
        return None
    return (
        f"I can't post briefings in this channel: I lack {_and(missing)}. Give SignalDesk's "
        "role these permissions here (Edit Channel > Permissions), then run the command "
        "again. Nothing was added."
    )


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
