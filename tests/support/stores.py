"""``any_store``: the same test against each backend — SQLite in memory, and a fresh
database on the throwaway PostgreSQL server (``tests/support/postgres.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from storage import SqliteStore


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "sqlite":
        store: Any = SqliteStore.open(":memory:")
    else:
        from storage.postgres import PostgresStore

        store = PostgresStore.open(request.getfixturevalue("pg_store_dsn"))
    try:
        yield store
    finally:
        store.close()


__all__ = ["any_store"]
