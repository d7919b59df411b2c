"""The command line as a user runs it: JSON Lines out, one-line errors. Most calls run
the entry point in this process (``tests/support/cli.py``); what only separate
processes show — two of them on one database, the newcomer's ``demo`` — spawns them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.cli import assert_one_line_error, run, spawn

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>Valley Post</title>
<link>https://valley.example/</link><description>x</description>
<item><title>Bridge reopens after repairs</title><link>https://valley.example/bridge</link>
<guid>b-1</guid><pubDate>Tue, 24 Nov 2026 08:00:00 GMT</pubDate>
<description>&lt;p&gt;The &lt;b&gt;old&lt;/b&gt; bridge reopened.&lt;/p&gt;</description></item>
<item><title>Library extends hours</title><guid>b-2</guid></item>
</channel></rss>"""

ARTICLE = "".join(
    f"<p>The valley council voted on Tuesday to reopen the stone bridge, item {n}, after "
    "eight months of repairs costing 2.4 million euros.</p>"
    for n in range(1, 6)
)
PAGE = f"""<html><head><title>Bridge reopens</title></head><body><nav>Home</nav>
<article><h1>Bridge reopens</h1>{ARTICLE}</article><footer>(c) Valley Post</footer></body></html>"""


def test_parse_feed_file(tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text(RSS)
    result = run("parse-feed", str(feed))
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows[0] == {
        "id": "b-1",
        "title": "Bridge reopens after repairs",
        "link": "https://valley.example/bridge",
        "published": "2026-11-24T08:00:00+00:00",
        "summary": "The old bridge reopened.",
    }
    assert rows[1]["title"] == "Library extends hours" and rows[1]["published"] is None


def test_parse_feed_bad_inputs(tmp_path: Path) -> None:
    assert "no such file" in assert_one_line_error(run("parse-feed", str(tmp_path / "nope")), 2)
    page = tmp_path / "page.html"
    page.write_text(PAGE)
    assert "not a feed" in assert_one_line_error(run("parse-feed", str(page)), 1)
    # A URL on a refused address: one line, no network needed.
    refused = run("parse-feed", "http://127.0.0.1:9/feed.xml")
    assert "refused" in assert_one_line_error(refused, 1)


def test_extract(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(PAGE)
    result = run("extract", str(page), "--url", "https://valley.example/bridge")
    assert result.returncode == 0, result.stderr
    article = json.loads(result.stdout)
    assert set(article) == {"title", "text", "author", "published", "url"}
    assert article["text"].startswith("The valley council voted")
    assert article["url"] == "https://valley.example/bridge"
    empty = tmp_path / "empty.html"
    empty.write_text("<html><body><p>Hi.</p></body></html>")
    assert "no article text" in assert_one_line_error(run("extract", str(empty)), 1)


def test_condense() -> None:
    text = (
        "The valley council voted on Tuesday to reopen the stone bridge. Repairs took eight "
        "months and cost 2.4 million euros. Traffic will return to the bridge next Monday. "
        "The closure meant a 20-minute detour for 6,000 drivers a day."
    )
    lines = "\n".join(
        [
            json.dumps({"id": "a1", "title": "Bridge reopens", "text": text}),
            "",
            json.dumps({"id": 7, "text": text}),
        ]
    )
    result = run("condense", stdin=lines)
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in out] == ["a1", 7]
    first = out[0]
    assert set(first) == {
        "id",
        "headline",
        "lead",
        "bullets",
        "bullet_sources",
        "what_happened",
        "why_it_matters",
        "what_to_watch",
        "sources",
    }
    # One to three bullets: as many as the text has distinct points beside the lead.
    assert 1 <= len(first["bullets"]) <= 3 and all(b in text for b in first["bullets"])
    assert not any(b in first["lead"] for b in first["bullets"])
    assert first["bullet_sources"] == [0] * len(first["bullets"])
    assert first["headline"] == "Bridge reopens"


def test_condense_a_story_of_several_sources() -> None:
    story = {
        "id": "s1",
        "sources": [
            {
                "title": "Valley council reopens stone bridge",
                "publisher": "Valley Post",
                "text": "The valley council reopened the stone bridge on Tuesday after "
                "repairs that took eight months. Repairs cost 2.4 million euros, the "
                "council said. Shops on the east bank had lost trade during the closure.",
            },
            {
                "title": "Stone bridge open again after eight-month repair",
                "publisher": "River Times",
                "url": "https://river.example/bridge",
                "text": "Traffic returned to the valley's stone bridge on Tuesday, eight "
                "months after it was shut for repairs. The closure meant a 20-minute "
                "detour for 6,000 drivers a day.",
            },
        ],
    }
    result = run("condense", stdin=json.dumps(story) + "\n")
    assert result.returncode == 0, result.stderr
    (out,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert [s["publisher"] for s in out["sources"]] == ["Valley Post", "River Times"]
    assert len(out["bullet_sources"]) == 3
    assert set(out["bullet_sources"]) == {0, 1}, "bullets from both outlets"


@pytest.mark.parametrize(
    ("stdin", "message"),
    [("{not json\n", "line 1: not valid JSON"), ('{"id": 1}\n', 'needs "id" and a string "text"')],
)
def test_condense_bad_input(stdin: str, message: str) -> None:
    assert message in assert_one_line_error(run("condense", stdin=stdin), 2)


def test_cluster() -> None:
    items = [
        {"id": "1", "title": "Magnitude 6.1 quake hits Varenna Alta, 240 homes damaged"},
        {"id": "2", "title": "Varenna Alta earthquake of magnitude 6.1 damages 240 homes"},
        {"id": "3", "title": "Lowmere opens rebuilt harbour wall after three years"},
    ]
    result = run("cluster", stdin="\n".join(json.dumps(i) for i in items))
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in out] == ["1", "2", "3"]
    assert out[0]["cluster"] == out[1]["cluster"] != out[2]["cluster"]
    assert result.returncode == 0
    bad = run("cluster", stdin="[1, 2]\n")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_cmd_against_a_database(tmp_path: Path) -> None:
    env = {"SIGNALDESK_DATABASE": str(tmp_path / "s.db")}
    helped = run("cmd", "/brief help", env=env)
    assert helped.returncode == 0 and "/brief more <id>" in helped.stdout
    refused = run("cmd", "--channel", "console:ops", "topic add chips chips OR wafers", env=env)
    assert refused.returncode == 1 and "only channel admins" in refused.stdout
    added = run(
        "cmd", "--channel", "console:ops", "--admin", "topic add chips chips OR wafers", env=env
    )
    assert added.returncode == 0, added.stdout
    listed = spawn("cmd", "--channel", "console:ops", "topics", env=env)  # another process
    assert "chips" in listed.stdout
    bad_channel = run("cmd", "--channel", "general", "help", env=env)
    assert "expected <platform>:<channel>" in assert_one_line_error(bad_channel, 2)


def test_bad_setting_is_one_line() -> None:
    result = run("cmd", "help", env={"SIGNALDESK_POLL_INTERVAL": "often"})
    assert "SIGNALDESK_POLL_INTERVAL" in assert_one_line_error(result, 1)


def test_unusable_database_is_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"garbage" * 1000)
    result = run("cmd", "help", env={"SIGNALDESK_DATABASE": str(broken)})
    assert "not a readable SQLite database" in assert_one_line_error(result, 1)


@pytest.mark.slow
def test_commands_share_one_postgresql_database_across_processes(pg_dsn: str) -> None:
    env = {"SIGNALDESK_DATABASE": pg_dsn}
    added = run("cmd", "--admin", "topic add ports port OR harbour", env=env)
    assert added.returncode == 0, added.stderr
    listed = spawn("cmd", "topics", env=env)  # another process, the same database
    assert listed.returncode == 0 and "ports" in listed.stdout
    assert "pg_dump" in assert_one_line_error(run("backup", "/tmp/x.dump", env=env), 2)


def test_an_unreachable_postgresql_is_one_line_without_its_password() -> None:
    env = {"SIGNALDESK_DATABASE": "postgresql://desk:s3cret@127.0.0.1:1/signaldesk"}
    line = assert_one_line_error(run("cmd", "help", env=env), 1)
    assert "cannot reach the PostgreSQL server" in line and "s3cret" not in line


def test_backup(tmp_path: Path) -> None:
    env = {"SIGNALDESK_DATABASE": str(tmp_path / "s.db")}
    run("cmd", "--admin", "topic add quakes quake OR earthquake", env=env)
    result = run("backup", str(tmp_path / "copy.db"), env=env)
    assert result.returncode == 0, result.stderr
    copy = run("cmd", "topics", env={"SIGNALDESK_DATABASE": str(tmp_path / "copy.db")})
    assert "quakes" in copy.stdout
    again = run("backup", str(tmp_path / "copy.db"), env=env)
    assert "exists" in assert_one_line_error(again, 2)


@pytest.mark.slow(seconds=4)
def test_demo_prints_sourced_briefings_and_answers_commands() -> None:
    result = spawn("demo", stdin="/brief help\n/brief china-ai\n/brief nonsense-topic\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Sources (3):" in out  # one story carried by three feeds, one briefing
    assert "/brief more <id>" in out  # the help answered
    china = out[out.index("brief> /brief china-ai") :]
    assert "TRILLION" in china.upper()
    assert "no topic 'nonsense-topic'" in out
    assert "Traceback" not in result.stderr


def test_demo_shows_a_headline_joining_a_development_and_differing_sources() -> None:
    result = run("demo", stdin="")
    assert result.returncode == 0, result.stderr
    posts = result.stdout.split("#general")
    # The last print of the story: the feeds are polled side by side, so the wire's bare
    # headline may arrive after the Courier's post and join it as an update.
    gullrock = [p for p in posts if "Coastline Courier — Gullrock Ferries orders" in p][-1]
    assert "GULLROCK FERRIES ORDERS" in gullrock, "the headline of the report with text"
    # The wire's bare headline (its page is for subscribers) joins the ferry story.
    assert "Tidewater Wire — Gullrock Ferries picks Vestbro Yard" in gullrock
    strike = next(p for p in posts if "Sources differ:" in p)
    assert "dockworkers (Tidewater Wire)" in strike and "(Meridian Daily)" in strike
    # The lawsuit after the strike is its own post, not an update of the strike's.
    suit = next(p for p in posts if "UNION SUES SALTMARSH" in p)
    assert "Strike idles" not in suit and "Sources (" not in suit
    suit_id = re.search(r"^id: (\w+)", suit, re.M)
    assert suit_id is not None
    # The demo's last lines point the newcomer at it.
    assert f"own story: /brief related {suit_id.group(1)}" in result.stdout
    related = run("demo", stdin=f"/brief related {suit_id.group(1)}\n").stdout
    assert "Follows: " in related[related.index("brief> /brief related") :]
