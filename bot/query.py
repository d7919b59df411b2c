"""The topic and search query language: the core's own small structure and its errors.

A query is a tree of a few values; storage translates the tree into its index's own
syntax (``storage/textsearch.py`` for SQLite), so nothing in the core knows a search
engine's dialect and a second store could translate the same tree:

- ``Term``: a word, or a phrase (its words in this order); ``prefix`` makes its last
  word match every word that starts with it (``chip*``); ``initial`` ties it to the
  start of a field (``^nvidia``);
- ``Near``: terms within ``distance`` words of each other (``NEAR(tsmc chip, 5)``);
- ``Field``: a query searched only in some fields of a briefing (``headline: nvidia``,
  ``{headline lead}: (a OR b)``), or, with ``exclude``, in all the others;
- ``And``, ``Or``, ``Not`` (``keep NOT drop``).

``parse_query`` reads what an admin writes in ``/brief topic add`` (and what saved topics
hold); ``format_query`` writes a tree back as text ``parse_query`` reads to the same tree.
The text language, as saved topics have always used it::

    query   := or
    or      := and ("OR" and)*
    and     := not ("AND" not)*
    not     := group ("NOT" group)*          # NOT needs something to keep before it
    group   := "(" query ")" | fields ":" "(" query ")" | item+   # items side by side: AND
    item    := [fields ":"] (phrase | "^" phrase | "NEAR(" phrase+ ["," number] ")")
    phrase  := word ["*"] ("+" word ["*"])*  # word: letters/digits/_ or "a quoted phrase"
    fields  := ["-"] (name | "{" name+ "}")  # headline, lead, body

Operators are upper case (``and`` is a word). Words side by side bind tighter than
NOT, NOT tighter than AND, AND tighter than OR; a parenthesised group is joined to
its neighbours only by an operator.

Every problem is a ``QueryError`` with one line: what is wrong and what to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from .errors import QueryError
from .text import cut

# The fields of a briefing a query can name.
FIELDS = ("headline", "lead", "body")

NEAR_DISTANCE = 10  # words, when a NEAR group gives none
MAX_NEAR_DISTANCE = 10_000
MAX_DEPTH = 20  # nested parentheses and field groups
MAX_PARSED_TERMS = 200  # a query text holding more is not read at all


@dataclass(frozen=True)
class Term:
    """A word or a phrase, as written (the store splits it into its index's words)."""

    text: str
    prefix: bool = False
    initial: bool = False


@dataclass(frozen=True)
class Near:
    """``terms`` all within ``distance`` words of each other, in any order."""

    terms: tuple[Term, ...]
    distance: int = NEAR_DISTANCE

    def __post_init__(self) -> None:
        if not self.terms or any(t.initial for t in self.terms) or self.distance < 0:
            raise ValueError("a Near needs terms (none tied to a field's start), distance >= 0")


@dataclass(frozen=True)
class Field:
    """``query`` searched in ``names`` only (with ``exclude``: in every other field)."""

    names: tuple[str, ...]
    query: Query
    exclude: bool = False

    def __post_init__(self) -> None:
        if not self.names or any(n not in FIELDS for n in self.names):
            raise ValueError(f"a Field names some of {FIELDS}, not {self.names}")


@dataclass(frozen=True)
class And:
    """Every part."""

    parts: tuple[Query, ...]

    def __post_init__(self) -> None:
        if not self.parts:
            raise ValueError("an And needs at least one part")


@dataclass(frozen=True)
class Or:
    """Any part."""

    parts: tuple[Query, ...]

    def __post_init__(self) -> None:
        if not self.parts:
            raise ValueError("an Or needs at least one part")


@dataclass(frozen=True)
class Not:
    """``keep``, but not where ``drop`` matches too."""

    keep: Query
    drop: Query


Query = Term | Near | Field | And | Or | Not


def all_of(parts: Sequence[Query]) -> Query:
    """An And of ``parts`` (the part itself when there is one; nested Ands flattened)."""
    flat: list[Query] = []
    for part in parts:
        flat.extend(part.parts if isinstance(part, And) else (part,))
    return flat[0] if len(flat) == 1 else And(tuple(flat))


def any_of(parts: Sequence[Query]) -> Query:
    """An Or of ``parts`` (the part itself when there is one; nested Ors flattened)."""
    flat: list[Query] = []
    for part in parts:
        flat.extend(part.parts if isinstance(part, Or) else (part,))
    return flat[0] if len(flat) == 1 else Or(tuple(flat))


def terms(query: Query) -> list[Term]:
    """Every term of ``query``, in order."""
    found: list[Term] = []
    stack: list[Query] = [query]
    while stack:
        node = stack.pop()
        if isinstance(node, Term):
            found.append(node)
        elif isinstance(node, Near):
            stack.extend(reversed(node.terms))
        elif isinstance(node, Field):
            stack.append(node.query)
        elif isinstance(node, And | Or):
            stack.extend(reversed(node.parts))
        else:
            stack.extend((node.drop, node.keep))
    return found


# ------------------------------------------------------------------ writing


def quote(text: str) -> str:
    """A word or phrase as the language's quoted phrase (``"`` doubled inside)."""
    return '"' + text.replace('"', '""') + '"'


def format_query(query: Query) -> str:
    """``query`` as text that ``parse_query`` reads back to the same tree."""
    if isinstance(query, Term):
        return ("^" if query.initial else "") + quote(query.text) + ("*" if query.prefix else "")
    if isinstance(query, Near):
        inner = " ".join(format_query(t) for t in query.terms)
        dist = "" if query.distance == NEAR_DISTANCE else f", {query.distance}"
        return f"NEAR({inner}{dist})"
    if isinstance(query, Field):
        names = query.names[0] if len(query.names) == 1 else "{" + " ".join(query.names) + "}"
        return ("-" if query.exclude else "") + f"{names}: ({format_query(query.query)})"
    if isinstance(query, And | Or):
        joiner = " AND " if isinstance(query, And) else " OR "
        return joiner.join(_operand(p) for p in query.parts)
    # NOT groups from the left: ``a NOT b NOT c`` is ``(a NOT b) NOT c``.
    keep = query.keep
    drops: list[Query] = [query.drop]
    while isinstance(keep, Not):
        drops.append(keep.drop)
        keep = keep.keep
    return " NOT ".join([_operand(keep), *(_operand(d) for d in reversed(drops))])


def _operand(query: Query) -> str:
    text = format_query(query)
    return f"({text})" if isinstance(query, And | Or | Not) else text


# ------------------------------------------------------------------ reading

_SPACE = frozenset(" \t\n\r\f\v")
_PUNCT = frozenset('(){}:,+*-^"')
_OPERATORS = frozenset({"AND", "OR", "NOT"})
_HINT = 'put such words in quotes, e.g. "china-ai"'


def _is_word_char(char: str) -> bool:
    # Letters, digits, "_" and any non-ASCII character, as saved topics have always read.
    return not char.isascii() or char.isalnum() or char == "_"


@dataclass(frozen=True)
class _Token:
    kind: str  # "word", "quoted", an operator, or the punctuation character itself
    text: str
    at: int


def _tokens(text: str) -> list[_Token]:
    found: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char in _SPACE:
            i += 1
        elif char == '"':
            j = i + 1
            parts: list[str] = []
            while True:
                end = text.find('"', j)
                if end < 0:
                    raise QueryError("a quote is not closed; close it, or leave the quote out")
                parts.append(text[j:end])
                if text.startswith('"', end + 1):  # "" inside a phrase is one quote
                    parts.append('"')
                    j = end + 2
                    continue
                i = end + 1
                break
            found.append(_Token("quoted", "".join(parts), i))
        elif char in _PUNCT:
            found.append(_Token(char, char, i))
            i += 1
        elif _is_word_char(char):
            j = i
            while j < n and _is_word_char(text[j]):
                j += 1
            word = text[i:j]
            found.append(_Token(word if word in _OPERATORS else "word", word, i))
            i = j
        else:
            shown = char if char.isprintable() else repr(char)[1:-1]
            raise QueryError(
                f"'{shown}' can only be used inside quotes in a query; put such words in "
                'quotes, e.g. "u.s." or "don\'t"'
            )
        if len(found) > 4 * MAX_PARSED_TERMS:
            raise QueryError(
                f"that query is too long; a topic can search at most {MAX_PARSED_TERMS} words"
            )
    return found


def parse_query(text: str) -> Query:
    """Read a query written in the language above; ``QueryError`` (one line) if it is not
    one. Never raises anything else, whatever the text."""
    if not isinstance(text, str):
        raise QueryError("a query is text: words, quoted phrases and AND, OR, NOT")
    return _parse(text)


@lru_cache(maxsize=1024)  # a saved topic is read on every use; the trees are immutable
def _parse(text: str) -> Query:
    stripped = text.strip()
    if not stripped:
        raise QueryError("the query is empty; give at least one word")
    if stripped.startswith("*"):
        raise QueryError("a query cannot start with '*'; put it after a word, e.g. chip*")
    parser = _Parser(_tokens(text))
    query = parser.query(0)
    if parser.peek() is not None:
        raise parser.unexpected()
    if len(terms(query)) > MAX_PARSED_TERMS:
        raise QueryError(
            f"that query is too long; a topic can search at most {MAX_PARSED_TERMS} words"
        )
    return query


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.at = 0

    def peek(self, ahead: int = 0) -> _Token | None:
        index = self.at + ahead
        return self.tokens[index] if index < len(self.tokens) else None

    def kind(self, ahead: int = 0) -> str:
        token = self.peek(ahead)
        return token.kind if token else ""

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise _early()
        self.at += 1
        return token

    def expect(self, kind: str, what: str) -> _Token:
        if self.kind() != kind:
            if self.peek() is None:
                raise _early()
            raise QueryError(f"expected {what} {self._near()}")
        return self.take()

    def _near(self) -> str:
        token = self.peek()
        return f'near "{cut(token.text, 30)}"' if token else "at the end"

    def unexpected(self) -> QueryError:
        token = self.peek()
        if token is None:
            return _early()
        if token.kind == "(":
            return QueryError("put AND or OR between a word and '(', e.g. ai AND (chip OR model)")
        if token.kind == ")":
            return QueryError("a ')' closes no '('; remove it, or add the '(' it closes")
        if token.kind == "NOT":
            return QueryError(
                'NOT needs what to keep before it, e.g. ferry NOT strike (syntax error near "NOT")'
            )
        if token.kind == "*":
            return QueryError("'*' goes right after a word, e.g. chip* (syntax error near \"*\")")
        if token.kind in {"word", "quoted", "-", "{", "^"} and self.at and self.kind(-1) == ")":
            return QueryError(
                "put AND or OR after ')' to join more words, e.g. (chip OR model) AND ai"
            )
        if token.kind in {"AND", "OR"}:
            return QueryError(
                f"{token.kind} needs a word on each side, e.g. chip {token.kind} model "
                f'(syntax error near "{token.kind}")'
            )
        return QueryError(
            f'syntax error near "{cut(token.text, 30)}"; check the parentheses and operators, '
            "or put such characters in quotes"
        )

    # query := or; precedence climbing for OR < AND < NOT
    def query(self, depth: int) -> Query:
        if depth > MAX_DEPTH:
            raise QueryError(
                f"a query can nest groups at most {MAX_DEPTH} deep; use fewer parentheses"
            )
        parts = [self.conjunction(depth)]
        while self.kind() == "OR":
            self.take()
            parts.append(self.conjunction(depth))
        return any_of(parts)

    def conjunction(self, depth: int) -> Query:
        parts = [self.negation(depth)]
        while self.kind() == "AND":
            self.take()
            parts.append(self.negation(depth))
        return all_of(parts)

    def negation(self, depth: int) -> Query:
        query = self.group(depth)
        while self.kind() == "NOT":
            self.take()
            query = Not(query, self.group(depth))
        return query

    def group(self, depth: int) -> Query:
        kind = self.kind()
        if kind == "(":
            self.take()
            inner = self.query(depth + 1)
            self.expect(")", "')'")
            return inner
        if self._starts_fields() and self._fields_then_paren():
            names, exclude = self.fields()
            self.expect(":", "':' after the field names")
            self.expect("(", "'('")
            inner = self.query(depth + 1)
            self.expect(")", "')'")
            return Field(names, inner, exclude)
        items = [self.item()]
        while self._starts_item():
            items.append(self.item())
        return all_of(_without_empty(items))

    def _starts_fields(self) -> bool:
        kind = self.kind()
        if kind in {"-", "{"}:
            return True
        return kind in {"word", "quoted"} and self.kind(1) == ":"

    def _fields_then_paren(self) -> bool:
        # A field list followed by ":" and "(" (a group), not by a phrase (an item).
        ahead = 0
        if self.kind(ahead) == "-":
            ahead += 1
        if self.kind(ahead) == "{":
            while self.kind(ahead) not in {"}", ""}:
                ahead += 1
        ahead += 1
        return self.kind(ahead) == ":" and self.kind(ahead + 1) == "("

    def _starts_item(self) -> bool:
        kind = self.kind()
        return kind in {"word", "quoted", "^"} or self._starts_fields()

    def item(self) -> Query:
        if self._starts_fields():
            names, exclude = self.fields()
            self.expect(":", "':' after the field names")
            return Field(names, self.near_or_phrase(), exclude)
        return self.near_or_phrase()

    def near_or_phrase(self) -> Query:
        kind = self.kind()
        if kind == "^":
            self.take()
            if self.kind() not in {"word", "quoted"}:
                raise QueryError("'^' goes right before a word, e.g. ^nvidia (start of a field)")
            phrase = self.phrase()
            return Term(phrase.text, phrase.prefix, initial=True)
        token = self.peek()
        if token and token.kind == "word" and token.text == "NEAR" and self.kind(1) == "(":
            return self.near()
        if kind not in {"word", "quoted"}:
            raise self.unexpected()
        phrase = self.phrase()
        if self.kind() == "(":
            raise self.unexpected()
        return phrase

    def phrase(self) -> Term:
        parts: list[str] = []
        prefix = False
        while True:
            if prefix:
                raise QueryError(
                    "only the last word of a phrase can end in '*', e.g. \"solar pan\"*"
                )
            token = self.take()
            if token.kind not in {"word", "quoted"}:
                raise QueryError(
                    f"'+' joins words into a phrase; a word must follow it {self._near()}"
                )
            parts.append(token.text)
            if self.kind() == "*":
                self.take()
                prefix = True
            if self.kind() != "+":
                return Term(" ".join(parts), prefix)
            self.take()
            if self.peek() is None:
                raise _early()

    def near(self) -> Near:
        self.take()  # NEAR
        self.take()  # (
        found: list[Term] = []
        while self.kind() in {"word", "quoted"}:
            found.append(self.phrase())
        if not found:
            if self.peek() is None:
                raise _early()
            raise QueryError("NEAR( ) needs words, e.g. NEAR(tsmc chip, 5)")
        distance = NEAR_DISTANCE
        if self.kind() == ",":
            self.take()
            token = self.peek()
            if token is None:
                raise _early()
            if token.kind != "word" or not token.text.isascii() or not token.text.isdigit():
                raise QueryError(
                    f"NEAR takes a number of words after the comma, e.g. NEAR(tsmc chip, 5), "
                    f"not '{cut(token.text, 20)}'"
                )
            self.take()
            distance = int(token.text)
            if distance > MAX_NEAR_DISTANCE:
                raise QueryError(f"a NEAR distance is at most {MAX_NEAR_DISTANCE} words")
        self.expect(")", "')' to close NEAR(")
        kept = _without_empty(found)
        return Near(tuple(t for t in kept if isinstance(t, Term)), distance)

    def fields(self) -> tuple[tuple[str, ...], bool]:
        exclude = False
        if self.kind() == "-":
            self.take()
            exclude = True
        if self.kind() == "{":
            self.take()
            names: list[str] = []
            while self.kind() in {"word", "quoted"}:
                names.append(self._field_name(self.take(), exclude))
            if not names:
                raise self.unexpected()
            self.expect("}", "'}' to close the field names")
            return tuple(dict.fromkeys(names)), exclude
        if self.kind() in {"word", "quoted"}:
            return (self._field_name(self.take(), exclude),), exclude
        raise self.unexpected()

    def _field_name(self, token: _Token, after_minus: bool) -> str:
        name = token.text.lower()
        if name in FIELDS:
            return name
        where = "a '-'" if after_minus else "a '-' or before ':'"
        raise QueryError(
            f"'{cut(token.text, 30)}' after {where} is read as a field name "
            f"(fields: {', '.join(FIELDS)}); {_HINT}"
        )


def _without_empty(items: Sequence[Query]) -> list[Query]:
    # Words side by side (and NEAR's terms) skip a phrase without a word in it (``""``,
    # ``"..."``), as saved topics have always read; one left alone matches nothing.
    kept = [q for q in items if any(_has_word(t.text) for t in terms(q))]
    return kept or [items[0]]


def _has_word(text: str) -> bool:
    return any(c.isalnum() for c in text)


def _early() -> QueryError:
    return QueryError("it ends too early (an unclosed parenthesis, or a trailing AND/OR/NOT)")


__all__ = [
    "FIELDS",
    "And",
    "Field",
    "Near",
    "Not",
    "Or",
    "Query",
    "Term",
    "all_of",
    "any_of",
    "format_query",
    "parse_query",
    "quote",
    "terms",
]
