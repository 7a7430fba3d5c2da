"""The sans-IO HTTP/2 core against a server-side h2 connection, no sockets."""

from __future__ import annotations

import json

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import DataReceived, RequestReceived, StreamEnded
from h2.settings import SettingCodes

from ringpush.apns.h2_session import (
    ApnsSession,
    GoingAway,
    PushAnswered,
    StreamLimitChanged,
    StreamRefused,
)
from ringpush.apns.notification import Notification

TOKEN = "ab" * 32


class Peer:
    """A server-side h2 connection wired to an ApnsSession in memory."""

    def __init__(self, **settings: int) -> None:
        self.h2 = H2Connection(H2Configuration(client_side=False, header_encoding=None))
        self.h2.initiate_connection()
        changes: dict[SettingCodes | int, int] = {
            SettingCodes.MAX_CONCURRENT_STREAMS: settings.get("streams", 1000)
        }
        if "window" in settings:
            changes[SettingCodes.INITIAL_WINDOW_SIZE] = settings["window"]
        self.h2.update_settings(changes)
        self.session = ApnsSession("api.example:443")
        self.session.initiate()
        self.bodies: dict[int, bytes] = {}
        self.ended: list[int] = []
        self.exchange()

    def exchange(self) -> list[object]:
        """Move bytes both ways until quiet; returns the session's events."""
        events: list[object] = []
        for _ in range(10):
            moved = False
            out = self.session.data_to_send()
            if out:
                moved = True
                for event in self.h2.receive_data(out):
                    if isinstance(event, DataReceived):
                        self.bodies[event.stream_id] = (
                            self.bodies.get(event.stream_id, b"") + event.data
                        )
                    if isinstance(event, StreamEnded):
                        self.ended.append(event.stream_id)
                    if isinstance(event, RequestReceived):
                        self.bodies.setdefault(event.stream_id, b"")
            back = self.h2.data_to_send()
            if back:
                moved = True
                events.extend(self.session.receive(back))
            if not moved:
                break
        return events

    def answer(
        self, stream_id: int, status: int = 200, body: dict[str, object] | None = None
    ) -> None:
        headers = [(b":status", str(status).encode()), (b"apns-id", b"x")]
        if body is None:
            self.h2.send_headers(stream_id, headers, end_stream=True)
        else:
            self.h2.send_headers(stream_id, headers)
            self.h2.send_data(stream_id, json.dumps(body).encode(), end_stream=True)


def push(size: int = 10) -> Notification:
    return Notification.voip("com.example.app", TOKEN, {"p": "x" * size})


def test_opens_no_more_streams_than_the_peer_allows() -> None:
    peer = Peer(streams=1)
    assert peer.session.available_streams == 1
    first = peer.session.submit(push().encode(), b"bearer t")
    assert peer.session.available_streams == 0
    peer.exchange()
    peer.answer(first)
    peer.h2.update_settings({SettingCodes.MAX_CONCURRENT_STREAMS: 500})
    events = peer.exchange()
    assert any(isinstance(e, PushAnswered) and e.status == 200 for e in events)
    assert StreamLimitChanged(500) in events
    assert peer.session.available_streams == 500


def test_body_waits_for_window_update_and_never_overruns() -> None:
    """With a 100-byte stream window a 5000-byte VoIP body goes out in window-sized steps."""
    peer = Peer(window=100)
    request = push(4900).encode()
    stream_id = peer.session.submit(request, None)
    peer.exchange()
    assert len(peer.bodies[stream_id]) == 100
    assert stream_id not in peer.ended
    while stream_id not in peer.ended:
        before = len(peer.bodies[stream_id])
        peer.h2.increment_flow_control_window(100, stream_id=stream_id)
        peer.exchange()
        assert len(peer.bodies[stream_id]) - before <= 200
    assert peer.bodies[stream_id] == request.body


def test_goaway_lists_exactly_the_unprocessed_streams() -> None:
    peer = Peer()
    ids = [peer.session.submit(push().encode(), None) for _ in range(6)]
    peer.exchange()
    peer.h2.close_connection(last_stream_id=ids[2], additional_data=b'{"reason":"Shutdown"}')
    [going] = [e for e in peer.exchange() if isinstance(e, GoingAway)]
    assert going.last_stream_id == ids[2]
    assert going.unprocessed == tuple(ids[3:])
    assert going.reason == "Shutdown"
    assert peer.session.available_streams == 0


def test_streams_below_last_stream_id_are_still_answered_after_goaway() -> None:
    """RFC 9113 §6.8: a graceful GOAWAY lets the processed streams finish."""
    peer = Peer()
    ids = [peer.session.submit(push().encode(), None) for _ in range(3)]
    peer.exchange()
    peer.h2.close_connection(last_stream_id=ids[1])
    peer.exchange()
    peer.h2.state_machine.state = peer.h2.state_machine.state.__class__.SERVER_OPEN
    peer.answer(ids[0])
    peer.answer(ids[1], 410, {"reason": "Unregistered", "timestamp": 1_700_000_000_000})
    answers = [e for e in peer.exchange() if isinstance(e, PushAnswered)]
    assert [(a.stream_id, a.status) for a in answers] == [(ids[0], 200), (ids[1], 410)]
    assert answers[1].reason == "Unregistered"
    assert answers[1].timestamp_ms == 1_700_000_000_000


def test_reset_stream_is_reported_as_refused() -> None:
    peer = Peer()
    stream_id = peer.session.submit(push().encode(), None)
    peer.exchange()
    peer.h2.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
    assert StreamRefused(stream_id, ErrorCodes.REFUSED_STREAM) in peer.exchange()
    assert peer.session.open_streams == 0


def test_error_body_is_parsed() -> None:
    peer = Peer()
    stream_id = peer.session.submit(push().encode(), None)
    peer.exchange()
    peer.answer(stream_id, 400, {"reason": "BadDeviceToken"})
    [answer] = [e for e in peer.exchange() if isinstance(e, PushAnswered)]
    assert (answer.status, answer.reason, answer.timestamp_ms) == (400, "BadDeviceToken", None)


def test_authorization_and_path_are_never_indexed() -> None:
    """Secrets and per-push values stay out of the peer's HPACK table (docs/apns.md §6)."""
    peer = Peer()
    peer.session.submit(push().encode(), b"bearer secret-token")
    peer.exchange()
    table = list(peer.h2.decoder.header_table.dynamic_entries)
    names = {name for name, _ in table}
    assert b"authorization" not in names
    assert b":path" not in names
    assert b"apns-id" not in names
    assert b"apns-topic" in names
