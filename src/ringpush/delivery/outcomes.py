"""Waiting for APNs's first answers to freshly queued pushes (for synchronous API replies)."""

from __future__ import annotations

import asyncio

from ringpush.registry.outbox_models import OutboxPush
from ringpush.registry.sqlite import SqliteRegistry


async def first_outcomes(
    registry: SqliteRegistry, pushes: list[OutboxPush], wait_seconds: float
) -> list[OutboxPush]:
    """The pushes' rows once each is final or has a first answer, or when time is up."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        rows = [await registry.outbox.get(p.push_id) for p in pushes]
        current = [row for row in rows if row is not None]
        if all(row.state.final or row.status is not None for row in current):
            return current
        if loop.time() >= deadline:
            return current
        await asyncio.sleep(0.005)
