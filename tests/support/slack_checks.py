"""Sample Slack briefings and the checks every Slack payload must pass (Block Kit limits; no
mention, ping or forged link from feed text)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from bot.models import Briefing, Bullet, RelatedRef, Source

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

HOSTILE = (
    "<!channel> <!here> <!everyone> <@U123> <!subteam^S1> @everyone @here <@123> <@&456> "
    "<#789> <https://evil.example|click> [label](javascript:alert(1)) javascript:alert(1) "
    "data:text/html,<script>x</script> zero\u200bwidth \u202eRTL\u202c bidi\u2066x\u2069 &amp; "
    "*bold* `code` https://auto.link.example"
)
HOSTILE_URLS = [
    "javascript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD4=",
    "JAVASCRIPT:alert(1)",
    " javascript:alert(1)",
    "https://ok.example/a?x=1&y=<2>|z",
    "http://\u202eevil.example/",
    "//no-scheme.example/",
    "https://evil.example/" + "a" * 5000,
]
INVISIBLE = (
    "\u200b\u200c\u200d\u200e\u200f\u2060\ufeff"  # zero-width
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"  # bidi controls
)


def make_briefing(**update: Any) -> Briefing:
    briefing = Briefing(
        id="k3xq7aab",
        headline="Kestrel Bay dockworkers strike over automated cranes",
        lead="Dockworkers at Kestrel Bay walked out on Monday, halting 41 vessels.",
        bullets=[
            Bullet(text="The union says the cranes cut 300 jobs.", source=0),
            Bullet(text="The port authority calls the strike unlawful.", source=1),
            Bullet(text="Ferries to the islands run as usual.", source=0),
        ],
        what_happened="Workers left at 6am. The port closed its gates by noon.",
        why_it_matters="Kestrel Bay handles a fifth of the region's container traffic.",
        what_to_watch="Talks resume on Thursday; a court hearing is set for Friday.",
        sources=[
            Source(
                publisher="Coastline Courier",
                title="Dockworkers strike",
                url="https://courier.example/strike?utm=1&x=2",
            ),
            Source(publisher="Harbor Tech", title="Cranes & jobs", url="https://harbor.example/c"),
        ],
        topics=["ports", "labour"],
        related=[
            RelatedRef(id="p0rt41vs", headline="41 vessels wait off Kestrel Bay", created_at=NOW)
        ],
        created_at=NOW,
        updated_at=NOW,
    )
    # model_copy does not validate: renderers must cope with values beyond the model's
    # own limits too (a 100 KB headline from an LLM condenser gone wrong).
    return briefing.model_copy(update=update)


def hostile_briefing() -> Briefing:
    return make_briefing(
        headline=HOSTILE + " " + "x" * 100_000,
        lead=HOSTILE * 20,
        bullets=[Bullet.model_construct(text=HOSTILE * 5, source=0, sentence="")] * 3,
        what_happened=HOSTILE * 50,
        why_it_matters=HOSTILE,
        what_to_watch=HOSTILE + "\n" * 10 + HOSTILE,
        sources=[
            Source(publisher=HOSTILE[:200] + "|>", title=HOSTILE, url=url) for url in HOSTILE_URLS
        ]
        * 10,
        topics=["<!channel>", "a|b>c"],
        related=[RelatedRef(id="<!here>", headline=HOSTILE, created_at=NOW)] * 3,
    )


# ------------------------------------------------------------------- checkers


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def _text_objects(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("type") in {"mrkdwn", "plain_text"} and "text" in node:
            yield node
        for value in node.values():
            yield from _text_objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from _text_objects(value)


LINK = re.compile(r"<([^<>|]*)\|([^<>|]*)>")


def assert_within_limits(payload: dict[str, Any]) -> None:
    """Block Kit limits (https://api.slack.com/reference/block-kit/blocks)."""
    assert payload["text"].strip(), "a fallback text for notifications"
    assert len(payload["text"]) <= 300
    blocks = payload.get("blocks", [])
    assert 0 < len(blocks) <= 50
    for block in blocks:
        kind = block["type"]
        if kind == "header":
            assert block["text"]["type"] == "plain_text"
            assert 0 < len(block["text"]["text"]) <= 150
        elif kind == "section":
            assert block["text"]["text"].strip(), "Slack refuses a section without text"
            assert len(block["text"]["text"]) <= 3000
        elif kind == "context":
            assert 0 < len(block["elements"]) <= 10
            assert all(len(e["text"]) <= 3000 for e in block["elements"])
        elif kind == "actions":
            for element in block["elements"]:
                assert len(element["text"]["text"]) <= 75
                assert len(element["value"]) <= 2000
                assert len(element["action_id"]) <= 255
    total = sum(len(obj["text"]) for obj in _text_objects(blocks))
    assert total <= 12_000, f"{total} characters of text in the blocks: msg_blocks_too_long"
    for obj in _text_objects(payload):
        if obj["type"] == "mrkdwn":
            assert obj.get("verbatim") is True, obj


def assert_safe(payload: dict[str, Any]) -> None:
    """No mention, ping or forged link can come out of feed text."""
    for text in _strings(payload):
        assert not set(text) & set(INVISIBLE), f"invisible character in {text[:80]!r}"
        for url, label in LINK.findall(text):
            # Every link is one the renderer built: http(s), nothing that ends it early.
            assert re.match(r"^https?://[^\s<>|]+$", url), url
            assert ">" not in label
            assert not url.lower().startswith(("javascript:", "data:"))
        # Outside the renderer's own links no '<' or '>' is left: no <!channel>, <@U…>,
        # <#C…> or <url|label> can be formed from feed text ("javascript:" as plain,
        # verbatim text is harmless: it is never a link).
        residue = LINK.sub("", text)
        assert "<" not in residue and ">" not in residue, residue[:200]


def view_problems(view: Any) -> list[str]:
    """What Slack would refuse in a view (https://api.slack.com/reference/surfaces/views,
    https://api.slack.com/reference/block-kit/blocks#input): the fake Web API answers
    ``invalid_arguments`` with these, as Slack does."""
    if not isinstance(view, dict) or view.get("type") not in {"modal", "home"}:
        return ["view.type must be modal or home"]
    problems = []
    blocks = view.get("blocks") or []
    if not 0 < len(blocks) <= 100:
        problems.append(f"a view holds 1 to 100 blocks, not {len(blocks)}")
    if view["type"] == "modal":
        for key in ("title", "submit", "close"):
            text = (view.get(key) or {}).get("text")
            if key == "title" and not text:
                problems.append("a modal needs a title")
            if text is not None and not 0 < len(text) <= 24:
                problems.append(f"{key} must be 1 to 24 characters: {text!r}")
        if any(b["type"] == "input" for b in blocks) and not view.get("submit"):
            problems.append("a modal with input blocks needs a submit button")
    elif any(key in view for key in ("title", "submit", "close")):
        problems.append("a home view has no title, submit or close")
    if len(view.get("private_metadata") or "") > 3000:
        problems.append("private_metadata is at most 3000 characters")
    ids = [b["block_id"] for b in blocks if "block_id" in b]
    if len(ids) != len(set(ids)):
        problems.append("block_id values must be unique")
    for block in blocks:
        kind = block["type"]
        if kind == "input":
            label = (block.get("label") or {}).get("text") or ""
            element = block.get("element") or {}
            if not 0 < len(label) <= 2000:
                problems.append("an input's label is 1 to 2000 characters")
            if not element.get("action_id") or element.get("type") not in {
                "plain_text_input",
                "conversations_select",
                "timepicker",
                "static_select",
            }:
                problems.append(f"input {block.get('block_id')}: element type/action_id")
            placeholder = (element.get("placeholder") or {}).get("text") or ""
            if len(placeholder) > 150:
                problems.append("a placeholder is at most 150 characters")
            if element.get("max_length", 0) > 3000:
                problems.append("plain_text_input max_length is at most 3000")
        elif kind == "section":
            text = (block.get("text") or {}).get("text") or ""
            if not text.strip() or len(text) > 3000:
                problems.append("a section's text is 1 to 3000 characters")
        elif kind == "header":
            if not 0 < len(block["text"]["text"]) <= 150:
                problems.append("a header's text is 1 to 150 characters")
        elif kind == "context":
            if not 0 < len(block["elements"]) <= 10:
                problems.append("a context has 1 to 10 elements")
        elif kind == "actions":
            for element in block["elements"]:
                if len(element["text"]["text"]) > 75:
                    problems.append("a button's text is at most 75 characters")
        elif kind != "divider":
            problems.append(f"unexpected block type {kind}")
    return problems
