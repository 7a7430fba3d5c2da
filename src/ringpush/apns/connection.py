"""One TLS + HTTP/2 connection to APNs: the only module that touches a socket.

Writes are batched: pushes submitted in one event-loop iteration leave in one
``transport.write``. Timeouts and liveness are checked by one periodic sweep per
connection rather than a timer per push. Whatever the connection cannot finish — streams
above a GOAWAY's ``last_stream_id``, streams the peer reset, everything unanswered when the
connection drops — is handed back to the pool, which resends it with the same apns-id.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, cast

from h2.exceptions import H2Error

from ringpush.apns.h2_session import (
    ApnsSession,
    GoingAway,
    PingAcked,
    PushAnswered,
    StreamLimitChanged,
    StreamRefused,
)
from ringpush.apns.pending import PendingPush
from ringpush.apns.transport import TransportFailure, reset_failure

if TYPE_CHECKING:
    from ringpush.apns.pool import ConnectionPool

#: How often a connection checks deadlines and liveness.
SWEEP_SECONDS = 0.5
#: Send a PING after this long without hearing from the peer...
IDLE_PING_SECONDS = 30.0
#: ...and give the connection up if the PING is not answered within this.
PING_TIMEOUT_SECONDS = 10.0


class ApnsConnection(asyncio.Protocol):
    def __init__(self, pool: ConnectionPool, authority: str) -> None:
        self._pool = pool
        self._loop = asyncio.get_running_loop()
        self.session = ApnsSession(authority)
        self.transport: asyncio.Transport | None = None
        self.pending: dict[int, PendingPush] = {}
        self.closed = False
        self.retired = False
        #: A push was accepted: the peer has seen a valid credential, so its stream limit
        #: is the post-authentication one.
        self.authenticated = False
        #: The peer answered a push here: it speaks HTTP/2 as APNs does. A connection that
        #: dies before its first answer counts as a failed connect (see the pool).
        self.heard_answer = False
        #: Why the peer's bytes were refused, when they were (h2's words: never a secret).
        self.broken: str | None = None
        self._flush_scheduled = False
        self._last_heard = time.monotonic()
        self._ping_sent_at: float | None = None
        self._sweeper: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)
        self.session.initiate()
        self._flush()
        self._sweeper = self._loop.call_later(SWEEP_SECONDS, self._sweep)

    def data_received(self, data: bytes) -> None:
        self._last_heard = time.monotonic()
        try:
            events = self.session.receive(data)
        except H2Error as exc:
            self.broken = f"APNs broke HTTP/2: {type(exc).__name__}: {exc}"[:300]
            self.abort()
            return
        pool = self._pool
        pending = self.pending
        freed = False
        for event in events:
            if isinstance(event, PushAnswered):
                self.heard_answer = True
                push = pending.pop(event.stream_id, None)
                if push is not None:
                    pool.answered(self, push, event)
                freed = True
            elif isinstance(event, StreamRefused):
                push = pending.pop(event.stream_id, None)
                if push is not None:
                    failure = reset_failure(event.error_code)
                    why = f"stream reset by APNs (error code {event.error_code:#x})"
                    if failure is TransportFailure.STREAM_PROTOCOL_ERROR:
                        push.fail(why, failure)  # never resent as it is
                    else:
                        pool.hand_back(push, why, failure)
                freed = True
            elif isinstance(event, GoingAway):
                self.retired = True
                for stream_id in event.unprocessed:
                    push = pending.pop(stream_id, None)
                    if push is not None:
                        pool.hand_back(
                            push,
                            "not processed before GOAWAY",
                            TransportFailure.CONNECTION_LOST,
                            counted=False,
                        )
                freed = True
            elif isinstance(event, StreamLimitChanged):
                freed = True
            elif isinstance(event, PingAcked):
                self._ping_sent_at = None
        if self.retired and not pending:
            self.close()
        self._flush()
        if freed:
            pool.capacity_changed(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.retired = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        lost, self.pending = self.pending, {}
        for push in lost.values():
            # The peer may have taken it: resend with the same apns-id (at-least-once).
            self._pool.hand_back(push, "connection lost", TransportFailure.CONNECTION_LOST)
        self._pool.connection_closed(self)

    # -- used by the pool -------------------------------------------------------------
    @property
    def capacity(self) -> int:
        if self.retired or self.closed:
            return 0
        return self.session.available_streams

    def submit(self, push: PendingPush) -> None:
        token = push.token
        stream_id = self.session.submit(push.request, token.header if token else None)
        push.attempts += 1
        self.pending[stream_id] = push
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def retire(self) -> None:
        """Open no new streams here; close once the streams in flight are answered."""
        self.retired = True
        if not self.pending:
            self.close()

    def close(self) -> None:
        if self.closed or self.transport is None or self.transport.is_closing():
            return
        self.retired = True
        try:
            self.session.close()
            self._flush()
        except H2Error:
            pass
        self.transport.close()

    def abort(self) -> None:
        self.retired = True
        if self.transport is not None:
            self.transport.abort()

    # -- internals --------------------------------------------------------------------
    def _flush(self) -> None:
        self._flush_scheduled = False
        if self.transport is None or self.closed or self.transport.is_closing():
            return
        data = self.session.data_to_send()
        if data:
            self.transport.write(data)

    def _sweep(self) -> None:
        now = time.monotonic()
        expired = [sid for sid, push in self.pending.items() if push.deadline <= now]
        for stream_id in expired:
            push = self.pending.pop(stream_id)
            self.session.cancel(stream_id)
            push.fail("timed out waiting for APNs", TransportFailure.TIMEOUT)
        if self._ping_sent_at is not None and now - self._ping_sent_at > PING_TIMEOUT_SECONDS:
            self.abort()
            return
        if self._ping_sent_at is None and now - self._last_heard > IDLE_PING_SECONDS:
            self._ping_sent_at = now
            self.session.ping()
        if expired or self._ping_sent_at == now:
            self._flush()
            self._pool.capacity_changed(self)
        self._sweeper = self._loop.call_later(SWEEP_SECONDS, self._sweep)
