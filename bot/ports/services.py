"""The ports the stages are handed besides storage: the writer thread, the clock,
the publishers (one per chat platform) and the condenser."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import ParamSpec, Protocol, TypeVar, runtime_checkable

from ..models import (
    Attempt,
    Briefing,
    Channel,
    PostResult,
    SourceText,
)

P = ParamSpec("P")
T = TypeVar("T")

# A notice's text for one channel, from that channel's name and number for the feed.
NoticeText = Callable[[str | None, int | None], str]


class Runner(Protocol):
    """The store's one writer thread (``storage.database.StoreRunner``): ``await
    runner(store.x, ...)`` in order; ``runner.first`` ahead of queued work (a command)."""

    async def __call__(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T: ...

    async def first(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T: ...

    def close(self) -> None: ...


# The fleet's roles (``bot.roles``): placing entries in stories and condensing them;
# delivering the outbox, digests and notices.
FLEET_ROLES = ("brief", "deliver")


class Roles(Protocol):
    """The jobs that one process of a fleet does alone (``bot.roles``): ``holds(role)``
    takes the role if no live process holds it, and says whether this one does now.
    Blocking (it may ask the database): called off the event loop."""

    def holds(self, role: str) -> bool: ...

    def fleet(self) -> int:
        """The processes of the fleet alive now, this one included."""
        ...

    def close(self) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...


@runtime_checkable
class Publisher(Protocol):
    """Posts into one chat platform. One instance per platform; channels are addressed
    by ``Channel.target`` (the platform's own channel id)."""

    platform: str

    async def post_briefing(
        self, channel: Channel, briefing: Briefing, *, attempt: Attempt | None = None
    ) -> PostResult:
        """Post a new briefing. Raises ``DeliveryError`` (retryable or not). With
        ``attempt``, the message carries its key so that ``find_attempt`` finds it."""
        ...

    async def update_briefing(
        self,
        channel: Channel,
        briefing: Briefing,
        message_ref: str,
        *,
        attempt: Attempt | None = None,
    ) -> PostResult:
        """The story gained sources: update the earlier post (edit in place, idempotent)
        and say so in a reply, which carries ``attempt``'s key."""
        ...

    async def post_text(
        self, channel: Channel, text: str, *, attempt: Attempt | None = None
    ) -> PostResult:
        """A plain notice (feed health, digests' headers); text is untrusted-safe."""
        ...

    async def post_digest(
        self,
        channel: Channel,
        briefings: Sequence[Briefing],
        *,
        attempt: Attempt | None = None,
    ) -> PostResult:
        """One message carrying several briefings (digest mode; the caller splits
        a long digest into parts that each fit one message)."""
        ...

    async def find_posted(self, channel: Channel, briefing: Briefing) -> str | None:
        """After a crash mid-delivery: the message id if this briefing was already
        posted to the channel (from the platform's own record), else None."""
        ...

    async def find_attempt(
        self, channel: Channel, attempt: Attempt, briefing: Briefing | None = None
    ) -> str | None:
        """The message an earlier ``attempt`` left on the platform, looked up by its key
        in the attempt's own time window (a thread reply under ``attempt.parent_ref``),
        else None. Raises a retryable ``DeliveryError`` when the platform cannot be asked
        right now, so that the caller never guesses."""
        ...


class Condenser(Protocol):
    name: str

    def condense(self, briefing_id: str, material: Sequence[SourceText], now: datetime) -> Briefing:
        """A story's reports (first report first) -> its briefing. The extractive
        condenser is pure and deterministic."""
        ...


@runtime_checkable
class AsyncCondenser(Protocol):
    """A condenser whose work is I/O (a model endpoint): the engine awaits
    ``acondense`` on the event loop instead of running ``condense`` in a thread."""

    name: str

    async def acondense(
        self, briefing_id: str, material: Sequence[SourceText], now: datetime
    ) -> Briefing:
        """As ``Condenser.condense``; never raises for a failed or slow endpoint."""
        ...
