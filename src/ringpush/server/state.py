"""What the server holds while it runs: the registry, the authenticator, a clock."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ringpush.delivery.calls import CallService
from ringpush.delivery.engine import DeliveryEngine
from ringpush.delivery.pushes import PushService
from ringpush.registry.store import Registry
from ringpush.server.auth import Authenticator
from ringpush.server.body_limit import DEFAULT_MAX_BODY_BYTES
from ringpush.server.rate_limits import RateLimits

#: One user's devices at most: a call rings them all at once, so a user with thousands
#: would make one call thousands of pushes.
DEFAULT_MAX_DEVICES_PER_USER = 20
#: Event streams one user may hold open at once (each is a connection and a listener): a
#: phone follows one call at a time, a few at most.
DEFAULT_MAX_EVENT_STREAMS_PER_USER = 10


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ServerState:
    registry: Registry
    authenticator: Authenticator
    calls: CallService | None = None
    pushes: PushService | None = None
    engine: DeliveryEngine | None = None
    now: Callable[[], datetime] = field(default=utc_now)
    #: Devices one user may register (``serve --max-devices-per-user``).
    max_devices_per_user: int = DEFAULT_MAX_DEVICES_PER_USER
    #: The largest request body taken (``serve --max-body-bytes``).
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    #: Requests per credential, failed authentications per address (``serve --rate-*``).
    limits: RateLimits = field(default_factory=RateLimits)
    #: Event streams one user may hold open (``serve --max-event-streams-per-user``).
    max_event_streams_per_user: int = DEFAULT_MAX_EVENT_STREAMS_PER_USER
    #: Event streams open now, per user ("app/user").
    open_streams: Counter[str] = field(default_factory=Counter)
