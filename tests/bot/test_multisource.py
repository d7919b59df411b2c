"""Multi-source briefings: the lead by agreement, one fact said once, conflicting
numbers flagged (invented stories)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import permutations

from bot.condense import ExtractiveCondenser
from bot.models import Briefing, Source, SourceText

NOW = datetime(2026, 3, 4, 12, tzinfo=UTC)

DOCKS = {
    "Coastline Courier": (
        "Kestrel Bay dockers end walkout as port agrees job guarantee",
        "Dockworkers at Kestrel Bay voted on Thursday to end their walkout after the port "
        "operator agreed that no jobs would be cut before 2029. "
        "The union said 87% of members backed the deal in a ballot at the port. "
        "Loading of the 41 ships waiting off the coast is due to resume on Friday. "
        "The walkout at Kestrel Bay began three weeks ago over plans for automated cranes.",
    ),
    "Harbor Tech": (
        "Automation deal ends three-week Kestrel Bay port strike",
        "The port operator will introduce automated cranes at Kestrel Bay more slowly "
        "under a deal with the dockers' union, the company said. "
        "Dockworkers voted on Thursday to end the walkout after the operator promised no "
        "job cuts before 2029. "
        "Analysts at Meridian Securities said the stoppage had cost shippers about "
        "30 million euros.",
    ),
    "Meridian Daily": (
        "Kestrel Bay strike over: dockers accept no-cuts pledge",
        "Kestrel Bay's dockworkers voted on Thursday to end their walkout, accepting the "
        "port operator's promise of no job cuts before 2029. "
        "Union leader Ana Ferris said the vote was a win for every port worker in the "
        "country. "
        "The walkout at Kestrel Bay lasted two weeks and left 41 ships waiting off the coast.",
    ),
}


def _condense(order: tuple[str, ...]) -> Briefing:
    material = [
        SourceText(source=Source(publisher=name, title=DOCKS[name][0]), text=DOCKS[name][1])
        for name in order
    ]
    return ExtractiveCondenser().condense("docks", material, NOW)


def test_arrival_order_does_not_change_the_lead_of_a_three_source_story() -> None:
    briefings = [_condense(order) for order in permutations(DOCKS)]
    leads = {b.lead for b in briefings}
    assert len(leads) == 1, leads
    # The lead is the sentence all three outlets report: the vote to end the walkout.
    (lead,) = leads
    assert "voted on Thursday to end" in lead
    assert len({b.headline for b in briefings}) == 1


def test_one_fact_is_said_once_and_bullets_come_from_several_outlets() -> None:
    briefing = _condense(tuple(DOCKS))
    units = [briefing.lead, *(b.text for b in briefing.bullets)]
    assert sum("2029" in u for u in units) == 1, units
    outlets = {briefing.sources[b.source].publisher for b in briefing.bullets}
    assert len(outlets) >= 2


def test_conflicting_numbers_are_flagged_with_their_outlets() -> None:
    briefing = _condense(tuple(DOCKS))
    (differ,) = [b.text for b in briefing.bullets if b.text.startswith("Sources differ:")]
    assert "three weeks (Coastline Courier)" in differ
    assert "two weeks (Meridian Daily)" in differ


def test_different_figures_about_different_things_are_no_conflict() -> None:
    # "after two months of weak hiring" and "the average of the previous three months":
    # two periods in one story, each true; a "Sources differ" line would be false.
    texts = {
        "Coastline Courier": (
            "Kellmoor employers add 8,500 jobs in June",
            "Kellmoor's employers added 8,500 jobs in June, a welcome result after two "
            "months of weak hiring, the statistics office said on Friday. "
            "The jobless rate fell to 5.1 percent from 5.4 percent in May.",
        ),
        "Meridian Daily": (
            "Hiring picks up in Kellmoor",
            "Employers in Kellmoor added 8,500 jobs in June, well above the average of the "
            "previous three months, the statistics office said on Friday. "
            "Economists had expected about 6,000 new jobs.",
        ),
    }
    b = _brief(texts)
    assert not any(x.text.startswith("Sources differ") for x in b.bullets), b.bullets
    # The same count, told differently, still is one.
    texts["Meridian Daily"] = (
        "Hiring picks up in Kellmoor",
        "Employers in Kellmoor added 11,200 jobs in June, the statistics office said on "
        "Friday, well above the average of the previous three months.",
    )
    b = _brief(texts)
    differ = [x.text for x in b.bullets if x.text.startswith("Sources differ")]
    assert differ and "8,500 jobs" in differ[0] and "11,200 jobs" in differ[0], b.bullets


def test_a_single_source_story_keeps_the_single_article_logic() -> None:
    name = "Harbor Tech"
    material = [
        SourceText(source=Source(publisher=name, title=DOCKS[name][0]), text=DOCKS[name][1])
    ]
    briefing = ExtractiveCondenser().condense("one", material, NOW)
    assert briefing.lead.startswith("The port operator will introduce automated cranes")
    assert not any(b.text.startswith("Sources differ") for b in briefing.bullets)


def test_every_bullet_names_its_outlet_in_the_posted_message() -> None:
    import json

    from adapters.console.render import render_briefing as console
    from adapters.discord.render import render_briefing as discord
    from adapters.slack.render import render_briefing as slack

    briefing = _condense(tuple(DOCKS))
    quoted = [b for b in briefing.bullets if b.sentence]
    assert quoted
    posted = {
        "console": console(briefing),
        "slack": json.dumps(slack(briefing), ensure_ascii=False),
        "discord": discord(briefing).description or "",
    }
    for platform, text in posted.items():
        for bullet in quoted:
            outlet = briefing.sources[bullet.source].publisher
            # One line per bullet (Slack's JSON keeps its newlines escaped).
            lines = re.split(r"\n|\\n", text)
            line = next(x for x in lines if bullet.text[:40] in x)
            assert outlet in line, (platform, line)


def test_where_a_feed_cut_its_excerpt_or_a_quotes_credit_line_is_not_a_bullet() -> None:
    # What aggregator feeds deliver: each outlet's lead, cut to length by the feed, and
    # a quotation's credit line set on its own.
    texts = {
        "Coastline Courier": (
            "Kestrel Bay dockers end walkout",
            "Dockworkers at Kestrel Bay voted on Thursday to end their walkout after the "
            "port operator agreed that no jobs would be cut before 2029. "
            "Loading of the 41 ships waiting off the coast is due to resume on Friday, "
            "and the union said about 87% of its members are...",
        ),
        "Harbor Tech": (
            "Automation deal ends Kestrel Bay strike",
            "Dockworkers voted on Thursday to end the Kestrel Bay walkout after the "
            "operator promised no job cuts before 2029. "
            "\u2014 Union leader Ana Ferris, in a statement to members, Thursday evening.",
        ),
        "Meridian Daily": (
            "Kestrel Bay strike over",
            "Kestrel Bay's dockworkers voted on Thursday to end their walkout, accepting "
            "the port operator's promise of no job cuts before 2029. "
            "The stoppage cost shippers about 30 million euros, according to Meridian "
            "Securities\u2026",
        ),
    }
    material = [
        SourceText(source=Source(publisher=name, title=title), text=text)
        for name, (title, text) in texts.items()
    ]
    b = ExtractiveCondenser().condense("docks", material, NOW)
    shown = [x.text for x in b.bullets]
    assert not any(t.startswith("\u2014") for t in shown), shown
    # Where a feed cut its excerpt off, the sentence is not a point: most such cuts
    # fall mid-phrase ("…a force of about 2,500 troops, the size...", "…the John
    # Lewis..."), whatever word the cut follows.
    assert not any("members are" in t or "30 million euros" in t for t in shown), shown
    assert b.lead.startswith("Dockworkers") or b.lead.startswith("Kestrel Bay's"), b.lead
    # Thin material may still lead with one: it is all the feed gave.
    alone = ExtractiveCondenser().condense("docks", material[2:], NOW)
    assert alone.lead.startswith("Kestrel Bay's dockworkers voted"), alone.lead
    thin = SourceText(
        source=Source(publisher="Meridian Daily", title="Kestrel Bay strike cost 30 million"),
        text="The stoppage cost shippers about 30 million euros, according to Meridian "
        "Securities\u2026",
    )
    b = ExtractiveCondenser().condense("cost", [thin], NOW)
    assert "30 million euros" in b.lead and not b.bullets, b


LIVE_BLOG = (
    "Kestrel Bay port strike: the latest on day three",
    "Talks between the dockers' union and Saltmarsh Terminals resumed at the harbour "
    "master's office shortly after dawn on Wednesday, the third day of the Kestrel Bay "
    "strike over automated cranes. "
    "Forty-one container ships are still waiting off Kestrel Bay, the harbour master's "
    "office said. "
    "Check back for updates.",
)
WIRE = (
    "Kestrel Bay dockers strike over automated cranes, stranding 41 ships",
    "Dockworkers at Kestrel Bay walked off the job on Monday in a strike against "
    "Saltmarsh Terminals' plans for automated cranes, leaving 41 container ships waiting "
    "off the port. "
    "The union says the cranes would eliminate hundreds of jobs; Saltmarsh says no "
    "worker will be laid off. "
    "Talks at the harbour master's office are due to resume on Wednesday.",
)


def test_a_live_blogs_label_is_not_the_headline_when_another_report_has_one() -> None:
    def condense(order: list[tuple[str, str]]) -> Briefing:
        material = [
            SourceText(source=Source(publisher=name, title=title), text=text)
            for name, (title, text) in order
        ]
        return ExtractiveCondenser().condense("strike", material, NOW)

    for order in (
        [("Coastline Courier", LIVE_BLOG), ("Meridian Daily", WIRE)],
        [("Meridian Daily", WIRE), ("Coastline Courier", LIVE_BLOG)],
    ):
        briefing = condense(order)
        assert briefing.headline == WIRE[0], briefing.headline
    # Alone, the live blog keeps its own title: there is no other.
    alone = condense([("Coastline Courier", LIVE_BLOG)])
    assert alone.headline == LIVE_BLOG[0]


# Each outlet's report of the vote, for stories that differ in what follows it.
VOTE = {
    "Coastline Courier": (
        "Kestrel Bay dockers end walkout",
        "Dockworkers at Kestrel Bay voted on Thursday to end their walkout after the "
        "port operator agreed that no jobs would be cut before 2029.",
    ),
    "Harbor Tech": (
        "Automation deal ends Kestrel Bay strike",
        "Dockworkers voted on Thursday to end the Kestrel Bay walkout after the "
        "operator promised no job cuts before 2029.",
    ),
    "Meridian Daily": (
        "Kestrel Bay strike over",
        "Kestrel Bay's dockworkers voted on Thursday to end their walkout, accepting "
        "the port operator's promise of no job cuts before 2029.",
    ),
}


def _after_vote(**more: str) -> dict[str, tuple[str, str]]:
    """The vote story, each outlet's report followed by ``more[outlet]`` (outlets named
    without spaces: ``Coastline``, ``Harbor``, ``Meridian``)."""
    out = {}
    for name, (title, vote) in VOTE.items():
        key = name.split()[0]
        if key in more:
            out[name] = (title, f"{vote} {more[key]}")
    return out


def _brief(texts: dict[str, tuple[str, str]], order: Sequence[str] = ()) -> Briefing:
    material = [
        SourceText(source=Source(publisher=name, title=texts[name][0]), text=texts[name][1])
        for name in (order or list(texts))
    ]
    return ExtractiveCondenser().condense("docks", material, NOW)


def test_no_outlets_sentence_is_cut_down_to_a_clause_without_its_verb() -> None:
    # Long wire sentences: one opens on a subordinate clause that runs past a bullet's
    # length, so any cut would post "While the union had demanded…" and nothing else.
    b = _brief(
        _after_vote(
            Coastline="While the union had demanded that the automated cranes ordered from "
            "the Varde shipyard last spring be brought into service over five years rather "
            "than two and that the night shifts be kept for the older crews on the quays, "
            "the company offered only a slower timetable, and the union accepted it.",
            Harbor="Shares in the operator rose 4 percent in Oslo trading after the vote.",
            Meridian="The stoppage cost shippers about 30 million euros, according to "
            "Meridian Securities.",
        )
    )
    assert b.bullets
    for bullet in b.bullets:
        assert not bullet.text.startswith("While"), bullet.text


def test_a_person_named_by_surname_only_comes_after_the_full_name() -> None:
    # Meridian Daily names the union leader in full where it reports the vote, which is
    # the lead's fact; its next sentence calls her "Ferris". Under another outlet's lead,
    # a reader would not know who that is.
    texts = _after_vote(
        Coastline="Loading of the 41 ships waiting off the coast is due to resume on Friday.",
        Harbor="Shares in the operator rose 4 percent in Oslo trading after the vote.",
    )
    texts["Meridian Daily"] = (
        "Kestrel Bay strike over",
        "Union leader Ana Ferris said on Thursday that dockworkers at Kestrel Bay had "
        "voted to end their walkout once the operator promised no job cuts before 2029. "
        "Ferris told a rally at the port gates that the night shifts on the quays "
        "would be restored from Monday.",
    )
    for order in permutations(texts):
        b = _brief(texts, order)
        above = f"{b.headline} {b.lead}"
        for bullet in b.bullets:
            if "Ferris" in bullet.text:
                assert "Ana Ferris" in above, (above, bullet.text)
            above += " " + bullet.text


def test_the_headline_is_never_repeated_as_a_bullet() -> None:
    # Thin excerpts: too few sentences for three bullets, so the other outlets'
    # headlines fill in, but the posted headline is not one of them.
    texts = {
        "Coastline Courier": (
            "Kestrel Bay dockers back deal as 41 ships wait off the coast",
            VOTE["Coastline Courier"][1],
        ),
        "Harbor Tech": (
            "Varde Ports shares jump after automated cranes deal with the union",
            VOTE["Harbor Tech"][1],
        ),
    }
    for order in permutations(texts):
        b = _brief(texts, order)
        assert b.headline not in {x.text for x in b.bullets}, (b.headline, b.bullets)
