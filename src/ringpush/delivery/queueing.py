"""Turning a device and a payload into an outbox row, and handing rows to delivery: one
place for every kind of push."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from ringpush.apns.push_type import PushType
from ringpush.registry.models import Device
from ringpush.registry.outbox_models import OutboxPush, PushState, Urgency


class Dispatcher(Protocol):
    """What a request that stores pushes needs of the delivery engine."""

    def wake(self) -> None:
        """Pending pushes were stored: claim them now rather than at the next poll."""

    def claim_until(self) -> datetime | None:
        """A lease to store new pushes under, already claimed, then :meth:`deliver`
        them; None: store them pending and :meth:`wake`."""

    async def deliver(self, pushes: Sequence[OutboxPush]) -> None:
        """Send pushes stored under :meth:`claim_until`'s lease."""


def push_for_device(
    device: Device,
    payload: bytes,
    now: datetime,
    *,
    push_type: PushType | None = None,
    priority: int | None = None,
    expiration: int | None = None,
    collapse_id: str | None = None,
    call_id: str | None = None,
    not_after: datetime | None = None,
    urgency: Urgency = Urgency.BULK,
) -> OutboxPush:
    """A pending push to ``device`` (its token and APS environment), with a fresh push id
    and apns-id that stay the same on every attempt. ``push_type`` defaults to the
    device's (a background push goes to an alert device's token)."""
    return OutboxPush(
        push_id=str(uuid.uuid4()),
        app_id=device.app_id,
        user_id=device.user_id,
        device_id=device.device_id,
        push_type=push_type or device.push_type,
        environment=device.environment,
        token=device.token,
        apns_id=str(uuid.uuid4()),
        payload=payload,
        state=PushState.PENDING,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
        priority=priority,
        expiration=expiration,
        collapse_id=collapse_id,
        call_id=call_id,
        not_after=not_after,
        urgency=urgency,
    )
