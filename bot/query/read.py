"""``parse_query``: query text (the language of ``bot.query``) to a tree, or one line
saying what is wrong and what to do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from ..errors import QueryError
from ..text import cut
from .tree import FIELDS, NEAR_DISTANCE, Field, Near, Not, Query, Term, all_of, any_of, terms

MAX_NEAR_DISTANCE = 10_000
MAX_DEPTH = 20  # nested parentheses and field groups
MAX_PARSED_TERMS = 200  # a query text holding more is not read at all

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
