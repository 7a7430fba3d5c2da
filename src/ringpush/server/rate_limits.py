"""Rate limits per credential: one app's calling service, one user, or one client address
that keeps failing to authenticate cannot take the instance from everyone else.

Token buckets in memory, per instance (several instances behind a balancer each allow
their own rate: set the rates per instance). A bucket holds ``BURST_SECONDS`` worth of
requests, so a burst passes and a flood is refused with 429 and ``Retry-After``.
Failed authentications are counted per client address; once its bucket is empty every
request from the address is refused before its credential is even looked at, so guessing
keys or tokens gets nowhere faster than the rate.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from ringpush.server.error_codes import ErrorCode
from ringpush.server.errors import ApiError

#: A bucket holds this many seconds of its rate: the burst that passes at once.
BURST_SECONDS = 10.0
#: Buckets kept per limit before full ones (keys idle long enough) are forgotten.
MAX_KEYS = 100_000


@dataclass(frozen=True, slots=True)
class RateLimitSettings:
    """Requests per second (0: no limit)."""

    #: ``POST /v1/calls`` per app (its service keys together).
    calls: float = 200.0
    #: ``POST /v1/pushes`` per app.
    pushes: float = 50.0
    #: ``PUT`` / ``DELETE /v1/devices/{id}`` per user.
    registrations: float = 1.0
    #: Failed authentications per client address.
    auth_failures: float = 1.0


DEFAULT_RATES = RateLimitSettings()


class _Bucket:
    __slots__ = ("stamp", "tokens")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp


class RateLimiter:
    """One token bucket per key, all with the same rate."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate * BURST_SECONDS)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def _bucket(self, key: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_KEYS:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(self.capacity, now)
        else:
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
        return bucket

    def wait(self, key: str) -> float:
        """Seconds until ``key`` may go again (0: now), taking nothing."""
        if self.rate <= 0 or key not in self._buckets:  # never charged: nothing to keep
            return 0.0
        bucket = self._bucket(key)
        return 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / self.rate

    def take(self, key: str) -> float:
        """Take one for ``key``; returns 0 if it could, else the seconds to wait."""
        if self.rate <= 0:
            return 0.0
        bucket = self._bucket(key)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate

    def charge(self, key: str, what: str) -> None:
        """Count one request of ``key``; 429 when it is over its rate."""
        wait = self.take(key)
        if wait > 0:
            raise too_many(what, wait)

    def _forget_full(self, now: float) -> None:
        idle = self.capacity / self.rate  # long enough to have refilled
        for key in [k for k, b in self._buckets.items() if now - b.stamp >= idle]:
            del self._buckets[key]
        if len(self._buckets) >= MAX_KEYS:  # a flood of fresh keys: start over
            self._buckets.clear()


def too_many(what: str, wait: float) -> ApiError:
    seconds = max(1, math.ceil(wait))
    return ApiError(
        ErrorCode.RATE_LIMITED,
        f"too many {what}: try again in {seconds} s",
        headers={"Retry-After": str(seconds)},
    )


class RateLimits:
    """The server's limits, by what they count."""

    def __init__(
        self,
        settings: RateLimitSettings = DEFAULT_RATES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.calls = RateLimiter(settings.calls, clock)
        self.pushes = RateLimiter(settings.pushes, clock)
        self.registrations = RateLimiter(settings.registrations, clock)
        self.auth_failures = RateLimiter(settings.auth_failures, clock)

    def check_address(self, address: str) -> None:
        """429 when ``address`` has used up its failed authentications."""
        wait = self.auth_failures.wait(address)
        if wait > 0:
            raise too_many("failed authentications from this address", wait)

    def failed_authentication(self, address: str) -> None:
        self.auth_failures.take(address)
