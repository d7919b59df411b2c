"""Tenant isolation: each channel gets a briefing built only from the feeds it follows.

A story can be merged from feeds that different channels follow (a private channel's
feed and a public channel's feed report the same event). One briefing for all of them
would put the private feed's bullets and links in the public channel, and
``/brief more`` would show them there. So a story has one briefing per *view*: the set
of the story's feeds a channel follows, each under the name that channel gave it.
Channels that see a story alike (the usual case: one channel, or channels following
the same feeds) share one briefing, the story's own id.

The rule that keeps this safe over time: a briefing's content only ever comes from a
view that every channel it was routed to shares. When that stops holding (the story
gains a source that only some of them follow, or a recipient has unsubscribed), the
briefing is left as it was and the channels whose view changed move to a briefing of
their own; their post is updated in place (the outbox record is per channel and story,
see ``SqliteStore.post_state``), so nothing is posted twice.

    story --plan_views--> [View(briefing id, feeds + names, channels)] --condense, route

(the briefing stage, ``bot.brief.Briefer.brief_story``, applies the plan).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .models import Feed, briefing_id_for
from .redact import redact_url


@dataclass(frozen=True)
class View:
    """One briefing of a story: its id, the feeds it is condensed from (feed id ->
    publisher name shown), and the channels it is routed to."""

    briefing_id: str
    key: str
    labels: Mapping[int, str] = field(default_factory=dict)
    channels: tuple[str, ...] = ()


def feed_label(feed: Feed, name: str | None = None) -> str:
    """A feed's publisher name as one channel sees it: the channel's own name for it,
    else the feed's title, else its URL without credentials."""
    return name or feed.title or redact_url(feed.url)


def view_key(labels: Mapping[int, str]) -> str:
    """The canonical text of a view (stored with the briefing)."""
    return json.dumps(sorted([f, n] for f, n in labels.items()), ensure_ascii=False)


def plan_views(
    main_id: str,
    audience: Mapping[str, Mapping[int, str]],
    routes: Sequence[tuple[str, str]],
    blocked: frozenset[str] = frozenset(),
) -> list[View]:
    """Which briefing each channel following a story gets.

    ``audience``: channel -> its view (feed -> name) of the story. ``routes``: the
    (channel, briefing id) pairs already routed for this story, oldest first.
    ``blocked``: ids that must not be used (taken by another story). Channels with the
    same view share a briefing; a group keeps a briefing it already has only if every
    channel that briefing was ever routed to still follows all of the group's feeds
    under the same names (else the new content would reach a channel not entitled to
    it). Pure: the same inputs give the same plan, so a repeat after a crash routes to
    the same ids."""
    groups: dict[str, list[str]] = {}
    labels_of: dict[str, Mapping[int, str]] = {}
    for channel in sorted(audience):
        key = view_key(audience[channel])
        groups.setdefault(key, []).append(channel)
        labels_of[key] = audience[channel]
    recipients: dict[str, set[str]] = {}
    current: dict[str, str] = {}
    for channel, briefing_id in routes:
        recipients.setdefault(briefing_id, set()).add(channel)
        current[channel] = briefing_id  # the latest route is the channel's briefing
    used = set(blocked)
    plans: list[View] = []
    # Largest group first: it keeps the story's own id when it is free.
    for key, channels in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        wanted = labels_of[key]

        def fits(briefing_id: str, wanted: Mapping[int, str] = wanted) -> bool:
            return briefing_id not in used and all(
                _entitled(audience.get(r), wanted) for r in recipients.get(briefing_id, ())
            )

        held = list(dict.fromkeys(current[c] for c in channels if c in current))
        clean = [b for b in held if fits(b)]
        if main_id in clean or (not clean and fits(main_id)):
            chosen = main_id
        elif clean:
            chosen = clean[0]
        else:
            attempt = 0
            while not fits(chosen := briefing_id_for(f"{main_id}|{key}|{attempt}")):
                attempt += 1
        used.add(chosen)
        plans.append(View(chosen, key, labels_of[key], tuple(channels)))
    return plans


def _entitled(view: Mapping[int, str] | None, wanted: Mapping[int, str]) -> bool:
    """Whether a channel with ``view`` of the story may read a briefing condensed from
    ``wanted``: it follows each of those feeds, under the same name."""
    return view is not None and all(view.get(f) == n for f, n in wanted.items())


__all__ = ["View", "feed_label", "plan_views", "view_key"]
