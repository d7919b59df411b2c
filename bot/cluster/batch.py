"""Batch clustering: ``cluster_items`` over a list and the ``signaldesk cluster``
command (JSON Lines in, the same lines with a ``"cluster"`` label out)."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import IO, Any

from bot.urls import link_date

from .clusterer import StoryClusterer
from .index import ClusterIndex


def _parse_time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"bad 'published' time: {value!r}") from exc


def cluster_items(
    items: Sequence[Mapping[str, Any]], clusterer: StoryClusterer | None = None
) -> list[int]:
    """Cluster ``items`` online, in input order; returns one label per item.

    Each item is a mapping with ``title`` (required), and optional ``text``,
    ``published`` (datetime, ISO 8601 string or epoch seconds) and ``source``.
    An item joins the best earlier cluster or opens a new one; labels are 0, 1, 2…
    in order of first appearance. Raises ``ValueError`` for an item without a title.
    """
    # A batch is held in memory whole and may come in any order of time: nothing is
    # pruned, so an item can join any story within the window of its own time.
    index = ClusterIndex(clusterer, prune=False)
    labels: list[int] = []
    opened = 0
    for n, item in enumerate(items):
        title = item.get("title")
        if not isinstance(title, str):
            raise ValueError(f"item {n}: missing 'title'")
        text = item.get("text") or ""
        if not isinstance(text, str):
            raise ValueError(f"item {n}: 'text' must be a string")
        url = item.get("url") or item.get("link")
        url = url if isinstance(url, str) else None
        # Undated items: many outlets write the day into the link.
        published = _parse_time(item.get("published")) or link_date(url)
        source = item.get("source")
        source = source if isinstance(source, str) and source else None
        fp = index.clusterer.fingerprint(title, text)
        placed = index.place(fp, published, source)
        label = placed.story_id
        if label is None:
            label, opened = opened, opened + 1
            if placed.follows is not None:
                index.link(label, placed.follows)
            if placed.followed_by is not None:
                index.link(placed.followed_by, label)
        labels.append(label)
        index.add(label, fp, published, (source,) if source else ())
    return labels


def run_cluster_cli(stdin: IO[str], stdout: IO[str], stderr: IO[str] | None = None) -> int:
    """``signaldesk cluster``: read JSON Lines ``{"id", "title", "text"?, "published"?,
    "source"?}`` from ``stdin``, write each object back with an added ``"cluster"``
    label. On bad input, write one line to stderr and return 2 (nothing is written to
    stdout then); otherwise return 0."""
    err = stderr if stderr is not None else sys.stderr
    items: list[dict[str, Any]] = []
    for lineno, line in enumerate(stdin, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            err.write(f"error: line {lineno}: invalid JSON ({exc.args[0]})\n")
            return 2
        if not isinstance(obj, dict):
            err.write(f"error: line {lineno}: expected a JSON object\n")
            return 2
        if not isinstance(obj.get("title"), str):
            err.write(f'error: line {lineno}: missing "title"\n')
            return 2
        items.append(obj)
    try:
        labels = cluster_items(items)
    except ValueError as exc:
        err.write(f"error: {exc}\n")
        return 2
    for obj, label in zip(items, labels, strict=True):
        stdout.write(json.dumps({**obj, "cluster": label}, ensure_ascii=False) + "\n")
    return 0
