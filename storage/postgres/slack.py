"""Slack workspaces (multi-workspace OAuth mode) on PostgreSQL: the same statements as
SQLite's (``storage/slack.py``, placeholders through ``_q``) on the tables of the
``m007_slack_workspaces`` migration, so that every process of a fleet serves every
installed workspace."""

from __future__ import annotations

from pathlib import Path

from ..slack import SlackMixin
from .base import PgBase


class PgSlackMixin(SlackMixin, PgBase):
    """``bot.ports.slack.SlackWorkspaceStore`` on PostgreSQL."""

    def import_slack_file(self, path: Path, now: float) -> int | None:
        # "<database>.slack.db" was kept beside a SQLite database by older versions; a
        # PostgreSQL database never had one (``migrate-to`` copies the SQLite tables).
        return None


__all__ = ["PgSlackMixin"]
