"""``PostgresStore``: the engine's state in PostgreSQL, for several ``signaldesk run``
processes on one database (docs/scale.md). Needs the optional extra:
``pip install 'signaldesk[postgresql]'``.

Built so far: the versioned migrations, feeds and their poll leases, entries,
stories, channels' subscriptions, briefings and their full-text search, and the LLM's
daily usage, the outbox and notices (``bot.ports`` FeedStore, EntryStore, StoryStore,
BriefingStore, SearchStore, ChannelStore, OutboxStore, NoticeStore, UsageStore, ServiceStore),
the Slack installation store of OAuth mode (``bot.ports.slack``), and the fleet's roles
(``roles.PgRoles``, ``bot.roles``). ``backup`` is PostgreSQL's own (pg_dump)."""

from __future__ import annotations

from .base import PgBase, explain, is_postgres_url
from .channels import PgChannelsMixin
from .entries import PgEntriesMixin
from .feeds import PgFeedsMixin, PgUsageMixin
from .outbox import PgNoticesMixin, PgOutboxMixin
from .search import PgSearchMixin, tsquery_text
from .service import PgServiceMixin
from .slack import PgSlackMixin
from .stories import PgStoriesMixin


class PostgresStore(
    PgFeedsMixin,
    PgEntriesMixin,
    PgStoriesMixin,
    PgChannelsMixin,
    PgSearchMixin,
    PgOutboxMixin,
    PgNoticesMixin,
    PgServiceMixin,
    PgUsageMixin,
    PgSlackMixin,
    PgBase,
):
    """One class made of one part per domain, as ``SqliteStore`` is."""


__all__ = ["PgBase", "PostgresStore", "explain", "is_postgres_url", "tsquery_text"]
