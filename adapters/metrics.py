"""The service's HTTP face for operators: ``/healthz``, ``/readyz`` and Prometheus
``/metrics`` on ``SIGNALDESK_HTTP_METRICS`` (e.g. ``127.0.0.1:9108``).

- ``/healthz`` (liveness): 200 while the scheduler ticks; 503 when it has stopped.
- ``/readyz`` (readiness): 200 when the database answers and every platform
  connection is up; 503 with the reasons, one a line.
- ``/metrics``: the core's counters (``bot.telemetry.Telemetry``) and the work counted
  in the database at scrape time (``StoreSnapshot``), in Prometheus' text format.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from bot.errors import SignalDeskError
from bot.models import StoreSnapshot
from bot.telemetry import Telemetry

log = logging.getLogger(__name__)

Snapshot = Callable[[], Awaitable[StoreSnapshot]]
Problems = Callable[[], Awaitable[list[str]]]


class _Families(Collector):
    """One scrape: the telemetry as it is now, the snapshot just read."""

    def __init__(self, telemetry: Telemetry, snapshot: StoreSnapshot) -> None:
        self.telemetry = telemetry
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        t, s = self.telemetry, self.snapshot
        feeds = GaugeMetricFamily("signaldesk_feeds", "Feeds by health.", labels=["health"])
        for health, n in sorted(s.feeds_by_health.items()):
            feeds.add_metric([health], n)
        yield feeds
        yield GaugeMetricFamily(
            "signaldesk_poll_lag_seconds",
            "How overdue the most overdue feed poll is.",
            value=s.poll_lag_seconds,
        )
        fetches = CounterMetricFamily(
            "signaldesk_fetches", "Feed fetches by outcome.", labels=["outcome"]
        )
        for outcome, n in sorted(t.fetches.items()):
            fetches.add_metric([outcome], n)
        yield fetches
        yield CounterMetricFamily(
            "signaldesk_entries_briefed", "Feed entries briefed.", value=t.entries_briefed
        )
        entries = GaugeMetricFamily(
            "signaldesk_entries", "Entries waiting or given up on.", labels=["state"]
        )
        entries.add_metric(["pending"], s.entries_pending)
        entries.add_metric(["failed"], s.entries_failed)
        yield entries
        outbox = GaugeMetricFamily(
            "signaldesk_outbox", "Outbox rows (posts, updates, digests) by state.", labels=["state"]
        )
        for state, n in sorted(s.outbox_by_state.items()):
            outbox.add_metric([state], n)
        yield outbox
        notices = GaugeMetricFamily(
            "signaldesk_notices", "Feed-health notices by state.", labels=["state"]
        )
        for state, n in sorted(s.notices_by_state.items()):
            notices.add_metric([state], n)
        yield notices
        deliveries = CounterMetricFamily(
            "signaldesk_deliveries", "Messages delivered by outcome.", labels=["outcome"]
        )
        for outcome, n in sorted(t.deliveries.items()):
            deliveries.add_metric([outcome], n)
        yield deliveries
        errors = CounterMetricFamily(
            "signaldesk_delivery_errors", "Failed delivery attempts by reason.", labels=["reason"]
        )
        for reason, n in sorted(t.delivery_errors.items()):
            errors.add_metric([reason], n)
        yield errors
        commands = HistogramMetricFamily(
            "signaldesk_command_seconds", "Time to answer a /brief command.", labels=["command"]
        )
        for command, histogram in sorted(t.commands.items()):
            buckets = [(_bound(b), n) for b, n in histogram.cumulative()]
            commands.add_metric([command], buckets, sum_value=histogram.total)
        yield commands
        yield GaugeMetricFamily("signaldesk_channels", "Channels set up.", value=s.channels)
        yield GaugeMetricFamily(
            "signaldesk_llm_tokens_today",
            "LLM prompt and completion tokens used today (UTC).",
            value=s.llm_tokens_today,
        )


def _bound(value: float) -> str:
    return "+Inf" if value == float("inf") else repr(value)


class MetricsServer:
    """The listener: started with the service, stopped with it."""

    def __init__(
        self,
        address: tuple[str, int],
        telemetry: Telemetry,
        *,
        snapshot: Snapshot,
        liveness: Problems,
        readiness: Problems,
    ) -> None:
        self.address = address
        self.telemetry = telemetry
        self._snapshot = snapshot
        self._liveness = liveness
        self._readiness = readiness
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        return app

    async def start(self) -> None:
        host, port = self.address
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise SignalDeskError(
                f"cannot serve metrics on {host}:{port} ({exc.strerror or exc}): choose "
                "another SIGNALDESK_HTTP_METRICS address"
            ) from None
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port
        log.info("health and metrics on http://%s:%s/metrics", host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        return _status(await self._liveness())

    async def _readyz(self, request: web.Request) -> web.Response:
        return _status(await self._liveness() + await self._readiness())

    async def _metrics(self, request: web.Request) -> web.Response:
        try:
            snapshot = await self._snapshot()
        except SignalDeskError as exc:
            return web.Response(status=503, text=f"{exc}\n")
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Families(self.telemetry, snapshot))
        return web.Response(
            body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )


def _status(problems: list[str]) -> web.Response:
    if problems:
        return web.Response(status=503, text="".join(f"{p}\n" for p in problems))
    return web.Response(text="ok\n")


__all__ = ["MetricsServer"]
