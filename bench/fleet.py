"""The realistic fleet of ``bench/poll.py``: feeds shaped like the ones a desk follows.

The kind preset (``feedserver.kind_of``) serves 4 kB feeds that mostly answer 304 at
once. Real feeds are larger and slower: 10-100 items, bodies of 5-200 kB, a round trip
of a few hundred milliseconds, a few servers that accept the connection and never
answer, some 404s and 500s. ``Mix`` describes such a fleet; every feed's shape follows
from its number alone (deterministic), so the bench can prime its database with the
validators and items the server will serve, and the server (its own process) can serve
them without being told more than the mix.

Kinds, in thousandths of the fleet (``Mix`` defaults; all configurable):

- ``etag`` (700): answers 304 to its ETag;
- ``static`` (200): no validators, the same body every time (the hash skip's case);
- ``changing`` (50): no validators, 1-3 new items every ``change_every``-th request;
- ``hanging`` (20): accepts the request and never answers;
- ``missing`` (15): 404; ``broken`` (15): 500.

Items are dated from ``base`` (the bench's start), so they fall inside the cluster's
72-hour window and are clustered as new stories are.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

KINDS = ("etag", "static", "changing", "hanging", "missing", "broken")

# Wire-style headlines and paragraphs; a feed's items cycle through them with a place,
# so the clusterer sees many distinct stories, not one repeated headline.
_PLACES = (
    "Rotterdam", "Lagos", "Manila", "Valparaiso", "Gdansk", "Mombasa", "Halifax", "Busan",
    "Antwerp", "Karachi", "Santos", "Aarhus", "Durban", "Tacoma", "Chittagong", "Genoa",
)  # fmt: skip
_HEADLINES = (
    "dock workers walk out over pay as talks with port operator stall",
    "council approves harbour expansion after late-night session",
    "floods close main highway, thousands without power",
    "central bank holds rates, signals cuts could come next year",
    "hospital staff begin 48-hour strike over staffing levels",
    "police arrest three after warehouse fire in industrial district",
    "ferry operator suspends crossings as storm approaches coast",
    "city unveils plan to replace ageing water mains by 2030",
    "court blocks sale of state airline pending review",
    "teachers union accepts revised contract offer",
    "fuel prices climb for third week as refinery stays offline",
    "mayor names new transport chief after months-long search",
)
_PARAGRAPHS = (
    "Union officials said the walkout would continue until the operator returned to the "
    "table with an offer that kept pace with inflation, which has eroded wages for two "
    "years.",
    "A spokesperson for the city said the decision followed months of consultation with "
    "residents and businesses, and that work could begin as early as the spring.",
    "Emergency services said they had received hundreds of calls overnight, most of them "
    "from households in low-lying areas near the river.",
    "Analysts had widely expected the decision, though several noted that the statement "
    "accompanying it was more cautious than in previous months.",
    "The ministry did not respond to a request for comment. Opposition lawmakers called "
    "for an inquiry into how the contract had been awarded.",
    "Officials said it was too early to estimate the cost of the damage, but that "
    "insurers had already begun to assess claims from affected businesses.",
)


@dataclass(frozen=True)
class Mix:
    etag: int = 700
    static: int = 200
    changing: int = 50
    hanging: int = 20
    missing: int = 15
    broken: int = 15
    min_items: int = 10
    max_items: int = 100
    min_kb: float = 5.0
    max_kb: float = 200.0
    min_new: int = 1
    max_new: int = 3
    change_every: int = 1
    rtt_ms: float = 0.0  # median delay before the server answers
    rtt_sigma: float = 0.5  # spread of the log-normal delay
    base: float = 0.0  # epoch seconds items are dated from

    def __post_init__(self) -> None:
        if sum(self.shares()) != 1000:
            raise ValueError(f"the mix's shares must add up to 1000, not {sum(self.shares())}")

    def shares(self) -> list[int]:
        return [getattr(self, kind) for kind in KINDS]

    def dumps(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def loads(cls, text: str) -> Mix:
        return cls(**json.loads(text))

    def kind(self, i: int) -> str:
        slot = (i * 7919) % 1000
        for kind, share in zip(KINDS, self.shares(), strict=True):
            if slot < share:
                return kind
            slot -= share
        return KINDS[-1]

    def items(self, i: int) -> int:
        return self.min_items + (i * 2654435761 >> 7) % (self.max_items - self.min_items + 1)

    def size(self, i: int) -> int:
        """The feed's target body size in bytes: log-uniform between the bounds."""
        u = ((i * 40503) % 1009) / 1008
        return int(1024 * self.min_kb * (self.max_kb / self.min_kb) ** u)

    def new_per_change(self, i: int) -> int:
        return self.min_new + i % (self.max_new - self.min_new + 1)

    def top(self, i: int, version: int) -> int:
        """The number of the newest item at ``version`` (items are numbered from 1)."""
        return self.items(i) + version * self.new_per_change(i)

    def keys(self, i: int) -> list[str]:
        """Entry keys of the items served before any change (the primed state)."""
        return [f"guid:f{i}-s{n}" for n in range(1, self.items(i) + 1)]

    def etag_of(self, i: int) -> str:
        return f'"r{i}-v0"'

    def body(self, i: int, version: int = 0) -> bytes:
        count, top = self.items(i), self.top(i, version)
        per_item = max(120, self.size(i) // count - 420)
        out = []
        for n in range(top, top - count, -1):
            place = _PLACES[(i + n) % len(_PLACES)]
            headline = _HEADLINES[(i * 31 + n) % len(_HEADLINES)]
            text, k = [], n
            while sum(map(len, text)) < per_item:
                text.append(_PARAGRAPHS[k % len(_PARAGRAPHS)])
                k += 1
            when = datetime.fromtimestamp(self.base + (n - count) * 300, UTC)
            out.append(
                f"<item><title>{place}: {headline.capitalize()}</title>"
                f"<link>https://news{i % 500}.example/{i}/{n}</link>"
                f"<guid isPermaLink='false'>f{i}-s{n}</guid>"
                f"<pubDate>{format_datetime(when, usegmt=True)}</pubDate>"
                f"<description>{' '.join(text)[:per_item]}</description></item>"
            )
        return (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Desk feed {i}</title><link>https://news{i % 500}.example/</link>"
            f"<description>Feed {i}</description>{''.join(out)}</channel></rss>"
        ).encode()

    def body_hash(self, i: int) -> str:
        return hashlib.sha256(self.body(i)).hexdigest()

    def delay(self, rng: random.Random) -> float:
        """Seconds before an answer: log-normal around the median round trip."""
        if self.rtt_ms <= 0:
            return 0.0
        return self.rtt_ms / 1000 * math.exp(self.rtt_sigma * rng.gauss(0.0, 1.0))
