"""The Slack adapter's storage port: workspace installations, OAuth states and the
channel directory of multi-workspace (OAuth) mode.

The core never calls it; it is here beside the other ports so that the adapter
(``adapters/slack/installations.py``, slack-sdk's store interfaces over this port)
and storage (``storage/slack.py``) meet at a Protocol, not at SQL. Synchronous, like
``Store``: the adapter calls it through the one writer thread.

Rows are plain dicts keyed by slack-sdk's own field names (``team_id``, ``bot_token``,
``installed_at`` as epoch seconds …): storage knows no SDK, and the adapter turns
rows into ``Installation``/``Bot`` values and back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

SlackRow = dict[str, Any]


@runtime_checkable
class SlackWorkspaceStore(Protocol):
    # installations and bots: every save is a new row; the newest one wins ----------
    def slack_save_installation(self, client_id: str, row: SlackRow) -> None:
        """Record an installation (a workspace's, or one user's in it)."""
        ...

    def slack_save_bot(self, client_id: str, row: SlackRow) -> None:
        """Record a workspace's bot (its token, id and scopes)."""
        ...

    def slack_find_installation(
        self, client_id: str, enterprise_id: str, team_id: str, user_id: str | None
    ) -> SlackRow | None:
        """The newest installation for the workspace (of ``user_id``, if given)."""
        ...

    def slack_find_installed_bot(
        self, client_id: str, enterprise_id: str, team_id: str
    ) -> SlackRow | None:
        """The newest installation of the workspace that carries a bot token."""
        ...

    def slack_find_bot(self, client_id: str, enterprise_id: str, team_id: str) -> SlackRow | None:
        """The workspace's newest bot."""
        ...

    def slack_delete_bot(self, client_id: str, enterprise_id: str, team_id: str) -> int:
        """Forget the workspace's bots (the app was uninstalled, the token revoked)."""
        ...

    def slack_delete_installation(
        self, client_id: str, enterprise_id: str, team_id: str, user_id: str | None
    ) -> int:
        """Forget the workspace's installations (only ``user_id``'s, if given)."""
        ...

    # OAuth states ------------------------------------------------------------------
    def slack_issue_state(self, state: str, expire_at: float, now: float, keep: int) -> None:
        """Record a new state; first drop expired ones and all but the newest
        ``keep - 1`` (an anonymous install page visit must not grow the table)."""
        ...

    def slack_consume_state(self, state: str, now: float) -> bool:
        """True (and the state is gone) if ``state`` was issued and has not expired."""
        ...

    # the channel directory -----------------------------------------------------------
    def slack_remember_channel(
        self, channel_id: str, team_id: str, enterprise_id: str | None
    ) -> None:
        """The channel belongs to this workspace (a no-op when already known so)."""
        ...

    def slack_channel_workspace(self, channel_id: str) -> tuple[str, str | None] | None:
        """(team id, enterprise id) of the channel's workspace, if known."""
        ...

    def slack_workspace_channels(self, team_id: str, enterprise_id: str | None) -> list[str]:
        """The channels known to belong to this workspace, in id order."""
        ...

    # upgrade -----------------------------------------------------------------------
    def import_slack_file(self, path: Path, now: float) -> int | None:
        """Copy every row of an old "<database>.slack.db" (slack-sdk's SQLite stores and
        the adapter's channel table) into these tables, once: None if that file was
        imported before, else the rows copied. The file itself is left as it is."""
        ...


__all__ = ["SlackRow", "SlackWorkspaceStore"]
