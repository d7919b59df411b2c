"""The offline tools of ``signaldesk``: ``parse-feed``, ``extract``, ``condense`` and
``cluster`` (``bot.cli`` parses the arguments and hands over here).

A stable contract: JSON Lines on stdout; bad input is a ``UsageError`` (one line on
stderr, exit status 2), never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from .errors import SignalDeskError
from .models import Source, SourceText
from .settings import Settings


class UsageError(SignalDeskError):
    """Bad command-line input (exit status 2)."""


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
    from .ports import Condenser

    fallback = ExtractiveCondenser()
    condenser: Condenser = fallback
    if getattr(args, "llm", False):
        if not settings.llm_base_url:
            raise UsageError(
                "condense --llm needs a model endpoint: set SIGNALDESK_LLM_BASE_URL and "
                "SIGNALDESK_LLM_MODEL (in .env or the environment)"
            )
        from .llm import LLMCondenser

        condenser = LLMCondenser(settings, fallback=fallback)
    now = datetime.now(UTC)
    with _open_input(args.input) as stream:
        for number, obj in _read_jsonl(stream):
            material = _condense_material(number, obj)
            briefing = condenser.condense(str(obj["id"]), material, now)
            extra: dict[str, Any] = {}
            if condenser is not fallback:
                # Which fields a model wrote; the rest are extractive.
                extra = {
                    "condenser": briefing.condenser,
                    "written_by_model": briefing.written_by_model,
                }
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
                        **extra,
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


__all__ = [
    "UsageError",
    "cmd_cluster",
    "cmd_condense",
    "cmd_extract",
    "cmd_parse_feed",
]
