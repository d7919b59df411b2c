"""A throwaway PostgreSQL server for the tests: Debian's ``postgresql`` package,
``initdb`` into a temporary folder and ``pg_ctl start`` on a free loopback port.

The server never runs as root (PostgreSQL refuses to): when the tests run as root (a
container, CI), the cluster's folder is handed to ``nobody`` and the server runs as
that user. Each test gets its own database (``pg_dsn``), so tests do not see each
other's rows, while the server itself starts once per test process.

When no server can be started (the package is missing, psycopg is not installed) the
tests that need one skip with one line saying why and how to fix it — unless
``SIGNALDESK_REQUIRE_POSTGRES=1`` is set (``.ci/run`` sets it): then they fail, so that
CI never passes by skipping them.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

_UNPRIVILEGED = "nobody"
_INSTALL_HINT = "install Debian's postgresql package (apt-get install -y postgresql)"


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"


def _bin_dir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).parent
    # Debian keeps the server's programs out of PATH, one folder per major version.
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _unavailable(reason: str) -> None:
    if os.environ.get("SIGNALDESK_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL is required here but {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL tests skipped: {reason}")


def start_server(root: Path) -> tuple[PostgresServer, list[str]]:
    """Create and start a cluster under ``root``; returns the server and the command
    that stops it. Raises ``RuntimeError`` with the server's own words on failure."""
    bindir = _bin_dir()
    if bindir is None:
        raise FileNotFoundError(f"no initdb/pg_ctl found: {_INSTALL_HINT}")
    as_root = os.geteuid() == 0
    data, sockets, log = root / "data", root / "run", root / "server.log"
    sockets.mkdir()
    if as_root:
        shutil.chown(root, _UNPRIVILEGED)
        shutil.chown(sockets, _UNPRIVILEGED)
    user = {"user": _UNPRIVILEGED} if as_root else {}

    def run(*args: str) -> None:
        done = subprocess.run(
            args, capture_output=True, text=True, check=False, cwd=root, timeout=120, **user
        )
        if done.returncode != 0:
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {done.stderr.strip()} {tail}".strip())

    run(
        str(bindir / "initdb"),
        "-D", str(data), "-U", "postgres", "-A", "trust",
        "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
    )  # fmt: skip
    for attempt in itertools.count():
        port = _free_port()
        options = (
            f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        try:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w",
                "start")  # fmt: skip
            break
        except RuntimeError:
            if attempt >= 2:  # another process took the port between probe and start
                raise
    stop = [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
    return PostgresServer("127.0.0.1", port, "postgres"), stop


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for this test process, stopped and deleted at its end."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed: pip install 'signaldesk[postgresql]'")
    root = Path(tempfile.mkdtemp(prefix="signaldesk-pg-"))
    try:
        server, stop = start_server(root)
    except (FileNotFoundError, RuntimeError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(root, ignore_errors=True)
        _unavailable(f"no server could be started: {exc}")
    try:
        yield server
    finally:
        stop_server(root, stop)


def stop_server(root: Path, stop: list[str]) -> None:
    """Stop the server (from inside its folder: ``nobody`` may not enter the tests'
    working directory) and delete the folder; the postmaster is signalled directly if
    ``pg_ctl`` cannot stop it, so no server outlives the tests."""
    done = subprocess.run(
        stop,
        capture_output=True,
        check=False,
        cwd=root,
        timeout=60,
        **({"user": _UNPRIVILEGED} if os.geteuid() == 0 else {}),
    )
    pidfile = root / "data" / "postmaster.pid"
    if done.returncode != 0 and pidfile.exists():
        with contextlib.suppress(ValueError, ProcessLookupError, PermissionError):
            os.kill(int(pidfile.read_text().split()[0]), signal.SIGQUIT)
    shutil.rmtree(root, ignore_errors=True)


_databases = itertools.count(1)


@pytest.fixture
def pg_dsn(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the session's server, dropped after the test."""
    import psycopg

    name = f"t{os.getpid()}_{next(_databases)}"
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_server.dsn(name)
    finally:
        with psycopg.connect(postgres_server.dsn(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def _pg_store_database(postgres_server: PostgresServer) -> Iterator[str]:
    """One database of this test process, migrated once, for the store tests."""
    import psycopg

    from storage.postgres import PostgresStore

    name = f"s{os.getpid()}"
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = postgres_server.dsn(name)
    PostgresStore.open(dsn).close()
    try:
        yield dsn
    finally:
        with psycopg.connect(postgres_server.dsn(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_store_dsn(_pg_store_database: str) -> Iterator[str]:
    """A migrated database with nothing in it, as ``PostgresStore.open`` leaves a new
    one: the process's store database, every table emptied (identities restarted)
    before the test. Creating and migrating a database costs about half a second of
    the server's time; emptying it, a tenth. Tests of migrations, copies between
    databases or several processes take ``pg_dsn``, a database of their own."""
    import psycopg

    with psycopg.connect(_pg_store_database, autocommit=True) as conn:
        tables = [
            str(name)
            for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'signaldesk_migrations'"
            )
        ]
        listed = ", ".join(f'"{t}"' for t in tables)
        conn.execute(f"TRUNCATE {listed} RESTART IDENTITY CASCADE")  # type: ignore[arg-type]
    yield _pg_store_database


__all__ = [
    "PostgresServer",
    "pg_dsn",
    "pg_store_dsn",
    "postgres_server",
    "start_server",
    "stop_server",
]
