"""Plain-text helpers shared by the pipeline: HTML to text, whitespace, safe cutting.

Feed text is hostile. Everything that leaves this module is plain text with control,
zero-width and bidirectional-override characters removed; markup is the renderers' job.
"""

from __future__ import annotations

import html
import re
import unicodedata

# Zero-width and bidi control characters: they can hide or reorder text in a chat client.
_INVISIBLE = dict.fromkeys(
    [
        0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2060, 0xFEFF,
        0x202A, 0x202B, 0x202C, 0x202D, 0x202E,
        0x2066, 0x2067, 0x2068, 0x2069, 0x061C, 0x180E, 0x00AD,
    ]
)  # fmt: skip


class _Drop(dict[int, int | None]):
    """``str.translate`` table that drops invisible and "Other" (control, format,
    surrogate, private-use, unassigned) characters except newline and tab. Filled on
    first sight of each character, so the per-character work runs in C afterwards;
    the cache stops growing at ``LIMIT`` characters (a hostile feed cycling through
    the whole of Unicode cannot grow it without bound)."""

    LIMIT = 1 << 16

    def __missing__(self, code: int) -> int | None:
        keep = chr(code) in "\n\t" or unicodedata.category(chr(code))[0] != "C"
        value = code if keep else None
        if len(self) < self.LIMIT:
            self[code] = value
        return value


_DROP = _Drop(_INVISIBLE)
_WS = re.compile(r"[ \t\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_BLOCK_TAGS = re.compile(
    r"<\s*(br|/p|p|/div|div|/li|li|/h[1-6]|h[1-6]|/tr|/blockquote|blockquote|hr)\b[^>]*>",
    re.IGNORECASE,
)
_DROP_ELEMENTS = re.compile(
    r"<\s*(script|style|template|noscript|iframe|object|svg|math)\b.*?<\s*/\s*\1\s*>",
    re.IGNORECASE | re.DOTALL,
)
_TAG = re.compile(r"<[^>]*>", re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


def clean_text(text: str) -> str:
    """Normalize Unicode, drop control and invisible characters, collapse spaces within
    lines and blank-line runs. Keeps paragraph breaks as single newlines."""
    if not text:
        return ""
    text = unicodedata.normalize("NFC", text).translate(_DROP)
    lines = (_WS.sub(" ", line).strip() for line in text.replace("\r", "\n").split("\n"))
    return "\n".join(line for line in lines if line)


def one_line(text: str) -> str:
    """``clean_text`` folded onto a single line."""
    return " ".join(clean_text(text).split("\n"))


def html_to_text(markup: str) -> str:
    """Turn an HTML fragment (a feed summary or content) into plain text: block elements
    become line breaks, scripts and styles vanish, entities are decoded once."""
    if not markup:
        return ""
    if "<" not in markup and "&" not in markup:
        return clean_text(markup)
    markup = _COMMENT.sub(" ", markup)
    markup = _DROP_ELEMENTS.sub(" ", markup)
    markup = _BLOCK_TAGS.sub("\n", markup)
    markup = _TAG.sub("", markup)
    return clean_text(html.unescape(markup))


def cut(text: str, limit: int, ellipsis: str = "…") -> str:
    """Cut ``text`` to at most ``limit`` characters, at a word boundary, with an
    ellipsis when anything was removed."""
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    room = limit - len(ellipsis)
    if room <= 0:
        return ellipsis[:limit]
    head = text[:room]
    space = head.rfind(" ")
    if space >= room // 2:
        head = head[:space]
    return head.rstrip(" ,;:-–—") + ellipsis
