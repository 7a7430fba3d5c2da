"""The HTTP/2 side of the sandbox: one asyncio protocol per TLS connection.

It only translates: frames in, :meth:`SandboxCore.handle` per completed request,
frames out. What makes it APNs-like rather than a generic h2 server:

- SETTINGS advertises ``MAX_CONCURRENT_STREAMS = 1`` to a token connection and raises
  it once a request has authenticated (docs/apns.md §6); streams over the advertised
  limit get ``RST_STREAM REFUSED_STREAM``, which clients may safely resend.
- The limit is enforced here, not by h2: h2 treats an excess stream as a connection
  error, while APNs (and RFC 9113 §5.1.2) refuses just the stream. So h2 is told a huge
  limit and the SETTINGS frames the client sees are written by hand.
- A graceful GOAWAY is written by hand too: h2's ``close_connection`` stops all
  further frames, but RFC 9113 wants the streams up to ``last_stream_id`` finished.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RequestReceived,
    StreamEnded,
    StreamReset,
    WindowUpdated,
)
from h2.exceptions import ProtocolError
from h2.settings import SettingCodes, Settings
from hyperframe.frame import GoAwayFrame, SettingsFrame

from ringpush.apns.reasons import ApnsReason
from ringpush.sandbox.core import ConnectionState, SandboxCore
from ringpush.sandbox.responses import Response, goaway_debug_data

#: What h2 itself enforces: effectively nothing, the protocol enforces the real limit.
_H2_STREAM_LIMIT = 2**31 - 1
#: Connection receive window: large, so a burst of 1000 pushes never waits for updates.
CONNECTION_WINDOW = 16 * 1024 * 1024
_DEFAULT_WINDOW = 65535
#: Bytes handed to h2 at a time. h2 scans every stream it holds on each new inbound
#: HEADERS, so a 1000-request burst read in one piece costs O(n²); answering between
#: slices keeps the set of open streams (and the scan) short.
RECEIVE_SLICE = 8192
#: Body bytes buffered per stream; anything bigger is answered 413 without keeping it.
MAX_BODY_BUFFER = 64 * 1024
#: SETTINGS as APNs sends them (Pushy #878), MAX_CONCURRENT_STREAMS aside.
_ADVERTISED = {
    SettingCodes.HEADER_TABLE_SIZE: 4096,
    SettingCodes.INITIAL_WINDOW_SIZE: _DEFAULT_WINDOW,
    SettingCodes.MAX_FRAME_SIZE: 16384,
    SettingCodes.MAX_HEADER_LIST_SIZE: 8000,
}


def h2_configuration(*, validate_inbound_headers: bool) -> H2Configuration:
    """h2 settings for the server.

    Outbound validation is off: the response headers are ours and well-formed. Inbound
    validation (illegal characters, pseudo-header rules) costs about an eighth of the
    server's CPU per push and is off by default: the validation chain answers any
    header block safely (no ``:path`` is ``BadPath``, no ``:method`` is
    ``MethodNotAllowed``, a repeat is ``DuplicateHeaders``). Turn it on to have
    malformed HTTP/2 requests reset as a strict front end would.
    """
    return H2Configuration(
        client_side=False,
        header_encoding=None,
        validate_outbound_headers=False,
        normalize_outbound_headers=False,
        validate_inbound_headers=validate_inbound_headers,
    )


_LENIENT = h2_configuration(validate_inbound_headers=False)
_STRICT = h2_configuration(validate_inbound_headers=True)


def settings_frame(max_concurrent_streams: int, *, initial: bool) -> bytes:
    values = dict(_ADVERTISED) if initial else {}
    values[SettingCodes.MAX_CONCURRENT_STREAMS] = max_concurrent_streams
    return SettingsFrame(0, settings={int(k): v for k, v in values.items()}).serialize()


class _Stream:
    __slots__ = ("body", "headers", "size")

    def __init__(self, headers: list[tuple[bytes, bytes]]) -> None:
        self.headers = headers
        self.body: list[bytes] = []
        self.size = 0


class ApnsServerProtocol(asyncio.Protocol):
    """One client connection to one environment's port."""

    def __init__(
        self,
        core: SandboxCore,
        connection_for: Callable[[asyncio.Transport], ConnectionState],
        *,
        max_concurrent_streams: int,
        initial_max_concurrent_streams: int,
        on_close: Callable[[ApnsServerProtocol], None],
        strict_headers: bool = False,
    ) -> None:
        self._core = core
        self._connection_for = connection_for
        self._max_streams = max_concurrent_streams
        self._limit = initial_max_concurrent_streams
        self._on_close = on_close
        self._conn = H2Connection(config=_STRICT if strict_headers else _LENIENT)
        self._transport: asyncio.Transport | None = None
        self._state: ConnectionState | None = None
        self._streams: dict[int, _Stream] = {}
        self._pending: dict[int, bytes] = {}
        self._admitted = 0
        self._goaway_last: int | None = None
        self._closed = False

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self._transport = cast(asyncio.Transport, transport)
        self._state = self._connection_for(self._transport)
        if self._state.auth.authenticated:
            # Certificate connections are authenticated by the handshake itself.
            self._limit = self._max_streams
        conn = self._conn
        conn.local_settings = Settings(
            client=False,
            initial_values={
                SettingCodes.MAX_CONCURRENT_STREAMS: _H2_STREAM_LIMIT,
                SettingCodes.MAX_HEADER_LIST_SIZE: 2**16,
            },
        )
        conn.initiate_connection()
        conn.data_to_send()  # replaced by the SETTINGS frame APNs would send
        self._transport.write(settings_frame(self._limit, initial=True))
        conn.increment_flow_control_window(CONNECTION_WINDOW - _DEFAULT_WINDOW)
        self._flush()

    def data_received(self, data: bytes) -> None:
        if len(data) <= RECEIVE_SLICE:
            self._receive(data)
            return
        view = memoryview(data)
        for start in range(0, len(data), RECEIVE_SLICE):
            if self._closed:
                return
            self._receive(view[start : start + RECEIVE_SLICE])

    def _receive(self, data: bytes | memoryview) -> None:
        if self._closed:
            return
        try:
            events = self._conn.receive_data(data)
        except ProtocolError:
            self._flush()
            self._close()
            return
        for event in events:
            if isinstance(event, DataReceived):
                self._on_data(event)
            elif isinstance(event, RequestReceived):
                self._on_request(event)
            elif isinstance(event, StreamEnded):
                self._on_stream_ended(event.stream_id)
            elif isinstance(event, WindowUpdated):
                self._on_window_updated()
            elif isinstance(event, StreamReset):
                self._finish(event.stream_id)
            elif isinstance(event, ConnectionTerminated):
                self._flush()
                self._close()
                return
            if self._closed:
                return
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._streams.clear()
        self._pending.clear()
        self._on_close(self)

    # -- events ----------------------------------------------------------------------

    def _on_request(self, event: RequestReceived) -> None:
        stream_id = event.stream_id
        assert stream_id is not None and event.headers is not None
        if self._goaway_last is not None and stream_id > self._goaway_last:
            # Sent after our GOAWAY: never processed, the client may resend it elsewhere.
            self._conn.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
            return
        code = self._core.faults.reset_stream_code
        if code is not None:
            self._core.stats.streams_reset += 1
            self._conn.reset_stream(stream_id, code)
            return
        if len(self._streams) >= self._limit:
            self._core.stats.streams_refused += 1
            self._conn.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
            return
        self._streams[stream_id] = _Stream(list(event.headers))
        self._admitted += 1
        after = self._core.faults.goaway_after_streams
        if after is not None and self._admitted >= after and self._goaway_last is None:
            self._send_goaway(stream_id)

    def _on_data(self, event: DataReceived) -> None:
        stream_id = event.stream_id
        assert stream_id is not None and event.data is not None
        self._conn.acknowledge_received_data(event.flow_controlled_length or 0, stream_id)
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        data = event.data
        stream.size += len(data)
        if stream.size <= MAX_BODY_BUFFER:
            stream.body.append(data)

    def _on_stream_ended(self, stream_id: int | None) -> None:
        stream = self._streams.get(stream_id or 0)
        if stream is None or self._state is None or stream_id is None:
            return
        body = stream.body[0] if len(stream.body) == 1 else b"".join(stream.body)
        state = self._state
        response = self._core.handle(state, stream.headers, body, stream.size)
        if self._limit < self._max_streams and state.auth.authenticated:
            self._raise_limit()
        if response.abort:
            self._abort()
        elif response.delay:
            asyncio.get_running_loop().call_later(
                response.delay, self._send_delayed, stream_id, response
            )
        else:
            self._send_response(stream_id, response)

    def _on_window_updated(self) -> None:
        for stream_id, body in list(self._pending.items()):
            del self._pending[stream_id]
            self._send_body(stream_id, body)

    # -- sending ---------------------------------------------------------------------

    def _send_delayed(self, stream_id: int, response: Response) -> None:
        if self._closed:
            return
        self._send_response(stream_id, response)
        self._flush()

    def _send_response(self, stream_id: int, response: Response) -> None:
        if stream_id not in self._streams:
            return  # reset by the client meanwhile
        try:
            self._conn.send_headers(stream_id, response.headers, end_stream=not response.body)
        except ProtocolError:
            self._finish(stream_id)
            return
        if response.body:
            self._send_body(stream_id, response.body)
        else:
            self._finish(stream_id)

    def _send_body(self, stream_id: int, body: bytes) -> None:
        """Send as much as the client's flow-control window allows; the rest waits."""
        conn = self._conn
        try:
            room = min(conn.local_flow_control_window(stream_id), conn.max_outbound_frame_size)
            if room >= len(body):
                conn.send_data(stream_id, body, end_stream=True)
                self._finish(stream_id)
                return
            if room > 0:
                conn.send_data(stream_id, body[:room])
                body = body[room:]
        except ProtocolError:
            self._finish(stream_id)
            return
        self._pending[stream_id] = body

    def _finish(self, stream_id: int | None) -> None:
        if stream_id is None or self._streams.pop(stream_id, None) is None:
            return
        self._pending.pop(stream_id, None)
        if self._goaway_last is not None and not self._streams:
            self._flush()
            self._close()

    def _raise_limit(self) -> None:
        self._limit = self._max_streams
        self._write_frame(settings_frame(self._max_streams, initial=False))

    def _send_goaway(self, last_stream_id: int) -> None:
        self._goaway_last = last_stream_id
        self._core.stats.faults_applied["goaway"] += 1
        frame = GoAwayFrame(
            0,
            last_stream_id=last_stream_id,
            error_code=ErrorCodes.NO_ERROR,
            additional_data=goaway_debug_data(ApnsReason.SHUTDOWN),
        )
        self._write_frame(frame.serialize())

    def _write_frame(self, frame: bytes) -> None:
        """Write a hand-made frame after whatever h2 has queued, keeping frame order."""
        if self._transport is not None and not self._closed:
            self._transport.write(self._conn.data_to_send() + frame)

    def _flush(self) -> None:
        data = self._conn.data_to_send()
        if data and self._transport is not None and not self._closed:
            self._transport.write(data)

    def _close(self) -> None:
        if not self._closed and self._transport is not None:
            self._closed = True
            self._transport.close()

    def _abort(self) -> None:
        if not self._closed and self._transport is not None:
            self._closed = True
            self._transport.abort()

    def close(self) -> None:
        """Close from the server side (sandbox shutdown)."""
        self._flush()
        self._close()
