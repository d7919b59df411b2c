"""Requests as Slack sends them to the app: signed with the signing secret
(``X-Slack-Signature`` over ``v0:<timestamp>:<body>``), slash commands form-encoded,
events as JSON (https://api.slack.com/authentication/verifying-requests-from-slack)."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp
from slack_sdk.signature import SignatureVerifier

from tests.support.slack_fake import FakeSlack

SECRET = "test-signing-secret"
_TRIGGERS = itertools.count(1)
_EVENTS = itertools.count(1)


def command_body(
    fake: FakeSlack, text: str, *, team: str = "T1", user: str = "U1", channel: str = "C1"
) -> str:
    # Slack gives every invocation its own trigger_id: two commands are never one body.
    return urlencode(
        {
            "token": "legacy",
            "team_id": team,
            "team_domain": "fake",
            "channel_id": channel,
            "channel_name": "newsroom",
            "user_id": user,
            "user_name": "ana",
            "command": "/brief",
            "text": text,
            "api_app_id": "A1",
            "response_url": fake.response_url(),
            "trigger_id": f"{next(_TRIGGERS)}.2.3",
        }
    )


def event_body(event: dict[str, Any], *, team: str = "T1") -> str:
    return json.dumps(
        {
            "token": "legacy",
            "team_id": team,
            "api_app_id": "A1",
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{next(_EVENTS):08d}",
            "event_time": int(time.time()),
        }
    )


def signed_headers(
    body: str, *, secret: str = SECRET, age: float = 0, json_body: bool = False
) -> dict[str, str]:
    timestamp = str(int(time.time() - age))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    assert signature is not None
    kind = "application/json" if json_body else "application/x-www-form-urlencoded"
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
        "Content-Type": kind,
    }


async def post(port: int, body: str, headers: dict[str, str]) -> tuple[int, str]:
    """POST to the app's /slack/events on 127.0.0.1:``port``."""
    url = f"http://127.0.0.1:{port}/slack/events"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body.encode(), headers=headers) as response,
    ):
        return response.status, await response.text()
