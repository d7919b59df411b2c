"""Terminal escapes from feeds never reach the operator's terminal raw: not through
the console channel, not through an OPML export printed there, not through the log.

Feed links are kept as the feed wrote them (an entry's link is its identity), and the
engine logs them when their page cannot be read; a link can carry ESC sequences that
recolour the terminal, clear it, set its title, or a carriage return that overwrites a
log line. The CLI's log formatter and the console adapter show them as escapes."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from adapters.console.publisher import ConsolePublisher
from adapters.console.render import render_reply
from bot import cli, logs
from bot.engine import Engine
from bot.fetch import Fetcher
from bot.models import Channel, Reply
from bot.settings import load_settings
from storage import SqliteStore
from storage.database import StoreRunner
from tests.support.hostile import ANSI
from tests.support.http import LocalServer, Response

CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def _json_feed(base: str) -> bytes:
    items = [
        {
            "id": f"esc-{n}",
            "url": f"{base}/gone/{n}{sequence}",
            "title": "Harbour crane collapses during storm",
            "content_text": "A crane at the container terminal collapsed on Sunday night "
            "as gusts reached 110 km/h; nobody was hurt, the port authority said.",
        }
        for n, sequence in enumerate(ANSI)
    ]
    doc = {"version": "https://jsonfeed.org/version/1.1", "title": "Port news", "items": items}
    return json.dumps(doc).encode()


async def test_feed_links_with_escapes_are_logged_as_visible_escapes(
    local_server: LocalServer,
) -> None:
    url = local_server.route(
        "/feed.json",
        Response(200, _json_feed(local_server.base), {"Content-Type": "application/feed+json"}),
    )
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.TerminalSafeFormatter(logs.TEXT_FORMAT))
    logger = logging.getLogger("signaldesk")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    settings = load_settings(
        database=":memory:", allow_private_networks=True, first_poll_limit=10, fetch_timeout=2.0
    )
    store = SqliteStore.open(":memory:")
    engine = Engine(
        settings, store, fetcher=Fetcher(settings), publishers={}, runner=StoreRunner(store)
    )
    try:
        await engine.add_feed("console:general", url)
        report = await engine.poll_once()
        assert report.briefed_entries == len(ANSI)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        await engine.aclose()
        store.close()
    logged = stream.getvalue()
    # The links were logged (their pages are gone), with their escapes made visible.
    assert "/gone/0\\x1b[31mred\\x1b[0m" in logged
    assert "\\x1b]0;pwned\\x07" in logged and "gone/4a\\x08b" in logged
    assert not CONTROL.search(logged), repr(CONTROL.search(logged))
    # One record, one line: a newline in feed text cannot forge another record.
    assert all(line[:4].isdigit() for line in logged.splitlines())


def test_a_log_record_stays_on_one_line() -> None:
    formatter = logs.TerminalSafeFormatter(logs.TEXT_FORMAT)
    record = logging.LogRecord(
        "signaldesk.engine",
        logging.INFO,
        __file__,
        1,
        "article %s: %s",
        (
            "https://evil.example/x\n2026-12-02 08:00:00 ERROR signaldesk: forged",
            "\x9b2J cleared",
        ),
        None,
    )
    line = formatter.format(record)
    assert "\n" not in line and "\x9b" not in line
    assert "x\\x0a2026-12-02" in line and "\\x9b2J cleared" in line


def test_the_cli_logs_through_the_safe_formatter(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    cli._configure_logging(load_settings(database=":memory:"))
    (handler,) = root.handlers
    assert isinstance(handler.formatter, logs.TerminalSafeFormatter)


@pytest.mark.parametrize("sequence", ANSI)
def test_console_export_and_posts_show_escapes(sequence: str) -> None:
    opml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0"><body>'
        f'<outline type="rss" text="Port news" xmlUrl="https://port.example/{sequence}"/>'
        "</body></opml>\n"
    )
    shown = render_reply(Reply(text="Your feeds:", attachment=opml))
    assert not CONTROL.search(shown)
    assert "https://port.example/" in shown and "\\x" in shown

    terminal = io.StringIO()
    ConsolePublisher(terminal)._write(
        Channel(id=f"console:general{sequence}"), f"notice {sequence}"
    )
    assert not CONTROL.search(terminal.getvalue())


def test_json_logs_are_one_object_a_line_with_ids_as_fields() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    log = logging.getLogger("signaldesk.test.json")
    log.addHandler(handler)
    log.propagate = False
    try:
        # A feed's hostile title, quoted in a record, cannot break the line or the object.
        log.warning(
            "feed %s failed: %s",
            "Port\nnews\x1b[2J",
            'HTTP 503 "busy"',
            extra={"feed_id": 7, "channel_id": "slack:C1"},
        )
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("cycle failed", extra={"briefing_id": "k7q2xw4m"})
    finally:
        log.removeHandler(handler)
    first, second = stream.getvalue().splitlines()
    record = json.loads(first)
    assert record["level"] == "WARNING" and record["logger"] == "signaldesk.test.json"
    assert record["message"] == 'feed Port\nnews\x1b[2J failed: HTTP 503 "busy"'
    assert (record["feed_id"], record["channel_id"]) == (7, "slack:C1")
    assert "\x1b" not in first  # escaped inside the JSON string
    assert record["time"].endswith("+00:00")
    error = json.loads(second)
    assert error["briefing_id"] == "k7q2xw4m" and "ValueError: boom" in error["exception"]


def test_http_client_request_logs_wait_for_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    for name in logs.CHATTY:
        monkeypatch.setattr(logging.getLogger(name), "level", logging.NOTSET)
    logs.configure_logging("INFO", format="json")
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
    assert isinstance(root.handlers[0].formatter, logs.JsonFormatter)
    monkeypatch.setattr(root, "handlers", [])
    logs.configure_logging("DEBUG")
    assert logging.getLogger("httpx").isEnabledFor(logging.DEBUG)
