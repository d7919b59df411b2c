"""Forgiving onboarding: what an admin pastes is often not a feed's URL.

- ``feed://example.org/rss`` and ``feed:https://example.org/rss`` (what browsers and
  podcast pages link) are the feed at ``http(s)://…``.
- A site's home page names its feeds in ``<link rel="alternate" type="application/rss+xml"
  href="…">`` tags in its head: ``feed_links`` finds them, so ``/brief feed add
  https://example.org/`` can add the one it finds or list the choices.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import lxml.html
from lxml import etree

from .text import one_line

FEED_TYPES = {
    "application/rss+xml": "RSS",
    "application/atom+xml": "Atom",
    "application/feed+json": "JSON Feed",
    "application/json": "JSON Feed",
    "application/rdf+xml": "RSS",
    "application/xml": "RSS",
    "text/xml": "RSS",
}
MAX_LINKS = 20
MAX_PAGE_BYTES = 2_000_000  # the head is at the top; a home page needs no more


@dataclass(frozen=True)
class FeedLink:
    url: str
    title: str
    kind: str  # RSS, Atom, JSON Feed


def normalise_feed_url(url: str) -> str:
    """``feed://host/path`` -> ``http://host/path``; ``feed:https://…`` -> ``https://…``;
    anything else unchanged."""
    text = url.strip()
    scheme, sep, rest = text.partition(":")
    if sep and scheme.lower() == "feed":
        if rest.startswith("//"):
            return "http:" + rest
        if rest.lower().startswith(("http://", "https://")):
            return rest
    return text


def feed_links(page: bytes | str, base_url: str) -> list[FeedLink]:
    """The feeds an HTML page announces, in page order, without duplicates; relative
    links resolved against ``base_url`` (or the page's ``<base href>``); only http(s)."""
    data = page[:MAX_PAGE_BYTES]
    if not data.strip():
        return []
    try:
        root = lxml.html.document_fromstring(data)
    except (etree.ParserError, ValueError):
        return []
    base = base_url
    for element in root.iter("base"):
        href = element.get("href")
        if href:
            base = urljoin(base_url, href.strip())
            break
    found: dict[str, FeedLink] = {}
    for element in root.iter("link", "a"):
        rel = {r.lower() for r in (element.get("rel") or "").split()}
        kind = FEED_TYPES.get((element.get("type") or "").split(";")[0].strip().lower())
        href = (element.get("href") or "").strip()
        if "alternate" not in rel or kind is None or not href:
            continue
        url = normalise_feed_url(urljoin(base, href))
        if urlsplit(url).scheme not in {"http", "https"}:
            continue
        title = one_line(element.get("title") or "") or kind
        found.setdefault(url, FeedLink(url=url, title=title, kind=kind))
        if len(found) >= MAX_LINKS:
            break
    return list(found.values())


__all__ = ["FeedLink", "feed_links", "normalise_feed_url"]
