"""A real ``signaldesk run`` process against local servers: start it and wait for it.
Used by the ``slow`` tests that kill it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Fifteen unrelated invented stories, so that none clusters with another: each is one
# briefing, posted once per subscribed channel.
STORIES = [
    ("Tram line to Eastfield opens", "Trams began running to Eastfield on Monday morning."),
    ("Orchard growers report record pear harvest", "Growers picked 41,000 tonnes of pears."),
    ("Library lends its millionth e-book", "The city library reached the mark on Sunday."),
    ("Stadium roof repairs finish early", "Crews completed the stadium roof in nine weeks."),
    ("Chess prodigy, 12, wins national title", "She won all nine of her tournament games."),
    ("Bakery chain recalls rye loaves", "Labels on the loaves omitted a sesame warning."),
    ("Volcano observatory raises alert level", "Tremors under the summit rose overnight."),
    ("Rowing club celebrates its centenary", "Members raced a replica of a 1926 boat."),
    ("Glacier museum opens ice cave tours", "Visitors can walk 200 metres into the ice."),
    ("Ferry operator adds a night crossing", "The new sailing leaves the harbour at 23:40."),
    ("Beekeepers count fewer hives after frost", "A late frost killed one colony in five."),
    ("Astronomers name a comet after a teacher", "The comet passes closest in August."),
    ("Violin maker restores a 1742 instrument", "The restoration took three years of work."),
    ("Marathon route moves to the river path", "Runners will avoid the closed avenue."),
    ("Seed bank stores its rarest wheat", "The vault now holds 80 samples of emmer."),
]


def starts(log: Path) -> int:
    """How many runs of the service have said they are running in ``log``."""
    return log.read_text().count("Ctrl-C stops") if log.exists() else 0


async def start_service(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "adapters.main",
            "run",
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )


async def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    """Poll ``condition`` (the fake Slack runs on this loop meanwhile) for ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.02)
    return False
