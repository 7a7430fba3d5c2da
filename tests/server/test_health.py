"""Liveness and readiness of a running service, on both backends: /readyz tells a load
balancer whether this instance can take calls, and says what is missing when not."""

from __future__ import annotations

import gc
import re
from pathlib import Path

import httpx

from ringpush.gc_pauses import YOUNG_THRESHOLD, GcPauseMonitor
from ringpush.server.service import RingpushService, ServeSettings
from tests.conftest import create_database, drop_database
from tests.postgres_server import PostgresServer


async def test_a_running_instance_is_live_and_ready(database_url: str, tmp_path: Path) -> None:
    service = RingpushService(ServeSettings(port=0, database=database_url, state_dir=tmp_path))
    await service.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}") as http:
            assert (await http.get("/healthz")).json() == {"status": "ok"}
            ready = await http.get("/readyz")
            assert ready.status_code == 200
            assert ready.json() == {
                "status": "ready",
                "checks": {"database": "ok", "delivery": "ok", "call_events": "ok"},
                "lanes": {},
            }
    finally:
        await service.stop()


async def test_an_instance_that_lost_its_database_is_not_ready(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    url = await create_database(postgres)
    service = RingpushService(ServeSettings(port=0, database=url, state_dir=tmp_path))
    await service.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}") as http:
            assert (await http.get("/readyz")).status_code == 200
            await drop_database(postgres, url)  # ends every connection, for good
            ready = await http.get("/readyz")
            assert ready.status_code == 503
            body = ready.json()
            assert body["status"] == "unavailable"
            assert body["checks"]["database"].startswith("unavailable")
            assert body["checks"]["delivery"] == "ok"
            assert (await http.get("/healthz")).status_code == 200  # alive, just not ready
    finally:
        await service.stop()


async def test_a_running_instance_shows_its_loop_lag_and_collector_pauses(
    database_url: str, tmp_path: Path
) -> None:
    service = RingpushService(ServeSettings(port=0, database=database_url, state_dir=tmp_path))
    await service.start()
    try:
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD  # set once it had started
        gc.collect()  # a full collection, as any thread of the process could cause
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}") as http:
            text = (await http.get("/metrics")).text
        assert re.search(r'ringpush_gc_pause_seconds_count\{generation="2"\} [1-9]', text)
        assert re.search(r"ringpush_event_loop_lag_seconds_count [1-9]", text)
    finally:
        await service.stop()
    # The stopped service no longer listens to the collector.
    assert not [
        cb for cb in gc.callbacks if isinstance(getattr(cb, "__self__", None), GcPauseMonitor)
    ]
