"""The ``/brief`` grammar: the command values, the parser and the help text.

One table (``VERBS``) maps each command word to its parser, its help lines and its
usage hints; the help text and ``USAGE`` are built from it. ``parse_command`` is pure
and total: any string gives a command value, with ``Usage`` (a one-line hint) for input
it cannot read. Nothing here touches storage or the network. Text arrives plain: a
platform's own markup (Slack's ``<url|label>`` links) is undone by its adapter.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ..digest import parse_hhmm
from ..opml import MAX_OPML_BYTES
from ..text import cut, one_line
from ..topics import SLUG_MAX, is_valid_slug

# Longest command text accepted (OPML pasted into ``import`` has its own, larger cap).
MAX_TEXT = 500
MAX_FILTER_WORDS = 50


@dataclass(frozen=True)
class Asker:
    """Who sent a command and where. ``is_admin`` is the platform's answer (Slack
    workspace admin or a configured list; Discord Manage Channels), passed in as a fact."""

    channel_id: str
    user_id: str
    is_admin: bool


# ------------------------------------------------------------------ commands


@dataclass(frozen=True)
class Help:
    """``/brief`` or ``/brief help``."""


@dataclass(frozen=True)
class ShowTopic:
    """``/brief <topic>``: the newest briefings matching a saved (or default) topic."""

    slug: str


@dataclass(frozen=True)
class Search:
    """``/brief search <words>``."""

    text: str


@dataclass(frozen=True)
class More:
    """``/brief more <id>``."""

    briefing_id: str


@dataclass(frozen=True)
class Related:
    """``/brief related <id>``."""

    briefing_id: str


@dataclass(frozen=True)
class ListTopics:
    """``/brief topics``."""


@dataclass(frozen=True)
class ListFeeds:
    """``/brief feeds``."""


@dataclass(frozen=True)
class ShowFilters:
    """``/brief filter``: the channel's include and exclude words."""


@dataclass(frozen=True)
class FeedAdd:
    """``/brief feed add <url> [name]`` (admin)."""

    url: str
    name: str | None = None


@dataclass(frozen=True)
class FeedRemove:
    """``/brief feed remove <id|url>`` (admin)."""

    ref: str


@dataclass(frozen=True)
class FeedRefresh:
    """``/brief feed refresh <id|url>`` (admin): check the feed now, not at its turn."""

    ref: str


@dataclass(frozen=True)
class TopicAdd:
    """``/brief topic add <slug> <query>`` (admin)."""

    slug: str
    query: str


@dataclass(frozen=True)
class TopicRemove:
    """``/brief topic remove <slug>`` (admin)."""

    slug: str


@dataclass(frozen=True)
class TopicAdopt:
    """``/brief topic adopt <slug>|all`` (admin): copy a default topic into the channel."""

    slug: str


@dataclass(frozen=True)
class ModeRealtime:
    """``/brief mode realtime`` (admin)."""


@dataclass(frozen=True)
class ModeDigest:
    """``/brief mode digest <HH:MM> [IANA timezone]`` (admin). ``at`` is ``"HH:MM"``."""

    at: str
    timezone: str | None = None


@dataclass(frozen=True)
class FilterAdd:
    """``/brief filter include|exclude <words>`` (admin)."""

    kind: str  # "include" or "exclude"
    words: tuple[str, ...]


@dataclass(frozen=True)
class FilterClear:
    """``/brief filter clear`` (admin)."""


@dataclass(frozen=True)
class Export:
    """``/brief export`` (admin): the channel's feeds as OPML."""


@dataclass(frozen=True)
class Import:
    """``/brief import <url>`` or ``/brief import <opml text>`` (admin)."""

    url: str | None = None
    opml: str | None = None


@dataclass(frozen=True)
class Usage:
    """Input the grammar cannot read; ``hint`` is the one line to show."""

    hint: str


Command = (
    Help | ShowTopic | Search | More | Related | ListTopics | ListFeeds | ShowFilters
    | FeedAdd | FeedRemove | FeedRefresh | TopicAdd | TopicRemove | TopicAdopt | ModeRealtime
    | ModeDigest | FilterAdd | FilterClear | Export | Import | Usage
)  # fmt: skip

# What a non-admin is told they cannot do, per admin command.
ADMIN_ACTIONS: dict[type, str] = {
    FeedAdd: "add feeds",
    FeedRemove: "remove feeds",
    FeedRefresh: "refresh feeds",
    TopicAdd: "add topics",
    TopicRemove: "remove topics",
    TopicAdopt: "adopt topics",
    ModeRealtime: "change the delivery mode",
    ModeDigest: "change the delivery mode",
    FilterAdd: "change filters",
    FilterClear: "change filters",
    Export: "export the feed list",
    Import: "import feeds",
}

# ------------------------------------------------------------------ the grammar

Parse = Callable[[str, list[str], str], Command]  # (command word, words after it, text after it)


@dataclass(frozen=True)
class Verb:
    """One row of the grammar: the words that start a command, its parser and its help.

    ``member`` and ``admin`` are the forms the help text lists (after ``/brief``);
    ``says`` what the member forms do; ``usage`` the one-line hints its errors end with.
    A ``raw`` verb reads its text before the one-line clean-up and the length cap (the
    OPML pasted into ``import`` spans lines and can be long)."""

    words: tuple[str, ...]
    parse: Parse
    member: tuple[str, ...] = ()
    says: str = ""
    admin: tuple[str, ...] = ()
    usage: tuple[tuple[str, str], ...] = ()
    raw: bool = False


_ID = re.compile(r"^[a-z0-9]{1,40}$")
_PREFIX = re.compile(r"^\s*/brief(?=\s|$)", re.IGNORECASE)


def _usage(key: str, problem: str | None = None) -> Usage:
    hint = "usage: " + USAGE[key]
    return Usage(f"{problem}; {hint}" if problem else hint)


def _parse_help(head: str, args: list[str], rest: str) -> Command:
    return Help()


def _parse_show_topic(head: str, args: list[str], rest: str) -> Command:
    # Not a command word: one word is a topic, more is probably a search.
    if not args:
        slug = head.lstrip("#").lower()
        if is_valid_slug(slug):
            return ShowTopic(slug)
        return Usage(f"unknown command '{cut(head, 40)}'; see /brief help")
    body = f"{head} {rest}"
    return Usage(f"unknown command '{cut(head, 40)}'; to search, try /brief search {cut(body, 60)}")


def _parse_search(head: str, args: list[str], rest: str) -> Command:
    return Search(rest) if rest else _usage("search", "what should I search for?")


def _parse_briefing_ref(head: str, args: list[str], rest: str) -> Command:
    if len(args) != 1:
        return _usage(head, "give one briefing id")
    ref = args[0].strip("`'\"<>").lower()
    if not _ID.match(ref):
        return _usage(head, f"'{cut(args[0], 40)}' is not a briefing id")
    return More(ref) if head == "more" else Related(ref)


def _parse_lists(head: str, args: list[str], rest: str) -> Command:
    if args:
        return _usage(head, f"{head} takes no arguments")
    return ListTopics() if head == "topics" else ListFeeds()


def _parse_feed(head: str, args: list[str], rest: str) -> Command:
    if not args:
        return _usage("feed")
    sub = args[0].lower()
    if sub == "add":
        if len(args) < 2:
            return _usage("feed add", "which URL?")
        name = " ".join(args[2:]).strip() or None
        return FeedAdd(args[1], cut(name, 200) if name else None)
    if sub in {"remove", "rm", "delete"}:
        if len(args) != 2:
            return _usage("feed remove", "give one feed id")
        return FeedRemove(args[1].lstrip("#"))
    if sub in {"refresh", "check", "poll"}:
        if len(args) != 2:
            return _usage("feed refresh", "give one feed id")
        return FeedRefresh(args[1].lstrip("#"))
    return _usage("feed", f"unknown feed command '{cut(args[0], 30)}'")


def _parse_topic(head: str, args: list[str], rest: str) -> Command:
    if not args:
        return _usage("topic")
    sub = args[0].lower()
    if sub == "add":
        if len(args) < 3:
            return _usage("topic add", "give a slug and a query")
        slug = args[1].lower()
        problem = _slug_problem(slug)
        if problem:
            return _usage("topic add", problem)
        query = rest.split(None, 2)[2].strip()
        return TopicAdd(slug, query)
    if sub in {"remove", "rm", "delete", "adopt"}:
        key = "topic adopt" if sub == "adopt" else "topic remove"
        if len(args) != 2:
            return _usage(key, "give one topic name")
        slug = args[1].lstrip("#").lower()
        if sub == "adopt":
            return TopicAdopt(slug) if slug == "all" or is_valid_slug(slug) else _usage(key)
        return (
            TopicRemove(slug) if is_valid_slug(slug) else _usage(key, f"no topic '{cut(slug, 40)}'")
        )
    return _usage("topic", f"unknown topic command '{cut(args[0], 30)}'")


def _slug_problem(slug: str) -> str | None:
    if len(slug) > SLUG_MAX:
        return f"a topic name is at most {SLUG_MAX} characters"
    if not is_valid_slug(slug):
        return "a topic name uses lower-case letters, digits and hyphens, e.g. china-ai"
    if slug in RESERVED:
        return f"'{slug}' is a command word; choose another topic name"
    return None


def _parse_mode(head: str, args: list[str], rest: str) -> Command:
    if not args:
        return _usage("mode")
    sub = args[0].lower()
    if sub == "realtime":
        return ModeRealtime() if len(args) == 1 else _usage("mode", "realtime takes no arguments")
    if sub == "digest":
        if len(args) not in (2, 3):
            return _usage("mode digest", "give a time and, optionally, a timezone")
        at = parse_hhmm(args[1])
        if at is None:
            return _usage("mode digest", f"'{cut(args[1], 20)}' is not a time like 08:30")
        return ModeDigest(f"{at:%H:%M}", args[2] if len(args) == 3 else None)
    return _usage("mode", f"unknown mode '{cut(args[0], 30)}'")


def _parse_filter(head: str, args: list[str], rest: str) -> Command:
    if not args:
        return ShowFilters()
    sub = args[0].lower()
    if sub == "clear":
        return FilterClear() if len(args) == 1 else _usage("filter", "clear takes no arguments")
    if sub in {"include", "exclude"}:
        text = rest.split(None, 1)[1] if len(args) > 1 else ""
        # Commas separate phrases ("open source, ai act"); without commas each word is
        # its own filter.
        pieces = text.split(",") if "," in text else text.split()
        words = tuple(dict.fromkeys(p.strip().lower() for p in pieces if p.strip()))
        if not words:
            return _usage("filter", f"which words should {sub} briefings?")
        if len(words) > MAX_FILTER_WORDS or any(len(w) > 60 for w in words):
            return _usage("filter", f"at most {MAX_FILTER_WORDS} words of up to 60 characters")
        return FilterAdd(sub, words)
    return _usage("filter", f"unknown filter command '{cut(args[0], 30)}'")


def _parse_opml(head: str, args: list[str], rest: str) -> Command:
    # ``rest`` is raw here: ``import`` may carry pasted OPML (many lines, long).
    if head == "export":
        return Export() if not rest.split() else _usage("export", "export takes no arguments")
    if not rest:
        return _usage("import", "give the URL of an OPML file, or paste one")
    if rest.startswith("<"):
        if len(rest.encode("utf-8", "replace")) > MAX_OPML_BYTES:
            return Usage(f"that OPML is too large (at most {MAX_OPML_BYTES // 1_000_000} MB)")
        return Import(opml=rest)
    parts = rest.split()
    if len(parts) != 1 or len(rest) > MAX_TEXT:
        return _usage("import", "give one URL")
    return Import(url=parts[0])


# The grammar: command words -> parser, help and usage hints. The help text lists the
# member forms, then the admin forms, in this order.
# fmt: off
VERBS: tuple[Verb, ...] = (
    Verb(("help", "?", "-h", "--help"), _parse_help, usage=(("help", "/brief help"),)),
    Verb((), _parse_show_topic,  # any other word: a topic's name
         member=("<topic>",), says="the latest briefings on a topic, e.g. /brief china-ai",
         usage=(("topic-show", "/brief <topic>  e.g. /brief china-ai"),)),
    Verb(("search",), _parse_search, member=("search <words>",),
         says="search all briefings of this channel's feeds",
         usage=(("search", "/brief search <words>"),)),
    Verb(("more",), _parse_briefing_ref, member=("more <id>",),
         says="a full briefing: sections and every source",
         usage=(("more", "/brief more <id>"),)),
    Verb(("related",), _parse_briefing_ref, member=("related <id>",),
         says="related briefings from other days",
         usage=(("related", "/brief related <id>"),)),
    Verb(("topics", "feeds"), _parse_lists, member=("topics", "feeds"),
         says="what this channel follows (feeds with their health)",
         usage=(("topics", "/brief topics"), ("feeds", "/brief feeds"))),
    Verb(("feed",), _parse_feed,
         admin=("feed add <url> [name]", "feed remove <id>", "feed refresh <id>"),
         usage=(("feed", "/brief feed add <url> [name]  ·  /brief feed remove <id>  ·  "
                         "/brief feed refresh <id>"),
                ("feed add", "/brief feed add <url> [name]"),
                ("feed remove", "/brief feed remove <id>  (the number shown by /brief feeds)"),
                ("feed refresh", "/brief feed refresh <id>  (check the feed now)"))),
    Verb(("topic",), _parse_topic,
         admin=("topic add <slug> <query>", "topic remove <slug>", "topic adopt <slug>|all"),
         usage=(("topic", "/brief topic add <slug> <query>  ·  topic remove <slug>  ·  "
                          "topic adopt <slug>|all"),
                ("topic add", "/brief topic add <slug> <query>  "
                              "e.g. /brief topic add chips nvidia OR tsmc"),
                ("topic remove", "/brief topic remove <slug>"),
                ("topic adopt", "/brief topic adopt <slug>|all  "
                                "(see /brief topics for the defaults)"))),
    Verb(("mode",), _parse_mode, admin=("mode realtime", "mode digest <HH:MM> [timezone]"),
         usage=(("mode", "/brief mode realtime  ·  /brief mode digest <HH:MM> [timezone]"),
                ("mode digest", "/brief mode digest <HH:MM> [IANA timezone]  "
                                "e.g. 08:30 Europe/Berlin"))),
    Verb(("filter",), _parse_filter, member=("filter",),
         says="this channel's include/exclude words",
         admin=("filter include|exclude <words>", "filter clear"),
         usage=(("filter", "/brief filter include|exclude <words>  ·  /brief filter clear"),)),
    Verb(("export", "import"), _parse_opml, admin=("export", "import <url or OPML text>"),
         usage=(("export", "/brief export"),
                ("import", "/brief import <url of an OPML file>  "
                           "(or paste the OPML after `import`)")),
         raw=True),
)
# fmt: on

_BY_WORD: dict[str, Verb] = {word: verb for verb in VERBS for word in verb.words}
_OTHER = next(verb for verb in VERBS if not verb.words)

USAGE: dict[str, str] = {key: hint for verb in VERBS for key, hint in verb.usage}


def _help_text() -> str:
    lines = ["SignalDesk: news briefings for this channel. Commands:"]
    for verb in VERBS:
        if verb.member:
            forms = " · ".join(f"/brief {form}" for form in verb.member)
            lines.append(f"{forms:<30} {verb.says}")
    lines.append("Channel admins:")
    lines += ["/brief " + " · ".join(verb.admin) for verb in VERBS if verb.admin]
    return "\n".join(lines)


HELP_TEXT = _help_text()

# Command words can never be topic slugs: ``/brief feeds`` must not become a topic.
RESERVED = frozenset(
    {word for verb in VERBS for word in verb.words if is_valid_slug(word)}
    | {"adopt", "add", "remove", "refresh", "all"}
)


def usage() -> str:
    """The help text shown by ``/brief`` and ``/brief help``."""
    return HELP_TEXT


def parse_command(text: str) -> Command:
    """Read one command. Accepts the text with or without the leading ``/brief``.

    Never raises: unreadable input (unknown command, missing or extra argument, too
    long) gives ``Usage`` with a one-line hint."""
    if not isinstance(text, str):
        return Usage("usage: /brief help")
    body = _PREFIX.sub("", text, count=1).strip()
    first, raw_rest = _split_first(body)
    verb = _BY_WORD.get(first.lower())
    if verb is not None and verb.raw:
        return verb.parse(first.lower(), [], raw_rest.strip())
    if len(body) > MAX_TEXT:
        return Usage(f"that command is too long (at most {MAX_TEXT} characters)")
    body = one_line(body)
    parts = body.split()
    if not parts:
        return Help()
    head, args = parts[0], parts[1:]
    rest = body[len(parts[0]) :].strip()
    verb = _BY_WORD.get(head.lower())
    if verb is None:
        return _OTHER.parse(head, args, rest)
    return verb.parse(head.lower(), args, rest)


def _split_first(body: str) -> tuple[str, str]:
    # Split on the first whitespace of any kind (an OPML paste may follow a newline).
    match = re.search(r"\s", body)
    if match is None:
        return body, ""
    return body[: match.start()], body[match.end() :]
