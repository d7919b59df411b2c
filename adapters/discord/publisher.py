"""``DiscordPublisher``: the ``Publisher`` port on top of a logged-in ``discord.Client``.

Sends through discord.py's REST client, which already waits out 429s (per-route buckets,
the global limit) and retries 500/502/504. On top of that this module adds:

- per-channel pacing by the core's ``bot.pacing.ChannelPacer`` (handed in, or one of
  its own; Discord allows about 5 messages per 5 s in a channel);
- a nonce on every message, derived from (channel, briefing, revision), sent with
  ``enforce_nonce`` so that Discord itself refuses a second message with the same
  nonce from us and returns the first one instead — a resend after a crash or a lost
  response does not post twice
  (https://discord.com/developers/docs/resources/message#create-message);
- ``DeliveryError`` for every failure: retryable for rate limits, 5xx and network
  errors; permanent, with a one-line fix, for missing permissions or a lost channel.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import discord

from bot.errors import DeliveryError
from bot.models import Attempt, Briefing, Channel, PostResult
from bot.pacing import DEFAULT_INTERVAL, ChannelPacer
from bot.text import cut, one_line

from .failures import delivery_error
from .history import HISTORY_LIMIT, OwnMessages, partial_channel
from .limits import GlobalLimit, InvalidRequests
from .render import (
    DiscordMessage,
    briefing_message,
    digest_message,
    text_message,
    update_note,
)

log = logging.getLogger("signaldesk.discord")

# Discord accepts a nonce of at most 25 characters.
NONCE_LENGTH = 25
# Discord's documented per-channel message limit is about 5 per 5 seconds.
DEFAULT_MIN_INTERVAL = DEFAULT_INTERVAL
# Update notes go in a thread on the post: Discord names threads in at most 100
# characters; 160004 means the message has a thread already; a channel where threads
# were refused is asked again after this many seconds.
THREAD_NAME_MAX = 100
THREAD_EXISTS = 160004
NO_THREADS_RETRY = 3600.0


def message_nonce(channel_id: str, *parts: object) -> str:
    """A deterministic nonce for one message: the same (channel, briefing, revision,
    kind) always yields the same 25 characters, so a resend is recognised."""
    seed = "\x1f".join([channel_id, *(str(p) for p in parts)])
    return hashlib.sha256(seed.encode()).hexdigest()[:NONCE_LENGTH]


class DiscordPublisher:
    """Posts briefings into Discord text channels (``Channel.target`` = channel id).

    ``client`` must be logged in (REST is enough; the gateway is not needed to post).
    ``pacer`` is the channel pacer shared with the other publishers; without one, the
    publisher paces with its own (``min_interval`` apart, timed by ``clock``)."""

    platform = "discord"

    def __init__(
        self,
        client: discord.Client,
        *,
        min_interval: float = DEFAULT_MIN_INTERVAL,
        history_limit: int = HISTORY_LIMIT,
        clock: Callable[[], float] = time.monotonic,
        pacer: ChannelPacer | None = None,
        limit: GlobalLimit | None = None,
        invalid: InvalidRequests | None = None,
    ) -> None:
        self.client = client
        self.pacer = pacer or ChannelPacer(min_interval, clock=clock)
        self.history = OwnMessages(client, history_limit)
        # One client, one publisher per process: these limits are process-wide.
        self.limit = limit or GlobalLimit(clock=clock)
        self.invalid = invalid or InvalidRequests(clock=clock)
        self.clock = clock
        self._no_threads: dict[str, float] = {}  # channel id -> when a thread was refused

    @property
    def min_interval(self) -> float:
        """Seconds between two sends into one channel (the pacer's interval)."""
        return self.pacer.interval

    @min_interval.setter
    def min_interval(self, seconds: float) -> None:
        self.pacer.interval = seconds

    # ------------------------------------------------------------------ port

    async def post_briefing(
        self, channel: Channel, briefing: Briefing, *, attempt: Attempt | None = None
    ) -> PostResult:
        """Post a briefing (embed + More/Related buttons). Returns the message id."""
        nonce = _nonce(channel, attempt) or message_nonce(
            channel.id, briefing.id, briefing.revision, "post"
        )
        sent = await self._send(channel, briefing_message(briefing), nonce=nonce)
        return PostResult(message_ref=str(sent.id))

    async def update_briefing(
        self,
        channel: Channel,
        briefing: Briefing,
        message_ref: str,
        *,
        attempt: Attempt | None = None,
    ) -> PostResult:
        """The story gained sources: edit the original message's embed (idempotent) and
        reply to it with a short note (nonce-protected). If the original message is gone,
        post the briefing afresh and return the new message's id."""
        target = self._target(channel)
        message = briefing_message(briefing)
        try:
            async with self.pacer.turn(channel.id):
                await self._admit(channel)
                await target.get_partial_message(int(message_ref)).edit(
                    embeds=message.embeds,
                    view=_inert(message.view),
                    allowed_mentions=discord.AllowedMentions.none(),
                )
        except discord.NotFound:
            log.info("message %s in %s is gone; posting the update afresh", message_ref, channel.id)
            fresh = attempt.model_copy(update={"parent_ref": None}) if attempt else None
            return await self.post_briefing(channel, briefing, attempt=fresh)
        except DeliveryError:
            raise
        except Exception as exc:
            raise self._failed(exc, channel) from exc
        nonce = _nonce(channel, attempt) or message_nonce(
            channel.id, briefing.id, briefing.revision, "update"
        )
        thread = await self._notes_thread(channel, briefing, message_ref)
        if thread is not None:
            await self._send(channel, update_note(briefing), nonce=nonce, into=thread)
        return PostResult(message_ref=message_ref)

    async def _notes_thread(
        self, channel: Channel, briefing: Briefing, message_ref: str
    ) -> int | None:
        """The thread on the post that holds its "Updated: …" notes, started at the first
        update (a thread on a message has the message's id). None when the bot may not
        create one (Create Public Threads): the edited post then shows "updated" in its
        footer and nothing is added to the channel — a reply there would be a top-level
        message, the noise that editing in place avoids. Asked again after an hour."""
        refused_at = self._no_threads.get(channel.id)
        if refused_at is not None and self.clock() - refused_at < NO_THREADS_RETRY:
            return None
        try:
            async with self.pacer.turn(channel.id):
                await self._admit(channel)
                await self.client.http.start_thread_with_message(
                    int(channel.target),
                    int(message_ref),
                    name=cut(one_line(f"Updates: {briefing.headline}"), THREAD_NAME_MAX),
                    auto_archive_duration=1440,
                )
        except DeliveryError:
            raise
        except discord.HTTPException as exc:
            if exc.status == 400 and exc.code == THREAD_EXISTS:
                return int(message_ref)  # started at an earlier update
            if not isinstance(exc, discord.Forbidden):
                raise self._failed(exc, channel) from exc
            self.invalid.record(channel.id)
            self._no_threads[channel.id] = self.clock()
            log.info(
                "discord: no Create Public Threads in %s; updates edit the post only",
                channel.target,
            )
            return None
        except Exception as exc:
            raise self._failed(exc, channel) from exc
        self._no_threads.pop(channel.id, None)
        return int(message_ref)

    async def post_text(
        self, channel: Channel, text: str, *, attempt: Attempt | None = None
    ) -> PostResult:
        """A plain notice. Its nonce is derived from its attempt (else from the text):
        the same notice sent twice within Discord's nonce window is posted once."""
        nonce = _nonce(channel, attempt) or message_nonce(channel.id, "text", text)
        # A notice names the failing feed's URL: Discord would unfurl it into a preview
        # card of someone else's site, so the notice suppresses embeds.
        sent = await self._send(channel, text_message(text), nonce=nonce, suppress_embeds=True)
        return PostResult(message_ref=str(sent.id))

    async def post_digest(
        self,
        channel: Channel,
        briefings: Sequence[Briefing],
        *,
        attempt: Attempt | None = None,
    ) -> PostResult:
        """The digest: a field per briefing, in as many messages as it takes to stay
        within Discord's 6,000 characters per message (no field is dropped). Each
        message has its own nonce, so a resend of the whole digest makes none twice.
        Returns the first message's id."""
        key = ",".join(f"{b.id}@{b.revision}" for b in briefings)
        nonce = _nonce(channel, attempt) or message_nonce(channel.id, "digest", key)
        first: discord.Message | None = None
        for number, part in enumerate(fit_digest(briefings)):
            part_nonce = nonce if number == 0 else message_nonce(channel.id, nonce, number)
            message = digest_message(part, continued=first is not None)
            sent: discord.Message | None
            try:
                sent = await self._send(channel, message, nonce=part_nonce)
            except DeliveryError as exc:
                if not _refused(exc):
                    raise
                sent = await self._send_one_by_one(channel, part, part_nonce, first is not None)
            first = first or sent
        if first is None:
            raise DeliveryError(f"{channel.id}: an empty digest was not sent", retryable=False)
        return PostResult(message_ref=str(first.id))

    async def _send_one_by_one(
        self, channel: Channel, part: Sequence[Briefing], nonce: str, continued: bool
    ) -> discord.Message | None:
        """Discord refused a digest message as malformed (HTTP 400): send its briefings
        one by one, a refused one again with headline and id only, and skip one refused
        even so with a log line, so that one bad item never holds the rest."""
        first: discord.Message | None = None
        for briefing in part:
            for bare in (False, True):
                message = digest_message([briefing], continued=continued, bare=bare)
                try:
                    sent = await self._send(
                        channel, message, nonce=message_nonce(channel.id, nonce, briefing.id, bare)
                    )
                except DeliveryError as exc:
                    if not _refused(exc):
                        raise
                    log.warning(
                        "digest for %s: Discord refused briefing %s%s: %s",
                        channel.id,
                        briefing.id,
                        " even bare; skipped" if bare else "; sending it bare",
                        exc,
                    )
                    continue
                first = first or sent
                continued = True
                break
        return first

    async def find_attempt(
        self, channel: Channel, attempt: Attempt, briefing: Briefing | None = None
    ) -> str | None:
        """See ``OwnMessages.find_attempt``."""
        return await self.history.find_attempt(channel, attempt, briefing)

    async def find_posted(self, channel: Channel, briefing: Briefing) -> str | None:
        """See ``OwnMessages.find_posted``."""
        return await self.history.find_posted(channel, briefing)

    # ------------------------------------------------------------- sending

    def _target(self, channel: Channel) -> discord.PartialMessageable:
        return partial_channel(self.client, channel)

    async def _send(
        self,
        channel: Channel,
        message: DiscordMessage,
        *,
        nonce: str,
        into: int | None = None,
        suppress_embeds: bool = False,
    ) -> discord.Message:
        """Send ``message`` to the channel, or ``into`` a thread of it."""
        target = self._target(channel)
        if into is not None:
            target = self.client.get_partial_messageable(into)
        kwargs: dict[str, Any] = {
            "nonce": nonce,  # discord.py adds "enforce_nonce": true to any nonce
            "allowed_mentions": discord.AllowedMentions.none(),
        }
        if suppress_embeds:
            kwargs["suppress_embeds"] = True  # flag SUPPRESS_EMBEDS: no link previews
        if message.content is not None:
            kwargs["content"] = message.content
        if message.embeds:
            kwargs["embeds"] = message.embeds
        if message.view is not None:
            kwargs["view"] = _inert(message.view)
        try:
            async with self.pacer.turn(channel.id):
                await self._admit(channel)
                return await target.send(**kwargs)
        except DeliveryError:
            raise
        except Exception as exc:
            raise self._failed(exc, channel) from exc

    async def _admit(self, channel: Channel) -> None:
        """Wait for the process-wide request budget; refuse (to retry later) a channel
        held back by the count of invalid requests, without asking Discord."""
        wait = self.invalid.hold(channel.id)
        if wait is not None:
            raise DeliveryError(
                f"Discord channel {channel.target}: held for {wait:.0f} s after "
                f"{self.invalid.count} refused requests in 10 minutes (Discord bans the "
                "server's address at 10,000); will retry",
                retryable=True,
                retry_after=wait,
            )
        await self.limit.acquire()

    def _failed(self, exc: BaseException, channel: Channel) -> DeliveryError:
        """``delivery_error``, counting 401/403/429 answers towards Discord's limit."""
        status = getattr(exc, "status", None)
        if status in (401, 403, 429) or isinstance(exc, discord.RateLimited):
            self.invalid.record(channel.id)
        return delivery_error(exc, channel)


def fit_digest(briefings: Sequence[Briefing]) -> list[list[Briefing]]:
    """The digest in runs of briefings that each render whole into one message: the
    embed keeps every field (``render_digest`` drops fields past Discord's limits)."""
    parts: list[list[Briefing]] = []
    for briefing in briefings:
        if parts:
            trial = [*parts[-1], briefing]
            embed = digest_message(trial, continued=True).embeds[0]  # the longer title
            if len(embed.fields) == len(trial) and not embed.footer.text:
                parts[-1] = trial
                continue
        parts.append([briefing])
    return parts


def _refused(exc: DeliveryError) -> bool:
    """Discord refused the message itself as malformed (HTTP 400, "Invalid Form Body"):
    sending it again would fail the same way, unlike a rate limit or a lost channel."""
    cause = exc.__cause__
    return isinstance(cause, discord.HTTPException) and cause.status == 400


def _nonce(channel: Channel, attempt: Attempt | None) -> str | None:
    """The nonce of a message the outbox sends: derived from its attempt's key."""
    return message_nonce(channel.id, "attempt", attempt.key) if attempt else None


def _inert(view: discord.ui.View | None) -> discord.ui.View | None:
    """Stop a View before sending it: its buttons are dispatched by custom id (a
    DynamicItem registered on the client), so the client must not keep one View object
    per posted message in memory forever."""
    if view is not None:
        view.stop()
    return view
