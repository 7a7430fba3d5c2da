"""What the server holds while it runs: the registry, the authenticator, a clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ringpush.registry.store import Registry
from ringpush.server.auth import Authenticator


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ServerState:
    registry: Registry
    authenticator: Authenticator
    now: Callable[[], datetime] = field(default=utc_now)
