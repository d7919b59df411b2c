"""The ``signaldesk`` command line.

The core cannot import storage or adapters, so the composition root
(``adapters/main.py``) hands in a ``Wiring``: how to assemble the desk (store, engine,
commands, chat platforms), how to open the store alone, and the console session. The
offline tools (``parse-feed``, ``extract``, ``condense``, ``cluster``) are in
``bot.tools``.

Batch tools keep a stable contract: JSON Lines on stdout; an error is one line on
stderr and a non-zero exit (2 for bad input or usage, 1 for a failure), never a
traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from . import __version__
from .errors import SignalDeskError
from .lifecycle import beat_forever, unless_stopped
from .logs import configure_logging
from .models import Reply, ServiceBeat
from .ports import Store
from .settings import Settings, load_settings
from .telemetry import service_problems
from .tools import UsageError, cmd_cluster, cmd_condense, cmd_extract, cmd_parse_feed

if TYPE_CHECKING:  # the service pieces load only for the commands that run them
    from .desk import Desk
    from .engine import Engine

log = logging.getLogger("signaldesk")

DEMO_CHANNEL = "console:general"


ConsoleSession = Callable[[Any, Any, TextIO, TextIO], Coroutine[Any, Any, None]]


@dataclass
class Wiring:
    """What the composition root hands the command line. ``assemble(settings, console
    stream, with the chat platforms)`` builds a whole ``Desk``; ``open_store`` is for
    the tools that need only the database (``backup``)."""

    open_store: Callable[[Settings], Store]
    assemble: Callable[[Settings, TextIO, bool], Desk]
    console_session: ConsoleSession
    render_reply: Callable[[Reply], str]
    discord_invite_url: Callable[[Settings, int | None], str] | None = None
    # Read-only look at a database file: (what is wrong with it, the service's heartbeat).
    probe_database: Callable[[str], tuple[str | None, ServiceBeat | None]] | None = None
    # (backup file, database path, progress) -> the restored file's size in bytes
    restore_database: Callable[[str, str, Callable[[int, int], None]], int] | None = None
    # (SQLite database path, PostgreSQL URL, progress) -> rows copied per table
    migrate_database: Callable[[str, str, Callable[[str, int], None]], dict[str, int]] | None = None


# ------------------------------------------------------------------- helpers


def _fail(message: str, status: int = 1) -> int:
    print(f"signaldesk: error: {message}", file=sys.stderr)
    return status


def _configure_logging(settings: Settings, *, quiet: bool = False) -> None:
    configure_logging(settings.log_level, format=settings.log_format, quiet=quiet)


# ---------------------------------------------------------- service commands


async def _demo(settings: Settings, wiring: Wiring, stdin: TextIO, stdout: TextIO) -> int:
    from .commands import Asker
    from .demo import DemoSite

    desk = wiring.assemble(settings, stdout, False)
    engine = desk.engine
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
            follows = await _a_development(engine, report.briefings)
            if follows:
                print(
                    f"A development posted as its own story: /brief related {follows}", file=stdout
                )
            asker = Asker(channel_id=DEMO_CHANNEL, user_id="demo", is_admin=True)
            await wiring.console_session(desk.commands, asker, stdin, stdout)
    finally:
        await desk.aclose()
    return 0


async def _a_development(engine: Engine, briefing_ids: list[str]) -> str | None:
    """The first of ``briefing_ids`` whose story follows an earlier one ("Follows: …")."""
    from .cluster import FOLLOWS_PREFIX

    for briefing_id in briefing_ids:
        briefing = await engine.db(engine.store.get_briefing, briefing_id)
        if (
            briefing
            and briefing.related
            and briefing.related[0].headline.startswith(FOLLOWS_PREFIX)
        ):
            return briefing_id
    return None


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
    from .commands import Asker

    desk = wiring.assemble(settings, sys.stdout, True)
    commands, services = desk.commands, desk.services
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    names = ", ".join(["console", *(s.platform for s in services)])
    log.info("signaldesk %s running (%s); Ctrl-C stops", __version__, names)
    try:
        for part in [*desk.listeners, *services]:
            if not await unless_stopped(part.start(), stop):
                log.info("signaldesk stopped while starting")
                return 0
        tasks = [
            asyncio.create_task(desk.engine.run(stop)),
            asyncio.create_task(beat_forever(desk, stop)),
        ]
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
        for listener in desk.listeners:
            with suppress(Exception):
                await listener.stop()
        await desk.aclose()
    log.info("signaldesk stopped")
    return 0


def cmd_healthcheck(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 when the database is reachable and migrated and the service's scheduler
    ticked recently with every platform connection up; else 1 and one line why."""
    if args.wiring.probe_database is None:
        raise UsageError("this build cannot open its database")
    problem, beat = args.wiring.probe_database(settings.database)
    if problem is not None:
        return _fail(f"unhealthy: {problem}")
    problems = service_problems(beat, datetime.now(UTC), settings.healthcheck_stale_after)
    if problems:
        return _fail("unhealthy: " + "; ".join(problems))
    assert beat is not None
    age = (datetime.now(UTC) - beat.at).total_seconds()
    platforms = ", ".join(f"{p} {s}" for p, s in sorted(beat.platforms.items()))
    print(
        f"healthy: signaldesk {beat.version} (pid {beat.pid}) ticked {max(age, 0):.0f} s ago"
        + (f"; {platforms}" if platforms else "")
    )
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_run(settings, args.wiring))


def cmd_cmd(args: argparse.Namespace, settings: Settings) -> int:
    from .commands import Asker

    if ":" not in args.channel:
        raise UsageError(
            f"--channel {args.channel}: expected <platform>:<channel>, e.g. console:general"
        )

    async def go() -> int:
        desk = args.wiring.assemble(settings, sys.stdout, False)
        try:
            asker = Asker(channel_id=args.channel, user_id="cli", is_admin=args.admin)
            reply = await desk.commands.handle(args.text, asker)
            print(args.wiring.render_reply(reply))
            return 1 if reply.error else 0
        finally:
            await desk.aclose()

    return asyncio.run(go())


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    target = Path(args.path).expanduser()
    if settings.database.startswith(("postgresql://", "postgres://")):
        raise UsageError(
            "a PostgreSQL database is backed up with its own tools: pg_dump -Fc -f FILE URL"
        )
    database = settings.database_path
    if database is None:
        raise UsageError("SIGNALDESK_DATABASE is :memory:: there is no database to back up")
    if not database.is_file():
        # Opening it would create an empty database and "back up" that.
        raise UsageError(
            f"database {database} does not exist: check SIGNALDESK_DATABASE (or --env-file)"
        )
    if target.exists():
        raise UsageError(f"{target} exists: choose a new file for the backup")
    if not target.parent.is_dir():
        raise UsageError(f"folder {target.parent} does not exist: create it or choose another")
    store = args.wiring.open_store(settings)
    try:
        size = store.backup(str(target), progress=_Progress("backed up"))
    finally:
        store.close()
    print(f"backed up {database} to {target} ({_size(size)}), Slack installations included")
    return 0


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    if args.wiring.restore_database is None:
        raise UsageError("this build cannot restore a database")
    if settings.database.startswith(("postgresql://", "postgres://")):
        raise UsageError("a PostgreSQL database is restored with its own tools: pg_restore")
    database = settings.database_path
    if database is None:
        raise UsageError("SIGNALDESK_DATABASE is :memory:: set the file to restore into")
    size = args.wiring.restore_database(args.path, str(database), _Progress("restored"))
    print(f"restored {args.path} to {database} ({_size(size)}); start the service on it")
    return 0


def cmd_migrate_to(args: argparse.Namespace, settings: Settings) -> int:
    if args.wiring.migrate_database is None:
        raise UsageError("this build cannot migrate a database")
    if not args.url.startswith(("postgresql://", "postgres://")):
        raise UsageError("migrate-to needs a postgresql:// URL, e.g. postgresql://desk@db/desk")
    database = settings.database_path
    if database is None or settings.database.startswith(("postgresql://", "postgres://")):
        raise UsageError("SIGNALDESK_DATABASE must be the SQLite file to copy from")
    if not database.is_file():
        raise UsageError(f"database {database} does not exist: check SIGNALDESK_DATABASE")

    def progress(table: str, rows: int) -> None:
        if rows % 50_000 == 0:
            print(f"signaldesk: {table}: {rows} rows copied", file=sys.stderr)

    copied = args.wiring.migrate_database(str(database), args.url, progress)
    counts = ", ".join(f"{n} {table}" for table, n in copied.items() if n)
    print(f"copied {database} into PostgreSQL: {counts or 'no rows'}")
    print("stop the service, set SIGNALDESK_DATABASE to the URL and start it again")
    return 0


class _Progress:
    """A line on stderr every tenth of a large copy (small ones are instant)."""

    def __init__(self, verb: str) -> None:
        self.verb = verb
        self.shown = 0

    def __call__(self, done: int, total: int) -> None:
        if total < 25_000:  # pages: about 100 MB
            return
        tenth = done * 10 // total
        if tenth > self.shown:
            self.shown = tenth
            print(f"{self.verb} {tenth * 10} %", file=sys.stderr)


def _size(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{size / 1000:.0f} kB"


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
    parser.add_argument(
        "--env-file",
        metavar="PATH",
        help="read settings from this file instead of ./.env (a service started elsewhere)",
    )
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
    p.add_argument(
        "--llm",
        action="store_true",
        help="condense with the configured model endpoint (SIGNALDESK_LLM_*), field by "
        "field checked against the sources; extractive where a field fails",
    )
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

    p = sub.add_parser(
        "restore",
        help="restore a backup into SIGNALDESK_DATABASE (which must not exist yet)",
        description="Copy a file written by `signaldesk backup` to SIGNALDESK_DATABASE and "
        "migrate it to this version. An existing database is never overwritten: move it "
        "aside first. Stop the service while restoring.",
    )
    p.add_argument("path", metavar="BACKUP")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser(
        "migrate-to",
        help="copy the SQLite database into a new, empty PostgreSQL database",
        description="Copy every table of SIGNALDESK_DATABASE (a SQLite file, only read) "
        "into the PostgreSQL database at URL, in one transaction, keeping every id. The "
        "target must be empty; stop the service while copying (docs/scale.md).",
    )
    p.add_argument("url", metavar="URL")
    p.set_defaults(func=cmd_migrate_to)

    p = sub.add_parser(
        "healthcheck",
        help="exit 0 if the service is healthy, 1 with one line saying what is wrong",
        description="Reads the database (read-only): it must exist and be migrated, and the "
        "running service must have ticked within SIGNALDESK_HEALTHCHECK_STALE_AFTER seconds "
        "with every chat platform connected. For container health checks and monitoring.",
    )
    p.set_defaults(func=cmd_healthcheck)

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
        settings = load_settings(args.env_file)
        _configure_logging(settings, quiet=args.command in {"demo", "cmd", "healthcheck"})
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
