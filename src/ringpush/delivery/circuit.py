"""A lane's circuit breaker: stop dialing an endpoint that keeps failing, probe it now
and then, and close again by itself once it answers.

Only failures of the endpoint count: no answer at all (connect refused, TLS refused,
timeouts, dropped connections) and 5xx. A 4xx is an answer about one push or one token
and says the endpoint works. The core is pure, with an injected monotonic clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

from ringpush.apns.result import NO_RESPONSE
from ringpush.apns.transport import TransportFailure
from ringpush.delivery.provider_answer import ProviderAnswer

#: Endpoint failures in a row that open the circuit.
FAILURES_TO_OPEN = 5
#: The first time the circuit stays open; it doubles on each failed probe...
FIRST_OPEN_SECONDS = 1.0
#: ...up to this.
MAX_OPEN_SECONDS = 30.0


class CircuitState(StrEnum):
    #: Pushes flow.
    CLOSED = "closed"
    #: The endpoint is down: nothing is sent until the probe time.
    OPEN = "open"
    #: One probe push may go; its answer closes or re-opens the circuit.
    HALF_OPEN = "half-open"


def endpoint_failed(result: ProviderAnswer) -> bool:
    """Whether ``result`` says the endpoint, not the push, is in trouble."""
    if result.status == NO_RESPONSE:
        return result.failure is not TransportFailure.CLIENT_CLOSED
    return result.status >= 500


class CircuitBreaker:
    def __init__(
        self,
        *,
        failures_to_open: int = FAILURES_TO_OPEN,
        first_open: float = FIRST_OPEN_SECONDS,
        max_open: float = MAX_OPEN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = failures_to_open
        self._first_open = first_open
        self._max_open = max_open
        self._clock = clock
        self._state = CircuitState.CLOSED
        self._open_for = 0.0
        self.probe_at = 0.0
        #: Endpoint failures since the last success.
        self.failures = 0
        #: Times the circuit opened (after a run of failures or a failed probe).
        self.opened = 0

    @property
    def state(self) -> CircuitState:
        if self._state is CircuitState.OPEN and self._clock() >= self.probe_at:
            self._state = CircuitState.HALF_OPEN
        return self._state

    def retry_in(self) -> float:
        """Seconds until a push may be tried on this lane (0 unless open)."""
        if self.state is not CircuitState.OPEN:
            return 0.0
        return max(0.0, self.probe_at - self._clock())

    def record(self, result: ProviderAnswer) -> bool:
        """Count an answer; True when it opened the circuit."""
        if endpoint_failed(result):
            return self._failed()
        if result.failure is None:
            self._succeeded()
        return False

    def _succeeded(self) -> None:
        self.failures = 0
        self._open_for = 0.0
        self._state = CircuitState.CLOSED

    def _failed(self) -> bool:
        self.failures += 1
        state = self.state
        if state is CircuitState.OPEN:
            return False  # answers to pushes sent before it opened
        if state is CircuitState.HALF_OPEN or self.failures >= self._threshold:
            self._open_for = (
                self._first_open if self._open_for == 0 else min(self._max_open, self._open_for * 2)
            )
            self._state = CircuitState.OPEN
            self.probe_at = self._clock() + self._open_for
            self.opened += 1
            return True
        return False
