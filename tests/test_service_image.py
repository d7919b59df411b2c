"""The container image's commands, run outside a container as its Dockerfile says:
``ENTRYPOINT``/``CMD`` start the service, ``HEALTHCHECK`` judges it, with the settings
the image sets, secrets from files, JSON logs and the metrics listener on."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.service import ROOT, wait_until

pytestmark = pytest.mark.slow(seconds=6)


def _instruction(name: str) -> list[str]:
    """A JSON-form instruction of the Dockerfile (``CMD ["run"]``), as argv."""
    text = (ROOT / "Dockerfile").read_text()
    text = re.sub(r"\\\n\s*", " ", text)  # continuation lines
    match = re.search(rf"^{name}\s+(?:--\S+\s+)*(?:CMD\s+)?(\[.*\])\s*$", text, re.M)
    assert match, f"Dockerfile has no JSON-form {name}"
    return list(json.loads(match.group(1)))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _image_env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SIGNALDESK_", "SLACK_", "DISCORD_"))
    }
    text = (ROOT / "Dockerfile").read_text()
    assert "SIGNALDESK_DATABASE=/var/lib/signaldesk/signaldesk.db" in text
    return env | {"SIGNALDESK_DATABASE": str(tmp_path / "signaldesk.db")}


def _signaldesk(argv: list[str]) -> list[str]:
    assert argv[0] == "signaldesk"
    return [sys.executable, "-m", "adapters.main", *argv[1:]]


async def test_the_image_commands_run_judge_and_stop_the_service(tmp_path: Path) -> None:
    entry = _instruction("ENTRYPOINT") + _instruction("CMD")
    assert entry == ["signaldesk", "run"]
    health = _instruction("HEALTHCHECK")
    assert health == ["signaldesk", "healthcheck"]

    port = _free_port()
    secret = tmp_path / "llm_api_key"
    secret.write_text("sk-from-a-file\n")
    env = _image_env(tmp_path) | {
        "SIGNALDESK_LOG_FORMAT": "json",
        "SIGNALDESK_HTTP_METRICS": f"127.0.0.1:{port}",
        "SIGNALDESK_LLM_API_KEY_FILE": str(secret),
    }

    def judged() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            _signaldesk(health), capture_output=True, text=True, cwd=tmp_path, env=env
        )

    before = judged()
    assert before.returncode == 1 and "does not exist" in before.stderr

    log = tmp_path / "service.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *_signaldesk(entry),
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    try:
        healthy = await wait_until(lambda: judged().returncode == 0, 30)
        assert healthy, log.read_text()[-2000:]
        assert judged().stdout.startswith("healthy: signaldesk")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/healthz")).status_code == 200
            metrics = await client.get("/metrics")
        assert "signaldesk_feeds{" in metrics.text and "signaldesk_outbox" in metrics.text
    finally:
        stopped_at = time.monotonic()
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)
    assert process.returncode == 0
    assert time.monotonic() - stopped_at < 10, "SIGTERM stops the service within seconds"

    lines = [line for line in log.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line one JSON object
    messages = [r["message"] for r in records]
    assert any("running" in m for m in messages) and any("stopped" in m for m in messages)
    assert "sk-from-a-file" not in log.read_text()
