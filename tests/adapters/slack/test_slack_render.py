"""The Slack renderer: golden payloads, every Block Kit limit, and hostile feed text."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.slack.render import (
    MORE_ACTION,
    RELATED_ACTION,
    briefing_message,
    digest_message,
    escape,
    render_reply,
    safe_url,
    source_link,
    text_message,
    update_note,
)
from bot.condense import PLACEHOLDER_BULLETS
from bot.models import Bullet, Reply, Source, Visibility
from tests.support.golden_files import assert_golden
from tests.support.slack_checks import (
    HOSTILE,
    HOSTILE_URLS,
    LINK,
    assert_safe,
    assert_within_limits,
    hostile_briefing,
    make_briefing,
)

# ---------------------------------------------------------------------- goldens


def test_channel_post_golden() -> None:
    payload = briefing_message(make_briefing())
    assert_within_limits(payload)
    assert_safe(payload)
    assert payload["metadata"] == {
        "event_type": "signaldesk_briefing",
        "event_payload": {"briefing_id": "k3xq7aab", "revision": 1},
    }
    buttons = payload["blocks"][-1]["elements"]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        (MORE_ACTION, "k3xq7aab"),
        (RELATED_ACTION, "k3xq7aab"),
    ]
    assert_golden("slack/briefing.json", payload)


def test_full_briefing_reply_golden() -> None:
    payload = render_reply(Reply(briefings=[make_briefing(revision=3)], full=True))
    assert payload["response_type"] == "ephemeral"
    assert_within_limits(payload)
    assert_safe(payload)
    text = str(payload)
    assert "What happened" in text and "Why it matters" in text and "What to watch next" in text
    assert "p0rt41vs" in text  # related briefings listed
    assert_golden("slack/reply_more.json", payload)


def _bullet_lines(payload: dict[str, Any]) -> list[str]:
    texts = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section"]
    return [line for text in texts for line in text.splitlines() if line.startswith("• ")]


def test_full_briefing_links_each_bullet_to_its_source() -> None:
    lines = _bullet_lines(render_reply(Reply(briefings=[make_briefing()], full=True)))
    assert lines == [
        "• The union says the cranes cut 300 jobs. [1] — "
        "<https://courier.example/strike?utm=1&amp;x=2|Coastline Courier>",
        "• The port authority calls the strike unlawful. [2] — "
        "<https://harbor.example/c|Harbor Tech>",
        "• Ferries to the islands run as usual. [1] — "
        "<https://courier.example/strike?utm=1&amp;x=2|Coastline Courier>",
    ]
    # The channel post stays compact: the links are what `/brief more` adds.
    post = briefing_message(make_briefing())
    assert all("<" not in line for line in _bullet_lines(post))


def test_bullet_without_a_source_or_a_safe_link_gets_no_link() -> None:
    # Placeholder bullets of a story with no sources point at a source that is not there.
    placeholders = [Bullet(text=text, source=0) for text in PLACEHOLDER_BULLETS]
    reply = Reply(briefings=[make_briefing(sources=[], bullets=placeholders)], full=True)
    assert _bullet_lines(render_reply(reply)) == [f"• {t}" for t in PLACEHOLDER_BULLETS]
    unsafe = Source(publisher="Evil", title="x", url="javascript:alert(1)")
    bullets = [Bullet(text="A point.", source=0), Bullet(text="B point.", source=7)] * 2
    briefing = make_briefing(sources=[unsafe], bullets=bullets[:3])
    lines = _bullet_lines(render_reply(Reply(briefings=[briefing], full=True)))
    assert lines == ["• A point. [1]", "• B point.", "• A point. [1]"]


def test_briefing_at_every_limit_golden() -> None:
    word = "ab&c<d "  # entities make the escaped text longer than the model's limits
    briefing = make_briefing(
        headline=(word * 30)[:150],
        lead=(word * 80)[:400],
        bullets=[Bullet(text=(word * 40)[:220], source=i % 2) for i in range(3)],
        what_happened=word * 1000,
        why_it_matters=word * 1000,
        what_to_watch=word * 1000,
        sources=[
            Source(publisher=f"Publisher {i}", title=word * 30, url=f"https://s{i}.example/{i}")
            for i in range(80)
        ],
        topics=[f"topic-{i}" for i in range(60)],
    )
    post = briefing_message(briefing)
    full = render_reply(Reply(briefings=[briefing], full=True))
    for payload in (post, full):
        assert_within_limits(payload)
        assert_safe(payload)
    header = post["blocks"][0]["text"]["text"]
    assert header.endswith("…") and "&amp" not in header[-6:-1].replace("&amp;", "")
    sources = post["blocks"][3]["elements"][0]["text"]
    assert sources.endswith("more")  # whole links dropped, and counted
    assert_golden("slack/briefing_limits.json", {"post": post, "more": full})


def test_reply_shapes_golden() -> None:
    help_reply = Reply(text="Usage:\n/brief <topic>\n/brief more <id>", visibility=Visibility.ASKER)
    error = Reply(text="unknown topic <!channel>", error=True)
    search = Reply(
        text="2 briefings for ports:",
        briefings=[make_briefing(), make_briefing(id="zz99yy88")],
        visibility=Visibility.CHANNEL,
    )
    export = Reply(text="3 feeds", attachment="<opml><body/></opml>", attachment_name="feeds.opml")
    payloads = {
        "help": render_reply(help_reply),
        "error": render_reply(error),
        "search": render_reply(search),
        "export": render_reply(export),
    }
    assert payloads["search"]["response_type"] == "in_channel"
    assert payloads["error"]["blocks"][0]["text"]["text"].startswith(":warning:")
    for payload in payloads.values():
        assert_within_limits(payload)
        assert_safe(payload)
    assert_golden("slack/replies.json", payloads)


def test_digest_update_and_notice_golden() -> None:
    briefing = make_briefing(revision=2)
    payloads = {
        "digest": digest_message([briefing, make_briefing(id="zz99yy88")]),
        "update_note": update_note(briefing),
        "notice": text_message("Feed <Courier> has failed since 2024-05-01: HTTP 403"),
    }
    for payload in payloads.values():
        assert_within_limits(payload)
        assert_safe(payload)
    assert_golden("slack/digest_update_notice.json", payloads)


# ---------------------------------------------------------------------- hostile


def test_hostile_text_cannot_mention_ping_or_link() -> None:
    briefing = hostile_briefing()
    payloads = [
        briefing_message(briefing),
        render_reply(Reply(briefings=[briefing], full=True)),
        render_reply(Reply(text=HOSTILE * 300, briefings=[briefing] * 20)),
        render_reply(Reply(text=HOSTILE, error=True, attachment=HOSTILE * 2000)),
        digest_message([briefing] * 70),
        update_note(briefing),
        text_message(HOSTILE * 1000),
    ]
    for payload in payloads:
        assert_within_limits(payload)
        assert_safe(payload)
    post = payloads[0]
    assert post["blocks"][0]["text"]["text"].startswith("&lt;!channel&gt;")
    links = LINK.findall(str(post))
    assert links, "the one safe source URL is still a link"
    assert {url for url, _ in links} == {"https://ok.example/a?x=1&amp;y=%3C2%3E%7Cz"}


def test_many_briefings_are_counted_not_dropped_silently() -> None:
    payload = render_reply(Reply(briefings=[make_briefing()] * 30))
    assert_within_limits(payload)
    assert "more not shown" in payload["blocks"][-1]["elements"][0]["text"]
    digest = digest_message([make_briefing()] * 70)
    assert_within_limits(digest)
    assert "+22 more" in digest["blocks"][-1]["elements"][0]["text"]


@pytest.mark.parametrize("url", HOSTILE_URLS[:4] + HOSTILE_URLS[5:])
def test_only_http_urls_become_links(url: str) -> None:
    assert safe_url(url) is None
    assert "<" not in source_link(Source(publisher="P", title="T", url=url))


def test_source_label_cannot_break_out_of_the_link() -> None:
    link = source_link(Source(publisher="A|B", title="C>D <E> &", url="https://x.example/?a=1&b=2"))
    assert link == "<https://x.example/?a=1&amp;b=2|AB — CD &lt;E &amp;>"


def test_escape() -> None:
    assert escape("<!here> & <@U1>") == "&lt;!here&gt; &amp; &lt;@U1&gt;"


# ---------------------------------------------------------------- message size


def test_a_lead_of_invisible_characters_leaves_out_its_section() -> None:
    # A lead of zero-width and bidi characters only (a feed's hidden text) is blank
    # once cleaned: Slack refuses a section without text, and with it the whole post.
    briefing = make_briefing(lead="\u200b\u200e\u2066 \u200b")
    for payload in (briefing_message(briefing), render_reply(Reply(briefings=[briefing]))):
        assert_within_limits(payload)
        assert payload["blocks"][1]["text"]["text"].startswith("• The union says")


def test_a_long_full_briefing_keeps_every_section_and_its_sources_within_slacks_total() -> None:
    long = "The harbour authority said the dredging would continue through the winter. " * 80
    briefing = make_briefing(what_happened=long, why_it_matters=long, what_to_watch=long)
    payload = render_reply(Reply(briefings=[briefing], full=True))
    assert_within_limits(payload)  # at most 12,000 characters of text in all
    texts = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section"]
    labels = [t.split("\n")[0] for t in texts]
    assert labels[-5:] == [
        "*What happened*",
        "*Why it matters*",
        "*What to watch next*",
        "*Sources*",
        "*Related*",
    ]
    assert all(t.endswith("…") for t in texts[-5:-2])  # shortened, and it shows
    assert "<https://courier.example/strike?utm=1&amp;x=2|" in texts[-2]


def test_a_digest_of_twenty_long_briefings_shows_all_twenty_within_slacks_total() -> None:
    lead = "Dockworkers at Kestrel Bay walked out on Monday, halting 41 vessels. " * 12
    briefings = [make_briefing(id=f"k3xq7a{i:02d}", lead=lead) for i in range(20)]
    digest = digest_message(briefings)
    assert_within_limits(digest)
    ids = [b["accessory"]["value"] for b in digest["blocks"] if b["type"] == "section"]
    assert ids == [b.id for b in briefings]  # every one marked sent is shown


def test_a_very_long_reply_keeps_its_beginning_within_slacks_total() -> None:
    listing = "\n".join(f"{i}. https://feeds.example/{i}/rss.xml — ok" for i in range(2000))
    payload = render_reply(Reply(text=listing, visibility=Visibility.ASKER))
    assert_within_limits(payload)
    assert payload["blocks"][0]["text"]["text"].startswith("0. https://feeds.example/0/")
