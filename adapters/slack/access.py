"""Can the bot work here? Its tokens, checked once at start (``check_token``), and
whether it can post in a channel: asked before ``feed add`` and ``import`` (issue 17,
point 2), so that an admin hears what is missing when they set a channel up,
not days later from an empty channel.

``conversations.info`` says whether the bot is a member. A public channel it is not in
is joined (``conversations.join``) when the app has the ``channels:join`` scope;
otherwise, and for a private channel (which Slack hides from a bot that is not in it),
the answer is one line: invite @SignalDesk first. A check Slack cannot answer (network,
a scope the app lacks) lets the command run: the publisher then holds the channel's
deliveries with the reason (``CannotPost``) if posting is refused.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import ConfigError

log = logging.getLogger("signaldesk.slack")
ADMIN_CACHE_SECONDS = 300.0

NOT_MEMBER = (
    "SignalDesk is not a member of this channel, so it cannot post briefings "
    "here: invite it with /invite @SignalDesk, then add the feed again"
)


async def cannot_post_because(client: Any, channel: str) -> str | None:
    """Before a feed is added here: what keeps the bot from posting in this channel
    (not a member, archived, a private channel it cannot see), or None. A public
    channel it is not in is joined when the app has ``channels:join``."""
    try:
        info = (await client.conversations_info(channel=channel)).get("channel") or {}
    except SlackApiError as exc:
        code = str(exc.response.get("error") or "")
        if code == "channel_not_found":
            return (
                "SignalDesk cannot see this channel (a private channel it was not "
                "invited to): invite it with /invite @SignalDesk, then add the feed again"
            )
        # missing_scope (installed before channels:read) and the like: the delivery
        # path still holds the channel if the bot cannot post.
        log.warning("Slack: cannot check whether the bot is in %s: %s", channel, code)
        return None
    except (SlackClientError, OSError) as exc:
        log.warning("Slack: cannot check whether the bot is in %s: %s", channel, exc)
        return None
    if info.get("is_im") or info.get("is_mpim"):
        return None
    if info.get("is_archived"):
        return "this channel is archived, so SignalDesk cannot post here: unarchive it first"
    if info.get("is_member") is False:
        if info.get("is_private"):
            return NOT_MEMBER
        try:
            await client.conversations_join(channel=channel)
        except SlackApiError as exc:
            code = str(exc.response.get("error") or "")
            if code == "missing_scope":  # say what else would do
                return NOT_MEMBER + " (or add the channels:join scope so it joins by itself)"
            log.warning("Slack: could not join %s: %s", channel, code)
            return NOT_MEMBER
        except (SlackClientError, OSError) as exc:
            log.warning("Slack: could not join %s: %s", channel, exc)
            return NOT_MEMBER
        log.info("Slack: joined %s to post the feed added there", channel)
    return None


async def check_token(client: AsyncWebClient, setting: str, method: str, **arguments: str) -> None:
    """One call with the token before anything is started: a token Slack refuses,
    or a Slack that cannot be reached, is one line naming what to fix."""
    try:
        await getattr(client, method)(**arguments)
    except SlackApiError as exc:
        code = str(exc.response.get("error") or exc.response.status_code)
        if code in {"invalid_auth", "not_authed", "token_revoked", "token_expired",
                    "account_inactive", "not_allowed_token_type"}:  # fmt: skip
            raise ConfigError(
                f"Slack refused {setting} ({code}): copy the token again from the app's "
                "settings at https://api.slack.com/apps (bot token xoxb-…, app-level "
                "token xapp-… with connections:write), or reinstall the app"
            ) from None
        log.warning("Slack: checking %s at start: %s (going on)", setting, code)
    except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise ConfigError(
            f"cannot reach Slack at {client.base_url} ({type(exc).__name__}: {exc}): "
            "check the network, a proxy, or SIGNALDESK_SLACK_API_URL"
        ) from None


class Admins:
    """Who may change a channel's set-up: a configured admin (``SLACK_ADMIN_USERS``), or
    a workspace admin/owner per ``users.info``, cached for a few minutes (one lookup per
    user, not per command). A lookup that fails treats the user as a non-admin."""

    def __init__(self, configured: frozenset[str] = frozenset()) -> None:
        self.configured = configured
        self._cache: dict[tuple[str, str], tuple[bool, float]] = {}

    async def check(self, client: Any, team: str, user: str) -> bool:
        if user in self.configured:
            return True
        cached = self._cache.get((team, user))
        if cached and cached[1] > time.monotonic():
            return cached[0]
        try:
            response = await client.users_info(user=user)
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("Slack: users.info for %s failed (%s); treating as non-admin", user, exc)
            return False
        info = response.get("user") or {}
        admin = bool(info.get("is_admin") or info.get("is_owner") or info.get("is_primary_owner"))
        self._cache[(team, user)] = (admin, time.monotonic() + ADMIN_CACHE_SECONDS)
        return admin
