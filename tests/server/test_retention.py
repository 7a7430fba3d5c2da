"""A running instance deletes finished work older than its retention, on both backends,
and counts what it deleted in /metrics."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.registry.outbox_models import OutboxPush, PushState
from ringpush.server.service import RingpushService, ServeSettings


def queued(call_id: str, at: datetime) -> OutboxPush:
    later = datetime.now(UTC) + timedelta(days=365)  # never due while the test runs
    return OutboxPush(
        push_id=str(uuid.uuid4()), app_id="demo", user_id="bob", device_id="phone",
        push_type=PushType.VOIP, environment=Environment.DEVELOPMENT, token="ab" * 32,
        apns_id=str(uuid.uuid4()), payload=b"{}", state=PushState.PENDING,
        next_attempt_at=later, created_at=at, updated_at=at, call_id=call_id,
    )  # fmt: skip


async def test_an_instance_sweeps_finished_work_older_than_its_retention(
    database_url: str, tmp_path: Path
) -> None:
    settings = ServeSettings(
        port=0,
        database=database_url,
        state_dir=tmp_path,
        retention_days=1,
        retention_sweep_seconds=0.05,
    )
    service = RingpushService(settings)
    await service.start()
    try:
        registry = service.registry
        assert registry is not None
        long_ago = datetime.now(UTC) - timedelta(days=3)
        old, waiting = queued("old", long_ago), queued("waiting", long_ago)
        await registry.outbox.enqueue([old, waiting])
        assert await registry.outbox.withdraw_call("demo", "old", long_ago) == 1
        url = f"http://127.0.0.1:{service.port}"
        async with httpx.AsyncClient(base_url=url) as http:
            for _ in range(200):
                text = (await http.get("/metrics")).text
                if 'ringpush_retention_deleted_total{kind="pushes"} 1.0' in text:
                    break
                await asyncio.sleep(0.05)
            assert 'ringpush_retention_deleted_total{kind="pushes"} 1.0' in text
        assert await registry.outbox.get(old.push_id) is None
        kept = await registry.outbox.get(waiting.push_id)  # old, but not finished
        assert kept is not None and kept.state is PushState.PENDING
    finally:
        await service.stop()
