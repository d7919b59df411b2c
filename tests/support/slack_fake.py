"""A fake Slack: the Web API, ``response_url`` and the Socket Mode websocket, on
127.0.0.1 (port 0), served by aiohttp on the test's own event loop.

The real slack-sdk and slack-bolt talk to it over HTTP. Every call is recorded; failures
(429 with Retry-After, 5xx, Slack error codes) are queued per method with ``fail``; an
outage (every call to a method answered with one status until lifted) is ``down``; and
``latency`` delays calls on both sides of carrying them out, so that a client killed
mid-call leaves either no message or a message whose answer it never read.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.support.slack_checks import view_problems


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    status: int = 200  # what the fake answered
    ok: bool = True


@dataclass
class Failure:
    status: int = 200
    error: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # True: carry out the call, then answer with the failure (the post landed but the
    # answer was lost: what a timeout or a 5xx after the fact looks like to a client).
    apply: bool = False
    # Only calls about this channel get the failure (None: any call to the method).
    channel: str | None = None
    # Hold the call until this is set, then carry it out and answer ok: Slack finishing
    # a post long after the client gave up waiting (status and error are not used).
    until: asyncio.Event | None = None


def _truthy(value: Any) -> bool:
    return value in (True, 1, "1", "true", "True")


class FakeSlack:
    """``await FakeSlack().start()``; ``api_url`` for ``AsyncWebClient(base_url=...)``."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.channel_errors: dict[str, str] = {}  # channel -> Slack error code
        self.rejected_tokens: set[str] = set()  # answered invalid_auth, whatever the method
        # Channels the bot is not a member of (conversations.info says is_member false;
        # a private one it was not invited to is not found at all).
        self.outside: set[str] = set()
        self.private: set[str] = set()
        self.archived: set[str] = set()
        # Bot scopes granted beyond the manifest's (conversations.join needs channels:join).
        self.scopes: set[str] = set()
        self.failures: dict[str, list[Failure]] = {}
        self.responses: list[dict[str, Any]] = []  # bodies POSTed to response_url
        self.ws_envelopes: list[dict[str, Any]] = []  # sent after "hello"
        # OAuth: authorization code -> the workspace (team id) that granted it.
        self.oauth_codes: dict[str, str] = {}
        self.ws_acks: list[dict[str, Any]] = []
        # Views: open modals by view id, the App Home each user was last shown, and the
        # trigger ids already used (Slack lets one trigger open one view).
        self.views: dict[str, dict[str, Any]] = {}
        self.homes: dict[str, dict[str, Any]] = {}
        self.used_triggers: set[str] = set()
        self._view_ids = itertools.count(1)
        self.acked = asyncio.Event()
        self.responded = asyncio.Event()
        self.posted = asyncio.Event()
        # method -> HTTP status answered to every call while the method is "down".
        self.down: dict[str, int] = {}
        # method -> (most seconds before, most seconds after) carrying a call out; each
        # call waits a random share of both (seeded, see ``rng``).
        self.latency: dict[str, tuple[float, float]] = {}
        self.rng = random.Random(0)
        self.in_flight = 0  # calls being served right now (inside their latency)
        self._ts = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.base = ""

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{name}", self._response_url)
        app.router.add_get("/ws", self._websocket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return self.base + "/api/"

    def response_url(self, name: str = "r1") -> str:
        return f"{self.base}/response/{name}"

    # -------------------------------------------------------------- helpers

    def fail(self, method: str, *failures: Failure) -> None:
        """Answer the next calls to ``method`` with these failures, in order."""
        self.failures.setdefault(method, []).extend(failures)

    def calls_to(self, method: str, *, ok: bool | None = None) -> list[Call]:
        return [c for c in self.calls if c.method == method and (ok is None or c.ok == ok)]

    def add_message(self, channel: str, **message: Any) -> str:
        ts = self._next_ts()
        self.messages.setdefault(channel, []).append({"ts": ts, "type": "message", **message})
        return ts

    def _next_ts(self) -> str:
        # Real Slack ts values are epoch seconds with a 6-digit sequence.
        return f"{int(time.time())}.{next(self._ts):06d}"

    # ---------------------------------------------------------------- Web API

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: dict[str, Any] = dict(request.query)
        if request.body_exists:
            if request.content_type == "application/json":
                params.update(await request.json())
            else:
                params.update(await request.post())
        call = Call(method, params, {k.lower(): v for k, v in request.headers.items()})
        self.calls.append(call)
        token = call.headers.get("authorization", "").removeprefix("Bearer ")
        if token in self.rejected_tokens:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if method in self.down:
            call.status, call.ok = self.down[method], False
            return web.Response(status=self.down[method], text="Slack is down")
        queued = self.failures.get(method) or []
        failure = next((f for f in queued if f.channel in (None, str(params.get("channel")))), None)
        if failure is not None and failure.until is not None:
            queued.remove(failure)
            await failure.until.wait()
            result = getattr(self, "_" + method.replace(".", "_"))(params)
            return web.json_response(result)
        if failure is not None:
            queued.remove(failure)
            if failure.apply:
                getattr(self, "_" + method.replace(".", "_"))(params)
            call.status, call.ok = failure.status, False
            body = {"ok": False, "error": failure.error or f"http_{failure.status}"}
            if failure.status >= 500:
                return web.Response(
                    status=failure.status, text="upstream trouble", headers=failure.headers
                )
            return web.json_response(body, status=failure.status, headers=failure.headers)
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            call.ok = False
            return web.json_response({"ok": False, "error": "unknown_method"})
        before, after = self.latency.get(method, (0.0, 0.0))
        self.in_flight += 1
        try:
            if before:
                await asyncio.sleep(self.rng.uniform(0, before))
            result: dict[str, Any] = handler(params)
            if after:
                await asyncio.sleep(self.rng.uniform(0, after))
        finally:
            self.in_flight -= 1
        call.ok = bool(result.get("ok"))
        if call.ok and method == "chat.postMessage":
            self.posted.set()
        return web.json_response(result)

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake.slack.test/",
            "team": "Fake",
            "user": "signaldesk",
            "team_id": "T1",
            "user_id": "UBOT",
            "bot_id": "BBOT",
        }

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(params.get("user")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": user}

    def _channel_error(self, params: dict[str, Any]) -> dict[str, Any] | None:
        error = self.channel_errors.get(str(params.get("channel")))
        return {"ok": False, "error": error} if error else None

    def _chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        if error := self._channel_error(params):
            return error
        channel = str(params["channel"])
        message = {
            "type": "message",
            "ts": self._next_ts(),
            "bot_id": "BBOT",
            "text": params.get("text"),
            "blocks": params.get("blocks"),
        }
        if params.get("metadata"):
            message["metadata"] = params["metadata"]
        if params.get("thread_ts"):
            message["thread_ts"] = params["thread_ts"]
        self.messages.setdefault(channel, []).append(message)
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": message}

    def _chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._channel_error(params) or {"ok": True, "message_ts": self._next_ts()}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        if error := self._channel_error(params):
            return error
        for message in self.messages.get(str(params["channel"]), []):
            if message["ts"] == params.get("ts"):
                message.update(
                    {k: params[k] for k in ("text", "blocks", "metadata") if k in params}
                )
                return {"ok": True, "channel": params["channel"], "ts": message["ts"]}
        return {"ok": False, "error": "message_not_found"}

    @staticmethod
    def _view(params: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """The ``view`` argument (a JSON string when form-encoded) and the error answer
        Slack gives for one it refuses."""
        view = params.get("view")
        if isinstance(view, str):
            try:
                view = json.loads(view)
            except ValueError:
                return None, {"ok": False, "error": "invalid_arguments"}
        problems = view_problems(view)
        if problems:
            meta = {"messages": [f"[ERROR] {p}" for p in problems]}
            return None, {"ok": False, "error": "invalid_arguments", "response_metadata": meta}
        return view, {}

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        trigger = str(params.get("trigger_id") or "")
        if not trigger:
            return {"ok": False, "error": "invalid_trigger_id"}
        if trigger in self.used_triggers:
            return {"ok": False, "error": "exchanged_trigger_id"}
        view, error = self._view(params)
        if view is None:
            return error
        self.used_triggers.add(trigger)
        view_id = f"V{next(self._view_ids):08d}"
        self.views[view_id] = {**view, "id": view_id}
        return {"ok": True, "view": self.views[view_id]}

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        view_id = str(params.get("view_id") or "")
        if view_id not in self.views:
            return {"ok": False, "error": "not_found"}
        view, error = self._view(params)
        if view is None:
            return error
        self.views[view_id] = {**view, "id": view_id}
        return {"ok": True, "view": self.views[view_id]}

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        user = str(params.get("user_id") or "")
        if not user:
            return {"ok": False, "error": "invalid_arguments"}
        view, error = self._view(params)
        if view is None:
            return error
        if view["type"] != "home":
            return {"ok": False, "error": "invalid_arguments"}
        self.homes[user] = view
        return {"ok": True, "view": {**view, "id": f"VH{user}"}}

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel"))
        private = channel in self.private
        if private and channel in self.outside:
            return {"ok": False, "error": "channel_not_found"}
        if channel.startswith("D"):
            return {"ok": True, "channel": {"id": channel, "is_im": True, "user": "U1"}}
        return {
            "ok": True,
            "channel": {
                "id": channel,
                "name": f"channel-{channel.lower()}",
                "is_channel": not private,
                "is_group": private,
                "is_im": False,
                "is_private": private,
                "is_archived": channel in self.archived,
                "is_member": channel not in self.outside,
                "created": 1700000000,
            },
        }

    def _conversations_join(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel"))
        if "channels:join" not in self.scopes:
            return {"ok": False, "error": "missing_scope", "needed": "channels:join"}
        if channel in self.private:
            return {"ok": False, "error": "method_not_supported_for_channel_type"}
        if channel in self.archived:
            return {"ok": False, "error": "is_archived"}
        self.outside.discard(channel)
        return {"ok": True, "channel": {"id": channel, "is_member": True}}

    def _conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        if error := self._channel_error(params):
            return error
        # Top-level messages, newest first, within oldest/latest, in pages of ``limit``
        # (Slack's default 100) continued by ``cursor``: as Slack pages history.
        messages = [
            m
            for m in reversed(self.messages.get(str(params["channel"]), []))
            if m.get("thread_ts") in (None, m["ts"])  # thread replies are not in history
        ]
        return self._page(messages, params)

    def _conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        if error := self._channel_error(params):
            return error
        parent = str(params.get("ts"))
        thread = [
            m
            for m in self.messages.get(str(params["channel"]), [])
            if m["ts"] == parent or m.get("thread_ts") == parent
        ]
        if not thread:
            return {"ok": False, "error": "thread_not_found"}
        return self._page(thread, params)  # parent first, then replies oldest first

    def _page(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        inclusive = _truthy(params.get("inclusive"))
        oldest = float(params.get("oldest") or 0)
        latest = float(params.get("latest") or "inf")
        with_metadata = _truthy(params.get("include_all_metadata"))

        def inside(ts: float) -> bool:
            if inclusive:
                return oldest <= ts <= latest
            return oldest < ts < latest

        found = [m for m in messages if inside(float(m["ts"]))]
        start = int(params.get("cursor") or 0)
        limit = max(1, min(int(params.get("limit") or 100), 999))
        out = []
        for message in found[start : start + limit]:
            shown = dict(message)
            if not with_metadata:
                shown.pop("metadata", None)
            out.append(shown)
        more = start + limit < len(found)
        return {
            "ok": True,
            "messages": out,
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _oauth_v2_access(self, params: dict[str, Any]) -> dict[str, Any]:
        # https://api.slack.com/methods/oauth.v2.access: a code is good for one exchange.
        team = self.oauth_codes.pop(str(params.get("code")), None)
        if team is None:
            return {"ok": False, "error": "invalid_code"}
        return {
            "ok": True,
            "app_id": "A1",
            "authed_user": {"id": "U1"},
            "scope": "commands,chat:write,users:read,channels:history,groups:history",
            "token_type": "bot",
            "access_token": f"xoxb-{team}",
            "bot_user_id": "UBOT",
            "team": {"id": team, "name": f"Workspace {team}"},
            "enterprise": None,
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": self.base.replace("http", "ws", 1) + "/ws"}

    # ----------------------------------------------------------- response_url

    async def _response_url(self, request: web.Request) -> web.Response:
        self.responses.append(await request.json())
        self.responded.set()
        return web.Response(text="ok")

    # ------------------------------------------------------------ Socket Mode

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"type": "hello", "num_connections": 1, "debug_info": {}})
        for envelope in self.ws_envelopes:
            await ws.send_json(envelope)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                data = json.loads(msg.data)
                if "envelope_id" in data:
                    self.ws_acks.append(data)
                    self.acked.set()
            elif msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
        return ws
