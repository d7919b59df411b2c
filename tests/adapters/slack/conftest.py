"""Fixtures the Slack adapter's tests share: the fake Slack with a workspace admin
(``ADMIN``) and a member (``U1``), and an engine on an in-memory store. A module that
needs other settings overrides ``engine_settings``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.engine import Engine
from bot.fetch import Fetcher
from bot.settings import Settings, load_settings
from storage import SqliteStore
from storage.database import StoreRunner
from tests.support.slack_fake import FakeSlack
from tests.support.slack_service import ADMIN


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = await FakeSlack().start()
    server.users[ADMIN] = {"id": ADMIN, "is_admin": True, "is_owner": False}
    server.users["U1"] = {"id": "U1", "is_admin": False, "is_owner": False}
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def engine_settings() -> Settings:
    return load_settings(database=":memory:")


@pytest.fixture
async def engine(engine_settings: Settings) -> AsyncIterator[Engine]:
    store = SqliteStore.open(":memory:")
    engine = Engine(
        engine_settings,
        store,
        fetcher=Fetcher(engine_settings),
        publishers={},
        runner=StoreRunner(store),
    )
    try:
        yield engine
    finally:
        await engine.aclose()
        store.close()
