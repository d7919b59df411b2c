"""Safe text: the shared hostile corpus (tests/hostile.py) through every renderer, and a
hostile feed through the whole pipeline into every publisher's payload.

What "safe" means, per platform:
- Slack: no ``<`` or ``>`` left outside the links the renderer built, so no ``<!channel>``,
  ``<@U…>``, ``<!subteam^…>`` or ``<url|forged label>``; links only http(s); mrkdwn
  ``verbatim``; Block Kit limits kept (``tests/test_slack_render.py`` checkers).
- Discord: no live mention or masked link, no markdown from feed text, allowed mentions
  off, embed limits kept (``tests/test_discord_render.py`` checkers).
- Console: no control character but the newline (ANSI escapes, carriage returns and
  backspaces cannot repaint the terminal), no zero-width or bidi character, and a source
  link only when it is http(s).
"""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from html import escape
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.console import render as console
from adapters.console.publisher import ConsolePublisher
from adapters.discord import render as discord_render
from adapters.discord.app import build_client
from adapters.discord.publisher import DiscordPublisher
from adapters.slack import render as slack_render
from adapters.slack.publisher import ChannelPacer, SlackPublisher
from bot.engine import Engine
from bot.fetch import Fetcher
from bot.models import Channel, Reply
from bot.settings import load_settings
from bot.urls import safe_url
from storage import SqliteStore
from storage.database import StoreRunner
from tests.support.discord_checks import assert_inert
from tests.support.discord_checks import assert_within_limits as assert_embed_within_limits
from tests.support.fake_discord_api import (
    CHANNEL_ID,
    TOKEN,
    FakeDiscord,
    fake_discord,  # noqa: F401  (fixture)
)
from tests.support.hostile import BAD_URLS, CORPUS, GOOD_URL, HUGE, INVISIBLE, corpus_briefing
from tests.support.http import LocalServer, Response
from tests.support.slack_checks import assert_safe, assert_within_limits
from tests.support.slack_fake import FakeSlack

# ------------------------------------------------------------------------- console

_URL_IN_PARENS = re.compile(r"\((\S+)\)$", re.MULTILINE)


def assert_console_safe(text: str) -> None:
    for ch in text:
        assert ch == "\n" or not (ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0), repr(ch)
    assert not set(text) & set(INVISIBLE)
    for line in text.splitlines():
        if re.match(r"^\s+\[\d+\] ", line) and (m := _URL_IN_PARENS.search(line)):
            assert m[1].startswith(("http://", "https://")), line[-200:]
            assert "@" not in m[1].split("/")[2], line[-200:]


def test_console_renderers() -> None:
    briefing = corpus_briefing()
    outputs = [
        console.render_briefing(briefing),
        console.render_briefing(briefing, full=True),
        console.render_reply(Reply(text=CORPUS + "\n" + CORPUS, briefings=[briefing], full=True)),
        console.render_reply(Reply(text=CORPUS, error=True)),
        console.render_digest([briefing] * 3),
    ]
    for text in outputs:
        assert_console_safe(text)
    links = _URL_IN_PARENS.findall(outputs[1])
    assert links == [GOOD_URL], "only the http(s) source is shown as a link"


@pytest.mark.parametrize("url", BAD_URLS)
def test_console_shows_no_link_for_a_bad_url(url: str) -> None:
    assert console.safe_url(url) is None


# ------------------------------------------------------------ one link policy

# URLs the three renderers used to judge differently (each had its own copy of the
# rule): a no-break space, a zero-width joiner in the host (the IDNA codec drops it,
# so the link went to another host), a port that is not one, a host no resolver can
# look up, a decomposed accent (only the console refused it), a long but legal link.
DISPUTED_URLS = [
    ("https://ok.example/a\u00a0b", False),
    ("https://ex\u200dample.com/", False),
    ("https://ok.example:99999/", False),
    ("https://" + "a" * 64 + ".example/", False),
    ("https://ok.example/cafe\u0301", True),
    ("https://ok.example/" + "p" * 1980, True),
]


@pytest.mark.parametrize(("url", "link"), DISPUTED_URLS + [(u, False) for u in BAD_URLS])
def test_every_platform_links_exactly_what_the_one_policy_allows(url: str, link: bool) -> None:
    assert (safe_url(url) is not None) is link
    for render in (console, slack_render, discord_render):
        assert (render.safe_url(url) is not None) is link, render.__name__


# --------------------------------------------------------------------------- Slack


def test_slack_renderers() -> None:
    briefing = corpus_briefing()
    payloads = [
        slack_render.briefing_message(briefing),
        slack_render.render_reply(Reply(briefings=[briefing], full=True)),
        slack_render.render_reply(Reply(text=CORPUS * 50, briefings=[briefing] * 20)),
        slack_render.render_reply(Reply(text=CORPUS, error=True, attachment=CORPUS * 500)),
        slack_render.digest_message([briefing] * 60),
        slack_render.update_note(briefing),
        slack_render.text_message(CORPUS * 300),
    ]
    for payload in payloads:
        assert_within_limits(payload)
        assert_safe(payload)
    links = re.findall(r"<(https?://[^|>]*)\|", str(payloads[1]))
    assert links and set(links) == {slack_render.safe_url(GOOD_URL)}


# ------------------------------------------------------------------------- Discord


def test_discord_renderers() -> None:
    briefing = corpus_briefing()
    for full in (False, True):
        embed = discord_render.render_briefing(briefing, full=full)
        assert_embed_within_limits(embed)
        assert_inert({"embeds": [embed.to_dict()]})
    messages = [
        discord_render.briefing_message(briefing),
        discord_render.render_reply(Reply(text=CORPUS * 50, briefings=[briefing] * 12, full=True)),
        discord_render.render_reply(Reply(text=CORPUS, error=True)),
        discord_render.digest_message([briefing] * 30),
        discord_render.update_note(briefing),
        discord_render.text_message(CORPUS * 300),
    ]
    for message in messages:
        payload = message.payload()
        assert payload["allowed_mentions"] == {"parse": []}
        assert len(payload.get("content") or "") <= discord_render.CONTENT_MAX
        # The briefing id in code style is the renderer's own markup, not the feed's.
        assert_inert(_without_own_markup(payload, briefing.id))
        for embed in message.embeds:
            assert_embed_within_limits(embed)


def _without_own_markup(payload: Any, briefing_id: str) -> Any:
    if isinstance(payload, str):
        own = payload.replace(f"`{briefing_id}`", briefing_id)
        return own.replace("[Read the source](", "Read the source (")
    if isinstance(payload, dict):
        return {k: _without_own_markup(v, briefing_id) for k, v in payload.items()}
    if isinstance(payload, list):
        return [_without_own_markup(v, briefing_id) for v in payload]
    return payload


# ------------------------------------------------------------------------ pipeline


def hostile_feed(base: str) -> str:
    """RSS whose channel title, item titles, summaries and links are the corpus."""
    items = []
    for n, url in enumerate([*BAD_URLS[:4], f"{base}/missing/4"]):
        title = (CORPUS + " " + HUGE) if n == 0 else f"Story {n}: {CORPUS}"
        summary = f"<p>{escape(CORPUS)}</p><script>alert(1)</script> Officials said {n}."
        items.append(
            f"<item><title>{escape(title)}</title><link>{escape(url)}</link>"
            f"<guid>hostile-{n}</guid><description>{escape(summary)}</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(CORPUS)}</title><link>{base}/</link><description>x</description>"
        f"{''.join(items)}</channel></rss>"
    )


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    server = await FakeSlack().start()
    try:
        yield server
    finally:
        await server.stop()


async def test_hostile_feed_through_the_pipeline_into_every_platform(
    local_server: LocalServer,
    fake_slack: FakeSlack,
    fake_discord: FakeDiscord,  # noqa: F811
) -> None:
    url = local_server.route(
        "/hostile.xml", Response(200, hostile_feed(local_server.base), {"Content-Type": "text/xml"})
    )
    settings = load_settings(
        database=":memory:", allow_private_networks=True, first_poll_limit=10, fetch_timeout=2.0
    )
    store = SqliteStore.open(":memory:")
    terminal = io.StringIO()
    slack = SlackPublisher(
        AsyncWebClient(token="xoxb-test", base_url=fake_slack.api_url), pacer=ChannelPacer(0)
    )
    client = build_client()
    await client.login(TOKEN)
    discord = DiscordPublisher(client, min_interval=0)
    engine = Engine(
        settings,
        store,
        fetcher=Fetcher(settings),
        publishers={"console": ConsolePublisher(terminal), "slack": slack, "discord": discord},
        runner=StoreRunner(store),
    )
    channels = ["console:general", "slack:C1", f"discord:{CHANNEL_ID}"]
    try:
        for channel in channels:
            await engine.add_feed(channel, url)
        report = await engine.poll_once()
        assert report.briefed_entries == 5 and not report.errors
        # The shared hostile text makes the entries one story: one briefing, 5 sources.
        briefings = len(report.briefings)
        assert await engine.deliver_all() == briefings * len(channels)
        # A feed-health notice quotes the feed's (hostile) name: it goes out as text.
        for channel in channels:
            await engine.publishers[channel.split(":")[0]].post_text(
                Channel(id=channel), f"feed {CORPUS} has failed: HTTP 403"
            )
    finally:
        await engine.aclose()
        await client.close()
        store.close()

    assert_console_safe(terminal.getvalue())
    assert "<!channel>" in terminal.getvalue()  # plain text on a terminal: harmless
    slack_posts = fake_slack.calls_to("chat.postMessage", ok=True)
    assert len(slack_posts) == briefings + 1
    assert "&lt;!channel&gt;" in str(slack_posts[0].params), "the text arrived, escaped"
    for call in slack_posts:
        payload: dict[str, Any] = dict(call.params)
        assert_within_limits(payload)
        assert_safe(payload)
    discord_posts = fake_discord.posts()
    assert len(discord_posts) == briefings + 1
    notice = discord_posts[-1].body["content"]
    assert "@\u200beveryone" in notice, "the text arrived, defused"
    for request in discord_posts:
        body = request.body
        assert body["allowed_mentions"] == {"parse": []}
        assert len(body.get("content") or "") <= discord_render.CONTENT_MAX
        assert_inert(body)
        for embed in body.get("embeds", []):
            assert len(embed.get("title", "")) <= discord_render.TITLE_MAX
            assert len(embed.get("description", "")) <= discord_render.DESCRIPTION_MAX
            total = sum(len(embed.get(k, "") or "") for k in ("title", "description")) + sum(
                len(f["name"]) + len(f["value"]) for f in embed.get("fields", [])
            )
            assert total + len((embed.get("footer") or {}).get("text", "")) <= 6000
