"""A delivery lane: the pushes of one (app, APS environment), on that lane's own
connections, under its own cap of pushes in flight and its own circuit breaker.

Lanes share nothing but the event loop, so an endpoint that refuses, stalls or fails
holds up only the pushes bound for it. Within a lane the most urgent push waiting goes
first (a call's VoIP push before what follows a call, both before bulk), and a call's
push also jumps the connection pool's own queue.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from ringpush.delivery.circuit import CircuitBreaker, CircuitState
from ringpush.delivery.provider_answer import LaneClient, ProviderAnswer
from ringpush.platforms import Channel
from ringpush.registry.outbox_models import OutboxPush, Urgency

#: Pushes a lane keeps in flight at once (written to its connections, or waiting in
#: its pool for a stream).
DEFAULT_CONCURRENCY = 500
#: Pushes a lane may hold claimed beyond those in flight before it takes no more bulk
#: pushes from the outbox (urgent ones it always takes).
DEFAULT_BACKLOG = 250

LaneKey = tuple[str, Channel]


class LaneOwner(Protocol):
    """What a lane tells the engine that feeds it."""

    def lane_answered(self, lane: Lane, push: OutboxPush, result: ProviderAnswer) -> None:
        """APNs answered ``push`` (or it could not be sent)."""

    def lane_opened(self, lane: Lane, unsent: list[OutboxPush]) -> None:
        """The lane's circuit opened; ``unsent`` were waiting and go back to the outbox."""

    def lane_probing(self, lane: Lane) -> None:
        """The circuit was open; one push now probes the endpoint."""

    def lane_recovered(self, lane: Lane) -> None:
        """The endpoint answered again: the circuit is closed."""

    def lane_has_room(self, lane: Lane) -> None:
        """A lane's backlog ran down: it can take more bulk pushes."""


@dataclass(frozen=True, slots=True)
class LaneHealth:
    """What ``/readyz`` and the metrics show of a lane."""

    app_id: str
    environment: Channel
    state: CircuitState
    in_flight: int
    waiting: int
    failures: int
    opened: int
    retry_in: float
    last_error: str | None

    @property
    def troubled(self) -> bool:
        return self.state is not CircuitState.CLOSED or self.failures > 0


class Lane:
    def __init__(
        self,
        key: LaneKey,
        client: LaneClient,
        owner: LaneOwner,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        backlog: int = DEFAULT_BACKLOG,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.key = key
        self.client = client
        self.breaker = breaker or CircuitBreaker()
        self._owner = owner
        self._concurrency = concurrency
        self._backlog = backlog
        self._waiting: dict[Urgency, deque[tuple[OutboxPush, Any]]] = {
            level: deque() for level in Urgency
        }
        self.in_flight = 0
        #: Bulk pushes in flight, and how many may be while calls are arriving (None:
        #: as many as the lane's cap allows); set by the engine.
        self.bulk_in_flight = 0
        self.bulk_cap: int | None = None
        self.last_error: str | None = None
        self._closed = False

    @property
    def waiting(self) -> int:
        return sum(len(queue) for queue in self._waiting.values())

    @property
    def room(self) -> int:
        """How many more pushes it should be given now: free slots, and a backlog of
        waiting ones deep enough to keep them busy until the next claim."""
        return max(0, self._concurrency - self.in_flight) + max(0, self._backlog - self.waiting)

    @property
    def hungry(self) -> bool:
        """Its backlog has run down to half: worth a claim. Refilling only then (not at
        every answer) keeps claims to one per half a backlog of answers."""
        return self.waiting <= self._backlog // 2

    @property
    def open(self) -> bool:
        """Its endpoint is down: pushes for it wait in the outbox until the probe time."""
        return self.breaker.state is CircuitState.OPEN

    @property
    def troubled(self) -> bool:
        """Its circuit is open or half-open: only a probe push may be given to it."""
        return self.breaker.state is not CircuitState.CLOSED

    @property
    def wants_probe(self) -> bool:
        """Its probe time has come and it holds no push to probe with."""
        return (
            self.breaker.state is CircuitState.HALF_OPEN
            and self.in_flight == 0
            and self.waiting == 0
            and not self._closed
        )

    def offer(self, push: OutboxPush, request: Any) -> None:
        """Queue a claimed push by its urgency and send what the cap allows."""
        self._waiting[push.urgency].append((push, request))
        self._pump()

    def close(self) -> list[OutboxPush]:
        """Stop sending; returns the pushes that were still waiting."""
        self._closed = True
        return self._take_waiting()

    def health(self) -> LaneHealth:
        app_id, environment = self.key
        return LaneHealth(
            app_id=app_id,
            environment=environment,
            state=self.breaker.state,
            in_flight=self.in_flight,
            waiting=self.waiting,
            failures=self.breaker.failures,
            opened=self.breaker.opened,
            retry_in=round(self.breaker.retry_in(), 3),
            last_error=self.last_error,
        )

    def _pump(self) -> None:
        state = self.breaker.state
        if state is CircuitState.OPEN or self._closed:
            return
        if state is CircuitState.HALF_OPEN:
            # Exactly one push in flight, the probe; the rest wait for its answer.
            if self.in_flight == 0 and (item := self._next()) is not None:
                self._owner.lane_probing(self)
                self._send(*item)
            return
        # A call's push never waits for a slot: the cap keeps bulk from taking every
        # stream, and calls (few, and each worth a phone ringing) go past it.
        calls = self._waiting[Urgency.CALL]
        while calls:
            self._send(*calls.popleft())
        while self.in_flight < self._concurrency and (item := self._next()) is not None:
            self._send(*item)

    def pump(self) -> None:
        """Send what the cap allows now (after the bulk cap was lifted)."""
        self._pump()

    def _send(self, push: OutboxPush, request: Any) -> None:
        self.in_flight += 1
        if push.urgency is Urgency.BULK:
            self.bulk_in_flight += 1
        future = self.client.send_request(request, urgent=push.urgency is Urgency.CALL)
        future.add_done_callback(functools.partial(self._answered, push))

    def _next(self) -> tuple[OutboxPush, Any] | None:
        for level, queue in self._waiting.items():  # in urgency order
            if queue:
                capped = self.bulk_cap is not None and self.bulk_in_flight >= self.bulk_cap
                if level is Urgency.BULK and capped:
                    return None
                return queue.popleft()
        return None

    def _take_waiting(self) -> list[OutboxPush]:
        unsent = [push for queue in self._waiting.values() for push, _ in queue]
        for queue in self._waiting.values():
            queue.clear()
        return unsent

    def _answered(self, push: OutboxPush, future: asyncio.Future[Any]) -> None:
        result: ProviderAnswer = future.result()
        self.in_flight -= 1
        if push.urgency is Urgency.BULK:
            self.bulk_in_flight -= 1
        was_hungry = self.hungry
        if result.error is not None:
            self.last_error = result.error
        before = self.breaker.state
        opened = self.breaker.record(result)
        self._owner.lane_answered(self, push, result)
        if before is not CircuitState.CLOSED and self.breaker.state is CircuitState.CLOSED:
            self._owner.lane_recovered(self)
        if opened:
            self._owner.lane_opened(self, self._take_waiting())
        else:
            self._pump()
        if self.hungry and not was_hungry:
            self._owner.lane_has_room(self)


def lane_name(key: LaneKey) -> str:
    app_id, environment = key
    return f"{app_id}/{environment.value}"
