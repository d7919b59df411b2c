"""Link identity: when two links name the same article.

Kept small and on its own so that every "is this the same article" decision (storage's
"is this entry new", the clusterer's "one source per article") shares one rule."""

from __future__ import annotations

from .models import canonical_url


def canonical_link(url: str | None) -> str | None:
    """The identity of an article link: lower-case scheme and host, no fragment, no
    default port, no tracking parameters (``models.canonical_url``). None for none."""
    if not url or not url.strip():
        return None
    return canonical_url(url)


__all__ = ["canonical_link"]
