"""Outbox rows: a push is stored before it is sent and keeps its outcome afterwards.

States: ``pending`` (due at ``next_attempt_at``), ``sending`` (claimed under a lease;
a crashed sender's lease expires and the push becomes due again), then one final state:
``delivered``, ``dropped`` (the token is dead), ``failed`` (APNs refused it for good, or
it could not be sent before ``not_after``), ``withdrawn`` (its call ended first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum

from ringpush.platforms import Channel, Platform, PushKind, platform_of


class PushState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    DROPPED = "dropped"
    FAILED = "failed"
    WITHDRAWN = "withdrawn"

    @property
    def final(self) -> bool:
        return self not in (PushState.PENDING, PushState.SENDING)


class Urgency(IntEnum):
    """The order pushes leave in. A caller hangs up after seconds, a bulk campaign can
    wait: every due push of a lower number goes before any of a higher one."""

    #: A call's VoIP push: the phone must ring now.
    CALL = 0
    #: What follows a call: the end-of-call background push, the missed-call alert.
    CALL_FOLLOW_UP = 1
    #: Everything sent through ``POST /v1/pushes``.
    BULK = 2


@dataclass(frozen=True, slots=True)
class OutboxPush:
    push_id: str
    app_id: str
    user_id: str
    device_id: str
    push_type: PushKind
    environment: Channel
    token: str = field(repr=False)
    apns_id: str
    payload: bytes = field(repr=False)
    state: PushState
    next_attempt_at: datetime
    created_at: datetime
    updated_at: datetime
    priority: int | None = None
    expiration: int | None = None
    collapse_id: str | None = None
    call_id: str | None = None
    attempts: int = 0
    not_after: datetime | None = None
    tried_other_environment: bool = False
    status: int | None = None
    reason: str | None = None
    urgency: Urgency = Urgency.BULK

    @property
    def lane(self) -> tuple[str, Channel]:
        """The delivery lane this push travels in: its app and channel (an APS
        environment, or FCM)."""
        return (self.app_id, self.environment)

    @property
    def platform(self) -> Platform:
        return platform_of(self.push_type)
