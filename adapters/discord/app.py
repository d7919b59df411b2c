"""``DiscordService``: SignalDesk as a Discord application.

Commands in, replies out; nothing else. Each slash command (and each "More"/"Related"
button) becomes the core's command text and an ``Asker``; ``CommandHandler.handle``
answers with a ``Reply``; ``render.render_reply`` turns it into a message.

- ``/brief topic|search|more|related|topics|feeds|filters|help`` for anyone;
- ``/brief-admin feed add|remove|refresh``, ``topic add|remove|adopt``, ``mode``, ``filter``,
  ``import``, ``export``, ``setup`` (a form, ``setup.py``): registered with default member
  permission Manage Channels and checked again at run time, since server owners can
  override the default. The tree is built in ``commands.py``; help and hints speak
  Discord's syntax (``syntax.py``); permission and resume events in ``permissions.py``
  and ``events.py``.

Discord wants an answer to an interaction within 3 s: the command runs at once, and if
its answer is not ready after ``DEFER_AFTER`` seconds the interaction is deferred and
answered by follow-up (https://discord.com/developers/docs/interactions/receiving-and-responding#responding-to-an-interaction).

The client shares the process's event loop (``login`` + a ``connect`` task, never
``Client.run``), and is built with ``AllowedMentions.none()``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar

import aiohttp
import discord
from discord import app_commands

from bot.commands import Asker
from bot.errors import ConfigError
from bot.models import Reply, Topic
from bot.pacing import ChannelPacer
from bot.ports import Runner
from bot.topics import channel_slugs

from .commands import build_groups
from .events import Resume, install_resume_events
from .permissions import cannot_post_here
from .publisher import DiscordPublisher
from .render import BUTTON_TEMPLATE, DiscordMessage, button_custom_id, file_for, render_reply

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger("signaldesk.discord")

# Seconds to wait for an answer before deferring: Discord's limit is 3 s from the user's
# click, and the request also needs time to travel.
DEFER_AFTER = 1.5
# Autocomplete offers at most 25 choices of at most 100 characters each.
CHOICES_MAX = 25
CHOICE_MAX = 100
# Pasted OPML is capped by the core too; this stops us downloading a huge file first.
IMPORT_FILE_MAX = 2_000_000
API_VERSION = 10
# Seconds for the start-up login: Discord unreachable is one line, not a hang.
LOGIN_TIMEOUT = 30.0

# The bot's permissions in a channel it posts to: View Channel, Send Messages, Send
# Messages in Threads, Embed Links, Read Message History (to find its own post after
# a crash) and Create Public Threads (an update's note goes in a thread on the post;
# without it the post is only edited). Nothing else; no privileged intents.
BOT_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    embed_links=True,
    read_message_history=True,
    create_public_threads=True,
)
SCOPES = ("bot", "applications.commands")

NOT_ADMIN = "Only members with the Manage Channels permission can change this channel's feeds."


class CommandRunner(Protocol):
    """What ``bot.commands.CommandHandler`` offers the adapter."""

    async def handle(self, text: str, asker: Asker) -> Reply: ...


TopicLister = Callable[[str], Awaitable[list[str]]]

P = ParamSpec("P")
T = TypeVar("T")


class TopicStore(Protocol):
    """The one store call the adapter makes itself (the channel's topics, for
    autocomplete): part of ``bot.ports.Store``."""

    def channel_topics(self, channel_id: str) -> list[Topic]: ...


def invite_url(application_id: int | str) -> str:
    """The URL a server admin opens to add the bot: the ``bot`` and
    ``applications.commands`` scopes with the minimal permissions (``BOT_PERMISSIONS``)."""
    return discord.utils.oauth_url(int(application_id), permissions=BOT_PERMISSIONS, scopes=SCOPES)


async def resolve_application_id(settings: Settings) -> int:
    """The application id behind ``DISCORD_TOKEN``, asked of Discord (REST login only)."""
    if settings.discord_token is None:
        raise ConfigError(
            "set DISCORD_TOKEN, or pass the application id (Developer Portal > General "
            "Information > Application ID)"
        )
    if settings.discord_api_url:
        set_api_base(settings.discord_api_url)
    client = build_client()
    try:
        await client.login(settings.discord_token.get_secret_value())
    except discord.LoginFailure:
        raise ConfigError("DISCORD_TOKEN was rejected by Discord; copy it again") from None
    finally:
        await client.close()
    if client.application_id is None:  # login always sets it; keep mypy and readers sure
        raise ConfigError("Discord did not say which application this token belongs to")
    return client.application_id


def invite_url_for_settings(settings: Settings, application_id: int | None = None) -> str:
    """``signaldesk discord invite-url``: the invite URL for ``application_id``, or for
    the application behind ``DISCORD_TOKEN`` (looked up with one REST login). Blocking:
    call it from the CLI, not from inside the event loop."""
    if application_id is None:
        application_id = asyncio.run(resolve_application_id(settings))
    return invite_url(application_id)


def set_api_base(url: str) -> str:
    """Point discord.py's REST client (and webhooks and interaction responses, which
    share ``Route``) at ``url``. A bare server URL gets ``/api/v10`` appended."""
    base = url.rstrip("/")
    if not re.search(r"/api/v\d+$", base):
        base += f"/api/v{API_VERSION}"
    discord.http.Route.BASE = base
    return base


def topic_lister(store: TopicStore, runner: Runner) -> TopicLister:
    """The topic slugs ``/brief topic`` can show in a channel: its own, then defaults."""

    async def topics(channel_id: str) -> list[str]:
        return channel_slugs(await runner.first(store.channel_topics, channel_id))

    return topics


def _gateway_ended(task: asyncio.Task[None]) -> None:
    """One line when the gateway connection gives up (discord.py itself retries network
    faults with backoff, a line per attempt): a token the gateway refuses, or an intent
    the bot may not use."""
    if task.cancelled() or task.exception() is None:
        return
    exc = task.exception()
    if isinstance(exc, discord.LoginFailure | discord.ConnectionClosed):
        log.error(
            "discord: the gateway closed the connection (%s); check DISCORD_TOKEN, then "
            "restart; briefings are kept and posted once it connects",
            exc,
        )
    else:
        log.error("discord: the gateway connection stopped: %s: %s", type(exc).__name__, exc)


class SignalDeskClient(discord.Client):
    """``discord.Client`` that knows its service, so that button clicks (dispatched by
    custom id, see ``BriefingButton``) reach the command handler."""

    service: DiscordService | None = None


def build_client(**options: Any) -> SignalDeskClient:
    """A client with the ``guilds`` intent only (no privileged intents) that never
    pings: ``AllowedMentions.none()`` applies to every message it sends."""
    intents = discord.Intents.none()
    intents.guilds = True
    options.setdefault("allowed_mentions", discord.AllowedMentions.none())
    # A 429 asking for more than 30 s raises instead of sleeping inside the send: the
    # outbox then waits and keeps the channel's order (30 s is discord.py's minimum).
    options.setdefault("max_ratelimit_timeout", 30.0)
    return SignalDeskClient(intents=intents, **options)


class BriefingButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=BUTTON_TEMPLATE):
    """The "More"/"Related" buttons. Registered on the client by template, so a click
    on a message posted before a restart still works: the briefing id is in the
    custom id (``sd:more:<id>``)."""

    def __init__(self, action: str, briefing_id: str) -> None:
        super().__init__(
            discord.ui.Button(label=action.title(), custom_id=button_custom_id(action, briefing_id))
        )
        self.action = action
        self.briefing_id = briefing_id

    @classmethod
    async def from_custom_id(  # type: ignore[override]
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Button[Any],
        match: re.Match[str],
    ) -> BriefingButton:
        return cls(match["action"], match["briefing_id"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        service = getattr(interaction.client, "service", None)
        if service is not None:
            await service.answer(interaction, f"{self.action} {self.briefing_id}")


class DiscordService:
    """The Discord side of ``signaldesk run`` (``bot.cli.PlatformService``)."""

    platform = "discord"

    def __init__(
        self,
        *,
        token: str,
        commands: CommandRunner,
        topics: TopicLister,
        guild_id: int | None = None,
        client: SignalDeskClient | None = None,
        publisher: DiscordPublisher | None = None,
        pacer: ChannelPacer | None = None,
        connect_gateway: bool = True,
        defer_after: float = DEFER_AFTER,
        resume: Resume | None = None,
    ) -> None:
        self.token = token
        self.commands = commands
        self.topics = topics
        self.guild_id = guild_id
        self.client = client or build_client()
        self.client.service = self
        self.client.add_dynamic_items(BriefingButton)
        self.tree: app_commands.CommandTree[Any] = app_commands.CommandTree(self.client)
        # ``pacer``: the channel pacer every publisher shares (else the publisher's own).
        self.publisher = publisher or DiscordPublisher(self.client, pacer=pacer)
        self.connect_gateway = connect_gateway
        self.defer_after = defer_after
        self._gateway: asyncio.Task[None] | None = None
        for group in build_groups(self):
            self.tree.add_command(group)
        if resume is not None:  # ``Desk.resume_channel``: may post again after a pause
            install_resume_events(self.client, resume)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        topics: TopicLister,
        commands: CommandRunner,
        *,
        pacer: ChannelPacer | None = None,
        resume: Resume | None = None,
    ) -> DiscordService:
        """Build from settings: ``DISCORD_TOKEN``, ``DISCORD_GUILD_ID`` and
        ``SIGNALDESK_DISCORD_API_URL`` (another REST server, e.g. a local fake).
        ``topics`` lists a channel's topics for autocomplete (``topic_lister``)."""
        if settings.discord_token is None:
            raise ConfigError("DISCORD_TOKEN is not set")
        if settings.discord_api_url:
            set_api_base(settings.discord_api_url)
        return cls(
            token=settings.discord_token.get_secret_value(),
            commands=commands,
            topics=topics,
            guild_id=settings.discord_guild_id,
            pacer=pacer,
            resume=resume,
        )

    # --------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Log in (REST), register the slash commands, then connect to the gateway in
        the background. A bad token is one clear line (``ConfigError``)."""
        try:
            await asyncio.wait_for(self.client.login(self.token), LOGIN_TIMEOUT)
        except discord.LoginFailure:
            raise ConfigError(
                "DISCORD_TOKEN was rejected by Discord; copy the bot token again from "
                "the Developer Portal (Bot > Reset Token)"
            ) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            await self.client.close()
            raise ConfigError(
                f"cannot reach Discord at {discord.http.Route.BASE} ({type(exc).__name__}); "
                "check the network or proxy, or unset SIGNALDESK_DISCORD_API_URL"
            ) from None
        await self.sync_commands()
        if self.connect_gateway:
            self._gateway = asyncio.create_task(self.client.connect(reconnect=True))
            self._gateway.add_done_callback(_gateway_ended)
        log.info("discord: logged in as %s; invite: %s", self.client.user, self.invite_url())

    async def stop(self) -> None:
        """Close the gateway and the HTTP session, and leave no task of the client
        running: discord.py waits ``guild_ready_timeout`` (2 s) after READY for the
        guilds to arrive, and ``Client.close`` does not end that wait; a service stopped
        in those seconds would leave it pending ("Task was destroyed but it is
        pending!" at exit)."""
        await self.client.close()
        if self._gateway is not None:
            self._gateway.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await self._gateway
        ready = getattr(self.client._connection, "_ready_task", None)
        if isinstance(ready, asyncio.Task) and not ready.done():
            ready.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await ready

    def invite_url(self) -> str | None:
        app_id = self.client.application_id
        return invite_url(app_id) if app_id else None

    async def sync_commands(self) -> list[app_commands.AppCommand]:
        """Register the commands with Discord: to ``DISCORD_GUILD_ID`` when set (at
        once, for setup), else globally. A refusal is logged with what to do; the bot
        keeps posting briefings either way."""
        guild = discord.Object(self.guild_id) if self.guild_id else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        try:
            return await self.tree.sync(guild=guild)
        except discord.HTTPException as exc:
            where = f"server {self.guild_id}" if guild else "Discord"
            log.error(
                "discord: could not register slash commands with %s (HTTP %s: %s); re-invite "
                "the bot with the applications.commands scope (signaldesk discord invite-url)",
                where,
                exc.status,
                exc.text,
            )
            return []

    # ---------------------------------------------------------------- commands
    # (the tree itself: ``commands.build_groups``)

    async def topic_choices(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        """Autocomplete: the channel's topics (then the defaults) containing ``current``."""
        try:
            slugs = await self.topics(f"discord:{interaction.channel_id}")
        except Exception:  # autocomplete must never fail loudly
            log.exception("discord: topic autocomplete failed")
            return []
        needle = current.strip().lstrip("#").lower()
        ranked = [s for s in slugs if s.startswith(needle)] + [
            s for s in slugs if needle in s and not s.startswith(needle)
        ]
        return [
            app_commands.Choice(name=s[:CHOICE_MAX], value=s[:CHOICE_MAX])
            for s in ranked[:CHOICES_MAX]
        ]

    async def import_feeds(
        self,
        interaction: discord.Interaction[Any],
        url: str | None,
        file: discord.Attachment | None,
    ) -> None:
        """``/brief-admin import``: a URL, or an uploaded OPML file pasted as text."""
        if await self.refuse_unpostable(interaction):
            return
        if file is None:
            await self.answer(interaction, f"import {url or ''}".strip(), admin=True)
            return
        if not self.is_admin(interaction):
            await self._send(interaction, render_reply(Reply(text=NOT_ADMIN, error=True)))
            return
        if file.size > IMPORT_FILE_MAX:
            reply = Reply(
                text=f"that file is too large (at most {IMPORT_FILE_MAX // 1_000_000} MB)",
                error=True,
            )
            await self._send(interaction, render_reply(reply))
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            data = await file.read()
        except discord.HTTPException as exc:
            reply = Reply(text=f"could not read the file ({exc.status}); try again", error=True)
            await self._send(interaction, render_reply(reply))
            return
        await self.answer(interaction, "import " + data.decode("utf-8", "replace"), admin=True)

    # ----------------------------------------------------------------- answers

    async def refuse_non_admin(self, interaction: discord.Interaction[Any]) -> None:
        await self._send(interaction, render_reply(Reply(text=NOT_ADMIN, error=True)))

    async def send_answer(
        self, interaction: discord.Interaction[Any], message: DiscordMessage
    ) -> None:
        """Answer an interaction (or follow up a deferred one); for ``setup``."""
        await self._send(interaction, message)

    async def refuse_unpostable(self, interaction: discord.Interaction[Any]) -> bool:
        """Before following feeds here: if the bot lacks a permission it needs to post
        (``app_permissions``), say which (to an admin) and return True."""
        problem = cannot_post_here(interaction.app_permissions)
        if problem is None or not self.is_admin(interaction):
            return False  # a non-admin gets the admin refusal from ``answer``
        await self._send(interaction, render_reply(Reply(text=problem, error=True)))
        return True

    @staticmethod
    def is_admin(interaction: discord.Interaction[Any]) -> bool:
        """Manage Channels in this channel, as Discord resolved it for this interaction
        (the member's roles and the channel's overwrites). Never in a DM."""
        return interaction.guild_id is not None and interaction.permissions.manage_channels

    async def answer(
        self, interaction: discord.Interaction[Any], text: str, *, admin: bool = False
    ) -> None:
        """Run one command and answer the interaction, deferring when the answer takes
        longer than ``defer_after`` seconds."""
        is_admin = self.is_admin(interaction)
        if admin and not is_admin:
            # Checked here as well as by the default permission: owners can change that.
            await self._send(interaction, render_reply(Reply(text=NOT_ADMIN, error=True)))
            return
        asker = Asker(
            channel_id=f"discord:{interaction.channel_id}",
            user_id=str(interaction.user.id),
            is_admin=is_admin,
        )
        task = asyncio.ensure_future(self.commands.handle(text, asker))
        done, _ = await asyncio.wait({task}, timeout=self.defer_after)
        if not done and not interaction.response.is_done():
            # Every answer the core gives is for the asker alone, so the deferred
            # "thinking…" message is ephemeral too.
            try:
                await interaction.response.defer(ephemeral=True, thinking=True)
            except discord.HTTPException as exc:  # too late: the command still completes
                log.warning("discord: could not defer an interaction (%s)", exc.status)
        await self._send(interaction, render_reply(await task))

    async def _send(self, interaction: discord.Interaction[Any], message: DiscordMessage) -> None:
        kwargs: dict[str, Any] = {
            "content": message.content,
            "embeds": message.embeds,
            "ephemeral": message.ephemeral,
            "allowed_mentions": discord.AllowedMentions.none(),
        }
        file = file_for(message)
        if file is not None:
            kwargs["file"] = file
        try:
            if interaction.response.is_done():
                await interaction.followup.send(**kwargs)
            else:
                await interaction.response.send_message(**kwargs)
        except discord.HTTPException as exc:
            # E.g. 404 Unknown interaction: the 3 s window passed. Nothing to answer.
            log.warning("discord: could not answer an interaction (%s %s)", exc.status, exc.text)
