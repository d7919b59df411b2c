"""The checks every Discord payload must pass: embed limits; no mention, forged masked link
or feed-made invisible character."""

from __future__ import annotations

import re
from typing import Any

import discord

from adapters.discord import render

MENTION = re.compile(r"<[@#][!&]?\d+>|@(everyone|here)\b|</\w+:\d+>")
# A masked link as Discord reads it: "[" not escaped (an even run of backslashes before
# it), a label of escaped or ordinary characters, then "](url)".
LIVE_LINK = re.compile(r"(?<!\\)(?:\\\\)*\[(?:\\.|[^\\\]])*\]\((?P<url>[^)\s]*)\)")
# Bold, underline, spoiler, code and strike markers that survived unescaped.
FORMATTING = re.compile(r"(?<!\\)(\*\*|__|\|\||`|~~)")
FORBIDDEN_INVISIBLE = "\u202e\u202c\u200d\u2066\u2069\ufeff\u200f\u200e"


def strings(obj: Any) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in strings(v)]
    return []


def assert_within_limits(embed: discord.Embed) -> None:
    assert len(embed) <= render.EMBED_TOTAL_MAX
    assert len(embed.title or "") <= render.TITLE_MAX
    assert len(embed.description or "") <= render.DESCRIPTION_MAX
    assert len(embed.fields) <= render.FIELDS_MAX
    for f in embed.fields:
        assert 0 < len(f.name or "") <= render.FIELD_NAME_MAX
        assert 0 < len(f.value or "") <= render.FIELD_VALUE_MAX
    assert len(embed.footer.text or "") <= render.FOOTER_MAX


def assert_inert(payload: dict[str, Any]) -> None:
    """No mention, no forged masked link, no feed-made invisible character; every link
    is http(s)."""
    for text in strings(payload):
        assert not MENTION.search(text), text[:200]
        assert not any(ch in text for ch in FORBIDDEN_INVISIBLE), text[:200]
        assert not FORMATTING.search(text), FORMATTING.search(text)
        # Our only invisible character is the zero-width space that breaks a mention.
        for m in re.finditer("\u200b", text):
            assert text[m.start() - 1] in "<@", text[max(0, m.start() - 20) : m.start() + 5]
        for m in LIVE_LINK.finditer(text):
            # The only live masked links are ours, "N. [publisher — title](http(s)://…)"
            # in the sources and "• … — [publisher](http(s)://…)" after a bullet, and
            # their label holds no live bracket.
            assert re.search(r"((^|\n)\d+\.| —) $", text[: m.start()]), m.group(0)[:200]
            assert m["url"].startswith(("https://", "http://")), m["url"]
    for embed in payload.get("embeds", []):
        if "url" in embed:
            assert embed["url"].startswith(("https://", "http://"))
