"""Setup without typing syntax (issue 17, point 8): the App Home tab and the setup modal.

- **App Home** (``app_home_opened`` → ``views.publish``): for a workspace admin, every
  channel of this workspace that follows a feed or a topic, with its feeds and their
  health, topics, delivery mode, filters and whether posting is paused — the core's
  ``overview`` laid out as blocks — and a button that opens the modal. Anyone else sees
  what SignalDesk is and how to ask it things: feed URLs can carry credentials and
  private channels their names, so the list is for admins only.
- **The modal** (``views.open``, from that button or from ``/brief feed add`` with no
  URL): a channel picker, a feed URL, a topic (name and query), a daily digest time and
  its timezone, every field but the channel optional. On submit the fields become the
  commands an admin would have typed (``bot.commands.forms``), checked the same way (a
  workspace admin; the bot can post in the channel before a feed is added). A field
  filled in wrongly is named inline (``response_action: errors``) and nothing is run;
  otherwise the modal turns into "Working on it…" and then into the results
  (``views.update``), and the App Home is published again if the modal came from it.

Payload shapes: https://api.slack.com/reference/surfaces/views,
https://api.slack.com/reference/interaction-payloads/views. Every text from a feed
goes through the renderer's ``_fit``/``safe_url``: no mention, markup or forged link.
"""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackClientError

from bot.commands import Asker
from bot.commands.forms import SetupForm, SetupPlan, setup_plan
from bot.commands.overview import ChannelOverview, Overview
from bot.text import plural
from bot.topics import SLUG_MAX

from .access import cannot_post_because
from .render import (
    SECTION_MAX,
    Block,
    _chunks,
    _context,
    _fit,
    _header,
    _section,
    address_link,
)

if TYPE_CHECKING:
    from slack_bolt.app.async_app import AsyncApp

    from .app import SlackService

log = logging.getLogger("signaldesk.slack")

HOME_SETUP_ACTION = "signaldesk_home_setup"
SETUP_CALLBACK = "signaldesk_setup"
VIEW_BLOCKS_MAX = 100  # https://api.slack.com/reference/surfaces/views
TITLE_MAX = 24
FEED_LINES = 25  # feeds listed per channel on the App Home before "… and N more"
NOT_ADMIN = "Only workspace admins (or SLACK_ADMIN_USERS) can set up channels; nothing was saved."
INTRO = (
    "SignalDesk posts clustered, sourced news briefings into the channels that follow "
    "feeds. In any channel, `/brief help` lists what you can ask, `/brief feeds` what "
    "that channel follows."
)
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{1,30}$")


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": False}


def channel_mention(target: str) -> str:
    """``<#C123>`` for a Slack channel id; anything else escaped as text."""
    return f"<#{target}>" if _CHANNEL_ID.match(target) else _fit(target, 80)


def _feed_lines(channel: ChannelOverview) -> list[str]:
    lines = []
    for feed in channel.feeds[:FEED_LINES]:
        where = address_link(feed.url) or _fit(feed.url, 200)
        mark = "" if feed.ok else ":warning: "
        lines.append(
            f"{mark}`{feed.number}` {_fit(feed.name, 80)} · {where} · {_fit(feed.health, 400)}"
        )
    if len(channel.feeds) > FEED_LINES:
        lines.append(f"… and {len(channel.feeds) - FEED_LINES} more: `/brief feeds` there")
    return lines or ["No feeds: this channel reads only its topics' briefings."]


def _channel_blocks(channel: ChannelOverview) -> list[Block]:
    blocks = [{"type": "divider"}]
    head = f"*{channel_mention(channel.target)}* · {_fit(channel.mode, 200)}"
    blocks.append(_section(head))
    if channel.paused:
        blocks.append(
            _section(
                ":warning: Nothing can be posted there: "
                + _fit(channel.paused, SECTION_MAX - 200)
                + ". Briefings are held, not lost."
            )
        )
    blocks += [_section(c) for c in _chunks(_feed_lines(channel))[:2]]
    notes = []
    if channel.topics:
        notes.append("Topics: " + _fit(" · ".join(channel.topics), 1500))
    notes.append(_fit(channel.filters, 800, multiline=True))
    blocks.append(_context(*notes))
    return blocks


def home_view(overview: Overview | None) -> dict[str, Any]:
    """The App Home: the channels' setup for an admin (``overview``), else the intro."""
    blocks: list[Block] = [_header("SignalDesk"), _section(INTRO)]
    if overview is None:
        blocks.append(_context("A workspace admin sees each channel's feeds and health here."))
        return {"type": "home", "blocks": blocks}
    blocks.append(
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": _plain("Add a feed, topic or digest"),
                    "action_id": HOME_SETUP_ACTION,
                    "style": "primary",
                }
            ],
        }
    )
    if not overview.channels:
        blocks.append(
            _section(
                "No channel follows a feed yet. Add one with the button above, or with "
                "`/brief feed add <url>` in the channel."
            )
        )
    left_out = overview.left_out
    for index, channel in enumerate(overview.channels):
        more = _channel_blocks(channel)
        if len(blocks) + len(more) > VIEW_BLOCKS_MAX - 1:  # keep one for the note
            left_out += len(overview.channels) - index
            break
        blocks += more
    if left_out:
        blocks.append(
            _context(f"+{plural(left_out, 'more channel')}: `/brief feeds` in each lists it.")
        )
    return {"type": "home", "blocks": blocks}


def _input(block_id: str, label: str, element: dict[str, Any], *, hint: str = "") -> Block:
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "label": _plain(label),
        "element": {**element, "action_id": block_id},
        "optional": block_id != "channel",
    }
    if hint:
        block["hint"] = _plain(hint)
    return block


def _text_input(placeholder: str, max_length: int) -> dict[str, Any]:
    return {
        "type": "plain_text_input",
        "placeholder": _plain(placeholder),
        "max_length": max_length,
    }


def setup_modal(channel: str | None, *, from_home: bool) -> dict[str, Any]:
    """The form. ``channel``: the Slack channel it was opened from, preselected."""
    picker: dict[str, Any] = {
        "type": "conversations_select",
        "placeholder": _plain("Choose a channel"),
        "filter": {"include": ["public", "private"], "exclude_bot_users": True},
    }
    if channel and _CHANNEL_ID.match(channel):
        picker["initial_conversation"] = channel
    return {
        "type": "modal",
        "callback_id": SETUP_CALLBACK,
        "title": _plain("Set up SignalDesk"),
        "submit": _plain("Save"),
        "close": _plain("Cancel"),
        "private_metadata": json.dumps({"home": from_home}),
        "blocks": [
            _input("channel", "Channel", picker, hint="Briefings are posted here."),
            _input(
                "url",
                "Feed URL (RSS, Atom or JSON Feed)",
                _text_input("https://news.example/world/rss.xml", 500),
                hint="Or a site's address: its feed is found for you.",
            ),
            _input("topic", "Topic name", _text_input("e.g. chips", SLUG_MAX)),
            _input(
                "query",
                "Topic query",
                _text_input("e.g. nvidia OR tsmc OR semiconductor", 300),
                hint='Words, "quoted phrases", OR, and -words to leave out.',
            ),
            _input(
                "digest",
                "Daily digest time (empty: unchanged)",
                {"type": "timepicker", "placeholder": _plain("08:30")},
                hint="The channel then gets one digest a day instead of each briefing.",
            ),
            _input("timezone", "Timezone of the digest time", _text_input("Europe/Paris", 64)),
        ],
    }


def result_view(lines: list[str], *, done: bool = True) -> dict[str, Any]:
    """What the modal turns into: "Working on it…", then each command's answer."""
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": SETUP_CALLBACK + "_done",
        "title": _plain("Set up SignalDesk"),
        "close": _plain("Done" if done else "Close"),
        "blocks": [_section(c) for c in _chunks([_fit(x, 1000, multiline=True) for x in lines])],
    }
    return view


def read_form(view: dict[str, Any]) -> tuple[str, SetupForm]:
    """The channel and the fields from a submitted view's ``state.values``."""
    values = (view.get("state") or {}).get("values") or {}

    def value(block_id: str) -> str:
        element = (values.get(block_id) or {}).get(block_id) or {}
        found = (
            element.get("value")
            or element.get("selected_conversation")
            or element.get("selected_time")
        )
        return str(found or "")

    form = SetupForm(
        url=value("url"),
        topic=value("topic"),
        query=value("query"),
        digest=value("digest"),
        timezone=value("timezone"),
    )
    return value("channel"), form


class SetupScreens:
    """The App Home and the modal, on ``service``'s app (its commands, admin check and
    channel directory)."""

    def __init__(self, service: SlackService) -> None:
        self.service = service

    def register(self, app: AsyncApp) -> None:
        app.event("app_home_opened")(self._on_home_opened)
        app.action(HOME_SETUP_ACTION)(self._on_home_button)
        app.view(SETUP_CALLBACK)(self._on_submit)

    async def publish_home(self, client: Any, team: str, user: str, enterprise: str | None) -> None:
        admin = await self.service.is_admin(client, team, user)
        overview = None
        if admin:
            directory = self.service.directory
            ids = None if directory is None else await directory.channels_of(team, enterprise)
            overview = await self.service.commands.overview("slack", ids, admin=True)
        try:
            await client.views_publish(user_id=user, view=home_view(overview))
        except (SlackClientError, OSError) as exc:
            log.warning("Slack: could not publish the App Home for %s: %s", user, exc)

    async def open_modal(
        self, client: Any, trigger_id: str, channel: str | None, *, from_home: bool
    ) -> bool:
        try:
            await client.views_open(
                trigger_id=trigger_id, view=setup_modal(channel, from_home=from_home)
            )
            return True
        except (SlackClientError, OSError) as exc:
            log.warning("Slack: could not open the setup form: %s", exc)
            return False

    async def _on_home_opened(self, event: dict[str, Any], client: Any, context: Any) -> None:
        if event.get("tab") not in (None, "home"):
            return  # the Messages tab
        user = str(event.get("user") or "")
        if user:
            await self.publish_home(client, str(context.team_id or ""), user, context.enterprise_id)

    async def _on_home_button(self, ack: Any, body: dict[str, Any], client: Any) -> None:
        await ack()
        team = str((body.get("team") or {}).get("id") or "")
        user = str((body.get("user") or {}).get("id") or "")
        if await self.service.is_admin(client, team, user):
            await self.open_modal(client, str(body.get("trigger_id") or ""), None, from_home=True)

    async def _on_submit(
        self, ack: Any, body: dict[str, Any], view: dict[str, Any], client: Any, context: Any
    ) -> None:
        team = str((body.get("team") or {}).get("id") or "")
        user = str((body.get("user") or {}).get("id") or "")
        channel, form = read_form(view)
        # A role may have changed since the form opened: checked again, as a command is.
        if not await self.service.is_admin(client, team, user):
            await ack(response_action="errors", errors={"channel": NOT_ADMIN})
            return
        plan = setup_plan(form)
        if plan.problems:  # said next to the field; nothing is run until it is right
            await ack(response_action="errors", errors=dict(plan.problems))
            return
        await ack(response_action="update", view=result_view(["Working on it…"], done=False))
        lines = await self._run(plan, client, channel, team, user, context)
        try:
            await client.views_update(view_id=view.get("id"), view=result_view(lines))
        except (SlackClientError, OSError) as exc:
            log.warning("Slack: could not show the setup results to %s: %s", user, exc)
        try:
            from_home = bool(json.loads(view.get("private_metadata") or "{}").get("home"))
        except (ValueError, AttributeError):
            from_home = False
        if from_home:
            await self.publish_home(client, team, user, context.enterprise_id)

    async def _run(
        self,
        plan: SetupPlan,
        client: Any,
        channel: str,
        team: str,
        user: str,
        context: Any,
    ) -> list[str]:
        lines = [f"In {channel_mention(channel)}:"]
        commands = plan.commands
        if plan.feed_add:
            problem = await cannot_post_because(client, channel)
            if problem:
                commands = plan.without_feed_add()
                lines.append(f":warning: {problem}; the feed was not added")
        if self.service.directory is not None and team:
            # The publisher posts with this workspace's token: the directory must know
            # the channel before its first briefing.
            await self.service.directory.remember(channel, team, context.enterprise_id)
        asker = Asker(channel_id=f"slack:{channel}", user_id=user, is_admin=True)
        for command in commands:
            reply = await self.service.commands.handle(command, asker)
            lines.append((":warning: " if reply.error else "") + (reply.text or "Done."))
        return lines
