"""Running `signaldesk` as a user does, and the one-line error every bad input must give.

``run`` calls the entry point's ``main(argv)`` in this process with the streams, the
environment and the working directory a real run would have, and returns what a
subprocess would (exit status, stdout, stderr): the same argument parsing, settings,
logging and error handling, without a fresh interpreter importing everything again
(about a second of CPU a call). ``spawn`` starts the real ``python -m adapters.main``
process, for what only a process shows: separate processes sharing one database, the
newcomer's ``demo``, the interpreter's own exit."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import threading
from contextlib import chdir, redirect_stderr, redirect_stdout
from pathlib import Path
from unittest import mock

from adapters.main import main
from bot.logs import CHATTY

ROOT = Path(__file__).resolve().parents[2]
QUIET = {"SIGNALDESK_LOG_LEVEL": "WARNING"}


def spawn(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "adapters.main", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **QUIET, **(env or {})},
        timeout=120,
    )


def run(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    out, err = io.StringIO(), io.StringIO()
    # Threads another test left running (a pool's worker logging a reconnect) are not
    # this run's: in a process of its own their lines would not be on its stderr.
    foreign = {t.ident for t in threading.enumerate()} - {threading.get_ident()}
    handle = logging.Logger.handle

    def own_records_only(logger: logging.Logger, record: logging.LogRecord) -> None:
        if record.thread not in foreign:
            handle(logger, record)

    root = logging.getLogger()
    kept = root.handlers[:], root.level, {n: logging.getLogger(n).level for n in CHATTY}
    root.handlers = []  # main() configures logging onto this run's stderr, as at start-up
    try:
        with (
            mock.patch.dict(os.environ, {**QUIET, **(env or {})}),
            mock.patch.object(sys, "stdin", io.StringIO(stdin)),
            redirect_stdout(out),
            redirect_stderr(err),
            chdir(ROOT),
            mock.patch.object(logging.Logger, "handle", own_records_only),
        ):
            try:
                status = main(list(args))
            except SystemExit as exit:  # argparse's usage errors, --help, --version
                status = exit.code if isinstance(exit.code, int) else 1
    finally:
        root.handlers, root.level = kept[0], kept[1]
        for name, level in kept[2].items():
            logging.getLogger(name).setLevel(level)
    return subprocess.CompletedProcess(
        ["signaldesk", *args], status, out.getvalue(), err.getvalue()
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], status: int) -> str:
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("signaldesk: error: "), result.stderr
    return lines[0]
