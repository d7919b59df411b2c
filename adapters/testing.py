"""The shipped test desk, as errbot ships its test backend: SignalDesk whole, in one
process, for tests that drive it as a channel would.

- ``TestDesk``: the real stages, built by ``bot.desk.build_desk`` on an in-memory
  store, with a ``FakeClock``, a local feed site (``FeedSite``, on 127.0.0.1) and a
  ``RecordingPublisher``. ``await desk.push("/brief feed add …")`` runs a command in a
  channel; ``desk.pop()`` is the next reply as the console shows it; ``await
  desk.poll()`` polls what is due and delivers; ``desk.posts`` is what was posted.
- ``RecordingPublisher``: a publisher that keeps what would have been posted.

    async with TestDesk() as desk:
        url = desk.site.serve("/wire.xml", rss)
        await desk.push(f"/brief feed add {url}")
        assert "Added" in desk.pop()
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from bot.commands import Asker
from bot.deliver import Publishers
from bot.desk import Desk, build_desk
from bot.errors import DeliveryError
from bot.fetch import Fetcher
from bot.ingest import PollReport
from bot.models import Attempt, Briefing, Channel, PostResult, Reply
from bot.settings import load_settings
from storage import SqliteStore
from storage.database import StoreRunner

from .console.render import render_reply

# A Monday morning: where a test desk's clock starts unless told otherwise.
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


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


class FakeClock:
    """A wall clock that moves only when told (``advance(minutes=10)``)."""

    def __init__(self, now: datetime = START) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


class FeedSite:
    """Feeds and pages served on 127.0.0.1: ``serve(path, body)`` returns the URL."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[bytes, str]] = {}
        pages = self.pages

        class _Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                found = pages.get(self.path.split("?", 1)[0])
                body, kind = found or (b"not found", "text/plain")
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def serve(self, path: str, body: str | bytes, content_type: str = "application/rss+xml") -> str:
        self.pages[path] = (body.encode() if isinstance(body, str) else body, content_type)
        return self.base + path

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class TestDesk:
    """SignalDesk for a test: see the module's docstring. ``settings`` override the
    test defaults (an in-memory database, private addresses allowed for the local
    site, a short fetch timeout, the feed's own text rather than fetched pages)."""

    __test__ = False  # not a test class, whatever pytest makes of the name

    def __init__(
        self,
        *,
        channel: str = "console:general",
        admin: bool = True,
        clock: FakeClock | None = None,
        **settings: Any,
    ) -> None:
        values: dict[str, Any] = {
            "database": ":memory:",
            "allow_private_networks": True,
            "fetch_timeout": 2.0,
            "fetch_pages": False,
        }
        values.update(settings)
        self.settings = load_settings(**values)
        self.channel = channel
        self.admin = admin
        self.clock = clock or FakeClock()
        self.site = FeedSite()
        self.publisher = RecordingPublisher()
        store = SqliteStore.open(self.settings.database)
        self.desk: Desk = build_desk(
            self.settings,
            store,
            runner=StoreRunner(store),
            fetcher=Fetcher(self.settings),
            publishers=Publishers({"console": self.publisher}),
            clock=self.clock,
        )
        self._replies: deque[Reply] = deque()

    @property
    def posts(self) -> list[Post]:
        return self.publisher.posts

    async def push(
        self,
        text: str,
        *,
        channel: str | None = None,
        admin: bool | None = None,
        user: str = "tester",
    ) -> None:
        """Send a ``/brief`` command (with or without the ``/brief``) in ``channel``
        (the desk's own by default), as a channel admin unless told otherwise."""
        asker = Asker(
            channel_id=channel or self.channel,
            user_id=user,
            is_admin=self.admin if admin is None else admin,
        )
        self._replies.append(await self.desk.commands.handle(text, asker))

    def pop(self) -> str:
        """The oldest reply not yet popped, as the console shows it."""
        return render_reply(self.pop_reply())

    def pop_reply(self) -> Reply:
        if not self._replies:
            raise AssertionError("no reply to pop: push a command first")
        return self._replies.popleft()

    async def poll(self) -> PollReport:
        """Poll the feeds that are due, then deliver everything queued."""
        report = await self.desk.engine.poll_once()
        await self.desk.engine.deliver_all()
        return report

    async def aclose(self) -> None:
        try:
            await self.desk.aclose()
        finally:
            self.site.close()

    async def __aenter__(self) -> TestDesk:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


__all__ = ["START", "FakeClock", "FeedSite", "Post", "RecordingPublisher", "TestDesk"]
