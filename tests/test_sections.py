"""Sections only when they are true: the condenser's section labels against sentences
from the shared dev pages, labelled by hand (tests/data/section_labels.jsonl: a page
name, one sentence, and "significance", "ahead" or "neither")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.condense import section_of

LABELS = Path(__file__).parent / "data" / "section_labels.jsonl"
SECTION = {"significance": "Why it matters", "ahead": "What to watch next"}


def _rows() -> list[dict[str, str]]:
    return [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines()]


def test_there_are_at_least_a_hundred_labels() -> None:
    rows = _rows()
    assert len(rows) >= 100
    assert {r["label"] for r in rows} == {"significance", "ahead", "neither"}


@pytest.mark.parametrize("label", ["significance", "ahead"])
def test_a_section_label_is_right_at_least_four_times_in_five(label: str) -> None:
    rows = _rows()
    said = [r for r in rows if section_of(r["sentence"]) == label]
    right = [r for r in said if r["label"] == label]
    truth = [r for r in rows if r["label"] == label]
    precision = len(right) / len(said)
    recall = len(right) / len(truth)
    # A wrong label is worse than an absent section: precision first, some recall.
    assert precision >= 0.8, (SECTION[label], precision, [r["sentence"] for r in said])
    assert recall >= 0.5, (SECTION[label], recall)


@pytest.mark.parametrize(
    ("sentence", "label"),
    [
        ("The council will vote on the replacement design next month.", "ahead"),
        ("A ruling is expected to come before the end of the year.", "ahead"),
        ("The closure means that 2,400 passengers must use the cargo quay.", "significance"),
        ("The attack raised fears that the unrest would spread to the capital.", "significance"),
        ("If you walk more, you will sleep better.", ""),  # advice, not a plan
        ("The new ferry will carry 400 passengers.", ""),  # a specification
        ("It was the first time the pier had closed since 1931.", ""),  # a past fact
        ("\u201cThis will change everything,\u201d the mayor said.", ""),  # rhetoric
    ],
)
def test_plain_facts_and_specifications_are_in_no_section(sentence: str, label: str) -> None:
    assert section_of(sentence) == label
