"""The extractive condenser: briefing invariants, boilerplate, cue placement, robustness."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.condense import PLACEHOLDER_BULLETS, ExtractiveCondenser, fit_bullet, is_boilerplate
from bot.models import BULLET_MAX, HEADLINE_MAX, LEAD_MAX, Briefing, Source, SourceText
from bot.ports import Condenser

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

MAIN = "\n".join(
    [
        "By Imogen Tallis",
        "KESTREL BAY (Wirepress) - The harbour council of Kestrel Bay voted on Tuesday to "
        "close the old ferry pier after engineers found deep cracks in three of its "
        "supporting columns.",
        "Photo: The ferry pier at low tide, pictured last spring (Getty Images)",
        "The council said the pier, which opened in 1931, was declared unsafe after an "
        "inspection that lasted four days and involved twelve divers.",
        "Click here to sign up for our morning newsletter.",
        "The closure means that about 2,400 daily ferry passengers must use the cargo quay, "
        "which has no covered waiting area.",
        "Ferry operators reported that crossings to the outer islands took ten minutes longer"
        " on the first day of the diversion.",
        "The council will vote on a replacement design next month, and construction is "
        "expected to begin in 2027.",
        "What do you think about the closure? Tell us in the comments.",
        "SUBSCRIBE NOW FOR FULL ACCESS TO OUR COVERAGE",
        "Copyright 2025 The Kestrel Gazette. All rights reserved.",
    ]
)

SECOND = "\n".join(
    [
        "Kestrel Bay closed its ferry pier on Tuesday after cracks were found in its "
        "supporting columns.",
        "Harbour master Osric Penhallow said the cracks had widened by several millimetres "
        "since an earlier survey in January.",
        "Insurers had warned the council last year that the pier no longer met the safety "
        "standard for public structures.",
        "Read more: our full coverage of the harbour.",
    ]
)


def _material() -> list[SourceText]:
    return [
        SourceText(
            source=Source(publisher="Kestrel Gazette", title="Kestrel Bay shuts its ferry pier"),
            text=MAIN,
        ),
        SourceText(
            source=Source(publisher="Coast Wire", title="Cracked pier closed in Kestrel Bay"),
            text=SECOND,
        ),
    ]


def _condense(material: list[SourceText]) -> Briefing:
    return ExtractiveCondenser().condense("abcd1234", material, NOW)


def _norm(text: str) -> str:
    return " ".join(text.split())


def test_implements_the_condenser_port() -> None:
    condenser: Condenser = ExtractiveCondenser()
    assert condenser.name == "extractive"


def test_briefing_invariants() -> None:
    material = _material()
    b = _condense(material)
    assert b.id == "abcd1234" and b.condenser == "extractive"
    assert b.created_at == NOW == b.updated_at
    assert b.headline == "Kestrel Bay shuts its ferry pier"
    assert len(b.headline) <= HEADLINE_MAX and len(b.lead) <= LEAD_MAX
    assert b.sources == [m.source for m in material]
    texts = [b.text for b in b.bullets]
    assert len(texts) == 3 and len(set(texts)) == 3
    sources = [_norm(m.text) for m in material]
    for bullet in b.bullets:
        assert len(bullet.text) <= BULLET_MAX
        assert _norm(bullet.text) in sources[bullet.source]
        assert _norm(bullet.text) in _norm(bullet.sentence)
        assert _norm(bullet.text) not in _norm(b.lead) and _norm(b.lead) not in bullet.text
    assert b.lead.startswith("The harbour council of Kestrel Bay voted")


def test_dateline_is_stripped_and_boilerplate_never_chosen() -> None:
    b = _condense(_material())
    shown = [b.lead, b.what_happened, b.why_it_matters, b.what_to_watch]
    shown += [x.text for x in b.bullets]
    for text in shown:
        for junk in (
            "Wirepress",
            "By Imogen",
            "Photo:",
            "Getty",
            "Click here",
            "newsletter",
            "What do you think",
            "SUBSCRIBE",
            "Copyright",
            "Read more",
        ):
            assert junk not in text


def test_sections_follow_what_sentences_say() -> None:
    b = _condense(_material())
    assert "will vote on a replacement design next month" in b.what_to_watch
    assert "The closure means" in b.why_it_matters
    assert "will vote" not in b.what_happened and "means" not in b.what_happened
    assert b.what_happened  # factual past-tense sentences exist


def test_multi_source_story_draws_bullets_from_both_sources() -> None:
    b = _condense(_material())
    assert {x.source for x in b.bullets} == {0, 1}


def test_deterministic() -> None:
    first = _condense(_material()).model_dump()
    assert all(_condense(_material()).model_dump() == first for _ in range(3))


def test_no_section_invents_a_watch_item() -> None:
    text = (
        "The museum reopened its east wing on Monday after a two-year renovation.\n"
        "Workers restored the original tiled floor and replaced the glass roof.\n"
        "Visitors queued outside the building before the doors opened at nine."
    )
    material = [SourceText(source=Source(publisher="P", title="Museum reopens"), text=text)]
    b = _condense(material)
    assert b.what_to_watch == ""
    for field in (b.what_happened, b.why_it_matters):
        assert (
            field == ""
            or _norm(field) in _norm(text)
            or all(s in text for s in re.split(r"(?<=\.) ", field))
        )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "One short line.",
        "The mayor opened the new library on Saturday morning in front of a crowd.",
        "By Jane Doe\nPhoto: a library\nClick here to subscribe\nCOPYRIGHT 2025 ALL RIGHTS",
        "word " * 20_000,
        "The council met; it approved the budget, and it delayed the vote on parking fees "
        "until the autumn session, but it rejected the pool plan.",
        "A " * 300 + ".",
    ],
)
def test_thin_or_odd_material_still_gives_three_distinct_bullets(text: str) -> None:
    material = [SourceText(source=Source(publisher="P", title="Title here"), text=text)]
    b = _condense(material)
    assert len({x.text for x in b.bullets}) == 3
    assert all(len(x.text) <= BULLET_MAX for x in b.bullets)
    for x in b.bullets:
        if x.text not in PLACEHOLDER_BULLETS:
            assert _norm(x.text) in _norm(text) or x.text == "Title here"


def test_only_boilerplate_gives_placeholders_not_junk() -> None:
    text = "By Jane Doe\nPhoto: a library (Getty Images)\nClick here to read more.\n"
    material = [SourceText(source=Source(publisher="P", title=""), text=text)]
    b = _condense(material)
    assert [x.text for x in b.bullets] == list(PLACEHOLDER_BULLETS)
    assert b.lead == "" and b.what_happened == "" and b.headline


def test_no_material_at_all() -> None:
    b = _condense([])
    assert len(b.bullets) == 3 and b.sources == []


def test_hundred_kilobytes_of_text_is_fast() -> None:
    import time

    sentence = "The council of district {n} approved a budget of {n} million on Monday. "
    text = "".join(sentence.format(n=i) for i in range(1400))
    assert len(text) > 100_000
    material = [SourceText(source=Source(publisher="P", title="Budgets"), text=text)]
    t0 = time.perf_counter()
    b = _condense(material)
    assert time.perf_counter() - t0 < 5.0
    assert len({x.text for x in b.bullets}) == 3


@pytest.mark.parametrize(
    "sentence",
    [
        "By Jane Doe",
        "Jane Doe, Wirepress Correspondent",
        "Photo: The pier at dawn, taken from the lighthouse gallery",
        "Image caption: Divers inspecting the columns of the old pier",
        "Click here to get the latest news delivered to your inbox every day.",
        "Follow us on social media for the latest updates on the harbour.",
        "Share this article with your friends and family members today.",
        "Copyright 2025 The Kestrel Gazette, all rights reserved worldwide.",
        "What would you do if your ferry pier were closed for a whole year?",
        "THE HARBOUR COUNCIL HAS CLOSED THE PIER FOR GOOD TODAY.",
        "Too short.",
    ],
)
def test_is_boilerplate(sentence: str) -> None:
    assert is_boilerplate(sentence)


def test_fit_bullet_cuts_at_a_clause_boundary() -> None:
    long = (
        "The council approved the harbour budget for the coming year on Tuesday evening, "
        "after a debate that lasted more than four hours and included a long list of "
        "amendments from the opposition benches; the final vote was close, with nine in "
        "favour and eight against."
    )
    cut = fit_bullet(long)
    assert len(cut) <= BULLET_MAX and long.startswith(cut)
    assert long[len(cut)] in ",;"


_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=600
) | st.lists(
    st.sampled_from(
        [
            "The board approved the plan on Monday.",
            "By Jane Doe",
            "It will vote again next month.",
            "This means prices could rise.",
            "Click here.",
            "Mr. Roe said 3.5% of staff left; the rest stayed, and pay rose.",
            "\n",
            "?",
            "“Quoted words,” she said.",
        ]
    ),
    max_size=30,
).map(" ".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(_TEXT, min_size=0, max_size=3), title=st.text(max_size=300))
def test_any_text_gives_a_valid_deterministic_briefing(texts: list[str], title: str) -> None:
    material = [
        SourceText(source=Source(publisher=f"P{i}", title=title if i == 0 else ""), text=t)
        for i, t in enumerate(texts)
    ]
    b = _condense(material)
    Briefing.model_validate(b.model_dump())
    assert len({x.text for x in b.bullets}) == 3
    assert all(0 <= x.source < max(1, len(material)) for x in b.bullets)
    assert len(b.headline) <= HEADLINE_MAX and len(b.lead) <= LEAD_MAX
    assert _condense(material) == b


def test_sections_never_repeat_a_bullet() -> None:
    # `/brief more` shows the bullets right above the sections.
    b = _condense(_material())
    sections = " ".join([b.what_happened, b.why_it_matters, b.what_to_watch])
    for bullet in b.bullets:
        assert bullet.text not in sections


def test_what_to_watch_prefers_a_dated_plan_to_quoted_rhetoric() -> None:
    text = (
        "Dockworkers at the port of Kestrel Bay walked off the job on Monday in a dispute "
        "over automated cranes.\n"
        "By the evening, 41 container ships were waiting at anchor outside the harbour.\n"
        "\u201cThey tell us nobody will lose their job, but they won't put it in writing,\u201d "
        "the union president told a crowd of strikers.\n"
        "The port handled about 2.3 million containers last year, most of them bound for "
        "warehouses inland.\n"
        "The operator said automation was needed to keep the port competitive with rivals.\n"
        "Government mediator Ruth Okonkwo has scheduled new talks for Friday, and both "
        "sides said they would attend."
    )
    material = [SourceText(source=Source(publisher="P", title="Dock strike"), text=text)]
    b = _condense(material)
    assert "has scheduled new talks for Friday" in b.what_to_watch
    assert "nobody will lose their job" not in b.what_to_watch


def test_sections_prefer_sentences_that_stand_on_their_own() -> None:
    # A section shows a sentence without the one before it, so "He will..." would leave
    # the reader asking who; a plan that names its actor comes first.
    text = (
        "The Varenna water board approved a 40 million euro upgrade of the Lisca "
        "treatment plant on Monday after a summer of boil-water notices.\n"
        "Board chair Tomas Ilic said residents had waited long enough for clean water.\n"
        "The upgrade adds a membrane filtration stage to the Lisca plant and replaces "
        "pumps installed in 1978, the water board said.\n"
        "Boil-water notices at the Lisca plant covered most of Varenna from June to "
        "August after tests found bacteria in the water supply.\n"
        "About 60,000 households were affected by the notices, which lasted 11 weeks.\n"
        "He will present the construction timetable to the city council on Thursday.\n"
        "The water board said the first contracts are expected to be signed in the spring."
    )
    material = [SourceText(source=Source(publisher="P", title="Water plant upgrade"), text=text)]
    b = _condense(material)
    watch = b.what_to_watch
    assert watch.startswith("The water board said the first contracts"), watch
    # "Affected" describes who was hit; it is not a claim about why the story matters.
    assert "households were affected" not in b.why_it_matters


def test_condensing_again_after_a_source_joins_matches_a_fresh_condense(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The second condense reuses the first source's analysis; the briefing must be the
    # one a cold condenser gives (nothing scored on the first pass leaks into it).
    from bot import condense

    first, second = _material()
    warm = ExtractiveCondenser()
    warm.condense("abcd1234", [first], NOW)
    again = warm.condense("abcd1234", [first, second], NOW)
    fresh = condense._AnalysisCache(budget=condense.ANALYSIS_CACHE_CHARS)
    monkeypatch.setattr(condense, "_ANALYSED", fresh)
    cold = ExtractiveCondenser().condense("abcd1234", [first, second], NOW)
    assert again == cold


def test_the_analysis_cache_stays_within_its_budget() -> None:
    from bot.condense import _AnalysisCache

    cache = _AnalysisCache(budget=4_000)
    texts = [
        f"Report {n}: the council of Kestrel Bay voted again on the pier. " * 3 for n in range(200)
    ]
    for text in texts:
        cache.get(text)
    assert 0 < cache._chars <= 4_000
    assert cache.get(texts[-1]) is cache.get(texts[-1])  # the newest is kept
    huge = "A very long feed item about the Kestrel Bay pier. " * 1_000
    cache.get(huge)  # analysed, but too big to keep
    assert huge not in cache._items
