"""Time of the core's text handling under the red-team inputs of issue 12.

Each case runs in its own process with a time limit (exponential backtracking holds the
GIL and never returns), so a tree that hangs still gives a figure: ``> limit``::

    .venv/bin/python bench/adversarial.py [--timeout 60] [--root PATH] [--case NAME]

``--root`` points at another checkout's directory (one holding ``bot/``) to time that
code instead, e.g. an older commit unpacked with ``git archive``.

Cases: the byline sentence ("by" and comma-separated capitalised names that do not end
like a byline) at 8, 10, 12 and 100 names, through ``is_boilerplate``; an 800 kB feed
field of unclosed tags through ``html_to_text``; an RSS feed with a 300 kB description
through ``parse_feed``; 200 kB of "Mr. " through ``split_sentences``; 4.8 MB article
pages (many paragraphs, or one long paragraph of "Mr. ") through extraction and
condensing (the pipeline's CPU stage for one entry).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAMES = ["NASA", "NOAA", "USGS", "FEMA", "NTSB", "OSHA", "NIST", "DARPA", "CERN", "ESA"]
PARAGRAPH = (
    "The city council voted 7-2 on Tuesday to extend the tram line to the airport, "
    "a project officials put at 310 million euros."
)


# Each case imports what it needs and builds its input, then returns the call to time.


def _byline(n: int) -> Callable[[], Callable[[], object]]:
    names = ", ".join(NAMES[i % len(NAMES)] for i in range(n))
    sentence = f"by {names} were all named in the filing on Tuesday."

    def prepare() -> Callable[[], object]:
        from bot.condense import is_boilerplate

        return lambda: is_boilerplate(sentence)

    return prepare


def _html_field() -> Callable[[], object]:
    from bot.text import html_to_text

    markup = (f"<p>{PARAGRAPH}</p>" + "<a href='x" * 80_000)[:800_000]
    return lambda: html_to_text(markup)


def _description() -> Callable[[], object]:
    from bot.parse import parse_feed

    description = escape((f"<p>{PARAGRAPH}</p>" + "<a href='x" * 30_000)[:300_000])
    body = (
        "<rss version='2.0'><channel><title>City desk</title><item><title>Tram line</title>"
        f"<description>{description}</description></item></channel></rss>"
    ).encode()
    return lambda: parse_feed(body)


def _titles() -> Callable[[], object]:
    from bot.sentences import split_sentences

    text = "Mr. " * 50_000
    return lambda: split_sentences(text)


def _page(paragraphs: list[str]) -> Callable[[], object]:
    from bot.condense import ExtractiveCondenser
    from bot.extract import extract_article
    from bot.models import Source, SourceText

    page = "<html><body><article>" + "".join(f"<p>{p}</p>" for p in paragraphs)
    body = (page + "</article></body></html>").encode()

    def run() -> object:
        article = extract_article(body)
        source = Source(publisher="city", title="Tram line")
        material = [SourceText(source=source, text=article.text)]
        return ExtractiveCondenser().condense("b1", material, datetime(2026, 1, 1, tzinfo=UTC))

    return run


def _page_of_paragraphs() -> Callable[[], object]:
    tail = "Mr. Smith and Dr. Jones agreed."
    return _page([f"Paragraph {n}: {PARAGRAPH} {tail}" for n in range(34_000)])


def _page_of_titles() -> Callable[[], object]:
    return _page([PARAGRAPH, "Mr. " * 1_200_000])


CASES: dict[str, tuple[str, Callable[[], Callable[[], object]]]] = {
    "byline-8": ("byline sentence, 8 names", _byline(8)),
    "byline-10": ("byline sentence, 10 names", _byline(10)),
    "byline-12": ("byline sentence, 12 names", _byline(12)),
    "byline-100": ("byline sentence, 100 names", _byline(100)),
    "html-800k": ("800 kB HTML field", _html_field),
    "description-300k": ("RSS, 300 kB description", _description),
    "mr-200k": ('200 kB of "Mr. "', _titles),
    "page-4.8m": ("4.8 MB page, 34,000 paragraphs", _page_of_paragraphs),
    "page-4.8m-mr": ('4.8 MB page, one paragraph of "Mr. "', _page_of_titles),
}


def _run_one(name: str) -> None:
    call = CASES[name][1]()
    start = time.perf_counter()
    call()
    print(f"{time.perf_counter() - start:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per case")
    parser.add_argument("--root", default=str(ROOT), help="checkout whose bot/ is timed")
    parser.add_argument("--case", choices=list(CASES), action="append", help="only these")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, args.root)
        _run_one(args.child)
        return
    print(f"{'case':<36}{'seconds':>10}   ({args.root})")
    for name in args.case or list(CASES):
        label = CASES[name][0]
        cmd = [sys.executable, __file__, "--child", name, "--root", args.root]
        try:
            out = subprocess.run(
                cmd, capture_output=True, text=True, timeout=args.timeout, check=False
            )
            shown = out.stdout.strip().splitlines()[-1] if out.returncode == 0 else "error"
            if out.returncode:
                print(out.stderr.strip().splitlines()[-1][:200], file=sys.stderr)
        except subprocess.TimeoutExpired:
            shown = f"> {args.timeout:.0f}"
        print(f"{label:<36}{shown:>10}")


if __name__ == "__main__":
    main()
