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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start the long end-to-end tests first, each on a worker of its own.

    ``make test`` runs the suite on several workers with ``--dist worksteal``, which
    hands each worker one contiguous share of this order and lets an idle worker take
    the tail of another's queue, never its head. Dealt to the heads of the shares
    (longest first, by ``@pytest.mark.slow(seconds=…)``, each to the share with the
    fewest slow seconds so far), the kill campaigns run beside
    each other and beside the rest of the suite, instead of one after another on the
    worker whose share held them all. Run serially, the slow tests simply come first."""
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))

    def seconds(item: pytest.Item) -> float:
        marker = item.get_closest_marker("slow")
        return float(marker.kwargs.get("seconds", 1)) if marker else 0.0

    slow = sorted((i for i in items if seconds(i)), key=seconds, reverse=True)
    rest = [i for i in items if not seconds(i)]
    # The shares worksteal cuts: len // workers for the first, then evenly the rest.
    # Each slow test to the share with the fewest slow seconds so far (longest first).
    shares: list[list[pytest.Item]] = [[] for _ in range(workers)]
    for item in slow:
        min(shares, key=lambda share: sum(map(seconds, share))).append(item)
    left, ordered = len(items), []
    for k, share in enumerate(shares):
        size = left // (workers - k)
        take = max(0, size - len(share))
        ordered += share + rest[:take]
        del rest[:take]
        left -= size
    items[:] = ordered + rest


# The throwaway PostgreSQL server (session) and a fresh database per test.
from tests.support.postgres import (  # noqa: E402, F401
    _pg_store_database,
    pg_dsn,
    pg_store_dsn,
    postgres_server,
)
from tests.support.stores import any_store  # noqa: E402, F401
