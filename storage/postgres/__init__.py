"""``PostgresStore``: the engine's state in PostgreSQL, for several ``signaldesk run``
processes on one database (docs/scale.md). Needs the optional extra:
``pip install 'signaldesk[postgresql]'``.

Built so far: the versioned migrations, feeds and their poll leases, entries,
stories, channels' subscriptions, briefings and their full-text search, and the LLM's
daily usage (``bot.ports`` FeedStore, EntryStore, StoryStore, SearchStore, UsageStore,
and part of ChannelStore and BriefingStore). The other roles are still SQLite's only."""

from __future__ import annotations

from .base import PgBase, explain, is_postgres_url
from .channels import PgChannelsMixin
from .entries import PgEntriesMixin
from .feeds import PgFeedsMixin, PgUsageMixin
from .search import PgSearchMixin, tsquery_text
from .stories import PgStoriesMixin


class PostgresStore(
    PgFeedsMixin,
    PgEntriesMixin,
    PgStoriesMixin,
    PgChannelsMixin,
    PgSearchMixin,
    PgUsageMixin,
    PgBase,
):
    """One class made of one part per domain, as ``SqliteStore`` is."""


__all__ = ["PgBase", "PostgresStore", "explain", "is_postgres_url", "tsquery_text"]
