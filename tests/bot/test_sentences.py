"""The sentence splitter on the cases that break naive splitters in news copy."""

from __future__ import annotations

import pytest

from bot.sentences import split_sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Mr. Okafor met Dr. Lindqvist in the capital. They spoke for an hour.",
            ["Mr. Okafor met Dr. Lindqvist in the capital.", "They spoke for an hour."],
        ),
        (
            "The U.S. trade office replied on Friday. Nobody was surprised.",
            ["The U.S. trade office replied on Friday.", "Nobody was surprised."],
        ),
        (
            "Talks resumed in the U.S. The mood was calm.",
            ["Talks resumed in the U.S.", "The mood was calm."],
        ),
        (
            "The vote is set for Jan. 14 in the hall. Turnout may be low.",
            ["The vote is set for Jan. 14 in the hall.", "Turnout may be low."],
        ),
        (
            "She lives at No. 10 on the quay. It is a small flat.",
            ["She lives at No. 10 on the quay.", "It is a small flat."],
        ),
        (
            "A memo by J. R. Castellano leaked. George W. Pemberton denied it.",
            ["A memo by J. R. Castellano leaked.", "George W. Pemberton denied it."],
        ),
        (
            "Output grew 3.5 percent to 12.75 million tonnes. Prices held.",
            ["Output grew 3.5 percent to 12.75 million tonnes.", "Prices held."],
        ),
        (
            "He hesitated... and then agreed. Later... Nobody knew why.",
            ["He hesitated... and then agreed.", "Later...", "Nobody knew why."],
        ),
        (
            '"We are not leaving." The union said so twice.',
            ['"We are not leaving."', "The union said so twice."],
        ),
        (
            "“It is finished,” she said. “Go home.” The hall emptied.",
            ["“It is finished,” she said.", "“Go home.”", "The hall emptied."],
        ),
        (
            "Was it worth it? Yes! The board agreed.",
            ["Was it worth it?", "Yes!", "The board agreed."],
        ),
        (
            "A heading without a stop\nThe first paragraph. The second sentence.",
            ["A heading without a stop", "The first paragraph.", "The second sentence."],
        ),
        (
            "Quarry Ltd. reported a loss. Brine Inc. said it would appeal.",
            ["Quarry Ltd. reported a loss.", "Brine Inc. said it would appeal."],
        ),
        (
            "Trains were cancelled today . Crowds gathered at the gates .",
            ["Trains were cancelled today .", "Crowds gathered at the gates ."],
        ),
        ("The meeting ran until 5 p.m. on Tuesday.", ["The meeting ran until 5 p.m. on Tuesday."]),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "\n\n\n"])
def test_empty_input_gives_no_sentences(text: str) -> None:
    assert split_sentences(text) == []


def test_no_text_is_lost() -> None:
    text = "One. Two? Three! Mr. Four went to the U.S. on Jan. 5 and paid $3.50 each."
    assert " ".join(split_sentences(text)) == text


def test_long_text_is_fast() -> None:
    import time

    text = "The committee met on Tuesday and agreed a plan. " * 5000
    t0 = time.process_time()
    assert len(split_sentences(text)) == 5000
    assert time.process_time() - t0 < 2.0


def test_a_row_of_dots_does_not_backtrack() -> None:
    # A table of contents: 60 dots then a page number. The old boundary pattern took
    # exponential time here and hung the condenser.
    text = "Contents follow. 1. Introduction" + "." * 60 + "2\nNext line here."
    assert split_sentences(text)[-1] == "Next line here."
