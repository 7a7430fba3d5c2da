"""Retry delays: exponential with jitter, capped, so a flapping peer is not hammered.

The one backoff rule of the project: delivery's retries of a push, the connection pool's
resends and reconnects, the delivery engine's waits on a database that cannot take its
claims, the PostgreSQL event listener's reconnects, and on the app's side the SDK
client's retries and managed push's re-registrations.
"""

from __future__ import annotations

import random

BASE_SECONDS = 0.5
MAX_SECONDS = 60.0


def retry_delay(attempt: int, *, base: float = BASE_SECONDS, cap: float = MAX_SECONDS) -> float:
    """Seconds to wait before attempt ``attempt + 1`` (``attempt`` >= 1 were made)."""
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    return random.uniform(ceiling / 2, ceiling)
