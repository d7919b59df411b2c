"""The engine fixtures: a real engine on an in-memory store, a fake clock, a recording
publisher and a local news site. A module takes them by assigning them to module names
(``clock, engine, … = pipeline.clock, pipeline.engine, …``), as ``tests/test_engine.py`` does."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.testing import RecordingPublisher
from bot.engine import Engine
from bot.fetch import Fetcher
from bot.settings import load_settings
from storage import SqliteStore
from storage.database import StoreRunner
from tests.support.clock import FakeClock
from tests.support.http import LocalServer
from tests.support.news import START, Site


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
    eng = Engine(
        settings,
        store,
        fetcher=Fetcher(settings),
        publishers={"console": publisher},
        clock=clock,
        runner=StoreRunner(store),
    )
    yield eng
    await eng.aclose()
    store.close()
