"""Story clustering: decide whether a new entry reports a story we have already seen.

Two feeds that report the same event should give one briefing with two sources; two
different events of the same kind (two earthquakes, two product launches) must stay
apart. The clusterer compares a cheap, storable *fingerprint* of each entry — weighted
title and lead-text terms — with the fingerprints of recent stories.

Why it works the way it does:

- Same-event reports share the *specific* words of the event: names, places, numbers,
  rare verbs. Different events of the same kind share the *generic* words ("earthquake",
  "magnitude", "killed"). So terms are weighted by an IDF that is learned online from
  everything the clusterer has seen, and name-like tokens (capitalised mid-sentence,
  numbers) get an extra boost.
- Outlets frame headlines differently, so the lead text counts as much as the title; the
  lead (not the whole article) is used because later paragraphs drift into background
  shared by many related stories.
- Numbers are compared as numbers ("$5.4bn" and "5.4 billion" share "5.4") and
  hyphenated compounds by their words ("Hsinchu-based" shares "Hsinchu").
- The bar an entry must clear depends on the texts' effective length: two short leads
  about the same person share much by chance, two long reports little, so short texts
  need a higher cosine (see ``StoryClusterer.threshold_for``).
- A bare headline against a full report is judged by containment: the share of the
  shorter side's weighted terms the longer one carries (see ``_match``), since their
  cosine is low by construction, whichever of the two arrived first.
- A story's fingerprint is the centroid of its entries' fingerprints, so the store keeps
  one compact JSON string per story and a long-running story does not chain into a
  neighbouring one the way single-link clustering does.
- A ratio test, as in feature matching: an entry that resembles one recent story far
  more than any other needs a little less similarity to join it, and one that sits
  between two similar stories (the preview, the event and the row after it) needs more.
- An outlet rarely reports one event twice within the window; its second article is
  more often the next development. So a story that already has an entry from the same
  source asks more of the newcomer (``SAME_SOURCE_PENALTY``); a near-copy still joins.

Pure standard library: the poll path runs this for every new entry.

The package's rooms: ``terms`` (tokens, IDF prior, :class:`Fingerprint`), ``clusterer``
(:class:`StoryClusterer`, similarity and the choice among candidates), ``index``
(:class:`ClusterIndex`, the inverted index of recent stories) and ``batch``
(``cluster_items`` and the ``signaldesk cluster`` command). The words themselves
(tokenizer, stop words, stemmer) are clustering's own in ``bot.words``.
"""

from bot.urls import source_of

from .batch import cluster_items, run_cluster_cli
from .clusterer import (
    DEFAULT_THRESHOLD,
    FOLLOWS_PREFIX,
    RATIO_WEIGHT,
    SAME_SOURCE_PENALTY,
    Placement,
    StoryClusterer,
)
from .index import ClusterIndex
from .terms import DEVELOPMENTS, Fingerprint, prior_df, prior_idf, term_of

__all__ = [
    "DEFAULT_THRESHOLD",
    "DEVELOPMENTS",
    "FOLLOWS_PREFIX",
    "RATIO_WEIGHT",
    "SAME_SOURCE_PENALTY",
    "ClusterIndex",
    "Fingerprint",
    "Placement",
    "StoryClusterer",
    "cluster_items",
    "prior_df",
    "prior_idf",
    "run_cluster_cli",
    "source_of",
    "term_of",
]
