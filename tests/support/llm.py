"""A fake OpenAI-compatible model on a loopback port (a ``LocalServer`` route) and the
invented two-outlet earthquake story the model tests brief."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bot.models import Source, SourceText
from bot.settings import Settings
from tests.support.http import LocalServer, Request, Response

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

PATH = "/v1/chat/completions"

API_KEY = "sk-test-not-a-real-key"

QUAKE = (
    "A magnitude 6.1 earthquake struck the hill town of Varenna Alta at 04:12 on Monday, "
    "damaging 240 homes and cutting power to 18,000 people. Regional officials said 14 "
    "people were treated in hospital and that no deaths had been reported by midday. The "
    "quake's epicentre lay 9 kilometres south of the town at a depth of 11 kilometres, "
    "according to the national seismology office."
)

QUAKE_2 = (
    "Engineers closed the Varenna viaduct after finding cracks in two of its piers. The "
    "damage means that about 3,000 commuters will need a 40-minute detour until the "
    "viaduct is repaired. The regional government will decide on Friday whether to "
    "request national emergency funds."
)

MATERIAL = [
    SourceText(
        source=Source(
            publisher="Coastline Courier",
            title="Earthquake damages 240 homes in Varenna Alta",
            url="https://courier.example/quake",
        ),
        text=QUAKE,
    ),
    SourceText(
        source=Source(
            publisher="Meridian Daily",
            title="Varenna viaduct closed after quake",
            url="https://meridian.example/viaduct",
        ),
        text=QUAKE_2,
    ),
]


def good_answer(**changes: Any) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "headline": "Magnitude 6.1 earthquake damages 240 homes in Varenna Alta",
        "lead": "A magnitude 6.1 earthquake struck Varenna Alta on Monday, damaging 240 "
        "homes and cutting power to 18,000 people.",
        "bullets": [
            {
                "text": "Regional officials said 14 people were treated in hospital and no "
                "deaths had been reported.",
                "source": 1,
            },
            {
                "text": "Engineers closed the Varenna viaduct after finding cracks in two of "
                "its piers.",
                "source": 2,
            },
            {
                "text": "About 3,000 commuters face a 40-minute detour until the viaduct is "
                "repaired.",
                "source": 2,
            },
        ],
        "what_happened": "The quake struck at 04:12 on Monday, 9 kilometres south of the town.",
        "why_it_matters": "The viaduct closure means a 40-minute detour for commuters.",
        "what_to_watch": "The regional government will decide on Friday whether to request "
        "national emergency funds.",
    }
    answer.update(changes)
    return answer


def completion(content: str, *, prompt_tokens: int = 900, completion_tokens: int = 250) -> Response:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "test-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
    return Response(body=json.dumps(body), headers={"Content-Type": "application/json"})


def llm_settings(server: LocalServer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "llm_base_url": server.url("/v1"),
        "llm_model": "test-model",
        "llm_api_key": API_KEY,
        "llm_timeout": 5.0,
    }
    values.update(overrides)
    return Settings(**values)


def serve(server: LocalServer, answer: dict[str, Any] | str, **usage: int) -> None:
    content = answer if isinstance(answer, str) else json.dumps(answer)
    server.route(PATH, completion(content, **usage))


def calls(server: LocalServer) -> list[Request]:
    return [r for r in server.requests if r.path == PATH]


# --------------------------------------------------------------- good answers
