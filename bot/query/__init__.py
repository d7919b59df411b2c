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
``tree`` holds the values and ``format_query``; ``read`` holds ``parse_query``.
"""

from .read import MAX_DEPTH, MAX_PARSED_TERMS, parse_query
from .tree import (
    FIELDS,
    NEAR_DISTANCE,
    And,
    Field,
    Near,
    Not,
    Or,
    Query,
    Term,
    all_of,
    any_of,
    format_query,
    quote,
    terms,
)

__all__ = [
    "FIELDS",
    "MAX_DEPTH",
    "MAX_PARSED_TERMS",
    "NEAR_DISTANCE",
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
