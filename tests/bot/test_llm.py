"""The LLM condenser against a fake OpenAI-compatible server on a local port.

The server is the real HTTP path (``tests.support.http.LocalServer``): the condenser's own
httpx client talks to it, so what is asserted is what a hosted API or a local vLLM or
Ollama server would receive and answer.
"""

from __future__ import annotations

import asyncio
import io
import json
import math
import threading
import time
from datetime import datetime, timedelta
from typing import Any

import pytest

from bot.attribution import unattributed
from bot.engine import Engine
from bot.errors import ConfigError
from bot.fetch import Fetcher
from bot.llm import (
    CHARS_PER_TOKEN,
    MAX_COMPLETION_TOKENS,
    RESPONSE_SCHEMA,
    SYSTEM_PROMPT,
    LLMCondenser,
    build_messages,
    material_digest,
)
from bot.models import FeedEntry, Source, SourceText
from bot.settings import Settings, load_settings
from storage import SqliteStore
from storage.database import StoreRunner
from tests.support.http import LocalServer, Request, Response
from tests.support.llm import (
    API_KEY,
    MATERIAL,
    NOW,
    PATH,
    QUAKE,
    QUAKE_2,
    calls,
    completion,
    good_answer,
    llm_settings,
    serve,
)


async def test_good_answer_becomes_the_briefing(local_server: LocalServer) -> None:
    serve(local_server, good_answer())
    condenser = LLMCondenser(llm_settings(local_server))
    briefing = await condenser.acondense("quake001", MATERIAL, NOW)
    assert briefing.condenser == "llm"
    assert briefing.headline == good_answer()["headline"]
    assert [b.source for b in briefing.bullets] == [0, 1, 1]  # "source": 1 is the first
    # Each bullet records the source sentence it paraphrases: a reader can check it.
    assert briefing.bullets[1].sentence.startswith("Engineers closed the Varenna viaduct")
    assert briefing.bullets[2].sentence.startswith("The damage means that about 3,000")
    assert briefing.sources == [m.source for m in MATERIAL]
    assert briefing.what_to_watch.startswith("The regional government will decide")
    assert unattributed(briefing, MATERIAL) == []
    assert condenser.outcomes["llm"] == 1


async def test_request_carries_model_key_rules_and_every_source(local_server: LocalServer) -> None:
    serve(local_server, good_answer())
    await LLMCondenser(llm_settings(local_server)).acondense("quake001", MATERIAL, NOW)
    (request,) = calls(local_server)
    assert request.method == "POST"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    body = json.loads(request.body)
    assert body["model"] == "test-model"
    # Structured output: the answer's JSON schema, strict.
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == RESPONSE_SCHEMA
    assert body["max_tokens"] == MAX_COMPLETION_TOKENS == 1500
    assert body["temperature"] == 0
    system, user = body["messages"]
    assert system == {"role": "system", "content": SYSTEM_PROMPT}
    assert "add nothing that no source states" in system["content"]
    assert user["role"] == "user"
    for m in MATERIAL:
        assert m.text in user["content"]
        assert m.source.publisher in user["content"]


async def test_no_api_key_sends_no_authorization(local_server: LocalServer) -> None:
    serve(local_server, good_answer())
    condenser = LLMCondenser(llm_settings(local_server, llm_api_key=None))
    assert (await condenser.acondense("quake001", MATERIAL, NOW)).condenser == "llm"
    assert "authorization" not in calls(local_server)[0].headers


async def test_answer_in_a_code_fence_is_accepted(local_server: LocalServer) -> None:
    serve(local_server, "```json\n" + json.dumps(good_answer()) + "\n```")
    briefing = await LLMCondenser(llm_settings(local_server)).acondense("q", MATERIAL, NOW)
    assert briefing.condenser == "llm"


async def test_server_without_json_schema_is_asked_again_in_json_mode(
    local_server: LocalServer,
) -> None:
    def handler(request: Request) -> Response:
        if json.loads(request.body).get("response_format", {}).get("type") == "json_schema":
            return Response(400, '{"error": {"message": "response_format json_schema is not '
                            'supported by this model"}}')  # fmt: skip
        return completion(json.dumps(good_answer()))

    local_server.route(PATH, handler)
    condenser = LLMCondenser(llm_settings(local_server))
    assert (await condenser.acondense("a", MATERIAL, NOW)).condenser == "llm"
    assert (await condenser.acondense("b", MATERIAL, NOW)).condenser == "llm"
    # Learned once: the second story is asked in JSON mode straight away.
    formats = [json.loads(r.body).get("response_format") for r in calls(local_server)]
    assert [f["type"] for f in formats] == ["json_schema", "json_object", "json_object"]


async def test_server_without_any_response_format_is_asked_with_the_prompt_alone(
    local_server: LocalServer,
) -> None:
    def handler(request: Request) -> Response:
        if "response_format" in json.loads(request.body):
            return Response(400, '{"error": {"message": "response_format is not supported"}}')
        return completion(json.dumps(good_answer()))

    local_server.route(PATH, handler)
    condenser = LLMCondenser(llm_settings(local_server))
    assert (await condenser.acondense("a", MATERIAL, NOW)).condenser == "llm"
    assert (await condenser.acondense("b", MATERIAL, NOW)).condenser == "llm"
    assert len(calls(local_server)) == 4  # schema, JSON mode, plain; then plain only


# ------------------------------------------------------------------ fallbacks


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("Here is your briefing: headline, lead and bullets.", "invalid-json"),
        ('{"headline": "Quake", "lead": "A quake struck.", "bullets": [', "invalid-json"),
        ("[1, 2, 3]", "schema"),
    ],
    ids=[
        "prose",
        "truncated-json",
        "not-an-object",
    ],
)
async def test_unusable_answer_falls_back_to_extractive(
    local_server: LocalServer, content: str, reason: str
) -> None:
    serve(local_server, content)
    condenser = LLMCondenser(llm_settings(local_server))
    briefing = await condenser.acondense("quake001", MATERIAL, NOW)
    assert briefing.condenser == "extractive"
    assert condenser.outcomes[reason] == 1
    assert unattributed(briefing, MATERIAL) == []


async def test_invented_number_loses_only_its_bullet(local_server: LocalServer) -> None:
    bullets = good_answer()["bullets"]
    bullets[2] = {
        "text": "About 5,000 commuters face a 40-minute detour until the viaduct is repaired.",
        "source": 2,
    }
    serve(local_server, good_answer(bullets=bullets))
    condenser = LLMCondenser(llm_settings(local_server))
    briefing = await condenser.acondense("quake001", MATERIAL, NOW)
    assert briefing.condenser == "llm"
    assert "bullet3" not in briefing.written_by_model
    assert "headline" in briefing.written_by_model and "bullet2" in briefing.written_by_model
    assert "5,000" not in briefing.model_dump_json()
    assert unattributed(briefing, MATERIAL) == []


async def test_invented_quote_loses_only_the_lead(local_server: LocalServer) -> None:
    lead = 'Officials called it "the worst night in living memory" after 240 homes were damaged.'
    serve(local_server, good_answer(lead=lead))
    condenser = LLMCondenser(llm_settings(local_server))
    briefing = await condenser.acondense("quake001", MATERIAL, NOW)
    assert "lead" not in briefing.written_by_model and "bullet1" in briefing.written_by_model
    assert "worst night" not in briefing.lead
    assert (
        condenser.field_failures[
            "lead: quote 'the worst night in living memory' in no cited source"
        ]
        == 1
    )


async def test_bullet_its_source_does_not_support_is_replaced(local_server: LocalServer) -> None:
    bullets = good_answer()["bullets"]
    # Words from source 2, cited as source 1: a reader following the link finds nothing.
    bullets[1]["source"] = 1
    serve(local_server, good_answer(bullets=bullets))
    condenser = LLMCondenser(llm_settings(local_server))
    briefing = await condenser.acondense("quake001", MATERIAL, NOW)
    assert "bullet2" not in briefing.written_by_model
    assert {"bullet1", "bullet3"} <= set(briefing.written_by_model)
    assert "bullet2: its cited sources do not support it" in condenser.field_failures


@pytest.mark.parametrize("status", [401, 429, 500, 503])
async def test_http_error_falls_back(local_server: LocalServer, status: int) -> None:
    local_server.route(PATH, Response(status, '{"error": {"message": "nope"}}'))
    condenser = LLMCondenser(llm_settings(local_server))
    assert (await condenser.acondense("quake001", MATERIAL, NOW)).condenser == "extractive"
    assert condenser.outcomes["http"] == 1


async def test_unreachable_server_falls_back() -> None:
    settings = Settings(llm_base_url="http://127.0.0.1:9/v1", llm_model="m", llm_timeout=2)
    condenser = LLMCondenser(settings)
    assert (await condenser.acondense("quake001", MATERIAL, NOW)).condenser == "extractive"
    assert condenser.outcomes["http"] == 1


async def test_timeout_falls_back_within_the_timeout(local_server: LocalServer) -> None:
    slow = completion(json.dumps(good_answer()))
    slow.delay = 3.0
    local_server.route(PATH, slow)
    condenser = LLMCondenser(llm_settings(local_server, llm_timeout=0.5))
    started = time.monotonic()
    briefing = await condenser.acondense("quake001", MATERIAL, NOW)
    elapsed = time.monotonic() - started
    assert briefing.condenser == "extractive"
    assert condenser.outcomes["timeout"] == 1
    assert elapsed < 1.5, elapsed
    # The prompt may have been spent: it counts against the budget.
    assert (await condenser.usage(NOW)).prompt_tokens > 0


# ------------------------------------------------------------- budget, reuse


async def test_exhausted_budget_sends_nothing(local_server: LocalServer) -> None:
    serve(local_server, good_answer())
    condenser = LLMCondenser(llm_settings(local_server, llm_daily_tokens=500))
    briefing = await condenser.acondense("quake001", MATERIAL, NOW)
    assert briefing.condenser == "extractive"
    assert calls(local_server) == []
    assert condenser.outcomes["budget"] == 1


async def test_budget_counts_reported_usage_and_resets_next_day(
    local_server: LocalServer,
) -> None:
    serve(local_server, good_answer(), prompt_tokens=2500, completion_tokens=400)
    condenser = LLMCondenser(llm_settings(local_server, llm_daily_tokens=4000))
    assert (await condenser.acondense("a", MATERIAL, NOW)).condenser == "llm"
    usage = await condenser.usage(NOW)
    assert (usage.prompt_tokens, usage.completion_tokens) == (2500, 400)
    # 2,900 spent; another request (~500 prompt + up to 1,000 completion) would overrun.
    assert (await condenser.acondense("b", MATERIAL, NOW)).condenser == "extractive"
    assert len(calls(local_server)) == 1
    tomorrow = NOW.replace(day=NOW.day + 1)
    assert (await condenser.acondense("b", MATERIAL, tomorrow)).condenser == "llm"
    assert len(calls(local_server)) == 2


async def test_usage_is_persisted_and_survives_a_restart(local_server: LocalServer) -> None:
    serve(local_server, good_answer(), prompt_tokens=2500, completion_tokens=400)
    store = SqliteStore.open(":memory:")
    try:
        settings = llm_settings(local_server, llm_daily_tokens=4000)
        first = LLMCondenser(settings, usage_store=store)
        assert (await first.acondense("a", MATERIAL, NOW)).condenser == "llm"
        assert store.llm_usage(NOW.date().isoformat()) == (2500, 400)
        # A new process reads today's usage before spending more.
        second = LLMCondenser(settings, usage_store=store)
        assert (await second.acondense("b", MATERIAL, NOW)).condenser == "extractive"
        assert second.outcomes["budget"] == 1
        assert len(calls(local_server)) == 1
    finally:
        store.close()


def held_answers(local_server: LocalServer) -> tuple[threading.Event, threading.Event, int]:
    """The model answers (20 tokens) only once ``release`` is set; ``arrived`` is set when
    a request has come in. Also returns the tokens one request of ``MATERIAL`` reserves."""
    arrived, release = threading.Event(), threading.Event()

    def answer(request: Request) -> Response:
        arrived.set()
        release.wait(10)
        return completion(json.dumps(good_answer()), prompt_tokens=10, completion_tokens=10)

    local_server.route(PATH, answer)
    needed = (
        sum(math.ceil(len(m["content"]) / CHARS_PER_TOKEN) for m in build_messages(MATERIAL))
        + MAX_COMPLETION_TOKENS
    )
    return arrived, release, needed


async def test_processes_sharing_a_database_share_the_days_budget(
    local_server: LocalServer, any_store: Any
) -> None:
    # Two processes (two condensers, one database) with room for one request today:
    # while the first waits for its answer, the second must see its reservation.
    arrived, release, needed = held_answers(local_server)
    settings = llm_settings(local_server, llm_daily_tokens=needed + needed // 2)
    one, other = (LLMCondenser(settings, usage_store=any_store) for _ in range(2))
    try:
        first = asyncio.create_task(one.acondense("quake001", MATERIAL, NOW))
        assert await asyncio.to_thread(arrived.wait, 5)
        assert (await other.acondense("quake002", MATERIAL, NOW)).condenser == "extractive"
        assert other.outcomes["budget"] == 1
        release.set()
        assert (await first).condenser == "llm"
        assert len(calls(local_server)) == 1
        # The answer is in (20 tokens spent) and its reservation given back: room again,
        # for either process.
        assert (await other.acondense("quake003", MATERIAL, NOW)).condenser == "llm"
        # A reservation its process never gave back (it died) lapses.
        day = NOW.date().isoformat()
        assert any_store.reserve_llm_tokens(day, needed, needed * 9, NOW, NOW) is not None
        later = NOW + timedelta(seconds=1)
        assert any_store.reserve_llm_tokens(day, needed, needed + 40, later, later) is not None
    finally:
        release.set()


async def test_unchanged_material_is_not_sent_again(local_server: LocalServer) -> None:
    serve(local_server, good_answer())
    condenser = LLMCondenser(llm_settings(local_server))
    first = await condenser.acondense("quake001", MATERIAL, NOW)
    again = await condenser.acondense("quake001", list(MATERIAL), NOW)
    assert len(calls(local_server)) == 1
    assert again.condenser == "llm" and again.bullets == first.bullets
    # New material (a third report) is sent.
    third = SourceText(
        source=Source(publisher="Harbor Tech", title="Quake follow-up", url="https://h.example/q"),
        text="Power was restored to 18,000 people on Tuesday, the grid operator said.",
    )
    await condenser.acondense("quake001", [*MATERIAL, third], NOW)
    assert len(calls(local_server)) == 2
    assert material_digest(MATERIAL) != material_digest([*MATERIAL, third])


async def test_a_failed_answer_is_not_asked_for_again(local_server: LocalServer) -> None:
    serve(local_server, "not json")
    condenser = LLMCondenser(llm_settings(local_server))
    for _ in range(3):
        assert (await condenser.acondense("quake001", MATERIAL, NOW)).condenser == "extractive"
    assert len(calls(local_server)) == 1


async def test_blocking_condense_works_off_the_loop(local_server: LocalServer) -> None:
    # The Condenser protocol's synchronous form, as a thread or a batch tool calls it.
    serve(local_server, good_answer())
    condenser = LLMCondenser(llm_settings(local_server))
    briefing = await asyncio.to_thread(condenser.condense, "quake001", MATERIAL, NOW)
    assert briefing.condenser == "llm"


# --------------------------------------------------------------------- wiring


def _rss(link: str) -> str:
    return f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Courier</title>
<item><guid>quake-1</guid><title>Earthquake damages 240 homes in Varenna Alta</title>
<link>{link}</link><description>{QUAKE} {QUAKE_2}</description>
<pubDate>Mon, 02 Mar 2026 08:00:00 GMT</pubDate></item></channel></rss>"""


class _Clock:
    def now(self) -> datetime:
        return NOW


async def test_engine_awaits_the_llm_condenser(local_server: LocalServer) -> None:
    serve(local_server, good_answer(bullets=[{**b, "source": 1} for b in good_answer()["bullets"]]))
    feed_url = local_server.route("/feed.xml", Response(body=_rss("https://courier.example/quake")))
    settings = llm_settings(local_server, allow_private_networks=True, fetch_pages=False)
    store = SqliteStore.open(":memory:")
    runner = StoreRunner(store)
    engine = Engine(
        settings,
        store,
        fetcher=Fetcher(settings),
        publishers={},
        clock=_Clock(),
        runner=runner,
        condenser=LLMCondenser(settings, usage_store=store, run_store=runner),
    )
    try:
        await engine.add_feed("console:news", feed_url, "Courier")
        report = await engine.poll_once()
        (briefing_id,) = report.briefings
        saved = store.get_briefing(briefing_id)
        assert saved is not None and saved.condenser == "llm"
        assert store.llm_usage(NOW.date().isoformat()) == (900, 250)
    finally:
        await engine.aclose()
        store.close()


def test_cli_wires_the_llm_condenser_only_when_configured(local_server: LocalServer) -> None:
    from adapters.main import assemble

    plain = assemble(Settings(database=":memory:"), io.StringIO())
    wired = assemble(llm_settings(local_server, database=":memory:"), io.StringIO())
    try:
        assert plain.engine.briefer.condenser.name == "extractive"
        assert isinstance(wired.engine.briefer.condenser, LLMCondenser)
    finally:
        asyncio.run(plain.aclose())
        asyncio.run(wired.aclose())


# ------------------------------------------------------------------- settings


def test_llm_settings_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNALDESK_LLM_BASE_URL", "http://localhost:11434/v1/")
    with pytest.raises(ConfigError, match="SIGNALDESK_LLM_MODEL"):
        load_settings()
    monkeypatch.setenv("SIGNALDESK_LLM_MODEL", "llama3.1")
    monkeypatch.setenv("SIGNALDESK_LLM_API_KEY", API_KEY)
    settings = load_settings()
    assert settings.llm_base_url == "http://localhost:11434/v1"
    assert API_KEY not in repr(settings) and API_KEY not in str(settings.model_dump())
    monkeypatch.setenv("SIGNALDESK_LLM_BASE_URL", "file:///etc/passwd")
    with pytest.raises(ConfigError, match="SIGNALDESK_LLM_BASE_URL"):
        load_settings()


async def test_a_slow_answer_for_one_story_does_not_hold_up_another(
    local_server: LocalServer,
) -> None:
    # The model takes its time over the quake; a story from another feed is briefed
    # meanwhile instead of queueing behind it.
    arrived, release = threading.Event(), threading.Event()

    def answer(request: Request) -> Response:
        if b"Varenna" in request.body:
            arrived.set()
            release.wait(10)
            bullets = [{**b, "source": 1} for b in good_answer()["bullets"]]
            return completion(json.dumps(good_answer(bullets=bullets)))
        return completion("not a briefing")  # this one falls back to extractive

    local_server.route(PATH, answer)
    settings = llm_settings(local_server, allow_private_networks=True, fetch_pages=False)
    store = SqliteStore.open(":memory:")
    runner = StoreRunner(store)
    engine = Engine(
        settings,
        store,
        fetcher=Fetcher(settings),
        publishers={},
        clock=_Clock(),
        runner=runner,
        condenser=LLMCondenser(settings, usage_store=store, run_store=runner),
    )
    courier, _ = store.add_feed("https://courier.example/rss", name="Courier", now=NOW)
    harbour, _ = store.add_feed("https://harbour.example/rss", name="Harbour", now=NOW)
    (quake,) = store.add_entries(
        courier.id,
        [FeedEntry(guid="q", title="Earthquake damages 240 homes in Varenna Alta",
                   link="https://courier.example/quake", summary=f"{QUAKE} {QUAKE_2}")],
        NOW,
    )  # fmt: skip
    (ferry,) = store.add_entries(
        harbour.id,
        [FeedEntry(guid="f", title="Port of Lessing approves night ferry to Orly Island",
                   link="https://harbour.example/ferry",
                   summary="The Port of Lessing board approved a night ferry to Orly "
                   "Island on Tuesday. Sailings start on 1 June and will run until 2 am.")],
        NOW,
    )  # fmt: skip
    try:
        slow = asyncio.create_task(engine.briefer.process_entry(quake))
        assert await asyncio.to_thread(arrived.wait, 5), "the quake never reached the model"
        ferry_id = await asyncio.wait_for(engine.briefer.process_entry(ferry), 5)
        assert not slow.done()
        briefed = store.get_briefing(ferry_id or "")
        assert briefed is not None and "night ferry" in briefed.headline
        release.set()
        quake_id = await asyncio.wait_for(slow, 5)
        saved = store.get_briefing(quake_id or "")
        assert saved is not None and saved.condenser == "llm"
        assert len(engine.briefer.story_locks) == 0  # nothing kept once both stories are done
    finally:
        release.set()
        await engine.aclose()
        store.close()


async def test_stories_condensed_at_once_share_the_budget(local_server: LocalServer) -> None:
    # Two stories reach the model at the same time with room for one request today:
    # the second must count the first's request in flight, not just what is spent.
    arrived, release, needed = held_answers(local_server)
    condenser = LLMCondenser(llm_settings(local_server, llm_daily_tokens=needed + needed // 2))
    try:
        first = asyncio.create_task(condenser.acondense("quake001", MATERIAL, NOW))
        assert await asyncio.to_thread(arrived.wait, 5)
        second = await condenser.acondense("quake002", MATERIAL, NOW)
        assert second.condenser == "extractive"
        assert condenser.outcomes["budget"] == 1
        release.set()
        assert (await first).condenser == "llm"
        assert len(calls(local_server)) == 1
        # Once the first answer is in (20 tokens spent), there is room again.
        third = await condenser.acondense("quake003", MATERIAL, NOW)
        assert third.condenser == "llm"
    finally:
        release.set()
