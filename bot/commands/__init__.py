"""The ``/brief`` commands: one grammar, parsed once in the core.

    text --parse_command--> Command --CommandHandler.handle--> Reply

- ``grammar``: the command values, the parser and the help text (pure);
- ``handler``: ``CommandHandler`` (dispatch and the reading commands);
- ``admin``: the admin commands ``CommandHandler`` delegates to (``feeds``: those about feeds);
- ``common``: reply builders and store look-ups the two share.

Every name callers used from the single ``bot.commands`` module is re-exported here.
"""

from ..search import pick_related, rank_search
from .admin import MAX_TOPICS, AdminCommands
from .common import LIST_LINES, explain_query_error
from .feeds import MAX_IMPORT_FEEDS
from .grammar import (
    ADMIN_ACTIONS,
    HELP_TEXT,
    MAX_FILTER_WORDS,
    MAX_TEXT,
    RESERVED,
    USAGE,
    Asker,
    Command,
    Export,
    FeedAdd,
    FeedRefresh,
    FeedRemove,
    FilterAdd,
    FilterClear,
    Help,
    Import,
    ListFeeds,
    ListTopics,
    ModeDigest,
    ModeRealtime,
    More,
    Related,
    Search,
    ShowFilters,
    ShowTopic,
    TopicAdd,
    TopicAdopt,
    TopicRemove,
    Usage,
    parse_command,
    usage,
)
from .handler import (
    RELATED_POOL,
    RELATED_RESULTS,
    SEARCH_POOL,
    SEARCH_RESULTS,
    TOPIC_RESULTS,
    CommandHandler,
)

__all__ = [
    "ADMIN_ACTIONS",
    "HELP_TEXT",
    "LIST_LINES",
    "MAX_FILTER_WORDS",
    "MAX_IMPORT_FEEDS",
    "MAX_TEXT",
    "MAX_TOPICS",
    "RELATED_POOL",
    "RELATED_RESULTS",
    "RESERVED",
    "SEARCH_POOL",
    "SEARCH_RESULTS",
    "TOPIC_RESULTS",
    "USAGE",
    "AdminCommands",
    "Asker",
    "Command",
    "CommandHandler",
    "Export",
    "FeedAdd",
    "FeedRefresh",
    "FeedRemove",
    "FilterAdd",
    "FilterClear",
    "Help",
    "Import",
    "ListFeeds",
    "ListTopics",
    "ModeDigest",
    "ModeRealtime",
    "More",
    "Related",
    "Search",
    "ShowFilters",
    "ShowTopic",
    "TopicAdd",
    "TopicAdopt",
    "TopicRemove",
    "Usage",
    "explain_query_error",
    "parse_command",
    "pick_related",
    "rank_search",
    "usage",
]
