"""The ports: what the core needs from the outside world, as Protocols.

Implementations live outside ``bot/``: ``storage/`` (SQLite), ``adapters/`` (console,
Slack, Discord). Tests swap in local servers or in-memory stores through these seams.

- ``services``: the writer thread (``Runner``), the ``Clock``, the ``Publisher`` of
  each chat platform, the ``Condenser``, the ``Roles`` one process of a fleet
  holds alone;
- ``stores``: storage, one Protocol per role, and ``Store``, all of them at once;
- ``slack``: the Slack adapter's own storage port (workspaces, OAuth states), which the
  core never calls.
"""

from __future__ import annotations

from .services import (
    FLEET_ROLES,
    AsyncCondenser,
    Clock,
    Condenser,
    NoticeText,
    P,
    Publisher,
    Roles,
    Runner,
    T,
)
from .stores import (
    BriefingStore,
    ChannelStore,
    EntryStore,
    FeedStore,
    NoticeStore,
    OutboxStore,
    SearchStore,
    ServiceStore,
    Store,
    StoryStore,
    UsageStore,
)

__all__ = [
    "FLEET_ROLES",
    "AsyncCondenser",
    "BriefingStore",
    "ChannelStore",
    "Clock",
    "Condenser",
    "EntryStore",
    "FeedStore",
    "NoticeStore",
    "NoticeText",
    "OutboxStore",
    "P",
    "Publisher",
    "Roles",
    "Runner",
    "SearchStore",
    "ServiceStore",
    "Store",
    "StoryStore",
    "T",
    "UsageStore",
]
