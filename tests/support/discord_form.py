"""Discord's form validation of a message, for the fake REST server: what Discord
refuses with 400 "Invalid Form Body" before posting anything."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

# Discord's embed limits, as its API enforces them: a message breaking one is refused
# whole with 400 "Invalid Form Body" (code 50035) and nothing is posted
# (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
_EMBED_LIMITS = {"title": 256, "description": 4096, "footer": 2048, "name": 256, "value": 1024}


def _embed_problems(embeds: list[dict[str, Any]]) -> dict[str, str]:
    problems: dict[str, str] = {}
    if len(embeds) > 10:
        problems["embeds"] = "Must be 10 or fewer in length."
    total = 0
    for i, embed in enumerate(embeds):
        texts = {
            "title": embed.get("title") or "",
            "description": embed.get("description") or "",
            "footer": (embed.get("footer") or {}).get("text") or "",
        }
        fields = embed.get("fields") or []
        if len(fields) > 25:
            problems[f"embeds.{i}.fields"] = "Must be 25 or fewer in length."
        for j, f in enumerate(fields):
            texts[f"fields.{j}.name"] = f.get("name") or ""
            texts[f"fields.{j}.value"] = f.get("value") or ""
        for where, text in texts.items():
            limit = _EMBED_LIMITS[where.rsplit(".", 1)[-1]]
            if len(text) > limit:
                problems[f"embeds.{i}.{where}"] = f"Must be {limit} or fewer in length."
            total += len(text)
        url = embed.get("url") or ""
        if len(url) > 2048:
            problems[f"embeds.{i}.url"] = "Must be 2048 or fewer in length."
    if total > 6000:
        problems["embeds"] = "Embed size exceeds maximum size of 6000"
    return problems


def invalid_form_body(body: dict[str, Any] | None) -> web.Response | None:
    """The 400 Discord answers to a message over its limits, or None if it is valid."""
    problems = _embed_problems((body or {}).get("embeds") or [])
    if len((body or {}).get("content") or "") > 2000:
        problems["content"] = "Must be 2000 or fewer in length."
    if not problems:
        return None
    errors = {
        k: {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": v}]}
        for k, v in problems.items()
    }
    body = {"message": "Invalid Form Body", "code": 50035, "errors": errors}
    resp = web.Response(status=400, body=json.dumps(body).encode())
    resp.headers["Content-Type"] = "application/json"  # exactly: discord.py checks it
    return resp
