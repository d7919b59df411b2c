"""Page extraction: main text without navigation, comments and footers; metadata; errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.errors import ExtractError
from bot.extract import article_from_entry, extract_article

_PARAGRAPHS = [
    "The harbour council of Port Wendle voted on Tuesday to close the old ferry pier "
    "after engineers found deep cracks in three of its supporting columns.",
    "The council said the pier, which opened in 1931, would stay shut to foot traffic "
    "while divers inspect the remaining columns over the coming weeks.",
    "Ferry services to the outer islands will move to the cargo quay, the operator "
    "said, adding that crossings may take ten minutes longer during the works.",
    "Local traders said the closure came at a difficult time, just before the summer "
    "festival that usually brings thousands of visitors to the waterfront.",
]

PAGE = f"""<!DOCTYPE html>
<html lang="en"><head>
<meta charset="utf-8">
<title>Port Wendle closes its old ferry pier | The Wendle Gazette</title>
<meta property="og:title" content="Port Wendle closes its old ferry pier">
<meta name="author" content="Imogen Tallis">
<meta property="article:published_time" content="2024-05-14T09:30:00+02:00">
</head><body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li>
<li><a href="/sport">Sport</a></li><li><a href="/subscribe">Subscribe today</a></li></ul></nav>
<main><article>
<h1>Port Wendle closes its old ferry pier</h1>
<p class="byline">By Imogen Tallis</p>
{"".join(f"<p>{p}</p>" for p in _PARAGRAPHS)}
</article>
<section id="comments" class="comments">
<h3>Comments</h3>
<div class="comment"><p>Gullwatcher42: This pier was always a death trap, about time
they did something about it honestly.</p></div>
<div class="comment"><p>MarinaFan: I remember fishing off that pier with my grandfather
every single summer, sad to see it go.</p></div>
</section></main>
<footer><p>Copyright 2024 The Wendle Gazette. All rights reserved.</p>
<p><a href="/privacy">Privacy policy</a> · <a href="/terms">Terms of use</a></p></footer>
</body></html>"""


def test_extracts_main_text_and_metadata() -> None:
    article = extract_article(PAGE.encode(), url="https://gazette.example/pier")
    assert article.from_page is True
    assert article.url == "https://gazette.example/pier"
    assert article.title == "Port Wendle closes its old ferry pier"
    assert article.author == "Imogen Tallis"
    assert article.published is not None
    assert article.published.tzinfo is not None
    assert article.published.utcoffset() == UTC.utcoffset(None)
    assert article.published.date() == datetime(2024, 5, 14).date()
    assert "deep cracks in three of its supporting columns" in article.text
    assert "ten minutes longer" in article.text
    for junk in ("Gullwatcher42", "grandfather", "All rights reserved", "Privacy policy"):
        assert junk not in article.text


def test_accepts_str_and_returns_clean_text() -> None:
    article = extract_article(PAGE)
    assert "\r" not in article.text and "  " not in article.text
    assert article.text == article.text.strip()


@pytest.mark.parametrize(
    "page",
    [
        b"",
        "   ",
        "<html><body><nav><a href='/'>Home</a></nav><p>Short teaser.</p></body></html>",
        b"\x00\x01\x02 not html at all",
    ],
)
def test_no_article_text_raises_extract_error(page: bytes | str) -> None:
    with pytest.raises(ExtractError, match="no article text found on the page"):
        extract_article(page)


def test_article_from_entry_is_the_feed_fallback() -> None:
    # The entry's fields are plain text already (bot.parse decoded them once): nothing
    # that looks like a tag or an entity is read again.
    article = article_from_entry(
        "Pier closed <for now>",
        "The pier closed.\n\n  Divers will inspect it; 3 < 5 and 7 > 4 &amp; rising.",
        "https://gazette.example/pier",
        "Imogen Tallis",
        datetime(2024, 5, 14, 9, 30),
    )
    assert article.from_page is False
    assert article.title == "Pier closed <for now>"
    assert article.text == "The pier closed.\nDivers will inspect it; 3 < 5 and 7 > 4 &amp; rising."
    assert article.published == datetime(2024, 5, 14, 9, 30, tzinfo=UTC)


def test_headline_repeated_as_first_line_is_dropped() -> None:
    paragraphs = "".join(
        f"<p>The harbour board met on Monday and agreed item {n} of its winter plan, "
        "which covers dredging, lighting and the ferry pier.</p>"
        for n in range(1, 5)
    )
    page = (
        "<html><head><title>Harbour board agrees winter plan</title></head><body>"
        f"<article><h1>Harbour board agrees winter plan</h1>{paragraphs}</article></body></html>"
    )
    article = extract_article(page, url="https://example.org/harbour")
    assert article.title == "Harbour board agrees winter plan"
    assert article.text.startswith("The harbour board met on Monday")


def _section_page(h1: str, title: str) -> str:
    body = "".join(
        f"<p>Infants in the Halvorsen trial who were given peanut protein from four months "
        f"on were far less likely to develop a peanut allergy by age five, paediatricians "
        f"at Bergen University Hospital reported on Wednesday (group {n}).</p>"
        for n in range(1, 5)
    )
    return (
        f"<html><head><title>{title}</title></head><body><nav>Home · Health A-Z</nav>"
        f"<main><h1>{h1}</h1><article>{body}</article></main></body></html>"
    )


def test_a_section_name_in_the_h1_gives_way_to_the_pages_title() -> None:
    # Some health and news sites put the section's name in the <h1> and the headline
    # in <title> only.
    page = _section_page(
        "Allergies Health Center", "Babies Who Eat Peanut Early Avoid Allergy, Trial Finds"
    )
    assert extract_article(page).title == "Babies Who Eat Peanut Early Avoid Allergy, Trial Finds"
    # A short headline that the <title> repeats (with the site's name) is the headline.
    short = _section_page("Peanut allergy falls", "Peanut allergy falls | Bergen Health News")
    assert extract_article(short).title == "Peanut allergy falls"


def test_a_huge_page_title_is_capped_as_a_feed_title_is() -> None:
    from bot.parse import MAX_TITLE

    huge = "Peanut allergy falls " * 20_000  # 420 kB of <h1> and <title>
    article = extract_article(_section_page(huge, huge))
    assert article.title.startswith("Peanut allergy falls")
    assert len(article.title) <= MAX_TITLE


def test_hard_wrapped_prose_is_read_as_whole_sentences() -> None:
    # An article typed with a line break every 70 characters (old CMSes, mailing lists).
    wrapped = (
        "Life-threatening peanut allergies have been on the rise for a decade,<br>"
        "with little hope for a cure. A trial at Bergen University Hospital now<br>"
        "suggests that infants fed peanut protein from four months on are far<br>"
        "less likely to develop the allergy by the age of five.<br>"
        "Paediatricians followed 640 infants for five years, the hospital said<br>"
        "on Wednesday, and the results were published in the Nordic Journal of<br>"
        "Paediatrics."
    )
    page = (
        "<html><head><title>Early peanuts may prevent allergy</title></head><body>"
        f"<article><h1>Early peanuts may prevent allergy</h1><p>{wrapped}</p></article>"
        "</body></html>"
    )
    lines = extract_article(page).text.split("\n")
    assert lines[0].startswith("Life-threatening peanut allergies have been on the rise")
    assert lines[0].endswith("by the age of five."), lines
    assert lines[1].endswith("in the Nordic Journal of Paediatrics."), lines
