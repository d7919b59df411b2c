"""The whole pipeline on each backend (PostgreSQL as SQLite): the engine polls real
feeds from a local server, clusters what two outlets report as one story, briefs it
and posts it once; a second poll (the feeds now answer 304) posts nothing more, and
the briefing is found by search. The same engine, the same ports: only the store
differs."""

from __future__ import annotations

from adapters.testing import RecordingPublisher
from bot.settings import load_settings
from storage.postgres import PostgresStore
from tests.support.http import LocalServer, Request, Response
from tests.support.news import HARBOUR, HARBOUR_AGAIN, TURBINE, outlet_rss
from tests.support.pipeline import engine_over


async def test_the_engine_briefs_each_story_once_on_both_backends(
    any_store: PostgresStore, local_server: LocalServer
) -> None:
    feeds = {
        "/wire.xml": outlet_rss("Wire", [("w-1", *HARBOUR), ("w-2", *TURBINE)]),
        "/daily.xml": outlet_rss("Daily", [("d-1", *HARBOUR_AGAIN)]),
    }

    def handler(req: Request) -> Response:
        if req.headers.get("if-none-match") == '"v1"':
            return Response(304, headers={"ETag": '"v1"'})
        return Response(200, feeds[req.path], {"ETag": '"v1"'})

    settings = load_settings(_env_file=None, allow_private_networks=True, fetch_pages=False)
    store = any_store
    publisher = RecordingPublisher()
    engine = engine_over(settings, store, publisher)
    for path in feeds:
        await engine.add_feed("console:desk", local_server.route(path, handler))
    report = await engine.poll_once()
    assert (report.feeds_polled, report.failures, report.new_entries) == (2, 0, 3)
    while await engine.deliver_once():  # a channel's queue goes out one head at a time
        pass
    posts = [p for p in publisher.posts if p.kind == "post"]
    # Two outlets on the strike are one story with two sources; the turbine its own.
    assert sorted((p.text, p.sources) for p in posts) == [
        ("Orkney tidal array sets an output record", 1),
        ("Rotterdam harbour pilots strike for a second day", 2),
    ]

    store.cap_schedule(engine.clock.now())  # both feeds due again; they answer 304 now
    again = await engine.poll_once()
    while await engine.deliver_once():
        pass
    assert (again.feeds_polled, again.not_modified, again.new_entries) == (2, 2, 0)
    assert [p for p in publisher.posts if p.kind == "post"] == posts  # nothing doubled
    found = store.search_briefings("pilots strike", limit=5)
    assert found and "Rotterdam" in found[0].headline
    await engine.aclose()
