"""A fast feed server for ``bench/poll.py``: many distinct feed URLs on loopback.

A bare ``asyncio.Protocol`` HTTP/1.1 server (keep-alive, GET only) run in its own
process, so that the server's CPU is not charged to the engine being measured and a
full web framework's per-request cost does not become the bottleneck. It listens on
several loopback addresses (127.0.0.2, 127.0.0.3, …: all of 127.0.0.0/8 is loopback on
Linux) so that the engine sees many hosts, as it would in production, and its per-host
politeness limit applies as it would there.

Feed ``/feed/<i>`` behaves by ``kind_of(i)``:

- ``etag``: has an ETag; answers 304 to a matching ``If-None-Match`` (most feeds);
- ``static``: no validators; the same 200 body every time (the hash skip catches it);
- ``changing``: no validators; a new item on every ``change_every``-th request.

With a ``fleet.Mix`` (the realistic preset) the feeds follow the mix instead, and each
answer waits for the mix's simulated round trip; a ``hanging`` feed is never answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from fleet import Mix

# Share of feeds per kind, in thousandths, by feed number (deterministic).
ETAG_SHARE = 850
STATIC_SHARE = 140  # the rest (10/1000) are "changing"


def kind_of(i: int, changing_per_mille: int = 10) -> str:
    slot = (i * 7919) % 1000  # spread kinds across the id range
    if slot < 1000 - changing_per_mille - STATIC_SHARE:
        return "etag"
    if slot < 1000 - changing_per_mille:
        return "static"
    return "changing"


def feed_body(i: int, version: int = 0) -> bytes:
    """A realistic RSS document (~4 kB, 10 items); ``version`` adds newer items."""
    items = []
    for n in range(version + 10, version, -1):
        items.append(
            f"<item><title>Feed {i} story {n}: council approves the harbour plan</title>"
            f"<link>https://news{i % 500}.example/{i}/{n}</link>"
            f"<guid isPermaLink='false'>f{i}-s{n}</guid>"
            f"<pubDate>Sun, 29 Nov 2026 {n % 24:02d}:00:00 GMT</pubDate>"
            "<description>The council voted on Tuesday to approve the long-debated plan "
            "for the harbour, after a session that ran late into the evening and drew "
            f"a crowd of residents. Item {n} of feed {i}.</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Bench feed {i}</title><link>https://news{i % 500}.example/</link>"
        f"<description>Feed {i}</description>{''.join(items)}</channel></rss>"
    ).encode()


def etag_of(i: int) -> str:
    return f'"f{i}-v0"'


def body_hash(i: int) -> str:
    return hashlib.sha256(feed_body(i)).hexdigest()


@dataclass(frozen=True)
class ServerSpec:
    hosts: Sequence[str]
    port: int
    changing_per_mille: int = 10
    change_every: int = 1
    lifetime: float = 1800.0
    mix: str = ""  # a fleet.Mix as JSON: the realistic preset


class _FeedProtocol(asyncio.Protocol):
    def __init__(self, spec: ServerSpec, counts: dict[int, int]) -> None:
        self.spec = spec
        self.counts = counts
        self.mix = Mix.loads(spec.mix) if spec.mix else None
        self.rng = random.Random(id(self))
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            head, self.buf = self.buf[:end], self.buf[end + 4 :]
            assert self.transport is not None
            if self.mix is None:
                self.transport.write(self._answer(head))
                continue
            answer = self._realistic(head, self.mix)
            if answer is None:
                continue  # a hanging feed: the connection stays open, unanswered
            delay = self.mix.delay(self.rng)
            if delay <= 0:
                self.transport.write(answer)
            else:
                asyncio.get_running_loop().call_later(delay, self._send, answer)

    def _send(self, answer: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(answer)

    def _realistic(self, head: bytes, mix: Mix) -> bytes | None:
        line, _, rest = head.partition(b"\r\n")
        parts = line.split(b" ")
        path = parts[1].decode() if len(parts) > 1 else "/"
        if not path.startswith("/feed/") or not path[6:].isdigit():
            return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
        i = int(path[6:])
        kind = mix.kind(i)
        if kind == "hanging":
            return None
        if kind == "missing":
            return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
        if kind == "broken":
            return b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
        headers = [b"Content-Type: application/rss+xml; charset=utf-8"]
        version = 0
        if kind == "etag":
            etag = mix.etag_of(i).encode()
            for header in rest.split(b"\r\n"):
                name, _, value = header.partition(b":")
                if name.strip().lower() == b"if-none-match" and value.strip() == etag:
                    return b"HTTP/1.1 304 Not Modified\r\nETag: " + etag + b"\r\n\r\n"
            headers.append(b"ETag: " + etag)
        elif kind == "changing":
            served = self.counts.get(i, 0) + 1
            self.counts[i] = served
            version = served // mix.change_every
        body = mix.body(i, version)
        headers.append(b"Content-Length: " + str(len(body)).encode())
        return b"HTTP/1.1 200 OK\r\n" + b"\r\n".join(headers) + b"\r\n\r\n" + body

    def _answer(self, head: bytes) -> bytes:
        line, _, rest = head.partition(b"\r\n")
        parts = line.split(b" ")
        path = parts[1].decode() if len(parts) > 1 else "/"
        if not path.startswith("/feed/") or not path[6:].isdigit():
            return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
        i = int(path[6:])
        kind = kind_of(i, self.spec.changing_per_mille)
        headers = [b"Content-Type: application/rss+xml; charset=utf-8"]
        if kind == "etag":
            etag = etag_of(i).encode()
            for header in rest.split(b"\r\n"):
                name, _, value = header.partition(b":")
                if name.strip().lower() == b"if-none-match" and value.strip() == etag:
                    return b"HTTP/1.1 304 Not Modified\r\nETag: " + etag + b"\r\n\r\n"
            headers.append(b"ETag: " + etag)
            body = feed_body(i)
        elif kind == "static":
            body = feed_body(i)
        else:
            served = self.counts.get(i, 0) + 1
            self.counts[i] = served
            body = feed_body(i, served // self.spec.change_every)
        headers.append(b"Content-Length: " + str(len(body)).encode())
        return b"HTTP/1.1 200 OK\r\n" + b"\r\n".join(headers) + b"\r\n\r\n" + body


async def _serve(spec: ServerSpec) -> None:
    loop = asyncio.get_running_loop()
    counts: dict[int, int] = {}
    servers = [
        await loop.create_server(
            lambda: _FeedProtocol(spec, counts), host, spec.port, backlog=4096, reuse_address=True
        )
        for host in spec.hosts
    ]
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    # Bounded even if the parent dies without stopping us.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=spec.lifetime)
    for server in servers:
        server.close()


class FeedServer:
    """The server in a child process; use as a context manager. ``url(i)`` is feed i."""

    def __init__(
        self,
        hosts: int = 50,
        port: int = 18_765,
        changing_per_mille: int = 10,
        lifetime: float = 1800.0,
        mix: Mix | None = None,
    ) -> None:
        self.spec = ServerSpec(
            hosts=[f"127.0.0.{2 + h}" for h in range(hosts)],
            port=port,
            changing_per_mille=changing_per_mille,
            lifetime=lifetime,
            mix=mix.dumps() if mix else "",
        )
        self._proc: subprocess.Popen[str] | None = None

    def url(self, i: int) -> str:
        host = self.spec.hosts[i % len(self.spec.hosts)]
        return f"http://{host}:{self.spec.port}/feed/{i}"

    def __enter__(self) -> FeedServer:
        spec = self.spec
        self._proc = subprocess.Popen(
            [
                sys.executable,
                __file__,
                str(len(spec.hosts)),
                str(spec.port),
                str(spec.changing_per_mille),
                str(spec.lifetime),
                spec.mix,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        if self._proc.stdout.readline().strip() != "ready":
            self._proc.kill()
            raise RuntimeError("the feed server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()


if __name__ == "__main__":
    hosts, port, changing, lifetime, mix = sys.argv[1:6]
    spec = ServerSpec(
        hosts=[f"127.0.0.{2 + h}" for h in range(int(hosts))],
        port=int(port),
        changing_per_mille=int(changing),
        lifetime=float(lifetime),
        mix=mix,
    )
    asyncio.run(_serve(spec))
