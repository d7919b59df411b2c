"""Golden files for Discord payloads, and the briefings they are rendered from.

``assert_golden(name, payload)`` compares with ``tests/golden/discord/<name>.json``;
run with ``UPDATE_GOLDEN=1`` to rewrite the files after an intended change (then review
the diff). Volatile values (nonces are deterministic and stay; message timestamps do not
appear in request payloads) need no masking.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.models import Briefing, Bullet, RelatedRef, Source
from tests.support import golden_files
from tests.support.hostile import DISCORD_HOSTILE, DISCORD_HOSTILE_URLS

T0 = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)


def assert_golden(name: str, payload: Any) -> None:
    """``payload`` must equal ``tests/golden/discord/<name>.json``."""
    golden_files.assert_golden(f"discord/{name}.json", payload)


def sample_briefing(**changes: Any) -> Briefing:
    """A normal two-source briefing."""
    data: dict[str, Any] = {
        "id": "k7q2xw4m",
        "headline": "Chinese labs cross the trillion-parameter line on domestic chips",
        "lead": "Two Chinese AI labs released trillion-parameter models trained on "
        "domestically made accelerators, a first for the industry.",
        "bullets": [
            Bullet(text="Xiling and Jingwei report models above a trillion parameters.", source=0),
            Bullet(text="Training ran on domestic accelerators, not imported GPUs.", source=1),
            Bullet(text="Both labs promise open weights within the quarter.", source=0),
        ],
        "what_happened": "Xiling published its model on Monday; Jingwei followed a day later.",
        "why_it_matters": "Export controls were meant to slow exactly this.",
        "what_to_watch": "Independent benchmarks, and whether the weights ship.",
        "sources": [
            Source(
                publisher="Harbor Tech",
                title="China AI labs cross line",
                url="https://harbor.example/ai",
            ),
            Source(
                publisher="Meridian Daily",
                title="Domestic chips power models",
                url="https://meridian.example/chips?id=7",
            ),
        ],
        "topics": ["china-ai", "chips"],
        "related": [RelatedRef(id="b3rq9zza", headline="Export rules tightened", created_at=T0)],
        "created_at": T0,
        "updated_at": T0,
    }
    data.update(changes)
    return Briefing(**data)


# The hostile strings live in the shared corpus (tests/hostile.py); these two are the
# ones the golden files were rendered from.
HOSTILE = DISCORD_HOSTILE
HOSTILE_URLS = DISCORD_HOSTILE_URLS


def hostile_briefing() -> Briefing:
    """Feed text at its worst: mentions, masked links, markdown, invisible and bidi
    characters, dangerous URLs and a 100 KB title. Built with ``model_construct`` so the
    renderer sees what the model's own limits would otherwise stop."""
    huge = ("A" * 9 + " ") * 10_000  # 100 KB, with words to cut at
    sources = [Source(publisher=HOSTILE, title=HOSTILE, url=url) for url in HOSTILE_URLS]
    sources.append(Source(publisher=huge, title=huge, url="https://ok.example/" + "p" * 3000))
    sources += [
        Source(publisher=f"Outlet {i} {HOSTILE}", title=huge[:5000], url=f"https://o{i}.example/")
        for i in range(60)
    ]
    return Briefing.model_construct(
        id="h0st1l3x",
        story_id=None,
        headline=huge + HOSTILE,
        lead=HOSTILE + " " + huge,
        bullets=[Bullet.model_construct(text=HOSTILE + huge, source=0, sentence="")] * 3,
        what_happened=HOSTILE + "\n# heading\n- item\n" + huge,
        why_it_matters=HOSTILE,
        what_to_watch=huge,
        sources=sources,
        topics=[HOSTILE, "chips"],
        related=[RelatedRef(id="r3l4t3d0", headline=HOSTILE + huge, created_at=T0)],
        created_at=T0,
        updated_at=T0,
        revision=2,
        condenser="extractive",
    )
