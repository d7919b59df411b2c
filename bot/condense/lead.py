"""The lead: the sentence that reports the event (the page's own summary when the
text bears it out, else the first opening sentence that is news)."""

from __future__ import annotations

import re

from ..models import LEAD_MAX
from ..sentences import split_sentences
from ..words import content_words
from .analysis import _SCENE, _dangles, _overlap, _Sentence, _Story, _unattributed_quote
from .boilerplate import _TERMINAL, is_boilerplate, unglue_standfirst
from .bullets import _eligible, fit_bullet
from .tuning import LEAD_WINDOW, REDUNDANT, SHORT_LEAD, SUMMARY_MIN_WORDS


def _lead(story: _Story) -> tuple[list[_Sentence], str]:
    """The sentence that reports the event: the page's own summary when it is a whole
    sentence the text bears out, else the first of the opening sentences that is not a
    scene-setter, a label, a question or a sentence leaning on another."""
    eligible = [s for s in story.sentences if _eligible(s)]
    main = eligible[0].source
    opening = [s for s in eligible if s.source == main and s.position < LEAD_WINDOW]
    summary = _summary_lead(story.summaries[main], story.texts[main])
    if summary:
        return [
            s for s in opening if _overlap(s.words, frozenset(content_words(summary))) > REDUNDANT
        ][:1], summary
    title = story.title_words
    first = next((s for s in opening if _news_like(s, title)), None)
    if first is None:
        # No opening sentence says what the headline says (a headline that is the page's
        # section name, "Information and resources"): still not a scene-setter when a
        # plain sentence follows it.
        # A feature may open on several: the first plain sentence a little further on.
        further = [s for s in eligible if s.source == main and s.position < 2 * LEAD_WINDOW]
        plain = [s for s in further if not s.dangling]
        first = next((s for s in plain if not s.scene), plain[0] if plain else eligible[0])
    # The opening sentence may carry a standfirst run into it: the lead shows the rest.
    opening_text = unglue_standfirst(first.text, title) if first.position == 0 else first.text
    parts = [first]
    after = [s for s in eligible if s.source == main and s.position == first.position + 1]
    if after and len(opening_text) < SHORT_LEAD:
        second = after[0]
        if len(first.text) + 1 + len(second.text) <= LEAD_MAX:
            parts.append(second)
    lead = " ".join([opening_text, *(s.text for s in parts[1:])])
    if len(lead) > LEAD_MAX:
        lead = fit_bullet(lead, LEAD_MAX)
    return parts, lead


def _scene_setters(story: _Story) -> list[_Sentence]:
    """The main source's opening sentences before the first that reports the news."""
    eligible = [s for s in story.sentences if _eligible(s)]
    if not eligible:
        return []
    main = eligible[0].source
    out = []
    for s in eligible:
        if s.source != main or s.position >= LEAD_WINDOW or _news_like(s, story.title_words):
            break
        if not s.dangling:
            out.append(s)
    return out


def _news_like(s: _Sentence, title: frozenset[str]) -> bool:
    if s.dangling:
        return False
    shared = len(s.words & title)
    if s.scene:
        # A scene-setter shares little with the headline; the same opening words that
        # report the event ("When police arrived…" under "Police …") do.
        return shared >= max(2, len(title) // 3)
    # The news is what the headline says: an opening that shares not one word with it
    # ("The brass band was still tuning up…") sets a scene.
    return shared > 0 or len(title) < 3


def _summary_lead(summary: str, text: str) -> str:
    """The publisher's summary as a lead: one or two whole sentences, every content word
    and number of which is in the text (a teaser or a claim the text does not make is
    not the news)."""
    if not summary or len(summary) > LEAD_MAX:
        return ""
    parts = split_sentences(summary)
    if parts and parts[-1].rstrip().endswith(("…", "...")):
        # A description cut to the site's teaser length ("…looking absolutely stun...",
        # "The report, which compares data from 200 companies…"): its whole sentences
        # only.
        parts = parts[:-1]
        summary = " ".join(parts)
    if (
        len(summary.split()) < SUMMARY_MIN_WORDS
        or not 1 <= len(parts) <= 2
        or any(is_boilerplate(s) or not _TERMINAL.search(s) for s in parts)
    ):
        return ""
    if _dangles(summary) or _SCENE.match(summary) or _unattributed_quote(summary):
        return ""
    words = set(content_words(summary))
    have = set(content_words(text))
    if not words or len(words - have) > len(words) // 10:
        return ""
    numbers = set(_NUMBER.findall(summary))
    if numbers - set(_NUMBER.findall(text)):
        return ""
    return summary


_NUMBER = re.compile(r"\d[\d.,]*")
