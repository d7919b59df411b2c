"""Feed bytes -> ``ParsedFeed``: RSS 0.9x/1.0/2.0 and Atom through feedparser, JSON Feed
1.0/1.1 by our own code (feedparser does not read it).

Feed documents are hostile input, so:

- feedparser gets the bytes and the response headers, never a URL or a string it might
  take for a file name (it would open it);
- any DOCTYPE, with its internal subset, is cut out first, so entity tricks ("billion
  laughs", quadratic blow-up) have nothing to expand;
- the work is bounded: at most ``MAX_ENTRIES`` entries (an XML body is cut after its
  ``MAX_ENTRIES``-th item before feedparser sees it: a 100k-item feed must not become
  100k dictionaries), titles and texts cut;
- links are made absolute and only http(s) links survive (no ``javascript:``);
- all text leaves as plain text (``bot.text``), never HTML;
- whatever goes wrong surfaces as ``ParseError`` with one line for a person.

Parsing is CPU work: callers on the event loop run it through a ``ParseGate``
(``bot.parsegate``: in the work pool's processes or a thread, the bytes parsed at once
bounded, since feedparser holds ~15x a body's size while it works).
"""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from .errors import ParseError
from .models import FeedEntry, ParsedFeed
from .text import clean_text, html_to_text, one_line

MAX_ENTRIES = 500
MAX_TITLE = 1_000
MAX_TEXT = 200_000
MAX_FIELD = 2_000  # guid, link, author: identifiers, not prose
# Raw markup is cut before conversion too, so a 5 MB entry costs little regex time.
_MAX_MARKUP = MAX_TEXT * 4

_JSON_ITEM_KEYS = frozenset({"content_html", "content_text", "date_published", "external_url"})
_JSON_TYPES = ("application/feed+json", "application/json", "text/json")
# Possessive comment run: "(<!--.*?-->\s*)*" let a comment's body stretch over the
# next one's end, exponential on a run of comments (tests/test_regex_linear.py).
# What a feed URL that is a web page fails with (feed add then looks for its feeds).
HTML_PAGE = "the document is HTML"
_HTML_START = re.compile(
    rb"^\s*+(?:<!--.*?-->\s*+)*+<(!doctype\s+html|html[\s>]|head[\s>]|body[\s>])",
    re.IGNORECASE | re.DOTALL,
)


def parse_feed(
    body: bytes, *, headers: Mapping[str, str] | None = None, url: str | None = None
) -> ParsedFeed:
    """Parse a fetched feed.

    ``headers`` are the HTTP response headers (their Content-Type charset matters for
    XML feeds); ``url`` is the feed's final URL, against which relative links are
    resolved. A malformed feed yields what can be read, with ``warning`` set. Raises
    ``ParseError`` when the bytes hold no feed; never any other exception."""
    try:
        return _parse(body, {k.lower(): v for k, v in (headers or {}).items()}, url)
    except ParseError:
        raise
    except Exception as exc:  # feed data must never crash the poller
        raise ParseError(f"could not read the feed: {type(exc).__name__}") from exc


def _parse(body: bytes, headers: dict[str, str], url: str | None) -> ParsedFeed:
    if not isinstance(body, bytes | bytearray | memoryview):
        raise ParseError("could not read the feed: expected bytes")
    body = bytes(body)
    if not body.strip():
        raise ParseError("not a feed: the document is empty")
    media_type = headers.get("content-type", "").split(";")[0].strip().lower()
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"{") or (media_type in _JSON_TYPES and not head.startswith(b"<")):
        return _parse_json_feed(body, url, media_type)
    return _parse_xml_feed(body, headers, url)


# --------------------------------------------------------------------------- XML


# The end of an item (RSS) or entry (Atom), namespaced or not; an element start.
_ENTRY_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?(?:item|entry)\s*>", re.IGNORECASE)
_ENTRY_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s>/]", re.IGNORECASE)
# [^<>]*: a tag never spans a "<", so a run of "<a<a<a" costs linear time.
# The name is possessive: a name that may end anywhere before a lazy tail is quadratic.
_TAG = re.compile(rb"<(/?)([A-Za-z_][\w.:-]*+)[^<>]*?(/?)>")


def cut_entries(data: bytes, limit: int = MAX_ENTRIES) -> bytes:
    """An XML feed cut just after its ``limit``-th item or entry, with the elements that
    were open before the first one closed again, so that feedparser reads no more
    entries than are kept. Unchanged when it has ``limit`` or fewer."""
    end = None
    for count, match in enumerate(_ENTRY_END.finditer(data), 1):
        if count > limit:
            break
        end = match.end()
    else:
        return data  # ``limit`` or fewer: nothing to cut
    first = _ENTRY_START.search(data)
    if end is None or first is None or first.start() >= end:
        return data
    opened: list[bytes] = []
    for tag in _TAG.finditer(data, 0, first.start()):
        closing, name, empty = tag.groups()
        if empty:
            continue
        if not closing:
            opened.append(name)
        elif name in opened:
            del opened[len(opened) - 1 - opened[::-1].index(name) :]
    return data[:end] + b"".join(b"</" + name + b">" for name in reversed(opened))


def _parse_xml_feed(body: bytes, headers: dict[str, str], url: str | None) -> ParsedFeed:
    data = cut_entries(strip_doctype(body))
    response_headers = dict(headers)
    # Without a Content-Type feedparser flags the feed as malformed; application/xml
    # without a charset lets the XML declaration and BOM decide (RFC 7303), as intended.
    response_headers.setdefault("content-type", "application/xml")
    if url:
        # feedparser resolves relative links against Content-Location, else nothing
        # (it never saw a URL); xml:base in the document still applies on top.
        location = response_headers.get("content-location")
        response_headers["content-location"] = urljoin(url, location) if location else url
    # A stream, not bytes: feedparser tries to open() a bytes argument as a file name.
    result = feedparser.parse(
        io.BytesIO(data),
        response_headers=response_headers,
        # Both off: we keep plain text only (html_to_text drops scripts and styles), so
        # sanitizing and rebasing markup would be wasted work -- most of the parse time
        # on a large feed. Entry links are still resolved (feedparser does that always).
        resolve_relative_uris=False,
        sanitize_html=False,
    )
    version = str(result.get("version") or "")
    entries = result.get("entries") or []
    feed = result.get("feed") or {}
    if not version and not entries:
        if _HTML_START.match(body) or _HTML_START.match(data):
            raise ParseError(f"not a feed: {HTML_PAGE}, not RSS, Atom or JSON Feed")
        if not feed.get("title"):  # a titled channel with no items is an empty feed
            reason = _describe(result.get("bozo_exception")) if result.get("bozo") else ""
            raise ParseError(
                "not a feed: no RSS, Atom or JSON Feed found" + (f" ({reason})" if reason else "")
            )
    base = url
    feed_link = _safe_link(feed.get("link"), base)
    parsed = ParsedFeed(
        title=_cut(_text_of(feed, "title", one=True), MAX_TITLE),
        link=feed_link,
        format=version,
        entries=[_xml_entry(e, base or feed_link) for e in entries[:MAX_ENTRIES]],
        warning=_describe(result.get("bozo_exception")) if result.get("bozo") else None,
    )
    return parsed


def _xml_entry(entry: Any, base: str | None) -> FeedEntry:
    content = ""
    for item in entry.get("content") or []:
        content = _convert(item.get("value"), item.get("type"))
        if content:
            break
    author = entry.get("author")
    author_text = _cut(one_line(author), MAX_FIELD) if isinstance(author, str) else ""
    return FeedEntry(
        guid=_ident(entry.get("id")),
        link=_safe_link(entry.get("link"), base),
        title=_cut(_text_of(entry, "title", one=True), MAX_TITLE),
        summary=_cut(_text_of(entry, "summary"), MAX_TEXT),
        content=_cut(content, MAX_TEXT),
        author=author_text or None,
        published=_struct_to_utc(entry.get("published_parsed") or entry.get("updated_parsed")),
        origin=_origin(entry.get("source"), base),
    )


def _origin(source: Any, base: str | None) -> str | None:
    """The site an aggregator's item comes from: RSS ``<source url>`` or the link of an
    Atom ``<source>`` (a Google News item links to news.google.com, not the outlet)."""
    if not isinstance(source, dict):
        return None
    return _safe_link(source.get("href"), base) or _safe_link(source.get("link"), base)


def _text_of(obj: Any, key: str, *, one: bool = False) -> str:
    """A feedparser text construct as plain text, honouring its declared type: a
    text/plain title "Use <b> for bold" must not lose its "<b>"."""
    detail = obj.get(key + "_detail") or {}
    text = _convert(obj.get(key), detail.get("type"))
    return " ".join(text.split("\n")) if one else text


def _convert(value: Any, content_type: Any) -> str:
    if not isinstance(value, str) or not value:
        return ""
    value = value[:_MAX_MARKUP]
    kind = content_type.lower() if isinstance(content_type, str) else "text/html"
    return html_to_text(value) if ("html" in kind or "xml" in kind) else clean_text(value)


def _struct_to_utc(value: Any) -> datetime | None:
    # feedparser's *_parsed values are time.struct_time already converted to UTC.
    if not isinstance(value, time.struct_time | tuple) or len(value) < 6:
        return None
    try:
        year, month, day, hour, minute, second = (int(v) for v in value[:6])
        return datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def strip_doctype(data: bytes) -> bytes:
    """Remove every ``<!DOCTYPE …>`` (with its ``[…]`` internal subset) from an XML
    document, so no entity it declares can be expanded. UTF-16/32 documents are decoded
    and re-encoded the same way so their declared encoding stays true."""
    encoding = _wide_encoding(data)
    if encoding is None:
        return _strip_doctype_bytes(data)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        return data  # feedparser will report the bad bytes; nothing to expand in noise
    if "<!" not in text:
        return data
    stripped = _strip_doctype_bytes(text.encode("utf-8"))
    # "utf-16"/"utf-32" re-encode with a BOM, so the parser still detects them.
    return stripped.decode("utf-8").encode(encoding)


# What the scan steps over: comments, CDATA sections and processing instructions (an
# unterminated one runs to the end), DOCTYPEs, and element starts (the end of the prolog).
_TOKEN = re.compile(
    rb"<!--.*?(?:-->|\Z)|<!\[CDATA\[.*?(?:\]\]>|\Z)|<\?.*?(?:\?>|\Z)|(<!doctype)|(<[A-Za-z_])",
    re.IGNORECASE | re.DOTALL,
)
_ELEMENT_START = re.compile(rb"<[A-Za-z_]")
# After the root element starts, element starts no longer matter: the scan steps from
# comment to CDATA to DOCTYPE without a turn of the loop per element ("<a" hides no
# other token, so what it finds is the same).
_BODY_TOKEN = re.compile(
    rb"<!--.*?(?:-->|\Z)|<!\[CDATA\[.*?(?:\]\]>|\Z)|<\?.*?(?:\?>|\Z)|(<!doctype)",
    re.IGNORECASE | re.DOTALL,
)


def _strip_doctype_bytes(data: bytes) -> bytes:
    out: list[bytes] = []
    pos = scan = 0
    in_prolog = True
    while (match := (_TOKEN if in_prolog else _BODY_TOKEN).search(data, scan)) is not None:
        if in_prolog and match.group(2):  # the root element: the prolog is over
            in_prolog = False
            scan = match.end()
        elif match.group(1):
            out.append(data[pos : match.start()])
            pos = scan = _doctype_end(data, match.end())
            if pos == len(data):  # unterminated: keep the document from its root element
                element = _ELEMENT_START.search(data, match.end())
                pos = scan = element.start() if element else pos
        elif in_prolog and not data.startswith(b"<?", match.start()):
            # Comments (and stray CDATA) before the root are dropped: feedparser reads
            # ENTITY and DOCTYPE lines out of the prolog text, comments included.
            out.append(data[pos : match.start()])
            pos = scan = match.end()
        else:
            scan = match.end()  # content: a "<!DOCTYPE" inside CDATA is just text
    out.append(data[pos:])
    return b"".join(out)


def _doctype_end(data: bytes, i: int) -> int:
    """Index just past the DOCTYPE that starts before ``i``: the first '>' outside quotes,
    comments and the bracketed internal subset."""
    depth = 0
    quote = 0
    n = len(data)
    while i < n:
        c = data[i]
        if quote:
            if c == quote:
                quote = 0
        elif c in b"\"'":
            quote = c
        elif data.startswith(b"<!--", i):
            end = data.find(b"-->", i + 4)
            if end < 0:
                break
            i = end + 3
            continue
        elif c == ord("["):
            depth += 1
        elif c == ord("]"):
            depth = max(0, depth - 1)
        elif c == ord(">") and depth == 0:
            return i + 1
        i += 1
    return n


def _wide_encoding(data: bytes) -> str | None:
    if data.startswith((b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00")):
        return "utf-32"
    if data.startswith((b"\xfe\xff", b"\xff\xfe")):
        return "utf-16"
    if data.startswith(b"\x00\x00\x00<"):
        return "utf-32-be"
    if data.startswith(b"<\x00\x00\x00"):
        return "utf-32-le"
    if data.startswith(b"\x00<"):
        return "utf-16-be"
    if data.startswith(b"<\x00"):
        return "utf-16-le"
    return None


# --------------------------------------------------------------------------- JSON Feed


def _json_feed_format(doc: Any, media_type: str) -> str | None:
    """ "json10", "json11" or "json" for a JSON Feed document, else None."""
    if not isinstance(doc, dict):
        return None
    version = doc.get("version")
    version = version.strip().rstrip("/") if isinstance(version, str) else ""
    number = version.rsplit("/", 1)[-1]
    has_items = isinstance(doc.get("items"), list)
    declared = "jsonfeed.org" in version or (media_type == "application/feed+json" and has_items)
    # Some generators write a bare "1.1": accept that only with JSON Feed's own field
    # names, so other JSON with a version and a list of items is not taken for a feed.
    shaped = has_items and (
        "home_page_url" in doc
        or "feed_url" in doc
        or any(isinstance(i, dict) and _JSON_ITEM_KEYS & i.keys() for i in doc["items"][:10])
    )
    if not declared and not (number in {"1", "1.0", "1.1"} and shaped):
        return None
    return {"1": "json10", "1.0": "json10", "1.1": "json11"}.get(number, "json")


def _parse_json_feed(body: bytes, url: str | None, media_type: str) -> ParsedFeed:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError
        raise ParseError("not a feed: the document is not valid JSON") from None
    fmt = _json_feed_format(doc, media_type)
    if fmt is None:
        raise ParseError("not a feed: JSON, but not a JSON Feed (no jsonfeed.org version)")
    feed_link = _safe_link(doc.get("home_page_url"), url)
    base = url or feed_link
    feed_author = _json_author(doc)
    items = doc.get("items")
    entries = []
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict):
                entries.append(_json_entry(item, base, feed_author))
                if len(entries) >= MAX_ENTRIES:
                    break
    warning = None if isinstance(items, list) else "the JSON Feed has no items list"
    return ParsedFeed(
        title=_cut(one_line(_str(doc.get("title"))), MAX_TITLE),
        link=feed_link,
        format=fmt,
        entries=entries,
        warning=warning,
    )


def _json_entry(item: dict[str, Any], base: str | None, feed_author: str | None) -> FeedEntry:
    ident = item.get("id")
    if isinstance(ident, int | float) and not isinstance(ident, bool):
        ident = str(ident)  # the spec says string; numbers are common in the wild
    link = _safe_link(item.get("url"), base) or _safe_link(item.get("external_url"), base)
    content = _convert(_str(item.get("content_html")), "text/html") or _convert(
        _str(item.get("content_text")), "text/plain"
    )
    return FeedEntry(
        guid=_ident(ident),
        link=link,
        title=_cut(one_line(html_to_text(_str(item.get("title"))[:_MAX_MARKUP])), MAX_TITLE),
        summary=_cut(_convert(_str(item.get("summary")), "text/plain"), MAX_TEXT),
        content=_cut(content, MAX_TEXT),
        author=_json_author(item) or feed_author,
        published=_rfc3339(item.get("date_published")) or _rfc3339(item.get("date_modified")),
    )


def _json_author(obj: dict[str, Any]) -> str | None:
    # 1.1 has "authors" (a list); 1.0 had "author" (an object).
    candidates = obj.get("authors")
    if not isinstance(candidates, list):
        candidates = [obj.get("author")]
    names = [
        one_line(c["name"])
        for c in candidates
        if isinstance(c, dict) and isinstance(c.get("name"), str)
    ]
    joined = ", ".join(n for n in names if n)
    return _cut(joined, MAX_FIELD) or None


def _rfc3339(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()[:64]
    try:
        when = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        try:  # some JSON feeds use RFC 822 dates
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # RFC 3339 requires an offset; UTC is the guess
    try:
        return when.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


# --------------------------------------------------------------------------- helpers


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _ident(value: Any) -> str | None:
    text = " ".join(value.split()) if isinstance(value, str) else ""
    return text[:MAX_FIELD] or None


def _safe_link(value: Any, base: str | None) -> str | None:
    """An absolute http(s) link, or None (relative links resolved against ``base``)."""
    if not isinstance(value, str) or not value.strip():
        return None
    link = value.strip()
    if len(link) > MAX_FIELD:
        return None
    try:
        if base:
            link = urljoin(base, link)
        parts = urlsplit(link)
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return None
    return link


def _cut(text: str, limit: int) -> str:
    return text[:limit].rstrip() if len(text) > limit else text


def _describe(exc: Any) -> str:
    if exc is None:
        return "the feed is malformed"
    message = one_line(str(exc))
    name = type(exc).__name__
    return _cut(f"{name}: {message}" if message else name, 300)
