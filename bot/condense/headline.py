"""The briefing's headline: a source's title without the site's name."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ..models import HEADLINE_MAX, Source
from ..sentences import split_sentences
from ..text import cut, one_line
from .boilerplate import is_boilerplate, strip_dateline
from .tuning import UNTITLED

# A separator is tried only where a run of spaces starts (the lookbehind): tried inside a
# long run too, each try would scan the rest of it, and a hostile title would cost
# quadratic time. Leftmost matching starts at a run's first space anyway.
_SITE_SEPARATORS = re.compile(r"(?<!\s)(?:\s++(?:[|–—·•»]|-|::)\s+|\s*+\|\s*)")
# Chinese and Japanese titles run without spaces, and their sites join the section's and
# the site's names on with a bare ASCII "_" or "-" ("…关注点大不同_教育频道_中国青年网",
# "…用药需求-新华网"); a headline itself uses full-width marks ("：", "——").
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_SEPARATOR = re.compile(f"(?<=[{_CJK}])[_-](?=[{_CJK}])")
_CJK_TAIL = 10  # characters: a section's or a site's name, not part of a headline
_TAGLINE = re.compile(
    r"^[^:]{0,80}\b(?:news|source|platform|favou?rite|home\ of|daily|online|portal)\b"
    r"[^:]{0,40}:\s+",
    re.IGNORECASE | re.VERBOSE,
)


def clean_headline(title: str, publisher: str = "", url: str | None = None) -> str:
    """A title without the site's name: "Story | Site", "Story - Site", "Site | The
    region's favourite news source: Story", breadcrumbs "Story » Section » Site"."""
    title = _without_cjk_tail(one_line(title))
    site = _site_words(publisher, url)
    parts = _SITE_SEPARATORS.split(title)
    if len(parts) < 2:
        return title
    seps = _SITE_SEPARATORS.findall(title)

    def is_site(part: str, *, mostly: bool = False) -> bool:
        squashed = re.sub(r"[\W_]", "", part.lower())
        if not squashed:
            return True
        # The site's name in the segment ("Story - The Verge"), or the segment a short
        # form of the site's name ("Story - Spiceworks" from "Spiceworks Inc"). With
        # ``mostly``, the name is at least half of the segment: a headline may carry the
        # site's name ("Trip report @ Steven's Home" on the blog "Steven's Home").
        return any(
            (w in squashed and (not mostly or 2 * len(w) >= len(squashed)))
            or (len(squashed) >= 4 and squashed in w)
            for w in site
        )

    # From the end, then from the start: drop segments that name the site; after a
    # pipe, a chevron or a double colon, a short tail is a site or a section name even
    # when unnamed.
    # parts[lo:hi] stay (indices, not slices: a hostile title of 30,000 "| Site" tails
    # would otherwise cost quadratic time); seps[i] stands between parts[i] and [i + 1].
    lo, hi = 0, len(parts)
    head = sum(map(len, parts)) + len(parts) - 1  # len(" ".join(parts[lo:hi]))
    while hi - lo > 1:
        tail, sep = parts[hi - 1], seps[hi - 2].strip()
        head -= len(tail) + 1  # what stays before the tail
        short = len(tail.split()) <= 5 and len(tail) < head
        if (is_site(tail) and len(tail.split()) <= 6) or (sep in {"|", "»", "::"} and short):
            hi -= 1
        else:
            break
    while hi - lo > 1 and is_site(parts[lo], mostly=True) and len(parts[lo].split()) <= 4:
        lo += 1
    pieces = [parts[lo]]
    for i in range(lo, hi - 1):
        pieces += [seps[i], parts[i + 1]]
    out = "".join(pieces).strip()
    m = _TAGLINE.match(out)
    if m and len(out) - m.end() >= 20:
        out = out[m.end() :]
    return out or title


def _without_cjk_tail(title: str) -> str:
    """A Chinese or Japanese title without the short names joined on after a bare
    "_" or "-": each goes while it is shorter than what stays."""
    end = len(title)
    for tail in reversed(_CJK_SEPARATOR.split(title)[1:]):
        head = end - len(tail) - 1  # what stays: everything before the separator
        if len(tail) > _CJK_TAIL or len(tail) >= head:
            break
        end = head
    return title[:end]


def _site_words(publisher: str, url: str | None) -> set[str]:
    words: set[str] = set()
    squashed = re.sub(r"[\W_]", "", publisher.lower())
    if len(squashed) >= 3:
        words.add(squashed)
    if url:
        try:
            host = (urlsplit(url).hostname or "").lower()
        except ValueError:
            host = ""
        for w in re.split(r"[.-]", host):
            if len(w) >= 4 and w not in _HOST_NOISE:
                words.add(w)
    return words


_HOST_NOISE = frozenset("www com org net news blog blogs html info co uk edition".split())


# A live blog's or an explainer's title names a running page, not an event: "Kestrel Bay
# strike: the latest on day three", "Live updates: …", "Ukraine war live: …", "… – as it
# happened", "What we know so far". ("Live Nation sued", "Apple's latest iPhone" are not.)
_RUNNING_TITLE = re.compile(
    r"\blive[\s-]+(?:updates?|blog|coverage|reaction)\b"
    r"|(?:^|[:|–—-]\s*)live\s*(?:[:|–—-]|$)"
    r"|\blive:"
    r"|\bas\ it\ happened\b"
    r"|\bthe\ latest\b\s*(?:on\b|:|$|\()"
    r"|\blatest\ (?:updates|developments)\b"
    r"|\bwhat\ (?:we\ know|to\ know)\b",
    re.IGNORECASE | re.VERBOSE,
)


def is_running_title(title: str) -> bool:
    """A live blog's or an explainer's title ("…: the latest on day three")."""
    return _RUNNING_TITLE.search(title) is not None


def _headline(sources: list[Source], texts: list[str]) -> str:
    """The first source's title without the site's name, passing over a live blog's
    label when another source's title reports the event; else the text's first line."""
    titles = [clean_headline(src.title or "", src.publisher, src.url) for src in sources]
    titles = [t for t in titles if t]
    if titles:
        title = next((t for t in titles if not is_running_title(t)), titles[0])
        return cut(title, HEADLINE_MAX)
    for text in texts:
        for n, raw in enumerate(split_sentences(text)):
            shown = strip_dateline(raw, opening=n == 0)
            if not is_boilerplate(shown):
                return cut(shown, HEADLINE_MAX)
    return UNTITLED
