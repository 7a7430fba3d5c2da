"""A hand-written HTTP/2 :class:`~ringpush.fcm.transport.Transport`: the only module of
this transport that touches a socket (the framing is :mod:`ringpush.fcm.h2_session`).

One TLS connection per origin (``fcm.googleapis.com``, the token endpoint's host)
carries every request to it, as many at once as the peer's
``SETTINGS_MAX_CONCURRENT_STREAMS`` allows (FCM's is observed at 100); the rest wait
here, in order, for a stream. Requests submitted in one turn of the event loop leave in
one ``transport.write``, and one timer per origin checks deadlines instead of one per
request: the point of this transport is the CPU an httpx request costs (bench/RESULTS.md,
issue 16).

What the connection cannot finish: a stream the peer never processed (above a GOAWAY's
``last_stream_id``, or reset with REFUSED_STREAM) is sent again on a new connection, at
most :data:`MAX_RESENDS` times; a connection that drops fails its streams in flight with
``CONNECTION_LOST`` (a POST the peer may have taken is the caller's to retry, as with
httpx); a stream reset otherwise fails with :func:`~ringpush.apns.transport.reset_failure`'s
kind; a connect that fails fails the requests waiting for it with
:func:`~ringpush.apns.transport.connect_failure`'s. ``timeout`` bounds each request from
submission to answer (httpx bounds each read and write instead); ``connect_timeout``
bounds TCP + TLS.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast
from urllib.parse import urlsplit

from h2.exceptions import H2Error
from hpack import HeaderTuple

from ringpush.apns.transport import TransportFailure, connect_failure, reset_failure
from ringpush.fcm.errors import FcmError
from ringpush.fcm.h2_session import (
    Answered,
    GoingAway,
    H2Session,
    StreamRefused,
    header_block,
)
from ringpush.fcm.transport import HttpAnswer, TransportError

#: How often an origin checks its requests' deadlines.
SWEEP_SECONDS = 0.25
#: A request the peer never processed is sent again at most this many times.
MAX_RESENDS = 3
#: Routes (URL → origin, path) kept: one per project and token endpoint in practice.
MAX_ROUTES = 1024


@dataclass(slots=True, eq=False)
class _Exchange:
    path: bytes
    headers: tuple[HeaderTuple, ...]
    body: bytes
    future: asyncio.Future[HttpAnswer]
    deadline: float
    resends: int = 0

    def answer(self, answer: Answered) -> None:
        if not self.future.done():
            self.future.set_result(HttpAnswer(answer.status, answer.headers, answer.body))

    def fail(self, failure: TransportFailure, why: str) -> None:
        if not self.future.done():
            # Named first, as the httpx transport names it: logs and results say which.
            self.future.set_exception(TransportError(failure, f"{failure.value}: {why}"))


class _Owner(Protocol):
    """What a connection tells its origin (so the connection never imports it)."""

    def capacity_changed(self) -> None: ...

    def hand_back(self, exchanges: list[_Exchange]) -> None: ...

    def connection_closed(self, connection: _Connection) -> None: ...


class _Connection(asyncio.Protocol):
    def __init__(self, owner: _Owner, authority: str) -> None:
        self._owner = owner
        self._loop = asyncio.get_running_loop()
        self.session = H2Session(authority)
        self.transport: asyncio.Transport | None = None
        self.pending: dict[int, _Exchange] = {}
        self.closed = False
        self.retired = False
        #: Why the peer's bytes were refused, when they were (h2's words: no secret).
        self.broken: str | None = None
        self._flush_scheduled = False

    # -- asyncio.Protocol -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)
        self.session.initiate()
        self.flush()

    def data_received(self, data: bytes) -> None:
        try:
            events = self.session.receive(data)
        except H2Error as exc:
            self.broken = f"the peer broke HTTP/2: {type(exc).__name__}: {exc}"[:300]
            self.abort()
            return
        pending = self.pending
        again: list[_Exchange] = []
        for event in events:
            if isinstance(event, Answered):
                exchange = pending.pop(event.stream_id, None)
                if exchange is not None:
                    exchange.answer(event)
            elif isinstance(event, StreamRefused):
                exchange = pending.pop(event.stream_id, None)
                if exchange is None:
                    continue
                if event.unprocessed:
                    again.append(exchange)
                else:
                    why = f"stream reset by the peer (error code {event.error_code:#x})"
                    exchange.fail(reset_failure(event.error_code), why)
            elif isinstance(event, GoingAway):
                self.retired = True
                again += [e for sid in event.unprocessed if (e := pending.pop(sid, None))]
        if self.retired and not pending:
            self.close()
        self.flush()
        if again:
            self._owner.hand_back(again)
        if events:  # answers, resets and a new stream limit all free room
            self._owner.capacity_changed()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = self.retired = True
        lost, self.pending = self.pending, {}
        why = self.broken or "connection lost"
        for exchange in lost.values():
            exchange.fail(TransportFailure.CONNECTION_LOST, why)
        self._owner.connection_closed(self)

    # -- used by the origin -----------------------------------------------------------
    @property
    def capacity(self) -> int:
        if self.retired or self.transport is None or self.transport.is_closing():
            return 0
        return self.session.available_streams

    def submit(self, exchange: _Exchange) -> None:
        stream_id = self.session.submit(exchange.path, exchange.headers, exchange.body)
        self.pending[stream_id] = exchange
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self.flush)

    def expire(self, now: float) -> None:
        expired = [sid for sid, exchange in self.pending.items() if exchange.deadline <= now]
        for stream_id in expired:
            self.session.cancel(stream_id)
            self.pending.pop(stream_id).fail(TransportFailure.TIMEOUT, "no answer in time")
        if expired:
            self.flush()

    def close(self) -> None:
        """GOAWAY, then close once written (streams in flight fail as lost)."""
        self.retired = True
        if self.closed or self.transport is None or self.transport.is_closing():
            return
        try:
            self.session.close()
            self.flush()
        except H2Error:
            pass
        self.transport.close()

    def abort(self) -> None:
        self.retired = True
        if self.transport is not None:
            self.transport.abort()

    def flush(self) -> None:
        self._flush_scheduled = False
        if self.transport is None or self.closed or self.transport.is_closing():
            return
        data = self.session.data_to_send()
        if data:
            self.transport.write(data)


class _Origin:
    """The connection to one ``host:port`` and the requests waiting for a stream on it."""

    def __init__(
        self, host: str, port: int, context: ssl.SSLContext, connect_timeout: float
    ) -> None:
        self._host = host
        self._port = port
        self._authority = host if port == 443 else f"{host}:{port}"
        if ":" in host:
            self._authority = f"[{host}]" if port == 443 else f"[{host}]:{port}"
        self._context = context
        self._connect_timeout = connect_timeout
        #: The live connection last; retired ones stay until their streams are answered.
        self.connections: list[_Connection] = []
        self._waiting: deque[_Exchange] = deque()
        self._connecting: asyncio.Task[None] | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._closing = False
        self.opened = 0

    def submit(self, exchange: _Exchange) -> None:
        if self._closing:
            exchange.fail(TransportFailure.CLIENT_CLOSED, "transport closed")
            return
        self._waiting.append(exchange)
        self._dispatch()
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().call_later(SWEEP_SECONDS, self._sweep)

    # -- _Owner -----------------------------------------------------------------------
    def capacity_changed(self) -> None:
        if self._waiting:
            self._dispatch()

    def hand_back(self, exchanges: list[_Exchange]) -> None:
        for exchange in reversed(exchanges):  # first in, first out again
            if exchange.resends >= MAX_RESENDS or self._closing:
                why = f"not processed by the peer, {exchange.resends + 1} times"
                exchange.fail(TransportFailure.CONNECTION_LOST, why)
                continue
            exchange.resends += 1
            self._waiting.appendleft(exchange)
        self._dispatch()

    def connection_closed(self, connection: _Connection) -> None:
        if connection in self.connections:
            self.connections.remove(connection)
        if not connection.session.peer_settings_seen:
            # Gone before it could carry a request (a peer that hangs up or breaks HTTP/2
            # at once): a failed connect, not a reason to dial again at once.
            why = connection.broken or f"{self._authority} closed the connection at once"
            self._fail_waiting(TransportFailure.CONNECTION_LOST, why)
        if self._waiting:
            self._dispatch()

    # -- internals --------------------------------------------------------------------
    def _live(self) -> _Connection | None:
        for connection in reversed(self.connections):
            if not connection.retired:
                return connection
        return None

    def _dispatch(self) -> None:
        waiting = self._waiting
        connection = self._live()
        if connection is None:
            if waiting and self._connecting is None and not self._closing:
                self._connecting = asyncio.get_running_loop().create_task(self._connect())
            return
        room = connection.capacity
        while room > 0 and waiting:
            exchange = waiting.popleft()
            if exchange.future.done():  # given up on by its caller
                continue
            connection.submit(exchange)
            room -= 1

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Connection(self, self._authority),
                    self._host,
                    self._port,
                    ssl=self._context,
                    server_hostname=self._host,
                ),
                self._connect_timeout,
            )
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            kind = connect_failure(exc)
            why = f"cannot connect to {self._authority}: {exc or type(exc).__name__}"
            self._fail_waiting(kind, why)
            return
        finally:
            self._connecting = None
        transport = connection.transport
        tls = transport.get_extra_info("ssl_object") if transport is not None else None
        if tls is None or tls.selected_alpn_protocol() != "h2":
            connection.abort()
            why = f"{self._authority} does not offer HTTP/2 (ALPN h2)"
            self._fail_waiting(TransportFailure.CONNECT_FAILED, why)
            return
        self.connections.append(connection)
        self.opened += 1
        if self._closing:
            connection.close()
        else:
            self._dispatch()  # the peer's SETTINGS may be in already

    def _fail_waiting(self, failure: TransportFailure, why: str) -> None:
        waiting, self._waiting = self._waiting, deque()
        for exchange in waiting:
            exchange.fail(failure, why)

    def _sweep(self) -> None:
        now = time.monotonic()
        for connection in list(self.connections):
            connection.expire(now)
        if self._connecting is None:  # a connect in progress has its own timeout
            late = [e for e in self._waiting if e.deadline <= now]
            if late:
                self._waiting = deque(e for e in self._waiting if e.deadline > now)
                for exchange in late:
                    exchange.fail(TransportFailure.TIMEOUT, "no stream free in time")
        busy = self._waiting or any(c.pending for c in self.connections)
        self._sweeper = None
        if busy and not self._closing:
            self._sweeper = asyncio.get_running_loop().call_later(SWEEP_SECONDS, self._sweep)

    async def close(self) -> None:
        self._closing = True
        self._fail_waiting(TransportFailure.CLIENT_CLOSED, "transport closed")
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if self._connecting is not None:
            self._connecting.cancel()
        for connection in list(self.connections):
            for exchange in connection.pending.values():
                exchange.fail(TransportFailure.CLIENT_CLOSED, "transport closed")
            connection.close()
        for _ in range(50):
            if not self.connections:
                break
            await asyncio.sleep(0.01)


class H2Transport:
    """HTTP/2 over TLS to each origin, trusting the system's CAs and ``ca_file`` /
    ``ca_pem``; ``https://`` URLs only."""

    def __init__(
        self,
        *,
        ca_file: str | Path | None = None,
        ca_pem: bytes | None = None,
        timeout: float = 10.0,
        connect_timeout: float = 10.0,
    ) -> None:
        self._context = _context(str(ca_file) if ca_file is not None else None, ca_pem)
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._origins: dict[tuple[str, int], _Origin] = {}
        self._routes: dict[str, tuple[_Origin, bytes]] = {}

    @property
    def connections_opened(self) -> int:
        """Connections opened so far, to every origin (for tests and metrics)."""
        return sum(origin.opened for origin in self._origins.values())

    @property
    def in_flight(self) -> int:
        """Requests on the wire, awaiting their answer (for tests and metrics)."""
        return sum(len(c.pending) for o in self._origins.values() for c in o.connections)

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> HttpAnswer:
        route = self._routes.get(url) or self._route(url)
        origin, path = route
        future: asyncio.Future[HttpAnswer] = asyncio.get_running_loop().create_future()
        deadline = time.monotonic() + self._timeout
        origin.submit(_Exchange(path, header_block(headers), body, future, deadline))
        return await future

    def _route(self, url: str) -> tuple[_Origin, bytes]:
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise TransportError(TransportFailure.CONNECT_FAILED, "HTTP/2 is spoken over https")
        key = (parts.hostname, parts.port or 443)
        origin = self._origins.get(key)
        if origin is None:
            origin = self._origins[key] = _Origin(*key, self._context, self._connect_timeout)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if len(self._routes) >= MAX_ROUTES:
            self._routes.clear()
        route = self._routes[url] = (origin, path.encode("ascii"))
        return route

    async def aclose(self) -> None:
        for origin in list(self._origins.values()):
            await origin.close()


@functools.lru_cache(maxsize=64)
def _context(ca_file: str | None, ca_pem: bytes | None) -> ssl.SSLContext:
    """One context per trust setting, offering ``h2`` only. Not the httpx transport's
    contexts: httpcore sets its own ALPN on those."""
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["h2"])
    try:
        if ca_file is not None:
            context.load_verify_locations(cafile=ca_file)
        if ca_pem is not None:
            context.load_verify_locations(cadata=ca_pem.decode("ascii"))
    except (OSError, UnicodeDecodeError, ssl.SSLError, ValueError) as exc:
        raise FcmError(f"cannot load the CA: {exc}") from None
    return context
