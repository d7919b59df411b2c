"""The admin commands about feeds: add (with discovery from a home page), refresh,
remove, and OPML export and import. ``AdminCommands`` has them with the rest."""

from __future__ import annotations

import re
from datetime import timedelta

from .. import netguard
from ..brief import Briefer
from ..discover import feed_links, normalise_feed_url
from ..errors import BlockedAddressError, FetchError, ParseError
from ..fetch import Fetcher
from ..ingest import Ingest
from ..models import Feed, Reply
from ..opml import export_opml, parse_opml
from ..parse import HTML_PAGE
from ..settings import Settings
from ..text import cut, one_line, plural
from .common import StoreLookups, _capped, _error, _info, _number

MAX_IMPORT_FEEDS = 500
REFRESH_AT_MOST_EVERY = timedelta(minutes=1)


class FeedAdmin(StoreLookups):
    """Feed add/refresh/remove, export and import; the stages they drive are set by
    ``AdminCommands.__init__`` (a new feed is polled and briefed by the ingest stage,
    a backlog routed by the briefing stage)."""

    settings: Settings
    ingest: Ingest
    briefer: Briefer
    fetcher: Fetcher

    async def feed_add(
        self, channel_id: str, url: str, name: str | None, *, discover: bool = True
    ) -> Reply:
        url = normalise_feed_url(url)
        try:
            netguard.check_url_syntax(url)
        except BlockedAddressError as exc:
            return _error(f"cannot add {cut(url, 100)}: {exc}")
        current = await self.db.first(self.store.channel_feeds, channel_id)
        duplicate = next((f for f in current if f.url == url), None)
        if duplicate is not None:
            return _error(
                f"this channel already follows {one_line(duplicate.display_name)} "
                f"(feed {_number(duplicate)})"
            )
        known = await self.db.first(self.store.feed_by_url, url)
        feed, subscribed = await self.ingest.add_feed(channel_id, url, name)
        mine = await self._channel_feed(channel_id, feed.id)
        if not subscribed:  # another admin added it a moment ago
            return _error(
                f"this channel already follows {one_line(name or feed.display_name)} "
                f"(feed {_number(mine or feed)})"
            )
        # One poll now, so the admin learns at once whether the URL is a working feed.
        # The engine's flood guard briefs only the newest few entries of the backlog. A
        # feed other channels follow is polled too (a conditional GET): the answer, and
        # how long it takes, must not tell the admin that another tenant follows it.
        report = await self.ingest.poll_feed(feed)
        fresh = await self.db.first(self.store.get_feed, feed.id) or feed
        if report.failures:
            reason = fresh.last_error or (report.errors[-1] if report.errors else "it failed")
            # An unusable URL is not left subscribed: the admin fixes it and adds again.
            await self.db.first(self.store.unsubscribe, channel_id, feed.id)
            if discover and HTML_PAGE in reason:
                return await self._discover(channel_id, url, name)
            return _error(
                f"cannot use {cut(url, 100)}: {one_line(reason)}. The feed was not added."
            )
        briefed = report.briefed_entries
        if known is not None:
            # Its backlog was recorded before this channel came: the channel gets the
            # newest few of its stories, as a first poll would give it.
            limit = max(self.settings.first_poll_limit - briefed, 0)
            briefed += await self.briefer.route_backlog(channel_id, feed.id, limit)
        title = one_line(name or fresh.display_name)
        entries = await self.db.first(self.store.feed_entry_count, feed.id)
        if entries == 0:
            return _info(f"Added “{title}” (feed {_number(mine or fresh)}): it has no entries yet.")
        detail = plural(entries, "entry")
        if briefed:
            detail += f"; briefed the newest {briefed}, the rest are recorded as already seen"
        return _info(f"Added “{title}” (feed {_number(mine or fresh)}): {detail}.")

    async def _discover(self, channel_id: str, url: str, name: str | None) -> Reply:
        """``url`` is a web page, not a feed: add the feed it announces (its
        ``<link rel="alternate">``), or list them when it announces several."""
        try:
            page = await self.fetcher.fetch_page(url)
        except (FetchError, BlockedAddressError) as exc:
            return _error(f"cannot use {cut(url, 100)}: {one_line(str(exc))}; not added")
        links = feed_links(page.body, page.url)
        if not links:
            return _error(
                f"{cut(url, 100)} is a web page, not a feed, and it names no feed "
                '(no <link rel="alternate"> to RSS, Atom or JSON Feed); not added: find '
                "the feed's own link on the site"
            )
        if len(links) > 1:
            choices = [f"  {cut(link.title, 60)} ({link.kind}): {link.url}" for link in links]
            return _info(
                "\n".join(
                    [
                        f"{cut(url, 100)} is a web page naming {len(links)} feeds; "
                        "add the one you want with /brief feed add <url>:",
                        *_capped(choices),
                    ]
                )
            )
        found = links[0]
        reply = await self.feed_add(channel_id, found.url, name, discover=False)
        prefix = f"{cut(url, 100)} is a web page; it names the feed {found.url}. "
        return reply.model_copy(update={"text": prefix + reply.text})

    async def _own_feed(self, channel_id: str, ref: str) -> Feed | None:
        feeds = await self.db.first(self.store.channel_feeds, channel_id)
        return next((f for f in feeds if str(_number(f)) == ref or f.url == ref), None)

    async def feed_refresh(self, channel_id: str, ref: str) -> Reply:
        """Check one of the channel's feeds now (after fixing it, or to see whether it
        works again): a failing feed's back-off is not waited out. At most once a
        minute per feed, whoever asks: the site is someone else's server."""
        feed = await self._own_feed(channel_id, ref)
        if feed is None:
            return _no_such_feed(ref)
        title = one_line(feed.display_name)
        now = self.clock.now()
        last = max((t for t in (feed.last_success_at, feed.last_error_at) if t), default=None)
        if last is not None and now - last < REFRESH_AT_MOST_EVERY:
            wait = int((REFRESH_AT_MOST_EVERY - (now - last)).total_seconds()) + 1
            return _error(
                f"“{title}” (feed {_number(feed)}) was checked {int((now - last).total_seconds())} "
                f"s ago; try again in {wait} s"
            )
        report = await self.ingest.poll_feed(feed)
        fresh = await self._own_feed(channel_id, ref) or feed
        if report.failures:
            return _error(
                f"“{title}” (feed {_number(feed)}) still fails: "
                f"{cut(one_line(fresh.last_error or 'it failed'), 200)}; it is retried by "
                "itself, with a growing wait"
            )
        if report.new_entries == 0:
            return _info(f"Checked “{title}” (feed {_number(feed)}) now: nothing new.")
        detail = plural(report.new_entries, "new entry")
        if report.briefed_entries:
            detail += f", {plural(report.briefed_entries, 'briefing')} made or updated"
        return _info(f"Checked “{title}” (feed {_number(feed)}) now: {detail}.")

    async def feed_remove(self, channel_id: str, ref: str) -> Reply:
        feed = await self._own_feed(channel_id, ref)
        if feed is None:
            return _no_such_feed(ref)
        await self.db.first(self.store.unsubscribe, channel_id, feed.id)
        return _info(
            f"Removed “{one_line(feed.display_name)}” (feed {_number(feed)}) from this channel."
        )

    async def export(self, channel_id: str) -> Reply:
        feeds = await self.db.first(self.store.channel_feeds, channel_id)
        document = export_opml(f"SignalDesk feeds for {channel_id}", feeds)
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", channel_id).strip("-") or "channel"
        return _info(
            f"{plural(len(feeds), 'feed')} exported as OPML.",
            attachment=document,
            attachment_name=f"signaldesk-{safe}.opml",
        )

    async def import_feeds(self, channel_id: str, url: str | None, opml: str | None) -> Reply:
        source: str | bytes
        if url is not None:
            try:
                netguard.check_url_syntax(url)
                result = await self.fetcher.fetch(
                    url, accept="text/x-opml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
                )
            except FetchError as exc:
                return _error(f"cannot fetch {cut(url, 100)}: {exc}")
            source = result.body
        else:
            source = opml or ""
        try:
            outlines = parse_opml(source)
        except ParseError as exc:
            return _error(str(exc))
        if not outlines:
            return _error("the OPML file lists no feeds (no outline has an xmlUrl)")
        current = {f.url for f in await self.db.first(self.store.channel_feeds, channel_id)}
        added: list[str] = []
        duplicates: list[str] = []
        refused: list[str] = []
        for feed_url, name in outlines:
            label = one_line(name or feed_url)
            if len(added) >= MAX_IMPORT_FEEDS:
                refused.append(f"{label} (over the limit of {MAX_IMPORT_FEEDS} per import)")
                continue
            try:
                netguard.check_url_syntax(feed_url)
            except BlockedAddressError as exc:
                refused.append(f"{cut(label, 80)} ({exc})")
                continue
            if feed_url in current:
                duplicates.append(label)
                continue
            # Not polled here: an import can list hundreds of feeds. The scheduler polls
            # them on its next cycle (flood guard included); /brief feeds shows health.
            known = await self.db.first(self.store.feed_by_url, feed_url)
            feed, subscribed = await self.ingest.add_feed(channel_id, feed_url, name)
            (added if subscribed else duplicates).append(label)
            current.add(feed_url)
            if subscribed and known is not None and known.primed:
                # Followed elsewhere: its next poll brings this channel nothing of the
                # backlog, so the newest few come now, as for any new feed.
                limit = self.settings.first_poll_limit
                await self.briefer.route_backlog(channel_id, feed.id, limit)
        lines = [
            f"Imported {plural(len(added), 'feed')}; {len(duplicates)} skipped as "
            f"duplicate; {len(refused)} refused."
        ]
        for title, items in (("Added", added), ("Duplicate", duplicates), ("Refused", refused)):
            if items:
                shown = ", ".join(cut(i, 80) for i in items[:10])
                more = f" … and {len(items) - 10} more" if len(items) > 10 else ""
                lines.append(f"{title}: {shown}{more}")
        if added:
            lines.append("New feeds are fetched on the next poll; check them with /brief feeds.")
        return _info("\n".join(lines))


def _no_such_feed(ref: str) -> Reply:
    return _error(f"this channel follows no feed '{cut(ref, 80)}'; see /brief feeds for ids")
