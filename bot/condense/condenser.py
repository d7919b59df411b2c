"""The :class:`ExtractiveCondenser`: a story's reports -> its briefing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ..models import BULLET_COUNT, BULLET_MAX, LEAD_MAX, Briefing, Bullet, Source, SourceText
from ..multisource import MultiSourcePlan, plan_story
from ..text import one_line
from ..words import content_words
from .analysis import _analyse_story, _Sentence, _Story
from .bullets import _eligible, _name_given, _pick_bullets, _point, fit_bullet, fits
from .headline import _headline, clean_headline
from .lead import _lead, _scene_setters
from .sections import _sections
from .tuning import LONG_FACTOR


class ExtractiveCondenser:
    """The default condenser: offline, deterministic, extractive (see module doc)."""

    name = "extractive"

    def condense(self, briefing_id: str, material: Sequence[SourceText], now: datetime) -> Briefing:
        """A story's reports (first report first) -> its briefing. Never raises on odd
        text; material with nothing to condense (a headline only, a page in a language
        the condenser does not read, a table) gives a short item: headline and sources,
        no lead and no bullets."""
        story = _analyse_story(material)
        headline = story.headline
        plan = _plan(story) if _briefable(story) else None
        if plan is not None:  # several outlets: lead and bullets by agreement
            lead_parts, chosen = [plan.lead], plan.bullets
            lead = (
                plan.lead.text
                if len(plan.lead.text) <= LEAD_MAX
                else fit_bullet(plan.lead.text, LEAD_MAX)
            )
        elif _briefable(story):
            lead_parts, lead, chosen = _choose(story)
        else:
            lead_parts, lead, chosen = [], "", []
        if len(story.sources) > 1 and lead_parts:
            main = story.sources[lead_parts[0].source]
            if one_line(main.title):
                # The headline of the report the lead comes from, not of the first to
                # arrive (a bare headline from an aggregator may well arrive first);
                # unless it is a live blog's label and another report's headline says
                # what happened.
                headline = _headline([main, *(s for s in story.sources if s is not main)], [])
        bullets = [
            Bullet(text=fit_bullet(s.text), source=s.source, sentence=s.original) for s in chosen
        ]
        if plan is not None:  # new facts only: other outlets' headlines, then any conflict
            bullets += [Bullet(text=fit_bullet(t), source=i, sentence=t) for t, i in plan.extra]
            bullets = bullets[:BULLET_COUNT]
            if plan.differ:
                differ = Bullet(text=fit_bullet(plan.differ), source=plan.differ_source)
                bullets = [*bullets[: BULLET_COUNT - 1], differ]
        what_happened = why = watch = ""
        if lead:
            # The full briefing shows the bullets right above the sections: no section
            # may repeat one, as none repeats the lead. A feature's scene-setting opening
            # is not what happened either.
            shown = {id(s) for s in (*lead_parts, *chosen, *_scene_setters(story))}
            taken = [frozenset(content_words(lead)), *(s.words for s in lead_parts)]
            what_happened, why, watch = _sections(
                story.sentences, shown, taken + [s.words for s in chosen], story.title_words
            )
        return Briefing(
            id=briefing_id,
            headline=headline,
            lead=lead,
            bullets=bullets,
            what_happened=what_happened,
            why_it_matters=why,
            what_to_watch=watch,
            sources=[_listed_source(s) for s in story.sources],
            created_at=now,
            updated_at=now,
            condenser=self.name,
        )


def _listed_source(source: Source) -> Source:
    """A source as the briefing lists it: its outlet's name stands beside its title
    ("CNN — Takeaways from the trial"), so a site name in the title ("… | CNN
    Politics") goes, as it goes from the headline."""
    title = clean_headline(source.title, source.publisher, source.url)
    return source if title == source.title else source.model_copy(update={"title": title})


def _plan(story: _Story) -> MultiSourcePlan[_Sentence] | None:
    """Lead and bullets by agreement for a story of several outlets (bot.multisource),
    chosen among the sentences a briefing may show; None for a single source."""
    if len(story.sources) < 2:
        return None
    # Not a sentence that leans on the one before, either: the plan interleaves outlets,
    # so the sentence it leans on would not be above it.
    usable = [s for s in story.sentences if _point(s) and not s.dangling]

    def named(s: _Sentence, above: Sequence[_Sentence]) -> bool:
        # What the reader sees above it: the headline (the lead's report's), the lead and
        # the bullets, as shown (a cut bullet does not show the name it cut off).
        if not s.surname:
            return True
        shown = [
            fit_bullet(o.text, LEAD_MAX if i == 0 else BULLET_MAX) for i, o in enumerate(above)
        ]
        if above:
            shown.append(story.sources[above[0].source].title)
        return _name_given(s, frozenset(content_words(" ".join(shown))))

    return plan_story(
        usable,
        [s.publisher for s in story.sources],
        [s.title for s in story.sources],
        bullet_weight=_bullet_weight,
        may_follow=named,
    )


def _bullet_weight(s: _Sentence) -> float:
    """As for one source's bullets: a sentence that fits whole is preferred to one that
    must be cut, and one no cut leaves whole in meaning is none."""
    if len(s.text) <= BULLET_MAX:
        return 1.0
    return LONG_FACTOR if fits(s.text) else 0.0


def _briefable(story: _Story) -> bool:
    return any(_eligible(s) for s in story.sentences)


def _choose(story: _Story) -> tuple[list[_Sentence], str, list[_Sentence]]:
    """The lead (the sentences it was taken from, and its text) and the bullets."""
    lead_parts, lead = _lead(story)
    taken = [frozenset(content_words(lead)), *(s.words for s in lead_parts)]
    # The lead passed over a scene-setting opening: it is no point of the story either.
    used = {id(s) for s in lead_parts} | {id(s) for s in _scene_setters(story)}
    ranked = sorted(
        (s for s in story.sentences if id(s) not in used),
        key=lambda s: (-s.score, s.source, s.position),
    )
    # A pointing-back bullet may follow the lead only when the lead is the sentence it
    # leans on (not the page's summary written over it).
    shown = lead_parts if lead == " ".join(s.text for s in lead_parts) else []
    return lead_parts, lead, _pick_bullets(ranked, taken, shown, story.title_words)
