"""SQLite storage through sqlite-utils: migrations, repositories, full-text search."""

from .sqlite import SqliteStore, open_database

__all__ = ["SqliteStore", "open_database"]
