"""``ConsolePublisher``: posts into a terminal (or any text stream)."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Sequence
from typing import TextIO

from bot.models import Attempt, Briefing, Channel, PostResult
from bot.text import plural, terminal_safe

from .render import render_briefing, render_digest


class ConsolePublisher:
    """Writes each post to ``stream``. A terminal keeps no record of what it showed, so
    ``find_posted`` cannot look back: it answers from this process's own memory."""

    platform = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self._ids = itertools.count(1)
        self._posted: dict[tuple[str, str], str] = {}
        self._attempts: dict[tuple[str, str], str] = {}  # (channel, attempt key) -> ref

    def _remember(self, channel: Channel, attempt: Attempt | None, result: PostResult) -> None:
        if attempt is not None:
            self._attempts[(channel.id, attempt.key)] = result.message_ref

    def _write(self, channel: Channel, text: str) -> PostResult:
        ref = f"console-{next(self._ids)}"
        # Rendered text is clean already; this is the last guard before the terminal.
        print(f"\n#{terminal_safe(channel.target, lines=False)}", file=self.stream)
        print(terminal_safe(text), file=self.stream, flush=True)
        return PostResult(message_ref=ref)

    async def post_briefing(
        self, channel: Channel, briefing: Briefing, *, attempt: Attempt | None = None
    ) -> PostResult:
        result = self._write(channel, render_briefing(briefing))
        self._posted[(channel.id, briefing.id)] = result.message_ref
        self._remember(channel, attempt, result)
        return result

    async def update_briefing(
        self,
        channel: Channel,
        briefing: Briefing,
        message_ref: str,
        *,
        attempt: Attempt | None = None,
    ) -> PostResult:
        count = len(briefing.sources)
        note = f"↻ update to {message_ref}: now {plural(count, 'source')}"
        self._write(channel, note + "\n" + render_briefing(briefing))
        result = PostResult(message_ref=message_ref)
        self._remember(channel, attempt, result)
        return result

    async def post_text(
        self, channel: Channel, text: str, *, attempt: Attempt | None = None
    ) -> PostResult:
        from bot.text import one_line

        result = self._write(channel, one_line(text))
        self._remember(channel, attempt, result)
        return result

    async def post_digest(
        self,
        channel: Channel,
        briefings: Sequence[Briefing],
        *,
        attempt: Attempt | None = None,
    ) -> PostResult:
        result = self._write(channel, render_digest(briefings))
        self._remember(channel, attempt, result)
        return result

    async def find_posted(self, channel: Channel, briefing: Briefing) -> str | None:
        return self._posted.get((channel.id, briefing.id))

    async def find_attempt(
        self, channel: Channel, attempt: Attempt, briefing: Briefing | None = None
    ) -> str | None:
        return self._attempts.get((channel.id, attempt.key))
