"""The engine fixtures: a real engine on an in-memory store, a fake clock, a recording
publisher and a local news site. A module takes them by assigning them to module names
(``clock, engine, … = pipeline.clock, pipeline.engine, …``), as ``tests/test_engine.py`` does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.testing import RecordingPublisher
from bot.engine import Engine
from bot.fetch import Fetcher
from bot.settings import Settings, load_settings
from storage import SqliteStore
from storage.database import StoreRunner
from tests.support.clock import FakeClock
from tests.support.http import LocalServer
from tests.support.news import START, Site


def engine_over(
    settings: Settings, store: Any, publisher: Any | None = None, **parts: Any
) -> Engine:
    """A real engine on ``store`` (its own fetcher and store thread), posting to the
    console through ``publisher``; ``parts`` as ``Engine`` takes them (clock, roles …)."""
    publishers = {"console": publisher} if publisher is not None else {}
    return Engine(
        settings,
        store,
        fetcher=Fetcher(settings),
        publishers=publishers,
        runner=StoreRunner(store),
        **parts,
    )


@pytest.fixture
def site(local_server: LocalServer) -> Site:
    return Site(local_server)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
async def engine(clock: FakeClock, publisher: RecordingPublisher) -> AsyncIterator[Engine]:
    settings = load_settings(
        database=":memory:",
        allow_private_networks=True,
        fetch_timeout=2.0,
        first_poll_limit=3,
        poll_interval=600,
    )
    store = SqliteStore.open(":memory:")
    eng = engine_over(settings, store, publisher, clock=clock)
    yield eng
    await eng.aclose()
    store.close()
