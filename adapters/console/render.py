"""Console rendering (pure): Briefing / Reply -> plain text for a terminal.

Feed text is hostile here too: control characters (terminal escape sequences included)
are stripped by ``one_line``, and what is printed as it is (an OPML export) shows them
as escapes; nothing from a feed can move the cursor or recolour text.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.models import Briefing, Reply, Source
from bot.multisource import bullet_outlet
from bot.text import one_line, plural, terminal_safe
from bot.urls import safe_url as core_safe_url

RULE = "─" * 72


def safe_url(url: str | None) -> str | None:
    """``url`` when the core's link policy (``bot.urls.safe_url``) lets it be a link,
    else None: a terminal turns what looks like a URL into a link, and a feed's
    ``javascript:`` or ``file:`` "source" must not be one. A terminal needs no escaping."""
    return core_safe_url(url)


def _source_line(index: int, source: Source) -> str:
    url = safe_url(source.url)
    link = f" ({url})" if url else ""
    return f"  [{index}] {one_line(source.publisher)} — {one_line(source.title)}{link}"


def render_briefing(briefing: Briefing, *, full: bool = False) -> str:
    """A briefing as the channel sees it; ``full`` adds the sections, the source of each
    bullet, and related briefings (what ``/brief more`` shows)."""
    lines = [RULE, one_line(briefing.headline).upper()]
    if briefing.lead.strip():  # a short item (a headline only) has no lead
        lines += [one_line(briefing.lead), ""]
    for bullet in briefing.bullets:
        # [n] refers to the numbered Sources list; a placeholder bullet may have none.
        shown = full and 0 <= bullet.source < len(briefing.sources)
        outlet = bullet_outlet(briefing, bullet)
        mark = f" [{bullet.source + 1}]" if shown else (f" — {one_line(outlet)}" if outlet else "")
        lines.append(f"  • {one_line(bullet.text)}{mark}")
    if full:
        for label, text in briefing.sections:
            lines += ["", f"{label}:", f"  {one_line(text)}"]
        if briefing.model_note:
            lines += ["", f"  ({briefing.model_note})"]
    count = len(briefing.sources)
    lines += ["", f"Sources ({count}):" if count != 1 else "Source:"]
    lines += [_source_line(i + 1, s) for i, s in enumerate(briefing.sources)]
    if full and briefing.related:
        lines += ["", "Related:"]
        lines += [
            f"  {r.id}  {r.created_at:%Y-%m-%d}  {one_line(r.headline)}" for r in briefing.related
        ]
    meta = f"id: {briefing.id}"
    if briefing.topics:
        meta += "   topics: " + ", ".join(one_line(t) for t in briefing.topics)
    lines += ["", meta]
    if not full:
        lines.append(f"more: /brief more {briefing.id}   related: /brief related {briefing.id}")
    return "\n".join(lines)


def render_digest(briefings: Sequence[Briefing]) -> str:
    head = f"{RULE}\nDIGEST: {plural(len(briefings), 'briefing')}"
    items = [
        f"  {b.id}  {one_line(b.headline)}  ({plural(len(b.sources), 'source')})" for b in briefings
    ]
    return "\n".join([head, *items])


def render_reply(reply: Reply) -> str:
    """A command's answer. Errors are one line prefixed with ``error:``."""
    parts: list[str] = []
    if reply.text:
        text = "\n".join(one_line(line) for line in reply.text.split("\n"))
        parts.append(("error: " + text) if reply.error else text)
    parts += [render_briefing(b, full=reply.full) for b in reply.briefings]
    if reply.attachment:
        # An export quotes feed URLs as they were added: a control character in one is
        # shown as an escape, not sent to the terminal.
        parts.append(terminal_safe(reply.attachment))
    return "\n".join(parts)
