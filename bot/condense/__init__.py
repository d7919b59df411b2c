"""Condense: a story's reports -> a :class:`~bot.models.Briefing`, extractively.

The :class:`ExtractiveCondenser` is offline and deterministic. It never
writes a word of its own about the story: every bullet and section sentence is copied
verbatim from a source text (a whole sentence, or a prefix of one cut at a clause
boundary), so every number and quotation in a briefing can be traced to a source.

How sentences are chosen:

1. Each source text is read only when the condenser can brief it: English (by
   py3langid), running prose rather than a table or a listing, and more than its own
   headline. Otherwise the story is a *short item*: headline and sources, no lead, no
   bullets, until a source with text joins it.
2. Each text is split into sentences (:func:`bot.sentences.split_sentences`).
   Datelines ("BEIJING (Reuters) -", and at a text's start "Portland, OR –" or
   "April 17, 2015 --") and live-blog entry times are stripped; boilerplate (bylines,
   captions, calls to action, copyright lines, questions, all-caps lines, fragments)
   is dropped. Each sentence is flagged: whole or not, a list item or table row, a
   label, a quotation without its speaker, a scene-setting opening, and whether it
   points back to the sentence before ("He said…", "That is…", "…,” she said").
3. Each remaining sentence gets a score: a strong position prior (news puts the point
   first; later sources weigh a little less), centrality (how many of its content words
   recur across the story), overlap with the headline, and a length prior.
4. The lead states the news: the publisher's own summary when it is a whole sentence
   the text bears out, else the first opening sentence that is neither a scene-setter
   (it shares nothing with the headline, or opens like a feature), a label, nor a
   sentence leaning on another. Bullets are picked by maximal marginal relevance over
   *all* sources: whole sentences that stand alone (a longer one weighs less, and is
   cut at a clause with an ellipsis), a pointing-back one only right after the sentence
   it leans on, at most three and as many as the material has distinct points, shown
   in the order the text tells them.
5. Sections only when true (:func:`section_of`): "what to watch" for a dated plan or an
   expected decision, "why it matters" for stated significance or consequence, the
   remaining factual sentences for "what happened". A section with no candidate stays
   empty; nothing is invented, and nothing pads thin material.

``_analyse_story`` / ``_choose`` are the seam where a story's sources are analysed and
its lead and bullets picked; a multi-source selection can replace ``_choose``.

The package's rooms, in the order they depend on each other: ``tuning`` (weights and
bars), ``boilerplate`` (what a text or sentence is not), ``cues`` (what a sentence says,
:func:`section_of`), ``headline``, ``analysis`` (a story's sentences, flagged, cached
and scored), ``bullets``, ``lead``, ``sections`` and ``condenser``
(:class:`ExtractiveCondenser`). The condenser's words (tokenizer, stop words, stemmer)
are its own in ``bot.words``.
"""

from .boilerplate import (
    is_boilerplate,
    language_of,
    load_language_model,
    strip_dateline,
    unglue_standfirst,
)
from .bullets import fit_bullet, fits
from .condenser import ExtractiveCondenser
from .cues import section_of
from .headline import clean_headline
from .tuning import ANALYSIS_CACHE_CHARS, PLACEHOLDER_BULLETS, UNTITLED

__all__ = [
    "ANALYSIS_CACHE_CHARS",
    "PLACEHOLDER_BULLETS",
    "UNTITLED",
    "ExtractiveCondenser",
    "clean_headline",
    "fit_bullet",
    "fits",
    "is_boilerplate",
    "language_of",
    "load_language_model",
    "section_of",
    "strip_dateline",
    "unglue_standfirst",
]
