"""``RecordingPublisher``: a publisher that keeps what would have been posted.

Shipped with the package (like errbot's test backend) so that anyone extending
SignalDesk can run the real engine and assert on what a channel would receive.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.errors import DeliveryError
from bot.models import Attempt, Briefing, Channel, PostResult


@dataclass
class Post:
    channel_id: str
    kind: str  # "post", "update", "text", "digest"
    message_ref: str
    briefing_id: str | None = None
    revision: int | None = None
    sources: int | None = None
    text: str = ""
    briefing_ids: list[str] = field(default_factory=list)
    key: str | None = None  # the attempt's key the message was sent under


class RecordingPublisher:
    """Records every post. ``fail_next`` queues errors to raise on the next calls, to
    exercise retries and outages."""

    def __init__(self, platform: str = "console") -> None:
        self.platform = platform
        self.posts: list[Post] = []
        self.fail_next: list[DeliveryError] = []
        self._ids = itertools.count(1)

    def _record(self, post: Post) -> PostResult:
        if self.fail_next:
            raise self.fail_next.pop(0)
        self.posts.append(post)
        return PostResult(message_ref=post.message_ref)

    def _ref(self) -> str:
        return f"m{next(self._ids)}"

    async def post_briefing(
        self, channel: Channel, briefing: Briefing, *, attempt: Attempt | None = None
    ) -> PostResult:
        return self._record(
            Post(
                channel.id,
                "post",
                self._ref(),
                briefing.id,
                briefing.revision,
                len(briefing.sources),
                briefing.headline,
                key=attempt.key if attempt else None,
            )
        )

    async def update_briefing(
        self,
        channel: Channel,
        briefing: Briefing,
        message_ref: str,
        *,
        attempt: Attempt | None = None,
    ) -> PostResult:
        return self._record(
            Post(
                channel.id,
                "update",
                message_ref,
                briefing.id,
                briefing.revision,
                len(briefing.sources),
                briefing.headline,
                key=attempt.key if attempt else None,
            )
        )

    async def post_text(
        self, channel: Channel, text: str, *, attempt: Attempt | None = None
    ) -> PostResult:
        return self._record(
            Post(channel.id, "text", self._ref(), text=text, key=attempt.key if attempt else None)
        )

    async def post_digest(
        self,
        channel: Channel,
        briefings: Sequence[Briefing],
        *,
        attempt: Attempt | None = None,
    ) -> PostResult:
        return self._record(
            Post(
                channel.id,
                "digest",
                self._ref(),
                briefing_ids=[b.id for b in briefings],
                key=attempt.key if attempt else None,
            )
        )

    async def find_posted(self, channel: Channel, briefing: Briefing) -> str | None:
        for post in self.posts:
            if post.kind == "post" and (post.channel_id, post.briefing_id) == (
                channel.id,
                briefing.id,
            ):
                return post.message_ref
        return None

    async def find_attempt(
        self, channel: Channel, attempt: Attempt, briefing: Briefing | None = None
    ) -> str | None:
        for post in self.posts:
            if post.channel_id == channel.id and post.key == attempt.key:
                return post.message_ref
        return None

    def of_kind(self, kind: str) -> list[Post]:
        return [p for p in self.posts if p.kind == kind]
