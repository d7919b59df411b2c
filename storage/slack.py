"""Slack workspaces (multi-workspace OAuth mode): installations, bots, OAuth states and
the channel directory. Implements ``bot.ports.slack.SlackWorkspaceStore``, on SQLite and
(written once, placeholders through ``_q``) on PostgreSQL: ``storage/postgres/slack.py``.

Rows keep slack-sdk's own column names (its SQLite stores' schema), so that the file
those stores used to keep beside the database imports as it is (``import_slack_file``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.errors import StorageError

from .base import StoreBase, _ts

INSTALLATION_COLUMNS = (
    "app_id",
    "enterprise_id",
    "enterprise_name",
    "enterprise_url",
    "team_id",
    "team_name",
    "bot_token",
    "bot_id",
    "bot_user_id",
    "bot_scopes",
    "bot_refresh_token",
    "bot_token_expires_at",
    "user_id",
    "user_token",
    "user_scopes",
    "user_refresh_token",
    "user_token_expires_at",
    "incoming_webhook_url",
    "incoming_webhook_channel",
    "incoming_webhook_channel_id",
    "incoming_webhook_configuration_url",
    "is_enterprise_install",
    "token_type",
    "installed_at",
)
BOT_COLUMNS = (
    "app_id",
    "enterprise_id",
    "enterprise_name",
    "team_id",
    "team_name",
    "bot_token",
    "bot_id",
    "bot_user_id",
    "bot_scopes",
    "bot_refresh_token",
    "bot_token_expires_at",
    "is_enterprise_install",
    "installed_at",
)
# The old file's tables (slack-sdk's SQLite stores, and the adapter's own) -> ours.
_LEGACY_TABLES = {
    "slack_installations": ("slack_installations", INSTALLATION_COLUMNS),
    "slack_bots": ("slack_bots", BOT_COLUMNS),
}
_LEGACY = "slack_legacy"


class SlackMixin(StoreBase):
    """The ``slack_installations``, ``slack_bots``, ``slack_oauth_states``,
    ``slack_channels`` and ``slack_imports`` tables."""

    # ------------------------------------------------------- installations, bots

    def _insert(
        self, table: str, columns: Sequence[str], client_id: str, row: dict[str, Any]
    ) -> None:
        given = [c for c in columns if c in row]  # the others keep their defaults
        with self._write() as db:
            db.execute(
                self._q(
                    f"INSERT INTO {table} (client_id, {', '.join(given)}) "
                    f"VALUES (?, {', '.join('?' * len(given))})"
                ),
                [client_id, *(row[c] for c in given)],
            )

    def slack_save_installation(self, client_id: str, row: dict[str, Any]) -> None:
        self._insert("slack_installations", INSTALLATION_COLUMNS, client_id, _keyed(row))

    def slack_save_bot(self, client_id: str, row: dict[str, Any]) -> None:
        self._insert("slack_bots", BOT_COLUMNS, client_id, _keyed(row))

    def _newest(
        self, table: str, columns: Sequence[str], where: str, params: Sequence[Any]
    ) -> dict[str, Any] | None:
        return self._row(
            self._q(
                f"SELECT {', '.join(columns)} FROM {table} WHERE client_id = ? AND "
                f"enterprise_id = ? AND team_id = ?{where} "
                "ORDER BY installed_at DESC, id DESC LIMIT 1"
            ),
            params,
        )

    def slack_find_installation(
        self, client_id: str, enterprise_id: str, team_id: str, user_id: str | None
    ) -> dict[str, Any] | None:
        key = [client_id, enterprise_id, team_id]
        if user_id is None:
            return self._newest("slack_installations", INSTALLATION_COLUMNS, "", key)
        return self._newest(
            "slack_installations", INSTALLATION_COLUMNS, " AND user_id = ?", [*key, user_id]
        )

    def slack_find_installed_bot(
        self, client_id: str, enterprise_id: str, team_id: str
    ) -> dict[str, Any] | None:
        return self._newest(
            "slack_installations",
            INSTALLATION_COLUMNS,
            " AND bot_token IS NOT NULL",
            [client_id, enterprise_id, team_id],
        )

    def slack_find_bot(
        self, client_id: str, enterprise_id: str, team_id: str
    ) -> dict[str, Any] | None:
        return self._newest("slack_bots", BOT_COLUMNS, "", [client_id, enterprise_id, team_id])

    def slack_delete_bot(self, client_id: str, enterprise_id: str, team_id: str) -> int:
        with self._write() as db:
            cursor = db.execute(
                self._q(
                    "DELETE FROM slack_bots WHERE client_id = ? AND enterprise_id = ? "
                    "AND team_id = ?"
                ),
                [client_id, enterprise_id, team_id],
            )
        return cursor.rowcount

    def slack_delete_installation(
        self, client_id: str, enterprise_id: str, team_id: str, user_id: str | None
    ) -> int:
        sql = (
            "DELETE FROM slack_installations WHERE client_id = ? AND enterprise_id = ? "
            "AND team_id = ?"
        )
        params: list[Any] = [client_id, enterprise_id, team_id]
        if user_id is not None:
            sql += " AND user_id = ?"
            params.append(user_id)
        with self._write() as db:
            cursor = db.execute(self._q(sql), params)
        return cursor.rowcount

    # ---------------------------------------------------------------- OAuth states

    def slack_issue_state(self, state: str, expire_at: float, now: float, keep: int) -> None:
        with self._write() as db:
            db.execute(self._q("DELETE FROM slack_oauth_states WHERE expire_at <= ?"), [now])
            db.execute(
                self._q(
                    "DELETE FROM slack_oauth_states WHERE id NOT IN "
                    "(SELECT id FROM slack_oauth_states ORDER BY id DESC LIMIT ?)"
                ),
                [max(keep - 1, 0)],
            )
            db.execute(
                self._q("INSERT INTO slack_oauth_states (state, expire_at) VALUES (?, ?)"),
                [state, expire_at],
            )

    def slack_consume_state(self, state: str, now: float) -> bool:
        with self._write() as db:
            cursor = db.execute(
                self._q("DELETE FROM slack_oauth_states WHERE state = ? AND expire_at > ?"),
                [state, now],
            )
        return cursor.rowcount == 1

    # ----------------------------------------------------------- channel directory

    def slack_remember_channel(
        self, channel_id: str, team_id: str, enterprise_id: str | None
    ) -> None:
        # Every request names its channel: a read when nothing changed, so that most
        # requests never commit.
        if self.slack_channel_workspace(channel_id) == (team_id, enterprise_id):
            return
        with self._write() as db:
            db.execute(
                self._q(
                    "INSERT INTO slack_channels (channel_id, team_id, enterprise_id) "
                    "VALUES (?, ?, ?) ON CONFLICT (channel_id) DO UPDATE SET "
                    "team_id = excluded.team_id, enterprise_id = excluded.enterprise_id"
                ),
                [channel_id, team_id, enterprise_id],
            )

    def slack_channel_workspace(self, channel_id: str) -> tuple[str, str | None] | None:
        row = self._row(
            self._q("SELECT team_id, enterprise_id FROM slack_channels WHERE channel_id = ?"),
            [channel_id],
        )
        return (row["team_id"], row["enterprise_id"]) if row else None

    def slack_workspace_channels(self, team_id: str, enterprise_id: str | None) -> list[str]:
        rows = self._rows(
            self._q(
                "SELECT channel_id FROM slack_channels WHERE team_id = ? "
                "AND coalesce(enterprise_id, '') = ? ORDER BY channel_id"
            ),
            [team_id, enterprise_id or ""],
        )
        return [str(row["channel_id"]) for row in rows]

    # --------------------------------------------------------------------- upgrade

    def import_slack_file(self, path: Path, now: float) -> int | None:
        key = str(Path(path).expanduser().resolve())
        if not Path(key).is_file() or self._row(
            "SELECT 1 FROM slack_imports WHERE path = ?", [key]
        ):
            return None
        conn = self.db.conn
        try:
            conn.execute(f"ATTACH DATABASE ? AS {_LEGACY}", [key])
        except sqlite3.DatabaseError as exc:
            raise StorageError(_cannot_import(key, exc)) from None
        try:
            with self.db.atomic() as db:
                tables = {
                    r["name"]
                    for r in self._rows(
                        f"SELECT name FROM {_LEGACY}.sqlite_master WHERE type = 'table'"
                    )
                }
                copied = 0
                for legacy, (table, columns) in _LEGACY_TABLES.items():
                    if legacy in tables:
                        copied += self._copy(legacy, table, columns, now)
                if "oauth_states" in tables:
                    copied += db.execute(
                        f"""INSERT OR IGNORE INTO slack_oauth_states (state, expire_at)
                            SELECT state, expire_at FROM {_LEGACY}.oauth_states
                            WHERE expire_at > ? ORDER BY id""",
                        [now],
                    ).rowcount
                if "signaldesk_slack_channels" in tables:
                    copied += db.execute(
                        f"""INSERT OR IGNORE INTO slack_channels
                            (channel_id, team_id, enterprise_id)
                            SELECT channel_id, team_id, enterprise_id
                            FROM {_LEGACY}.signaldesk_slack_channels"""
                    ).rowcount
                db.execute(
                    "INSERT INTO slack_imports (path, imported_at, rows) VALUES (?, ?, ?)",
                    [key, _ts(datetime.fromtimestamp(now, UTC)), copied],
                )
        except sqlite3.DatabaseError as exc:
            raise StorageError(_cannot_import(key, exc)) from None
        finally:
            conn.execute(f"DETACH DATABASE {_LEGACY}")
        return copied

    def _copy(self, legacy: str, table: str, columns: Sequence[str], now: float) -> int:
        # Older slack-sdk versions made fewer columns (no token rotation before 3.8):
        # copy those the old table has.
        have = {r["name"] for r in self._rows(f"PRAGMA {_LEGACY}.table_info({legacy})")}
        shared = [c for c in ("client_id", *columns) if c in have and c != "installed_at"]
        # slack-sdk's SQLite stores left installed_at to SQLite: "YYYY-MM-DD HH:MM:SS" UTC.
        stamp = (
            "CASE WHEN typeof(installed_at) IN ('integer', 'real') THEN installed_at "
            "ELSE coalesce(CAST(strftime('%s', installed_at) AS REAL), ?) END"
            if "installed_at" in have
            else "?"
        )
        names = ", ".join(shared)
        return int(
            self.db.execute(
                f"INSERT INTO {table} ({names}, installed_at) "
                f"SELECT {names}, {stamp} FROM {_LEGACY}.{legacy} ORDER BY id",
                [now],
            ).rowcount
        )


def _keyed(row: dict[str, Any]) -> dict[str, Any]:
    """The row with the key columns slack-sdk leaves None stored as "" (as its stores do)."""
    return {
        **row,
        "enterprise_id": row.get("enterprise_id") or "",
        "team_id": row.get("team_id") or "",
    }


def _cannot_import(path: str, exc: sqlite3.DatabaseError) -> str:
    return (
        f"cannot import the Slack installations of {path} ({exc}): restore that file "
        "from a backup, or move it aside to start without them"
    )
