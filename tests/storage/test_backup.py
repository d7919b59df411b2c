"""Backups that restore: ``signaldesk backup`` refuses what it cannot back up honestly,
and ``signaldesk restore`` brings a team's feeds, briefings and Slack workspaces back in a
fresh folder, answering commands from there."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from adapters.main import main
from storage import SqliteStore


def run(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    database: Path,
    *argv: str,
) -> tuple[int, str, str]:
    monkeypatch.setenv("SIGNALDESK_DATABASE", str(database))
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_backup_refuses_a_missing_database_and_bad_targets_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    mistyped = tmp_path / "signaldeks.db"
    status, _, err = run(monkeypatch, capsys, mistyped, "backup", str(tmp_path / "copy.db"))
    assert status == 2 and "does not exist: check SIGNALDESK_DATABASE" in err
    assert not mistyped.exists() and not (tmp_path / "copy.db").exists()

    database = tmp_path / "signaldesk.db"
    SqliteStore.open(database).close()
    status, _, err = run(monkeypatch, capsys, database, "backup", str(tmp_path / "no" / "x.db"))
    assert status == 2 and f"folder {tmp_path / 'no'} does not exist" in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_a_backup_restores_feeds_briefings_and_slack_installs_into_a_fresh_folder(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    live = tmp_path / "srv" / "signaldesk.db"
    live.parent.mkdir()
    monkeypatch.chdir(live.parent)
    status, _, err = run(
        monkeypatch,
        capsys,
        live,
        "cmd",
        "--channel",
        "slack:C0PORT",
        "--admin",
        "topic add harbour harbour OR port",
    )
    assert status == 0, err
    store = SqliteStore.open(live)
    store.slack_save_installation(
        "1234.5678",
        {
            "team_id": "T0PORT",
            "team_name": "Port Authority",
            "bot_token": "xoxb-port-authority",
            "bot_user_id": "U0BOT",
            "installed_at": time.time(),
        },
    )
    store.close()

    backup = tmp_path / "backups" / "signaldesk-2026-12-02.db"
    backup.parent.mkdir()
    status, out, err = run(monkeypatch, capsys, live, "backup", str(backup))
    assert status == 0, err
    assert out.startswith(f"backed up {live} to {backup} (") and "Slack installations" in out

    fresh = tmp_path / "new-host" / "signaldesk.db"
    fresh.parent.mkdir()
    monkeypatch.chdir(fresh.parent)
    status, out, err = run(monkeypatch, capsys, fresh, "restore", str(backup))
    assert status == 0, err
    assert out.startswith(f"restored {backup} to {fresh}")

    status, out, err = run(monkeypatch, capsys, fresh, "cmd", "--channel", "slack:C0PORT", "topics")
    assert status == 0, err
    assert "harbour" in out
    restored = SqliteStore.open(fresh)
    try:
        install = restored.slack_find_installation("1234.5678", "", "T0PORT", None)
    finally:
        restored.close()
    assert install is not None and install["bot_token"] == "xoxb-port-authority"

    # Restoring again would overwrite the restored database: refused, and it is intact.
    status, _, err = run(monkeypatch, capsys, fresh, "restore", str(backup))
    assert status == 1 and "exists: move it aside" in err
    status, out, _ = run(monkeypatch, capsys, fresh, "cmd", "--channel", "slack:C0PORT", "topics")
    assert "harbour" in out


def test_restore_refuses_what_is_not_a_signaldesk_backup(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    target = tmp_path / "signaldesk.db"
    status, _, err = run(monkeypatch, capsys, target, "restore", str(other))
    assert status == 1 and "not a SignalDesk database" in err
    status, _, err = run(monkeypatch, capsys, target, "restore", str(tmp_path / "none.db"))
    assert status == 1 and "does not exist" in err
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not sqlite" * 500)
    status, _, err = run(monkeypatch, capsys, target, "restore", str(garbage))
    assert status == 1 and "not a readable SQLite database" in err
    assert not target.exists()
