"""Discord rendering: limits, hostile text, golden payloads (pure, no I/O)."""

from __future__ import annotations

import re

import pytest

from adapters.discord import render
from bot.condense import PLACEHOLDER_BULLETS
from bot.models import Bullet, Reply, Source, Visibility
from tests.support.discord_checks import (
    LIVE_LINK,
    MENTION,
    assert_inert,
    assert_within_limits,
)
from tests.support.golden_discord import HOSTILE, assert_golden, hostile_briefing, sample_briefing


def test_briefing_embed_layout() -> None:
    embed = render.render_briefing(sample_briefing())
    assert embed.title == "Chinese labs cross the trillion-parameter line on domestic chips"
    assert embed.url == "https://harbor.example/ai"
    assert embed.description is not None and "• Xiling" in embed.description
    names = [f.name for f in embed.fields]
    assert names == ["Sources (2)", "Topics"]
    link = "[Harbor Tech — China AI labs cross line](https://harbor.example/ai)"
    assert link in embed.fields[0].value
    assert embed.footer.text == "id: k7q2xw4m"
    assert_within_limits(embed)


def test_full_briefing_adds_sections_and_related() -> None:
    embed = render.render_briefing(sample_briefing(), full=True)
    names = [f.name for f in embed.fields]
    assert names[:3] == ["What happened", "Why it matters", "What to watch next"]
    assert "Related" in names
    assert_within_limits(embed)


def test_full_briefing_links_each_bullet_to_its_source() -> None:
    embed = render.render_briefing(sample_briefing(), full=True)
    assert embed.description is not None
    bullets = [line for line in embed.description.splitlines() if line.startswith("• ")]
    assert bullets[0].endswith(" — [Harbor Tech](https://harbor.example/ai)")
    assert bullets[1].endswith(" — [Meridian Daily](https://meridian.example/chips?id=7)")
    assert bullets[2].endswith(" — [Harbor Tech](https://harbor.example/ai)")
    assert_golden("briefing_more_embed", {"embeds": [embed.to_dict()]})
    # The channel post stays compact: the links are what `/brief more` adds.
    post = render.render_briefing(sample_briefing())
    assert post.description is not None and "](" not in post.description


def test_bullet_without_a_source_or_a_safe_link_gets_no_link() -> None:
    # Placeholder bullets of a story with no sources point at a source that is not there.
    placeholders = [Bullet(text=text, source=0) for text in PLACEHOLDER_BULLETS]
    embed = render.render_briefing(sample_briefing(sources=[], bullets=placeholders), full=True)
    assert embed.description is not None and "](" not in embed.description
    unsafe = Source(publisher="Evil", title="x", url="javascript:alert(1)")
    bullets = [Bullet(text="A point.", source=0), Bullet(text="B point.", source=7)] * 2
    briefing = sample_briefing(sources=[unsafe], bullets=bullets[:3])
    embed = render.render_briefing(briefing, full=True)
    assert embed.description is not None and "](" not in embed.description


def test_golden_channel_post_payload() -> None:
    message = render.briefing_message(sample_briefing())
    payload = message.payload()
    assert payload["allowed_mentions"] == {"parse": []}
    assert payload["components"][0]["components"][0]["custom_id"] == "sd:more:k7q2xw4m"
    assert_golden("briefing_embed", payload)


def test_hostile_briefing_stays_within_limits_and_inert() -> None:
    briefing = hostile_briefing()
    for full in (False, True):
        embed = render.render_briefing(briefing, full=full)
        assert_within_limits(embed)
        payload = {"embeds": [embed.to_dict()]}
        assert_inert(payload)
    message = render.briefing_message(briefing)
    assert_golden("hostile_embed", message.payload())


def test_hostile_title_is_cut_at_a_word_with_an_ellipsis() -> None:
    embed = render.render_briefing(hostile_briefing())
    assert embed.title is not None and embed.title.endswith("…")
    assert embed.title[:-1].endswith("AAAAAAAAA")  # a whole word, not a split one


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://ok.example/a", "https://ok.example/a"),
        ("HTTP://OK.example", "http://ok.example"),
        ("javascript:alert(1)", None),
        ("data:text/html,<b>x</b>", None),
        ("ftp://x.example/", None),
        ("https://bank.example@evil.example/", None),
        ("https://x.example/a b", None),
        ("//no-scheme.example/", None),
        ("https://ok.example/story_(1)", "https://ok.example/story_%281%29"),
        ("https://ok.example/" + "p" * 3000, None),
    ],
)
def test_safe_url_only_http_and_never_breaks_a_link(url: str, expected: str | None) -> None:
    assert render.safe_url(url) == expected


def test_neutralise_defeats_mentions_links_and_escape_tricks() -> None:
    out = render.neutralise(render.one_line(HOSTILE))
    assert not MENTION.search(out)
    assert not LIVE_LINK.search(out)
    # A feed's own backslash is doubled so it cannot cancel our escape of "[".
    assert "\\\\\\[escaped\\]" in out


def test_fit_never_exceeds_the_limit_and_never_splits_an_escape() -> None:
    text = "_" * 5000 + " [a](b) " + "*x* " * 500
    for limit in (1, 2, 10, 255, 256, 1024):
        out = render.fit(text, limit)
        assert len(out) <= limit
        assert not re.search(r"(?<!\\)(\\\\)*\\$", out.rstrip("…")) or out.endswith("…")


def test_reply_many_briefings_fit_one_message() -> None:
    reply = Reply(text="Results", briefings=[hostile_briefing()] * 12, full=True)
    message = render.render_reply(reply)
    assert message.ephemeral
    assert len(message.embeds) <= render.EMBEDS_PER_MESSAGE
    assert sum(len(e) for e in message.embeds) <= render.EMBED_TOTAL_MAX
    assert message.content is not None and "more" in message.content
    assert_inert(message.payload())


def test_reply_error_channel_and_attachment() -> None:
    err = render.render_reply(Reply(text="no topic '@everyone'", error=True))
    assert err.ephemeral and err.content is not None and err.content.startswith("⚠️")
    assert "@\u200beveryone" in err.content
    shared = render.render_reply(Reply(text="hi", visibility=Visibility.CHANNEL))
    assert not shared.ephemeral
    export = render.render_reply(
        Reply(text="3 feeds", attachment="<opml/>", attachment_name="../../etc/x y.opml")
    )
    assert export.file_name == ".._.._etc_x_y.opml"
    file = render.file_for(export)
    assert file is not None and file.filename == export.file_name


def test_digest_embed() -> None:
    briefings = [sample_briefing(id=f"d{i:07d}") for i in range(30)] + [hostile_briefing()]
    embed = render.render_digest(briefings)
    assert_within_limits(embed)
    assert embed.title == "Digest: 31 briefings"
    assert_golden("digest_embed", {"embeds": [embed.to_dict()]})


def test_text_notice_is_inert_and_short() -> None:
    message = render.text_message("feed X failed: " + HOSTILE * 200)
    assert message.content is not None and len(message.content) <= render.CONTENT_MAX
    assert_inert(message.payload())


def test_button_ids_round_trip() -> None:
    assert render.parse_custom_id(render.button_custom_id("related", "abc123")) == (
        "related",
        "abc123",
    )
    assert render.parse_custom_id("sd:delete:abc") is None
    with pytest.raises(ValueError):
        render.button_custom_id("more", "../x")
