"""What the service counts about itself, for ``/metrics`` and ``signaldesk healthcheck``.

The core keeps plain counters (no metrics library: the adapter that serves
``/metrics`` turns them into Prometheus families, ``adapters/metrics.py``). Counts of
work in the database — feeds by health, the outbox by state — are not kept here: they
are read from the store when scraped (``StoreSnapshot``), so they are right after a
restart.
"""

from __future__ import annotations

import bisect
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from .models import ServiceBeat

# Seconds: a command answered from the database is milliseconds; one that fetches (feed
# add) may take the whole fetch timeout.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class Histogram:
    """Cumulative-bucket histogram, the shape Prometheus exposes."""

    bounds: tuple[float, ...] = LATENCY_BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    total: float = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[float, int]]:
        """``(upper bound, observations at or below it)``, ending with +inf."""
        running, out = 0, []
        for bound, n in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out


class Telemetry:
    """Counters the stages bump as they work. Thread-safe: the store thread and the
    event loop both report."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.fetches: Counter[str] = Counter()  # outcome: new, unchanged, failed
        self.entries_briefed = 0
        self.deliveries: Counter[str] = Counter()  # outcome: posted, updated, ...
        self.delivery_errors: Counter[str] = Counter()  # reason
        self.commands: dict[str, Histogram] = {}

    def fetched(self, outcome: str) -> None:
        with self._lock:
            self.fetches[outcome] += 1

    def briefed(self, count: int = 1) -> None:
        with self._lock:
            self.entries_briefed += count

    def delivered(self, outcome: str) -> None:
        with self._lock:
            self.deliveries[outcome] += 1

    def delivery_failed(self, exc: Exception) -> None:
        """Counted by the platform's error code where it gives one (Slack's
        ``not_in_channel``), else by kind: retryable, maybe sent, permanent."""
        code = getattr(exc, "code", None)
        if not isinstance(code, str) or not code:
            if getattr(exc, "maybe_sent", False):
                code = "maybe sent"
            else:
                code = "retryable" if getattr(exc, "retryable", True) else "permanent"
        with self._lock:
            self.delivery_errors[_label(code)] += 1

    def command_took(self, command: str, seconds: float) -> None:
        with self._lock:
            self.commands.setdefault(_label(command), Histogram()).observe(seconds)


def _label(text: str) -> str:
    # Label values come from error reasons and command words: keep them few and short
    # (a free-text reason per failure would make a new time series each time).
    word = text.strip().split(":", 1)[0][:40]
    return word or "unknown"


def service_problems(beat: ServiceBeat | None, now: datetime, stale_after: float) -> list[str]:
    """What is wrong with the running service as its heartbeat tells: nothing when it
    ticked within ``stale_after`` seconds and every platform connection is up."""
    if beat is None:
        return ["the service has not run against this database yet (no heartbeat)"]
    problems = []
    age = (now - beat.at).total_seconds()
    if age > stale_after:
        problems.append(
            f"the service's scheduler last ticked {age:.0f} s ago "
            f"(pid {beat.pid}): it is stopped or hung"
        )
    problems.extend(
        f"{platform}: {state}"
        for platform, state in sorted(beat.platforms.items())
        if state != "up"
    )
    return problems


__all__ = ["LATENCY_BUCKETS", "Histogram", "Telemetry", "service_problems"]
