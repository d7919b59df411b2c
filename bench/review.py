"""The editor's desk: real article pages through extract and the condenser, counted and
shown.

Every real-world page of ``../shared/eval/pages`` (readability's real sites and
newspaper4k's pages; ``--all`` adds readability's unit pages) is read as the engine
reads it: ``bot.extract.extract_article`` on the page, the feed's text (here: the
title) when that fails, then the extractive condenser with the page's own description
as the feed's summary. Prints mechanical counts beside their targets, then a readable
dump of briefings as the console channel shows them (``--dump N``, 20 by default) to
read with your own eyes::

    .venv/bin/python bench/review.py [--dump 20] [--all] [--eval-dir ../shared/eval]

Counts (shares of leads, of bullets, or of briefings):

- filler: a lead or bullet with words that are not in the article (a stock line);
- empty lead: a full briefing (not a short item) without a lead;
- cut: a bullet that is not a whole sentence: one without closing punctuation
  ("unended"), or one cut visibly with an ellipsis (both listed apart too);
- pointing back: a bullet opening on a word that leans on a sentence it does not show,
  when the bullet before it in the briefing does not resolve it;
- list/label: a bullet that is a list item, a "Label: text" line or a table row;
- site-name headline: the outlet's name left in the headline;
- dateline: a lead or bullet still opening on a dateline ("Springfield –");
- empty sections: briefings that show none of the three sections;
- near-duplicates: a bullet that says what the lead or another bullet says;
- first person: a bullet or a section sentence in which the writer says "I", "me" or
  "my" outside quotation marks: shown apart from the article, it reads as the bot's own
  voice.

Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import trafilatura

from adapters.console.render import render_briefing
from bot.condense import ExtractiveCondenser
from bot.condense.analysis import _overlap
from bot.errors import ExtractError
from bot.extract import extract_article
from bot.models import Briefing, Source, SourceText
from bot.sentences import split_sentences
from bot.text import clean_text
from bot.words import content_words

DEFAULT_EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
NOW = datetime(2025, 1, 1, tzinfo=UTC)
# name -> (the share it is measured on, the target share, at most)
TARGETS = {
    "filler": 0.0,
    "empty lead": 0.0,
    "cut bullets": 0.05,
    "pointing-back bullets": 0.03,
    "site-name headlines": 0.05,
}
_WORD = re.compile(r"[^\W_]+")
_CLOSED = re.compile(r"[.!?…][\"'”’)\]]*$")
_POINTING = frozenset(
    """he she it they this these those that his her its their them him but however also
    and so meanwhile still yet such then there thus hence instead""".split()
)
_LIST = re.compile(r"^(?:[-•*–·]|\d{1,2}[.)]\s|[A-Z][\w'’-]*(?:\s+[\w'’-]+){0,2}\s*:\s)")
_DATELINE = re.compile(r"^[A-Z][\w.’']+(?:[ ,]+[A-Z][\w.’']*){0,3}\s+[–—-]{1,2}\s")
# The writer's own voice: "I" before a lowercase word or with a contraction, "me", "my".
_FIRST_PERSON = re.compile(r"\bI\b(?=['’][a-z]|\s+[a-z])|\b(?i:me|my|myself|mine)\b")
_QUOTED = re.compile(r"[\"“][^\"“”]*[\"”]")
_SEPARATORS = re.compile(r"\s+[|–—\-:·•»]\s+|\s*\|\s*")


@dataclass
class Page:
    name: str
    url: str | None
    html: bytes


@dataclass
class Counts:
    briefings: int = 0
    short_items: int = 0
    leads: int = 0
    bullets: int = 0
    sentences: int = 0  # in the sections
    hits: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, example: str) -> None:
        self.hits.setdefault(name, []).append(example)

    def n(self, name: str) -> int:
        return len(self.hits.get(name, []))


def pages(eval_dir: Path, everything: bool) -> list[Page]:
    root = eval_dir / "pages"
    out = []
    for line in (root / "INDEX.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["tier"] != "realworld" and not everything:
            continue
        html = gzip.decompress((root / row["html"]).read_bytes())
        expected = json.loads((root / row["expected"]).read_text(encoding="utf-8"))
        url = row.get("url") or expected.get("url")
        out.append(Page(name=f"{row['source']}/{row['id']}", url=url, html=html))
    return out


def outlet_of(url: str | None, name: str) -> str:
    host = urlsplit(url).hostname if url else None
    return (host or name).removeprefix("www.")


def condense(page: Page, condenser: ExtractiveCondenser, i: int) -> tuple[Briefing, str, str]:
    """The briefing, the article text and the page's own title, as the engine gets them."""
    try:
        article = extract_article(page.html, url=page.url)
        title, text, summary = article.title, article.text, article.description
    except ExtractError:
        # The engine falls back to the feed's own text; a page's feed gives its title.
        title, text, summary = _raw_title(page.html), "", ""
    # The outlet as a feed names itself: the site's name, else its host.
    meta = trafilatura.extract_metadata(page.html)
    publisher = (meta.sitename if meta is not None else "") or outlet_of(page.url, page.name)
    source = Source(publisher=publisher, title=title, url=page.url)
    material = [SourceText(source=source, text=text or title, summary=summary)]
    return condenser.condense(f"review{i}", material, NOW), text, title


def _raw_title(html: bytes) -> str:
    m = re.search(rb"<title[^>]*>(.*?)</title>", html, re.I | re.S)
    return m.group(1).decode("utf-8", "replace").strip() if m else ""


def _site_words(page: Page, publisher: str) -> set[str]:
    host = outlet_of(page.url, "")
    words = {w for w in re.split(r"[.\-]", host) if len(w) > 2} - {"com", "org", "net", "www"}
    words |= {w for w in re.split(r"\W+", publisher) if len(w) > 3}
    return {w.lower() for w in words}


def has_site_name(headline: str, page: Page, publisher: str) -> bool:
    """The headline keeps a segment that names the outlet: "… | Site", "Site: …"."""
    parts = [p for p in _SEPARATORS.split(headline) if p.strip()]
    if len(parts) < 2:
        return False
    site = _site_words(page, publisher)
    for part in (parts[0], parts[-1]):
        squashed = re.sub(r"[^a-z0-9]", "", part.lower())
        if site and any(w in squashed for w in site) and len(part.split()) <= 5:
            return True
        if part is parts[-1] and " | " in headline and len(part.split()) <= 4:
            return True  # "… | The Daily Star": a short tail after a pipe is a masthead
    return False


def _first_person(text: str) -> bool:
    """The writer speaks ("I", "me", "my") outside quotation marks. "I" counts only
    before a lowercase word, so "World War I" and a roman numeral do not."""
    return _FIRST_PERSON.search(_QUOTED.sub(" ", text)) is not None


def _follows(flat: str, before: str, sentence: str) -> bool:
    """``sentence`` comes right after ``before`` in the article: what it points back to
    is the item shown just above it."""
    before, sentence = " ".join(before.split()), " ".join(sentence.split())
    at = flat.find(sentence)
    if not before or at < 0:
        return False
    gap = flat[max(0, at - len(before) - 3) : at]
    return before[-40:] in gap


def review(briefings: list[tuple[Page, Briefing, str, str]]) -> Counts:
    counts = Counts()
    for page, b, text, raw_title in briefings:
        counts.briefings += 1
        short = not b.lead and not b.bullets
        if short:
            counts.short_items += 1
        publisher = b.sources[0].publisher if b.sources else ""
        if has_site_name(b.headline, page, publisher):
            counts.add("site-name headlines", f"{page.name}: {b.headline}")
        article_words = set(_WORD.findall((clean_text(text) + " " + raw_title).lower()))
        if short:
            continue
        counts.leads += 1
        if not b.lead.strip():
            counts.add("empty lead", page.name)
        shown = ([b.lead] if b.lead else []) + [x.text for x in b.bullets]
        for piece in shown:
            words = _WORD.findall(piece.lower())
            missing = [w for w in words if w not in article_words]
            if words and len(missing) > max(1, len(words) // 10):
                counts.add("filler", f"{page.name}: {piece}")
            if _DATELINE.match(piece):
                counts.add("datelines", f"{page.name}: {piece}")
        previous: list[frozenset[str]] = [frozenset(content_words(b.lead))]
        flat = " ".join(clean_text(text).split())
        before = b.lead
        for bullet in b.bullets:
            counts.bullets += 1
            t = bullet.text.strip()
            if t.endswith(("…", "...")):
                # A visible cut: still not a whole sentence, so it counts as cut.
                counts.add("ellipsis-cut bullets", f"{page.name}: {t}")
                counts.add("cut bullets", f"{page.name}: {t}")
            elif not _CLOSED.search(t):
                counts.add("unended bullets", f"{page.name}: {t}")
                counts.add("cut bullets", f"{page.name}: {t}")
            first = t.lstrip("\"“'‘([ ").split(" ", 1)[0].rstrip(",;:").lower()
            words = frozenset(content_words(t))
            if first in _POINTING and not _follows(flat, before, bullet.sentence or t):
                counts.add("pointing-back bullets", f"{page.name}: {t}")
            before = bullet.sentence or t
            if _LIST.match(t) or t.count(" | ") or sum(c.isdigit() for c in t) > len(t) / 4:
                counts.add("list/label bullets", f"{page.name}: {t}")
            if any(_overlap(words, p) > 0.6 for p in previous if p):
                counts.add("near-duplicate bullets", f"{page.name}: {t}")
            previous.append(words)
            if _first_person(t):
                counts.add("first-person bullets", f"{page.name}: {t}")
        for section in (b.what_happened, b.why_it_matters, b.what_to_watch):
            for sentence in split_sentences(section):
                counts.sentences += 1
                if _first_person(sentence):
                    counts.add("first-person sections", f"{page.name}: {sentence}")
        if not b.sections:
            counts.add("no sections", page.name)
        if not b.why_it_matters:
            counts.add("no why-it-matters", page.name)
        if not b.what_to_watch:
            counts.add("no what-to-watch", page.name)
    return counts


def print_counts(c: Counts) -> list[str]:
    full = c.briefings - c.short_items
    print(f"{c.briefings} pages: {full} full briefings, {c.short_items} short items")
    print(f"{'count':<26}{'n':>5}{'share':>9}{'target':>9}   of")
    denominators = {
        "filler": (c.leads + c.bullets, "leads and bullets"),
        "empty lead": (c.leads, "full briefings"),
        "datelines": (c.leads + c.bullets, "leads and bullets"),
        "cut bullets": (c.bullets, "bullets"),
        "unended bullets": (c.bullets, "bullets"),
        "ellipsis-cut bullets": (c.bullets, "bullets"),
        "pointing-back bullets": (c.bullets, "bullets"),
        "list/label bullets": (c.bullets, "bullets"),
        "near-duplicate bullets": (c.bullets, "bullets"),
        "first-person bullets": (c.bullets, "bullets"),
        "first-person sections": (c.sentences, "section sentences"),
        "site-name headlines": (c.briefings, "headlines"),
        "no sections": (full, "full briefings"),
        "no why-it-matters": (full, "full briefings"),
        "no what-to-watch": (full, "full briefings"),
    }
    missed = []
    for name, (den, of) in denominators.items():
        share = c.n(name) / den if den else 0.0
        target = TARGETS.get(name)
        shown = f"{target:>8.0%}" if target is not None else f"{'':>8}"
        flag = ""
        if target is not None and share > target:
            flag = "  MISSED"
            missed.append(name)
        print(f"{name:<26}{c.n(name):>5}{share:>9.1%} {shown}   {of}{flag}")
    print(f"bullets per full briefing: {c.bullets / full if full else 0:.2f}")
    return missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL)
    parser.add_argument("--dump", type=int, default=20, help="briefings to print in full")
    parser.add_argument("--all", action="store_true", help="readability's unit pages too")
    parser.add_argument("--examples", action="store_true", help="list every hit")
    args = parser.parse_args(argv)
    condenser = ExtractiveCondenser()
    done = []
    for i, page in enumerate(pages(args.eval_dir, args.all)):
        briefing, text, title = condense(page, condenser, i)
        done.append((page, briefing, text, title))
    counts = review(done)
    missed = print_counts(counts)
    if args.examples:
        for name, hits in sorted(counts.hits.items()):
            if name.startswith("no "):
                continue
            print(f"\n== {name}")
            for hit in hits:
                print("   " + hit[:300])
    step = max(1, len(done) // args.dump) if args.dump else 0
    for page, briefing, _, _ in done[::step][: args.dump] if step else []:
        print(f"\n### {page.name}")
        print(render_briefing(briefing, full=True))
    if missed:
        print("\n!!! targets missed: " + ", ".join(missed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
