"""Setup without typing syntax on Slack (issue 17, point 8): the App Home tab lists this
workspace's subscribed channels with feeds, health, topics and mode; a modal (from App
Home or ``/brief feed add`` with no URL) adds a feed, a topic or a digest time with the
typed commands' checks. The real slack-bolt app against the fake Slack Web API, with
signed requests shaped as Slack documents them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from adapters.slack.app import SlackService
from adapters.slack.home import HOME_SETUP_ACTION, NOT_ADMIN
from adapters.slack.render import render_reply
from bot.commands.forms import HALF_TOPIC, NOTHING
from bot.desk import commands_for
from bot.engine import Engine
from bot.models import DeliveryMode, FetchState, Topic
from bot.settings import Settings, load_settings
from tests.support.http import LocalServer, Response
from tests.support.news import HARBOUR, outlet_rss
from tests.support.slack_fake import FakeSlack
from tests.support.slack_requests import (
    command_body,
    event_body,
    home_button_body,
    signed_headers,
    text_value,
    view_submission_body,
)
from tests.support.slack_service import ADMIN, WAIT, post, running, slack_settings

HOSTILE_NAME = "<!channel> Wire <https://evil.example|your bank> *now*"


@pytest.fixture
def engine_settings() -> Settings:
    # The form's feed add reads a feed from the test's own server on 127.0.0.1.
    return load_settings(database=":memory:", allow_private_networks=True, fetch_timeout=2.0)


@pytest.fixture
async def service(fake: FakeSlack, engine: Engine) -> AsyncIterator[SlackService]:
    started = await running(slack_settings(fake), commands_for(engine))
    try:
        yield started
    finally:
        await started.stop()


def subscribed(engine: Engine) -> None:
    """Two Slack channels set up (one with a failing feed, paused) and a Discord one."""
    store, now = engine.store, engine.clock.now()
    ok, _ = store.add_feed("https://wire.example/world.rss?key=s3cret", name=HOSTILE_NAME, now=now)
    store.record_fetch(ok.id, FetchState(next_poll_at=now + timedelta(minutes=10)), now)
    bad, _ = store.add_feed("https://broken.example/feed", name="Broken Daily", now=now)
    failed = FetchState(next_poll_at=now, ok=False, error="HTTP 500 from broken.example")
    store.record_fetch(bad.id, failed, now)
    for channel in ("slack:C1", "slack:C2", "discord:555"):
        store.ensure_channel(channel, now)
    store.subscribe("slack:C1", ok.id, now)
    store.subscribe("slack:C2", bad.id, now)
    store.subscribe("discord:555", ok.id, now)
    store.save_topic(Topic(channel_id="slack:C1", slug="ports", query="harbour OR port"))
    digest = store.get_channel("slack:C2")
    assert digest is not None
    store.save_channel(
        digest.model_copy(
            update={"mode": DeliveryMode.DIGEST, "digest_time": "08:30", "timezone": "Europe/Oslo"}
        )
    )
    store.pause_channel("slack:C2", "not_in_channel: invite @SignalDesk", now, now)


async def open_home(service: SlackService, fake: FakeSlack, user: str) -> dict[str, Any]:
    event = {"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home"}
    body = event_body({**event, "event_ts": "1700000000.000100"})
    status, _ = await post(service, body, signed_headers(body, json_body=True))
    assert status == 200
    for _ in range(int(WAIT / 0.01)):  # bolt acks events first, then runs the listener
        if user in fake.homes:
            return fake.homes[user]
        await asyncio.sleep(0.01)
    raise AssertionError("no views.publish for " + user)


def texts(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


async def test_the_app_home_shows_an_admin_each_channel_with_feeds_health_topics_and_mode(
    fake: FakeSlack, engine: Engine, service: SlackService
) -> None:
    subscribed(engine)
    home = await open_home(service, fake, ADMIN)
    shown = texts(home)
    assert "<#C1>" in shown and "<#C2>" in shown and "555" not in shown  # Slack's channels only
    # The healthy feed: its name escaped (no ping, no forged link), its URL a link.
    assert "&lt;!channel&gt;" in shown and "<!channel>" not in shown
    assert "<https://evil.example|your bank>" not in shown
    assert "<https://wire.example/world.rss?key=s3cret|wire.example/world.rss>" in shown
    assert "ok, last success" in shown
    # The failing feed and the paused channel say what is wrong.
    assert ":warning:" in shown and "HTTP 500 from broken.example" in shown
    assert "invite @SignalDesk" in shown
    assert "ports: harbour OR port" in shown
    assert "one digest a day at 08:30 (Europe/Oslo)" in shown
    assert "each briefing as it is made" in shown
    buttons = [e for b in home["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [b["action_id"] for b in buttons] == [HOME_SETUP_ACTION]


async def test_the_app_home_shows_others_no_channel_setup(
    fake: FakeSlack, engine: Engine, service: SlackService
) -> None:
    subscribed(engine)
    shown = texts(await open_home(service, fake, "U1"))
    assert "/brief help" in shown
    # Feed URLs carry keys and private channels their names: for admins only.
    assert "wire.example" not in shown and "<#C1>" not in shown and "actions" not in shown


async def test_the_app_home_of_a_new_workspace_says_how_to_start(
    fake: FakeSlack, service: SlackService
) -> None:
    shown = texts(await open_home(service, fake, ADMIN))
    assert "No channel follows a feed yet" in shown


async def test_the_home_button_opens_the_form_and_its_submission_sets_the_channel_up(
    fake: FakeSlack, engine: Engine, service: SlackService, local_server: LocalServer
) -> None:
    url = local_server.route(
        "/harbour.rss",
        Response(
            body=outlet_rss("Harbour Wire", [("h1", *HARBOUR)]),
            headers={"Content-Type": "application/rss+xml"},
        ),
    )
    await open_home(service, fake, ADMIN)
    body = home_button_body("VH1", HOME_SETUP_ACTION, user=ADMIN)
    status, _ = await post(service, body, signed_headers(body))
    assert status == 200
    ((view_id, modal),) = fake.views.items()
    assert modal["type"] == "modal" and [b.get("block_id") for b in modal["blocks"]] == [
        "channel",
        "url",
        "topic",
        "query",
        "digest",
        "timezone",
    ]
    values = {
        "channel": {"channel": {"type": "conversations_select", "selected_conversation": "C7"}},
        "url": {"url": text_value(url)},
        "topic": {"topic": text_value("ports")},
        "query": {"query": text_value("harbour OR pilots")},
        "digest": {"digest": {"type": "timepicker", "selected_time": "07:45"}},
        "timezone": {"timezone": text_value("Europe/Amsterdam")},
    }
    fake.homes.clear()
    body = view_submission_body(modal, values, user=ADMIN)
    status, answer = await post(service, body, signed_headers(body))
    assert status == 200 and json.loads(answer)["response_action"] == "update"
    for _ in range(int(WAIT / 0.01)):  # the results replace "Working on it…"
        if "Done" in json.dumps(fake.views[view_id].get("close")) and ADMIN in fake.homes:
            break
        await asyncio.sleep(0.01)
    result = texts(fake.views[view_id])
    assert "Working on it" not in result and ":warning:" not in result, result
    store = engine.store
    assert [f.url for f in store.channel_feeds("slack:C7")] == [url]
    assert [t.query for t in store.channel_topics("slack:C7")] == ["harbour OR pilots"]
    channel = store.get_channel("slack:C7")
    assert channel is not None and channel.digest_time == "07:45"
    assert channel.timezone == "Europe/Amsterdam"
    # The App Home it came from is published again, now listing the channel.
    assert "<#C7>" in texts(fake.homes[ADMIN])


@pytest.mark.parametrize(
    ("fields", "block", "problem"),
    [
        ({}, "url", NOTHING),
        ({"topic": "ports"}, "query", HALF_TOPIC),
        ({"query": "harbour"}, "topic", HALF_TOPIC),
    ],
)
async def test_a_form_filled_in_wrongly_names_the_field_and_runs_nothing(
    fake: FakeSlack,
    engine: Engine,
    service: SlackService,
    fields: dict[str, str],
    block: str,
    problem: str,
) -> None:
    from adapters.slack.home import setup_modal

    modal = {**setup_modal("C1", from_home=False), "id": "V1"}
    values: dict[str, dict[str, Any]] = {
        "channel": {"channel": {"type": "conversations_select", "selected_conversation": "C1"}},
        "digest": {"digest": {"type": "timepicker", "selected_time": None}},
    }
    for name in ("url", "topic", "query", "timezone"):
        values[name] = {name: text_value(fields.get(name, ""))}
    body = view_submission_body(modal, values, user=ADMIN)
    status, answer = await post(service, body, signed_headers(body))
    assert status == 200
    assert json.loads(answer) == {"response_action": "errors", "errors": {block: problem}}
    assert engine.store.channel_topics("slack:C1") == []


async def test_a_member_who_is_not_an_admin_cannot_submit_the_form(
    fake: FakeSlack, engine: Engine, service: SlackService
) -> None:
    from adapters.slack.home import setup_modal

    modal = {**setup_modal("C1", from_home=False), "id": "V1"}
    values = {
        "channel": {"channel": {"type": "conversations_select", "selected_conversation": "C1"}},
        "topic": {"topic": text_value("ports")},
        "query": {"query": text_value("harbour")},
    }
    body = view_submission_body(modal, values, user="U1")
    _status, answer = await post(service, body, signed_headers(body))
    assert json.loads(answer) == {"response_action": "errors", "errors": {"channel": NOT_ADMIN}}
    assert engine.store.channel_topics("slack:C1") == []


async def test_feed_add_without_a_url_opens_the_form_for_the_channel(
    fake: FakeSlack, service: SlackService
) -> None:
    body = command_body(fake, "feed add", user=ADMIN, channel="C5")
    status, answer = await post(service, body, signed_headers(body))
    assert status == 200 and answer == ""  # no message: the form is the answer
    (modal,) = fake.views.values()
    picker = modal["blocks"][0]["element"]
    assert picker["type"] == "conversations_select" and picker["initial_conversation"] == "C5"


async def test_feed_add_without_a_url_from_a_member_gets_the_usage_line(
    fake: FakeSlack, service: SlackService
) -> None:
    body = command_body(fake, "feed add", user="U1")
    status, answer = await post(service, body, signed_headers(body))
    assert status == 200 and fake.views == {}
    assert "feed add" in json.loads(answer)["text"]


async def test_a_form_for_a_channel_the_bot_is_not_in_adds_no_feed_and_says_why(
    fake: FakeSlack, engine: Engine, service: SlackService
) -> None:
    from adapters.slack.home import setup_modal

    fake.outside.add("C1")
    fake.private.add("C1")
    modal = {**setup_modal("C1", from_home=False), "id": "V1"}
    fake.views["V1"] = modal
    values = {
        "channel": {"channel": {"type": "conversations_select", "selected_conversation": "C1"}},
        "url": {"url": text_value("https://news.example.org/world.rss")},
        "topic": {"topic": text_value("ports")},
        "query": {"query": text_value("harbour")},
    }
    body = view_submission_body(modal, values, user=ADMIN)
    await post(service, body, signed_headers(body))
    for _ in range(int(WAIT / 0.01)):
        if "/invite" in texts(fake.views["V1"]):
            break
        await asyncio.sleep(0.01)
    result = texts(fake.views["V1"])
    assert "/invite @SignalDesk" in result and "the feed was not added" in result
    assert engine.store.list_feeds() == []
    assert [t.slug for t in engine.store.channel_topics("slack:C1")] == ["ports"]


def test_help_on_slack_is_one_command_per_line_in_code_type() -> None:
    from bot.commands import HELP_TEXT
    from bot.models import Reply

    shown = json.dumps(render_reply(Reply(text=HELP_TEXT))["blocks"], ensure_ascii=False)
    assert "`/brief more &lt;id&gt;` — a full briefing" in shown
    assert "  " not in shown  # the core's column padding would collapse in Slack
    assert "`/brief feed add` alone" in shown


async def test_brief_feeds_on_slack_links_each_feed_and_nothing_else(
    fake: FakeSlack, engine: Engine, service: SlackService
) -> None:
    subscribed(engine)
    body = command_body(fake, "feeds", user=ADMIN, channel="C1")
    _status, answer = await post(service, body, signed_headers(body))
    shown = json.dumps(json.loads(answer)["blocks"])
    # The feed's URL is a link labelled with its own address, not "&lt;https://…&gt;".
    assert "<https://wire.example/world.rss?key=s3cret|wire.example/world.rss>" in shown
    assert "&lt;https://wire.example" not in shown
    # A link-shaped feed name stays text.
    assert "&lt;https://evil.example|your bank&gt;" in shown
