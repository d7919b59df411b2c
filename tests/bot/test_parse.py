"""Feed parsing: RSS, Atom and JSON Feed into one model; hostile input stays contained."""

from __future__ import annotations

import contextlib
import json
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import ParseError
from bot.models import ParsedFeed
from bot.parse import MAX_ENTRIES, MAX_TITLE, parse_feed, strip_doctype

DATA = Path(__file__).parents[1] / "data" / "feeds"
FEED_URL = "https://feeds.example/path/feed.xml"


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


# --------------------------------------------------------------------- formats


def test_rss20() -> None:
    feed = parse_feed(load("rss20.xml"), url=FEED_URL)
    assert feed.format == "rss20"
    assert feed.title == "Harbour Gazette & Tide Tables"
    assert feed.link == "https://gazette.example/"
    assert feed.warning is None
    first, js, third = feed.entries
    assert first.guid == "gazette-ferry-0042"
    assert first.link == "https://feeds.example/news/ferry-winter"  # relative, resolved
    # A plain-text title keeps its angle brackets: they are words, not markup.
    assert first.title == "Ferry timetable changes for the <winter> season"
    assert first.summary == "The ferry will run hourly."  # tags and script gone
    assert first.content == "From Monday the ferry runs hourly.\nNight crossings end at 22:00."
    assert first.author == "Ada Lovelace-Smith"
    assert first.published == datetime(2026, 3, 3, 8, 30, tzinfo=UTC)
    assert js.link is None  # javascript: dropped
    assert js.guid == "gazette-js-1"
    assert third.published == datetime(2026, 3, 3, 4, 15, tzinfo=UTC)  # -0500 to UTC
    assert third.key == "link:https://gazette.example/news/lighthouse"


def test_rss10() -> None:
    feed = parse_feed(load("rss10.rdf"))
    assert feed.format == "rss10"
    assert feed.title == "Orchard Notes"
    (entry,) = feed.entries
    assert entry.title == "Pruning before the frost"
    assert entry.link == "https://orchard.example/notes/pruning"
    assert entry.summary == "Cut the water shoots first."
    assert entry.author == "B. Grower"
    assert entry.published == datetime(2026, 1, 15, 8, 0, tzinfo=UTC)


def test_atom10() -> None:
    feed = parse_feed(load("atom10.xml"), headers={"Content-Type": "application/atom+xml"})
    assert feed.format == "atom10"
    assert feed.title == "Hilltop Observatory <Log>"
    assert feed.link == "https://observatory.example/"
    comet, dome = feed.entries
    assert comet.title == "A bright comet"  # type="html": markup removed
    assert comet.link == "https://observatory.example/blog/posts/comet"  # xml:base
    assert comet.summary == "Visible to the naked eye & rising."
    assert comet.content == "Look north-east after 21:00."
    assert comet.author == "Carla Stargazer"
    assert comet.published == datetime(2026, 2, 10, 19, 45, tzinfo=UTC)  # updated, +02:00
    assert dome.link is None  # data: dropped
    for entry in feed.entries:
        assert entry.published is not None and entry.published.tzinfo is UTC


def test_json_feed_10() -> None:
    headers = {"Content-Type": "application/feed+json"}
    feed = parse_feed(
        load("jsonfeed10.json"), headers=headers, url="https://bakery.example/feed.json"
    )
    assert feed.format == "json10"
    assert feed.title == "Bakery Bulletin"
    assert feed.link == "https://bakery.example/"
    rye, croissant = feed.entries  # the non-object item is skipped
    assert rye.guid == "loaf-7"
    assert rye.link == "https://bakery.example/loaves/rye"
    assert rye.content == "Dark rye returns on Fridays."
    assert rye.summary == "Rye returns."
    assert rye.author == "The Baker"  # the feed's author applies to its items
    assert rye.published == datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
    assert croissant.guid == "8"
    assert croissant.link == "https://elsewhere.example/croissant"  # external_url
    assert croissant.content == "Someone else liked our croissants."
    assert croissant.published == datetime(2026, 2, 28, 12, 0, tzinfo=UTC)  # date_modified


def test_json_feed_11_detected_without_content_type() -> None:
    feed = parse_feed(load("jsonfeed11.json"))
    assert feed.format == "json11"
    assert feed.title == "Tram Line Updates"
    line4, bad = feed.entries
    assert line4.author == "Depot Desk, Night Shift"
    assert line4.content == "Works on Bridge Street.\nExpect delays."
    assert line4.published == datetime(2026, 3, 2, 6, 15, tzinfo=UTC)
    assert bad.link is None  # javascript: dropped
    assert bad.published is None


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"title": "no version", "items": []}, "not a JSON Feed"),
        ({"version": "https://example.org/not-it", "items": []}, "not a JSON Feed"),
        ([1, 2, 3], "not a JSON Feed"),
    ],
)
def test_json_that_is_not_a_json_feed(doc: object, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_feed(json.dumps(doc).encode(), headers={"content-type": "application/json"})


def test_json_feed_with_bare_version_number() -> None:
    # Some generators write "1.1" instead of the jsonfeed.org URL.
    doc = {
        "version": "1.1",
        "title": "Bare",
        "home_page_url": "https://bare.example/",
        "items": [{"id": "1", "url": "https://bare.example/1", "content_text": "hi"}],
    }
    feed = parse_feed(json.dumps(doc).encode())
    assert feed.format == "json11"
    assert [e.content for e in feed.entries] == ["hi"]
    # A version and a list of items alone do not make a JSON Feed.
    other = {"version": "1.0", "items": [{"name": "widget"}]}
    with pytest.raises(ParseError, match="not a JSON Feed"):
        parse_feed(json.dumps(other).encode())


def test_doctype_inside_cdata_is_content() -> None:
    body = b"<rss version='2.0'><channel><title>c</title><item><title>t</title><description>"
    body += b"<![CDATA[ <!DOCTYPE is a word here ]]></description></item></channel></rss>"
    # The stripper leaves CDATA alone (the HTML parser then reads the unterminated
    # "<!DOCTYPE …" as a declaration, as a browser does, so the summary is empty).
    assert b"<!DOCTYPE is a word here ]]></description></item>" in strip_doctype(body)
    (entry,) = parse_feed(body).entries
    assert entry.title == "t"


def test_titled_channel_without_items_is_an_empty_feed() -> None:
    feed = parse_feed(b"<rss version='2.0'><channel><title>Quiet</title></channel></rss>")
    assert feed.title == "Quiet" and feed.entries == [] and feed.format == "rss20"


def test_invalid_json() -> None:
    with pytest.raises(ParseError, match="not valid JSON"):
        parse_feed(b'{"version": "https://jsonfeed.org/version/1.1", "items": [')
    with pytest.raises(ParseError, match="not valid JSON"):
        parse_feed(b"[" * 100_000, headers={"content-type": "application/feed+json"})


def test_json_feed_odd_values_are_tolerated() -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": 42,
        "items": [
            {"id": None, "title": ["x"], "url": 7, "date_published": "yesterday"},
            {"id": True, "date_published": "2026-03-02T06:15:00", "authors": "nobody"},
            {"date_published": "Mon, 02 Mar 2026 10:00:00 +0100"},
        ],
    }
    feed = parse_feed(json.dumps(doc).encode())
    assert feed.title == ""
    odd, naive, rfc822 = feed.entries
    assert odd.guid is None and odd.link is None and odd.title == "" and odd.published is None
    assert naive.guid is None  # a boolean is not an id
    assert naive.published == datetime(2026, 3, 2, 6, 15, tzinfo=UTC)  # naive taken as UTC
    assert rfc822.published == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


# ------------------------------------------------------------ links, text, limits


def test_relative_links_resolve_against_feed_url() -> None:
    body = b"""<rss version="2.0"><channel><title>r</title><link>/home</link>
      <item><title>a</title><link>stories/a.html</link></item>
      <item><title>b</title><link>//cdn.example/b</link></item>
      <item><title>c</title><link>  https://other.example/c  </link></item>
      <item><title>d</title><link>mailto:desk@news.example</link></item>
    </channel></rss>"""
    feed = parse_feed(body, url=FEED_URL)
    assert feed.link == "https://feeds.example/home"
    assert [e.link for e in feed.entries] == [
        "https://feeds.example/path/stories/a.html",
        "https://cdn.example/b",
        "https://other.example/c",
        None,
    ]


def test_html_in_summaries_becomes_text() -> None:
    body = b"""<rss version="2.0"><channel><title>h</title><item><title>t</title>
      <description><![CDATA[<div><h2>Head</h2><p>One &amp; two</p><style>p{}</style>
      <img src="x.png" onerror="alert(1)"><ul><li>a</li><li>b</li></ul></div>]]></description>
    </item></channel></rss>"""
    (entry,) = parse_feed(body).entries
    assert entry.summary == "Head\nOne & two\na\nb"
    assert "<" not in entry.summary


def test_limits_bound_the_work() -> None:
    items = b"".join(
        b"<item><guid>g%d</guid><title>%s</title><description>d</description></item>"
        % (i, b"T" * 3000)
        for i in range(MAX_ENTRIES + 20)
    )
    long_text = (
        b"<item><guid>long</guid><description>" + b"word " * 50_000 + b"</description></item>"
    )
    body = (
        b'<rss version="2.0"><channel><title>big</title>' + long_text + items + b"</channel></rss>"
    )
    feed = parse_feed(body)
    assert len(feed.entries) == MAX_ENTRIES
    assert feed.entries[0].guid == "long"  # kept in the feed's order: newest first
    assert 199_990 <= len(feed.entries[0].summary) <= 200_000
    assert len(feed.entries[1].title) == MAX_TITLE
    assert feed.entries[-1].guid == f"g{MAX_ENTRIES - 2}"


def test_title_is_one_line() -> None:
    body = b"""<feed xmlns="http://www.w3.org/2005/Atom"><title>f</title>
      <entry><title type="html">Line one&lt;br&gt;line
      two</title><id>x</id></entry></feed>"""
    (entry,) = parse_feed(body).entries
    assert entry.title == "Line one line two"


def test_encoding_from_content_type_header() -> None:
    feed = parse_feed(
        load("latin1.xml"), headers={"Content-Type": "application/rss+xml; charset=ISO-8859-1"}
    )
    assert feed.title == "Café Crème"
    assert feed.entries[0].title == "Crème brûlée day"
    assert feed.entries[0].summary == "Naïve joy, 5 â."


def test_utf16_feed() -> None:
    text = (
        '<?xml version="1.0" encoding="utf-16"?><rss version="2.0"><channel>'
        "<title>Ünïcode</title><item><title>ok</title></item></channel></rss>"
    )
    feed = parse_feed(text.encode("utf-16"))
    assert feed.title == "Ünïcode"
    assert [e.title for e in feed.entries] == ["ok"]


# ------------------------------------------------------------- broken and hostile


def test_malformed_but_readable() -> None:
    feed = parse_feed(load("malformed.xml"))
    assert feed.warning and "not well-formed" in feed.warning
    assert "\n" not in feed.warning
    assert feed.title == "Broken Bridge Weekly"
    assert [e.link for e in feed.entries] == [
        "https://bridge.example/one",
        "https://bridge.example/two",
    ]
    assert feed.entries[0].title == "First story & an unescaped ampersand"


def test_html_page_is_not_a_feed() -> None:
    with pytest.raises(ParseError) as info:
        parse_feed(load("page.html"), headers={"content-type": "text/html; charset=utf-8"})
    assert str(info.value) == "not a feed: the document is HTML, not RSS, Atom or JSON Feed"


@pytest.mark.parametrize("body", [b"", b"   \n\t ", b"\xef\xbb\xbf"])
def test_empty_is_not_a_feed(body: bytes) -> None:
    with pytest.raises(ParseError, match=r"^not a feed"):
        parse_feed(body)


@pytest.mark.parametrize(
    "body", [b"\x00\x01\x02garbage\xff\xfe", b"just some words", b"<note><to>x</to></note>"]
)
def test_garbage_is_not_a_feed(body: bytes) -> None:
    with pytest.raises(ParseError, match=r"^not a feed"):
        parse_feed(body)


def test_body_is_never_taken_for_a_file_name(tmp_path: Path) -> None:
    # feedparser opens a bytes argument as a path when such a file exists.
    secret = tmp_path / "secret.xml"
    secret.write_bytes(load("rss20.xml"))
    with pytest.raises(ParseError):
        parse_feed(str(secret).encode())


def _billion_laughs() -> bytes:
    decls = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE rss [\n'
        + "\n".join(decls)
        + '\n]>\n<rss version="2.0"><channel><title>&lol9;</title>'
        + "<item><title>laugh</title><description>&lol9;</description></item>"
        + "</channel></rss>"
    ).encode()


def _quadratic_blowup() -> bytes:
    # One big entity referenced many times: no nesting, so expat's nesting limits
    # do not apply; expanded it would be 2.5 GB.
    big = "A" * 50_000
    return (
        f'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY a "{big}">]>'
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>q</title>'
        f"<entry><id>1</id><title>t</title><summary>{'&a;' * 50_000}</summary></entry></feed>"
    ).encode()


def _entity_in_prolog_comment() -> bytes:
    # feedparser lifts ENTITY lines out of the prolog text, comments included, and
    # hands them to its fallback parser: plain feedparser expands this one.
    big = "A" * 50_000
    return (
        f'<?xml version="1.0"?>\n<!--\n<!DOCTYPE x>\n<!ENTITY a "{big}">\n-->\n'
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>q</title>'
        f"<entry><id>1</id><title>t</title><summary>{'&a;' * 50_000}</summary></entry></feed>"
    ).encode()


@pytest.mark.parametrize("make", [_billion_laughs, _quadratic_blowup, _entity_in_prolog_comment])
def test_entity_expansion_is_defused(make: Callable[[], bytes]) -> None:
    body = make()
    started = time.process_time()
    try:
        feed: ParsedFeed | None = parse_feed(body)
    except ParseError:
        feed = None
    assert time.process_time() - started < 1.0
    if feed is not None:
        assert all("lollol" not in e.summary and "AAAA" not in e.summary for e in feed.entries)

    tracemalloc.start()  # measured apart: tracing makes the parse several times slower
    try:
        with contextlib.suppress(ParseError):
            parse_feed(body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5 * 1024 * 1024


def test_strip_doctype() -> None:
    doc = (
        b'<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//x//y" "http://x/y.dtd" ['
        b"<!ENTITY a \"]>\"><!-- ] > --><!ENTITY b '>'>]><rss/>"
    )
    assert strip_doctype(doc) == b'<?xml version="1.0"?><rss/>'
    assert strip_doctype(b"<!doctype html><html/>") == b"<html/>"
    # Text inside content is content, even when it reads like a DOCTYPE.
    cdata = b"<rss><item><description><![CDATA[ <!DOCTYPE ]]></description></item></rss>"
    assert strip_doctype(cdata) == cdata
    assert strip_doctype(b"<?xml version='1.0'?><!-- <!ENTITY a 'b'> --><rss><!-- x --></rss>") == (
        b"<?xml version='1.0'?><rss><!-- x --></rss>"
    )
    assert strip_doctype(b"<!DOCTYPE x [<!ENTITY a 'b'") == b""
    assert strip_doctype(b"<!DOCTYPE x [ <rss/>") == b"<rss/>"
    wide = '<?xml version="1.0" encoding="utf-16"?><!DOCTYPE x [<!ENTITY a "b">]><rss/>'
    assert strip_doctype(wide.encode("utf-16")).decode("utf-16") == (
        '<?xml version="1.0" encoding="utf-16"?><rss/>'
    )


# ------------------------------------------------------------------- properties

_XMLISH = st.lists(
    st.sampled_from(
        [
            b"<rss version='2.0'>", b"<channel>", b"<item>", b"</item>", b"<title>", b"</title>",
            b"<feed xmlns='http://www.w3.org/2005/Atom'>", b"<entry>", b"<link href='x'/>",
            b"<![CDATA[", b"]]>", b"&amp;", b"&bogus;", b"<!DOCTYPE x [", b"<!ENTITY e 'v'>",
            b"]>", b'{"version": "https://jsonfeed.org/version/1.1", "items": [', b"{}", b"]}",
            b"\xff\xfe", b"\x00", b"<?xml version='1.0' encoding='utf-16'?>", b"text",
        ]
    ),
    max_size=30,
).map(b"".join)  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=2_000), _XMLISH))
def test_arbitrary_bytes_give_a_feed_or_a_parse_error(body: bytes) -> None:
    try:
        result = parse_feed(body, headers={"content-type": "application/xml"}, url=FEED_URL)
    except ParseError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert isinstance(result, ParsedFeed)


def test_an_aggregators_items_name_the_outlet_they_come_from() -> None:
    # A news aggregator links every item to itself; <source> says whose report it is.
    rss = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Digest</title>
<item><title>Ferry fire off Valdoria</title><link>https://agg.example/r/1</link>
<source url="https://www.courier.example/">Coastline Courier</source></item>
<item><title>Second report</title><link>https://agg.example/r/2</link>
<source url="javascript:alert(1)">Bad</source></item>
<item><title>No source</title><link>https://agg.example/r/3</link></item>
</channel></rss>"""
    first, hostile, plain = parse_feed(rss).entries
    assert first.origin == "https://www.courier.example/"
    assert hostile.origin is None and plain.origin is None
    atom = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>
<entry><title>Quake</title><id>q1</id><link href="https://agg.example/q1"/>
<source><id>s</id><title>Meridian</title><link href="https://meridian.example/"/></source>
</entry></feed>"""
    (entry,) = parse_feed(atom).entries
    assert entry.origin == "https://meridian.example/"
