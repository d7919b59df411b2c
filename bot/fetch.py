"""HTTP fetching for feeds and article pages: polite, bounded and guarded.

One ``Fetcher`` holds one ``httpx.AsyncClient`` for the process so that connections to a
host are reused across polls. Every fetch

- sends the feed's validators (``If-None-Match`` / ``If-Modified-Since``): a 304 costs the
  publisher almost nothing and tells us there is nothing new;
- follows redirects itself, re-checking every hop with ``netguard.check_url`` (a public
  URL must not be able to bounce us to 127.0.0.1 or the metadata service), and connects
  only to addresses the same policy has passed (``transport.GuardedResolver``: a DNS
  answer that changes after the check cannot send the connection to 127.0.0.1);
- decompresses the body itself, in bounded steps, and stops at
  ``settings.max_response_bytes`` of *decompressed* data (a 10 kB gzip bomb must not
  become 10 GB of memory);
- is bounded as a whole (all hops, DNS, body) by ``settings.fetch_timeout``, and sooner
  by ``connect_timeout`` (a host that does not accept) and ``first_byte_timeout`` (a
  server that accepts and then sends nothing): a hanging server must not hold one of
  the workers for the whole timeout, and it is backed off like any failing feed;
- waits for a slot under a global limit and a per-host limit (politeness);
- fails with ``FetchError`` (one line for a person), never a raw httpx exception.

Bytes are returned undecoded: the charset is the parser's business (it also reads the
XML declaration).
"""

from __future__ import annotations

import asyncio
import hashlib
import http
import re
import time
import zlib
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from types import TracebackType
from urllib.parse import SplitResult, urljoin, urlsplit

import httpx

from . import netguard
from .errors import FetchError, TooLargeError
from .inflate import decode, decoders_for
from .schedule import clamp_seconds
from .settings import Settings
from .transport import AiohttpTransport, GuardedResolver, Reply

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"

# Only encodings we can decompress incrementally with a bound on the output size.
_ACCEPT_ENCODING = "gzip, deflate"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_ASCII_DIGITS = re.compile(r"[0-9]{1,20}")


@dataclass(frozen=True)
class FetchResult:
    """What one fetch returned (after following redirects).

    ``not_modified`` is True for a 304: ``body`` is empty and ``etag``/``last_modified``
    carry the validators to keep (the server's, or the ones we sent)."""

    url: str
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)  # names lower-cased
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
    retry_after: float | None = None
    max_age: int | None = None
    content_hash: str = ""


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delay-seconds or an HTTP-date),
    clamped to ``schedule.MAX_SERVER_DELAY``: whatever a server sends is a finite wait of
    at most a day, never an overflow. Anything unreadable is None."""
    if not value:
        return None
    value = value.strip()
    if _ASCII_DIGITS.fullmatch(value):
        return clamp_seconds(float(value))
    if value.isdigit() or len(value) > 100:  # "²", 30 digits: not a delay we can honour
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # HTTP-dates are GMT by definition
        return None
    try:
        seconds = when.timestamp() - (time.time() if now is None else now)
    except (OverflowError, ValueError, OSError):
        return None
    return clamp_seconds(seconds)


def parse_max_age(cache_control: str | None) -> int | None:
    """The ``max-age`` of a ``Cache-Control`` header, in seconds (at most a day's
    worth; the scheduler caps it so anyway)."""
    for directive in (cache_control or "")[:2000].split(","):
        name, _, arg = directive.strip().partition("=")
        if name.strip().lower() == "max-age":
            arg = arg.strip().strip('"')
            if not _ASCII_DIGITS.fullmatch(arg):
                return None
            seconds = clamp_seconds(float(arg))
            return None if seconds is None else int(seconds)
    return None


class _HostSlots:
    """One semaphore per host, dropped when nobody holds or waits for it (tens of
    thousands of feed hosts must not leave tens of thousands of semaphores behind)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit  # a change applies to hosts from their next idle moment
        self._slots: dict[str, tuple[asyncio.Semaphore, int]] = {}

    async def acquire(self, host: str) -> None:
        sem, users = self._slots.get(host) or (asyncio.Semaphore(self.limit), 0)
        self._slots[host] = (sem, users + 1)
        try:
            await sem.acquire()
        except BaseException:
            self._forget(host)
            raise

    def release(self, host: str) -> None:
        self._slots[host][0].release()
        self._forget(host)

    def _forget(self, host: str) -> None:
        sem, users = self._slots[host]
        if users <= 1:
            del self._slots[host]
        else:
            self._slots[host] = (sem, users - 1)


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or url
    except ValueError:
        return url


def _sooner(deadline: float, whole: float) -> float | None:
    return deadline if deadline < whole else None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] if text else type(exc).__name__


class Fetcher:
    """Fetches feeds and pages over one shared HTTP client.

    ``transport`` and ``resolver`` are seams for tests (a transport that reaches a local
    server, a resolver that maps test host names without DNS). Use as an async context
    manager, or call ``aclose()``."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: netguard.Resolver | None = None,
    ) -> None:
        self.settings = settings
        # The SSRF check resolves every hop; a feed host is polled every few minutes,
        # often for many feeds, so answers are kept briefly.
        self._resolver = netguard.CachingResolver(resolver)
        if transport is None:
            # httpx's own pool costs ~2 ms CPU a request; see bot/transport.py. The
            # guarded resolver checks the very addresses connected to, which the per-hop
            # check_url cannot (DNS rebinding); it gets the raw resolver, not the cache,
            # so it sees what DNS says at connect time.
            transport = AiohttpTransport(
                max_connections=settings.concurrency,
                resolver=GuardedResolver(
                    allow_private=settings.allow_private_networks, resolver=resolver
                ),
            )
        self._transport = transport  # requests go to it directly (``_request``)
        self._client = httpx.AsyncClient(
            transport=transport,
            http1=True,
            http2=False,
            follow_redirects=False,
            # trust_env=False: no proxies from the environment and, above all, no
            # credentials from ~/.netrc sent to whatever host a feed URL names.
            trust_env=False,
            timeout=httpx.Timeout(
                settings.fetch_timeout,
                # Only when sooner than the whole fetch's deadline, which otherwise rules.
                connect=_sooner(settings.connect_timeout, settings.fetch_timeout),
                read=_sooner(settings.first_byte_timeout, settings.fetch_timeout),
            ),
            limits=httpx.Limits(
                max_connections=settings.concurrency,
                max_keepalive_connections=min(settings.concurrency, 100),
            ),
            headers={"User-Agent": settings.user_agent, "Accept-Encoding": _ACCEPT_ENCODING},
        )
        self._headers = {**self._client.headers}  # httpx's defaults, with ours
        self._timeouts = self._client.timeout.as_dict()
        self._global = asyncio.Semaphore(settings.concurrency)
        self._hosts = _HostSlots(settings.per_host_concurrency)

    async def __aenter__(self) -> Fetcher:
        return self

    def share_hosts(self, processes: int) -> int:
        """Poll beside ``processes - 1`` other processes of a fleet (``bot.roles``):
        allow this one its share of the per-host limit, rounded up. Returns it."""
        self._hosts.limit = -(-self.settings.per_host_concurrency // max(1, processes))
        return self._hosts.limit

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._client.aclose()

    async def fetch_page(self, url: str) -> FetchResult:
        """Fetch an article page (HTML); same rules as ``fetch``."""
        return await self.fetch(url, accept=PAGE_ACCEPT)

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str = FEED_ACCEPT,
    ) -> FetchResult:
        """GET ``url`` (conditionally, when validators are given) and return the result.

        Raises ``BlockedAddressError`` for a refused URL or redirect target,
        ``TooLargeError`` past the size cap, and ``FetchError`` for HTTP errors (with
        ``status`` and ``retry_after``), timeouts and connection failures."""
        parts = netguard.split_checked(url)  # fail fast, before waiting for a slot
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        # The deadline starts once the first request has its slots: time spent queueing
        # behind other feeds is not this server's slowness.
        deadline = asyncio.timeout(None)
        try:
            async with deadline:
                result = await self._follow(url, parts, headers, deadline)
        except TimeoutError:
            raise FetchError(
                f"timed out after {self.settings.fetch_timeout:g}s fetching {_host(url)}"
            ) from None
        except FetchError:
            raise
        except (RecursionError, MemoryError, OverflowError, ValueError, LookupError) as exc:
            # A response shaped to break the reader: one line, like any failed fetch,
            # never an exception that stops the caller's other work.
            raise FetchError(
                f"could not read the response from {_host(url)}: {type(exc).__name__}"
            ) from None
        if result.not_modified:
            # A 304 need not repeat the validators; keep the ones we hold.
            result = _with_validators(result, etag, last_modified)
        return result

    async def _follow(
        self,
        url: str,
        parts: SplitResult,
        headers: dict[str, str],
        deadline: asyncio.Timeout,
    ) -> FetchResult:
        for _hop in range(self.settings.max_redirects + 1):
            host = parts.hostname or url
            await self._hosts.acquire(host)
            try:
                async with self._global:
                    if deadline.when() is None:
                        loop = asyncio.get_running_loop()
                        deadline.reschedule(loop.time() + self.settings.fetch_timeout)
                    await netguard.check_split(
                        parts,
                        allow_private=self.settings.allow_private_networks,
                        resolver=self._resolver,
                    )
                    outcome = await self._request(url, host, headers)
            finally:
                self._hosts.release(host)
            if isinstance(outcome, FetchResult):
                return outcome
            url = outcome  # the next hop, checked like the first
            parts = netguard.split_checked(url)
        raise FetchError(
            f"too many redirects (more than {self.settings.max_redirects}) fetching {_host(url)}"
        )

    async def _request(self, url: str, host: str, headers: dict[str, str]) -> FetchResult | str:
        """One hop: a FetchResult, or the absolute URL a redirect points to."""
        try:
            # As the client would build it, straight to the transport: the client's cookie
            # jar, auth and hooks were a third of the fetch path's CPU, and unused here.
            merged = {**self._headers, **headers}
            if isinstance(self._transport, AiohttpTransport):  # no httpx model objects
                response = await self._transport.get(url, merged, self._timeouts)
            else:
                timeouts = {"timeout": self._timeouts}
                request = httpx.Request("GET", url, headers=merged, extensions=timeouts)
                response = Reply.from_httpx(await self._transport.handle_async_request(request))
            try:
                status = response.status
                lowered = response.headers
                if status in _REDIRECTS:
                    location = lowered.get("location")
                    if not location:
                        raise FetchError(
                            f"HTTP {status} redirect without a Location from {host}", status=status
                        )
                    return urljoin(url, location.strip())
                retry_after = parse_retry_after(lowered.get("retry-after"))
                if status == 304:
                    return _result(url, status, b"", lowered, retry_after, not_modified=True)
                if not 200 <= status < 300:
                    reason = response.reason or _phrase(status)
                    raise FetchError(
                        " ".join(filter(None, ["HTTP", str(status), reason, "from", host])),
                        status=status,
                        retry_after=retry_after,
                    )
                body = await self._read_body(response, host)
                return _result(url, status, body, lowered, retry_after)
            finally:
                await response.aclose()
        except httpx.ConnectTimeout:
            raise FetchError(
                f"could not connect to {host} within {self.settings.connect_timeout:g}s"
            ) from None
        except httpx.ReadTimeout:
            raise FetchError(
                f"{host} sent nothing for {self.settings.first_byte_timeout:g}s "
                "(SIGNALDESK_FIRST_BYTE_TIMEOUT)"
            ) from None
        except httpx.TimeoutException:
            raise FetchError(
                f"timed out after {self.settings.fetch_timeout:g}s fetching {host}"
            ) from None
        except httpx.ConnectError as exc:
            raise FetchError(f"could not connect to {host}: {_one_line(exc)}") from None
        except (httpx.RemoteProtocolError, httpx.LocalProtocolError) as exc:
            raise FetchError(f"{host} broke the HTTP protocol: {_one_line(exc)}") from None
        except httpx.InvalidURL as exc:
            raise FetchError(f"cannot fetch {url[:200]}: {_one_line(exc)}") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"fetching from {host} failed: {_one_line(exc)}") from None

    async def _read_body(self, response: Reply, host: str) -> bytes:
        cap = self.settings.max_response_bytes
        encoding = response.headers.get("content-encoding", "")
        decoders = decoders_for(encoding, host)
        too_large = TooLargeError(f"the response from {host} is larger than {cap:,} bytes")
        declared = response.headers.get("content-length", "")
        if not decoders and declared.isdigit() and int(declared) > cap:
            raise too_large  # no need to download what we would throw away
        parts: list[bytes] = []
        size = 0
        try:
            # aiter_raw: the bytes as sent; decompression is ours so it can be bounded.
            async for raw in response.chunks():
                for chunk in decode(raw, decoders):
                    size += len(chunk)
                    if size > cap:
                        raise too_large
                    parts.append(chunk)
        except zlib.error:
            raise FetchError(f"{host} sent a corrupt {encoding} body") from None
        return b"".join(parts)


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def _result(
    url: str,
    status: int,
    body: bytes,
    headers: dict[str, str],
    retry_after: float | None,
    *,
    not_modified: bool = False,
) -> FetchResult:
    return FetchResult(
        url=url,
        status=status,
        body=body,
        headers=headers,
        etag=headers.get("etag"),
        last_modified=headers.get("last-modified"),
        not_modified=not_modified,
        retry_after=retry_after,
        max_age=parse_max_age(headers.get("cache-control")),
        content_hash="" if not_modified else hashlib.sha256(body).hexdigest(),
    )


def _with_validators(
    result: FetchResult, etag: str | None, last_modified: str | None
) -> FetchResult:
    return replace(
        result,
        etag=result.etag or etag,
        last_modified=result.last_modified or last_modified,
    )
