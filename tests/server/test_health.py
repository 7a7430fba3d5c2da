"""Liveness and readiness of a running service, on both backends: /readyz tells a load
balancer whether this instance can take calls, and says what is missing when not."""

from __future__ import annotations

from pathlib import Path

import httpx

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
