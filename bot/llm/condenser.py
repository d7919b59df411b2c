"""The optional LLM condenser: a story's reports -> a briefing, written by a model.

Any OpenAI-compatible chat-completions endpoint works, hosted or local (vLLM, Ollama,
llama.cpp's server): ``SIGNALDESK_LLM_BASE_URL``, ``SIGNALDESK_LLM_MODEL`` and
``SIGNALDESK_LLM_API_KEY``. The model is asked for the full briefing format as JSON
(:mod:`bot.llm.prompt`): with ``response_format`` and the answer's JSON schema where the
server accepts it, else plain JSON mode, else the prompt alone; at most
``SIGNALDESK_LLM_MAX_TOKENS`` tokens an answer.

A model's answer is a claim, not a fact. It must arrive within
``SIGNALDESK_LLM_TIMEOUT`` seconds as a successful HTTP answer and parse as a JSON
object with a headline; then each field (headline, lead, each bullet, each section) is
checked against the sources it cites (:mod:`bot.llm.checks`) and one that fails is
replaced by the extractive briefing's (:func:`bot.llm.answer.merge_answer`). Anything
else, and any request that would overrun the daily token budget
(``SIGNALDESK_LLM_DAILY_TOKENS``, never sent), yields the extractive briefing instead.
The condenser never raises for a failed, slow or wrong endpoint.

Only new material is sent: the answer for a story is cached with a hash of the
material it was made from, and the same material is never sent twice. Token usage is
counted per UTC day in memory and, when a :class:`~bot.ports.UsageStore` is given,
persisted through the store's writer thread so a restart keeps the budget; each
request's tokens are reserved there before it is sent, so that every process on one
database counts what the others have in flight (``UsageStore.reserve_llm_tokens``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, Protocol, TypeVar

import httpx

from ..condense import ExtractiveCondenser
from ..models import Briefing, SourceText
from ..ports import Condenser, UsageStore
from ..settings import Settings
from .answer import LLMError, merge_answer, parse_answer
from .prompt import RESPONSE_SCHEMA, build_messages

__all__ = ["LLMCondenser", "TokenUsage", "material_digest"]

log = logging.getLogger("signaldesk.llm")

P = ParamSpec("P")
T = TypeVar("T")

MAX_COMPLETION_TOKENS = 1500  # the default of SIGNALDESK_LLM_MAX_TOKENS
CHARS_PER_TOKEN = 4  # the usual English estimate, for budgeting before the request
CACHE_SIZE = 2048  # stories whose last answer is remembered
# What response_format asks, in the order tried: a server that refuses one gets the next.
_FORMATS: list[dict[str, Any] | None] = [
    {"type": "json_schema", "json_schema": {"name": "briefing", "strict": True,
                                            "schema": RESPONSE_SCHEMA}},
    {"type": "json_object"},
    None,
]  # fmt: skip


class StoreCall(Protocol):
    """Runs a store method off the event loop (``storage.database.StoreRunner``)."""

    async def __call__(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T: ...


async def _in_thread(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    # Without the engine's runner (tests, batch tools) a store of its own is called here.
    return await asyncio.to_thread(fn, *args, **kwargs)


@dataclass
class TokenUsage:
    """Tokens spent on one UTC day."""

    day: str
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def material_digest(material: Sequence[SourceText]) -> str:
    """A hash of what would be sent for ``material``: equal digests, equal requests."""
    h = hashlib.sha256()
    for m in material:
        for part in (m.source.publisher, m.source.title, m.source.url or "", m.text):
            h.update(part.encode())
            h.update(b"\x00")
    return h.hexdigest()


def _estimate(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


# ----------------------------------------------------------------- condenser


class LLMCondenser:
    """Condenses through an OpenAI-compatible chat-completions API; the extractive
    condenser whenever the answer cannot be trusted (see the module docstring).

    Implements both ``bot.ports.Condenser`` (``condense``, blocking) and
    ``bot.ports.AsyncCondenser`` (``acondense``, what the engine awaits).

    ``client``: an ``httpx.AsyncClient`` to send requests with (its owner closes it; it
    must be used from one event loop); by default each request opens its own, which
    costs nothing beside a model's answer time. ``usage_store`` and ``run_store``: where
    token usage is persisted, and the runner that calls it on the store's thread.
    """

    name = "llm"

    def __init__(
        self,
        settings: Settings,
        *,
        fallback: Condenser | None = None,
        client: httpx.AsyncClient | None = None,
        usage_store: UsageStore | None = None,
        run_store: StoreCall | None = None,
    ) -> None:
        if not settings.llm_base_url:
            raise ValueError("LLMCondenser needs SIGNALDESK_LLM_BASE_URL")
        self.url = settings.llm_base_url.rstrip("/") + "/chat/completions"
        self.model = settings.llm_model
        self.timeout = settings.llm_timeout
        self.daily_tokens = settings.llm_daily_tokens
        self._api_key = settings.llm_api_key
        self._user_agent = settings.user_agent
        self.fallback = fallback or ExtractiveCondenser()
        self._client = client
        self._usage_store = usage_store
        self._run_store: StoreCall = run_store or _in_thread
        self._usage: TokenUsage | None = None
        # Tokens promised to requests still in flight: stories are condensed at the
        # same time, and each must see what the others may still spend.
        self._reserved = 0
        self.max_tokens = settings.llm_max_tokens
        self._format = 0  # index into _FORMATS; moves on for good when the server refuses
        # briefing id -> (material digest, the answer's briefing, or None if it failed)
        self._cache: OrderedDict[str, tuple[str, Briefing | None]] = OrderedDict()
        self.outcomes: Counter[str] = Counter()  # "llm", "cached", or a fallback reason
        # Per field of the answers used: "<field>: <first problem>" for each refused one,
        # and "passed" / "refused" counts, for the bench and the logs.
        self.field_failures: Counter[str] = Counter()
        self.fields: Counter[str] = Counter()

    # ------------------------------------------------------------ public

    def condense(self, briefing_id: str, material: Sequence[SourceText], now: datetime) -> Briefing:
        """Blocking form, for callers without an event loop (a thread, a batch tool).
        Inside a running loop, await :meth:`acondense` instead."""
        return asyncio.run(self.acondense(briefing_id, material, now))

    async def acondense(
        self, briefing_id: str, material: Sequence[SourceText], now: datetime
    ) -> Briefing:
        """A story's reports (first report first) -> its briefing: the model's when it
        passes every check, else the extractive one. Never raises for the endpoint."""
        try:
            return await self._condense(briefing_id, material, now)
        except LLMError as exc:
            self.outcomes[exc.reason] += 1
            log.warning("LLM briefing %s not used (%s); condensing extractively", briefing_id, exc)
        except Exception:  # a condenser must never stop the poll path
            self.outcomes["error"] += 1
            log.exception("LLM briefing %s failed; condensing extractively", briefing_id)
        return await asyncio.to_thread(self.fallback.condense, briefing_id, material, now)

    async def usage(self, now: datetime) -> TokenUsage:
        """Tokens spent today (UTC), including what the usage store recorded earlier."""
        day = now.astimezone(UTC).date().isoformat()
        if self._usage is None or self._usage.day != day:
            usage = TokenUsage(day)
            if self._usage_store is not None:
                try:
                    usage.prompt_tokens, usage.completion_tokens = await self._run_store(
                        self._usage_store.llm_usage, day
                    )
                except Exception:  # the budget then counts from zero; condensing goes on
                    log.exception("reading LLM usage for %s failed", day)
            self._usage = usage
        return self._usage

    # ----------------------------------------------------------- internal

    async def _condense(
        self, briefing_id: str, material: Sequence[SourceText], now: datetime
    ) -> Briefing:
        if not material:
            raise LLMError("no-material")
        digest = material_digest(material)
        cached = self._cache.get(briefing_id)
        if cached is not None and cached[0] == digest:
            # The same material was sent before: its answer (or its failure) stands.
            self._cache.move_to_end(briefing_id)
            if cached[1] is None:
                raise LLMError("unchanged", "the last answer for this material was not usable")
            self.outcomes["cached"] += 1
            return cached[1].model_copy(update={"updated_at": now})
        messages = build_messages(material)
        prompt_estimate = sum(_estimate(m["content"]) for m in messages)
        usage = await self.usage(now)
        needed = prompt_estimate + self.max_tokens
        if usage.total + self._reserved + needed > self.daily_tokens:
            # Not cached: tomorrow's budget may allow the same material.
            raise LLMError(
                "budget",
                f"{usage.total} of {self.daily_tokens} tokens used today"
                + (f", {self._reserved} more in flight" if self._reserved else ""),
            )
        self._reserved += needed  # no await since the check: no one slipped in between
        try:
            reservation = await self._reserve(usage.day, needed, now)
        except LLMError:
            self._reserved -= needed
            raise
        try:
            content = await self._ask(messages, prompt_estimate, now)
            answer = parse_answer(content)
            extractive = await asyncio.to_thread(self.fallback.condense, briefing_id, material, now)
            failures: Counter[str] = Counter()
            try:
                briefing = merge_answer(answer, extractive, material, now, failures)
            finally:
                self.field_failures.update(failures)
                self.fields["refused"] += sum(failures.values())
            self.fields["passed"] += len(briefing.written_by_model)
            if failures:
                log.info(
                    "LLM briefing %s: %d field(s) condensed extractively (%s)",
                    briefing_id,
                    sum(failures.values()),
                    "; ".join(failures),
                )
        except LLMError:
            self._remember(briefing_id, digest, None)
            raise
        finally:
            self._reserved -= needed
            if reservation is not None:
                await self._release(reservation)
        self._remember(briefing_id, digest, briefing)
        self.outcomes["llm"] += 1
        return briefing

    async def _reserve(self, day: str, needed: int, now: datetime) -> int | None:
        """Promise ``needed`` tokens in the usage store too, where every process on the
        database sees them (several processes may condense: ``bot.roles``). None: no
        store, or it failed (the in-memory count above still guards this process)."""
        if self._usage_store is None:
            return None
        until = now + timedelta(seconds=2 * self.timeout + 60)
        try:
            reservation = await self._run_store(
                self._usage_store.reserve_llm_tokens, day, needed, self.daily_tokens, now, until
            )
        except Exception:
            log.exception("reserving LLM tokens failed; counting this process's only")
            return None
        if reservation is None:
            raise LLMError(
                "budget",
                f"{self.daily_tokens} tokens a day: the rest of today's are spent or "
                "promised to requests in flight",
            )
        return reservation

    async def _release(self, reservation: int) -> None:
        store = self._usage_store
        if store is None:
            return
        try:
            await self._run_store(store.release_llm_tokens, reservation)
        except Exception:  # it lapses by itself
            log.exception("releasing LLM token reservation %s failed", reservation)

    def _remember(self, briefing_id: str, digest: str, briefing: Briefing | None) -> None:
        self._cache[briefing_id] = (digest, briefing)
        self._cache.move_to_end(briefing_id)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    async def _ask(
        self, messages: list[dict[str, str]], prompt_estimate: int, now: datetime
    ) -> str:
        """One chat completion within the timeout: the message content."""
        try:
            async with asyncio.timeout(self.timeout):
                if self._client is not None:
                    data = await self._post(self._client, messages)
                else:
                    async with httpx.AsyncClient(timeout=self.timeout) as client:
                        data = await self._post(client, messages)
        except TimeoutError:
            # The server may well have spent the prompt: count it against the budget.
            await self._record(now, prompt_estimate, 0)
            raise LLMError("timeout", f"no answer within {self.timeout:g} s") from None
        except httpx.HTTPStatusError as exc:
            raise LLMError("http", f"HTTP {exc.response.status_code}") from None
        except (httpx.HTTPError, ValueError) as exc:
            raise LLMError("http", str(exc) or type(exc).__name__) from None
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            content = None
        reported = data.get("usage") if isinstance(data, dict) else None
        reported = reported if isinstance(reported, dict) else {}
        prompt = reported.get("prompt_tokens")
        completion = reported.get("completion_tokens")
        await self._record(
            now,
            prompt if isinstance(prompt, int) else prompt_estimate,
            completion if isinstance(completion, int) else _estimate(str(content or "")),
        )
        if not isinstance(content, str) or not content.strip():
            raise LLMError("schema", "the answer has no message content")
        return content

    async def _post(self, client: httpx.AsyncClient, messages: list[dict[str, str]]) -> Any:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": 0,  # a briefing of the sources, not prose: the likeliest reading
            "max_tokens": self.max_tokens,
        }
        headers = {"User-Agent": self._user_agent, "Accept": "application/json"}
        if self._api_key is not None:
            headers["Authorization"] = f"Bearer {self._api_key.get_secret_value()}"
        while True:
            wanted = _FORMATS[self._format]
            if wanted is None:
                payload.pop("response_format", None)
            else:
                payload["response_format"] = wanted
            response = await client.post(self.url, json=payload, headers=headers)
            if (
                response.status_code in (400, 422)
                and wanted is not None
                and ("response_format" in response.text or "json_schema" in response.text)
            ):
                # A server without structured output (or JSON mode): the prompt still
                # asks for the JSON, and the answer is checked either way.
                self._format += 1
                log.info("%s refused response_format %s; asking with the next", self.url,
                         wanted["type"])  # fmt: skip
                continue
            response.raise_for_status()
            return response.json()

    async def _record(self, now: datetime, prompt_tokens: int, completion_tokens: int) -> None:
        usage = await self.usage(now)
        usage.prompt_tokens += prompt_tokens
        usage.completion_tokens += completion_tokens
        if self._usage_store is None:
            return
        try:
            await self._run_store(
                self._usage_store.add_llm_usage, usage.day, prompt_tokens, completion_tokens, now
            )
        except Exception:  # the in-memory count still guards today's budget
            log.exception("recording LLM usage failed")
