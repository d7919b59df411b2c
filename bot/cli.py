"""The ``signaldesk`` command line.

The core cannot import storage or adapters, so the composition root
(``adapters/main.py``) hands in a ``Wiring``: how to open the store, the console
publisher and session, and the chat platforms to start.

Batch tools keep a stable contract: JSON Lines on stdout; an error is one line on
stderr and a non-zero exit (2 for bad input or usage, 1 for a failure), never a
traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TextIO

from . import __version__
from .errors import SignalDeskError
from .models import Reply, Source, SourceText
from .ports import Publisher, Store
from .settings import Settings, load_settings
from .text import terminal_safe

log = logging.getLogger("signaldesk")

DEMO_CHANNEL = "console:general"


class PlatformService(Protocol):
    """A chat platform's app (Slack, Discord): commands in, posts out."""

    @property
    def platform(self) -> str: ...

    @property
    def publisher(self) -> Publisher: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


ConsoleSession = Callable[[Any, Any, TextIO, TextIO], Coroutine[Any, Any, None]]


@dataclass
class Wiring:
    open_store: Callable[[Settings], Store]
    console_publisher: Callable[[TextIO], Publisher]
    console_session: ConsoleSession
    render_reply: Callable[[Reply], str]
    platforms: Callable[[Settings, Any, Any], list[PlatformService]] = field(
        default=lambda settings, engine, commands: []
    )
    discord_invite_url: Callable[[Settings, int | None], str] | None = None


class UsageError(SignalDeskError):
    """Bad command-line input (exit status 2)."""


# ------------------------------------------------------------------- helpers


def _fail(message: str, status: int = 1) -> int:
    print(f"signaldesk: error: {message}", file=sys.stderr)
    return status


def _json_line(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _read_jsonl(stream: TextIO) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"line {number}: not valid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise UsageError(f"line {number}: expected a JSON object")
        yield number, obj


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class TerminalSafeFormatter(logging.Formatter):
    """Log records quote feed text (links, names, error messages from servers): their
    control characters are written as visible ``\\xNN`` escapes, never acted on by the
    operator's terminal, and a record's message stays on one line (a newline in a feed's
    link cannot forge a second record)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return terminal_safe(super().formatMessage(record), lines=False)

    def formatException(self, ei: Any) -> str:
        return terminal_safe(super().formatException(ei))


def _configure_logging(settings: Settings, *, quiet: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TerminalSafeFormatter(LOG_FORMAT))
    logging.basicConfig(
        level=logging.WARNING if quiet else getattr(logging, settings.log_level),
        handlers=[handler],
    )


# -------------------------------------------------------------- batch tools


async def _fetch_bytes(settings: Settings, url: str) -> tuple[bytes, dict[str, str], str]:
    from .fetch import Fetcher

    async with Fetcher(settings) as fetcher:
        result = await fetcher.fetch(url)
    return result.body, result.headers, result.url


def cmd_parse_feed(args: argparse.Namespace, settings: Settings) -> int:
    from .parse import parse_feed

    target: str = args.source
    url: str | None
    if target.startswith(("http://", "https://")):
        body, headers, url = asyncio.run(_fetch_bytes(settings, target))
    else:
        path = Path(target)
        if not path.is_file():
            raise UsageError(f"{target}: no such file (give a feed file path or an http(s) URL)")
        body, headers, url = path.read_bytes(), {}, None
    parsed = parse_feed(body, headers=headers, url=url)
    if parsed.warning:
        print(f"signaldesk: warning: {parsed.warning}", file=sys.stderr)
    for entry in parsed.entries:
        print(
            _json_line(
                {
                    "id": entry.guid or entry.link or entry.key,
                    "title": entry.title,
                    "link": entry.link,
                    "published": _iso(entry.published),
                    "summary": entry.summary,
                }
            )
        )
    return 0


def cmd_extract(args: argparse.Namespace, settings: Settings) -> int:
    from .extract import extract_article

    path = Path(args.path)
    if not path.is_file():
        raise UsageError(f"{args.path}: no such file (give a saved HTML page)")
    data = path.read_bytes()
    if path.suffix == ".gz":
        import gzip

        data = gzip.decompress(data)
    article = extract_article(data, url=args.url)
    print(
        _json_line(
            {
                "title": article.title,
                "text": article.text,
                "author": article.author,
                "published": _iso(article.published),
                "url": args.url or article.url,
            }
        )
    )
    return 0


def cmd_condense(args: argparse.Namespace, settings: Settings) -> int:
    from .condense import ExtractiveCondenser

    condenser = ExtractiveCondenser()
    now = datetime.now(UTC)
    with _open_input(args.input) as stream:
        for number, obj in _read_jsonl(stream):
            material = _condense_material(number, obj)
            briefing = condenser.condense(str(obj["id"]), material, now)
            print(
                _json_line(
                    {
                        "id": obj["id"],
                        "headline": briefing.headline,
                        "lead": briefing.lead,
                        "bullets": [b.text for b in briefing.bullets],
                        # For each bullet, the index into ``sources`` it came from.
                        "bullet_sources": [b.source for b in briefing.bullets],
                        "what_happened": briefing.what_happened,
                        "why_it_matters": briefing.why_it_matters,
                        "what_to_watch": briefing.what_to_watch,
                        "sources": [
                            s.model_dump(mode="json", exclude_none=True) for s in briefing.sources
                        ],
                    }
                )
            )
    return 0


def _condense_material(number: int, obj: dict[str, Any]) -> list[SourceText]:
    """One line of ``condense`` input: a single article ``{"id", "title"?, "text",
    "url"?, "source"?}`` or a story ``{"id", "sources": [{"title", "text", "url"?,
    "publisher"?}, …]}``."""
    if "id" not in obj:
        raise UsageError(f'line {number}: needs "id"')
    single = "sources" not in obj
    if single:
        if not isinstance(obj.get("text"), str):
            raise UsageError(f'line {number}: needs "id" and a string "text" (or "sources")')
        items = [{**obj, "publisher": obj.get("source")}]
    else:
        items = obj["sources"]
        if not isinstance(items, list) or not items:
            raise UsageError(f'line {number}: "sources" must be a non-empty list of objects')
    material = []
    for n, item in enumerate(items, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("text", ""), str):
            raise UsageError(f'line {number}: source {n} needs a string "text"')
        url = item.get("url")
        source = Source(
            publisher=str(item.get("publisher") or ("input" if single else f"source {n}")),
            title=str(item.get("title") or ""),
            url=url if isinstance(url, str) else None,
        )
        material.append(SourceText(source=source, text=item.get("text") or ""))
    return material


def cmd_cluster(args: argparse.Namespace, settings: Settings) -> int:
    from .cluster import run_cluster_cli

    with _open_input(args.input) as stream:
        return run_cluster_cli(stream, sys.stdout)


class _open_input:
    def __init__(self, path: str | None) -> None:
        self.path = path
        self.stream: TextIO | None = None

    def __enter__(self) -> TextIO:
        if self.path in (None, "-"):
            return sys.stdin
        try:
            self.stream = open(self.path, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{self.path}: {exc.strerror}") from None
        return self.stream

    def __exit__(self, *exc: object) -> None:
        if self.stream:
            self.stream.close()


# ---------------------------------------------------------- service commands


def _build_engine(settings: Settings, wiring: Wiring, store: Store, stream: TextIO) -> Any:
    from .engine import Engine
    from .fetch import Fetcher

    engine = Engine(
        settings,
        store,
        fetcher=Fetcher(settings),
        publishers={"console": wiring.console_publisher(stream)},
    )
    if settings.llm_base_url:
        from .llm import LLMCondenser
        from .ports import UsageStore

        # Token usage is written through the engine's store thread: one SQLite writer.
        engine.condenser = LLMCondenser(
            settings,
            usage_store=store if isinstance(store, UsageStore) else None,
            run_store=engine.db,
        )
    return engine


async def _demo(settings: Settings, wiring: Wiring, stdin: TextIO, stdout: TextIO) -> int:
    from .commands import Asker, CommandHandler
    from .demo import DemoSite

    store = wiring.open_store(settings)
    engine = _build_engine(settings, wiring, store, stdout)
    try:
        with DemoSite() as site:
            print(
                f"SignalDesk demo: {len(site.feeds)} sample feeds served at {site.base}, "
                f"channel #{DEMO_CHANNEL.split(':', 1)[1]}",
                file=stdout,
            )
            for feed in site.feeds:
                await engine.add_feed(DEMO_CHANNEL, site.url(feed), feed.name)
            report = await engine.poll_once()
            for error in report.errors:
                print(f"warning: {error}", file=sys.stderr)
            posted = await engine.deliver_all()
            print(
                f"\n{report.feeds_polled} feeds polled, {report.new_entries} entries, "
                f"{len(report.briefings)} briefings, {posted} posted. "
                "Try: /brief help · /brief china-ai · /brief more <id>",
                file=stdout,
            )
            commands = CommandHandler(engine)
            asker = Asker(channel_id=DEMO_CHANNEL, user_id="demo", is_admin=True)
            await wiring.console_session(commands, asker, stdin, stdout)
    finally:
        await engine.aclose()
        store.close()
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    # The demo runs on its embedded defaults: an in-memory database, the local site.
    # Every sample item is briefed (a real feed's first poll briefs only its newest few).
    overrides: dict[str, Any] = {
        "database": args.database,
        "allow_private_networks": True,
        "first_poll_limit": 50,
        # One feed at a time, in the order they were added: the same output every run
        # (polled side by side, which story an item meets first would vary).
        "concurrency": 1,
    }
    demo_settings = settings.model_copy(update=overrides)
    return asyncio.run(_demo(demo_settings, args.wiring, sys.stdin, sys.stdout))


async def _run(settings: Settings, wiring: Wiring) -> int:
    from .commands import Asker, CommandHandler

    store = wiring.open_store(settings)
    engine = _build_engine(settings, wiring, store, sys.stdout)
    commands = CommandHandler(engine)
    services = wiring.platforms(settings, engine, commands)
    for service in services:
        engine.publishers[service.platform] = service.publisher
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    names = ", ".join(["console", *(s.platform for s in services)])
    log.info("signaldesk %s running (%s); Ctrl-C stops", __version__, names)
    try:
        for service in services:
            await service.start()
        tasks = [asyncio.create_task(engine.run(stop))]
        if sys.stdin is not None and not sys.stdin.closed:
            asker = Asker(channel_id=DEMO_CHANNEL, user_id="console", is_admin=True)
            tasks.append(
                asyncio.create_task(wiring.console_session(commands, asker, sys.stdin, sys.stdout))
            )
        await stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for service in services:
            with suppress(Exception):
                await service.stop()
        await engine.aclose()
        store.close()
    log.info("signaldesk stopped")
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_run(settings, args.wiring))


def cmd_cmd(args: argparse.Namespace, settings: Settings) -> int:
    from .commands import Asker, CommandHandler

    if ":" not in args.channel:
        raise UsageError(
            f"--channel {args.channel}: expected <platform>:<channel>, e.g. console:general"
        )

    async def go() -> int:
        store = args.wiring.open_store(settings)
        engine = _build_engine(settings, args.wiring, store, sys.stdout)
        try:
            asker = Asker(channel_id=args.channel, user_id="cli", is_admin=args.admin)
            reply = await CommandHandler(engine).handle(args.text, asker)
            print(args.wiring.render_reply(reply))
            return 1 if reply.error else 0
        finally:
            await engine.aclose()
            store.close()

    return asyncio.run(go())


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    target = Path(args.path)
    if target.exists():
        raise UsageError(f"{target} exists: choose a new file for the backup")
    store = args.wiring.open_store(settings)
    try:
        store.backup(str(target))
    finally:
        store.close()
    print(f"backed up {settings.database} to {target}")
    return 0


def cmd_discord_invite_url(args: argparse.Namespace, settings: Settings) -> int:
    if args.wiring.discord_invite_url is None:
        raise UsageError("this build has no Discord adapter")
    print(args.wiring.discord_invite_url(settings, args.application_id))
    return 0


# --------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="signaldesk",
        description="News briefings in team chat: feeds in, clustered and sourced briefings out.",
    )
    parser.add_argument("--version", action="version", version=f"signaldesk {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "demo",
        help="run the pipeline on local sample feeds into a console channel, then read "
        "/brief commands",
        description="Serve the sample feeds on 127.0.0.1, poll them once through the real "
        "fetch path, print the briefings, then read /brief commands from standard input "
        "(a prompt on a terminal; line by line when piped; exit 0 at end of input).",
    )
    p.add_argument("--database", default=":memory:", help="SQLite file (default: in memory)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "run",
        help="the long-running service: scheduler, delivery, chat platforms",
        description="Poll feeds on their schedules and deliver briefings. Starts Slack when "
        "SLACK_BOT_TOKEN is set and Discord when DISCORD_TOKEN is set; the console channel "
        "otherwise. Ctrl-C or SIGTERM stops it cleanly.",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "cmd",
        help="run one /brief command against the database",
        description="Run one /brief command against the database, e.g. signaldesk cmd "
        '--channel console:general --admin "feed add https://example.org/feed.xml".',
    )
    p.add_argument(
        "--channel", default=DEMO_CHANNEL, help="<platform>:<channel id> (default %(default)s)"
    )
    p.add_argument("--admin", action="store_true", help="act as a channel admin")
    p.add_argument("text", help='the command, with or without "/brief"')
    p.set_defaults(func=cmd_cmd)

    p = sub.add_parser(
        "parse-feed",
        help="parse a feed file or URL; JSON Lines of entries on stdout",
        description="One JSON object per entry: id, title, link, published (ISO 8601 or "
        "null), summary.",
    )
    p.add_argument("source", metavar="PATH_OR_URL")
    p.set_defaults(func=cmd_parse_feed)

    p = sub.add_parser(
        "extract",
        help="extract the article from a saved HTML page; one JSON object on stdout",
        description="One JSON object: title, text, author, published, url.",
    )
    p.add_argument("path", metavar="PATH", help="an HTML file (.html or .html.gz)")
    p.add_argument("--url", help="the page's URL (resolves relative links, fills url)")
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser(
        "condense",
        help="condense articles (JSON Lines in) into briefings (JSON Lines out)",
        description='Each input line {"id", "title"?, "text", "url"?} (one article) or '
        '{"id", "sources": [{"title", "text", "url"?, "publisher"?}, ...]} (one story of '
        "several sources) gives one briefing line with the same id and headline, lead, "
        "bullets (1-3; none and no lead for a headline only), bullet_sources (each "
        "bullet's index into sources), what_happened, why_it_matters, what_to_watch, sources.",
    )
    p.add_argument("--input", help="JSON Lines file (default: standard input)")
    p.set_defaults(func=cmd_condense)

    p = sub.add_parser(
        "cluster",
        help="cluster items (JSON Lines in) into stories; each line back with a cluster field",
        description='Each input line {"id", "title", "text"?, "published"?, "source"?} is written '
        'back with a "cluster" field; items of one story share it.',
    )
    p.add_argument("--input", help="JSON Lines file (default: standard input)")
    p.set_defaults(func=cmd_cluster)

    p = sub.add_parser(
        "backup",
        help="a consistent copy of the database, safe while the service runs",
        description="Copy the database (SIGNALDESK_DATABASE) to PATH with SQLite's backup API.",
    )
    p.add_argument("path", metavar="PATH")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("discord", help="Discord helpers", description="Discord helpers.")
    discord_sub = p.add_subparsers(dest="discord_command", metavar="COMMAND", required=True)
    p = discord_sub.add_parser(
        "invite-url",
        help="print the URL that adds the bot to a Discord server",
        description="Print the OAuth2 URL that adds the bot (with slash commands and the "
        "permissions it needs) to a server. The application id is looked up from "
        "DISCORD_TOKEN unless given.",
    )
    p.add_argument("--application-id", type=int, help="the Discord application id")
    p.set_defaults(func=cmd_discord_invite_url)
    return parser


def main(argv: Sequence[str] | None, wiring: Wiring) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.wiring = wiring
    try:
        settings = load_settings()
        _configure_logging(settings, quiet=args.command in {"demo", "cmd"})
        status: int = args.func(args, settings)
        return status
    except UsageError as exc:
        return _fail(str(exc), 2)
    except SignalDeskError as exc:
        return _fail(str(exc), 1)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
