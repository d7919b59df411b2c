"""What a sentence says: cue patterns (a time ahead, a quotation, the past tense) and
:func:`section_of`, the section a sentence belongs to by what it says."""

from __future__ import annotations

import re

from ..words import WORD_RUN

# ------------------------------------------------------------------------- cues
# A time ahead ("on Friday", "next month", "in March 2027"): of two plans, the dated one
# is what a reader can watch for. ("May" is left out: it is far more often the verb.)
_WHEN = re.compile(
    r"""\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|tomorrow
    | january|february|march|april|june|july|august|september|october|november
    | december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec|next|20[2-9]\d
    )\b""",
    re.VERBOSE,
)
# Quoted words: what someone said. "It will set the template" in a quotation is
# rhetoric, not a plan; cues for what to watch are read outside quotations.
_QUOTATION = re.compile(r"“[^”]*”?|\"[^\"]*\"?")
_PAST = re.compile(r"\b(?:was|were|had|did|said|told|announced|reported|\w{3,}ed)\b", re.IGNORECASE)
# -------------------------------------------------------- sections, by what is said
# A wrong label is worse than an absent section: these read only explicit forms.
# A plan or a decision ahead by its form alone ("is due to", "has scheduled").
_AHEAD_STRONG = re.compile(
    r"""\b(?:
    (?:is|are|was|were)\ scheduled\ to | (?:is|are)\ to\ be\ \w+ed
    # "is due to begin" is a plan; "was due to its debts" (a determiner, a possessive)
    # is a cause.
  | (?:is|are|was|were)\ due\ to\ (?!(?:the|a|an|its|his|her|their|our|this|that|these
    |those|some|many|much|more|high|low|poor|bad|heavy|rising|falling|lack|concerns?
    |fears?)\b)
  | (?:is|are)\ scheduled | (?:has|have)\ scheduled | no\ word\ yet
  | (?:it\ is|it's|remains)\ (?:unclear|not\ clear)\ whether
  | deadline | awaits | awaiting | upcoming | next\ step
  | later\ this\ (?:week|month|year) | next\ (?:week|month|year|weekend)
    \b(?=.*\b(?:will|would|to\ be|expected)\b)
  )\b""",
    re.I | re.X,
)
# Forecasts and intentions are plans to watch only with a time ahead: "is expected to
# rule on Friday", not "is expected to serve two years" or "are likely to close".
_AHEAD_SOFT = r"""\b(?:(?:is|are|was|were)\ (?:expected|set|likely|poised)\ to
  | (?<!no\ )plans\ to | planning\ to | intends\ to | aims\ to)\b[^.;]{0,80}?"""
_FUTURE = re.compile(r"\b(?:will|won[’']t|shall|[’']ll)\b", re.I)
_AHEAD_TIME = re.compile(
    r"""\b(?:on\ (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)
  | (?:this|next|coming)\ (?:week|month|year|weekend|monday|tuesday|wednesday|thursday|friday
    |saturday|sunday|spring|summer|autumn|fall|winter)
  | in\ (?:january|february|march|april|may|june|july|august|september|october|november|december
    |the\ coming|the\ (?:spring|summer|autumn|fall|winter|new\ year))
  | by\ the\ end\ of | within\ (?:days|weeks|months)
  | (?:in|by|from|until)\ 20[2-9]\d | later | soon | at\ the\ closing | tomorrow
    | before\ the
  | the\ next\ (?:month|week|year|few)
  )\b""",
    re.I | re.X,
)
_GENERIC = re.compile(
    r"""\b(?:if|whenever|you|your|inevitably|always|automatically|usually)\b""", re.I | re.X
)
_SIGNIFICANCE = re.compile(
    r"""\b(?:
    raised?\ (?:fears|concerns|questions|hopes|doubts) | rais(?:es|ing)\ (?:fears|concerns
    |questions)
  | (?:worry|worries|worried|fear|fears|feared|concerned)\ that | warn(?:s|ed)?\ that
  | analysts?\ (?:said|say|says|believe|expect|warn\w*) | experts?\ (?:said|say|says|warn\w*)
  | could\ (?:strengthen|weaken|hurt|boost|lead|cost|mean|affect|undermine|push|force|threaten
    |trigger|derail|damage|jeopardi[sz]e|reshape|change)
  | would\ (?:strengthen|weaken|hurt|boost|lead|cost|mean|affect|undermine|push|force|threaten
    |trigger|derail|damage)
  | (?:means|meaning)\ that | which\ means
  | a\ (?:new\ )?record\b(?!\ (?:label|store|player|number))
  | (?:largest|biggest|highest|lowest|worst)\ (?:since|ever|in\ (?:history|decades|years))
  | will\ (?:eat\ up|overtake|cost|force|mean) | at\ risk | the\ risk\ of
  | a\ blow\ to | a\ boost\ (?:to|for) | unprecedented
  )\b""",
    re.I | re.X,
)
_DATED_FUTURE = re.compile(
    r"\b(?:will|won[’']t|shall)\b[^.;]{0,80}?" + _AHEAD_TIME.pattern, re.I | re.X
)
_BEFORE_NOW = re.compile(r"\b(?:was|were|had)\b", re.I)
_NEGATION = re.compile(r"\b(?:not|never|n[’']t)\b", re.I)
_DATED_PLAN = re.compile(_AHEAD_SOFT + _AHEAD_TIME.pattern, re.I | re.X)
_TIME_FIRST = re.compile(
    r"^(?:then,?\ )?" + _AHEAD_TIME.pattern + r"[^.;]{0,80}?\b(?:will|shall)\b", re.I | re.X
)


# The words without which each pattern above cannot match (for "a record", "at risk":
# the second word). A sentence is first read as a set of words, and a pattern is run
# only when one of its words is there: most sentences have none, and these searches
# were most of the condenser's time per sentence. Same answers as the patterns alone.
_GENERIC_WORDS = frozenset("if whenever you your inevitably always automatically usually".split())
_SIGNIFICANCE_WORDS = frozenset(
    """raise raised raises raising worry worries worried fear fears feared concerned warn
    warns warned analyst analysts expert experts could would means meaning which record
    blow boost risk largest biggest highest lowest worst will unprecedented""".split()
)
_STRONG_WORDS = frozenset(
    "scheduled be due yet whether deadline awaits awaiting upcoming step later next".split()
)
_FUTURE_WORDS = frozenset("will won shall".split())
_PLAN_WORDS = frozenset("expected set likely poised plans planning intends aims".split())


def section_of(text: str) -> str:
    """ "ahead" for a sentence that looks ahead (a dated plan, an expected decision, a
    next step), "significance" for one that states significance or consequence, else
    "". Cue words alone decide nothing: generic statements ("you", "if", "always") are
    neither, and quoted words are not read. Measured against hand labels in
    tests/data/section_labels.jsonl (tests/test_sections.py)."""
    bare = _QUOTATION.sub(" ", text)
    words = set(WORD_RUN.findall(bare.casefold()))
    if not words.isdisjoint(_GENERIC_WORDS):  # _GENERIC, word for word
        return ""
    if not words.isdisjoint(_SIGNIFICANCE_WORDS) and _SIGNIFICANCE.search(bare):
        # "he did not think it would mean meltdown" denies the consequence it names.
        return "" if _NEGATION.search(bare) else "significance"
    strong = None if words.isdisjoint(_STRONG_WORDS) else _AHEAD_STRONG.search(bare)
    if strong and strong.group(0).lower() == "upcoming" and _BEFORE_NOW.search(bare):
        strong = None  # "was preparing for an upcoming symposium": ahead of a past day
    if (
        strong
        or (not words.isdisjoint(_FUTURE_WORDS) and _DATED_FUTURE.search(bare))
        or (not words.isdisjoint(_PLAN_WORDS) and _DATED_PLAN.search(bare))
        or _TIME_FIRST.search(bare)
    ):
        return "ahead"
    return ""
