"""Waiting for APNs's first answers to freshly queued pushes (for synchronous API replies)."""

from __future__ import annotations

import asyncio

from ringpush.delivery.answers import Answer, PushAnswers
from ringpush.registry.outbox_models import OutboxPush
from ringpush.registry.store import Registry


async def first_outcomes(
    registry: Registry,
    answers: PushAnswers,
    pushes: list[OutboxPush],
    wait_seconds: float,
) -> list[OutboxPush]:
    """The pushes as they stand once each got its first answer, or when time is up.

    Answers recorded by this instance arrive in memory with the push's new state, so
    waiting for them reads nothing; the rows of the others (answered by another instance,
    or not answered in time) are read in one query.
    """
    if not pushes:
        return []
    waits: list[asyncio.Future[Answer]] = [answers.watch(p.push_id) for p in pushes]
    if not all(wait.done() for wait in waits):
        await asyncio.wait(waits, timeout=wait_seconds)
    known: dict[str, OutboxPush] = {}
    unknown: list[str] = []
    for push, wait in zip(pushes, waits, strict=True):
        answer = wait.result() if wait.done() else None
        if answer is not None:
            known[push.push_id] = answer
        else:
            unknown.append(push.push_id)
            if not wait.done():
                answers.unwatch(push.push_id, wait)
    if unknown:
        known.update((row.push_id, row) for row in await registry.outbox.get_many(unknown))
    return [known[p.push_id] for p in pushes if p.push_id in known]
