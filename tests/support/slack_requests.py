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


def _interaction(kind: str, *, team: str, user: str) -> dict[str, Any]:
    """The fields every interaction payload of a workspace (not Enterprise Grid) app
    carries: who, where, and a fresh ``trigger_id`` (one use, within 3 s)."""
    return {
        "type": kind,
        "team": {"id": team, "domain": "fake"},
        "user": {"id": user, "username": "ana", "name": "ana", "team_id": team},
        "api_app_id": "A1",
        "token": "legacy",
        "trigger_id": f"{next(_TRIGGERS)}.2.3",
        "enterprise": None,
        "is_enterprise_install": False,
    }


def home_button_body(view_id: str, action_id: str, *, user: str, team: str = "T1") -> str:
    """A button click on the App Home as Slack sends it: the container is the view;
    there is no channel, no message and no ``response_url``."""
    payload = {
        **_interaction("block_actions", team=team, user=user),
        "container": {"type": "view", "view_id": view_id},
        "view": {"id": view_id, "type": "home", "team_id": team, "blocks": []},
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "home-actions",
                "text": {"type": "plain_text", "text": "Add"},
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


def view_submission_body(
    view: dict[str, Any], values: dict[str, dict[str, Any]], *, user: str, team: str = "T1"
) -> str:
    """A modal submitted (https://api.slack.com/reference/interaction-payloads/views):
    the view as opened, with each input's ``state.values[block_id][action_id]``, form-
    encoded as ``payload``."""
    submitted = {
        **view,
        "team_id": team,
        "state": {"values": values},
        "hash": "156772938.1827394",
        "previous_view_id": None,
        "root_view_id": view["id"],
        "app_id": "A1",
        "external_id": "",
        "bot_id": "BBOT",
    }
    payload = {
        **_interaction("view_submission", team=team, user=user),
        "view": submitted,
        "response_urls": [],
    }
    return urlencode({"payload": json.dumps(payload)})


def text_value(value: str) -> dict[str, Any]:
    return {"type": "plain_text_input", "value": value or None}
