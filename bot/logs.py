"""Logging for the service: one line per record, for people or for log collectors.

- ``SIGNALDESK_LOG_FORMAT=text``: ``time LEVEL logger: message``.
- ``SIGNALDESK_LOG_FORMAT=json``: one JSON object a line — ``time``, ``level``,
  ``logger``, ``message``, and ``feed_id`` / ``channel_id`` / ``briefing_id`` as fields
  when a record carries them (``log.info(..., extra={"feed_id": 3})``), plus
  ``exception`` with the traceback.

Either way, feed text quoted in a record (links, names, servers' error messages) cannot
act on the operator's terminal or forge a second record: control characters are
written as visible escapes and a text record stays on one line. HTTP client libraries
log each request at INFO; at the rate of a fleet that is hundreds of lines a second, so
they speak only at DEBUG.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from .text import terminal_safe

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Fields a record may carry (``extra=``) that a collector can filter on.
ID_FIELDS = ("feed_id", "channel_id", "briefing_id", "platform")
# Loggers that narrate every request: quiet unless the operator asks for DEBUG.
CHATTY = ("httpx", "httpcore", "urllib3", "aiohttp.access", "asyncio")


class TerminalSafeFormatter(logging.Formatter):
    """Log records quote feed text (links, names, error messages from servers): their
    control characters are written as visible ``\\xNN`` escapes, never acted on by the
    operator's terminal, and a record's message stays on one line (a newline in a feed's
    link cannot forge a second record)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return terminal_safe(super().formatMessage(record), lines=False)

    def formatException(self, ei: Any) -> str:
        return terminal_safe(super().formatException(ei))


class JsonFormatter(logging.Formatter):
    """One JSON object a line. ``json.dumps`` escapes every control character, so a
    feed's text cannot break the line or the object."""

    def format(self, record: logging.LogRecord) -> str:
        obj: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ID_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                obj[name] = value if isinstance(value, int | float | bool) else str(value)
        if record.exc_info:
            obj["exception"] = self.formatException(record.exc_info)
        return json.dumps(obj, ensure_ascii=False)


def configure_logging(
    level: str, *, format: str = "text", quiet: bool = False, stream: TextIO | None = None
) -> None:
    """Send records to ``stream`` (stderr) at ``level`` (WARNING when ``quiet``: the demo
    and one-off commands print their own output)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        JsonFormatter() if format == "json" else TerminalSafeFormatter(TEXT_FORMAT)
    )
    numeric = logging.WARNING if quiet else getattr(logging, level)
    logging.basicConfig(level=numeric, handlers=[handler])
    for name in CHATTY:
        logging.getLogger(name).setLevel(
            logging.DEBUG if numeric <= logging.DEBUG else logging.WARNING
        )


__all__ = ["JsonFormatter", "TerminalSafeFormatter", "configure_logging"]
