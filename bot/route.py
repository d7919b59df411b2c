"""Routing: which channels accept a briefing (their include/exclude word filters)."""

from __future__ import annotations

from .models import Briefing, Channel
from .search import words


def briefing_words(briefing: Briefing) -> set[str]:
    """The words a filter is matched against: headline, lead, bullets and sections."""
    text = " ".join(
        [
            briefing.headline,
            briefing.lead,
            *(b.text for b in briefing.bullets),
            briefing.what_happened,
            briefing.why_it_matters,
            briefing.what_to_watch,
        ]
    )
    return set(words(text))


def channel_accepts(channel: Channel, briefing: Briefing) -> bool:
    """A channel with include words takes a briefing only if one of them occurs; any
    exclude word keeps it out. Words match whole words, case-insensitively."""
    if not channel.include_words and not channel.exclude_words:
        return True
    present = briefing_words(briefing)

    def hit(phrase: str) -> bool:
        parts = words(phrase)
        return bool(parts) and all(p in present for p in parts)

    if any(hit(w) for w in channel.exclude_words):
        return False
    return not channel.include_words or any(hit(w) for w in channel.include_words)
