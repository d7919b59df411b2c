"""Build ``bot/data/word_frequency_en.txt.gz``: the clusterer's IDF prior.

The clusterer must know which words are generic before it has seen a single story (a
cold start judges its first items on no vocabulary), so it ships English word
frequencies: every word of wordfreq's ``small_en`` list (frequency >= 1e-6, ~29,000
words, built from Wikipedia, subtitles, news, books, web text and Twitter), grouped by
frequency in centibels. Words holding a digit are left out: the clusterer judges
numbers by their shape instead.

The wordfreq data is CC BY-SA 4.0 (see ``bot/data/README.md``). Run once, with the
wordfreq wheel unpacked somewhere and ``msgpack`` importable:

    python bench/idf_table.py /path/to/wordfreq/data/small_en.msgpack.gz
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "bot" / "data" / "word_frequency_en.txt.gz"


def main(argv: list[str]) -> int:
    import msgpack  # type: ignore[import-not-found]  # only for this one-off build

    with gzip.open(argv[0]) as fh:
        data = msgpack.unpackb(fh.read(), raw=False)
    header, buckets = data[0], data[1:]
    if header.get("format") != "cB":
        raise SystemExit(f"unexpected wordfreq format: {header!r}")
    lines = []
    for centibels, words in enumerate(buckets, start=1):
        kept = sorted(w for w in words if w.isalpha())
        if kept:
            lines.append(f"{centibels}\t{' '.join(kept)}")
    # mtime=0: the same input gives the same bytes.
    with OUT.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:
        fh.write(("\n".join(lines) + "\n").encode("utf-8"))
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(lines)} frequency classes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
