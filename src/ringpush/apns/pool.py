"""Long-lived connections to one APNs endpoint for one credential.

Apple wants few, long-lived connections (opening and closing them rapidly looks like an
attack) and, with token auth, allows one stream until a request with a valid token
succeeds. So the pool sends on the connection that has room, waits for a new connection's
stream limit to rise after its first accepted push, and opens another connection only
when every open one is authenticated and full. Pushes a connection could not finish come
back here and are resent with their apns-id: none lost, and none sent twice unless the
peer may already have taken it (a dropped connection), which APNs's apns-id lets a
receiver see. Urgent pushes (a call's VoIP push) wait in a queue of their own that is
always served first, so a backlog of bulk pushes never stands between a call and the wire.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque

from ringpush.apns.connection import ApnsConnection
from ringpush.apns.h2_session import PushAnswered
from ringpush.apns.jwt_signer import ProviderTokenSigner
from ringpush.apns.listener import ApnsListener
from ringpush.apns.pending import PendingPush
from ringpush.apns.reasons import ApnsReason
from ringpush.apns.transport import TransportFailure, connect_failure
from ringpush.backoff import retry_delay

#: A push whose stream or connection failed is sent again after 50 ms, doubling (with
#: jitter), until its deadline.
RESEND_BASE_SECONDS = 0.05
#: Reconnect backoff: 0.1 s doubling to 10 s, with jitter.
BACKOFF_BASE_SECONDS = 0.1
BACKOFF_MAX_SECONDS = 10.0


class ConnectionPool:
    def __init__(
        self,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext,
        *,
        server_hostname: str | None,
        max_connections: int,
        connect_timeout: float,
        signer: ProviderTokenSigner | None,
        listener: ApnsListener | None = None,
        max_connect_failures: int | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._ssl = ssl_context
        self._server_hostname = server_hostname
        self._authority = host if port == 443 else f"{host}:{port}"
        self._max_connections = max_connections
        self._connect_timeout = connect_timeout
        self._signer = signer
        self._listener = listener
        #: Failed connection attempts in a row after which the pushes waiting for a
        #: connection fail at once (None: they wait until their deadline). A caller with
        #: its own retries and circuit breaker wants to hear about a dead endpoint now.
        self._max_connect_failures = max_connect_failures
        self.connections: list[ApnsConnection] = []
        self._urgent: deque[PendingPush] = deque()
        self._waiting: deque[PendingPush] = deque()
        self._connecting = False
        self._failures = 0
        self._closing = False
        self.last_error: str | None = None
        self.last_failure: TransportFailure | None = None

    # -- entry points -----------------------------------------------------------------
    def submit(self, push: PendingPush) -> None:
        if self._closing:
            push.fail("client closed", TransportFailure.CLIENT_CLOSED)
            return
        (self._urgent if push.urgent else self._waiting).append(push)
        self._dispatch()

    def answered(self, connection: ApnsConnection, push: PendingPush, answer: PushAnswered) -> None:
        self._failures = 0  # the endpoint works: a connection to it answered
        result = push.result_of(answer)
        reason = result.reason
        if result.status == 200:
            connection.authenticated = True
        elif reason is not None:
            if reason.reconnect:
                connection.retire()
            if (
                reason is ApnsReason.EXPIRED_PROVIDER_TOKEN
                and self._signer is not None
                and push.token is not None
                and not push.auth_retried
            ):
                # Sign anew (at most once per 20 minutes, see the signer) and retry once,
                # if there is a new token to retry with; else the caller retries later.
                push.auth_retried = True
                fresh = self._signer.refresh(push.token)
                if fresh.header != push.token.header:
                    push.token = fresh
                    self._queue_of(push).appendleft(push)
                    return
        if self._listener is not None:
            self._listener.answered(result, time.monotonic() - push.submitted_at)
        push.resolve(result)

    def hand_back(
        self, push: PendingPush, why: str, failure: TransportFailure, *, counted: bool = True
    ) -> None:
        """A connection could not finish ``push``: resend it, same apns-id, until its
        deadline (the request timeout) has passed.

        A push the peer never processed (``counted=False``: after GOAWAY) goes again at
        once, on another connection; one whose stream or connection failed goes again
        after a backoff, so a peer that keeps failing it is not sent it thousands of times
        a second."""
        if not counted:
            push.attempts -= 1
        if push.future.done():
            return
        now = time.monotonic()
        delay = 0.0 if not counted else retry_delay(push.attempts, base=RESEND_BASE_SECONDS)
        if self._closing or push.deadline <= now + delay:
            push.fail(why, failure)
            return
        push.last_error = why
        push.last_failure = failure
        if delay == 0.0:
            self._queue_of(push).appendleft(push)
        else:
            asyncio.get_running_loop().call_later(delay, self._resend, push)

    def _resend(self, push: PendingPush) -> None:
        if push.future.done():
            return
        if self._closing:
            push.fail(push.last_error or "client closed", TransportFailure.CLIENT_CLOSED)
            return
        self._queue_of(push).appendleft(push)
        self._dispatch()

    def capacity_changed(self, connection: ApnsConnection) -> None:
        if self._urgent or self._waiting:
            self._dispatch()

    def connection_closed(self, connection: ApnsConnection) -> None:
        if connection in self.connections:
            self.connections.remove(connection)
            if self._listener is not None:
                self._listener.connection_closed()
        if not connection.heard_answer and not self._closing:
            # Connected, then gone before any answer (a peer that breaks HTTP/2 at once, or
            # hangs up): a failed connect, backed off and counted like one. Taken as a
            # success, it was redialled at once, hundreds of times a second, and the
            # pushes waiting for it never reached their deadline.
            self._connect_failed(
                TransportFailure.CONNECTION_LOST,
                connection.broken
                or f"the connection to {self._authority} closed before any answer",
            )
        if self._urgent or self._waiting:
            self._dispatch()

    async def close(self) -> None:
        self._closing = True
        for queue in (self._urgent, self._waiting):
            while queue:
                queue.popleft().fail("client closed", TransportFailure.CLIENT_CLOSED)
        for connection in list(self.connections):
            connection.close()
        for _ in range(50):
            if not self.connections:
                break
            await asyncio.sleep(0.01)

    # -- internals --------------------------------------------------------------------
    def _queue_of(self, push: PendingPush) -> deque[PendingPush]:
        return self._urgent if push.urgent else self._waiting

    def _dispatch(self) -> None:
        urgent, waiting = self._urgent, self._waiting
        while urgent or waiting:
            connection = self._connection_with_room()
            if connection is None:
                self._maybe_connect()
                return
            room = connection.capacity
            while room > 0 and (urgent or waiting):
                push = urgent.popleft() if urgent else waiting.popleft()
                if push.future.done():
                    continue
                if push.deadline <= time.monotonic():
                    push.fail(
                        push.last_error or "timed out waiting for a connection",
                        push.last_failure or self.last_failure or TransportFailure.TIMEOUT,
                    )
                    continue
                if self._signer is not None and push.token is None:
                    push.token = self._signer.current()
                if push.attempts == 0:
                    push.submitted_at = time.monotonic()
                connection.submit(push)
                room -= 1

    def _connection_with_room(self) -> ApnsConnection | None:
        for connection in self.connections:
            if connection.capacity > 0:
                return connection
        return None

    def _maybe_connect(self) -> None:
        if self._connecting or self._closing:
            return
        open_ones = [c for c in self.connections if not c.retired]
        if len(open_ones) >= self._max_connections:
            return
        # A connection whose stream limit has not risen yet is not full: wait for it.
        if any(not c.authenticated for c in open_ones):
            return
        self._connecting = True
        asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while not self._closing:
                if self._failures:
                    await asyncio.sleep(
                        retry_delay(
                            self._failures, base=BACKOFF_BASE_SECONDS, cap=BACKOFF_MAX_SECONDS
                        )
                    )
                try:
                    _, protocol = await asyncio.wait_for(
                        loop.create_connection(
                            lambda: ApnsConnection(self, self._authority),
                            self._host,
                            self._port,
                            ssl=self._ssl,
                            server_hostname=self._server_hostname,
                        ),
                        self._connect_timeout,
                    )
                except (OSError, TimeoutError, ssl.SSLError) as exc:
                    self._connect_failed(
                        connect_failure(exc),
                        f"cannot connect to {self._authority}: {exc or type(exc).__name__}",
                    )
                    if not (self._urgent or self._waiting):
                        return
                    continue
                self.connections.append(protocol)
                if self._listener is not None:
                    self._listener.connection_opened()
                return
        finally:
            self._connecting = False
            if (self._urgent or self._waiting) and not self._closing:
                self._dispatch()

    def _connect_failed(self, failure: TransportFailure, error: str) -> None:
        """One more failed connect in a row: the next waits longer, and the pushes
        waiting fail at their deadline (all of them once there were too many)."""
        self._failures += 1
        self.last_failure = failure
        self.last_error = error
        limit = self._max_connect_failures
        self._expire_waiting(everything=limit is not None and self._failures >= limit)

    def _expire_waiting(self, *, everything: bool = False) -> None:
        """Fail waiting pushes whose deadline passed while no connection could be made
        (or all of them, when the endpoint has failed too often in a row)."""
        now = time.monotonic()
        failure = self.last_failure or TransportFailure.CONNECT_FAILED
        error = self.last_error or "no connection to APNs"
        for queue in (self._urgent, self._waiting):
            keep = [push for push in queue if not (everything or push.deadline <= now)]
            for push in queue:
                if everything or push.deadline <= now:
                    push.fail(error, failure)
            queue.clear()
            queue.extend(keep)
