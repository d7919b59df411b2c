"""``SlackService``: slack-bolt's ``AsyncApp`` wired to the core. Commands in, replies out.

- ``/brief …`` becomes ``CommandHandler.handle(text, Asker)``. Slack wants an answer
  within 3 s (https://api.slack.com/interactivity/slash-commands#responding_basic_receipt):
  if the core answers within ``ack_budget`` (1.5 s) the acknowledgement carries the
  reply; otherwise it says "Working on it…" and the reply follows via ``response_url``.
- The "More"/"Related" buttons run ``more <id>``/``related <id>``: a More on a channel
  post puts the full briefing into its thread once; everything else (Related, a click
  on a private answer, a second More) answers the clicker privately.
- Socket Mode when ``SLACK_APP_TOKEN`` is set; else HTTP on ``/slack/events`` (bolt
  verifies every request's signature and timestamp). Optional multi-workspace OAuth
  (HTTP mode): installations, OAuth states and the channel directory are kept in the
  service's own database (``installations.py``, over ``bot.ports.slack``).
- Everything runs on the service's event loop: nothing here blocks or owns the loop.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.app.async_server import AsyncSlackAppServer
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.commands import Asker, FeedAdd, Import, parse_command
from bot.commands.overview import Overview
from bot.errors import ConfigError
from bot.models import Reply
from bot.pacing import ChannelPacer

from .access import Admins, cannot_post_because, check_token
from .home import SetupScreens
from .installations import (
    ChannelDirectory,
    SlackStorage,
    WorkspaceInstallations,
    WorkspaceStates,
    import_legacy_file,
)
from .publisher import SlackPublisher
from .render import MORE_ACTION, RELATED_ACTION, render_reply, working_message
from .replay import ReplayGuard
from .workspaces import ChannelMembership, Hold, Resume, WorkspaceLifecycle

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger("signaldesk.slack")

DEFAULT_API_URL = "https://slack.com/api/"
EVENTS_PATH = "/slack/events"
# The bot scopes the app asks for; adapters/slack/manifest.yml lists the same.
BOT_SCOPES = [
    "commands",
    "chat:write",
    "users:read",
    "channels:history",
    "groups:history",
    # member_joined_channel and channel/group_unarchive: the bot invited back.
    "channels:read",
    "groups:read",
    # feed add in a public channel the bot is not in: join it instead of refusing.
    "channels:join",
]
NOT_INSTALLED = (
    "SignalDesk is not installed in this workspace, so nothing was run. Ask a workspace "
    "admin to install it from the SignalDesk server's /slack/install page."
)
FAILED = "Something went wrong answering that; please try again."
FOREIGN_WORKSPACE = "This SignalDesk server serves another Slack workspace, so nothing was run."
_BRIEFING_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# (team, channel, thread, briefing) whose full briefing this process put in a thread: a
# later More there answers privately. In memory: after a restart one more copy can land.
THREADED_MEMORY = 10_000


class _SameTokenWarning(logging.Filter):
    """bolt reads SLACK_BOT_TOKEN from the environment by itself and then warns that the
    given client's token wins; our client is built from that very token, so the warning
    would only mislead an operator."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


_BOLT_LOG = logging.getLogger("slack_bolt.AsyncApp")
if not any(isinstance(f, _SameTokenWarning) for f in _BOLT_LOG.filters):
    _BOLT_LOG.addFilter(_SameTokenWarning())


# Slack sends a link in command text as <url> or <url|label> (the only literal "<" and
# ">" in it: typed ones arrive as entities). Mentions (<@U1>, <#C1|x>, <!here>) stay.
_LINK = re.compile(r"<([^<>|\s@#!][^<>|\s]*)(?:\|[^<>]*)?>")


def plain_links(text: str) -> str:
    """Slack's ``<url|label>`` link markup as the bare URL the core's grammar reads.
    Runs on the raw text, before ``unescape``."""
    return _LINK.sub(lambda m: m.group(1), text)


def unescape(text: str) -> str:
    """Slack sends ``&``, ``<`` and ``>`` in command text as entities; the core reads
    plain text (a feed URL's ``?a=1&b=2`` must arrive intact)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


class Commands(Protocol):
    """What the service needs of ``bot.commands.CommandHandler``."""

    async def handle(self, text: str, asker: Asker) -> Reply: ...

    async def overview(
        self, platform: str, channel_ids: list[str] | None = None, *, admin: bool
    ) -> Overview: ...


def build_client(settings: Settings, *, with_token: bool = True) -> AsyncWebClient:
    """The Web API client: the bot token, ``SIGNALDESK_SLACK_API_URL`` (tests) and the
    retry handlers — connection resets, and 429s answered by waiting ``Retry-After``."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return AsyncWebClient(
        token=token if with_token else None,
        base_url=settings.slack_api_url or DEFAULT_API_URL,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(),
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
        ],
    )


class SlackService:
    """The Slack side of ``signaldesk run`` (the ``PlatformService`` protocol): serves
    ``/brief`` and the buttons, and offers ``publisher`` to the engine's delivery."""

    platform = "slack"

    def __init__(
        self,
        app: AsyncApp,
        publisher: SlackPublisher,
        commands: Commands,
        *,
        app_token: str | None = None,
        host: str = "0.0.0.0",
        port: int = 3000,
        admin_users: frozenset[str] = frozenset(),
        ack_budget: float = 1.5,
        directory: ChannelDirectory | None = None,
        upgrade: Callable[[], Coroutine[Any, Any, object]] | None = None,
        resume: Resume | None = None,
        hold: Hold | None = None,
    ) -> None:
        self.app = app
        self.publisher = publisher
        self.commands = commands
        self.app_token = app_token
        self.host = host
        self.port = port
        self.admins = Admins(admin_users)
        self.ack_budget = ack_budget
        self.directory = directory
        self.upgrade = upgrade
        self._threaded: OrderedDict[tuple[str, str, str, str], None] = OrderedDict()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self.single_workspace = directory is None
        self.replays = ReplayGuard()
        app.middleware(self._guard)
        app.command("/brief")(self._on_brief)
        app.action(MORE_ACTION)(self._on_button)
        app.action(RELATED_ACTION)(self._on_button)
        ChannelMembership(resume, hold).register(app)
        if directory is not None:
            app.middleware(self._remember_channel)
        self.screens = SetupScreens(self)
        self.screens.register(app)

    # ---------------------------------------------------------------- wiring

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        storage: SlackStorage | None,
        commands: Commands,
        *,
        pacer: ChannelPacer | None = None,
        resume: Resume | None = None,
        hold: Hold | None = None,
    ) -> SlackService:
        """Build from settings: Socket Mode with ``SLACK_APP_TOKEN``, else HTTP mode
        (which needs ``SLACK_SIGNING_SECRET``); OAuth with ``SLACK_CLIENT_ID``/``SECRET``
        in HTTP mode, its state kept in the database through ``storage`` (the store and
        its writer thread; needed only then). ``pacer``: the channel pacer every
        publisher shares (else the publisher's own)."""
        app_token = (
            settings.slack_app_token.get_secret_value() if settings.slack_app_token else None
        )
        secret = (
            settings.slack_signing_secret.get_secret_value()
            if settings.slack_signing_secret
            else None
        )
        if app_token is None and not secret:
            raise ConfigError(
                "setting SLACK_SIGNING_SECRET is required for Slack HTTP mode "
                "(or set SLACK_APP_TOKEN to use Socket Mode)"
            )
        admins = frozenset(u.strip() for u in settings.slack_admin_users.split(",") if u.strip())
        oauth = bool(settings.slack_client_id and settings.slack_client_secret)
        if oauth and app_token:
            log.warning("Slack OAuth needs HTTP mode; ignoring SLACK_CLIENT_ID in Socket Mode")
            oauth = False
        directory: ChannelDirectory | None = None
        upgrade: Callable[[], Coroutine[Any, Any, object]] | None = None
        if oauth:
            app, publisher, directory, upgrade = _oauth_mode(
                settings, storage, secret, pacer=pacer, resume=resume
            )
        else:
            client = build_client(settings)
            app = AsyncApp(signing_secret=secret or "", client=client)
            publisher = SlackPublisher(client, pacer=pacer)
        return cls(
            app,
            publisher,
            commands,
            app_token=app_token,
            host=settings.slack_host,
            port=settings.slack_port,
            admin_users=admins,
            directory=directory,
            upgrade=upgrade,
            resume=resume,
            hold=hold,
        )

    async def start(self) -> None:
        """Connect (Socket Mode) or start listening (HTTP mode) on the running loop;
        first, in OAuth mode, import the installations an older version kept apart."""
        if self.upgrade is not None:
            await self.upgrade()
        if self.single_workspace:
            await check_token(self.app.client, "SLACK_BOT_TOKEN", "auth_test")
        if self.app_token:
            # slack-sdk would retry a refused app token every few seconds forever.
            probe = AsyncWebClient(base_url=self.app.client.base_url)
            await check_token(
                probe, "SLACK_APP_TOKEN", "apps_connections_open", app_token=self.app_token
            )
            self._socket = AsyncSocketModeHandler(self.app, self.app_token)
            await self._socket.connect_async()
            log.info("Slack: connected in Socket Mode")
            return
        server = AsyncSlackAppServer(port=self.port, path=EVENTS_PATH, app=self.app, host=self.host)
        self._runner = web.AppRunner(server.web_app, access_log=None)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, self.host, self.port).start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise ConfigError(
                f"Slack HTTP mode cannot listen on {self.host}:{self.port} "
                f"({exc.strerror or exc}): another program uses that port; set SLACK_PORT "
                "(and SLACK_HOST) to a free one"
            ) from None
        self.port = self._runner.addresses[0][1]  # the bound port (port 0 picks one)
        log.info("Slack: listening on http://%s:%s%s", self.host, self.port, EVENTS_PATH)

    async def stop(self) -> None:
        """Disconnect or stop listening; let in-flight answers finish briefly."""
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)

    # -------------------------------------------------------------- handlers

    async def _guard(self, req: Any, context: Any, next: Callable[[], Any]) -> Any:
        """After bolt has checked the signature: a signed request is applied once (a
        replay inside the signature's window is dropped), and in single-workspace mode
        only the bot's own workspace is served."""
        signature = _header(req, "x-slack-signature")
        if signature is not None:
            stamp = _header(req, "x-slack-request-timestamp") or ""
            if not self.replays.first_use(signature, stamp):
                log.warning("Slack: dropped a replayed request (same signature as before)")
                return BoltResponse(status=200, body="")
        if self.single_workspace:
            result = context.authorize_result
            home = getattr(result, "team_id", None)
            team = context.team_id
            if home and team and team != home:
                log.warning(
                    "Slack: refused a request from workspace %s (this bot serves %s)", team, home
                )
                return BoltResponse(
                    status=200,
                    body={"response_type": "ephemeral", "text": FOREIGN_WORKSPACE},
                )
        return await next()

    async def _on_brief(self, ack: Any, body: dict[str, Any], respond: Any, client: Any) -> None:
        text = unescape(plain_links(body.get("text") or "")).strip()
        channel = str(body.get("channel_id") or "")
        user = str(body.get("user_id") or "")
        team = str(body.get("team_id") or "")
        # No URL: an admin gets the setup form (its trigger lasts 3 s: opened first).
        if (
            text.lower().split() == ["feed", "add"]
            and body.get("trigger_id")
            and await self.is_admin(client, team, user)
            and await self.screens.open_modal(
                client, str(body["trigger_id"]), channel, from_home=False
            )
        ):
            await ack()
            return
        answer = self._spawn(
            self._answer(text, channel=channel, user=user, team=team, client=client)
        )
        done, _ = await asyncio.wait({answer}, timeout=self.ack_budget)
        if done:
            await ack(render_reply(answer.result()))
            return
        # Slow (a search, a feed add): acknowledge now, answer via response_url.
        await ack(working_message())
        payload = render_reply(await answer)
        try:  # "Working on it…" gives way to the answer instead of staying above it
            if payload.get("response_type") == "ephemeral":
                await respond(replace_original=True, **payload)
            else:  # Slack cannot turn a private message public: remove it, then post
                await respond(delete_original=True)
                await respond(**payload)
        except Exception:
            log.exception("Slack: could not send the /brief answer via response_url")

    async def _on_button(
        self, ack: Any, body: dict[str, Any], action: dict[str, Any], client: Any, respond: Any
    ) -> None:
        """More/Related. The answer goes where the clicker expects it: privately (the
        action's ``response_url``, which works in channels the bot is not in) for a
        click on a private answer — Slack sends no ``message`` for an ephemeral one —
        for Related, for errors, and for a More whose thread already has the full
        briefing; a More on a channel post puts the full briefing into the post's
        thread once (a later click answers privately, not with another copy)."""
        await ack()
        verb = "more" if action.get("action_id") == MORE_ACTION else "related"
        briefing_id = str(action.get("value") or "")
        if not _BRIEFING_ID.match(briefing_id):
            return  # not a value this app ever sent
        channel = str((body.get("channel") or {}).get("id") or "")
        user = str((body.get("user") or {}).get("id") or "")
        team = str((body.get("team") or {}).get("id") or "")
        container = body.get("container") or {}
        message = body.get("message")
        reply = await self._answer(
            f"{verb} {briefing_id}", channel=channel, user=user, team=team, client=client
        )
        payload = render_reply(reply)
        del payload["response_type"]
        thread = None
        if message and not container.get("is_ephemeral") and verb == "more" and not reply.error:
            thread = str(message.get("thread_ts") or message.get("ts") or "") or None
        key = (team, channel, thread or "", briefing_id)
        if thread is not None and key not in self._threaded:
            try:
                await client.chat_postMessage(
                    channel=channel, thread_ts=thread, unfurl_links=False, **payload
                )
                self._threaded[key] = None
                while len(self._threaded) > THREADED_MEMORY:
                    self._threaded.popitem(last=False)
                return
            except (SlackClientError, OSError) as exc:  # e.g. not_in_channel: answer privately
                log.warning("Slack: could not answer a More click in %s: %s", channel, exc)
        try:
            await respond(response_type="ephemeral", replace_original=False, **payload)
        except (SlackClientError, OSError, ValueError) as exc:
            log.warning("Slack: could not answer a %s click in %s: %s", verb, channel, exc)

    async def _answer(self, text: str, *, channel: str, user: str, team: str, client: Any) -> Reply:
        """Run one command through the core; never raises."""
        try:
            is_admin = await self.is_admin(client, team, user)
            if is_admin and isinstance(parse_command(text), FeedAdd | Import):
                problem = await cannot_post_because(client, channel)
                if problem:
                    return Reply(text=f"{problem}; nothing was added", error=True)
            asker = Asker(channel_id=f"slack:{channel}", user_id=user, is_admin=is_admin)
            return await self.commands.handle(text, asker)
        except Exception:
            log.exception("Slack: /brief %r failed", text[:100])
            return Reply(text=FAILED, error=True)

    async def is_admin(self, client: Any, team: str, user: str) -> bool:
        """See ``Admins``."""
        return await self.admins.check(client, team, user)

    async def _remember_channel(self, context: Any, next: Callable[[], Any]) -> Any:
        # Multi-workspace: which workspace a channel belongs to, so that the publisher
        # can post there with that workspace's bot token.
        if self.directory is not None and context.channel_id and context.team_id:
            await self.directory.remember(
                context.channel_id, context.team_id, context.enterprise_id
            )
        return await next()

    def _spawn(self, coro: Coroutine[Any, Any, Reply]) -> asyncio.Task[Reply]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)  # keep a reference until done (asyncio holds only weak ones)
        task.add_done_callback(self._tasks.discard)
        return task


def _oauth_mode(
    settings: Settings,
    storage: SlackStorage | None,
    secret: str | None,
    *,
    pacer: ChannelPacer | None,
    resume: Resume | None,
) -> tuple[AsyncApp, SlackPublisher, ChannelDirectory, Callable[[], Coroutine[Any, Any, object]]]:
    """Multi-workspace (OAuth) mode: the app with its installation and state stores in
    the database, the channel directory, a publisher that posts with each workspace's
    own bot token, and the import of what an older version kept in a file of its own."""
    assert settings.slack_client_id and settings.slack_client_secret
    database = settings.database_path
    if database is None:
        raise ConfigError(
            "Slack OAuth (SLACK_CLIENT_ID) needs SIGNALDESK_DATABASE to be a file, "
            "not :memory:, so installations survive a restart"
        )
    if storage is None:
        raise TypeError("Slack OAuth mode keeps its installations in the database")
    installations = WorkspaceInstallations(storage, settings.slack_client_id)
    client = build_client(settings, with_token=False)
    app = AsyncApp(
        signing_secret=secret,
        client=client,
        oauth_settings=AsyncOAuthSettings(
            client_id=settings.slack_client_id,
            client_secret=settings.slack_client_secret.get_secret_value(),
            scopes=BOT_SCOPES,
            installation_store=installations,
            state_store=WorkspaceStates(storage),
        ),
        user_facing_authorize_error_message=NOT_INSTALLED,
    )
    directory = ChannelDirectory(storage)
    # Uninstalled / revoked: the install is gone and its channels held; a new
    # install resumes them.
    WorkspaceLifecycle(installations, directory, resume).register(app)
    publisher = SlackPublisher(
        build_client(settings),
        pacer=pacer,
        token_for=directory.token_resolver(installations),
        limited_history=not settings.slack_marketplace_app,
    )

    async def upgrade() -> object:
        return await import_legacy_file(storage, database)

    return app, publisher, directory, upgrade


def _header(req: Any, name: str) -> str | None:
    values = (getattr(req, "headers", None) or {}).get(name)
    if not values:
        return None
    return str(values[0] if isinstance(values, (list, tuple)) else values)


__all__ = ["BOT_SCOPES", "EVENTS_PATH", "ChannelDirectory", "SlackService", "build_client"]
