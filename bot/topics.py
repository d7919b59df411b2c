"""Default topics: saved searches every channel can use without writing a query.

A topic is a full-text query (``bot.models.Topic``, in the language of ``bot.query``).
The defaults here are built from groups of terms rather than written as query strings,
so that one definition yields both the query that ``/brief <topic>`` runs and a cheap
in-Python matcher that tags a briefing with the topics it belongs to
(``Briefing.topics``).

How channels get them: every default topic answers ``/brief <slug>`` in every channel
(a channel's own topic of the same slug wins). ``/brief topic adopt <slug>`` (or
``adopt all``) copies a default into the channel's saved topics, where it shows in
``/brief topics`` and can be edited with ``topic add``. Nothing is adopted
automatically: a new channel's topic list stays what its admins made it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .models import Briefing, Topic
from .query import Field, Query, Term, all_of, any_of, format_query
from .words import plural_stem, topic_tokens

# Slug rules shared with ``/brief topic add``: short, URL- and command-safe.
SLUG_MAX = 40
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")

# The fields of a briefing that default topics search.
_FIELDS = ("headline", "lead")


@dataclass(frozen=True)
class DefaultTopic:
    """A topic shipped with SignalDesk.

    ``groups``: the briefing must match at least one term of *every* group. A term is a
    word, a phrase (several words, matched in order) or a prefix ending in ``*``."""

    slug: str
    title: str
    groups: tuple[tuple[str, ...], ...]

    @property
    def parsed(self) -> Query:
        """The query: every group is an OR of its terms, searched in the headline and
        lead; the groups are ANDed.

        Only the headline and lead are searched: what a story is *about* is said there,
        while its sections mention other things in passing ("… US and Chinese
        developers" in a story about EU rules is not China AI news)."""
        return all_of([Field(_FIELDS, any_of([_term(t) for t in g])) for g in self.groups])

    @property
    def query(self) -> str:
        """The query as saved-topic text: ``{headline lead}: ("a" OR "b") AND
        {headline lead}: ("c" OR "d e" OR "f"*)``; every term quoted."""
        return format_query(self.parsed)

    def as_topic(self, channel_id: str) -> Topic:
        return Topic(channel_id=channel_id, slug=self.slug, query=self.query)

    def matches(self, tokens: list[str]) -> bool:
        """Whether a tokenized text (see ``tokens``) matches every group."""
        joined = " " + " ".join(tokens) + " "
        vocab = set(tokens)
        stems = {plural_stem(w) for w in vocab}
        return all(any(_term_hit(t, vocab, stems, joined) for t in group) for group in self.groups)


def _term(term: str) -> Term:
    if term.endswith("*"):
        return Term(term[:-1], prefix=True)
    return Term(term)


def _term_hit(term: str, vocab: set[str], stems: set[str], joined: str) -> bool:
    if term.endswith("*"):
        prefix = term[:-1].lower()
        return any(w.startswith(prefix) for w in vocab)
    parts = tokens(term)
    if len(parts) > 1:
        return " " + " ".join(parts) + " " in joined
    word = parts[0] if parts else ""
    return word in vocab or plural_stem(word) in stems


def tokens(text: str) -> list[str]:
    """Lower-case word tokens in order (duplicates kept: phrases need positions)."""
    return topic_tokens(text)


DEFAULT_TOPICS: dict[str, DefaultTopic] = {
    t.slug: t
    for t in (
        DefaultTopic(
            "china-ai",
            "AI in China",
            (
                ("china", "chinese", "beijing", "shenzhen", "deepseek", "alibaba", "baidu",
                 "tencent", "huawei", "moonshot", "zhipu"),
                ("ai", "artificial intelligence", "model", "llm", "chatbot", "chip",
                 "semiconductor*"),
            ),
        ),
        DefaultTopic(
            "ai-policy",
            "AI rules, regulators and courts",
            (
                ("ai", "artificial intelligence"),
                ("regulation", "regulator*", "rules", "law", "lawmaker*", "act", "bill", "policy",
                 "ban", "copyright", "lawsuit", "court", "safety institute"),
            ),
        ),
        DefaultTopic(
            "chips",
            "Semiconductors and export controls",
            (
                ("semiconductor*", "chipmaker*", "chip", "tsmc", "nvidia", "asml",
                 "export controls", "foundry"),
            ),
        ),
        DefaultTopic(
            "markets",
            "Markets and central banks",
            (
                ("stock market", "stocks", "shares", "nasdaq", "dow jones", "bond yields",
                 "interest rate", "central bank", "inflation", "federal reserve", "ecb"),
            ),
        ),
        DefaultTopic(
            "climate",
            "Climate and energy transition",
            (
                ("climate", "emissions", "carbon", "global warming", "heatwave", "drought",
                 "wildfire*", "renewable*", "solar power", "wind power", "net zero"),
            ),
        ),
        DefaultTopic(
            "space",
            "Space flight and astronomy",
            (
                ("nasa", "spacex", "esa", "rocket", "satellite", "orbit", "astronaut",
                 "space station", "telescope", "lunar", "mars"),
            ),
        ),
        DefaultTopic(
            "security",
            "Cybersecurity",
            (
                ("ransomware", "malware", "hacker*", "data breach", "vulnerabilit*",
                 "cyberattack*", "phishing", "zero day", "cybersecurity"),
            ),
        ),
    )
}  # fmt: skip


def default_topic(slug: str) -> DefaultTopic | None:
    """The shipped topic with this slug, if any."""
    return DEFAULT_TOPICS.get(slug)


def channel_slugs(own: Iterable[Topic]) -> list[str]:
    """The topic slugs a channel can show: its own topics, then every default topic it
    has no topic of the same slug for (a channel's own topic wins)."""
    slugs = list(dict.fromkeys(t.slug for t in own))
    return slugs + [slug for slug in DEFAULT_TOPICS if slug not in slugs]


def is_valid_slug(slug: str) -> bool:
    """Lower-case letters, digits and inner hyphens; at most ``SLUG_MAX`` characters."""
    return len(slug) <= SLUG_MAX and SLUG_RE.match(slug) is not None


def topics_for(briefing: Briefing, topics: Iterable[DefaultTopic] | None = None) -> list[str]:
    """The slugs of the default topics a briefing matches (its headline and lead, as the
    topic queries search).

    Approximates what the topic's query would find in the index (a crude plural fold
    instead of its stemmer) without touching the database, so the condenser can call
    it."""
    text = briefing.headline + " " + briefing.lead
    toks = tokens(text)
    chosen = DEFAULT_TOPICS.values() if topics is None else topics
    return [t.slug for t in chosen if t.matches(toks)]


__all__ = [
    "DEFAULT_TOPICS",
    "SLUG_MAX",
    "DefaultTopic",
    "channel_slugs",
    "default_topic",
    "is_valid_slug",
    "tokens",
    "topics_for",
]
