"""Briefings and replies as Slack Block Kit payloads. Pure: values in, dicts out.

Feed text is hostile. Everything taken from a feed (or from a reply, which may quote
feed titles) goes through ``_fit``/``escape``: control, zero-width and bidi characters
are dropped, ``&``, ``<`` and ``>`` become entities, and mrkdwn text objects carry
``verbatim: true`` — so no feed can produce ``<!channel>``, ``<@U…>``, a
``<url|forged label>`` link, or an auto-linked URL. The only links in a payload are the
ones built here from http(s) source URLs.

Platform limits enforced before anything is sent (Slack rejects the whole message with
``invalid_blocks`` otherwise; https://api.slack.com/reference/block-kit/blocks):
at most 50 blocks a message, 3,000 characters of section text, 150 of header text,
10 context elements, 75 characters of button text and 2,000 of button value; no
section or context without text; and about 12,000 characters of text in all a
message's blocks (beyond it ``chat.postMessage`` answers ``msg_blocks_too_long`` or
``invalid_blocks``): what is optional is shortened or left out first, never a link cut.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from bot.commands.grammar import HELP_TEXT, VERBS
from bot.models import Briefing, Bullet, Reply, Source, Visibility
from bot.multisource import bullet_outlet
from bot.text import clean_text, cut, one_line, plural
from bot.urls import safe_url as core_safe_url

# https://api.slack.com/reference/block-kit/blocks
MAX_BLOCKS = 50
SECTION_MAX = 3000
HEADER_MAX = 150
CONTEXT_ELEMENTS_MAX = 10
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
# All the text a message's blocks may hold together (Slack refuses more, undocumented
# but enforced: https://github.com/slackapi/python-slack-sdk/issues/1372).
TOTAL_TEXT_MAX = 12_000
# The notification text is shown in push notifications and screen readers; Slack
# truncates message text beyond 40,000 characters, we keep it to a short line.
FALLBACK_MAX = 300
SOURCE_LABEL_MAX = 120
BULLET_URL_MAX = 500

MORE_ACTION = "signaldesk_more"
RELATED_ACTION = "signaldesk_related"
METADATA_EVENT = "signaldesk_briefing"
DIGEST_EVENT = "signaldesk_digest"

Block = dict[str, Any]
Payload = dict[str, Any]

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# Characters that would end or split a <url|label> link if left in a URL.
_URL_UNSAFE = {"|": "%7C", "<": "%3C", ">": "%3E", " ": "%20", '"': "%22"}


# ------------------------------------------------------------------ text helpers


def escape(text: str) -> str:
    """Slack's three control characters as entities: after this, text can hold no
    mention, channel ping or link (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return text.translate(_ESCAPES)


def _fit(text: str, limit: int, *, multiline: bool = False) -> str:
    """Clean, escape and cut ``text`` at a word (with an ellipsis) so that the
    *escaped* form is at most ``limit`` characters. Cutting happens before escaping,
    so an entity such as ``&amp;`` is never split."""
    plain = clean_text(text) if multiline else one_line(text)
    escaped = escape(plain)
    if len(escaped) <= limit:
        return escaped
    # The longest plain prefix whose escaped form leaves room for the ellipsis.
    used = kept = 0
    for ch in plain:
        width = len(escape(ch))
        if used + width > limit - 1:
            break
        used += width
        kept += 1
    return escape(cut(plain, kept + 1))


def _mrkdwn(text: str) -> dict[str, Any]:
    # verbatim: no auto-linking of URLs or channel names, no parsing of @here etc.
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _section(text: str) -> Block:
    return {"type": "section", "text": _mrkdwn(text[:SECTION_MAX])}


def _context(*texts: str) -> Block:
    return {
        "type": "context",
        "elements": [_mrkdwn(t[:SECTION_MAX]) for t in texts[:CONTEXT_ELEMENTS_MAX] if t],
    }


def _header(text: str) -> Block:
    return {
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": _fit(text, HEADER_MAX) or "Briefing",
            "emoji": False,
        },
    }


def _button(label: str, action_id: str, value: str) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": label[:BUTTON_TEXT_MAX], "emoji": False},
        "action_id": action_id,
        "value": value[:BUTTON_VALUE_MAX],
    }


def _chunks(lines: Iterable[str], limit: int = SECTION_MAX) -> list[str]:
    """Join already-escaped lines into texts of at most ``limit`` characters, breaking
    between lines (a single over-long line is cut)."""
    out: list[str] = []
    current = ""
    for line in lines:
        if len(line) > limit:
            line = line[: limit - 1] + "…"
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            out.append(current)
            current = line
        else:
            current = candidate
    if current:
        out.append(current)
    return out


def text_length(node: Any) -> int:
    """The characters of text in ``node``'s text objects (what ``TOTAL_TEXT_MAX`` counts)."""
    if isinstance(node, dict):
        own = len(node["text"]) if node.get("type") in {"mrkdwn", "plain_text"} else 0
        return own + sum(text_length(v) for k, v in node.items() if k != "text" or not own)
    if isinstance(node, list):
        return sum(text_length(v) for v in node)
    return 0


def _shown(blocks: Iterable[Block]) -> list[Block]:
    """Without the blocks Slack would refuse as empty: a section whose text is blank
    (a lead of zero-width characters only) or a context with no element."""
    out = []
    for block in blocks:
        if block["type"] == "section" and not block["text"]["text"].strip():
            continue
        if block["type"] == "context" and not block["elements"]:
            continue
        out.append(block)
    return out


# ----------------------------------------------------------------------- links


def safe_url(url: str | None) -> str | None:
    """``url`` escaped for use inside ``<…|…>``, if the core's link policy
    (``bot.urls.safe_url``) lets it be a link at all; else None."""
    url = core_safe_url(url)
    if url is None:
        return None
    for ch, code in _URL_UNSAFE.items():
        url = url.replace(ch, code)
    return url.replace("&", "&amp;")


def _label(text: str, limit: int = SOURCE_LABEL_MAX) -> str:
    # "|" would end the URL part and ">" the link itself; both go, then escape the rest.
    return _fit(re.sub(r"[|>]", "", one_line(text)), limit) or "source"


def source_link(source: Source) -> str:
    """``<url|Publisher — Title>``, or the plain escaped label when the URL is unsafe."""
    label = _label(f"{source.publisher} — {source.title}" if source.title else source.publisher)
    url = safe_url(source.url)
    return f"<{url}|{label}>" if url else label


def _source_lines(sources: Sequence[Source], limit: int) -> str:
    """``Sources (n): link · link …`` within ``limit`` characters, dropping whole links
    (never cutting one in half) and saying how many were left out."""
    head = f"*{'Source' if len(sources) == 1 else f'Sources ({len(sources)})'}:* "
    text = head
    for shown, source in enumerate(sources):
        link = source_link(source)
        rest = len(sources) - shown - 1
        tail = f" · +{rest} more" if rest else ""
        sep = "" if text == head else " · "
        if len(text) + len(sep) + len(link) + len(tail) > limit:
            return text + f"{sep}+{len(sources) - shown} more"
        text += sep + link
    return text


# -------------------------------------------------------------------- briefings


def _bullet_source(briefing: Briefing, bullet: Bullet) -> str:
    """`` [n] — <url|Publisher>``: where a bullet can be checked (``/brief more``).
    A bullet may point at no source at all (placeholder bullets of a story with no
    sources), and a source may have no safe link: then only what exists is shown."""
    if not 0 <= bullet.source < len(briefing.sources):
        return ""
    source = briefing.sources[bullet.source]
    mark = f" [{bullet.source + 1}]"
    url = safe_url(source.url)
    # A bullet link longer than this would crowd the bullets' section; the numbered
    # Sources list below still links it.
    if url is None or len(url) > BULLET_URL_MAX:
        return mark
    return f"{mark} — <{url}|{_label(source.publisher, 60)}>"


def _bullets(briefing: Briefing, *, full: bool) -> list[str]:
    return [
        "• "
        + _fit(bullet.text, 900)
        + (_bullet_source(briefing, bullet) if full else _bullet_outlet(briefing, bullet))
        for bullet in briefing.bullets
    ]


def _bullet_outlet(briefing: Briefing, bullet: Bullet) -> str:
    """`` — Publisher`` in the posted message of a story from several outlets, so a
    reader sees who says what."""
    outlet = bullet_outlet(briefing, bullet)
    return f" — _{_fit(outlet, 60)}_" if outlet else ""


def _meta(briefing: Briefing) -> str:
    meta = f"id `{_fit(briefing.id, 64)}`"
    if briefing.topics:
        meta += " · topics: " + _fit(", ".join(briefing.topics), 600)
    if briefing.revision > 1:
        meta += f" · updated (revision {briefing.revision})"
    return meta


def render_briefing(briefing: Briefing, *, full: bool = False, buttons: bool = True) -> list[Block]:
    """A briefing as blocks. The channel post (``full=False``) shows headline, lead,
    bullets, sources and the More/Related buttons; ``full`` (what ``/brief more``
    answers) adds the three sections, every source on its own line, and related
    briefings."""
    blocks: list[Block] = [_header(briefing.headline)]
    if briefing.lead.strip():
        blocks.append(_section(_fit(briefing.lead, SECTION_MAX)))
    # Full bullets carry links: chunked between bullets so no link is ever cut.
    blocks += [_section(c) for c in _chunks(_bullets(briefing, full=full))]
    meta = _context(_meta(briefing))
    if full:
        blocks += _full_parts(briefing, TOTAL_TEXT_MAX - text_length([*blocks, meta]))
    elif briefing.sources:
        blocks.append(_context(_source_lines(briefing.sources, SECTION_MAX)))
    blocks.append(meta)
    if buttons and not full:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    _button("More", MORE_ACTION, briefing.id),
                    _button("Related", RELATED_ACTION, briefing.id),
                ],
            }
        )
    return _shown(blocks)[:MAX_BLOCKS]


def _full_parts(briefing: Briefing, room: int) -> list[Block]:
    """What ``/brief more`` adds, within ``room`` characters of text: the sections, the
    model note, the sources and related briefings. The first 3,000 characters of
    sources, the note and related come first (every source linked is the point); the
    sections share what is left, each shortened at a word if need be; more source lines
    follow if there is still room. Sources and related are whole lines: no link is cut."""
    note = [_context(briefing.model_note)] if briefing.model_note else []
    source_chunks: list[Block] = []
    if briefing.sources:
        lines = [f"{i}. {source_link(s)}" for i, s in enumerate(briefing.sources, 1)]
        source_chunks = [_section(c) for c in _chunks(["*Sources*", *lines])[:5]]
    related: list[Block] = []
    if briefing.related:
        lines = [
            f"`{_fit(r.id, 64)}` {r.created_at:%Y-%m-%d} {_fit(r.headline, 200)}"
            for r in briefing.related
        ]
        related = [_section(_chunks(["*Related*", *lines])[0])]
    room -= text_length([*note, *source_chunks[:1], *related])
    sections: list[Block] = []
    wanted = briefing.sections
    for index, (label, text) in enumerate(wanted):
        prefix = f"*{label}*\n"
        share = room // (len(wanted) - index)  # each section its share of what is left
        limit = min(SECTION_MAX, share) - len(prefix)
        if limit < 80:  # not even a few words: the section is left out
            continue
        sections.append(_section(prefix + _fit(text, limit)))
        room -= text_length(sections[-1])
    sources = source_chunks[:1]
    for chunk in source_chunks[1:]:
        if text_length(chunk) > room:
            break
        sources.append(chunk)
        room -= text_length(chunk)
    return [*sections, *note, *sources, *related]


def briefing_fallback(briefing: Briefing) -> str:
    """The notification line: headline and source count."""
    count = plural(len(briefing.sources), "source")
    return _fit(f"{one_line(briefing.headline)} ({count})", FALLBACK_MAX)


def briefing_metadata(briefing: Briefing) -> dict[str, Any]:
    """Slack message metadata naming the briefing: after a crash, the service finds
    its own earlier post by this (https://api.slack.com/metadata/using)."""
    return {
        "event_type": METADATA_EVENT,
        "event_payload": {"briefing_id": briefing.id, "revision": briefing.revision},
    }


def briefing_message(briefing: Briefing) -> Payload:
    """The ``chat.postMessage`` / ``chat.update`` arguments (all but ``channel``) for a
    new briefing in a channel."""
    return {
        "text": briefing_fallback(briefing),
        "blocks": render_briefing(briefing),
        "metadata": briefing_metadata(briefing),
        # Sources are linked in the context line; unfurling each would bury the post.
        "unfurl_links": False,
        "unfurl_media": False,
    }


def update_note(briefing: Briefing) -> Payload:
    """The thread reply under an updated briefing: how many sources it has now."""
    count = plural(len(briefing.sources), "source")
    latest = source_link(briefing.sources[-1]) if briefing.sources else ""
    text = f"Updated: this story now has {count}." + (f" Latest: {latest}" if latest else "")
    return {
        "text": f"Updated: this story now has {count}.",
        "blocks": [_section(text[:SECTION_MAX])],
        "unfurl_links": False,
        "unfurl_media": False,
    }


def digest_message(briefings: Sequence[Briefing]) -> Payload:
    """Several briefings in one message: a header and one section per briefing with a
    More button; what does not fit in 50 blocks is counted, not dropped silently."""
    blocks: list[Block] = [_header(f"Digest: {plural(len(briefings), 'briefing')}")]
    room = MAX_BLOCKS - 2  # the header, and a context line if some are left out
    shown = briefings[:room]
    # Every briefing shown keeps its place (each is marked sent): the leads share what
    # the message's total text allows, cut at a word.
    share = (TOTAL_TEXT_MAX - 200) // max(len(shown), 1)
    for briefing in shown:
        head = f"*{_fit(briefing.headline, min(300, share // 2))}*\n"
        tail = f"\n{plural(len(briefing.sources), 'source')} · id `{_fit(briefing.id, 64)}`"
        lead = _fit(briefing.lead, max(min(600, share - len(head) - len(tail)), 0))
        summary = head + lead + tail
        blocks.append(
            {
                "type": "section",
                "text": _mrkdwn(summary[:SECTION_MAX]),
                "accessory": _button("More", MORE_ACTION, briefing.id),
            }
        )
    if len(briefings) > room:
        blocks.append(_context(f"+{len(briefings) - room} more: `/brief search` finds them"))
    return {
        "text": f"Digest: {plural(len(briefings), 'briefing')}",
        "blocks": blocks,
        "metadata": {
            "event_type": DIGEST_EVENT,
            "event_payload": {"count": len(briefings)},
        },
        "unfurl_links": False,
        "unfurl_media": False,
    }


def text_message(text: str) -> Payload:
    """A plain notice (feed health and the like), escaped like feed text."""
    lines = [_fit(line, SECTION_MAX) for line in clean_text(text).split("\n")]
    payload: Payload = {
        "text": _fit(text, FALLBACK_MAX) or " ",
        "unfurl_links": False,
        "unfurl_media": False,
    }
    blocks = _shown(_section(c) for c in _chunks(lines)[:MAX_BLOCKS])
    while len(blocks) > 1 and text_length(blocks) > TOTAL_TEXT_MAX:
        blocks.pop()
    if blocks:
        payload["blocks"] = blocks
    return payload


# ---------------------------------------------------------------------- replies


def help_lines() -> list[str]:
    """The help in Slack's layout, from the core's ``VERBS`` table: each command in
    code type and what it does after a dash (the core's column padding would collapse
    in Slack's proportional font)."""

    def code(form: str) -> str:
        return f"`/brief {escape(form)}`"

    lines = ["*SignalDesk*: news briefings for this channel."]
    for verb in VERBS:
        if verb.member:
            forms = " · ".join(code(form) for form in verb.member)
            lines.append(f"{forms} — {escape(verb.says)}")
    lines.append("*Channel admins:*")
    lines += [" · ".join(code(form) for form in verb.admin) for verb in VERBS if verb.admin]
    lines.append("Or `/brief feed add` alone for a form (a feed, a topic, a digest time).")
    return lines


_ANGLED = re.compile(r"<([^<>\s]+)>")


def _reply_line(line: str, links: frozenset[str]) -> str:
    """One line of a reply, escaped; a ``<url>`` the core vouches for (``Reply.links``)
    becomes a Slack link labelled with its own host and path — never a label of the
    text's choosing."""
    if not links or "<" not in line:
        return _fit(line, SECTION_MAX)
    line = one_line(line)  # cleaned as _fit cleans it
    out, end = [], 0
    for match in _ANGLED.finditer(line):
        link = address_link(match[1]) if match[1] in links else None
        if link is None:
            continue
        out += [escape(line[end : match.start()]), link]
        end = match.end()
    out.append(escape(line[end:]))
    linked = "".join(out)
    return linked if len(linked) <= SECTION_MAX else _fit(line, SECTION_MAX)


def address_link(url: str) -> str | None:
    """``url`` as a Slack link labelled with its own host and path (never a label of
    the text's choosing), or None when it is not a safe http(s) address."""
    safe = safe_url(url)
    if safe is None:
        return None
    parts = urlsplit(url)
    label = _label(cut(f"{parts.hostname or ''}{parts.path}", 60), 80) or "link"
    return f"<{safe}|{label}>"


def render_reply(reply: Reply) -> Payload:
    """A command's answer as a response payload (``ack``/``respond``/``response_url``):
    ``response_type`` is ``ephemeral`` for the asker only, ``in_channel`` otherwise."""
    blocks: list[Block] = []
    if reply.text == HELP_TEXT:
        blocks += _shown(_section(c) for c in _chunks(help_lines()))
    elif reply.text:
        links = frozenset(reply.links)
        lines = [_reply_line(line, links) for line in clean_text(reply.text).split("\n")]
        if reply.error and lines:
            lines[0] = ":warning: " + lines[0][: SECTION_MAX - 10]
        blocks += _shown(_section(c) for c in _chunks(lines))
    blocks = blocks[: MAX_BLOCKS - 1]
    while len(blocks) > 1 and text_length(blocks) > TOTAL_TEXT_MAX - 300:
        blocks.pop()  # a reply text this long (a long listing) keeps its beginning
    left_out = 0
    for index, briefing in enumerate(reply.briefings):
        rendered = render_briefing(briefing, full=reply.full)
        needed = len(rendered) + (1 if blocks else 0)
        too_long = text_length([*blocks, *rendered]) > TOTAL_TEXT_MAX - 100
        # keep one block (and some text) for the note below
        if len(blocks) + needed > MAX_BLOCKS - 1 or (too_long and index > 0):
            left_out = len(reply.briefings) - index
            break
        if blocks:
            blocks.append({"type": "divider"})
        blocks += rendered
    if left_out:
        blocks.append(_context(f"+{left_out} more not shown: narrow the search"))
    if reply.attachment:
        name = _fit(reply.attachment_name or "attachment", 200)
        lines = [escape(line) for line in clean_text(reply.attachment).split("\n")]
        chunks = _chunks(lines, SECTION_MAX - 8)  # room for the ``` fences
        room = max(MAX_BLOCKS - len(blocks) - 2, 0)
        blocks.append(_context(f"*{name}*"))
        budget = TOTAL_TEXT_MAX - 100 - text_length(blocks)
        fitting = 0
        for chunk in chunks[:room]:
            budget -= len(chunk) + 6
            if budget < 0:
                break
            fitting += 1
        blocks += [_section(f"```{c}```") for c in chunks[:fitting]]
        if len(chunks) > fitting:
            blocks.append(_context("(truncated: too long for one Slack message)"))
    blocks = blocks[:MAX_BLOCKS]
    return {
        "response_type": "ephemeral" if reply.visibility == Visibility.ASKER else "in_channel",
        "text": _reply_fallback(reply),
        "blocks": blocks,
    }


def _reply_fallback(reply: Reply) -> str:
    if reply.text:
        return _fit(reply.text, FALLBACK_MAX) or " "
    if len(reply.briefings) == 1:
        return briefing_fallback(reply.briefings[0])
    if reply.briefings:
        return plural(len(reply.briefings), "briefing")
    return _fit(reply.attachment_name or "Done.", FALLBACK_MAX)


def working_message() -> Payload:
    """The immediate acknowledgement while a slow command is still running."""
    return {"response_type": "ephemeral", "text": "Working on it…"}


__all__ = [
    "MAX_BLOCKS",
    "METADATA_EVENT",
    "MORE_ACTION",
    "RELATED_ACTION",
    "TOTAL_TEXT_MAX",
    "briefing_message",
    "briefing_metadata",
    "digest_message",
    "escape",
    "render_briefing",
    "render_reply",
    "safe_url",
    "source_link",
    "text_length",
    "text_message",
    "update_note",
    "working_message",
]
