"""Shared test fixtures.

Two guarantees for every test:
- nothing reaches the internet: any socket connection to a non-loopback address fails
  the test (see ``_no_network``);
- feeds, pages and platform APIs are served by real HTTP servers on 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.golden_files import pytest_addoption  # noqa: F401  (registers --update-golden)
from tests.support.http import LocalServer

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


class NetworkAccessError(AssertionError):
    pass


def _is_local(address: Any) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
    else:  # AF_UNIX paths and the like
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return str(host) in {"localhost"}


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    if not _is_local(address):
        raise NetworkAccessError(f"test tried to reach a non-loopback address: {address!r}")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> Any:
    if not _is_local(address):
        raise NetworkAccessError(f"test tried to reach a non-loopback address: {address!r}")
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that opens a connection beyond loopback (asyncio included: its
    sockets connect through ``sock_connect`` which ends in ``connect``/``connect_ex``)."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)


# ------------------------------------------------------------------ local HTTP server


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    server = LocalServer().start()
    try:
        yield server
    finally:
        server.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the long end-to-end tests first: on several workers (``make test``) the
    minute-long kill campaign then overlaps the rest of the suite instead of starting
    last and running alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


# The throwaway PostgreSQL server (session) and a fresh database per test.
from tests.support.postgres import pg_dsn, postgres_server  # noqa: E402, F401
from tests.support.stores import any_store  # noqa: E402, F401
