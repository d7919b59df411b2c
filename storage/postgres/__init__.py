"""``PostgresStore``: the engine's state in PostgreSQL, for several ``signaldesk run``
processes on one database (docs/scale.md). Needs the optional extra:
``pip install 'signaldesk[postgresql]'``.

Built so far: the versioned migrations, feeds and their poll leases, channels'
subscriptions, and the LLM's daily usage (``bot.ports`` FeedStore, UsageStore and that
part of ChannelStore). The other roles are still SQLite's only."""

from __future__ import annotations

from .base import PgBase, explain, is_postgres_url
from .channels import PgChannelsMixin
from .feeds import PgFeedsMixin, PgUsageMixin


class PostgresStore(PgFeedsMixin, PgChannelsMixin, PgUsageMixin, PgBase):
    """One class made of one part per domain, as ``SqliteStore`` is."""


__all__ = ["PgBase", "PostgresStore", "explain", "is_postgres_url"]
