"""The query tree: its values, and ``format_query`` to write one as text (see ``bot.query``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# The fields of a briefing a query can name.
FIELDS = ("headline", "lead", "body")

NEAR_DISTANCE = 10  # words, when a NEAR group gives none


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
