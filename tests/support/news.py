"""Invented wire copy and a local news site: feeds with ETags and article pages, served by
a ``LocalServer``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape

from tests.support.http import LocalServer, Request, Response

START = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
CHANNEL = "console:newsroom"


# ---------------------------------------------------------------- invented news

QUAKE_FACTS = [
    "A magnitude 6.1 earthquake struck the hill town of Varenna Alta at 04:12 on Monday, "
    "damaging 240 homes and cutting power to 18,000 people.",
    "Regional officials said 14 people were treated in hospital and that no deaths had "
    "been reported by midday.",
    "The quake's epicentre lay 9 kilometres south of the town at a depth of 11 kilometres, "
    "according to the national seismology office.",
    "Engineers closed the Varenna viaduct after finding cracks in two of its piers.",
    "The damage means that about 3,000 commuters will need a 40-minute detour until the "
    "viaduct is repaired.",
    "The regional government will decide on Friday whether to request national emergency funds.",
]
HARBOUR_FACTS = [
    "The city of Lowmere opened its rebuilt harbour wall on Saturday after a three-year "
    "project costing 62 million euros.",
    "The new wall is 1.4 kilometres long and two metres higher than the structure it replaces.",
    "Harbour master Ilse Brandt said the wall would protect 900 homes from winter storm surges.",
    "Fishing crews had campaigned for the rebuild since a storm breached the old wall in 2021.",
    "A second phase, extending the wall to the marina, is expected to start next spring.",
]


def article_page(title: str, paragraphs: list[str]) -> str:
    body = "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return f"""<!doctype html><html><head><title>{escape(title)}</title></head><body>
<nav><a href="/">Home</a> <a href="/world">World</a></nav>
<article><h1>{escape(title)}</h1><p class="byline">By Test Reporter</p>{body}</article>
<footer>Copyright 2026 Test Outlet. All rights reserved.</footer></body></html>"""


def rss(title: str, items: list[dict[str, str]]) -> str:
    parts = []
    for item in items:
        parts.append(
            f"""<item><title>{escape(item["title"])}</title><link>{escape(item["link"])}</link>
<guid>{escape(item["guid"])}</guid><pubDate>{item["date"]}</pubDate>
<description>{escape(item.get("summary", ""))}</description></item>"""
        )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>{escape(title)}</title><link>http://example.invalid/</link>
<description>test feed</description>{"".join(parts)}</channel></rss>"""


def date(hours: float) -> str:
    return format_datetime(START - timedelta(hours=hours))


class Site:
    """A local news site: feeds with ETags (304 on a match) and article pages."""

    def __init__(self, server: LocalServer) -> None:
        self.server = server
        self.feeds: dict[str, str] = {}

    def feed(self, path: str, body: str, *, etag: bool = True) -> str:
        self.feeds[path] = body

        def handler(request: Request) -> Response:
            current = self.feeds[path]
            tag = f'"{abs(hash(current))}"'
            if etag and request.headers.get("if-none-match") == tag:
                return Response(304, b"", {"ETag": tag})
            headers = {"Content-Type": "application/rss+xml; charset=utf-8"}
            if etag:
                headers["ETag"] = tag
            return Response(200, current, headers)

        return self.server.route(path, handler)

    def page(self, path: str, title: str, paragraphs: list[str]) -> str:
        return self.server.route(
            path,
            Response(200, article_page(title, paragraphs), {"Content-Type": "text/html"}),
        )


def quake_items(site: Site) -> list[dict[str, str]]:
    return [
        {
            "title": "Magnitude 6.1 earthquake damages 240 homes in Varenna Alta",
            "link": site.page("/a/quake.html", "Quake damages 240 homes", QUAKE_FACTS),
            "guid": "one-quake",
            "date": date(2),
            "summary": QUAKE_FACTS[0],
        }
    ]


def harbour_items(site: Site) -> list[dict[str, str]]:
    return [
        {
            "title": "Lowmere opens its rebuilt harbour wall",
            "link": site.page("/a/harbour.html", "Lowmere harbour wall", HARBOUR_FACTS),
            "guid": "one-harbour",
            "date": date(5),
            "summary": HARBOUR_FACTS[0],
        }
    ]


# A local paper's feed with its items' whole text (tests/test_desk.py, test_health.py).
FERRY_TEXT = (
    "The only car ferry to Gull Island will stay out of service for at least three weeks "
    "after inspectors found a 40-centimetre crack in its hull during routine dry dock work, "
    "the operator said on Monday. Islanders will rely on a passenger launch that carries 60 "
    "people and no vehicles. The operator said a replacement vessel had been requested from "
    "a partner line but would not arrive before the end of the month. The island council "
    "called an emergency meeting for Tuesday evening."
)
LIBRARY_TEXT = (
    "Eastfield's central library will open from 11:00 to 16:00 on Sundays from April, the "
    "city said, after a survey of 3,200 residents found weekend hours were the most "
    "requested change. The extra day will be staffed by moving two part-time posts from the "
    "mobile library service, which keeps its weekday routes."
)
ITEM = """<item><guid>{guid}</guid><title>{title}</title><link>{link}</link>
<pubDate>{date}</pubDate><description>{text}</description></item>"""
VALLEY_RSS = f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Valley Post</title><link>https://valleypost.example/</link>
{
    ITEM.format(
        guid="vp-2026-0302-ferry",
        title="Gull Island ferry suspended after hull crack found in dry dock",
        link="https://valleypost.example/news/gull-island-ferry-suspended",
        date="Mon, 02 Mar 2026 07:40:00 GMT",
        text=FERRY_TEXT,
    )
}
{
    ITEM.format(
        guid="vp-2026-0302-library",
        title="Eastfield library to open on Sundays from April",
        link="https://valleypost.example/news/eastfield-library-sundays",
        date="Mon, 02 Mar 2026 06:15:00 GMT",
        text=LIBRARY_TEXT,
    )
}
</channel></rss>"""

VALLEY_FERRY = "Gull Island ferry suspended after hull crack found in dry dock"


# ------------------------------------------- two outlets, one story, one other story


def outlet_rss(outlet: str, items: list[tuple[str, str, str]]) -> str:
    body = "".join(
        f"<item><title>{title}</title><guid>{guid}</guid><description>{text}</description>"
        "<pubDate>Tue, 24 Nov 2026 07:40:00 GMT</pubDate></item>"
        for guid, title, text in items
    )
    head = f'<?xml version="1.0"?><rss version="2.0"><channel><title>{outlet}</title>'
    return f"{head}{body}</channel></rss>"


HARBOUR = (
    "Rotterdam harbour pilots strike for a second day",
    "Pilots at the port of Rotterdam stayed off the job for a second day on Tuesday, "
    "leaving dozens of container ships at anchor as talks over pensions stalled.",
)

HARBOUR_AGAIN = (
    "Rotterdam pilots' strike leaves container ships waiting",
    "A strike by harbour pilots at Rotterdam entered its second day on Tuesday, with "
    "container ships queuing at anchor while pension talks remain stalled.",
)

TURBINE = (
    "Orkney tidal array sets an output record",
    "The four turbines off Orkney ran for 21 days without a stop, their developer said.",
)
