"""Plain-text helpers shared by the pipeline: HTML to text, whitespace, safe cutting.

Feed text is hostile. Everything that leaves this module is plain text with control,
zero-width and bidirectional-override characters removed; markup is the renderers' job.
"""

from __future__ import annotations

import re
import threading
import unicodedata

from lxml import etree

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

# Elements whose start and end are line breaks, and elements whose content never is
# text a reader sees (their tail, the text after them, stays).
_BLOCKS = ("br", "p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "blockquote", "hr")
_HIDDEN = ("script", "style", "template", "noscript", "iframe", "object", "svg", "math")
# One parser per thread (the pipeline converts in worker threads). libxml2's HTML
# parser is linear and in C: the regexes it replaces were quadratic on unclosed tags
# and comments (an 800 kB field took minutes). ``huge_tree`` off keeps libxml2's
# limits on depth and text node size; nothing is fetched.
_PARSERS = threading.local()


def _parser() -> etree.HTMLParser:
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = etree.HTMLParser(
            encoding="utf-8",
            recover=True,
            huge_tree=False,
            no_network=True,
            remove_comments=True,
            remove_pis=True,
            remove_blank_text=False,
            compact=True,
        )
        _PARSERS.parser = parser
    return parser


# What a terminal acts on: C0 controls (ESC starts colour, cursor, title and clear-screen
# sequences; CR and BS overwrite what was printed; BEL rings), DEL and the C1 controls
# (CSI, OSC as single characters). Newlines are kept where lines are expected.
_TERMINAL_CONTROLS = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")
_TERMINAL_CONTROLS_AND_LINES = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def terminal_safe(text: str, *, lines: bool = True) -> str:
    """``text`` with every terminal control character shown as a visible ``\\xNN``
    escape instead of acted on, for what goes to an operator's terminal or log (an
    OPML export, a log line quoting a feed's link). With ``lines=False`` newlines are
    escaped too, so one log record stays one line."""
    rx = _TERMINAL_CONTROLS if lines else _TERMINAL_CONTROLS_AND_LINES
    return rx.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def clean_text(text: str) -> str:
    """Normalize Unicode, drop control and invisible characters, collapse spaces within
    lines and blank-line runs. Keeps paragraph breaks as single newlines."""
    if not text:
        return ""
    text = unicodedata.normalize("NFC", text).translate(_DROP)
    lines = (_spaced(line).strip() for line in text.replace("\r", "\n").split("\n"))
    return "\n".join(line for line in lines if line)


def _spaced(line: str) -> str:
    """Runs of spaces (``_WS``) as one space. Most lines have none: an ASCII line with
    no double space, tab, form feed or vertical tab is returned as it is, without the
    regular expression (a quarter of the cost, on every entry of every feed)."""
    plain = line.isascii() and "  " not in line
    if plain and "\t" not in line and "\f" not in line and "\v" not in line:
        return line
    return _WS.sub(" ", line)


def one_line(text: str) -> str:
    """``clean_text`` folded onto a single line."""
    return " ".join(clean_text(text).split("\n"))


def html_to_text(markup: str) -> str:
    """Turn an HTML fragment (a feed summary or content) into plain text: block elements
    become line breaks; scripts, styles, comments and attributes vanish, unclosed ones
    too; entities are decoded once (by the parser: "3 &lt; 5" is "3 < 5", and a bare
    "3 < 5" stays as it is)."""
    if not markup:
        return ""
    if "<" not in markup and "&" not in markup:
        return clean_text(markup)
    # Control characters go first (lxml refuses them in the text it is given back, and
    # clean_text would drop them anyway). Bytes: libxml2 refuses a str that holds an
    # encoding declaration; lone surrogates, dropped here too, cannot be encoded.
    data = markup.translate(_DROP).encode("utf-8", "ignore")
    try:
        root = etree.fromstring(data, _parser())
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        root = None
    if root is None:  # only markup that holds no text at all (an empty comment, "<b")
        return ""
    etree.strip_elements(root, *_HIDDEN, with_tail=False)
    for element in root.iter(*_BLOCKS):
        # Translated: a character reference ("&#27;") decodes to a control character,
        # which lxml refuses to be given back.
        element.text = "\n" + (element.text or "").translate(_DROP)
        element.tail = "\n" + (element.tail or "").translate(_DROP)
    text = etree.tostring(root, method="text", encoding="unicode")
    return clean_text(text)


# What one article may feed to the sentence splitter and the condenser, in characters
# of plain text. News articles never come close: of the 153 real pages in the shared
# page set the longest news text is 48,000 characters (p99), the longest of all a
# Wikipedia article of 113,000; the BBC and CNN/DailyMail sets peak at 16,000. The same
# bound as a feed entry's own text (``bot.parse.MAX_TEXT``). A 4.8 MB page is cut here,
# so the work an entry can cause is bounded whatever the page holds.
MAX_ARTICLE_CHARS = 200_000


def cap_article(text: str, limit: int = MAX_ARTICLE_CHARS) -> str:
    """``text`` cut to at most ``limit`` characters, at the last paragraph break (or
    else space) in its second half, with no ellipsis: the condenser only ever quotes
    whole sentences, and a cut one would not be shown anyway."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    for mark in ("\n", " "):
        at = head.rfind(mark)
        if at >= limit // 2:
            return head[:at].rstrip()
    return head


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


def plural(count: int, word: str) -> str:
    """``count`` and ``word``, plural unless one: "1 feed", "3 feeds", "2 entries"."""
    if count == 1:
        return f"{count} {word}"
    return f"{count} {word[:-1]}ies" if word.endswith("y") else f"{count} {word}s"
