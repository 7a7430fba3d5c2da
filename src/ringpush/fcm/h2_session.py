"""The HTTP/2 side of one client connection for FCM's POSTs, without I/O.

:class:`H2Session` turns a request into bytes and bytes into small events; the caller
(:mod:`ringpush.fcm.h2_transport`) owns the socket. Like the APNs session
(:mod:`ringpush.apns.h2_session`, whose h2 connection it reuses) it never overruns the
peer: streams open only while the peer's ``SETTINGS_MAX_CONCURRENT_STREAMS`` allows (none
before the peer's first SETTINGS, which a server sends at once), bodies go out inside
the connection's and the stream's flow-control windows (the rest waits for
``WINDOW_UPDATE``), split by the peer's maximum frame size. On GOAWAY it names exactly
the streams the peer never processed (above ``last_stream_id``), which may be sent again
on another connection (RFC 9113 §6.8); REFUSED_STREAM says the same of one stream
(§8.7).

Header blocks go through the APNs hot path's memoising HPACK encoder: a send's headers
are the same on every message (``:path`` names the project, ``authorization`` holds one
access token for an hour). ``authorization`` is a never-indexed literal, kept out of
the peer's table (RFC 7541 §7.1.3).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from h2.config import H2Configuration
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RemoteSettingsChanged,
    ResponseReceived,
    StreamEnded,
    StreamReset,
    WindowUpdated,
)
from h2.settings import SettingCodes
from hpack import HeaderTuple, NeverIndexedHeaderTuple

from ringpush.apns.h2_session import _Http2
from ringpush.apns.hpack_encoder import MemoEncoder

#: Our receive window: answers are small, but never make the peer wait on us.
RECEIVE_WINDOW = 1 << 20
#: Streams opened at most, whatever the peer allows: a peer that sets no limit (h2's
#: default is unbounded) would otherwise get every waiting request in one burst.
MAX_STREAMS = 1000
#: Header names whose values are credentials: never indexed, by us or by a proxy.
SECRET_HEADERS = frozenset({b"authorization"})


@dataclass(frozen=True, slots=True)
class Answered:
    """The peer answered a request: status, headers (names lower-case) and whole body."""

    stream_id: int
    status: int
    headers: Mapping[str, str] = field(repr=False)
    body: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class StreamRefused:
    """The peer reset a stream before answering it; REFUSED_STREAM means unprocessed."""

    stream_id: int
    error_code: int

    @property
    def unprocessed(self) -> bool:
        return self.error_code == ErrorCodes.REFUSED_STREAM


@dataclass(frozen=True, slots=True)
class GoingAway:
    """GOAWAY: streams up to ``last_stream_id`` may still be answered; those listed in
    ``unprocessed`` were not processed and are forgotten here."""

    last_stream_id: int
    error_code: int
    unprocessed: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class StreamLimitChanged:
    limit: int


Event = Answered | StreamRefused | GoingAway | StreamLimitChanged


@dataclass(slots=True)
class _Response:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)


def header_block(headers: Mapping[str, str]) -> tuple[HeaderTuple, ...]:
    """``headers`` as HPACK fields: names lower-case, credentials never indexed."""
    fields: list[HeaderTuple] = []
    for name, value in headers.items():
        key = name.lower().encode("ascii")
        kind = NeverIndexedHeaderTuple if key in SECRET_HEADERS else HeaderTuple
        fields.append(kind(key, value.encode("latin-1")))
    return tuple(fields)


class H2Session:
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
        self._prefix = (
            HeaderTuple(b":method", b"POST"),
            HeaderTuple(b":scheme", b"https"),
            HeaderTuple(b":authority", authority.encode("ascii")),
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
        if self.going_away or not self.peer_settings_seen:
            return 0
        return min(self.stream_limit, MAX_STREAMS) - len(self._h2.streams)

    def submit(self, path: bytes, headers: Sequence[HeaderTuple], body: bytes) -> int:
        """Open a stream for ``POST path``; the caller checks :attr:`available_streams`."""
        h2 = self._h2
        stream_id: int = h2.get_next_available_stream_id()
        h2.send_headers(
            stream_id, [*self._prefix, HeaderTuple(b":path", path), *headers], end_stream=not body
        )
        self._responses[stream_id] = _Response()
        if body:
            self._send_body(stream_id, memoryview(body))
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

    def _resume_bodies(self) -> None:
        for stream_id, rest in list(self._bodies.items()):
            if self._h2.local_flow_control_window(stream_id) <= 0:
                continue
            del self._bodies[stream_id]
            self._send_body(stream_id, rest)

    def cancel(self, stream_id: int) -> None:
        """Give up on a stream (its request timed out)."""
        if self._responses.pop(stream_id, None) is None:
            return
        self._bodies.pop(stream_id, None)
        if stream_id in self._h2.streams:
            self._h2.reset_stream(stream_id, ErrorCodes.CANCEL)
        self._h2.forget_stream(stream_id)

    def close(self) -> None:
        self.going_away = True
        self._h2.close_connection()

    def data_to_send(self) -> bytes:
        return bytes(self._h2.data_to_send())

    # -- inbound ----------------------------------------------------------------------
    def receive(self, data: bytes) -> list[Event]:
        """Feed bytes from the socket; raises ``h2.exceptions.H2Error`` on a broken peer."""
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
                        else:
                            response.headers[name.decode("latin-1")] = value.decode("latin-1")
            elif isinstance(event, DataReceived):
                response = responses.get(event.stream_id)
                if response is not None:
                    response.body += event.data
                h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, StreamEnded):
                response = responses.pop(event.stream_id, None)
                h2.forget_stream(event.stream_id)
                if response is not None:
                    out.append(
                        Answered(
                            event.stream_id, response.status, response.headers, bytes(response.body)
                        )
                    )
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
        return out

    def _going_away(self, event: ConnectionTerminated) -> GoingAway:
        self.going_away = True
        last = event.last_stream_id if event.last_stream_id is not None else 0
        unprocessed = tuple(sorted(sid for sid in self._responses if sid > last))
        for sid in unprocessed:
            del self._responses[sid]
            self._bodies.pop(sid, None)
            self._h2.forget_stream(sid)
        return GoingAway(last, int(event.error_code or 0), unprocessed)
