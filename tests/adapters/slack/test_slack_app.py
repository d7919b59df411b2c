"""SlackService end to end: the real slack-bolt app in HTTP and Socket Mode, signed
requests, ``response_url`` and Web API calls against a fake Slack on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.installation_store.sqlite3 import SQLite3InstallationStore
from slack_sdk.oauth.state_store.sqlite3 import SQLite3OAuthStateStore

from adapters.slack.app import (
    BOT_SCOPES,
    FOREIGN_WORKSPACE,
    NOT_INSTALLED,
    ReplayGuard,
    SlackService,
)
from adapters.slack.installations import SlackStorage
from bot.desk import commands_for
from bot.engine import Engine
from bot.errors import ConfigError
from bot.models import Briefing, Channel, DeliveryState, Reply, Visibility
from storage import SqliteStore
from storage.database import StoreRunner
from tests.support.golden_files import assert_golden
from tests.support.slack_checks import make_briefing
from tests.support.slack_fake import FakeSlack
from tests.support.slack_requests import SECRET, command_body, signed_headers
from tests.support.slack_service import (
    WAIT,
    RecordingCommands,
    install,
    oauth_settings,
    post,
    redirect,
    running,
    slack_settings,
)


@pytest.fixture
async def services() -> AsyncIterator[list[SlackService]]:
    started: list[SlackService] = []
    try:
        yield started
    finally:
        for service in started:
            await service.stop()


async def test_signed_command_is_answered_well_inside_3s(
    fake: FakeSlack, engine: Engine, services: list[SlackService]
) -> None:
    service = await running(slack_settings(fake), commands_for(engine))
    services.append(service)
    body = command_body(fake, "help")
    started = time.monotonic()
    status, text = await post(service, body, signed_headers(body))
    elapsed = time.monotonic() - started
    assert status == 200
    assert elapsed < 3.0, f"acknowledged after {elapsed:.2f}s"
    answer = json.loads(text)
    assert answer["response_type"] == "ephemeral"  # help is for the asker only
    assert "/brief more" in json.dumps(answer["blocks"])  # the answer itself, not "working"
    assert not fake.responses


@pytest.mark.parametrize(
    ("secret", "age"), [("wrong-secret", 0), (SECRET, 10 * 60)], ids=["bad-signature", "stale"]
)
async def test_unsigned_or_stale_requests_get_401_and_run_nothing(
    fake: FakeSlack, services: list[SlackService], secret: str, age: float
) -> None:
    commands = RecordingCommands()
    service = await running(slack_settings(fake), commands)
    services.append(service)
    body = command_body(fake, "feed remove 1")
    status, _ = await post(service, body, signed_headers(body, secret=secret, age=age))
    assert status == 401
    assert commands.calls == []


async def test_slow_answer_is_acked_then_sent_to_response_url(
    fake: FakeSlack, services: list[SlackService]
) -> None:
    reply = Reply(briefings=[make_briefing()], full=True, visibility=Visibility.CHANNEL)
    commands = RecordingCommands(reply, delay=0.4)
    service = await running(slack_settings(fake), commands)
    service.ack_budget = 0.1  # the production budget is 1.5 s; the logic is the same
    services.append(service)
    body = command_body(fake, "search strike")
    started = time.monotonic()
    status, text = await post(service, body, signed_headers(body))
    assert status == 200 and time.monotonic() - started < 3.0
    assert json.loads(text) == {"response_type": "ephemeral", "text": "Working on it…"}
    while len(fake.responses) < 2:
        fake.responded.clear()
        if len(fake.responses) < 2:
            await asyncio.wait_for(fake.responded.wait(), WAIT)
    # "Working on it…" is removed, not left above the answer; then the answer is posted.
    removed, response = fake.responses
    assert removed.get("delete_original") is True
    assert response["response_type"] == "in_channel"
    assert_golden("slack/response_url.json", response)


async def test_a_slow_private_answer_replaces_working_on_it(
    fake: FakeSlack, services: list[SlackService]
) -> None:
    commands = RecordingCommands(Reply(text="2 feeds: Reuters World, AP Top News"), delay=0.4)
    service = await running(slack_settings(fake), commands)
    service.ack_budget = 0.1
    services.append(service)
    body = command_body(fake, "feeds")
    status, text = await post(service, body, signed_headers(body))
    assert status == 200 and json.loads(text)["text"] == "Working on it…"
    await asyncio.wait_for(fake.responded.wait(), WAIT)
    (response,) = fake.responses
    assert response["replace_original"] is True and response["response_type"] == "ephemeral"
    assert "Reuters World" in json.dumps(response["blocks"])


async def test_admin_is_workspace_admin_or_listed(
    fake: FakeSlack, services: list[SlackService]
) -> None:
    fake.users["U2"] = {"id": "U2", "is_admin": False, "is_owner": True}
    commands = RecordingCommands()
    service = await running(slack_settings(fake, slack_admin_users="U3, U4"), commands)
    services.append(service)
    for user in ("U1", "U2", "U3", "U1"):
        body = command_body(fake, "topics", user=user)
        status, _ = await post(service, body, signed_headers(body))
        assert status == 200
    assert [(a.user_id, a.is_admin) for _, a in commands.calls] == [
        ("U1", False),
        ("U2", True),
        ("U3", True),
        ("U1", False),
    ]
    assert {a.channel_id for _, a in commands.calls} == {"slack:C1"}
    # Listed admins need no lookup, and a user's answer is cached.
    assert [c.params["user"] for c in fake.calls_to("users.info")] == ["U1", "U2"]


# --------------------------------------------------------------------- buttons


def click_body(
    fake: FakeSlack, action_id: str, value: str, *, ephemeral: bool = False, user: str = "U1"
) -> str:
    """A block action as Slack sends it. A click on an ephemeral message (a private
    /brief answer) has ``container.is_ephemeral`` and no ``message`` at all."""
    container: dict[str, Any] = {
        "type": "message",
        "message_ts": "1700000000.000100",
        "channel_id": "C1",
        "is_ephemeral": ephemeral,
    }
    payload: dict[str, Any] = {
        "type": "block_actions",
        "team": {"id": "T1", "domain": "fake"},
        "user": {"id": user, "team_id": "T1"},
        "api_app_id": "A1",
        "channel": {"id": "C1", "name": "newsroom"},
        "container": container,
        "response_url": fake.response_url("click"),
        "trigger_id": "1.2.3",
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "b1",
                "value": value,
                "action_ts": "1700000001.000000",
            }
        ],
    }
    if not ephemeral:
        payload["message"] = {"type": "message", "ts": "1700000000.000100", "text": "briefing"}
    return urlencode({"payload": json.dumps(payload)})


async def private_answer(fake: FakeSlack) -> dict[str, Any]:
    """The one answer POSTed to the click's response_url."""
    await asyncio.wait_for(fake.responded.wait(), WAIT)
    (answer,) = fake.responses
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is False
    return answer


def route(engine: Engine, briefing: Briefing, channel_id: str) -> None:
    """The briefing stored and routed to one channel, as the engine routes it."""
    now = briefing.created_at
    engine.store.save_briefing(briefing)
    engine.store.ensure_channel(channel_id, now)
    engine.store.enqueue_delivery(
        channel_id, briefing.id, kind="post", revision=1, state=DeliveryState.SENT, now=now
    )


async def test_more_button_answers_in_the_message_thread_once(
    fake: FakeSlack, engine: Engine, services: list[SlackService]
) -> None:
    briefing = make_briefing()
    route(engine, briefing, "slack:C1")
    # Its related briefing was routed here too: the thread lists it.
    [ref] = briefing.related
    route(engine, briefing.model_copy(update={"id": ref.id, "related": []}), "slack:C1")
    service = await running(slack_settings(fake), commands_for(engine))
    services.append(service)
    body = click_body(fake, "signaldesk_more", briefing.id)
    status, _ = await post(service, body, signed_headers(body))
    assert status == 200
    await asyncio.wait_for(fake.posted.wait(), WAIT)
    (call,) = fake.calls_to("chat.postMessage")
    assert call.params["thread_ts"] == "1700000000.000100"
    assert call.params["channel"] == "C1"
    assert "What happened" in json.dumps(call.params["blocks"])
    assert_golden("slack/button_more_thread.json", call.params)

    # A second click (another reader, or the same one) does not add a second copy to
    # the thread: the full briefing comes privately.
    body = click_body(fake, "signaldesk_more", briefing.id, user="U2")
    status, _ = await post(service, body, signed_headers(body))
    assert status == 200
    answer = await private_answer(fake)
    assert "What happened" in json.dumps(answer["blocks"])
    assert len(fake.calls_to("chat.postMessage")) == 1


async def test_buttons_on_a_private_answer_answer_privately(
    fake: FakeSlack, engine: Engine, services: list[SlackService]
) -> None:
    # A /brief search answer is ephemeral; its More button arrives without `message`,
    # so there is no thread: the full briefing must not be posted to the channel.
    briefing = make_briefing()
    route(engine, briefing, "slack:C1")
    service = await running(slack_settings(fake), commands_for(engine))
    services.append(service)
    body = click_body(fake, "signaldesk_more", briefing.id, ephemeral=True)
    status, _ = await post(service, body, signed_headers(body))
    assert status == 200
    answer = await private_answer(fake)
    assert briefing.headline in json.dumps(answer["blocks"])
    assert "What happened" in json.dumps(answer["blocks"])
    assert not fake.calls_to("chat.postMessage")
    assert not fake.calls_to("chat.postEphemeral")


async def test_related_button_answers_only_the_clicker(
    fake: FakeSlack, engine: Engine, services: list[SlackService]
) -> None:
    briefing = make_briefing()
    route(engine, briefing, "slack:C1")
    [ref] = briefing.related
    route(engine, briefing.model_copy(update={"id": ref.id, "related": []}), "slack:C1")
    service = await running(slack_settings(fake), commands_for(engine))
    services.append(service)
    body = click_body(fake, "signaldesk_related", briefing.id)
    status, _ = await post(service, body, signed_headers(body))
    assert status == 200
    answer = await private_answer(fake)
    assert f"Related to {briefing.id}" in json.dumps(answer)
    assert not fake.calls_to("chat.postMessage")


async def test_related_button_with_an_unknown_id_tells_only_the_clicker(
    fake: FakeSlack, engine: Engine, services: list[SlackService]
) -> None:
    service = await running(slack_settings(fake), commands_for(engine))
    services.append(service)
    body = click_body(fake, "signaldesk_related", "nosuch12")
    status, _ = await post(service, body, signed_headers(body))
    assert status == 200
    answer = await private_answer(fake)
    assert "nosuch12" in json.dumps(answer)
    assert not fake.calls_to("chat.postMessage")


async def test_a_button_with_another_channels_briefing_answers_as_unknown(
    fake: FakeSlack, engine: Engine, services: list[SlackService]
) -> None:
    briefing = make_briefing()
    route(engine, briefing, "slack:C2")  # routed to another channel only
    service = await running(slack_settings(fake), commands_for(engine))
    services.append(service)
    body = click_body(fake, "signaldesk_more", briefing.id)
    status, _ = await post(service, body, signed_headers(body))
    assert status == 200
    answer = await private_answer(fake)
    assert f"no briefing with id '{briefing.id}'" in json.dumps(answer)
    assert briefing.headline not in json.dumps(answer)
    assert not fake.calls_to("chat.postMessage")


# ------------------------------------------------------- replays and workspaces


async def test_a_replayed_signed_request_is_applied_once(
    fake: FakeSlack, services: list[SlackService]
) -> None:
    commands = RecordingCommands()
    service = await running(slack_settings(fake), commands)
    services.append(service)
    body = command_body(fake, "feed remove 3")
    headers = signed_headers(body)
    for _ in range(3):  # the same signed bytes again, well inside the 5-minute window
        status, _ = await post(service, body, headers)
        assert status == 200
    assert [text for text, _ in commands.calls] == ["feed remove 3"]
    # A new request (its own trigger_id and signature) is applied as usual.
    other = command_body(fake, "feed remove 3")
    status, _ = await post(service, other, signed_headers(other))
    assert status == 200 and len(commands.calls) == 2


def test_the_replay_guard_forgets_a_signature_once_its_window_has_passed() -> None:
    now = [1_700_000_000.0]
    guard = ReplayGuard(clock=lambda: now[0], max_keys=3)
    stamp = str(int(now[0]))
    assert guard.first_use("v0=aa", stamp) and not guard.first_use("v0=aa", stamp)
    now[0] += 299
    assert not guard.first_use("v0=aa", stamp)
    now[0] += 2  # bolt refuses the timestamp as stale from here on
    assert guard.first_use("v0=bb", str(int(now[0])))
    assert len(guard) == 1  # the expired signature is gone: memory stays bounded
    for n in range(10):
        guard.first_use(f"v0={n}", str(int(now[0])))
    assert len(guard) <= 3


async def test_single_workspace_mode_refuses_a_foreign_workspace(
    fake: FakeSlack, services: list[SlackService]
) -> None:
    commands = RecordingCommands()
    service = await running(slack_settings(fake), commands)  # auth.test says team T1
    services.append(service)
    body = command_body(fake, "feeds", team="T9")
    status, text = await post(service, body, signed_headers(body))
    assert status == 200 and FOREIGN_WORKSPACE in text
    assert commands.calls == []
    body = command_body(fake, "feeds", team="T1")
    status, _ = await post(service, body, signed_headers(body))
    assert status == 200 and len(commands.calls) == 1


# ----------------------------------------------------------------------- OAuth


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "signaldesk.db"


@pytest.fixture
def storage(database: Path) -> Iterator[SlackStorage]:
    """The service's database and its writer thread, as ``signaldesk run`` has them."""
    store = SqliteStore.open(database)
    runner = StoreRunner(store)
    try:
        yield SlackStorage(store, runner)
    finally:
        runner.close()
        store.close()


async def test_anonymous_install_page_visits_leave_a_bounded_number_of_states(
    fake: FakeSlack, services: list[SlackService], database: Path, storage: SlackStorage
) -> None:
    service = await running(oauth_settings(fake, database), RecordingCommands(), storage)
    services.append(service)
    states = database  # the states live in the service's own database
    url = f"http://127.0.0.1:{service.port}/slack/install"
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            assert response.status == 200
        # States issued eleven minutes ago (expired: they live ten) are deleted.
        with sqlite3.connect(states) as db:
            db.executemany(
                "INSERT INTO slack_oauth_states (state, expire_at) VALUES (?, ?)",
                [(f"old-{n}", time.time() - 60) for n in range(500)],
            )
        async with session.get(url) as response:
            assert response.status == 200
        with sqlite3.connect(states) as db:
            assert db.execute("SELECT count(*) FROM slack_oauth_states").fetchone()[0] == 2
        # And however many anonymous visits come, at most the cap is kept.
        with sqlite3.connect(states) as db:
            db.executemany(
                "INSERT INTO slack_oauth_states (state, expire_at) VALUES (?, ?)",
                [(f"flood-{n}", time.time() + 600) for n in range(3000)],
            )
        async with session.get(url) as response:
            assert response.status == 200
    with sqlite3.connect(states) as db:
        assert db.execute("SELECT count(*) FROM slack_oauth_states").fetchone()[0] == 1000


async def test_workspace_that_never_installed_gets_a_clear_reply_and_nothing_runs(
    fake: FakeSlack,
    services: list[SlackService],
    tmp_path: Path,
    database: Path,
    storage: SlackStorage,
) -> None:
    commands = RecordingCommands()
    service = await running(oauth_settings(fake, database), commands, storage)
    services.append(service)
    body = command_body(fake, "feed add https://example.com/feed", team="T9")
    status, _ = await post(service, body, signed_headers(body))
    assert status == 200
    await asyncio.wait_for(fake.responded.wait(), WAIT)
    assert fake.responses[0]["text"] == NOT_INSTALLED
    assert commands.calls == []
    # Kept in the service's own database (under its migrations), not in a file beside it.
    assert not (tmp_path / "signaldesk.db.slack.db").exists()


def bearer(fake: FakeSlack, method: str) -> list[str]:
    return [c.headers["authorization"] for c in fake.calls_to(method)]


async def test_a_workspace_installs_and_is_served_and_posted_to_after_a_restart(
    fake: FakeSlack, services: list[SlackService], database: Path, storage: SlackStorage
) -> None:
    commands = RecordingCommands()
    settings = oauth_settings(fake, database)
    service = await running(settings, commands, storage)
    services.append(service)
    status, _ = await install(service, fake, "T7")
    assert status == 200
    assert [c.params["code"] for c in fake.calls_to("oauth.v2.access")] == ["code-T7"]
    # The workspace's /brief runs (bolt authorizes it from the stored installation) ...
    body = command_body(fake, "feeds", team="T7")
    status, _ = await post(service, body, signed_headers(body))
    assert status == 200 and [text for text, _ in commands.calls] == ["feeds"]
    # ... and a post into its channel goes out with its own bot token.
    await service.publisher.post_text(Channel(id="slack:C1"), "Harbour cranes back at work")
    assert bearer(fake, "chat.postMessage") == ["Bearer xoxb-T7"]
    await service.stop()
    services.remove(service)

    # A restart: a new process on the same database knows the workspace and the channel.
    store = SqliteStore.open(database)
    runner = StoreRunner(store)
    try:
        again = await running(settings, commands, SlackStorage(store, runner))
        services.append(again)
        await again.publisher.post_text(Channel(id="slack:C1"), "Ferries resume on Tuesday")
        assert bearer(fake, "chat.postMessage") == ["Bearer xoxb-T7"] * 2
        body = command_body(fake, "topics", team="T7")
        status, _ = await post(again, body, signed_headers(body))
        assert status == 200 and [text for text, _ in commands.calls] == ["feeds", "topics"]
        await again.stop()
        services.remove(again)
    finally:
        runner.close()
        store.close()


def older_version_file(path: Path, team: str, channel: str) -> str:
    """What SignalDesk kept beside the database before: slack-sdk's own SQLite stores (an
    installation, a state issued for an install still under way) and the adapter's raw
    channel table. Returns the state."""
    installations = SQLite3InstallationStore(database=str(path), client_id="111.222")
    installations.save(
        Installation(
            app_id="A1",
            team_id=team,
            team_name="Kestrel Bay Gazette",
            bot_token=f"xoxb-{team}",
            bot_id="BBOT",
            bot_user_id="UBOT",
            bot_scopes=BOT_SCOPES,
            user_id="U1",
            token_type="bot",
        )
    )
    state = SQLite3OAuthStateStore(database=str(path), expiration_seconds=600).issue()
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS signaldesk_slack_channels ("
            " channel_id TEXT PRIMARY KEY, team_id TEXT NOT NULL, enterprise_id TEXT)"
        )
        db.execute("INSERT INTO signaldesk_slack_channels VALUES (?, ?, NULL)", (channel, team))
    return state


async def test_workspaces_installed_under_an_older_version_are_imported_once(
    fake: FakeSlack, services: list[SlackService], database: Path, storage: SlackStorage
) -> None:
    old = database.with_name(database.name + ".slack.db")
    state = older_version_file(old, "T5", "C5")
    commands = RecordingCommands()
    settings = oauth_settings(fake, database)
    service = await running(settings, commands, storage)
    services.append(service)
    # The installed workspace is still served and posted to, with its own token ...
    body = command_body(fake, "feeds", team="T5")
    status, _ = await post(service, body, signed_headers(body))
    assert status == 200 and len(commands.calls) == 1
    await service.publisher.post_text(Channel(id="slack:C5"), "Dockworkers vote to return")
    assert bearer(fake, "chat.postMessage") == ["Bearer xoxb-T5"]
    # ... and an install begun before the upgrade completes after it.
    fake.oauth_codes["code-T6"] = "T6"
    async with aiohttp.ClientSession() as session:
        status, _ = await redirect(
            session,
            f"http://127.0.0.1:{service.port}",
            "code-T6",
            state,
            f"slack-app-oauth-state={state}",
        )
    assert status == 200 and len(fake.calls_to("oauth.v2.access")) == 1
    await service.stop()
    services.remove(service)
    # Imported once: a restart copies nothing again; the old file is left as it was.
    again = await running(settings, commands, storage)
    services.append(again)
    with sqlite3.connect(database) as db:
        teams = [r[0] for r in db.execute("SELECT team_id FROM slack_bots ORDER BY id")]
    assert teams == ["T5", "T6"]
    assert old.is_file()


async def test_command_text_arrives_as_plain_text(
    fake: FakeSlack, services: list[SlackService]
) -> None:
    commands = RecordingCommands()
    service = await running(slack_settings(fake), commands)
    services.append(service)
    body = command_body(fake, "feed add https://x.example/rss?a=1&amp;b=&lt;2&gt;")
    status, _ = await post(service, body, signed_headers(body))
    assert status == 200
    assert commands.calls[0][0] == "feed add https://x.example/rss?a=1&b=<2>"


async def test_slack_link_markup_arrives_as_the_bare_url(
    fake: FakeSlack, services: list[SlackService]
) -> None:
    # Slack auto-links what looks like a URL: <https://…|label>, its "&" as "&amp;".
    commands = RecordingCommands()
    service = await running(slack_settings(fake), commands)
    services.append(service)
    for text, arrives in [
        (
            "feed add <https://x.example/rss?a=1&amp;b=2|x.example/rss?a=1&amp;b=2> Port News",
            "feed add https://x.example/rss?a=1&b=2 Port News",
        ),
        ("import <https://x.example/list.opml>", "import https://x.example/list.opml"),
        # Typed angle brackets arrive as entities: pasted OPML stays OPML.
        ("import &lt;opml&gt;&lt;body/&gt;&lt;/opml&gt;", "import <opml><body/></opml>"),
        ("search <@U2> strike <#C1|harbour>", "search <@U2> strike <#C1|harbour>"),
    ]:
        body = command_body(fake, text)
        status, _ = await post(service, body, signed_headers(body))
        assert status == 200
        assert commands.calls[-1][0] == arrives


def test_manifest_declares_what_the_app_uses() -> None:
    manifest = (Path(__file__).parents[3] / "adapters/slack/manifest.yml").read_text()
    assert "- command: /brief" in manifest and "usage_hint:" in manifest
    bot_scopes = manifest.split("bot:", 1)[1].split("settings:", 1)[0]
    declared = {line.strip()[2:] for line in bot_scopes.splitlines() if line.strip()[:2] == "- "}
    assert declared == set(BOT_SCOPES)
    assert "socket_mode_enabled: true" in manifest and "is_enabled: true" in manifest
    # Every event a listener waits for is one Slack is asked to send.
    events = manifest.split("bot_events:", 1)[1].split("interactivity:", 1)[0]
    subscribed = {line.strip()[2:] for line in events.splitlines() if line.strip()[:2] == "- "}
    sources = (Path(__file__).parents[3] / "adapters/slack").glob("*.py")
    listened = {e for f in sources for e in re.findall(r'app\.event\("(\w+)"\)', f.read_text())}
    assert "app_home_opened" in listened and listened == subscribed
    assert "home_tab_enabled: true" in manifest


def test_http_mode_needs_a_signing_secret(fake: FakeSlack) -> None:
    settings = slack_settings(fake).model_copy(update={"slack_signing_secret": None})
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        SlackService.from_settings(settings, None, RecordingCommands())


# ----------------------------------------------------------------- Socket Mode


async def test_socket_mode_acks_a_slash_command_envelope_with_the_answer(
    fake: FakeSlack, services: list[SlackService]
) -> None:
    commands = RecordingCommands(Reply(text="3 feeds: <Courier>"))
    fake.ws_envelopes.append(
        {
            "envelope_id": "env-1",
            "type": "slash_commands",
            "accepts_response_payload": True,
            "payload": {
                "team_id": "T1",
                "channel_id": "C1",
                "user_id": "U1",
                "command": "/brief",
                "text": "feeds",
                "api_app_id": "A1",
                "response_url": fake.response_url(),
                "trigger_id": "1.2.3",
            },
        }
    )
    settings = slack_settings(fake, slack_app_token="xapp-test", slack_signing_secret=None)
    service = await running(settings, commands)
    services.append(service)
    await asyncio.wait_for(fake.acked.wait(), WAIT)
    (ack,) = fake.ws_acks
    assert ack["envelope_id"] == "env-1"
    assert ack["payload"]["response_type"] == "ephemeral"
    assert ack["payload"]["blocks"][0]["text"]["text"] == "3 feeds: &lt;Courier&gt;"
    assert [text for text, _ in commands.calls] == ["feeds"]
    # Once to check the app token at start (a refused one is one line), once to connect.
    checked, opened = fake.calls_to("apps.connections.open")
    assert checked.headers["authorization"] == opened.headers["authorization"] == "Bearer xapp-test"
