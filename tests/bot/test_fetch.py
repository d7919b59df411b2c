"""The fetcher against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import socket
import threading
import time
import tracemalloc
import zlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from bot.errors import BlockedAddressError, FetchError, TooLargeError
from bot.fetch import FEED_ACCEPT, PAGE_ACCEPT, Fetcher, parse_max_age, parse_retry_after
from bot.settings import Settings
from bot.transport import GuardedResolver
from tests.support.http import LocalServer, Request, Response

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


def make_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {"allow_private_networks": True, "fetch_timeout": 5.0}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class ToLocalServer(httpx.AsyncBaseTransport):
    """Delivers every request to the local server whatever host its URL names, the way
    DNS would for a real name; the Host header still carries the name."""

    def __init__(self, server: LocalServer) -> None:
        self._port = server.port
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self._port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def public_resolver(host: str) -> list[str]:
    table = {"feeds.example": ["93.184.215.14"], "intranet.example": ["10.1.2.3"]}
    if host not in table:
        raise OSError(-2, "Name or service not known")
    return table[host]


# ------------------------------------------------------------------ conditional GET


async def test_200_then_304_round_trips_validators(local_server: LocalServer) -> None:
    def handler(req: Request) -> Response:
        if req.headers.get("if-none-match") == '"v1"':
            return Response(304, headers={"ETag": '"v1"', "Cache-Control": "max-age=60"})
        return Response(
            200,
            FEED,
            {
                "ETag": '"v1"',
                "Last-Modified": "Mon, 02 Mar 2026 10:00:00 GMT",
                "Cache-Control": "public, max-age=600",
                "Content-Type": "application/rss+xml",
            },
        )

    url = local_server.route("/feed.xml", handler)
    async with Fetcher(make_settings()) as fetcher:
        first = await fetcher.fetch(url)
        second = await fetcher.fetch(url, etag=first.etag, last_modified=first.last_modified)

    assert first.status == 200 and not first.not_modified
    assert first.body == FEED
    assert first.url == url
    assert first.etag == '"v1"'
    assert first.last_modified == "Mon, 02 Mar 2026 10:00:00 GMT"
    assert first.max_age == 600
    assert first.headers["content-type"] == "application/rss+xml"
    assert first.content_hash == hashlib.sha256(FEED).hexdigest()

    assert second.status == 304 and second.not_modified
    assert second.body == b"" and second.content_hash == ""
    assert second.etag == '"v1"'
    # The 304 did not repeat Last-Modified: the one we hold is kept.
    assert second.last_modified == "Mon, 02 Mar 2026 10:00:00 GMT"
    assert second.max_age == 60

    sent = local_server.requests
    assert "if-none-match" not in sent[0].headers
    assert sent[1].headers["if-none-match"] == '"v1"'
    assert sent[1].headers["if-modified-since"] == "Mon, 02 Mar 2026 10:00:00 GMT"


async def test_last_modified_alone(local_server: LocalServer) -> None:
    stamp = "Sun, 01 Mar 2026 08:00:00 GMT"

    def handler(req: Request) -> Response:
        if req.headers.get("if-modified-since") == stamp:
            return Response(304)
        return Response(200, FEED, {"Last-Modified": stamp})

    url = local_server.route("/lm.xml", handler)
    async with Fetcher(make_settings()) as fetcher:
        first = await fetcher.fetch(url)
        assert first.etag is None and first.last_modified == stamp
        second = await fetcher.fetch(url, last_modified=first.last_modified)
    assert second.not_modified and second.last_modified == stamp and second.etag is None


async def test_headers_sent(local_server: LocalServer) -> None:
    url = local_server.route("/feed.xml", Response(200, FEED))
    page = local_server.route("/page.html", Response(200, b"<html></html>"))
    settings = make_settings(user_agent="SignalDeskTest/9.9 (+https://signaldesk.example)")
    async with Fetcher(settings) as fetcher:
        await fetcher.fetch(url)
        await fetcher.fetch_page(page)
    feed_req, page_req = local_server.requests
    assert feed_req.headers["user-agent"] == "SignalDeskTest/9.9 (+https://signaldesk.example)"
    assert feed_req.headers["accept"] == FEED_ACCEPT
    assert feed_req.headers["accept-encoding"] == "gzip, deflate"
    assert page_req.headers["accept"] == PAGE_ACCEPT
    assert page_req.headers["user-agent"] == settings.user_agent


async def test_repeated_and_non_ascii_headers_are_read_as_sent(local_server: LocalServer) -> None:
    # Two Cache-Control lines mean one list of directives; an ETag byte outside ASCII is
    # kept (as Latin-1) so that the next request sends the same validator back.
    headers = [("Cache-Control", "public"), ("Cache-Control", "max-age=900"), ("ETag", '"caf\xe9"')]
    url = local_server.route("/feed.xml", Response(200, FEED, headers))
    async with Fetcher(make_settings()) as fetcher:
        result = await fetcher.fetch(url)
    assert result.max_age == 900
    assert result.headers["cache-control"] == "public, max-age=900"
    assert result.etag == '"caf\xe9"'


# ------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("status", "headers", "message", "retry_after"),
    [
        (404, {}, "HTTP 404 Not Found from 127.0.0.1", None),
        (500, {}, "HTTP 500 Internal Server Error from 127.0.0.1", None),
        (429, {"Retry-After": "120"}, "HTTP 429 Too Many Requests from 127.0.0.1", 120.0),
        (410, {}, "HTTP 410 Gone from 127.0.0.1", None),
    ],
)
async def test_http_errors(
    local_server: LocalServer,
    status: int,
    headers: dict[str, str],
    message: str,
    retry_after: float | None,
) -> None:
    url = local_server.route("/x", Response(status, b"nope", headers))
    async with Fetcher(make_settings()) as fetcher:
        with pytest.raises(FetchError) as info:
            await fetcher.fetch(url)
    assert str(info.value) == message
    assert info.value.status == status
    assert info.value.retry_after == retry_after


async def test_503_with_http_date_retry_after(local_server: LocalServer) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=300), usegmt=True)
    url = local_server.route("/busy", Response(503, b"", {"Retry-After": later}))
    async with Fetcher(make_settings()) as fetcher:
        with pytest.raises(FetchError) as info:
            await fetcher.fetch(url)
    assert info.value.status == 503
    assert info.value.retry_after is not None and 290 <= info.value.retry_after <= 301


def test_parse_retry_after_and_max_age() -> None:
    assert parse_retry_after("30") == 30.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480 - 60) == 60.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480 + 60) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-5") is None
    assert parse_retry_after(None) is None
    assert parse_max_age("no-cache, max-age=300") == 300
    assert parse_max_age('max-age="45"') == 45
    assert parse_max_age("s-maxage=10") is None
    assert parse_max_age("max-age=soon") is None
    assert parse_max_age(None) is None


async def test_connection_refused_is_a_fetch_error() -> None:
    with socket.socket() as sock:  # a port that nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with Fetcher(make_settings()) as fetcher:
        with pytest.raises(FetchError, match=r"^could not connect to 127\.0\.0\.1") as info:
            await fetcher.fetch(f"http://127.0.0.1:{port}/feed")
    assert info.value.status is None
    assert "\n" not in str(info.value)


async def test_read_error_is_a_fetch_error() -> None:
    # A connection dropped mid-response: MockTransport, since the local server always
    # completes its responses.
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("connection reset by peer", request=request)

    settings = make_settings(allow_private_networks=False)
    transport = httpx.MockTransport(handler)
    async with Fetcher(settings, transport=transport, resolver=public_resolver) as fetcher:
        with pytest.raises(FetchError, match=r"feeds\.example failed: connection reset by peer"):
            await fetcher.fetch("https://feeds.example/feed")


async def test_bad_scheme_is_refused_before_any_request(local_server: LocalServer) -> None:
    async with Fetcher(make_settings()) as fetcher:
        with pytest.raises(BlockedAddressError, match="only http and https"):
            await fetcher.fetch("file:///etc/passwd")
    assert local_server.requests == []


async def test_private_address_refused_by_default(local_server: LocalServer) -> None:
    url = local_server.route("/feed.xml", Response(200, FEED))
    async with Fetcher(make_settings(allow_private_networks=False)) as fetcher:
        with pytest.raises(BlockedAddressError, match="loopback"):
            await fetcher.fetch(url)
    assert local_server.requests == []


# --------------------------------------------------------------------- redirects


def _redirect(location: str, status: int = 302) -> Response:
    return Response(status, b"", {"Location": location})


async def test_redirect_chain_within_limit(local_server: LocalServer) -> None:
    start = local_server.route("/a", _redirect("/b", 301))
    local_server.route("/b", _redirect("c", 307))  # relative to /b
    final = local_server.route("/c", Response(200, FEED, {"ETag": '"c"'}))
    async with Fetcher(make_settings(max_redirects=2)) as fetcher:
        result = await fetcher.fetch(start, etag='"old"')
    assert result.url == final
    assert result.body == FEED and result.etag == '"c"'
    assert [r.path for r in local_server.requests] == ["/a", "/b", "/c"]
    # Every hop is a GET carrying the same validators and User-Agent.
    assert all(r.method == "GET" for r in local_server.requests)
    assert all(r.headers["if-none-match"] == '"old"' for r in local_server.requests)


async def test_redirect_chain_over_limit(local_server: LocalServer) -> None:
    start = local_server.route("/r0", _redirect("/r1"))
    local_server.route("/r1", _redirect("/r2"))
    local_server.route("/r2", _redirect("/r3"))
    local_server.route("/r3", Response(200, FEED))
    async with Fetcher(make_settings(max_redirects=2)) as fetcher:
        with pytest.raises(FetchError, match=r"too many redirects \(more than 2\)"):
            await fetcher.fetch(start)
    assert [r.path for r in local_server.requests] == ["/r0", "/r1", "/r2"]


async def test_redirect_loop_stops(local_server: LocalServer) -> None:
    url = local_server.route("/loop", _redirect("/loop"))
    async with Fetcher(make_settings(max_redirects=5)) as fetcher:
        with pytest.raises(FetchError, match="too many redirects"):
            await fetcher.fetch(url)
    assert len(local_server.requests) == 6


async def test_redirect_without_location(local_server: LocalServer) -> None:
    url = local_server.route("/nowhere", Response(302, b""))
    async with Fetcher(make_settings()) as fetcher:
        with pytest.raises(FetchError, match="without a Location") as info:
            await fetcher.fetch(url)
    assert info.value.status == 302


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/secret",
        "http://0x7f.1:{port}/secret",
        "http://[::ffff:127.0.0.1]:{port}/secret",
        "http://169.254.169.254/latest/meta-data/",
        "http://intranet.example/secret",
        "file:///etc/passwd",
    ],
)
async def test_redirect_to_refused_address(local_server: LocalServer, target: str) -> None:
    """A public feed (feeds.example -> a public address) must not bounce us inward."""
    local_server.route("/start", _redirect(target.format(port=local_server.port)))
    local_server.route("/secret", Response(200, b"internal data"))
    settings = make_settings(allow_private_networks=False)
    transport = ToLocalServer(local_server)
    async with Fetcher(settings, transport=transport, resolver=public_resolver) as fetcher:
        with pytest.raises(BlockedAddressError, match=r"^refused: "):
            await fetcher.fetch("http://feeds.example/start")
    assert [r.path for r in local_server.requests] == ["/start"]
    assert local_server.requests[0].headers["host"] == "feeds.example"


async def test_public_redirect_followed_with_guard_on(local_server: LocalServer) -> None:
    local_server.route("/old", _redirect("https://feeds.example/new", 308))
    local_server.route("/new", Response(200, FEED))
    settings = make_settings(allow_private_networks=False)
    transport = ToLocalServer(local_server)
    async with Fetcher(settings, transport=transport, resolver=public_resolver) as fetcher:
        result = await fetcher.fetch("http://feeds.example/old")
    assert result.url == "https://feeds.example/new"
    assert result.body == FEED


# ---------------------------------------------------------------- time and size


async def test_timeout_covers_the_whole_fetch(local_server: LocalServer) -> None:
    url = local_server.route("/slow", Response(200, FEED, delay=2.0))
    async with Fetcher(make_settings(fetch_timeout=0.3)) as fetcher:
        started = time.monotonic()
        with pytest.raises(FetchError, match=r"timed out after 0\.3s fetching 127\.0\.0\.1"):
            await fetcher.fetch(url)
    assert time.monotonic() - started < 1.5


async def test_server_that_answers_nothing_frees_the_worker_early(
    local_server: LocalServer,
) -> None:
    # Accepts the request, then sends nothing: the first-byte deadline gives up long
    # before the whole fetch's timeout, so a hanging feed cannot hold a worker for it.
    url = local_server.route("/hangs", Response(200, FEED, delay=2.0))
    settings = make_settings(fetch_timeout=30.0, first_byte_timeout=0.2)
    async with Fetcher(settings) as fetcher:
        started = time.monotonic()
        with pytest.raises(FetchError, match=r"^127\.0\.0\.1 sent nothing for 0\.2s"):
            await fetcher.fetch(url)
    assert time.monotonic() - started < 1.5


async def test_timeout_spans_redirect_hops(local_server: LocalServer) -> None:
    # Each hop alone is within the limit; together they are not.
    start = local_server.route("/h1", Response(302, b"", {"Location": "/h2"}, delay=0.25))
    local_server.route("/h2", Response(302, b"", {"Location": "/h3"}, delay=0.25))
    local_server.route("/h3", Response(200, FEED, delay=0.25))
    async with Fetcher(make_settings(fetch_timeout=0.5)) as fetcher:
        with pytest.raises(FetchError, match="timed out"):
            await fetcher.fetch(start)


async def test_size_cap_on_plain_body(local_server: LocalServer) -> None:
    cap = 10_000
    exact = local_server.route("/exact", Response(200, b"x" * cap))
    over = local_server.route("/over", Response(200, b"x" * (cap + 1)))
    async with Fetcher(make_settings(max_response_bytes=cap)) as fetcher:
        assert len((await fetcher.fetch(exact)).body) == cap
        with pytest.raises(TooLargeError, match="larger than 10,000 bytes"):
            await fetcher.fetch(over)


async def test_gzip_body_is_decoded(local_server: LocalServer) -> None:
    url = local_server.route(
        "/feed.xml.gz", Response(200, gzip.compress(FEED), {"Content-Encoding": "gzip"})
    )
    async with Fetcher(make_settings()) as fetcher:
        result = await fetcher.fetch(url)
    assert result.body == FEED
    assert result.content_hash == hashlib.sha256(FEED).hexdigest()


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS], ids=["zlib", "raw"])
async def test_deflate_body_is_decoded(local_server: LocalServer, wbits: int) -> None:
    packer = zlib.compressobj(wbits=wbits)
    body = packer.compress(FEED) + packer.flush()
    url = local_server.route("/d", Response(200, body, {"Content-Encoding": "deflate"}))
    async with Fetcher(make_settings()) as fetcher:
        assert (await fetcher.fetch(url)).body == FEED


async def test_gzip_bomb_stops_at_the_cap(local_server: LocalServer) -> None:
    # 64 MB of zeros compresses to ~64 kB; reading it must stop at the 100 kB cap
    # without ever holding the inflated body.
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 200_000
    url = local_server.route("/bomb.xml", Response(200, bomb, {"Content-Encoding": "gzip"}))
    async with Fetcher(make_settings(max_response_bytes=100_000)) as fetcher:
        tracemalloc.start()
        try:
            with pytest.raises(TooLargeError, match="larger than 100,000 bytes"):
                await fetcher.fetch(url)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 8 * 1024 * 1024


async def test_corrupt_gzip_is_a_fetch_error(local_server: LocalServer) -> None:
    url = local_server.route(
        "/bad.gz", Response(200, b"\x1f\x8b\x08\x00garbage-not-gzip", {"Content-Encoding": "gzip"})
    )
    async with Fetcher(make_settings()) as fetcher:
        with pytest.raises(FetchError, match="corrupt gzip body"):
            await fetcher.fetch(url)


async def test_unknown_content_encoding_is_a_fetch_error(local_server: LocalServer) -> None:
    url = local_server.route("/br", Response(200, b"????", {"Content-Encoding": "br"}))
    async with Fetcher(make_settings()) as fetcher:
        with pytest.raises(FetchError, match=r"unsupported encoding \(br\)"):
            await fetcher.fetch(url)


# -------------------------------------------------------------------- politeness


async def test_per_host_and_global_limits(local_server: LocalServer) -> None:
    lock = threading.Lock()
    in_flight = {"now": 0, "max": 0}

    def handler(req: Request) -> Response:
        with lock:
            in_flight["now"] += 1
            in_flight["max"] = max(in_flight["max"], in_flight["now"])
        time.sleep(0.05)
        with lock:
            in_flight["now"] -= 1
        return Response(200, FEED)

    local_server.route("/p", handler)
    settings = make_settings(per_host_concurrency=2, concurrency=10)
    async with Fetcher(settings) as fetcher:
        results = await asyncio.gather(
            *(fetcher.fetch(local_server.url(f"/p?{i}")) for i in range(6))
        )
    assert len(results) == 6
    assert in_flight["max"] == 2

    in_flight["max"] = 0
    settings = make_settings(per_host_concurrency=5, concurrency=1)
    async with Fetcher(settings) as fetcher:
        await asyncio.gather(*(fetcher.fetch(local_server.url(f"/p?{i}")) for i in range(4)))
    assert in_flight["max"] == 1
    assert fetcher._hosts._slots == {}  # per-host semaphores are not leaked

    # One process of a fleet of three, polling beside the others: its share of the
    # per-host limit, rounded up (the fleet keeps about the limit in flight to a host).
    in_flight["max"] = 0
    settings = make_settings(per_host_concurrency=5, concurrency=10)
    async with Fetcher(settings) as fetcher:
        assert fetcher.share_hosts(3) == 2
        await asyncio.gather(*(fetcher.fetch(local_server.url(f"/p?{i}")) for i in range(6)))
    assert in_flight["max"] == 2


async def test_connections_are_reused(
    local_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    accepted: list[object] = []
    accept = local_server.httpd.get_request

    def counting_accept() -> tuple[socket.socket, object]:
        conn = accept()
        accepted.append(conn[1])
        return conn

    monkeypatch.setattr(local_server.httpd, "get_request", counting_accept)
    url = local_server.route("/feed.xml", Response(200, FEED))
    async with Fetcher(make_settings()) as fetcher:
        for _ in range(3):
            await fetcher.fetch(url)
    assert len(accepted) == 1  # one TCP connection served all three polls


# ------------------------------------------------------------- DNS rebinding


class RebindingResolver:
    """Simulates a hostile DNS server: the first lookup of a name answers a public
    address (what the per-hop check sees), every later one answers 127.0.0.1."""

    def __init__(self) -> None:
        self.lookups: list[str] = []

    async def __call__(self, host: str) -> list[str]:
        self.lookups.append(host)
        return ["93.184.215.14"] if len(self.lookups) == 1 else ["127.0.0.1"]


async def test_dns_rebinding_is_refused_at_connect_time(local_server: LocalServer) -> None:
    # Real aiohttp transport: the check passes on the public answer, then the
    # connection's own lookup gets 127.0.0.1 and must be refused, not connected to.
    url = local_server.route("/feed.xml", Response(200, FEED)).replace(
        "127.0.0.1", "rebind.example"
    )
    resolver = RebindingResolver()
    settings = make_settings(allow_private_networks=False)
    async with Fetcher(settings, resolver=resolver) as fetcher:
        with pytest.raises(BlockedAddressError) as caught:
            await fetcher.fetch(url)
    assert str(caught.value) == "refused: rebind.example resolves to 127.0.0.1, a loopback address"
    assert resolver.lookups == ["rebind.example", "rebind.example"]  # check, then connect
    assert local_server.requests == []


async def test_connect_time_refusal_covers_mixed_answers(local_server: LocalServer) -> None:
    # One public and one private address: refused whole, as check_url refuses it.
    answers = iter([["93.184.215.14"], ["93.184.215.14", "10.0.0.7"]])

    async def resolver(host: str) -> list[str]:
        return next(answers)

    url = local_server.route("/feed.xml", Response(200, FEED)).replace("127.0.0.1", "mixed.example")
    async with Fetcher(make_settings(allow_private_networks=False), resolver=resolver) as fetcher:
        with pytest.raises(
            BlockedAddressError, match=r"resolves to 10\.0\.0\.7, a private address"
        ):
            await fetcher.fetch(url)
    assert local_server.requests == []


async def test_allow_private_connects_through_the_resolver(local_server: LocalServer) -> None:
    # The connection uses the injected resolver's answer; the Host header keeps the name.
    lookups: list[str] = []

    async def resolver(host: str) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    url = local_server.route("/feed.xml", Response(200, FEED)).replace("127.0.0.1", "self.example")
    async with Fetcher(make_settings(allow_private_networks=True), resolver=resolver) as fetcher:
        first = await fetcher.fetch(url)
        second = await fetcher.fetch(url)
    assert first.body == FEED and second.body == FEED
    assert local_server.requests[0].headers["host"] == f"self.example:{local_server.port}"
    assert lookups == ["self.example"]  # aiohttp's 60 s DNS cache kept the checked answer


async def test_guarded_resolver_returns_only_checked_answers() -> None:
    async def resolver(host: str) -> list[str]:
        return {
            "pub.example": ["93.184.215.14", "2606:4700::1"],
            "md.example": ["169.254.169.254"],
        }[host]

    guarded = GuardedResolver(allow_private=False, resolver=resolver)
    try:
        results = await guarded.resolve("pub.example", 443, socket.AF_UNSPEC)
        assert [(r["host"], r["port"], r["family"]) for r in results] == [
            ("93.184.215.14", 443, socket.AF_INET),
            ("2606:4700::1", 443, socket.AF_INET6),
        ]
        assert all(r["hostname"] == "pub.example" for r in results)  # SNI/Host stay the name
        v4 = await guarded.resolve("pub.example", 443, socket.AF_INET)
        assert [r["host"] for r in v4] == ["93.184.215.14"]
        with pytest.raises(BlockedAddressError, match=r"169\.254\.169\.254, a link-local address"):
            await guarded.resolve("md.example", 80, socket.AF_UNSPEC)
    finally:
        await guarded.close()
    allowed = GuardedResolver(allow_private=True, resolver=resolver)
    assert [r["host"] for r in await allowed.resolve("md.example", 80, socket.AF_UNSPEC)] == [
        "169.254.169.254"
    ]
    await allowed.close()
