"""Health and metrics as an operator meets them: ``signaldesk healthcheck`` on real
database files, and ``/healthz``, ``/readyz`` and ``/metrics`` scraped over HTTP from a
desk that has polled a feed, posted and answered commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlite_utils import Database

from adapters.main import main
from adapters.metrics import MetricsServer
from adapters.testing import TestDesk
from storage import SqliteStore
from storage.migrations import migrations
from tests.support.news import VALLEY_FERRY as FERRY
from tests.support.news import VALLEY_RSS as RSS


def healthcheck(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], database: Path
) -> tuple[int, str]:
    monkeypatch.setenv("SIGNALDESK_DATABASE", str(database))
    status = main(["healthcheck"])
    out, err = capsys.readouterr()
    return status, (out + err).strip()


def beat(database: Path, *, ago: float, platforms: dict[str, str] | None = None) -> None:
    store = SqliteStore.open(database)
    try:
        store.record_heartbeat(
            datetime.now(UTC) - timedelta(seconds=ago),
            pid=4242,
            version="0.1.0",
            platforms=platforms or {"slack": "up"},
        )
    finally:
        store.close()


def test_healthcheck_tells_a_live_service_from_a_stopped_or_broken_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    database = tmp_path / "signaldesk.db"

    status, line = healthcheck(monkeypatch, capsys, database)
    assert status == 1 and "does not exist" in line and "SIGNALDESK_DATABASE" in line
    assert not database.exists(), "a health check must never create the database"

    SqliteStore.open(database).close()
    status, line = healthcheck(monkeypatch, capsys, database)
    assert (status, line) == (
        1,
        "signaldesk: error: unhealthy: the service has not run against this database "
        "yet (no heartbeat)",
    )

    beat(database, ago=3)
    status, line = healthcheck(monkeypatch, capsys, database)
    assert status == 0 and line.startswith("healthy: signaldesk 0.1.0 (pid 4242) ticked")
    assert "slack up" in line

    beat(database, ago=600)
    status, line = healthcheck(monkeypatch, capsys, database)
    assert status == 1 and "last ticked 600 s ago (pid 4242): it is stopped or hung" in line

    beat(database, ago=1, platforms={"slack": "rejected the token (check SLACK_BOT_TOKEN)"})
    status, line = healthcheck(monkeypatch, capsys, database)
    assert status == 1 and "slack: rejected the token (check SLACK_BOT_TOKEN)" in line


def test_healthcheck_refuses_a_database_from_before_an_upgrade_or_a_broken_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    old = tmp_path / "old.db"
    db = Database(old)
    migrations.apply(db, stop_before="m015_service_heartbeat")
    db.close()
    status, line = healthcheck(monkeypatch, capsys, old)
    assert status == 1
    assert "not migrated to this version (" in line and "pending, first m015" in line
    assert "\n" not in line

    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database" * 100)
    status, line = healthcheck(monkeypatch, capsys, broken)
    assert status == 1 and "not a readable SQLite database" in line
    assert "Traceback" not in line


def _families(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            found.setdefault(sample.name, {})[key] = sample.value
    return found


async def test_metrics_page_counts_the_work_a_desk_did() -> None:
    async with TestDesk() as desk:
        url = desk.site.serve("/valley.xml", RSS)
        await desk.push(f"/brief feed add {url} Valley Post")
        desk.pop()
        await desk.poll()
        assert any(p.text == FERRY for p in desk.posts)
        await desk.push("/brief search ferry")
        desk.pop()
        engine, store = desk.desk.engine, desk.desk.store

        async def snapshot():  # type: ignore[no-untyped-def]
            return await engine.db.first(store.metrics_snapshot, engine.clock.now())

        async def liveness() -> list[str]:
            return desk.desk.liveness()

        server = MetricsServer(
            ("127.0.0.1", 0),
            engine.telemetry,
            snapshot=snapshot,
            liveness=liveness,
            readiness=desk.desk.readiness,
        )
        await server.start()
        try:
            base = f"http://127.0.0.1:{server.port}"
            async with httpx.AsyncClient(base_url=base) as client:
                # The scheduler has not ticked: not alive yet, and it says why.
                healthz = await client.get("/healthz")
                assert healthz.status_code == 503 and healthz.text.strip()
                engine.heartbeat.beat(engine.clock.now())
                assert (await client.get("/healthz")).text == "ok\n"
                assert (await client.get("/readyz")).status_code == 200
                page = await client.get("/metrics")
        finally:
            await server.stop()

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/plain")
    metrics = _families(page.text)
    assert metrics["signaldesk_feeds"][(("health", "ok"),)] == 1
    assert metrics["signaldesk_feeds"][(("health", "failing"),)] == 0
    assert metrics["signaldesk_fetches_total"][(("outcome", "new"),)] == 1
    assert metrics["signaldesk_entries_briefed_total"][()] == 2
    assert metrics["signaldesk_outbox"][(("state", "sent"),)] == 2
    assert metrics["signaldesk_deliveries_total"][(("outcome", "post"),)] == 2
    assert metrics["signaldesk_channels"][()] == 1
    searches = metrics["signaldesk_command_seconds_count"][(("command", "search"),)]
    assert searches == 1
    assert (
        metrics["signaldesk_command_seconds_bucket"][(("command", "search"), ("le", "+Inf"))] == 1
    )
    assert metrics["signaldesk_poll_lag_seconds"][()] >= 0


async def test_a_feed_no_channel_follows_is_neither_failing_nor_overdue() -> None:
    # A URL refused by feed add (a 404), and a feed a channel then removed, stay in the
    # feeds table but are never polled: the dashboard must not show them failing and
    # the poll lag must not grow with them.
    async with TestDesk() as desk:
        url = desk.site.serve("/valley.xml", RSS)
        await desk.push(f"/brief feed add {url}")
        await desk.push(f"/brief feed add {desk.site.base}/moved.xml")
        assert "not added" in desk.pop() + desk.pop()
        desk.clock.advance(hours=6)  # every feed is long overdue now
        await desk.poll()
        snapshot = desk.desk.store.metrics_snapshot(desk.clock.now())
        assert snapshot.feeds_by_health == {"ok": 1, "failing": 0, "not fetched": 0}
        assert snapshot.poll_lag_seconds == 0

        await desk.push("/brief feed remove 1")
        desk.pop()
        desk.clock.advance(hours=6)
        snapshot = desk.desk.store.metrics_snapshot(desk.clock.now())
        assert snapshot.feeds_by_health == {"ok": 0, "failing": 0, "not fetched": 0}
        assert snapshot.poll_lag_seconds == 0
