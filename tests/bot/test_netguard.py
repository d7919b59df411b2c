"""The safe-URL policy: which addresses and URL spellings may be fetched."""

from __future__ import annotations

import ipaddress

import pytest

from bot import netguard
from bot.errors import BlockedAddressError, FetchError

REFUSED = [
    "127.0.0.1",
    "127.255.255.254",
    "0.0.0.0",
    "0.1.2.3",
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata service
    "100.64.0.1",  # shared / CGNAT
    "100.127.255.254",
    "192.0.0.8",
    "192.0.2.10",
    "198.18.0.1",
    "198.51.100.7",
    "203.0.113.9",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "::",
    "::1",
    "::127.0.0.1",  # IPv4-compatible (deprecated)
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:10.1.2.3",
    "::ffff:169.254.169.254",
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::1",
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
    "2001::1",  # Teredo
    "2001:db8::1",
    "fc00::1",
    "fd12:3456:789a::1",
    "fe80::1",
    "fec0::1",
    "ff02::1",
    "100::1",
    "4000::1",  # outside 2000::/3, unallocated
]

ALLOWED = [
    "93.184.215.14",
    "8.8.8.8",
    "1.1.1.1",
    "100.63.255.255",  # just below CGNAT
    "100.128.0.1",  # just above CGNAT
    "172.15.255.255",
    "172.32.0.1",
    "192.0.3.1",
    "2606:4700:4700::1111",
    "2a00:1450:4001:81b::200e",
    "::ffff:8.8.8.8",  # mapped public
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
    "2002:808:808::1",  # 6to4 of 8.8.8.8
]


@pytest.mark.parametrize("address", REFUSED)
def test_refused_addresses(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert not netguard.is_public_address(ip)
    assert netguard.describe_address(ip)


@pytest.mark.parametrize("address", ALLOWED)
def test_allowed_addresses(address: str) -> None:
    assert netguard.is_public_address(ipaddress.ip_address(address))


def test_scoped_ipv6_is_refused() -> None:
    assert not netguard.is_public_address(ipaddress.IPv6Address("2606:4700::1%eth0"))


# ------------------------------------------------------------------------- syntax


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("ftp://example.org/feed", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("javascript:alert(1)", "only http and https"),
        ("gopher://example.org/", "only http and https"),
        ("example.org/feed.xml", "only http and https"),
        ("http:///feed.xml", "no host"),
        ("http://user:pass@example.org/", "user name or password"),
        ("http://example.org@127.0.0.1/", "user name or password"),
        ("http://example.org\\@127.0.0.1/", "'\\'"),
        ("http://exa mple.org/", "spaces"),
        ("http://example.org/\nHost: evil", "control"),
        ("http://example.org:99999/", "not valid"),
        ("", "empty"),
    ],
)
def test_check_url_syntax_refuses(url: str, fragment: str) -> None:
    with pytest.raises(BlockedAddressError) as info:
        netguard.check_url_syntax(url)
    message = str(info.value)
    assert message.startswith("refused: ")
    assert fragment in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "url",
    ["http://example.org/feed.xml", "HTTPS://Example.org:8443/a?b=c#d", "http://[2606:4700::1]/"],
)
def test_check_url_syntax_accepts(url: str) -> None:
    assert netguard.check_url_syntax(url) == url


# ------------------------------------------------------------------ numeric hosts


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0177.0.0.01", "127.0.0.1"),
        ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
        ("3232235777", "192.168.1.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("8.8.8.8", "8.8.8.8"),
    ],
)
def test_parse_numeric_host(host: str, expected: str) -> None:
    assert netguard.parse_numeric_host(host) == ipaddress.ip_address(expected)


@pytest.mark.parametrize("host", ["example.org", "1e100.net", "127.0.0.1.nip.example", "localhost"])
def test_parse_numeric_host_leaves_names(host: str) -> None:
    assert netguard.parse_numeric_host(host) is None


@pytest.mark.parametrize(
    "host", ["4294967296", "256.0.0.1", "1.2.3.4.5", "08.0.0.1", "example.123", "x127.0.0.1"]
)
def test_parse_numeric_host_rejects_bad_numbers(host: str) -> None:
    with pytest.raises(BlockedAddressError):
        netguard.parse_numeric_host(host)


async def _no_dns(host: str) -> list[str]:
    raise AssertionError(f"numeric host {host!r} must not be resolved")


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/",
        "http://0x7f.1/",
        "http://017700000001/",
        "http://127.1:8080/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::1]/",
        "http://[fe80::1%25eth0]/",
        "http://0xa9fea9fe/latest/meta-data/",
        "http://127.0.0.1./",
        "http://localhost/",
        "http://api.localhost/",
        "http://0/",
    ],
)
async def test_check_url_refuses_numeric_forms_without_dns(url: str) -> None:
    with pytest.raises(BlockedAddressError, match=r"^refused: "):
        await netguard.check_url(url, allow_private=False, resolver=_no_dns)


async def test_check_url_allows_public_literal_without_dns() -> None:
    await netguard.check_url("https://8.8.8.8/feed", allow_private=False, resolver=_no_dns)


@pytest.mark.parametrize(
    "url",
    ["http://2130706433/", "http://0x7f.1/", "http://017700000001/", "http://[::ffff:127.0.0.1]/"],
)
async def test_check_url_refuses_numeric_forms_through_getaddrinfo(url: str) -> None:
    # The default resolver: getaddrinfo itself normalises these spellings (no network).
    with pytest.raises(BlockedAddressError):
        await netguard.check_url(url, allow_private=False)


async def test_check_url_allow_private_skips_address_check() -> None:
    await netguard.check_url("http://127.0.0.1:8080/feed", allow_private=True, resolver=_no_dns)
    with pytest.raises(BlockedAddressError):  # the syntax rules still hold
        await netguard.check_url("file:///etc/passwd", allow_private=True)


def _resolver(table: dict[str, list[str]]) -> netguard.Resolver:
    async def resolve(host: str) -> list[str]:
        if host not in table:
            raise OSError(-2, "Name or service not known")
        return table[host]

    return resolve


async def test_check_url_resolves_names() -> None:
    resolver = _resolver(
        {
            "news.example": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
            "internal.example": ["10.0.0.7"],
            "mixed.example": ["93.184.215.14", "127.0.0.1"],
            "metadata.example": ["::ffff:169.254.169.254"],
            "weird.example": ["not-an-ip"],
        }
    )
    await netguard.check_url("https://news.example/feed", allow_private=False, resolver=resolver)
    with pytest.raises(BlockedAddressError, match=r"internal\.example resolves to 10\.0\.0\.7"):
        await netguard.check_url("http://internal.example/", allow_private=False, resolver=resolver)
    # ANY private answer refuses: the connection might pick that one.
    with pytest.raises(BlockedAddressError, match="loopback"):
        await netguard.check_url("http://mixed.example/", allow_private=False, resolver=resolver)
    with pytest.raises(BlockedAddressError, match="link-local"):
        await netguard.check_url("http://metadata.example/", allow_private=False, resolver=resolver)
    with pytest.raises(BlockedAddressError):
        await netguard.check_url("http://weird.example/", allow_private=False, resolver=resolver)
    with pytest.raises(FetchError, match=r"could not resolve nowhere\.example") as info:
        await netguard.check_url("http://nowhere.example/", allow_private=False, resolver=resolver)
    assert not isinstance(info.value, BlockedAddressError)
