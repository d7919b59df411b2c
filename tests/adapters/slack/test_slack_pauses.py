"""A Slack channel the bot is not in (issue 17, point 2), end to end: the real
SlackPublisher against the fake Slack Web API answers ``not_in_channel``, the channel's
briefings are held (not failed), its admins read why in ``/brief feeds``, and the
``member_joined_channel`` event Slack sends when someone invites the bot (signed, as
Slack signs it) sends what was held, once."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from adapters.slack.app import SlackService
from bot.commands import Asker
from bot.deliver import Publishers
from bot.desk import Desk, build_desk
from bot.fetch import Fetcher
from bot.models import DeliveryState
from bot.settings import load_settings
from storage import SqliteStore
from storage.database import StoreRunner
from tests.support.clock import FakeClock
from tests.support.slack_checks import make_briefing
from tests.support.slack_fake import FakeSlack
from tests.support.slack_requests import SECRET, command_body, event_body, post, signed_headers

WAIT = 5.0


@pytest.fixture
async def wired(fake: FakeSlack) -> AsyncIterator[tuple[Desk, SlackService]]:
    settings = load_settings(
        database=":memory:",
        slack_bot_token="xoxb-test",
        slack_signing_secret=SECRET,
        slack_api_url=fake.api_url,
        slack_host="127.0.0.1",
        slack_port=0,
    )
    store = SqliteStore.open(":memory:")
    publishers = Publishers()
    desk = build_desk(
        settings,
        store,
        runner=StoreRunner(store),
        fetcher=Fetcher(settings),
        publishers=publishers,
        clock=FakeClock(datetime.now(UTC)),
    )
    service = SlackService.from_settings(
        settings, None, desk.commands, resume=desk.resume_channel, hold=desk.hold_channel
    )
    publishers.offer(service.publisher)
    await service.start()
    try:
        yield desk, service
    finally:
        await service.stop()
        await desk.aclose()


async def send_event(service: SlackService, event: dict[str, object]) -> int:
    body = event_body(event)
    status, _ = await post(service.port, body, signed_headers(body, json_body=True))
    return status


async def command(service: SlackService, fake: FakeSlack, text: str, channel: str = "C1") -> str:
    """Run /brief as the workspace admin U9; the answer, acknowledged or via response_url."""
    body = command_body(fake, text, user="U9", channel=channel)
    status, answer = await post(service.port, body, signed_headers(body))
    assert status == 200
    if "Working on it" in answer:
        await asyncio.wait_for(fake.responded.wait(), WAIT)
        fake.responded.clear()
        return json.dumps(fake.responses.pop())
    return answer


def queue_briefing(desk: Desk) -> str:
    briefing = make_briefing()
    now = desk.engine.clock.now()
    desk.store.save_briefing(briefing)
    desk.store.ensure_channel("slack:C1", now)
    desk.store.enqueue_delivery(
        "slack:C1", briefing.id, kind="post", revision=1, state=DeliveryState.PENDING, now=now
    )
    return briefing.id


async def test_not_in_channel_holds_then_the_invite_sends_what_was_held(
    fake: FakeSlack, wired: tuple[Desk, SlackService]
) -> None:
    desk, service = wired
    briefing_id = queue_briefing(desk)
    fake.channel_errors["C1"] = "not_in_channel"
    await desk.engine.deliver_all()
    (row,) = desk.store.deliveries("slack:C1")
    assert row.state == DeliveryState.PENDING  # held, not failed
    assert not fake.messages.get("C1")

    reply = await desk.commands.handle(
        "feeds", Asker(channel_id="slack:C1", user_id="U1", is_admin=True)
    )
    assert "invite it with /invite @SignalDesk" in reply.text

    # Someone else joining changes nothing; the bot joining resumes the channel.
    del fake.channel_errors["C1"]
    assert (
        await send_event(
            service,
            {
                "type": "member_joined_channel",
                "user": "U7",
                "channel": "C1",
                "channel_type": "C",
                "team": "T1",
            },
        )
        == 200
    )
    await asyncio.sleep(0.2)
    await desk.engine.deliver_all()
    assert not fake.messages.get("C1")  # still held until the hourly probe or an invite

    assert (
        await send_event(
            service,
            {
                "type": "member_joined_channel",
                "user": "UBOT",
                "channel": "C1",
                "channel_type": "C",
                "team": "T1",
                "inviter": "U1",
            },
        )
        == 200
    )
    deadline = time.monotonic() + WAIT
    while not fake.messages.get("C1") and time.monotonic() < deadline:
        await desk.engine.deliver_all()
        await asyncio.sleep(0.05)
    (message,) = fake.messages["C1"]
    assert message["metadata"]["event_payload"]["briefing_id"] == briefing_id
    (row,) = desk.store.deliveries("slack:C1")
    assert row.state == DeliveryState.SENT
    channel = desk.store.get_channel("slack:C1")
    assert channel is not None and channel.paused_reason is None


@pytest.mark.parametrize(
    ("setup", "said"),
    [
        ("outside", "SignalDesk is not a member of this channel"),
        ("private", "SignalDesk cannot see this channel"),
        ("archived", "this channel is archived"),
    ],
)
async def test_feed_add_where_the_bot_cannot_post_says_so_and_adds_nothing(
    fake: FakeSlack, wired: tuple[Desk, SlackService], setup: str, said: str
) -> None:
    desk, service = wired
    if setup == "private":
        fake.private.add("C1")
        fake.outside.add("C1")
    else:
        getattr(fake, setup).add("C1")
    answer = await command(service, fake, "feed add https://valleypost.example/rss.xml")
    assert said in answer and "nothing was added" in answer
    assert desk.store.channel_feeds("slack:C1") == []
    assert not fake.calls_to("chat.postMessage")
    answer = await command(service, fake, "import https://valleypost.example/feeds.opml")
    assert said in answer


async def test_feed_add_where_the_bot_is_a_member_goes_ahead(
    fake: FakeSlack, wired: tuple[Desk, SlackService]
) -> None:
    _, service = wired
    # A member: the core runs it (and refuses this URL for its own reason).
    answer = await command(service, fake, "feed add ftp://valleypost.example/rss.xml")
    assert "only http and https" in answer and "not a member" not in answer
    assert [c.params["channel"] for c in fake.calls_to("conversations.info")] == ["C1"]


async def test_the_bot_removed_from_a_channel_holds_it_at_once_until_it_is_invited_back(
    fake: FakeSlack, wired: tuple[Desk, SlackService]
) -> None:
    desk, service = wired
    queue_briefing(desk)
    # Slack tells the bot it was removed (https://api.slack.com/events/channel_left).
    removed = {"type": "channel_left", "channel": "C1", "actor_id": "U9", "event_ts": "1.0"}
    assert await send_event(service, removed) == 200
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        # Through the store's one thread: the event's handler is writing on it meanwhile.
        channel = await desk.engine.db(desk.store.get_channel, "slack:C1")
        if channel is not None and channel.paused_reason:
            break
        await asyncio.sleep(0.01)
    reply = await desk.commands.handle(
        "feeds", Asker(channel_id="slack:C1", user_id="U9", is_admin=True)
    )
    assert "removed from this channel" in reply.text and "/invite @SignalDesk" in reply.text
    await desk.engine.deliver_all()
    assert fake.calls_to("chat.postMessage") == []  # held: no refused post needed first
    (row,) = desk.store.deliveries("slack:C1")
    assert row.state == DeliveryState.PENDING

    # A channel SignalDesk never served is not created by the event.
    elsewhere = {"type": "group_left", "channel": "G5", "actor_id": "U9", "event_ts": "2.0"}
    assert await send_event(service, elsewhere) == 200
    await asyncio.sleep(0.05)
    assert await desk.engine.db(desk.store.get_channel, "slack:G5") is None

    invited = {"type": "member_joined_channel", "user": "UBOT", "channel": "C1", "team": "T1"}
    assert await send_event(service, {**invited, "channel_type": "C", "inviter": "U9"}) == 200
    deadline = time.monotonic() + WAIT
    while not fake.messages.get("C1") and time.monotonic() < deadline:
        await desk.engine.deliver_all()
        await asyncio.sleep(0.01)
    assert len(fake.messages["C1"]) == 1
