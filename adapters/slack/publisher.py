"""``SlackPublisher``: the ``Publisher`` port over Slack's Web API.

- Paced per channel by the core's ``bot.pacing.ChannelPacer`` (handed in, or one of
  its own): Slack allows about one ``chat.postMessage`` a second per channel
  (https://api.slack.com/methods/chat.postMessage#rate_limiting).
- 429: a short ``Retry-After`` (up to ``IN_CALL_WAIT`` seconds) is waited out inside
  the call and retried (Slack did not process a rate-limited request, so a retry cannot
  double-post); a longer one becomes a retryable ``DeliveryError`` carrying the hint,
  and the outbox waits instead, so a sleeping call never holds a delivery pass.
  Connection errors are not retried inside a post (it may have landed): the outbox
  retries it after looking it up.
- Exactly once: every message the outbox sends carries message metadata with the
  attempt's key (and the briefing id). ``find_attempt`` looks for that key in the
  attempt's own time window (``conversations.history`` bounded by ``oldest``/``latest``
  widened by ``CLOCK_SKEW`` on both sides, every page of it; a thread reply through
  ``conversations.replies``), so neither a skewed clock nor a busy channel nor a post
  that Slack finished after the client gave up hides it. The publisher only answers
  the lookup: deciding to look before sending again is the deliverer's (``bot.deliver``),
  the one layer that checks whether a message was already posted.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import CannotPost, DeliveryError
from bot.models import Attempt, Briefing, Channel, PostResult
from bot.pacing import ChannelPacer

from .render import (
    DIGEST_EVENT,
    METADATA_EVENT,
    briefing_message,
    digest_message,
    text_message,
    update_note,
)

log = logging.getLogger("signaldesk.slack")

# Slack's own error codes, mapped to what an operator should do. Anything not listed
# and not a 429/5xx is treated as permanent and reported with its code.
_PERMANENT_HINTS = {
    "channel_not_found": "Slack channel {ch} not found: check the channel id, or invite the "
    "bot to a private channel (/invite @SignalDesk)",
    "not_in_channel": "the bot is not in channel {ch}: invite it with /invite @SignalDesk",
    "is_archived": "channel {ch} is archived: unarchive it or remove its subscriptions",
    "restricted_action": "posting in {ch} is restricted by workspace settings: ask an admin "
    "to allow the bot to post there",
    "invalid_auth": "Slack rejected the bot token: check SLACK_BOT_TOKEN or reinstall the app",
    "not_authed": "no Slack bot token was sent: set SLACK_BOT_TOKEN",
    "token_revoked": "the Slack bot token was revoked: reinstall the app and update "
    "SLACK_BOT_TOKEN",
    "token_expired": "the Slack bot token expired: reinstall the app",
    "account_inactive": "the Slack bot account is deactivated: reinstall the app",
    "missing_scope": "the Slack app lacks the scope {needed}: add it from "
    "adapters/slack/manifest.yml and reinstall",
    "invalid_blocks": "Slack rejected the message layout (invalid_blocks): please report "
    "this as a bug",
    "msg_too_long": "Slack rejected the message as too long: please report this as a bug",
}
# The refusals a person must fix (an invite, a permission, a reinstall): the channel's
# deliveries are held and resumed, not failed (``bot.errors.CannotPost``).
CANNOT_POST_CODES = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "restricted_action",
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "account_inactive",
        "missing_scope",
    }
)
_TRANSIENT_CODES = {
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "team_added_to_org",
}
# How far back find_posted reads a channel's history, in pages of 200 messages.
_HISTORY_PAGES = 5
# find_attempt reads the attempt's window, this much wider on each side: the bot's clock
# may be off from Slack's, and Slack may finish a post well after the client gave up.
CLOCK_SKEW = timedelta(hours=1)
# ... in at most this many pages of 200 (10,000 messages in the window).
_ATTEMPT_PAGES = 50
# Since 2025 Slack lets a distributed app that is not in the Slack Marketplace read
# conversations.history / .replies once a minute, 15 messages a page
# (https://api.slack.com/changelog/2025-05-terms-rate-limit-update-and-faq): such an
# app (multi-workspace OAuth, SIGNALDESK_SLACK_MARKETPLACE_APP=false) reads pages of
# 15 and a window 5 minutes wider on each side, which a channel rarely fills.
LIMITED_PAGE = 15
LIMITED_SKEW = timedelta(minutes=5)
# The longest Retry-After waited out inside a call; longer waits go back to the outbox.
IN_CALL_WAIT = 2.0
UPDATE_EVENT = "signaldesk_update"
NOTICE_EVENT = "signaldesk_notice"


def ensure_rate_limit_retries(client: AsyncWebClient, max_retry_count: int = 2) -> None:
    """Add slack-sdk's async 429 handler to ``client`` unless it has one. It sleeps
    with ``asyncio.sleep`` for the ``Retry-After`` the server sent."""
    handlers: list[AsyncRetryHandler] = list(client.retry_handlers or [])
    if not any(isinstance(h, AsyncRateLimitErrorRetryHandler) for h in handlers):
        handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=max_retry_count))
        client.retry_handlers = handlers


class ShortRateLimitRetryHandler(AsyncRateLimitErrorRetryHandler):
    """slack-sdk's 429 handler, for waits up to ``max_wait`` seconds only: a longer
    ``Retry-After`` is handed back (as a retryable ``DeliveryError``) so that the outbox
    waits without a task sleeping in the call."""

    def __init__(self, max_retry_count: int = 2, max_wait: float = IN_CALL_WAIT) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait

    async def _can_retry_async(
        self, *, state: Any, request: Any, response: Any = None, error: Any = None
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        for name, value in (response.headers or {}).items():
            if name.lower() == "retry-after":
                raw = value[0] if isinstance(value, list) else value
                try:
                    return float(raw) <= self.max_wait
                except (TypeError, ValueError):
                    return False
        return True  # no hint: slack-sdk waits about a second


def posting_handlers(handlers: Sequence[AsyncRetryHandler]) -> list[AsyncRetryHandler]:
    """The retry handlers for sending messages: 429s only, and only short ones."""
    counts = [h.max_retry_count for h in handlers if isinstance(h, AsyncRateLimitErrorRetryHandler)]
    return [ShortRateLimitRetryHandler(max_retry_count=counts[0] if counts else 2)]


class SlackDeliveryError(DeliveryError):
    """A ``DeliveryError`` that keeps Slack's error code (e.g. ``not_in_channel``)."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        retryable: bool,
        retry_after: float | None = None,
        maybe_sent: bool = False,
    ) -> None:
        super().__init__(
            message, retryable=retryable, retry_after=retry_after, maybe_sent=maybe_sent
        )
        self.code = code


TokenResolver = Callable[[str], Awaitable[str | None]]


class SlackPublisher:
    """Posts briefings into Slack channels (``Channel.target`` is the Slack channel id).

    ``client`` carries the token, base URL and retry handlers (a 429 handler is added if
    missing). In multi-workspace (OAuth) mode, ``token_for`` maps a channel id to its
    workspace's bot token."""

    platform = "slack"

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        pacer: ChannelPacer | None = None,
        token_for: TokenResolver | None = None,
        limited_history: bool = False,
    ) -> None:
        ensure_rate_limit_retries(client)
        # The history look-ups of a distributed non-Marketplace app (``LIMITED_PAGE``).
        self.page = LIMITED_PAGE if limited_history else 200
        self.skew = LIMITED_SKEW if limited_history else CLOCK_SKEW
        self.client = client
        self.pacer = pacer or ChannelPacer()
        self.token_for = token_for
        self._handlers = posting_handlers(client.retry_handlers or [])
        self._clients: dict[str, AsyncWebClient] = {}

    # ------------------------------------------------------------------ port

    async def post_briefing(
        self, channel: Channel, briefing: Briefing, *, attempt: Attempt | None = None
    ) -> PostResult:
        """Post a briefing with its metadata; returns the message ``ts``. Whether it was
        already posted is the deliverer's question (``find_attempt``/``find_posted``),
        asked before it calls this: the publisher sends what it is given."""
        message = _with_key(briefing_message(briefing), attempt)
        response = await self._call(channel, "chat_postMessage", message)
        return PostResult(message_ref=str(response["ts"]))

    async def update_briefing(
        self,
        channel: Channel,
        briefing: Briefing,
        message_ref: str,
        *,
        attempt: Attempt | None = None,
    ) -> PostResult:
        """Edit the original post in place, then say in its thread how many sources the
        story has now (the reply carries the attempt's key). If the original is gone,
        post the briefing afresh."""
        try:
            await self._call(
                channel, "chat_update", {"ts": message_ref, **briefing_message(briefing)}
            )
        except SlackDeliveryError as exc:
            if exc.code in {"message_not_found", "cant_update_message"}:
                fresh = attempt.model_copy(update={"parent_ref": None}) if attempt else None
                return await self.post_briefing(channel, briefing, attempt=fresh)
            raise
        note = {"thread_ts": message_ref, **update_note(briefing)}
        if attempt is not None:
            note["metadata"] = {
                "event_type": UPDATE_EVENT,
                "event_payload": {
                    "briefing_id": briefing.id,
                    "revision": briefing.revision,
                    "attempt": attempt.key,
                },
            }
        await self._call(channel, "chat_postMessage", note)
        return PostResult(message_ref=message_ref)

    async def post_text(
        self, channel: Channel, text: str, *, attempt: Attempt | None = None
    ) -> PostResult:
        """A plain notice, escaped like feed text (with the attempt's key, if any)."""
        message = _with_key(text_message(text), attempt, event=NOTICE_EVENT)
        response = await self._call(channel, "chat_postMessage", message)
        return PostResult(message_ref=str(response["ts"]))

    async def post_digest(
        self,
        channel: Channel,
        briefings: Sequence[Briefing],
        *,
        attempt: Attempt | None = None,
    ) -> PostResult:
        """Several briefings in one message."""
        message = _with_key(digest_message(briefings), attempt)
        response = await self._call(channel, "chat_postMessage", message)
        return PostResult(message_ref=str(response["ts"]))

    async def find_attempt(
        self, channel: Channel, attempt: Attempt, briefing: Briefing | None = None
    ) -> str | None:
        """The ``ts`` of the message sent under ``attempt.key``: read from the attempt's
        window (``CLOCK_SKEW``, or ``LIMITED_SKEW``, wider on each side), every page of
        it, from the channel's history or, for a thread reply, from the thread. A reply
        whose thread is gone was posted afresh, at the top level. Raises a retryable
        ``DeliveryError`` when Slack cannot be asked right now; a permanent refusal
        answers None after a warning."""
        oldest = (attempt.first_at - self.skew).timestamp()
        latest = (attempt.last_at + self.skew).timestamp()
        window = {
            "channel": channel.target,
            "oldest": f"{oldest:.6f}",
            "latest": f"{latest:.6f}",
            "inclusive": True,
            "include_all_metadata": True,
            "limit": self.page,
        }
        if attempt.parent_ref:
            try:
                found = await self._find_key(
                    channel,
                    "conversations_replies",
                    {**window, "ts": attempt.parent_ref},
                    attempt,
                    briefing.id if briefing else None,
                )
            except SlackDeliveryError as exc:
                if exc.code != "thread_not_found":
                    raise
            else:
                if found:
                    return found
        return await self._find_key(
            channel, "conversations_history", window, attempt, briefing.id if briefing else None
        )

    async def _find_key(
        self,
        channel: Channel,
        method: str,
        arguments: dict[str, Any],
        attempt: Attempt,
        briefing_id: str | None,
    ) -> str | None:
        client = await self._client_for(channel)
        read = getattr(client, method)
        cursor: str | None = None
        for _ in range(_ATTEMPT_PAGES):
            try:
                page = await read(**arguments, cursor=cursor)
            except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError) as exc:
                error = delivery_error(channel, exc)
                if error.retryable or getattr(error, "code", None) == "thread_not_found":
                    raise error from None
                log.warning("cannot read %s history to check for a post: %s", channel.id, error)
                return None
            for message in page.get("messages") or []:
                payload = (message.get("metadata") or {}).get("event_payload") or {}
                if payload.get("attempt") == attempt.key and (
                    briefing_id is None or payload.get("briefing_id") in (None, briefing_id)
                ):
                    return str(message["ts"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None
        log.warning(
            "more than %d messages in %s around attempt %s: not all were read",
            _ATTEMPT_PAGES * self.page,
            channel.id,
            attempt.key,
        )
        return None

    async def find_posted(self, channel: Channel, briefing: Briefing) -> str | None:
        """The ``ts`` of this channel's message whose metadata names the briefing, read
        from ``conversations.history`` back to shortly before the briefing was created.

        Raises a retryable ``DeliveryError`` when Slack cannot be asked right now (so the
        engine asks again rather than risk a second post); a permanent refusal (no
        history scope, not in the channel) answers None after a warning."""
        client = await self._client_for(channel)
        oldest = (briefing.created_at - timedelta(minutes=5)).timestamp()
        cursor: str | None = None
        found: str | None = None
        for _ in range(_HISTORY_PAGES):
            try:
                page = await client.conversations_history(
                    channel=channel.target,
                    include_all_metadata=True,
                    oldest=f"{oldest:.6f}",
                    limit=self.page,
                    cursor=cursor,
                )
            except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError) as exc:
                error = delivery_error(channel, exc)
                if error.retryable:
                    raise error from None
                log.warning("cannot read %s history to check for a post: %s", channel.id, error)
                return None
            for message in page.get("messages") or []:
                metadata = message.get("metadata") or {}
                payload = metadata.get("event_payload") or {}
                if (
                    metadata.get("event_type") == METADATA_EVENT
                    and payload.get("briefing_id") == briefing.id
                ):
                    found = str(message["ts"])  # newest first: keep the earliest match
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
        return found

    # ------------------------------------------------------------- internals

    async def _client_for(self, channel: Channel) -> AsyncWebClient:
        """A client for the channel's workspace with the posting retry handlers."""
        token = await self.token_for(channel.target) if self.token_for else None
        if token is None:
            token = self.client.token
        if not token and self.token_for is not None:
            # Held, not lost: the channel is paused until its workspace installs the
            # app (again), which resumes it (``WorkspaceLifecycle``). A workspace whose
            # install is gone ("") never falls back to the static token.
            raise CannotPost(
                f"SignalDesk is not installed in the Slack workspace of {channel.target} "
                "(never, or uninstalled since): install it from the server's "
                "/slack/install page, then run /brief there once",
                code="not_installed",
            )
        client = self._clients.get(token or "")
        if client is None:
            client = AsyncWebClient(
                token=token,
                base_url=self.client.base_url,
                timeout=self.client.timeout,
                ssl=self.client.ssl,
                proxy=self.client.proxy,
                headers=self.client.headers,
                retry_handlers=self._handlers,
            )
            self._clients[token or ""] = client
        return client

    async def _call(self, channel: Channel, method: str, arguments: dict[str, Any]) -> Any:
        client = await self._client_for(channel)
        send = getattr(client, method)
        try:
            return await self.pacer.run(
                channel.id, lambda: send(channel=channel.target, **arguments)
            )
        except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            # Whether the request may have landed is in the error (``maybe_sent``): the
            # deliverer looks the message up before it sends again.
            raise delivery_error(channel, exc) from None


def delivery_error(channel: Channel, exc: Exception) -> DeliveryError:
    """A Slack failure as a ``DeliveryError`` with a one-line "what to do"."""
    if not isinstance(exc, SlackApiError):
        # Refused before anything was sent, or cut off (timeout, reset) after:
        # only the former is known not to have landed.
        refused = isinstance(exc, aiohttp.ClientConnectorError | ConnectionRefusedError)
        return SlackDeliveryError(
            f"Slack could not be reached ({type(exc).__name__}: {exc}); will retry",
            code="connection",
            retryable=True,
            maybe_sent=not refused,
        )
    response = exc.response
    status = getattr(response, "status_code", 200)
    data = response.data if isinstance(getattr(response, "data", None), dict) else {}
    code = str(data.get("error") or f"http_{status}")
    retry_after: float | None = None
    headers = getattr(response, "headers", {}) or {}
    for name, value in headers.items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            try:
                retry_after = float(raw)
            except (TypeError, ValueError):
                retry_after = None
    if status == 429 or code == "ratelimited":
        return SlackDeliveryError(
            f"Slack rate-limited posts to {channel.target}; will retry",
            code="ratelimited",
            retryable=True,
            retry_after=retry_after,
        )
    if status >= 500 or code in _TRANSIENT_CODES:
        return SlackDeliveryError(
            f"Slack is having trouble ({code}); will retry",
            code=code,
            retryable=True,
            retry_after=retry_after,
            # 503: the service turned the request away; any other 5xx (or a
            # transient error code) may come after the message was posted.
            maybe_sent=status != 503,
        )
    hint = _PERMANENT_HINTS.get(code)
    message = (
        hint.format(ch=channel.target, needed=data.get("needed", "?"))
        if hint
        else f"Slack refused the post to {channel.target} ({code})"
    )
    if code in CANNOT_POST_CODES:  # someone must act: the core holds the channel
        return CannotPost(message, code=code)
    return SlackDeliveryError(message, code=code, retryable=False)


def _with_key(
    message: dict[str, Any], attempt: Attempt | None, *, event: str = DIGEST_EVENT
) -> dict[str, Any]:
    """The message with the attempt's key added to its metadata payload."""
    if attempt is None:
        return message
    metadata = dict(message.get("metadata") or {"event_type": event})
    metadata["event_payload"] = {**(metadata.get("event_payload") or {}), "attempt": attempt.key}
    return {**message, "metadata": metadata}


__all__ = [
    "CLOCK_SKEW",
    "ChannelPacer",
    "ShortRateLimitRetryHandler",
    "SlackDeliveryError",
    "SlackPublisher",
    "delivery_error",
    "ensure_rate_limit_retries",
]
