"""The one corpus of hostile feed text, shared by every renderer's tests.

Feed text (titles, summaries, publisher names, links) is written by strangers. Each
string here is something a feed could carry to make a chat message ping people, show a
link under a false label, hide or reorder text, or break the message. ``test_hostile``
runs all of it through every renderer and through the whole pipeline; the Slack and
Discord test modules use the parts their golden files were made from.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.models import Briefing, Bullet, RelatedRef, Source

T0 = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)

# Slack's mention and link syntax (https://api.slack.com/reference/surfaces/formatting)
# and Discord's (https://discord.com/developers/docs/reference#message-formatting).
MENTIONS = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U123>",
    "<!subteam^S1>",
    "<#C0123|general>",
    "@everyone",
    "@here",
    "@EVERYONE",
    "<@123>",
    "<@!124>",
    "<@&456>",
    "<#789>",
    "</brief:1>",
    "<t:1700000000:R>",
]
FORGED_LINKS = [
    "[click here](https://evil.example)",
    "[https://bank.example](https://evil.example/login)",
    "<https://evil.example|https://bank.example>",
    "<javascript:alert(1)|safe link>",
    "[x](javascript:alert(1))",
    "![pixel](https://evil.example/p.png)",
    "\\[escaped](https://evil.example)",
    "https://auto.link.example/path",
]
MARKUP = ["**bold**", "__under__", "||spoiler||", "`code`", "~~strike~~", "*b* _i_", "> quote"]
INVISIBLE = (
    "\u200b\u200c\u200d\u200e\u200f\u2060\ufeff"  # zero-width
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"  # bidi controls
)
# Terminal escape sequences: colour, clear screen, set the window title, carriage return
# and backspace (overwrite what was printed), a bell.
ANSI = ["\x1b[31mred\x1b[0m", "\x1b[2J\x1b[H", "\x1b]0;pwned\x07", "ok\rEVIL", "a\x08b", "\x07"]
BAD_URLS = [
    "javascript:alert(document.cookie)",
    "JAVASCRIPT:alert(1)",
    " javascript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD4=",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "ftp://files.example/feed",
    "//no-scheme.example/",
    "https://bank.example@evil.example/login",
    "http://\u202eevil.example/",
    "https://evil.example/" + "a" * 5000,
]
GOOD_URL = "https://ok.example/story?a=1&b=<2>|(3)"

CORPUS = " ".join(
    [*MENTIONS, *FORGED_LINKS, *MARKUP, f"zero{INVISIBLE}width", "&amp; &lt;!here&gt;", *ANSI]
)
"""Every hostile string at once: what a feed's title or summary might be."""

HUGE = ("A" * 9 + " ") * 10_000
"""A 100 KB title, with words to cut at."""

# The strings the Discord golden files were rendered from (tests/golden/discord/).
DISCORD_HOSTILE = (
    "@everyone @here <@123> <@!124> <@&456> <#789> </brief:1> "
    "[click here](https://evil.example) [x](javascript:alert(1)) "
    "**bold** __u__ ||spoiler|| `code` > quote \\[escaped](https://evil.example) "
    "\u202eevil\u202c \u200bzw\u200d \u2066iso\u2069 \ufeffbom"
)
DISCORD_HOSTILE_URLS = [
    "javascript:alert(document.cookie)",
    "data:text/html;base64,PHNjcmlwdD4=",
    "https://bank.example@evil.example/login",
    "https://evil.example/a b)[x](https://worse.example",
    "ftp://files.example/feed",
    "https://ok.example/story_(1)",
]


def corpus_briefing() -> Briefing:
    """A briefing whose every text field is hostile, with every bad URL as a source and
    one good one. Built with ``model_construct``: renderers must cope with values beyond
    the model's own limits too (a 100 KB headline from a condenser gone wrong)."""
    sources = [Source(publisher=CORPUS, title=CORPUS, url=url) for url in BAD_URLS]
    sources.append(Source(publisher=CORPUS + HUGE, title=HUGE, url=GOOD_URL))
    return Briefing.model_construct(
        id="h0st1l3x",
        story_id=None,
        headline=CORPUS + HUGE,
        lead=CORPUS + " " + HUGE,
        bullets=[Bullet.model_construct(text=CORPUS + HUGE, source=0, sentence="")] * 3,
        what_happened=CORPUS + "\n# heading\n- item\n" + HUGE,
        why_it_matters=CORPUS,
        what_to_watch=CORPUS + "\n" * 10 + CORPUS,
        sources=sources,
        topics=[CORPUS, "<!channel>", "a|b>c"],
        related=[RelatedRef(id="<!here>", headline=CORPUS + HUGE, created_at=T0)],
        created_at=T0,
        updated_at=T0,
        revision=2,
        condenser="extractive",
    )
