"""OPML 2.0: the feed-list format every reader exports and imports.

``parse_opml`` reads files from strangers (``/brief import <url>``), so it refuses any
document type declaration before the XML parser sees it: no DTD means no entity
definitions, hence no "billion laughs" expansion and no external entities. Only the
five predefined XML entities and character references remain, which cannot expand.

Real exports are often not well-formed XML: a bare ``&`` in a title ("News & Views"),
HTML entities (``&eacute;``, ``&nbsp;``) that XML does not define. A document the
strict parser refuses is repaired once — a bare ``&`` becomes ``&amp;``, an HTML entity
its character reference, any other name stays as literal text — and parsed again.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime
from email.utils import format_datetime
from html.entities import html5

from .errors import ParseError
from .models import Feed
from .text import one_line

# A feed list is small; a bigger document is a mistake or an attack.
MAX_OPML_BYTES = 2_000_000
MAX_OUTLINES = 5_000

_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST)", re.IGNORECASE)
_URL_ATTRS = ("xmlUrl", "xmlurl", "xmlURL", "XMLURL")
# An ampersand and what may follow it: a character reference or an entity name.
_AMPERSAND = re.compile(rb"&(#[0-9]{1,8};|#[xX][0-9A-Fa-f]{1,8};|[A-Za-z][A-Za-z0-9]{0,31};)?")
_XML_ENTITIES = frozenset({b"amp;", b"lt;", b"gt;", b"quot;", b"apos;"})


def export_opml(title: str, feeds: Sequence[Feed], *, created: datetime | None = None) -> str:
    """The feeds as an OPML 2.0 document (one ``<outline type="rss">`` per feed)."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = one_line(title)
    if created is not None:
        ET.SubElement(head, "dateCreated").text = format_datetime(created)
    body = ET.SubElement(root, "body")
    for feed in feeds:
        name = one_line(feed.display_name)
        attrs = {"type": "rss", "text": name, "title": name, "xmlUrl": feed.url}
        ET.SubElement(body, "outline", attrs)
    ET.indent(root, space="  ")
    # ElementTree escapes &, <, > and quotes in text and attributes.
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def parse_opml(text: str | bytes) -> list[tuple[str, str | None]]:
    """The ``(feed URL, name)`` pairs of an OPML document, in document order, without
    duplicate URLs. Outlines nested in folders are included; outlines without an
    ``xmlUrl`` (folders, links) are skipped.

    Raises ``ParseError`` (one line) for anything that is not a safe, well-formed OPML
    document: a DOCTYPE or entity declaration, broken XML, another root element, or a
    document over ``MAX_OPML_BYTES``."""
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    if isinstance(text, str):
        # A str has been decoded already: an encoding declaration would now be wrong.
        data = re.sub(rb"^\s*<\?xml[^>]*\?>", b"", data.lstrip(b"\xef\xbb\xbf"), count=1)
    if len(data) > MAX_OPML_BYTES:
        raise ParseError(f"the OPML file is too large (over {MAX_OPML_BYTES // 1_000_000} MB)")
    if not data.strip():
        raise ParseError("the OPML file is empty")
    if _DTD.search(data):
        raise ParseError("OPML with a DOCTYPE or entity declarations is refused (unsafe XML)")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        repaired = _repair_ampersands(data)
        if repaired == data:
            raise ParseError(f"not a readable OPML file: {exc}") from None
        try:
            root = ET.fromstring(repaired)
        except (ET.ParseError, ValueError, LookupError):
            raise ParseError(f"not a readable OPML file: {exc}") from None
    except (ValueError, LookupError) as exc:  # e.g. an unknown encoding declaration
        raise ParseError(f"not a readable OPML file: {exc}") from None
    if _local(root.tag) != "opml":
        raise ParseError(f"not an OPML file (the root element is <{_local(root.tag)}>)")
    found: dict[str, str | None] = {}
    for count, outline in enumerate(root.iter()):
        if count > MAX_OUTLINES * 4:
            raise ParseError(f"the OPML file has too many elements (over {MAX_OUTLINES})")
        if _local(outline.tag) != "outline":
            continue
        url = next((outline.get(a) for a in _URL_ATTRS if outline.get(a)), None)
        if not url:
            continue
        url = url.strip()
        name = one_line(outline.get("title") or outline.get("text") or "") or None
        found.setdefault(url, name)
        if len(found) > MAX_OUTLINES:
            raise ParseError(f"the OPML file lists too many feeds (over {MAX_OUTLINES})")
    return list(found.items())


def _repair_ampersands(data: bytes) -> bytes:
    """``data`` with every ``&`` XML would refuse made legal: a bare one escaped, an
    HTML entity replaced by its character reference (so that the text means what the
    exporter meant), an unknown name kept as literal text."""

    def fix(match: re.Match[bytes]) -> bytes:
        ref = match.group(1)
        if ref is None:
            return b"&amp;"
        if ref.startswith(b"#") or ref in _XML_ENTITIES:
            return match.group(0)
        chars = html5.get(ref.decode("ascii"))
        if chars is None:
            return b"&amp;" + ref
        return b"".join(b"&#%d;" % ord(c) for c in chars)

    return _AMPERSAND.sub(fix, data)


def _local(tag: object) -> str:
    # Comments and processing instructions have a function as tag; namespaces are {ns}x.
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


__all__ = ["MAX_OPML_BYTES", "export_opml", "parse_opml"]
