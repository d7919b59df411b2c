"""Which URLs the bot may fetch: a guard against server-side request forgery.

Anyone who can run ``/brief feed add <url>`` chooses a URL the server will fetch. Without
this guard that is a way to read the cloud metadata service (169.254.169.254), an admin
page on localhost, or a host on the office network. So a URL is fetched only when

- it is ``http`` or ``https`` with a host and no user-info (``http://good@127.0.0.1``
  tricks a reader, and credentials have no business in a feed URL), and
- every address its host resolves to is a public unicast address (checked again on
  every redirect hop by ``bot.fetch``, and once more on the very answer the connection
  uses, by ``bot.transport.GuardedResolver``, so DNS rebinding cannot swap a private
  address in between the check and the connection),

unless settings allow private networks (self-hosted feeds, the demo).

Numeric host spellings that browsers and ``inet_aton`` accept (``2130706433``,
``0x7f.1``, ``017700000001``) are decoded here without DNS, so they cannot slip past as
"hostnames".
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import time
from collections.abc import Awaitable, Callable
from urllib.parse import SplitResult, urlsplit

from .errors import BlockedAddressError, FetchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str], Awaitable[list[str]]]
"""An async callable: host name -> the IP addresses (as strings) it resolves to."""

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# IANA special-purpose registries (RFC 6890 and successors). Listed explicitly rather than
# trusting ``ip.is_global`` alone: its answer has changed between Python releases, and it
# calls multicast global.
_BLOCKED_V4: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_V4("0.0.0.0/8"), "an unspecified (this-network) address"),
    (_V4("10.0.0.0/8"), "a private address"),
    (_V4("100.64.0.0/10"), "a shared (carrier-grade NAT) address"),
    (_V4("127.0.0.0/8"), "a loopback address"),
    (_V4("169.254.0.0/16"), "a link-local address"),
    (_V4("172.16.0.0/12"), "a private address"),
    (_V4("192.0.0.0/24"), "an IETF protocol address"),
    (_V4("192.0.2.0/24"), "a documentation address"),
    (_V4("192.88.99.0/24"), "a 6to4 relay address"),
    (_V4("192.168.0.0/16"), "a private address"),
    (_V4("198.18.0.0/15"), "a benchmarking address"),
    (_V4("198.51.100.0/24"), "a documentation address"),
    (_V4("203.0.113.0/24"), "a documentation address"),
    (_V4("224.0.0.0/4"), "a multicast address"),
    (_V4("240.0.0.0/4"), "a reserved address"),  # includes 255.255.255.255 broadcast
)

_BLOCKED_V6: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("::/128"), "an unspecified address"),
    (_V6("::1/128"), "a loopback address"),
    (_V6("::/96"), "a deprecated IPv4-compatible address"),
    (_V6("64:ff9b:1::/48"), "a local-use NAT64 address"),
    (_V6("100::/64"), "a discard-only address"),
    (_V6("2001::/23"), "an IETF protocol address"),  # includes Teredo 2001::/32
    (_V6("2001:db8::/32"), "a documentation address"),
    (_V6("3fff::/20"), "a documentation address"),
    (_V6("5f00::/16"), "a segment-routing address"),
    (_V6("fc00::/7"), "a private (unique local) address"),
    (_V6("fe80::/10"), "a link-local address"),
    (_V6("fec0::/10"), "a site-local address"),
    (_V6("ff00::/8"), "a multicast address"),
)

# Only 2000::/3 is allocated for global unicast; everything else in IPv6 is special.
_V6_GLOBAL_UNICAST = _V6("2000::/3")
_NAT64 = _V6("64:ff9b::/96")
_SIXTOFOUR = _V6("2002::/16")

# A host whose last label is a number is an IPv4 address in some spelling (the WHATWG URL
# rule); "example.123" is therefore not a host name either.
_NUMERIC_LABEL = re.compile(r"^(0[xX][0-9a-fA-F]*|[0-9]+)$")


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address that an IPv6 form carries to the IPv4 internet, if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _SIXTOFOUR:
        return ip.sixtofour
    return None


def describe_address(ip: IPAddress) -> str | None:
    """Why ``ip`` is refused (e.g. "a loopback address"), or None when it is public."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:  # a zone index only makes sense for link-local use
            return "a scoped (link-local) address"
        embedded = _embedded_v4(ip)
        if embedded is not None:
            reason = describe_address(embedded)
            return f"{reason} inside an IPv6 address" if reason else None
        for net6, reason in _BLOCKED_V6:
            if ip in net6:
                return reason
        if ip not in _V6_GLOBAL_UNICAST:
            return "a reserved address"
    else:
        for net4, reason in _BLOCKED_V4:
            if ip in net4:
                return reason
    # Belt and braces: whatever this Python release knows to be special.
    if ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified:
        return "a special-purpose address"
    if ip.is_private or ip.is_reserved:
        return "a private or reserved address"
    return None


def is_public_address(ip: IPAddress) -> bool:
    """True when ``ip`` is a public unicast address a feed may live on.

    Refuses loopback, private, link-local, multicast, reserved, unspecified, shared
    (CGNAT), documentation and benchmarking ranges, and IPv6 forms that carry one of
    those IPv4 addresses (IPv4-mapped, NAT64 64:ff9b::/96, 6to4 2002::/16)."""
    return describe_address(ip) is None


def check_url_syntax(url: str) -> str:
    """Check that ``url`` is an absolute http(s) URL with a host and no user-info.

    Returns ``url`` unchanged; raises ``BlockedAddressError`` with a one-line reason."""
    _split(url)
    return url


def split_checked(url: str) -> SplitResult:
    """``check_url_syntax``, returning the split URL for ``check_split`` (the fetcher
    checks every hop and splits each URL once)."""
    return _split(url)


# One search instead of a Python test per character (the poll path checks every hop).
_UNSAFE_URL_CHAR = re.compile(r"[\x00-\x20\x7f\\]")


def _split(url: str) -> SplitResult:
    if not isinstance(url, str) or not url:
        raise BlockedAddressError("refused: the URL is empty")
    # Control characters, spaces and backslashes are read differently by different URL
    # parsers (http://good\@evil/), which is how guards get bypassed.
    if _UNSAFE_URL_CHAR.search(url):
        raise BlockedAddressError("refused: the URL contains spaces, control characters or '\\'")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise BlockedAddressError("refused: the URL is not valid") from None
    if parts.scheme.lower() not in {"http", "https"}:
        raise BlockedAddressError("refused: only http and https URLs can be feeds")
    if "@" in parts.netloc:
        raise BlockedAddressError("refused: URLs with a user name or password are not accepted")
    if not parts.hostname:
        raise BlockedAddressError("refused: the URL has no host")
    return parts


def parse_numeric_host(host: str) -> IPAddress | None:
    """Decode ``host`` when it is an IP address in any spelling, else return None.

    Accepts IPv6 (brackets already removed) and every IPv4 form ``inet_aton`` accepts:
    1 to 4 parts, each decimal, octal (leading 0) or hex (0x). Raises
    ``BlockedAddressError`` for a host that is numeric but not a valid address
    (``http://999999999999/``) since no resolver would treat it as a name."""
    host = host.rstrip(".")
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise BlockedAddressError(f"refused: {host} is not a valid IPv6 address") from None
    labels = host.split(".")
    if not labels or not _NUMERIC_LABEL.match(labels[-1]):
        return None
    bad = BlockedAddressError(f"refused: {host} is not a valid IPv4 address")
    if len(labels) > 4 or not all(_NUMERIC_LABEL.match(label) for label in labels):
        raise bad
    values: list[int] = []
    for label in labels:
        if label[:2].lower() == "0x":
            values.append(int(label[2:] or "0", 16))
        elif len(label) > 1 and label.startswith("0"):
            if not set(label) <= set("01234567"):
                raise bad
            values.append(int(label, 8))
        else:
            values.append(int(label))
    # The last part fills all remaining bytes: a.b.c -> a.b.(c as 16 bits).
    head, last = values[:-1], values[-1]
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(values)):
        raise bad
    number = 0
    for v in head:
        number = number * 256 + v
    number = (number << (8 * (5 - len(values)))) + last
    return ipaddress.IPv4Address(number)


async def _default_resolver(host: str) -> list[str]:
    # Used for the per-hop check only; connections resolve through aiohttp's resolver.
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class CachingResolver:
    """A ``Resolver`` that remembers successful answers for ``ttl`` seconds.

    At fleet scale the guard would otherwise resolve a host once per feed check (625
    lookups a second for 75,000 feeds at a 2-minute refresh), through the thread pool
    that ``getaddrinfo`` needs. Failures are not cached (the next poll asks again), the
    table is bounded, and the connection resolves (and checks) its own answer in
    ``bot.transport.GuardedResolver``, so a short cache here does not weaken the guard."""

    def __init__(
        self, resolver: Resolver | None = None, *, ttl: float = 60.0, max_hosts: int = 10_000
    ) -> None:
        self._resolve = resolver or _default_resolver
        self._ttl = ttl
        self._max_hosts = max_hosts
        self._answers: dict[str, tuple[float, list[str]]] = {}

    async def __call__(self, host: str) -> list[str]:
        now = time.monotonic()
        hit = self._answers.get(host)
        if hit is not None and hit[0] > now:
            return hit[1]
        addresses = await self._resolve(host)
        if len(self._answers) >= self._max_hosts:
            self._answers.clear()  # crude but bounded; refills within one TTL
        self._answers[host] = (now + self._ttl, addresses)
        return addresses


async def check_url(url: str, *, allow_private: bool, resolver: Resolver | None = None) -> None:
    """Refuse a URL the bot must not fetch.

    Checks the syntax, then (unless ``allow_private``) resolves the host and raises
    ``BlockedAddressError`` if ANY address it resolves to is not public: a name with one
    public and one private address could be connected either way. A host that does not
    resolve raises ``FetchError``. ``resolver`` replaces DNS in tests.

    This check runs before every hop for its early, clear error; it is not what stops DNS
    rebinding (an answer that turns private between this lookup and the connection's
    own). ``bot.transport.GuardedResolver`` does that: the connection's lookup is checked
    with ``check_addresses`` too, so only checked addresses are ever connected to."""
    await check_split(_split(url), allow_private=allow_private, resolver=resolver)


async def check_split(
    parts: SplitResult, *, allow_private: bool, resolver: Resolver | None = None
) -> None:
    """``check_url`` for a URL already split by ``split_checked``."""
    if allow_private:
        return
    host = parts.hostname or ""
    if host == "localhost" or host.endswith(".localhost"):  # RFC 6761: always loopback
        raise BlockedAddressError(f"refused: {host} is a loopback address")
    literal = parse_numeric_host(host)
    if literal is not None:
        reason = describe_address(literal)
        if reason:
            raise BlockedAddressError(f"refused: {host} is {reason}")
        return
    try:
        addresses = await (resolver or _default_resolver)(host)
    except (OSError, UnicodeError) as exc:  # socket.gaierror is an OSError
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else "lookup failed"
        raise FetchError(f"could not resolve {host}: {detail}") from None
    check_addresses(host, addresses)


def check_addresses(host: str, addresses: list[str]) -> None:
    """Refuse ``host`` unless every address in its DNS answer is public.

    The one place the resolved-address policy lives: ``check_url`` applies it to its own
    lookup, and the connection's resolver (``bot.transport.GuardedResolver``) to the
    lookup whose addresses are actually connected to, so both give the same message.
    Raises ``FetchError`` for an empty answer, ``BlockedAddressError`` otherwise."""
    if not addresses:
        raise FetchError(f"could not resolve {host}: no addresses")
    for address in addresses:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            raise BlockedAddressError(
                f"refused: {host} resolves to {address!r}, not an IP address"
            ) from None
        reason = describe_address(ip)
        if reason:
            raise BlockedAddressError(f"refused: {host} resolves to {address}, {reason}")
