"""Waiting for APNs's first answers to freshly queued pushes (for synchronous API replies)."""

from __future__ import annotations

import asyncio
import contextlib

from ringpush.delivery.worker import DeliveryWorker
from ringpush.registry.outbox_models import OutboxPush
from ringpush.registry.store import Registry


async def first_outcomes(
    registry: Registry,
    worker: DeliveryWorker,
    pushes: list[OutboxPush],
    wait_seconds: float,
) -> list[OutboxPush]:
    """The pushes' rows once each got its first answer, or when time is up.

    The worker signals each answer in memory, so waiting costs no database reads.
    """
    if pushes:
        waits = [worker.watch(p.push_id) for p in pushes]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*waits), wait_seconds)
        for wait in waits:
            wait.cancel()
    rows = [await registry.outbox.get(p.push_id) for p in pushes]
    return [row for row in rows if row is not None]
