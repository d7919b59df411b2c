"""An ``httpx`` transport that sends requests through ``aiohttp``.

Why: the fetcher's behaviour (validators, redirects checked hop by hop, bounded
decompression, one-line errors) is written against ``httpx`` and its transport seam,
which the tests use. But httpcore's async connection pool costs about 2 ms of CPU per
request and stalls under many concurrent connections: measured on 2 cores it capped a
poll at ~250 feed checks a second, where the same ``Fetcher`` over aiohttp's connection
pool does ~1,400 (``bench/poll.py``). This transport keeps the ``httpx`` surface and
swaps the engine room.

It passes bytes through as sent (``auto_decompress=False``: the fetcher decompresses,
with a size bound), never follows redirects itself, sends only the headers the request
carries, and maps aiohttp's exceptions onto ``httpx``'s so the fetcher's error handling
is unchanged.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import aiohttp
import httpx
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from . import netguard
from .errors import FetchError

_CHUNK = 64 * 1024
_NUMERIC = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV


class _AddressListResolver(AbstractResolver):
    """Adapts a ``netguard.Resolver`` (host -> address strings), the seam tests use to
    stand in for DNS, to aiohttp's resolver interface."""

    def __init__(self, resolve: netguard.Resolver) -> None:
        self._resolve = resolve

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results: list[ResolveResult] = []
        for address in await self._resolve(host):
            try:
                version: int = ipaddress.ip_address(address).version
            except ValueError:
                version = 0  # not an address: kept, so the guard refuses it by name
            fam = socket.AF_INET6 if version == 6 else socket.AF_INET
            if family not in (socket.AF_UNSPEC, fam):
                continue
            results.append(
                ResolveResult(
                    hostname=host, host=address, port=port, family=fam, proto=0, flags=_NUMERIC
                )
            )
        return results

    async def close(self) -> None:
        pass


class GuardedResolver(AbstractResolver):
    """The connection's DNS lookup, checked by ``netguard``: closes the rebinding window.

    ``netguard.check_url`` resolves a host before each hop, but the connection used to
    resolve it again, so a hostile DNS server could answer a public address to the check
    and 127.0.0.1 to the connection (DNS rebinding). With this resolver installed in the
    connector, the answer aiohttp connects to is the answer that was checked: it resolves
    once, and unless ``allow_private`` refuses the whole answer with the same one-line
    ``BlockedAddressError`` as ``check_url`` (via ``netguard.check_addresses``, so there
    is one policy) when ANY address is not public, as ``check_url`` does.

    IP-literal hosts never reach a resolver (aiohttp connects to them directly); they
    cannot rebind and ``check_url`` has already judged them. aiohttp caches only answers
    this returns, so refusals are never cached. ``resolver`` replaces DNS in tests;
    otherwise aiohttp's default resolver does the lookup, as before."""

    def __init__(self, *, allow_private: bool, resolver: netguard.Resolver | None = None) -> None:
        self._allow_private = allow_private
        self._injected = resolver
        self._inner: AbstractResolver | None = None

    def _resolver(self) -> AbstractResolver:
        # Created on first use: aiohttp's threaded resolver binds the running loop.
        if self._inner is None:
            if self._injected is not None:
                self._inner = _AddressListResolver(self._injected)
            else:
                self._inner = DefaultResolver()
        return self._inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._resolver().resolve(host, port, family)
        if not self._allow_private:
            netguard.check_addresses(host, [result["host"] for result in results])
        return results

    async def close(self) -> None:
        if self._inner is not None:
            await self._inner.close()
            self._inner = None


class Reply:
    """A response as the fetcher reads it: status, headers with lower-cased names (a
    repeated header's values joined by ", ", as ``httpx.Headers.get`` does), the
    reason phrase, the raw body in chunks, and ``aclose``. ``AiohttpTransport.get``
    builds it straight from aiohttp's response; ``from_httpx`` wraps any other
    transport's ``httpx.Response``, so the fetcher has one path for both."""

    __slots__ = ("aclose", "chunks", "headers", "reason", "status")

    def __init__(
        self,
        status: int,
        headers: dict[str, str],
        reason: str,
        chunks: Callable[[], AsyncIterator[bytes]],
        aclose: Callable[[], Awaitable[None]],
    ) -> None:
        self.status = status
        self.headers = headers
        self.reason = reason
        self.chunks = chunks
        self.aclose = aclose

    @classmethod
    def from_httpx(cls, response: httpx.Response) -> Reply:
        headers = {k.lower(): v for k, v in response.headers.items()}
        return cls(
            response.status_code,
            headers,
            response.reason_phrase,
            response.aiter_raw,
            response.aclose,
        )


def _lowered(raw: tuple[tuple[bytes, bytes], ...]) -> dict[str, str]:
    # Latin-1, as httpx reads header bytes: any byte decodes, and a later store of the
    # value (an ETag) never meets an undecodable surrogate.
    out: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        out[key] = f"{out[key]}, {text}" if key in out else text
    return out


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request | None) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(_CHUNK):
                yield chunk
        except Exception as exc:
            raise _as_httpx_error(exc, self._request) from exc

    async def aclose(self) -> None:
        # release() returns a fully read connection to the pool; a body abandoned
        # half-way (size cap) cannot be reused and is closed instead.
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


def _as_httpx_error(exc: BaseException, request: httpx.Request | None) -> httpx.HTTPError:
    if isinstance(exc, httpx.HTTPError):
        return exc
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(str(exc) or "connect timed out", request=request)
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return httpx.ReadTimeout(str(exc) or "timed out", request=request)
    if isinstance(exc, aiohttp.ClientConnectorError | ConnectionRefusedError):
        return httpx.ConnectError(str(exc), request=request)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol(str(exc), request=request)
    if isinstance(
        exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | ConnectionError
    ):
        return httpx.RemoteProtocolError(str(exc) or type(exc).__name__, request=request)
    if isinstance(exc, aiohttp.ClientResponseError):  # a malformed response
        return httpx.RemoteProtocolError(exc.message or str(exc), request=request)
    return httpx.TransportError(str(exc) or type(exc).__name__, request=request)


class AiohttpTransport(httpx.AsyncBaseTransport):
    """``httpx.AsyncBaseTransport`` over one ``aiohttp`` connection pool.

    ``max_connections`` bounds open connections across all hosts; idle connections are
    kept for ``keepalive`` seconds so a feed host polled every few minutes, or many
    feeds on one host, reuse them. The session is created lazily, inside the running
    event loop. ``resolver`` does the connector's DNS lookups (``GuardedResolver`` for
    the fetcher); it is closed with the transport."""

    def __init__(
        self,
        *,
        max_connections: int = 100,
        keepalive: float = 30.0,
        resolver: AbstractResolver | None = None,
    ) -> None:
        self._max_connections = max_connections
        self._keepalive = keepalive
        self._resolver = resolver
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                limit_per_host=0,  # the fetcher enforces per-host politeness itself
                keepalive_timeout=self._keepalive,
                ttl_dns_cache=60,
                resolver=self._resolver,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                trust_env=False,  # no proxies or ~/.netrc credentials from the environment
                # Only the headers httpx put on the request, none of aiohttp's defaults.
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._open()
        timeouts = request.extensions.get("timeout") or {}
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=timeouts.get("connect"),
            sock_read=timeouts.get("read"),
        )
        body = await request.aread() if request.method not in ("GET", "HEAD") else None
        try:
            response = await session.request(
                request.method,
                # httpx has already encoded the URL; yarl must not encode it again.
                yarl.URL(str(request.url), encoded=True),
                headers=[
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw
                ],
                data=body,
                allow_redirects=False,
                timeout=timeout,
            )
        except FetchError:
            raise  # the resolver refused the address: already one line for a person
        except Exception as exc:
            raise _as_httpx_error(exc, request) from exc
        return httpx.Response(
            response.status,
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.raw_headers],
            stream=_ResponseStream(response, request),
            extensions={"reason_phrase": (response.reason or "").encode("latin-1", "replace")},
            request=request,
        )

    async def get(
        self, url: str, headers: Mapping[str, str], timeouts: Mapping[str, float | None]
    ) -> Reply:
        """The fetcher's hot path: ``handle_async_request`` for a GET without building an
        ``httpx.Request`` or ``httpx.Response`` (parsing the URL into one was half of the
        fetcher's own CPU per request). Same exchange, same errors; ``timeouts`` as
        httpx's ``as_dict()``."""
        try:
            target = yarl.URL(url)
        except (ValueError, TypeError) as exc:
            raise httpx.InvalidURL(str(exc)) from None
        session = self._open()
        timeout = aiohttp.ClientTimeout(
            total=None, connect=timeouts.get("connect"), sock_read=timeouts.get("read")
        )
        try:
            response = await session.get(
                target, headers=headers, allow_redirects=False, timeout=timeout
            )
        except FetchError:
            raise  # the resolver refused the address: already one line for a person
        except Exception as exc:
            raise _as_httpx_error(exc, None) from exc
        stream = _ResponseStream(response, None)
        return Reply(
            response.status,
            _lowered(response.raw_headers),
            response.reason or "",
            stream.__aiter__,
            stream.aclose,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._resolver is not None:
            # The connector does not close a resolver it was given.
            await self._resolver.close()


__all__ = ["AiohttpTransport", "GuardedResolver", "Reply"]
