"""Tuning constants of the extractive condenser (weights, bars, budgets)."""

from __future__ import annotations

# No longer posted: thin material gets fewer bullets or a short item, never stock lines.
# Kept so that callers (and tests of renderers) that name them still import.
PLACEHOLDER_BULLETS = (
    "The source gives no further details yet.",
    "See the linked report for the full text.",
    "This briefing will be updated if more reports arrive.",
)
UNTITLED = "Untitled story"

# ----------------------------------------------------------------- tuning constants
# Chosen on the CNN/DailyMail and BBC dev sets, then rounded: the general shape (a
# strong position prior, centrality as a tie-breaker, redundancy removal) matters much
# more than the exact values.
W_POSITION = 1.0
W_CENTRALITY = 1.5
W_TITLE = 0.3
POSITION_DECAY = 0.5  # prior = 1 / (1 + decay * position)
# Wire copy front-loads the news (the inverted pyramid): the lead and the two sentences
# after it carry the event, so the position prior is flat over them and decays after.
NEWS_TOP = 2
OTHER_SOURCE_WEIGHT = 0.85  # later reports repeat the first one's news
NEW_SOURCE_BONUS = 0.08
MMR_LAMBDA = 0.6
REDUNDANT = 0.6  # overlap coefficient of content words above which two texts say the same
MIN_WORDS = 6
MAX_CHARS = 700  # longer "sentences" are run-on lists, tables or unsplit paragraphs
IDEAL_WORDS = (25, 50)
SHORT_LEAD = 90  # a first sentence shorter than this gets the second one beside it
LONG_FACTOR = 0.6  # score factor for a sentence too long to be a bullet whole
LEAD_WINDOW = 4  # the lead is one of the first source's first few usable sentences
ARTICLE_MIN_LINES = 8  # a text this short is judged by its sentences alone
ARTICLE_PROSE = 0.3  # share of a text's lines that are sentences, below which it is a table
SUMMARY_MIN_WORDS = 10  # a shorter summary is a teaser ("There's no going back.")
LANG_SAMPLE = 1500  # characters the language is judged on
CLAUSE_MIN = 60  # a cut bullet keeps at least this many characters
# Sources whose sentence analysis is kept for the next condense of their story: about
# 250 articles' worth of text, some 20 MB of analysis.
ANALYSIS_CACHE_CHARS = 2_000_000
