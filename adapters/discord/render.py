"""Discord rendering (pure): Briefing / Reply -> ``discord.Embed`` and payload dicts.

Nothing here does I/O. Every string that came from a feed is hostile: it is cleaned
(control, zero-width and bidi characters dropped by ``bot.text``), its markdown escaped
and its mentions neutralised, then cut at a word to Discord's limits. Links are made
only from ``http(s)`` URLs. Messages are still sent with no allowed mentions (set on the
client), so even a mention that slipped through could not ping anyone.

Limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits):
title 256, description 4,096, 25 fields of name 256 / value 1,024, footer 2,048, and
6,000 characters for all embeds of one message together, counted as ``len(embed)``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import discord
from discord.utils import escape_markdown

from bot.models import Briefing, Bullet, Reply, Source, Visibility
from bot.multisource import bullet_outlet
from bot.text import clean_text, cut, one_line, plural
from bot.urls import safe_url as core_safe_url

from .syntax import localise

# --- Discord's limits (see the module docstring for the reference) ---------------------
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
EMBED_TOTAL_MAX = 6000  # per message, all embeds together
EMBEDS_PER_MESSAGE = 10
CONTENT_MAX = 2000  # message content
# Embed and button URLs longer than this are refused by Discord ("Must be 2048 or fewer
# in length"); such a source is shown without a link instead of failing the post.
URL_MAX = 2048  # an embed URL, after percent-encoding
BULLET_URL_MAX = 500  # 600 lead + 3 × (400 + link) stays far below 4,096

COLOR = 0x2F6FDE

# Button custom ids carry the briefing id, so a click works after a restart: no View
# object has to survive, the id is parsed back out of the custom id (max 100 chars).
BUTTON_TEMPLATE = r"sd:(?P<action>more|related):(?P<briefing_id>[a-z0-9]{1,40})"
_BUTTON_RE = re.compile(BUTTON_TEMPLATE)
NO_MENTIONS: dict[str, Any] = {"parse": []}

# Mentions and other "<…>" tokens Discord turns into pills: users <@1>, <@!1>, roles
# <@&1>, channels <#1>, slash commands </x:1>, emoji <:x:1> <a:x:1>, timestamps <t:1>.
_ANGLE_TOKEN = re.compile(r"<(?=[@#:/]|a:|t:|id:)")
_EVERYONE = re.compile(r"@(?=everyone|here)", re.IGNORECASE)
_OPEN, _CLOSE = "\x00", "\x01"  # placeholders; clean_text removes every control character
_ZWSP = "\u200b"


# ----------------------------------------------------------------------------- text


def neutralise(text: str) -> str:
    """Make cleaned text inert in Discord markdown: no formatting, no masked link
    ``[label](url)``, no mention. A zero-width space breaks mentions the way
    ``discord.utils.escape_mentions`` does; it is the only invisible character we add.

    ``text`` must be cleaned first (``bot.text.clean_text``): the two control characters
    used as placeholders here cannot occur in it."""
    text = text.replace(_OPEN, "").replace(_CLOSE, "")
    # escape_markdown reads "[...](...)" greedily, up to the last ")" of the text, and
    # escapes nothing inside it; so brackets leave the text before it runs and come back
    # escaped afterwards. Without a live "[" no masked link can form.
    text = text.replace("[", _OPEN).replace("]", _CLOSE)
    # escape_markdown also doubles every backslash, so a feed's own backslash cannot
    # cancel one of our escapes: a feed's  \[x](y)  is sent as  \\\[x\](y)
    text = escape_markdown(text)
    text = text.replace(_OPEN, "\\[").replace(_CLOSE, "\\]")
    text = _ANGLE_TOKEN.sub("<" + _ZWSP, text)
    return _EVERYONE.sub("@" + _ZWSP, text)


def fit(text: str, limit: int, *, multiline: bool = False) -> str:
    """Cleaned, neutralised ``text`` of at most ``limit`` characters, cut at a word with
    an ellipsis. The cut is made before escaping, so an escape is never split in two."""
    # Cleaning only removes characters, so a generous prefix is enough (100 KB titles).
    text = text[: limit * 4 + 256]
    raw = clean_text(text) if multiline else one_line(text)
    room = limit
    while True:
        out = neutralise(cut(raw, room))
        if len(out) <= limit or room <= 1:
            return out[:limit] if len(out) > limit else out
        room -= max(1, len(out) - limit)


def safe_url(url: str | None) -> str | None:
    """``url`` as Discord links it, if the core's link policy (``bot.urls.safe_url``)
    lets it be a link at all: the host IDNA-encoded and the characters that could end a
    markdown link early percent-encoded; else None (no link at all)."""
    url = core_safe_url(url)
    if url is None:
        return None
    parts = urlsplit(url)
    host = (parts.hostname or "").encode("idna").decode("ascii")
    netloc = host if ":" not in host else f"[{host}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    # "(", ")", "<", ">", '"' and non-ASCII would end "[label](url)" early or make the
    # embed URL ill-formed; percent-encoding keeps the same resource.
    rest = quote(url.split(parts.netloc, 1)[1], safe="/?#@!$&'*+,;=%~-._:[]")
    url = f"{parts.scheme.lower()}://{netloc}{rest}"
    return url if len(url) <= URL_MAX else None


def main_url(briefing: Briefing) -> str | None:
    """The first source with a usable link: the embed title links to it."""
    for source in briefing.sources:
        url = safe_url(source.url)
        if url:
            return url
    return None


def _id(text: str) -> str:
    """A briefing id shown in code style, where escapes would show: keep [a-z0-9] only."""
    return re.sub(r"[^a-z0-9]", "", text.lower())[:40] or "?"


def _source_line(index: int, source: Source, limit: int) -> str:
    label = fit(f"{source.publisher} — {source.title}", min(limit - 8, 200))
    url = safe_url(source.url)
    line = f"{index}. [{label}]({url})" if url else f"{index}. {label}"
    if len(line) > limit:  # only when the URL itself is huge: drop the link, keep the name
        line = f"{index}. {label}"
    return line


def _pack_lines(lines: Sequence[str], limit: int, more: str) -> tuple[list[str], int]:
    """Lines that fit ``limit`` joined by newlines, leaving room for a "more" note."""
    out: list[str] = []
    used = 0
    for i, line in enumerate(lines):
        rest = len(lines) - i - 1
        reserve = len(more.format(n=rest)) + 1 if rest else 0
        if used + len(line) + (1 if out else 0) + reserve > limit:
            break
        used += len(line) + (1 if out else 0)
        out.append(line)
    return out, len(lines) - len(out)


# --------------------------------------------------------------------------- embeds


def _add_source_fields(embed: discord.Embed, briefing: Briefing, *, max_fields: int) -> None:
    count = len(briefing.sources)
    lines = [_source_line(i + 1, s, FIELD_VALUE_MAX) for i, s in enumerate(briefing.sources)]
    name = f"Sources ({count})" if count != 1 else "Source"
    for n in range(max_fields):
        if not lines:
            break
        last = n == max_fields - 1
        packed, left = _pack_lines(lines, FIELD_VALUE_MAX, "… and {n} more")
        if left and last:
            packed.append(f"… and {left} more")
            lines = []
        else:
            lines = lines[len(packed) :]
        embed.add_field(
            name=name if n == 0 else "Sources (cont.)", value="\n".join(packed), inline=False
        )


def render_briefing(briefing: Briefing, *, full: bool = False) -> discord.Embed:
    """A briefing as one embed: the headline linking to the main source, the lead and
    bullets in the description, sources and topics as fields, the id in the footer.
    ``full`` adds the three sections and related briefings (``/brief more``)."""
    embed = discord.Embed(
        title=fit(briefing.headline, TITLE_MAX) or "(untitled)",
        url=main_url(briefing),
        description=_description(briefing, full=full),
        colour=COLOR,
        timestamp=briefing.updated_at,
    )
    if full:
        for label, text in briefing.sections:
            value = fit(text, FIELD_VALUE_MAX, multiline=True) or "\u2014"
            embed.add_field(name=label, value=value, inline=False)
    _add_source_fields(embed, briefing, max_fields=5)
    if briefing.topics:
        topics = ", ".join(one_line(t) for t in briefing.topics)
        embed.add_field(name="Topics", value=fit(topics, FIELD_VALUE_MAX) or "\u2014", inline=False)
    if full and briefing.related:
        lines = [
            f"`{_id(r.id)}` {r.created_at:%Y-%m-%d} {fit(r.headline, 200)}"
            for r in briefing.related
        ]
        packed, _ = _pack_lines(lines, FIELD_VALUE_MAX, "")
        embed.add_field(name="Related", value="\n".join(packed), inline=False)
    footer = f"id: {_id(briefing.id)}"
    if briefing.revision > 1:
        footer += f" · updated (revision {briefing.revision})"
    if full and briefing.model_note:
        footer += f" · {briefing.model_note}"
    # The footer does not render markdown, so it is cleaned and cut, not escaped.
    embed.set_footer(text=cut(one_line(footer), FOOTER_MAX))
    return fit_embed(embed)


def _bullet_source(briefing: Briefing, bullet: Bullet) -> str:
    """`` — [Publisher](url)``: where a bullet can be checked (``/brief more``). A bullet
    may point at no source (placeholder bullets of a story with no sources), and a source
    may have no safe link: then nothing is added."""
    if not 0 <= bullet.source < len(briefing.sources):
        return ""
    source = briefing.sources[bullet.source]
    url = safe_url(source.url)
    # Long links would push the description towards its 4,096 limit, where a cut could
    # split one; the Sources field still links them.
    if url is None or len(url) > BULLET_URL_MAX:
        return ""
    return f" — [{fit(source.publisher, 60) or 'source'}]({url})"


def _bullet_outlet(briefing: Briefing, bullet: Bullet) -> str:
    """`` — *Publisher*`` in the posted message of a story from several outlets."""
    outlet = bullet_outlet(briefing, bullet)
    return f" — *{fit(outlet, 60)}*" if outlet else ""


def _description(briefing: Briefing, *, full: bool = False) -> str:
    parts = [fit(briefing.lead, 600)] if briefing.lead.strip() else []
    bullets = [
        f"• {fit(b.text, 400)}"
        + (_bullet_source(briefing, b) if full else _bullet_outlet(briefing, b))
        for b in briefing.bullets
        if b.text.strip()
    ]
    if bullets:
        parts.append("\n".join(bullets))
    return cut("\n\n".join(parts), DESCRIPTION_MAX)


def fit_embed(embed: discord.Embed, total: int = EMBED_TOTAL_MAX) -> discord.Embed:
    """Bring an embed within ``total`` characters as Discord counts them (``len(embed)``):
    drop fields from the end, then shorten the description. Never returns an embed that
    Discord would reject with "Embed size exceeds maximum size of 6000"."""
    while len(embed) > total and len(embed.fields) > 1:
        embed.remove_field(len(embed.fields) - 1)
    if len(embed) > total and embed.description:
        room = max(0, len(embed.description) - (len(embed) - total))
        embed.description = cut(embed.description, room) or None
    if len(embed) > total and embed.fields:
        embed.clear_fields()
    assert len(embed) <= total, "embed still over the limit"
    return embed


def render_compact(briefing: Briefing) -> discord.Embed:
    """A briefing in a list (search and topic answers): headline, lead, id."""
    embed = discord.Embed(
        title=fit(briefing.headline, TITLE_MAX) or "(untitled)",
        url=main_url(briefing),
        description=fit(briefing.lead, 300) or None,
        colour=COLOR,
    )
    count = len(briefing.sources)
    embed.set_footer(text=f"id: {_id(briefing.id)} · {plural(count, 'source')}")
    return embed


# A digest entry keeps at least this much of its lead; a link that would leave less is
# left out (the briefing's own post and ``/brief more`` still link every source).
DIGEST_LEAD_MAX = 300
DIGEST_LEAD_MIN = 120


def digest_field_value(briefing: Briefing) -> str:
    """A digest entry: the lead, a "Read the source" link and the id, within Discord's
    1,024 characters per field value. A URL is only ever shown behind its label; a URL
    so long (a tracking link of 900 characters) that it would push the field past the
    limit or squeeze the lead below ``DIGEST_LEAD_MIN`` is left out instead."""
    tail = f"\n`{_id(briefing.id)}` · {plural(len(briefing.sources), 'source')}"
    url = main_url(briefing)
    link = f"\n[Read the source]({url})" if url else ""
    room = FIELD_VALUE_MAX - len(tail) - len(link)
    if link and room < DIGEST_LEAD_MIN:
        link = ""
        room = FIELD_VALUE_MAX - len(tail)
    lead = fit(briefing.lead, min(DIGEST_LEAD_MAX, room))
    return lead + link + tail


def render_digest(
    briefings: Sequence[Briefing], *, continued: bool = False, bare: bool = False
) -> discord.Embed:
    """One embed for a digest: a field per briefing (headline, lead, main link, id). The
    title counts what this message shows; ``continued`` marks a message after the first
    of one digest. ``bare`` shows headline and id only (a briefing Discord refused)."""
    count = len(briefings)
    title = f"Digest{', continued' if continued else ''}: {plural(count, 'briefing')}"
    embed = discord.Embed(title=title, colour=COLOR)
    for b in briefings[:FIELDS_MAX]:
        value = f"`{_id(b.id)}` · /brief more" if bare else digest_field_value(b)
        embed.add_field(
            name=fit(b.headline, FIELD_NAME_MAX) or "(untitled)", value=value, inline=False
        )
    if count > FIELDS_MAX:
        embed.set_footer(text=f"and {count - FIELDS_MAX} more: /brief search")
    return fit_embed(embed)


# ---------------------------------------------------------------------- components


def button_custom_id(action: str, briefing_id: str) -> str:
    """``sd:more:<id>`` / ``sd:related:<id>``: parsed back by ``parse_custom_id``."""
    custom_id = f"sd:{action}:{briefing_id}"
    if not _BUTTON_RE.fullmatch(custom_id):
        raise ValueError(f"not a button id: {custom_id!r}")
    return custom_id


def parse_custom_id(custom_id: str) -> tuple[str, str] | None:
    """(action, briefing id) from a button's custom id, or None if it is not ours."""
    m = _BUTTON_RE.fullmatch(custom_id)
    return (m["action"], m["briefing_id"]) if m else None


def briefing_view(briefing_id: str) -> discord.ui.View:
    """The "More" and "Related" buttons under a posted briefing. The View is only a
    carrier for the components: clicks are dispatched by custom id (see ``app``)."""
    view = discord.ui.View(timeout=None)
    view.add_item(
        discord.ui.Button(
            label="More",
            style=discord.ButtonStyle.primary,
            custom_id=button_custom_id("more", briefing_id),
        )
    )
    view.add_item(
        discord.ui.Button(
            label="Related",
            style=discord.ButtonStyle.secondary,
            custom_id=button_custom_id("related", briefing_id),
        )
    )
    return view


# ------------------------------------------------------------------------ messages


@dataclass
class DiscordMessage:
    """A message ready to send: what ``Messageable.send`` or an interaction response
    takes. ``payload()`` is the JSON body Discord receives (golden files)."""

    content: str | None = None
    embeds: list[discord.Embed] = field(default_factory=list)
    view: discord.ui.View | None = None
    ephemeral: bool = False
    file_name: str | None = None
    file_text: str | None = None

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"allowed_mentions": NO_MENTIONS}
        if self.content is not None:
            body["content"] = self.content
        body["embeds"] = [e.to_dict() for e in self.embeds]
        if self.view is not None:
            body["components"] = self.view.to_components()
        if self.ephemeral:
            body["flags"] = 64  # EPHEMERAL
        if self.file_name:
            body["attachments"] = [{"id": 0, "filename": self.file_name}]
        return body


def briefing_message(briefing: Briefing) -> DiscordMessage:
    """The channel post for a new briefing: its embed and the More/Related buttons."""
    return DiscordMessage(embeds=[render_briefing(briefing)], view=briefing_view(briefing.id))


def update_note(briefing: Briefing) -> DiscordMessage:
    """The reply under an updated briefing: the story gained sources."""
    n = len(briefing.sources)
    return DiscordMessage(content=f"Updated: this story now has {plural(n, 'source')}.")


def text_message(text: str) -> DiscordMessage:
    """A plain notice (feed health, errors): cleaned, escaped, within 2,000 characters."""
    return DiscordMessage(content=fit(localise(text), CONTENT_MAX, multiline=True) or "\u2014")


def digest_message(
    briefings: Sequence[Briefing], *, continued: bool = False, bare: bool = False
) -> DiscordMessage:
    return DiscordMessage(embeds=[render_digest(briefings, continued=continued, bare=bare)])


def render_reply(reply: Reply) -> DiscordMessage:
    """A command's answer. Only-you answers are ephemeral; errors are one line. Several
    briefings share one message, so together they stay within 6,000 characters and
    10 embeds; what does not fit is counted in the content."""
    text = localise(reply.text) if reply.text else ""  # hints in Discord's command syntax
    content = fit(text, CONTENT_MAX - 60, multiline=True) if text else ""
    if reply.error and content:
        content = "⚠️ " + content
    if reply.full:
        embeds = [render_briefing(b, full=True) for b in reply.briefings]
    else:
        embeds = [render_compact(b) for b in reply.briefings]
    kept: list[discord.Embed] = []
    used = 0
    for embed in embeds[:EMBEDS_PER_MESSAGE]:
        if used + len(embed) > EMBED_TOTAL_MAX:
            break
        kept.append(embed)
        used += len(embed)
    if len(kept) < len(embeds):
        content += f"\n… and {len(embeds) - len(kept)} more (narrow the search to see them)"
    return DiscordMessage(
        content=content.strip() or None,
        embeds=kept,
        ephemeral=reply.visibility == Visibility.ASKER,
        file_name=_file_name(reply.attachment_name) if reply.attachment is not None else None,
        file_text=reply.attachment,
    )


def _file_name(name: str | None) -> str:
    # Discord shows the name as given; keep it short and free of paths and markup.
    return re.sub(r"[^A-Za-z0-9._-]", "_", name or "signaldesk.opml")[:64] or "signaldesk.opml"


def file_for(message: DiscordMessage) -> discord.File | None:
    """The attachment (an OPML export) as a ``discord.File``, if the message has one."""
    if message.file_text is None:
        return None
    import io

    name = message.file_name or _file_name(None)
    return discord.File(io.BytesIO(message.file_text.encode()), filename=name)
