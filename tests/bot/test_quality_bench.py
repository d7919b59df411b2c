"""bench/quality.py's --ceilings baselines: the standard ones under a briefing's own
constraints (bullets fit whole, no bullet repeats the lead's first sentence)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import quality

from bot.models import BULLET_MAX

TEXT = (
    "By . Ruth Callan .\n"
    "Harbour authorities in Kestrel Bay closed the town's ferry pier on Tuesday after "
    "divers found cracks in two of its main support piles.\n"
    "The pier carries about 3,000 passengers a day to the islands, and the ferry "
    "operator said crossings would leave from the old fishing quay until the pier "
    "reopens, a move that will add roughly twenty minutes to each journey, lengthen "
    "queues at the ticket office and, according to the operator's own estimate, cost "
    "it some 40,000 pounds a month in extra fuel and staff.\n"
    "Engineers will inspect the remaining piles of the pier this week.\n"
    "The harbour board said the ferry pier had passed its last full inspection in 2022.\n"
    "Island businesses said the longer ferry crossings from the quay would deter "
    "day visitors to the islands during the summer.\n"
)


def test_lead3_skip1_starts_after_the_first_real_sentence() -> None:
    got = quality.ceilings(TEXT)["lead3-skip1"]
    assert got[0].startswith("The pier carries") and len(got) == 3
    assert not any(s.startswith(("By", "Harbour")) for s in got)


def test_textrank_fit_keeps_only_sentences_that_fit_a_bullet() -> None:
    assert any(len(s) > BULLET_MAX for s in quality.sentences(TEXT))
    fit = quality.ceilings(TEXT)["textrank-fit"]
    assert len(fit) == 3 and all(len(s) <= BULLET_MAX for s in fit)
    skipped = quality.ceilings(TEXT)["tr-fit-skip1"]
    assert len(skipped) == 3 and not any(s.startswith("Harbour") for s in skipped)
    # Text order, as a briefing shows its bullets.
    order = quality.sentences(TEXT)
    assert [order.index(s) for s in fit] == sorted(order.index(s) for s in fit)


def test_textrank_at_a_length_is_cut_to_that_many_words() -> None:
    for words in (5, 40, 61):
        got = quality.textrank_words(TEXT, words)
        assert sum(len(s.split()) for s in got) == words
    # In rank order: its best sentence first, as TextRank's own pick of one.
    assert quality.textrank_words(TEXT, 200)[0] == quality.textrank(TEXT, 1)[0]


def test_textrank_on_our_pool_chooses_only_what_a_bullet_may_be() -> None:
    text = TEXT.replace(
        "Engineers will inspect the remaining piles of the pier this week.\n",
        "Engineers will inspect the remaining piles of the pier this week.\n"
        "They said the cracks in the two support piles of the pier were not new.\n",
    )
    source = quality.Source(publisher="dev", title="Kestrel Bay closes ferry pier")
    got = quality.textrank_pool([quality.SourceText(source=source, text=text)])
    assert 1 <= len(got) <= 3
    # Not the lead, nothing too long to be a bullet whole, nothing that leans back.
    assert not any(s.startswith(("By", "Harbour", "They")) for s in got), got
    assert all(len(s) <= BULLET_MAX for s in got)
