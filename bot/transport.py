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
from collections.abc import AsyncIterator

import aiohttp
import httpx
import yarl

_CHUNK = 64 * 1024


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
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


def _as_httpx_error(exc: BaseException, request: httpx.Request) -> httpx.HTTPError:
    if isinstance(exc, httpx.HTTPError):
        return exc
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
    event loop."""

    def __init__(self, *, max_connections: int = 100, keepalive: float = 30.0) -> None:
        self._max_connections = max_connections
        self._keepalive = keepalive
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                limit_per_host=0,  # the fetcher enforces per-host politeness itself
                keepalive_timeout=self._keepalive,
                ttl_dns_cache=60,
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
        except Exception as exc:
            raise _as_httpx_error(exc, request) from exc
        return httpx.Response(
            response.status,
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.raw_headers],
            stream=_ResponseStream(response, request),
            extensions={"reason_phrase": (response.reason or "").encode("latin-1", "replace")},
            request=request,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


__all__ = ["AiohttpTransport"]
