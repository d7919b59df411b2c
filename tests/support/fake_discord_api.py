"""A fake Discord REST API that the real discord.py talks to over HTTP on 127.0.0.1.

What it models, because our code depends on it:
- login (``GET /users/@me``, ``GET /oauth2/applications/@me``) and command sync (``PUT``);
- message create/edit/history, with Discord's nonce enforcement: a create whose nonce
  (with ``enforce_nonce``) matches an earlier message of the same author in the channel
  returns that message and creates none
  (https://discord.com/developers/docs/resources/message#create-message);
- rate limits as Discord sends them: 429 with a ``Via`` header (discord.py treats a 429
  without one as a Cloudflare ban), ``X-RateLimit-*`` headers and a JSON body
  ``{"message", "retry_after", "global"}``;
- interaction callbacks and follow-up webhooks.

Every JSON response has the content type exactly ``application/json``: discord.py only
decodes JSON when the header is exactly that.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import discord
import pytest
import yarl
from aiohttp import web
from discord.gateway import DiscordWebSocket

from tests.support.discord_form import invalid_form_body

APP_ID = 1_100_000_000_000_000_001
BOT_ID = 1_100_000_000_000_000_002
GUILD_ID = 777_000_000_000_000_001
CHANNEL_ID = 555_000_000_000_000_001
USER_ID = 888_000_000_000_000_001
TOKEN = "fake-discord-token"  # the fake checks it; not a secret

BOT_USER = {
    "id": str(BOT_ID),
    "username": "signaldesk",
    "discriminator": "0",
    "global_name": None,
    "avatar": None,
    "bot": True,
}
MANAGE_CHANNELS = 1 << 4
READ_ONLY = (1 << 10) | (1 << 11)  # View Channel + Send Messages
# The bot's permissions in a channel it was invited to with the invite URL's set: View
# Channel, Send Messages, Send Messages in Threads, Embed Links, Read Message History.
BOT_IN_CHANNEL = (1 << 10) | (1 << 11) | (1 << 38) | (1 << 14) | (1 << 16)


@dataclass
class Recorded:
    method: str
    path: str  # below /api/v10
    query: dict[str, str]
    body: Any  # decoded JSON (payload_json for multipart)
    files: dict[str, bytes] = field(default_factory=dict)
    at: float = 0.0


@dataclass
class Failure:
    status: int
    retry_after: float = 0.0
    is_global: bool = False
    via: bool = True
    message: str = ""
    code: int | None = None  # Discord's JSON error code; else the usual one for the status


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    resp = web.Response(status=status, body=json.dumps(data).encode())
    resp.headers["Content-Type"] = "application/json"  # exactly, see the module docstring
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


class FakeDiscord:
    """The fake server. ``fail(method, path, Failure, times)`` makes the next matching
    requests fail; ``messages[channel_id]`` holds what channels contain."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.messages: dict[int, list[dict[str, Any]]] = {}
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.threads: dict[int, int] = {}  # thread id (= its message's id) -> channel
        self.failures: list[tuple[str, re.Pattern[str], Failure]] = []
        self.history_status = 200
        self._ids = itertools.count(1_200_000_000_000_000_001)
        self._runner: web.AppRunner | None = None
        self._old_base = discord.http.Route.BASE
        self._old_gateway = DiscordWebSocket.DEFAULT_GATEWAY
        self.gateway_url = self._old_gateway
        self.sockets: list[web.WebSocketResponse] = []
        self.attachments: dict[str, bytes] = {}
        self.identified = asyncio.Event()
        self._seq = itertools.count(1)
        self.base = ""
        self.event = asyncio.Event()
        # What ``Recorded.at`` is read from: the loop's clock, or a test's fake clock.
        self.clock: Callable[[], float] | None = None

    # ------------------------------------------------------------- control

    def fail(self, method: str, path_regex: str, failure: Failure, times: int = 1) -> None:
        for _ in range(times):
            self.failures.append((method, re.compile(path_regex), failure))

    def posts(self, channel_id: int = CHANNEL_ID) -> list[Recorded]:
        """The message-create requests received for a channel (accepted or not)."""
        path = f"/channels/{channel_id}/messages"
        return [r for r in self.requests if r.method == "POST" and r.path == path]

    def find(self, predicate: Callable[[Recorded], bool]) -> list[Recorded]:
        return [r for r in self.requests if predicate(r)]

    async def wait_for(
        self, predicate: Callable[[Recorded], bool], count: int = 1, seconds: float = 5.0
    ) -> list[Recorded]:
        """Wait until ``count`` recorded requests match (handlers run as tasks)."""

        async def until() -> list[Recorded]:
            while True:
                found = self.find(predicate)
                if len(found) >= count:
                    return found
                self.event.clear()
                await self.event.wait()

        return await asyncio.wait_for(until(), seconds)

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> FakeDiscord:
        app = web.Application(client_max_size=50_000_000)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._handle)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/attachments/{name}", self._attachment)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}/api/v10"
        discord.http.Route.BASE = self.base
        # The gateway URL is a constant in discord.py, like the REST base.
        self.gateway_url = yarl.URL(f"ws://127.0.0.1:{port}/gateway")
        DiscordWebSocket.DEFAULT_GATEWAY = self.gateway_url
        return self

    async def stop(self) -> None:
        discord.http.Route.BASE = self._old_base
        DiscordWebSocket.DEFAULT_GATEWAY = self._old_gateway
        for ws in list(self.sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------- routing

    async def _attachment(self, request: web.Request) -> web.Response:
        """The CDN: uploaded files (``attachments[name] = bytes``)."""
        data = self.attachments.get(request.match_info["name"])
        return web.Response(body=data) if data is not None else web.Response(status=404)

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        """Just enough of the gateway: HELLO, IDENTIFY -> READY, heartbeat ACKs; events
        are pushed with ``push``. Frames are plain JSON text (no zlib-stream)."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 45_000}})
        async for frame in ws:
            msg = json.loads(frame.data)
            if msg["op"] == 2:  # IDENTIFY
                assert msg["d"]["token"] == TOKEN
                assert msg["d"]["intents"] & ~discord.Intents.default().value == 0  # unprivileged
                ready = {
                    "v": 10,
                    "user": BOT_USER,
                    "guilds": [],
                    "session_id": "fake-session",
                    "resume_gateway_url": str(self.gateway_url),
                    "application": {"id": str(APP_ID), "flags": 0},
                }
                await self.push("READY", ready)
                self.identified.set()
            elif msg["op"] == 1:  # HEARTBEAT
                await ws.send_json({"op": 11})
        self.sockets.remove(ws)
        return ws

    async def push(self, event: str, data: dict[str, Any]) -> None:
        """Send a dispatch event (e.g. INTERACTION_CREATE) to every connected client."""
        for ws in self.sockets:
            await ws.send_json({"op": 0, "t": event, "s": next(self._seq), "d": data})

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body: Any = None
        files: dict[str, bytes] = {}
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                if part.name == "payload_json":  # type: ignore[union-attr]
                    body = json.loads(await part.text())  # type: ignore[union-attr]
                else:
                    files[part.filename or ""] = await part.read()  # type: ignore[union-attr]
        elif request.can_read_body:
            raw = await request.read()
            body = json.loads(raw) if raw else None
        rec = Recorded(
            request.method,
            path,
            dict(request.query),
            body,
            files,
            self.clock() if self.clock else asyncio.get_running_loop().time(),
        )
        self.requests.append(rec)
        self.event.set()
        if request.headers.get("Authorization") not in (f"Bot {TOKEN}", None):
            return _json({"message": "401: Unauthorized", "code": 0}, 401)
        for i, (method, pattern, failure) in enumerate(self.failures):
            if method == request.method and pattern.fullmatch(path):
                del self.failures[i]
                return self._failure(failure)
        return await self._route(request.method, path, rec)

    def _failure(self, failure: Failure) -> web.Response:
        if failure.status == 429:
            headers = {
                "Retry-After": str(max(1, round(failure.retry_after))),
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset-After": str(failure.retry_after),
                "X-RateLimit-Bucket": "fakebucket",
                "X-RateLimit-Scope": "global" if failure.is_global else "user",
            }
            if failure.via:
                headers["Via"] = "1.1 google"
            if failure.is_global:
                headers["X-RateLimit-Global"] = "true"
            body = {
                "message": "You are being rate limited.",
                "retry_after": failure.retry_after,
                "global": failure.is_global,
            }
            return _json(body, 429, headers)
        message = failure.message or {403: "Missing Permissions", 404: "Unknown Channel"}.get(
            failure.status, "Server error"
        )
        code = failure.code or {403: 50013, 404: 10003}.get(failure.status, 0)
        return _json({"message": message, "code": code}, failure.status)

    async def _route(self, method: str, path: str, rec: Recorded) -> web.Response:
        body = rec.body
        if method == "GET" and path == "/users/@me":
            return _json(BOT_USER)
        if method == "GET" and path == "/oauth2/applications/@me":
            return _json(
                {
                    "id": str(APP_ID),
                    "name": "SignalDesk",
                    "description": "",
                    "icon": None,
                    "bot_public": True,
                    "bot_require_code_grant": False,
                    "owner": {**BOT_USER, "id": str(USER_ID), "bot": False},
                    "verify_key": "0" * 64,
                    "flags": 0,
                }
            )
        m = re.fullmatch(r"/applications/(\d+)(?:/guilds/(\d+))?/commands", path)
        if m and method == "PUT":
            self.commands[m[2] or "global"] = body
            return _json([self._command(c, m[2]) for c in body])
        if m := re.fullmatch(r"/channels/(\d+)/messages", path):
            channel = int(m[1])
            if method == "POST":
                if refused := invalid_form_body(body):
                    return refused
                return _json(self._create(channel, body))
            if method == "GET":
                if self.history_status != 200:
                    return self._failure(Failure(self.history_status))
                limit = int(rec.query.get("limit", 50))
                return _json(list(reversed(self.messages.get(channel, [])))[:limit])
        if m := re.fullmatch(r"/channels/(\d+)/messages/(\d+)", path):
            found = self._message(int(m[1]), int(m[2]))
            if found is None:
                return _json({"message": "Unknown Message", "code": 10008}, 404)
            if method == "PATCH":
                if refused := invalid_form_body(body):
                    return refused
                found.update({k: v for k, v in body.items() if k != "allowed_mentions"})
                found["edited_timestamp"] = _now()
                return _json(found)
        if m := re.fullmatch(r"/channels/(\d+)/messages/(\d+)/threads", path):
            return self._start_thread(int(m[1]), int(m[2]), body or {})
        if m := re.fullmatch(r"/interactions/(\d+)/([^/]+)/callback", path):
            return self._callback(int(m[1]), body)
        if m := re.fullmatch(r"/webhooks/(\d+)/([^/]+)(/messages/@original)?", path):
            return _json(self._message_object(CHANNEL_ID, body or {}, webhook=True))
        return _json({"message": f"404: Not Found ({method} {path})", "code": 0}, 404)

    # ------------------------------------------------------------- objects

    def _command(self, data: dict[str, Any], guild: str | None) -> dict[str, Any]:
        out = {
            "id": str(next(self._ids)),
            "application_id": str(APP_ID),
            "version": "1",
            "type": 1,
            "nsfw": False,
            "default_member_permissions": None,
            **data,
        }
        if guild:
            out["guild_id"] = guild
        return out

    def _message_object(
        self, channel: int, body: dict[str, Any], *, webhook: bool = False
    ) -> dict[str, Any]:
        reference = body.get("message_reference")
        msg: dict[str, Any] = {
            "id": str(next(self._ids)),
            "channel_id": str(channel),
            "author": BOT_USER,
            "content": body.get("content") or "",
            "timestamp": _now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "pinned": False,
            "type": 19 if reference else 0,
            "flags": body.get("flags") or 0,
        }
        if webhook:
            msg["webhook_id"] = str(APP_ID)
        if reference:
            msg["message_reference"] = {**reference, "type": 0}
        if body.get("nonce") is not None:
            msg["nonce"] = body["nonce"]
        return msg

    def _create(self, channel: int, body: dict[str, Any]) -> dict[str, Any]:
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            for existing in self.messages.get(channel, []):
                if existing.get("nonce") == nonce and existing["author"]["id"] == str(BOT_ID):
                    return existing  # Discord returns the first message, creates none
        msg = self._message_object(channel, body)
        self.messages.setdefault(channel, []).append(msg)
        return msg

    def _start_thread(self, channel: int, message_id: int, body: dict[str, Any]) -> web.Response:
        """A public thread on a message: its id is the message's id, as on Discord; a
        second one is refused with 160004. ``threads`` maps the thread to its parent."""
        if message_id in self.threads:
            message = "A thread has already been created for this message"
            return _json({"message": message, "code": 160004}, 400)
        if self._message(channel, message_id) is None:
            return _json({"message": "Unknown Message", "code": 10008}, 404)
        self.threads[message_id] = channel
        thread = {
            "id": str(message_id),
            "guild_id": str(GUILD_ID),
            "parent_id": str(channel),
            "owner_id": str(BOT_ID),
            "name": body.get("name", ""),
            "type": 11,
            "last_message_id": None,
            "message_count": 0,
            "member_count": 1,
            "rate_limit_per_user": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": body.get("auto_archive_duration", 1440),
                "archive_timestamp": _now(),
                "locked": False,
            },
        }
        return _json(thread, 201)

    def _message(self, channel: int, message_id: int) -> dict[str, Any] | None:
        for msg in self.messages.get(channel, []):
            if int(msg["id"]) == message_id:
                return msg
        return None

    def _callback(self, interaction_id: int, body: dict[str, Any]) -> web.Response:
        kind = body["type"]
        data = body.get("data") or {}
        resource: dict[str, Any] = {"type": kind}
        if kind == 4:
            resource["message"] = self._message_object(CHANNEL_ID, data, webhook=True)
        return _json(
            {
                "interaction": {
                    "id": str(interaction_id),
                    "type": 2,
                    "response_message_id": resource.get("message", {}).get("id"),
                    "response_message_loading": kind == 5,
                    "response_message_ephemeral": bool((data.get("flags") or 0) & 64),
                },
                "resource": resource,
            }
        )

    # ------------------------------------------------------------ payloads


_interaction_ids = itertools.count(1_300_000_000_000_000_001)


def interaction(
    data: dict[str, Any],
    *,
    kind: int = 2,
    permissions: int = READ_ONLY,
    channel_id: int = CHANNEL_ID,
    message: dict[str, Any] | None = None,
    app_permissions: int = BOT_IN_CHANNEL,
) -> dict[str, Any]:
    """A raw INTERACTION_CREATE payload from a guild text channel, as the gateway
    delivers it (``kind`` 2 = slash command, 3 = component, 4 = autocomplete)."""
    iid = next(_interaction_ids)
    payload: dict[str, Any] = {
        "id": str(iid),
        "application_id": str(APP_ID),
        "type": kind,
        "token": f"tok-{iid}",
        "version": 1,
        "guild_id": str(GUILD_ID),
        "channel_id": str(channel_id),
        "channel": {
            "id": str(channel_id),
            "type": 0,
            "guild_id": str(GUILD_ID),
            "name": "news",
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
        },
        "member": {
            "user": {
                "id": str(USER_ID),
                "username": "asker",
                "discriminator": "0",
                "global_name": None,
                "avatar": None,
            },
            "roles": [],
            "joined_at": "2024-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
            "permissions": str(permissions),
        },
        "app_permissions": str(app_permissions),
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(GUILD_ID)},
        "context": 0,
        "attachment_size_limit": 10_485_760,
        "data": data,
    }
    if message is not None:
        payload["message"] = message
    return payload


def slash(command: str, /, *path: str, **options: Any) -> dict[str, Any]:
    """``data`` of a slash command: ``slash("brief", "search", words="chips")`` or
    ``slash("brief-admin", "feed", "add", url=...)``. An option given as
    ``("focused", value)`` is the one being autocompleted."""
    leaf: list[dict[str, Any]] = []
    for key, value in options.items():
        opt: dict[str, Any] = {"name": key, "type": 3, "value": value}
        if isinstance(value, tuple) and value[0] == "focused":
            opt["value"], opt["focused"] = value[1], True
        leaf.append(opt)
    tree: list[dict[str, Any]] = leaf
    for i, part in enumerate(reversed(path)):
        kind = 1 if i == 0 else 2  # subcommand, then subcommand group
        tree = [{"name": part, "type": kind, "options": tree}]
    return {"id": "1", "name": command, "type": 1, "options": tree, "guild_id": str(GUILD_ID)}


def _now() -> str:
    return datetime.now(UTC).isoformat()


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """A started fake Discord; ``discord.http.Route.BASE`` points at it (restored after)."""
    server = await FakeDiscord().start()
    try:
        yield server
    finally:
        await server.stop()
