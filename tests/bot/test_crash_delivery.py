"""Exactly-once delivery under SIGKILL: a real ``signaldesk run`` process, killed again and
again while it posts to a fake Slack Web API, must in the end have posted every briefing
into every subscribed channel once, and only once.

The set-up is what a self-hoster does: ``signaldesk cmd --admin "feed add …"`` subscribes
three Slack channels to one local feed, which then publishes 15 unrelated stories; the
first ``signaldesk run`` polls it and queues 45 deliveries (15 briefings × 3 channels).
The fake Slack answers ``chat.postMessage`` slowly (a random delay before and after the
message lands), so that a kill often falls between "Slack has the message" and "the
outbox knows it". After each start the test waits for the process to begin a post, then
kills it at a random moment (seeded); after the kills one last run drains the queue and
is stopped cleanly.

Counts are taken from the fake's own record of messages (by the briefing id in each
message's metadata), not from the service's database.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.http import LocalServer, Response
from tests.support.news import rss
from tests.support.service import (
    STORIES,
    outbox_states,
    signaldesk,
    start_service,
    wait_until,
)
from tests.support.slack_fake import FakeSlack

# A real `signaldesk run` process, killed with SIGKILL again and again.
pytestmark = pytest.mark.slow

SEED = 20261124
# Each kill is a fresh interpreter (about two seconds of CPU); twelve, of which at least
# ten must land while delivering. The kill campaign (tests/test_kill_campaign.py) kills
# fifteen more times across polling, posting, updates, thread replies and digests.
KILLS = 12

CHANNELS = ["C1", "C2", "C3"]


def feed_body(stories: list[tuple[str, str]]) -> str:
    items = [
        {
            "title": title,
            "link": f"https://news.example/story/{i}",
            "guid": f"story-{i}",
            "date": f"Tue, 24 Nov 2026 0{i % 9}:00:00 GMT",
            "summary": f"{summary} Officials confirmed the details on Tuesday.",
        }
        for i, (title, summary) in enumerate(stories)
    ]
    return rss("Town Desk", items)


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    server = await FakeSlack().start()
    try:
        yield server
    finally:
        await server.stop()


def posts_by_briefing(fake: FakeSlack) -> Counter[tuple[str, str]]:
    """(channel, briefing id) -> top-level messages that carry the briefing."""
    counts: Counter[tuple[str, str]] = Counter()
    for channel, messages in fake.messages.items():
        for message in messages:
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if "briefing_id" in payload and not message.get("thread_ts"):
                counts[(channel, payload["briefing_id"])] += 1
    return counts


def expected_deliveries(database: Path) -> set[tuple[str, str]]:
    """(Slack channel, briefing id) for every story of every feed a channel follows."""
    conn = sqlite3.connect(database)
    try:
        rows = conn.execute(
            """SELECT DISTINCT sub.channel_id, s.briefing_id FROM entries e
               JOIN stories s ON s.id = e.story_id
               JOIN subscriptions sub ON sub.feed_id = e.feed_id"""
        ).fetchall()
    finally:
        conn.close()
    return {(channel.split(":", 1)[1], briefing) for channel, briefing in rows}


async def test_sigkill_during_delivery_never_loses_or_repeats_a_briefing(
    tmp_path: Path, local_server: LocalServer, fake_slack: FakeSlack
) -> None:
    rng = random.Random(SEED)
    fake_slack.rng = random.Random(SEED + 1)
    database = tmp_path / "signaldesk.db"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SIGNALDESK_", "SLACK_", "DISCORD_"))
    }
    env |= {
        "SIGNALDESK_DATABASE": str(database),
        "SIGNALDESK_ALLOW_PRIVATE_NETWORKS": "true",
        "SIGNALDESK_FIRST_POLL_LIMIT": "50",
        "SIGNALDESK_FETCH_PAGES": "false",
        "SIGNALDESK_LOG_LEVEL": "INFO",
        # A post cut off by the kill lands within the fake's 0.4 s latency: look for
        # it a second after the attempt began rather than the default 20 s.
        "SIGNALDESK_DELIVERY_SETTLE": "1",
        # Delivery is under test, not page reading: no worker processes to start each run.
        "SIGNALDESK_WORKERS": "0",
    }
    rss_type = {"Content-Type": "application/rss+xml"}
    url = local_server.route("/desk.xml", Response(200, feed_body([]), rss_type))
    for channel in CHANNELS:
        command = ["cmd", "--channel", f"slack:{channel}", "--admin", f"feed add {url}"]
        added = await asyncio.to_thread(signaldesk, *command, env=env)
        assert added.returncode == 0, added.stdout + added.stderr
    # The feed publishes its stories, and its next poll is due (as if the poll interval
    # had passed): the service's first cycle briefs all 15 and queues 45 posts.
    local_server.route("/desk.xml", Response(200, feed_body(STORIES), rss_type))
    conn = sqlite3.connect(database)
    with conn:
        conn.execute("UPDATE feeds SET next_poll_at = '2000-01-01T00:00:00+00:00'")
    conn.close()

    env |= {
        "SLACK_BOT_TOKEN": "xoxb-fake",
        "SLACK_SIGNING_SECRET": "fake-signing-secret",
        "SIGNALDESK_SLACK_API_URL": fake_slack.api_url,
        "SIGNALDESK_SLACK_HOST": "127.0.0.1",
        "SIGNALDESK_SLACK_PORT": "0",
    }
    # Slow posts: up to 0.4 s before the message lands and 0.4 s before the answer.
    fake_slack.latency["chat.postMessage"] = (0.4, 0.4)
    log = tmp_path / "service.log"
    started = time.monotonic()
    kills = mid_send = 0
    expected: set[tuple[str, str]] = set()
    while kills < KILLS and not (expected and set(posts_by_briefing(fake_slack)) >= expected):
        before = len(fake_slack.calls_to("chat.postMessage"))

        def delivering(before: int = before, expected: set[tuple[str, str]] = expected) -> bool:
            done = bool(expected) and set(posts_by_briefing(fake_slack)) >= expected
            return done or len(fake_slack.calls_to("chat.postMessage")) > before

        process = await start_service(env, log)
        try:
            # Kill only once this run has started delivering, at a random moment after.
            began = await wait_until(delivering, 15)
            assert began, log.read_text()[-2000:]
            await asyncio.sleep(rng.uniform(0.0, 0.6))
            mid_send += fake_slack.in_flight > 0
        finally:
            process.send_signal(signal.SIGKILL)
            await process.wait()
        kills += 1
        if not expected:
            expected = expected_deliveries(database)
            assert len({b for _, b in expected}) == 15 and len(expected) == 45

    # The last run: deliver what is left, then stop cleanly.
    process = await start_service(env, log)
    try:
        delivered = await wait_until(
            lambda: (
                set(posts_by_briefing(fake_slack)) >= expected
                and outbox_states(database) == [("sent", len(expected))]
            ),
            30,
        )
    finally:
        process.send_signal(signal.SIGTERM)
        await process.wait()
    assert delivered, log.read_text()[-2000:]
    assert "Traceback" not in log.read_text()

    counts = posts_by_briefing(fake_slack)
    duplicates = sum(n - 1 for n in counts.values())
    losses = len(expected - set(counts))
    print(
        f"\nkills {kills} (mid-send {mid_send}), briefings {len({b for _, b in expected})}, "
        f"deliveries expected {len(expected)}, posts {sum(counts.values())}, "
        f"duplicates {duplicates}, losses {losses}, "
        f"postMessage calls {len(fake_slack.calls_to('chat.postMessage'))}, "
        f"history lookups {len(fake_slack.calls_to('conversations.history'))}, "
        f"{time.monotonic() - started:.1f} s"
    )
    assert kills >= 10, "too few kills landed during delivery to prove anything"
    assert duplicates == 0 and losses == 0
    assert set(counts) == expected
    assert outbox_states(database) == [("sent", len(expected))]
