"""The query language (bot/query.py) and its FTS5 translation (storage/textsearch.py).

Saved topics were FTS5 expressions: every one SQLite accepted must read to a tree that,
translated, finds the same briefings, and every one it refused is refused with one
line that says what to do. Whatever a user types, no FTS5 syntax error comes back."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import QueryError
from bot.models import Briefing, Bullet
from bot.query import And, Field, Near, Not, Or, Query, Term, format_query, parse_query
from bot.search import quoted_query, related_query
from storage import SqliteStore
from storage.textsearch import fts5_match

ROWS = [
    ("Ferry strike halts harbour traffic", "Port workers walk out over pay.", "Tides late"),
    ("Tidal turbine sets an output record", "The harbour array beat its best day.", ""),
    ("Port authority orders new ferries", "Shipyard wins the contract.", "Strike ends"),
    ("Strike ends at the container port", "Cranes move again after a week.", "ferry"),
    ("Harbour pilots warn of fog delays", "Ferry timetables slip by an hour.", "port"),
    ("Turbine maker opens a tidal test site", "Output will feed the port grid.", ""),
    ("Café owners near the quay fear tolls", "Ferry fares rise in the new year.", "tide"),
]


@pytest.fixture(scope="module")
def index() -> Iterator[sqlite3.Connection]:
    # The briefings index's own shape (storage/migrations.py): the oracle is FTS5 itself.
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(headline, lead, body, tokenize='porter')")
    db.executemany("INSERT INTO t VALUES (?, ?, ?)", ROWS)
    yield db
    db.close()


def _raw(db: sqlite3.Connection, match: str) -> set[int] | None:
    try:
        return {r[0] for r in db.execute("SELECT rowid FROM t WHERE t MATCH ?", [match])}
    except sqlite3.OperationalError:
        return None


# What an admin might type: words, field names, operators, punctuation, phrases.
PIECES = ["ferry", "port", "strike", "tidal", "turbin", "harbour", "café", "and", "near",
          "headline", "lead", "body", "AND", "OR", "NOT", "NEAR", "(", ")", "{", "}", ":",
          ",", "+", "*", "-", "^", '"ferry strike"', '"port"', '""', "3", "0", "."]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(PIECES), st.sampled_from([" ", ""])), max_size=9))
def test_every_query_sqlite_read_reads_the_same_and_every_other_is_refused(
    index: sqlite3.Connection, pieces: list[tuple[str, str]]
) -> None:
    text = "".join(p + sep for p, sep in pieces)
    before = _raw(index, text)
    try:
        query = parse_query(text)
    except QueryError as exc:
        # Refused although SQLite read it: its "*reads" specials, and a prefix inside a
        # "+" phrase ("port"* + ferry), which the structure does not hold.
        narrowed = text.lstrip().startswith("*") or "only the last word" in str(exc)
        assert before is None or narrowed, text
        assert "\n" not in str(exc) and "fts5" not in str(exc).lower()
        return
    assert before is not None, text
    assert _raw(index, fts5_match(query)) == before, text
    assert parse_query(format_query(query)) == query


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("port", Term("port")),
        ("ferry strike", And((Term("ferry"), Term("strike")))),
        ('"ferry strike"*', Term("ferry strike", prefix=True)),
        ("tidal + turbine", Term("tidal turbine")),
        ("^ferry", Term("ferry", initial=True)),
        ("ferry OR port AND strike", Or((Term("ferry"), And((Term("port"), Term("strike")))))),
        ("ferry port NOT strike", Not(And((Term("ferry"), Term("port"))), Term("strike"))),
        ("a NOT b NOT c", Not(Not(Term("a"), Term("b")), Term("c"))),
        ("NEAR(tidal turbine, 3)", Near((Term("tidal"), Term("turbine")), 3)),
        ("Headline: port", Field(("headline",), Term("port"))),
        ("-{body lead}: (a OR b)", Field(("body", "lead"), Or((Term("a"), Term("b"))), True)),
        ("and", Term("and")),
    ],
)
def test_the_language_reads_to_its_tree(text: str, tree: Query) -> None:
    assert parse_query(text) == tree
    assert parse_query(format_query(tree)) == tree


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("turbine AND (output", "ends too early"),
        ("turbine OR", "ends too early"),
        ('"unclosed', "a quote is not closed"),
        ("ai-policy", "'policy' after a '-'"),
        ("NOT turbine", "NOT needs what to keep before it"),
        ("*", "cannot start with '*'"),
        ("ferry (port OR strike)", "put AND or OR between a word and '('"),
        ("(port OR strike) ferry", "put AND or OR after ')'"),
        ("u.s. ports", 'put such words in quotes, e.g. "u.s."'),
        ("don't", "inside quotes"),
        ('"port"* + ferry', "only the last word of a phrase"),
        ("NEAR(port ferry, x)", "NEAR takes a number"),
        ("title: port", "'title'"),
        ("(" * 40 + "port" + ")" * 40, "at most 20 deep"),
        (" OR ".join(["port"] * 300), "too long"),
        ("port\x00 OR", "inside quotes"),
        ("(port OR ferry))", "closes no '('"),
    ],
)
def test_a_bad_query_gets_one_line_saying_what_to_do(text: str, says: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(text)
    message = str(caught.value)
    assert says in message, message
    assert "\n" not in message and "fts5" not in message.lower() and len(message) < 200


HOSTILE = st.lists(
    st.characters(codec="utf-8")
    | st.sampled_from(['"', "'", "*", "-", ":", "(", ")", "^", "\x00", "\u202e", "NEAR(", " OR "]),
    max_size=30,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(HOSTILE)
def test_any_text_reads_or_is_refused_and_never_breaks_the_index(
    index: sqlite3.Connection, text: str
) -> None:
    try:
        query = parse_query(text)
    except QueryError:
        return
    assert _raw(index, fts5_match(query)) is not None, text


@settings(max_examples=300, deadline=None)
@given(st.lists(HOSTILE, min_size=1, max_size=5), st.booleans(), st.booleans())
def test_any_term_text_translates_to_valid_fts5(
    index: sqlite3.Connection, texts: list[str], prefix: bool, initial: bool
) -> None:
    parts: list[Query] = [Term(t, prefix=prefix, initial=initial) for t in texts]
    for query in (And(tuple(parts)), Or(tuple(parts)), Field(("headline", "lead"), parts[0])):
        assert _raw(index, fts5_match(query)) is not None, query
    near = Near(tuple(Term(t, prefix=prefix) for t in texts), 4)
    assert _raw(index, fts5_match(Not(near, parts[-1]))) is not None


def test_quotes_hyphens_operators_and_unicode_in_search_words_are_text(
    index: sqlite3.Connection,
) -> None:
    for text, expected in [
        ("china-ai OR NOT", set()),  # words, not operators: no briefing has them all
        ('ferry "strike', {1, 3, 4}),  # the stray quote is no syntax; "ferries" stems
        ("CAFÉ quay", {7}),
        ("tidal* turbine", {2, 6}),  # "*" is not a prefix here: it is dropped with the word
    ]:
        query = quoted_query(text)
        assert query is not None
        assert _raw(index, fts5_match(query)) == expected, text


def test_a_long_not_chain_stays_within_the_index_parser() -> None:
    text = "port" + " NOT ferry" * 150
    query = parse_query(text)
    store = SqliteStore.open(":memory:")
    try:
        assert store.search_briefings(query, limit=5) == []
        assert store.search_briefings(text, limit=5) == []
    finally:
        store.close()


def test_search_builds_plain_trees() -> None:
    assert quoted_query("Ferry strike, ferry!") == And((Term("ferry"), Term("strike")))
    assert quoted_query("ferry strike", any_word=True) == Or((Term("ferry"), Term("strike")))
    assert quoted_query("port") == Term("port")
    assert quoted_query("?! --") is None
    now = datetime(2026, 3, 4, tzinfo=UTC)
    briefing = Briefing(
        id="b1",
        headline="Ferry strike halts the harbour",
        lead="Workers walked out.",
        bullets=[Bullet(text="x")] * 3,
        created_at=now,
        updated_at=now,
    )
    assert related_query(briefing) == Or(
        tuple(Term(w) for w in ("ferry", "strike", "halts", "harbour", "workers", "walked", "out"))
    )
