"""The HTTP/2 side of an APNs connection, without I/O (the python-hyper/h2 boundary).

``ApnsSession`` turns pushes into bytes and bytes into small events; the caller owns the
socket. It never overruns the peer: it opens streams only while the peer's
``SETTINGS_MAX_CONCURRENT_STREAMS`` allows, sends bodies only inside the connection and
stream flow-control windows (holding the rest until ``WINDOW_UPDATE``), and splits them by
the peer's maximum frame size. On GOAWAY it reports exactly which streams the peer never
processed, so they can be resent elsewhere (RFC 9113 §6.8).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from h2.config import H2Configuration
from h2.connection import ConnectionState, H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    PingAckReceived,
    RemoteSettingsChanged,
    ResponseReceived,
    StreamEnded,
    StreamReset,
    WindowUpdated,
)
from h2.events import Event as H2Event
from h2.settings import SettingCodes
from hpack import HeaderTuple, NeverIndexedHeaderTuple
from hyperframe.frame import Frame, GoAwayFrame

from ringpush.apns.hpack_encoder import MemoEncoder
from ringpush.apns.notification import PushRequest

#: Our receive window: responses are tiny, but never make APNs wait on us.
RECEIVE_WINDOW = 1 << 20
#: Headers whose values change with every push: sent as literals so they do not churn
#: APNs's small HPACK table (docs/apns.md §6); ``:path`` and ``authorization`` are secrets too.
_UNINDEXED = frozenset({b"apns-id", b"apns-expiration", b"apns-collapse-id"})


class _Http2(H2Connection):
    """h2 counts open streams by scanning every stream on each new stream, which makes a
    connection with a thousand pushes in flight quadratic. The session removes a stream as
    soon as it is finished, so the count is simply the size of the table."""

    def _open_streams(self, remainder: int) -> int:
        return len(self.streams)

    def _receive_goaway_frame(self, frame: GoAwayFrame) -> tuple[list[Frame], list[H2Event]]:
        # h2 treats a received GOAWAY as the end of the connection and refuses every later
        # frame, but RFC 9113 §6.8 lets the streams up to last_stream_id still be answered.
        # Stay open for them; the session opens no new stream after a GOAWAY.
        frames, events = super()._receive_goaway_frame(frame)
        self.state_machine.state = ConnectionState.CLIENT_OPEN
        return frames, events

    def forget_stream(self, stream_id: int) -> None:
        stream = self.streams.pop(stream_id, None)
        if stream is not None:
            self._closed_streams[stream_id] = stream.closed_by


@dataclass(frozen=True, slots=True)
class PushAnswered:
    """The peer answered a push (headers and body complete)."""

    stream_id: int
    status: int
    apns_id: str | None
    unique_id: str | None
    reason: str | None
    timestamp_ms: int | None


@dataclass(frozen=True, slots=True)
class StreamRefused:
    """The peer reset a stream before answering it (e.g. REFUSED_STREAM)."""

    stream_id: int
    error_code: int


@dataclass(frozen=True, slots=True)
class GoingAway:
    """GOAWAY: streams up to ``last_stream_id`` may still be answered, the rest were not
    processed and are listed in ``unprocessed``."""

    last_stream_id: int
    error_code: int
    reason: str | None
    unprocessed: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class StreamLimitChanged:
    limit: int


@dataclass(frozen=True, slots=True)
class PingAcked:
    pass


Event = PushAnswered | StreamRefused | GoingAway | StreamLimitChanged | PingAcked


@dataclass(slots=True)
class _Response:
    status: int = 0
    apns_id: str | None = None
    unique_id: str | None = None
    body: bytearray = field(default_factory=bytearray)


class ApnsSession:
    """One client HTTP/2 connection's state; feed it bytes, take bytes from it."""

    def __init__(self, authority: str) -> None:
        config = H2Configuration(
            client_side=True,
            header_encoding=None,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
            validate_inbound_headers=False,
            normalize_inbound_headers=False,
        )
        self._h2 = _Http2(config=config)
        self._h2.encoder = MemoEncoder()
        self._prefix: tuple[HeaderTuple, ...] = (
            HeaderTuple(b":method", b"POST"),
            HeaderTuple(b":scheme", b"https"),
            HeaderTuple(b":authority", authority.encode()),
        )
        self._responses: dict[int, _Response] = {}
        self._bodies: dict[int, memoryview] = {}
        self.going_away = False
        self.peer_settings_seen = False

    # -- outbound ---------------------------------------------------------------------
    def initiate(self) -> None:
        self._h2.initiate_connection()
        # h2 sends only acknowledged values in its first SETTINGS, so changes go after it.
        self._h2.update_settings(
            {SettingCodes.ENABLE_PUSH: 0, SettingCodes.INITIAL_WINDOW_SIZE: RECEIVE_WINDOW}
        )
        self._h2.increment_flow_control_window(RECEIVE_WINDOW)

    @property
    def stream_limit(self) -> int:
        return int(self._h2.remote_settings.max_concurrent_streams)

    @property
    def open_streams(self) -> int:
        return len(self._responses)

    @property
    def available_streams(self) -> int:
        if self.going_away:
            return 0
        if not self.peer_settings_seen:
            # Until the peer's SETTINGS arrive its limit is unknown; APNs allows one
            # stream before authentication, so one is all we assume.
            return 1 - len(self._h2.streams)
        return self.stream_limit - len(self._h2.streams)

    def submit(self, request: PushRequest, authorization: bytes | None) -> int:
        """Open a stream for ``request``; the caller checks :attr:`available_streams`."""
        h2 = self._h2
        stream_id: int = h2.get_next_available_stream_id()
        headers = [*self._prefix, NeverIndexedHeaderTuple(b":path", request.path)]
        if authorization is not None:
            headers.append(NeverIndexedHeaderTuple(b"authorization", authorization))
        for name, value in request.headers:
            if name in _UNINDEXED:
                headers.append(NeverIndexedHeaderTuple(name, value))
            else:
                headers.append(HeaderTuple(name, value))
        h2.send_headers(stream_id, headers)
        self._responses[stream_id] = _Response()
        self._send_body(stream_id, memoryview(request.body))
        return stream_id

    def _send_body(self, stream_id: int, body: memoryview) -> None:
        h2 = self._h2
        window = min(h2.local_flow_control_window(stream_id), len(body))
        frame = h2.max_outbound_frame_size
        sent = 0
        while sent < window:
            size = min(frame, window - sent)
            last = sent + size == len(body)
            h2.send_data(stream_id, body[sent : sent + size].tobytes(), end_stream=last)
            sent += size
        if sent < len(body):
            self._bodies[stream_id] = body[sent:]
        elif not body:
            h2.end_stream(stream_id)

    def _resume_bodies(self) -> None:
        for stream_id, rest in list(self._bodies.items()):
            if self._h2.local_flow_control_window(stream_id) <= 0:
                continue
            del self._bodies[stream_id]
            self._send_body(stream_id, rest)

    def cancel(self, stream_id: int) -> None:
        """Give up on a stream (its push timed out)."""
        if self._responses.pop(stream_id, None) is None:
            return
        self._bodies.pop(stream_id, None)
        if stream_id in self._h2.streams:
            self._h2.reset_stream(stream_id, ErrorCodes.CANCEL)
        self._h2.forget_stream(stream_id)

    def ping(self, opaque: bytes = b"ringpush") -> None:
        self._h2.ping(opaque)

    def close(self) -> None:
        self.going_away = True
        self._h2.close_connection()

    def data_to_send(self) -> bytes:
        return bytes(self._h2.data_to_send())

    # -- inbound ----------------------------------------------------------------------
    def receive(self, data: bytes) -> list[Event]:
        """Feed bytes from the socket; raises ``h2.exceptions.ProtocolError`` on a broken peer."""
        out: list[Event] = []
        h2 = self._h2
        responses = self._responses
        for event in h2.receive_data(data):
            if isinstance(event, ResponseReceived):
                response = responses.get(event.stream_id)
                if response is not None:
                    for name, value in event.headers:
                        if name == b":status":
                            response.status = int(value)
                        elif name == b"apns-id":
                            response.apns_id = value.decode()
                        elif name == b"apns-unique-id":
                            response.unique_id = value.decode()
            elif isinstance(event, DataReceived):
                response = responses.get(event.stream_id)
                if response is not None:
                    response.body += event.data
                h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, StreamEnded):
                response = responses.pop(event.stream_id, None)
                h2.forget_stream(event.stream_id)
                if response is not None:
                    out.append(_answer(event.stream_id, response))
            elif isinstance(event, StreamReset):
                self._bodies.pop(event.stream_id, None)
                h2.forget_stream(event.stream_id)
                if responses.pop(event.stream_id, None) is not None:
                    out.append(StreamRefused(event.stream_id, int(event.error_code or 0)))
            elif isinstance(event, WindowUpdated):
                if self._bodies:
                    self._resume_bodies()
            elif isinstance(event, RemoteSettingsChanged):
                changed = event.changed_settings
                if not self.peer_settings_seen:
                    self.peer_settings_seen = True
                    out.append(StreamLimitChanged(self.stream_limit))
                elif SettingCodes.MAX_CONCURRENT_STREAMS in changed:
                    out.append(StreamLimitChanged(self.stream_limit))
                if SettingCodes.INITIAL_WINDOW_SIZE in changed and self._bodies:
                    self._resume_bodies()
            elif isinstance(event, ConnectionTerminated):
                out.append(self._going_away(event))
            elif isinstance(event, PingAckReceived):
                out.append(PingAcked())
        return out

    def _going_away(self, event: ConnectionTerminated) -> GoingAway:
        self.going_away = True
        last = event.last_stream_id if event.last_stream_id is not None else 0
        unprocessed = tuple(sorted(sid for sid in self._responses if sid > last))
        for sid in unprocessed:
            del self._responses[sid]
            self._bodies.pop(sid, None)
            self._h2.forget_stream(sid)
        reason = None
        if event.additional_data:
            try:
                reason = str(json.loads(event.additional_data).get("reason"))
            except (ValueError, AttributeError):
                reason = event.additional_data.decode(errors="replace")
        return GoingAway(last, int(event.error_code or 0), reason, unprocessed)


def _answer(stream_id: int, response: _Response) -> PushAnswered:
    reason: str | None = None
    timestamp: int | None = None
    if response.status != 200 and response.body:
        try:
            body = json.loads(response.body)
        except ValueError:
            body = None
        if isinstance(body, dict):
            raw_reason = body.get("reason")
            reason = str(raw_reason) if raw_reason is not None else None
            raw_timestamp = body.get("timestamp")
            if isinstance(raw_timestamp, int | float) and not isinstance(raw_timestamp, bool):
                timestamp = int(raw_timestamp)
    return PushAnswered(
        stream_id, response.status, response.apns_id, response.unique_id, reason, timestamp
    )
