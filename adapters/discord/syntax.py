"""The core's ``/brief`` grammar in Discord's own command syntax.

The core speaks one grammar (``bot.commands.grammar.VERBS``): ``/brief feed add <url>``,
``/brief mode digest 08:30``, ``Try /brief chips``. On Discord the same commands are
slash commands with named options, admin ones under ``/brief-admin``:
``/brief-admin feed add url:<url>``, ``/brief-admin mode mode:digest time:08:30``,
``/brief topic name:chips``. ``discord_form`` turns one core command into Discord's;
``localise`` rewrites every ``/brief …`` a core answer or notice names, and
``help_text`` renders the help from the same ``VERBS`` table. A test checks that every
command and option named here exists in the registered command tree."""

from __future__ import annotations

import re

from bot.commands.grammar import HELP_TEXT, USAGE, VERBS

# "/brief" and the words after it, one space apart, up to two spaces, "·" or a line end.
# Only a command as the core writes one: not "</brief:1>" (a slash-command mention in
# feed text) nor a path like "/brief-admin" or "x/brief".
_COMMAND = re.compile(r"(?<![<\w/-])/brief(?=$|[\s.,;!?)])(?P<words>(?: (?!·)[^\s·]+)*)")
_TRAILING = re.compile(r"[.,;:!?)\]]+$")


def _opt(name: str, words: list[str]) -> str:
    return f" {name}:{' '.join(words)}" if words else ""


def discord_form(words: list[str]) -> str:
    """``["feed", "add", "<url>"]`` (a core command after ``/brief``) as Discord's slash
    command: ``/brief-admin feed add url:<url>``."""
    if not words:
        return "/brief help"
    head, rest = words[0].lower(), words[1:]
    sub = rest[0].lower() if rest else ""
    if head in {"help", "?", "-h", "--help"}:
        return "/brief help"
    if head == "search":
        return "/brief search" + _opt("words", rest)
    if head in {"more", "related"}:
        return f"/brief {head}" + _opt("id", rest[:1])
    if head in {"topics", "feeds"}:
        return f"/brief {head}"
    if head == "filter":
        if not rest:
            return "/brief filters"
        return "/brief-admin filter" + _opt("action", [sub]) + _opt("words", rest[1:])
    if head == "feed":
        if sub == "add":
            return "/brief-admin feed add" + _opt("url", rest[1:2]) + _opt("name", rest[2:])
        if sub in {"remove", "refresh"}:
            return f"/brief-admin feed {sub}" + _opt("feed", rest[1:2])
        return "/brief-admin feed add"
    if head == "topic":
        if sub == "add":
            return "/brief-admin topic add" + _opt("name", rest[1:2]) + _opt("query", rest[2:])
        if sub in {"remove", "adopt"}:
            return f"/brief-admin topic {sub}" + _opt("name", rest[1:2])
        return "/brief-admin topic add"
    if head == "mode":
        out = "/brief-admin mode" + _opt("mode", [sub] if sub else [])
        return out + _opt("time", rest[1:2]) + _opt("timezone", rest[2:])
    if head == "export":
        return "/brief-admin export"
    if head == "import":
        return "/brief-admin import" + _opt("url", rest)
    return "/brief topic" + _opt("name", [words[0].lstrip("#")])  # any other word: a topic


def _rewrite(match: re.Match[str]) -> str:
    words = match["words"].split()
    tail = ""
    if words and (trailing := _TRAILING.search(words[-1])):
        tail = trailing.group()
        words[-1] = words[-1][: trailing.start()]
        words = [w for w in words if w]
    return discord_form(words) + tail


# The multi-command usage lines name later commands without "/brief"; Discord's hints
# for them are written out whole.
_USAGE_LINES = {
    USAGE["feed"]: " · ".join(
        discord_form(f.split()) for f in ("feed add <url> [name]", "feed remove <id>")
    )
    + " · "
    + discord_form(["feed", "refresh", "<id>"]),
    USAGE["topic"]: " · ".join(
        discord_form(f.split())
        for f in ("topic add <slug> <query>", "topic remove <slug>", "topic adopt <slug>|all")
    ),
    USAGE["mode"]: " · ".join(
        discord_form(f.split()) for f in ("mode realtime", "mode digest <HH:MM> [timezone]")
    ),
    USAGE["import"]: discord_form(["import", "<url", "of", "an", "OPML", "file>"])
    + "  (or upload the file: /brief-admin import file:)",
    USAGE["filter"]: " · ".join(
        discord_form(f.split()) for f in ("filter include|exclude <words>", "filter clear")
    ),
}


def localise(text: str) -> str:
    """A core answer or notice with every ``/brief …`` it names in Discord's syntax."""
    if text == HELP_TEXT:
        return help_text()
    for core, discord in _USAGE_LINES.items():
        text = text.replace(core, discord)
    return _COMMAND.sub(_rewrite, text)


def help_text() -> str:
    """The help, from the core's ``VERBS`` table, in Discord's command syntax."""
    lines = ["SignalDesk: news briefings for this channel. Commands:"]
    for verb in VERBS:
        if verb.member:
            forms = " · ".join(discord_form(form.split()) for form in verb.member)
            lines.append(f"{forms} — {localise(verb.says)}")
    lines.append("/brief help — this help")
    lines.append("Channel admins (Manage Channels):")
    for verb in VERBS:
        if verb.admin:
            lines.append(" · ".join(discord_form(form.split()) for form in verb.admin))
    lines.append("Or upload an OPML file: /brief-admin import file:")
    lines.append("Or fill in a form (a feed, a topic, a digest time): /brief-admin setup")
    return "\n".join(lines)
