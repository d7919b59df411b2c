"""The database file in a bad way: locked, read-only, full or corrupt gives one clear
line (at start, or from the write that hit it), never a traceback; a backup taken while
another connection keeps writing is a consistent, usable copy."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.errors import StorageError
from bot.models import FeedEntry
from storage import SqliteStore
from storage.sqlite import open_database

# Every test here runs `signaldesk` as a subprocess against a broken or locked file.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def signaldesk(*args: str, database: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNALDESK_", "SLACK_"))}
    env |= {"SIGNALDESK_DATABASE": str(database), "DISCORD_TOKEN": ""}
    return subprocess.run(
        [sys.executable, "-m", "adapters.main", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("signaldesk: error: database ")
    return line


@pytest.mark.parametrize("command", [["run"], ["cmd", "help"], ["backup", "copy.db"]])
def test_corrupt_file_is_one_line_at_start(tmp_path: Path, command: list[str]) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"SQLite format 3\x00" + os.urandom(4096))
    line = one_line_error(signaldesk(*command, database=broken))
    assert "not a readable SQLite database" in line and "backup" in line


def test_file_locked_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    SqliteStore.open(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process in the middle of a long write
    try:
        with pytest.raises(StorageError) as err:
            open_database(path, timeout=0.2)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "locked by another process" in str(err.value) and "\n" not in str(err.value)
    open_database(path, timeout=0.2).close()  # free again: opens


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="running as root: file permissions do not stop root from writing, so a "
    "read-only file cannot be simulated with chmod",
)
def test_read_only_file_and_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "live.db"
    SqliteStore.open(path).close()
    for leftover in folder.glob("live.db-*"):
        leftover.unlink()
    path.chmod(0o444)
    folder.chmod(0o555)
    try:
        line = one_line_error(signaldesk("cmd", "help", database=path))
    finally:
        folder.chmod(0o755)
        path.chmod(0o644)
    assert "read-only" in line or "cannot open" in line


def test_read_only_message_names_the_fix(tmp_path: Path) -> None:
    # The mapping itself, whoever runs the tests: SQLite's own words for the condition.
    path = tmp_path / "live.db"
    SqliteStore.open(path).close()
    ro = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError) as raw:
        ro.execute("CREATE TABLE x (y)")
    ro.close()
    from storage.sqlite import _explain

    assert "read-only: fix its permissions" in _explain(str(path), raw.value)


def test_full_disk_is_one_line_from_the_write(tmp_path: Path) -> None:
    store = SqliteStore.open(tmp_path / "live.db")
    try:
        feed, _ = store.add_feed("https://example.org/feed", name=None, now=NOW)
        # A disk with no room left: the file may not grow by a single page.
        pages = store.db.execute("PRAGMA page_count").fetchone()[0]
        store.db.execute(f"PRAGMA max_page_count = {pages}")
        big = [FeedEntry(guid=f"g{i}", title="t", content="x" * 50_000) for i in range(20)]
        with pytest.raises(StorageError) as err:
            store.add_entries(feed.id, big, NOW)
        assert "disk is full" in str(err.value) and "\n" not in str(err.value)
        assert store.list_feeds()[0].url == "https://example.org/feed"  # nothing half-done
    finally:
        store.close()


def test_backup_while_another_connection_keeps_writing(tmp_path: Path) -> None:
    live = tmp_path / "live.db"
    store = SqliteStore.open(live)
    feed, _ = store.add_feed("https://example.org/feed", name=None, now=NOW)
    stop = threading.Event()

    def write() -> None:  # the service, in another connection, adding entries
        writer = SqliteStore.open(live)
        n = 0
        while not stop.is_set():
            batch = [FeedEntry(guid=f"g{n}-{i}", title=f"entry {n}") for i in range(20)]
            writer.add_entries(feed.id, batch, NOW)
            n += 1
        writer.close()

    thread = threading.Thread(target=write)
    thread.start()
    counts = []
    try:
        for k in range(5):
            copy = tmp_path / f"copy{k}.db"
            store.backup(copy)
            conn = sqlite3.connect(copy)
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            (count,) = conn.execute("SELECT count(*) FROM entries").fetchone()
            conn.close()
            assert count % 20 == 0, "a copy never holds half a transaction"
            counts.append(count)
    finally:
        stop.set()
        thread.join()
        store.close()
    assert counts == sorted(counts) and counts[-1] > 0
