"""Slack request signatures already applied, so that a replayed signed request (bolt
accepts one for five minutes) runs once. Split out of app.py to keep it small."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

# Slack signs a request with its timestamp and bolt accepts timestamps up to five
# minutes off (https://api.slack.com/authentication/verifying-requests-from-slack):
# a signature seen once is refused for that long after its timestamp, either side.
REPLAY_WINDOW = 5 * 60.0
MAX_REPLAY_KEYS = 100_000


class ReplayGuard:
    """Signatures of requests already applied, kept for the window in which bolt would
    accept them again. In memory: bounded by the traffic Slack itself signs (an
    unsigned or stale request never gets here)."""

    def __init__(
        self, *, clock: Callable[[], float] = time.time, max_keys: int = MAX_REPLAY_KEYS
    ) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self._seen: OrderedDict[str, float] = OrderedDict()

    def first_use(self, signature: str, timestamp: str) -> bool:
        """True the first time a signature is seen (and records it)."""
        now = self.clock()
        while self._seen:
            oldest, expires = next(iter(self._seen.items()))
            if expires > now and len(self._seen) < self.max_keys:
                break
            del self._seen[oldest]
        if signature in self._seen:
            return False
        try:
            stamp = float(timestamp)
        except ValueError:
            stamp = now
        # Accepted up to the window after its timestamp (or after now, for a clock that
        # runs behind Slack's): remembered until both have passed.
        self._seen[signature] = max(stamp, now) + REPLAY_WINDOW
        return True

    def __len__(self) -> int:
        return len(self._seen)
