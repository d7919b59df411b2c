"""``SqliteStore``: the engine's state in one SQLite file, through sqlite-utils.

One connection, one writer: the engine calls every method from a single thread
(``storage.database.StoreRunner``), so the connection is opened with
``check_same_thread=False`` and never shared concurrently. WAL mode lets readers (a
backup, ``sqlite3`` in a shell) look in while the service writes.
"""

from __future__ import annotations

from .base import StoreBase, _explain, open_database
from .briefings import BriefingsMixin
from .channels import ChannelsMixin
from .entries import (
    KEEP_ROWS_PER_FEED,
    KEEP_TEXT_PER_FEED,
    MAX_ARTICLE_TEXT,
    MAX_FEED_TEXT,
    EntriesMixin,
)
from .feeds import FeedsMixin
from .outbox import NoticesMixin, OutboxMixin
from .service import ServiceMixin
from .slack import SlackMixin
from .stories import StoriesMixin
from .textsearch import _QUOTED, SearchMixin


class SqliteStore(
    FeedsMixin,
    EntriesMixin,
    StoriesMixin,
    BriefingsMixin,
    SearchMixin,
    ChannelsMixin,
    OutboxMixin,
    NoticesMixin,
    SlackMixin,
    ServiceMixin,
    StoreBase,
):
    """Implements ``bot.ports.Store`` (and the Slack adapter's
    ``bot.ports.slack.SlackWorkspaceStore``): one class made of one part per domain."""


__all__ = [
    "KEEP_ROWS_PER_FEED",
    "KEEP_TEXT_PER_FEED",
    "MAX_ARTICLE_TEXT",
    "MAX_FEED_TEXT",
    "_QUOTED",
    "SqliteStore",
    "StoreBase",
    "_explain",
    "open_database",
]
