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
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .models import Briefing, Feed, StoredEntry, Story, briefing_id_for
from .redact import redact_url

if TYPE_CHECKING:  # the engine imports the whole pipeline; this only calls into it
    from .engine import Engine


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


async def brief_story(engine: Engine, story: Story, entry: StoredEntry | None) -> list[Briefing]:
    """Condense and route a story for every channel that follows one of its feeds: one
    briefing per view (see ``plan_views``). ``entry`` is the entry that just joined
    (None: only route channels that do not have the story yet). Returns the briefings
    made or routed, the story's largest audience first."""
    db, store = engine.db, engine.store
    audience_rows = await db(store.story_audience, story.id)
    # The story's feeds without its material (the article texts: the condenser reads them).
    story_feeds = await db(store.briefing_feed_ids, story.briefing_id)
    feed_ids = sorted({r[1] for r in audience_rows} | set(story_feeds))
    feeds = {f.id: f for f in [await db(store.get_feed, i) for i in feed_ids] if f is not None}
    audience: dict[str, dict[int, str]] = {}
    for channel_id, feed_id, name in audience_rows:
        if feed_id in feeds:
            audience.setdefault(channel_id, {})[feed_id] = feed_label(feeds[feed_id], name)
    routes = await db(store.story_routes, story.id)
    stored = await db(store.story_views, story.id)
    if not audience:
        # No channel follows the story's feeds (any more). Its own briefing stays current
        # for search and related, unless a channel has already been given it.
        if any(b == story.briefing_id for _, b in routes):
            return []
        labels = {f: feed_label(feeds[f]) for f in story_feeds if f in feeds}
        full = View(story.briefing_id, view_key(labels), labels)
        return [await engine._condense(story, full)]
    blocked: frozenset[str] = frozenset()
    while True:
        plans = plan_views(story.briefing_id, audience, routes, blocked)
        fresh = [p.briefing_id for p in plans if p.briefing_id not in stored]
        owners = await db(store.briefing_stories, fresh)
        clash = {b for b, owner in owners.items() if owner != story.id}
        if not clash:
            break
        blocked |= clash  # a 40-bit id of another story: take the next candidate
    routed: dict[str, set[str]] = {}
    for channel_id, briefing_id in routes:
        routed.setdefault(briefing_id, set()).add(channel_id)
    made: list[Briefing] = []
    for plan in plans:
        changed = (
            plan.briefing_id not in stored
            or stored[plan.briefing_id] != plan.key
            or (entry is not None and entry.feed_id in plan.labels)
        )
        targets: Sequence[str] = plan.channels
        briefing = None if changed else await db(store.get_briefing, plan.briefing_id)
        if briefing is None:
            briefing = await engine._condense(story, plan)
        else:
            # Nothing new for this view: only channels that do not have it yet (new
            # followers, or channels moving to it) are routed.
            have = routed.get(plan.briefing_id, set())
            targets = [c for c in plan.channels if c not in have]
        if targets:
            await engine.route(briefing, story, channels=targets)
        made.append(briefing)
    return made


async def route_backlog(engine: Engine, channel_id: str, feed_id: int, limit: int) -> int:
    """Give a channel that just subscribed to an already-followed feed the briefings of
    the stories of the feed's newest ``limit`` entries, each as the channel's own view.
    Returns how many of those entries reached the channel (as a first poll counts)."""
    if limit <= 0:
        return 0
    routed = 0
    done: dict[int, bool] = {}
    for story_id in await engine.db(engine.store.feed_newest_stories, feed_id, limit):
        if story_id not in done:
            story = await engine.db(engine.store.get_story, story_id)
            made: list[Briefing] = []
            if story is not None:
                async with engine._story_locks.hold(story.id):
                    made = await brief_story(engine, story, None)
            ids = [b.id for b in made]
            done[story_id] = bool(await engine.db(engine.store.routed_ids, channel_id, ids))
        routed += done[story_id]
    return routed


__all__ = ["View", "brief_story", "feed_label", "plan_views", "route_backlog", "view_key"]
