"""OPML export and import: round trip, real-world shapes, and hostile XML."""

from __future__ import annotations

import string
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import ParseError
from bot.models import Feed
from bot.opml import MAX_OPML_BYTES, export_opml, parse_opml
from bot.text import one_line

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def feed(n: int, url: str, name: str | None = None, title: str | None = None) -> Feed:
    return Feed(id=n, url=url, name=name, title=title, next_poll_at=NOW, created_at=NOW)


def test_round_trip() -> None:
    feeds = [
        feed(1, "https://a.example/rss", name="Alpha & Sons <Daily>"),
        feed(2, 'https://b.example/atom?x=1&y="2"', title="Béta — news"),
        feed(3, "https://c.example/feed.json"),
    ]
    document = export_opml("Desk feeds", feeds, created=NOW)
    assert document.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert "<dateCreated>Wed, 04 Mar 2026 12:00:00 +0000</dateCreated>" in document
    assert parse_opml(document) == [
        ("https://a.example/rss", "Alpha & Sons <Daily>"),
        ('https://b.example/atom?x=1&y="2"', "Béta — news"),
        ("https://c.example/feed.json", "https://c.example/feed.json"),
    ]
    assert parse_opml(document.encode("utf-8")) == parse_opml(document)


def test_empty_export_parses_to_nothing() -> None:
    assert parse_opml(export_opml("none", [])) == []


def test_nested_folders_duplicates_and_odd_attribute_spellings() -> None:
    text = """<opml version="1.0"><head/><body>
      <outline text="News"><outline text="Inner">
        <outline text="One" xmlUrl=" https://one.example/rss "/>
      </outline></outline>
      <outline title="Two" xmlURL="https://two.example/rss"/>
      <outline text="Again" xmlUrl="https://one.example/rss"/>
      <outline text="Just a link" htmlUrl="https://three.example/"/>
      <outline xmlUrl="https://four.example/rss"/>
    </body></opml>"""
    assert parse_opml(text) == [
        ("https://one.example/rss", "One"),
        ("https://two.example/rss", "Two"),
        ("https://four.example/rss", None),
    ]


def test_encodings() -> None:
    latin = (
        '<?xml version="1.0" encoding="ISO-8859-1"?><opml><body>'
        '<outline text="Caf\xe9" xmlUrl="https://cafe.example/rss"/></body></opml>'
    )
    assert parse_opml(latin.encode("latin-1")) == [("https://cafe.example/rss", "Café")]
    # As text it is already decoded: the declaration must not be trusted again.
    assert parse_opml(latin) == [("https://cafe.example/rss", "Café")]
    assert parse_opml("\ufeff" + latin) == [("https://cafe.example/rss", "Café")]


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<opml><body><outline text="&lol3;" xmlUrl="https://x.example/"/></body></opml>"""

EXTERNAL = """<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<opml><body><outline text="&xxe;" xmlUrl="https://x.example/"/></body></opml>"""


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (BILLION_LAUGHS, "DOCTYPE"),
        (EXTERNAL, "DOCTYPE"),
        ("<!doctype opml><opml/>", "DOCTYPE"),
        ("", "empty"),
        ("   ", "empty"),
        ("not xml at all", "not a readable OPML"),
        ("<opml><body><outline></body>", "not a readable OPML"),
        ("<rss><channel/></rss>", "not an OPML file"),
        ("<opml>" + " " * MAX_OPML_BYTES + "</opml>", "too large"),
    ],
)
def test_bad_and_hostile_input(text: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_opml(text)
    with pytest.raises(ParseError):
        parse_opml(text.encode("utf-8"))


def test_unknown_encoding_in_bytes() -> None:
    with pytest.raises(ParseError, match="not a readable OPML"):
        parse_opml(b'<?xml version="1.0" encoding="klingon"?><opml/>')


def test_real_world_exports_with_bare_ampersands_and_html_entities_are_repaired() -> None:
    # As feed readers and hand-edited lists write them: not well-formed XML.
    exported = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.0"><head><title>Subscriptions from Tom & Jerry's reader</title></head>
<body><outline text="Science & Tech">
  <outline text="Caf&eacute; Society&nbsp;Weekly" type="rss"
           xmlUrl="https://cafe.example/feed?lang=fr&format=rss"/>
  <outline text="R&D; notes &amp; more &#8212; daily" type="rss" xmlUrl="https://rd.example/atom"/>
</outline></body></opml>"""
    assert parse_opml(exported) == [
        ("https://cafe.example/feed?lang=fr&format=rss", "Caf\u00e9 Society Weekly"),
        ("https://rd.example/atom", "R&D; notes & more \u2014 daily"),
    ]
    assert parse_opml(exported.decode("utf-8")) == parse_opml(exported)


def test_repair_does_not_open_the_door_to_entity_declarations() -> None:
    # Repair happens after the DOCTYPE check and adds no definitions of its own.
    with pytest.raises(ParseError, match="DOCTYPE"):
        parse_opml("<!DOCTYPE opml><opml><body><outline text='a & b'/></body></opml>")
    with pytest.raises(ParseError, match="not a readable OPML"):
        parse_opml("<opml><body><outline text='a & b'></body>")


_printable = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=40)


_url_part = st.text(string.ascii_letters + string.digits + "-._~%&=?/#\"'<>", max_size=30)


@given(st.lists(st.tuples(_url_part, _printable), max_size=8, unique_by=lambda t: t[0]))
def test_round_trip_property(pairs: list[tuple[str, str]]) -> None:
    feeds = [
        feed(n, f"https://h.example/{n}?q=" + url, name=name) for n, (url, name) in enumerate(pairs)
    ]
    # Names come back as the renderers get all feed text: cleaned onto one line.
    expected = [(f.url, one_line(f.name or "") or None) for f in feeds]
    assert parse_opml(export_opml("t", feeds)) == expected


@given(st.text(max_size=400) | st.binary(max_size=400))
def test_parse_opml_raises_only_parse_error(data: str | bytes) -> None:
    try:
        result = parse_opml(data)
    except ParseError:
        return
    assert all(isinstance(url, str) and url for url, _ in result)
