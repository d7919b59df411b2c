"""The full briefing format from a model, trusted field by field.

A fake OpenAI-compatible server on a local port answers with hand-written answers to
the quake story of ``tests/test_llm.py``: a good full-format one, and ones a careful
editor would refuse in exactly one field (a reversed claim, an invented person, a
changed number, a section citing a source that does not say it). Each must lose that
field, and only that field, to the extractive briefing.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from bot.attribution import unattributed
from bot.condense import ExtractiveCondenser
from bot.llm import LLMCondenser
from tests.support.http import LocalServer
from tests.support.llm import MATERIAL, NOW, llm_settings, serve

FIELDS = [
    "headline", "lead", "bullet1", "bullet2", "bullet3",
    "what_happened", "why_it_matters", "what_to_watch",
]  # fmt: skip


def said(text: str, *sources: int) -> dict[str, Any]:
    return {"text": text, "sources": list(sources)}


FULL: dict[str, Any] = {
    "headline": "Magnitude 6.1 earthquake damages 240 homes in Varenna Alta",
    "lead": [
        said("A magnitude 6.1 earthquake struck Varenna Alta on Monday, damaging 240 homes "
             "and cutting power to 18,000 people.", 1),
        said("Engineers closed the Varenna viaduct after finding cracks in two of its piers.", 2),
    ],
    "bullets": [
        said("Regional officials said 14 people were treated in hospital and that no deaths "
             "had been reported by midday.", 1),
        said("About 3,000 commuters face a 40-minute detour until the viaduct is repaired.", 2),
        said("The epicentre lay 9 kilometres south of the town at a depth of 11 kilometres.", 1),
    ],
    "what_happened": [
        [said("The quake struck the hill town of Varenna Alta at 04:12 on Monday.", 1),
         said("It damaged 240 homes and cut power to 18,000 people.", 1)],
        [said("Engineers then found cracks in two piers of the Varenna viaduct and closed it.",
              2)],
    ],
    "why_it_matters": [
        [said("Until the viaduct is repaired, about 3,000 commuters will need a 40-minute "
              "detour.", 2)]
    ],
    "what_to_watch": [
        [said("The regional government will decide on Friday whether to request national "
              "emergency funds.", 2)]
    ],
}  # fmt: skip


def full(**changes: Any) -> dict[str, Any]:
    answer = copy.deepcopy(FULL)
    answer.update(changes)
    return answer


def with_bullet(i: int, text: str, *sources: int) -> dict[str, Any]:
    bullets = copy.deepcopy(FULL["bullets"])
    bullets[i] = said(text, *sources)
    return full(bullets=bullets)


async def condense(server: LocalServer, answer: dict[str, Any]) -> tuple[Any, LLMCondenser]:
    serve(server, json.dumps(answer))
    condenser = LLMCondenser(llm_settings(server))
    return await condenser.acondense("quake001", MATERIAL, NOW), condenser


def extractive() -> Any:
    return ExtractiveCondenser().condense("quake001", MATERIAL, NOW)


async def test_good_full_answer_is_used_whole(local_server: LocalServer) -> None:
    briefing, condenser = await condense(local_server, FULL)
    assert briefing.written_by_model == FIELDS
    assert condenser.field_failures == {}
    assert briefing.lead.startswith("A magnitude 6.1 earthquake struck Varenna Alta")
    assert briefing.lead.endswith("cracks in two of its piers.")
    # Two paragraphs stay two paragraphs.
    first, second = briefing.what_happened.split("\n\n")
    assert first.startswith("The quake struck") and second.startswith("Engineers then found")
    assert [b.source for b in briefing.bullets] == [0, 1, 0]
    assert briefing.bullets[1].sentence.startswith("The damage means that about 3,000")
    assert briefing.model_note == "Sections written by a model from the sources above"
    assert unattributed(briefing, MATERIAL) == []


async def test_reversed_claim_loses_its_bullet(local_server: LocalServer) -> None:
    answer = with_bullet(
        0, "Regional officials said 14 people were treated in hospital and that deaths had "
        "been reported by midday.", 1,
    )  # fmt: skip
    reversed_too = with_bullet(
        1, "Engineers did not close the Varenna viaduct after finding cracks in its piers.", 2
    )
    # The place of the reversed bullet goes to the extractive bullet that says what the
    # source says on the same point.
    cases = (
        (answer, "bullet1", "no deaths had been reported"),
        (reversed_too, "bullet2", "Engineers closed the Varenna viaduct"),
    )
    for bad, name, source_says in cases:
        local_server.requests.clear()
        briefing, condenser = await condense(local_server, bad)
        assert briefing.written_by_model == [f for f in FIELDS if f != name]
        assert list(condenser.field_failures) == [
            f"{name}: negation differs from the closest source sentence"
        ]
        index = int(name[-1]) - 1
        assert briefing.bullets[index] in extractive().bullets
        assert source_says in briefing.bullets[index].text


async def test_invented_person_loses_the_lead(local_server: LocalServer) -> None:
    lead = [
        said("Mayor Lina Okafor declared a state of emergency after a magnitude 6.1 "
             "earthquake struck Varenna Alta on Monday.", 1),
    ]  # fmt: skip
    briefing, condenser = await condense(local_server, full(lead=lead))
    assert briefing.written_by_model == [f for f in FIELDS if f != "lead"]
    assert list(condenser.field_failures) == ["lead: name 'Lina' in no cited source"]
    assert briefing.lead == extractive().lead
    assert "Okafor" not in briefing.model_dump_json()


async def test_changed_number_loses_its_bullet(local_server: LocalServer) -> None:
    # 240 is in the source, but it counts homes, not people treated in hospital.
    answer = with_bullet(0, "Regional officials said 240 people were treated in hospital.", 1)
    briefing, condenser = await condense(local_server, answer)
    assert "bullet1" not in briefing.written_by_model
    assert list(condenser.field_failures) == [
        "bullet1: changed number: '240' counts something else"
    ]
    assert "240 people" not in briefing.model_dump_json()


async def test_section_citing_a_source_that_does_not_say_it_is_dropped(
    local_server: LocalServer,
) -> None:
    why = [[said("Until the viaduct is repaired, about 3,000 commuters will need a 40-minute "
                 "detour.", 1)]]  # fmt: skip
    briefing, condenser = await condense(local_server, full(why_it_matters=why))
    assert briefing.written_by_model == [f for f in FIELDS if f != "why_it_matters"]
    assert briefing.why_it_matters == extractive().why_it_matters
    assert "why_it_matters: number '3,000' in no cited source" in condenser.field_failures


async def test_cross_source_bullet_supported_by_both_passes(local_server: LocalServer) -> None:
    text = (
        "The magnitude 6.1 quake damaged 240 homes and left cracks that closed the Varenna viaduct."
    )
    briefing, _ = await condense(local_server, with_bullet(2, text, 1, 2))
    assert briefing.written_by_model == FIELDS
    assert briefing.bullets[2].text == text
    # The same bullet citing one of the two is refused: half of it is not there.
    local_server.requests.clear()
    briefing, condenser = await condense(local_server, with_bullet(2, text, 2))
    assert "bullet3" not in briefing.written_by_model
    assert list(condenser.field_failures) == ["bullet3: number '6.1' in no cited source"]


async def test_a_number_written_another_way_is_still_the_sources(
    local_server: LocalServer,
) -> None:
    # "18000" for "18,000", "2 piers" for "two of its piers": the same figures.
    lead = [said("The earthquake cut power to 18000 people and cracked 2 piers of the "
                 "Varenna viaduct.", 1, 2)]  # fmt: skip
    briefing, condenser = await condense(local_server, full(lead=lead))
    assert "lead" in briefing.written_by_model, condenser.field_failures
    assert briefing.lead.startswith("The earthquake cut power to 18000 people")


async def test_sentence_citing_a_source_that_does_not_exist_loses_its_field(
    local_server: LocalServer,
) -> None:
    watch = [[said("The regional government will decide on Friday.", 7)]]
    briefing, condenser = await condense(local_server, full(what_to_watch=watch))
    assert "what_to_watch" not in briefing.written_by_model
    assert list(condenser.field_failures) == ["what_to_watch: cites source 7 of 2"]


async def test_overlong_headline_and_empty_lead_fall_back_field_by_field(
    local_server: LocalServer,
) -> None:
    briefing, condenser = await condense(local_server, full(headline="Quake " * 30, lead=[]))
    ext = extractive()
    assert (briefing.headline, briefing.lead) == (ext.headline, ext.lead)
    assert briefing.written_by_model == FIELDS[2:]
    assert set(condenser.field_failures) == {
        "headline: longer than 150 characters",
        "lead: empty",
    }


async def test_an_answer_with_no_trustworthy_field_is_the_extractive_briefing(
    local_server: LocalServer,
) -> None:
    junk = said("Mayor Lina Okafor resigned on Tuesday over the Brenner tunnel.", 1)
    answer = {"headline": "Okafor resigns", "lead": [junk], "bullets": [junk],
              "what_happened": [[junk]], "why_it_matters": [], "what_to_watch": []}  # fmt: skip
    briefing, condenser = await condense(local_server, answer)
    assert briefing.condenser == "extractive"
    assert briefing.written_by_model == []
    assert condenser.outcomes["unsupported"] == 1


async def test_brief_more_says_quietly_which_parts_a_model_wrote(
    local_server: LocalServer,
) -> None:
    from adapters.console.render import render_briefing as console
    from adapters.discord.render import render_briefing as discord
    from adapters.slack.render import render_briefing as slack

    briefing, _ = await condense(local_server, FULL)
    line = "Sections written by a model from the sources above"
    assert f"({line})" in console(briefing, full=True)
    assert line in json.dumps(slack(briefing, full=True))
    footer = discord(briefing, full=True).footer.text or ""
    assert line in footer
    # Not in the channel post, and never on an extractive briefing.
    assert line not in console(briefing) and line not in json.dumps(slack(briefing))
    plain = extractive()
    assert "model" not in console(plain, full=True)
    assert line not in json.dumps(slack(plain, full=True))


def test_condense_llm_uses_the_configured_endpoint(local_server: LocalServer) -> None:
    from tests.support.cli import assert_one_line_error, run

    serve(local_server, json.dumps(FULL))
    story = {
        "id": "quake001",
        "sources": [
            {"title": m.source.title, "text": m.text, "url": m.source.url,
             "publisher": m.source.publisher}
            for m in MATERIAL
        ],
    }  # fmt: skip
    env = {"SIGNALDESK_LLM_BASE_URL": local_server.url("/v1"), "SIGNALDESK_LLM_MODEL": "m"}
    result = run("condense", "--llm", stdin=json.dumps(story) + "\n", env=env)
    assert result.returncode == 0, result.stderr
    (row,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert row["condenser"] == "llm" and row["written_by_model"] == FIELDS
    assert row["lead"].startswith("A magnitude 6.1 earthquake struck Varenna Alta")
    # Without an endpoint: one line saying what to set, nothing sent.
    bare = run("condense", "--llm", stdin=json.dumps(story) + "\n",
               env={"SIGNALDESK_LLM_BASE_URL": ""})  # fmt: skip
    assert "SIGNALDESK_LLM_BASE_URL" in assert_one_line_error(bare, 2)
