"""The hand-written HTTP/2 transport: the sans-IO session against a server-side h2
connection (no sockets), then the transport under ``FcmClient`` against the real
``FcmSandbox`` over TLS, and against a small h2 server that sends GOAWAY."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator

import hypercorn.protocol
import hypercorn.protocol.h2
import pytest
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import DataReceived, RequestReceived, StreamEnded
from h2.settings import SettingCodes

from ringpush.apns.transport import TransportFailure
from ringpush.fcm.client import FcmClient
from ringpush.fcm.h2_session import (
    Answered,
    GoingAway,
    H2Session,
    StreamLimitChanged,
    StreamRefused,
    header_block,
)
from ringpush.fcm.h2_transport import H2Transport
from ringpush.fcm.message import FcmMessage
from ringpush.fcm.service_account import ServiceAccount
from ringpush.fcm.transport import TransportError
from ringpush.sandbox.certificates import CertificateAuthority
from ringpush.sandbox.fcm import FcmSandbox
from ringpush.sandbox.fcm.listener import H2_MAX_CONCURRENT_STREAMS, server_context

PROJECT = "ringpush-test"
PACKAGE = "com.example.ring"
SEND_HEADERS = {"authorization": "Bearer ya29.secret", "content-type": "application/json"}


class Peer:
    """A server-side h2 connection wired to an :class:`H2Session` in memory."""

    def __init__(self, **settings: int) -> None:
        self.h2 = H2Connection(H2Configuration(client_side=False, header_encoding=None))
        self.session = H2Session("fcm.example:443")
        self.session.initiate()
        self._settings = settings
        self.bodies: dict[int, bytes] = {}
        self.ended: list[int] = []

    def greet(self) -> list[object]:
        """The server's preface and SETTINGS, as a server sends them at once."""
        self.h2.initiate_connection()
        changes: dict[SettingCodes | int, int] = {
            SettingCodes.MAX_CONCURRENT_STREAMS: self._settings.get("streams", 100)
        }
        if "window" in self._settings:
            changes[SettingCodes.INITIAL_WINDOW_SIZE] = self._settings["window"]
        self.h2.update_settings(changes)
        return self.exchange()

    def exchange(self) -> list[object]:
        """Move bytes both ways until quiet; returns the session's events."""
        events: list[object] = []
        for _ in range(10):
            out, back = self.session.data_to_send(), b""
            for event in self.h2.receive_data(out) if out else []:
                if isinstance(event, RequestReceived):
                    self.bodies.setdefault(event.stream_id, b"")
                elif isinstance(event, DataReceived):
                    self.bodies[event.stream_id] += event.data
                elif isinstance(event, StreamEnded):
                    self.ended.append(event.stream_id)
            back = self.h2.data_to_send()
            if back:
                events.extend(self.session.receive(back))
            if not out and not back:
                break
        return events

    def answer(self, stream_id: int, status: int = 200, body: bytes = b'{"name": "m"}') -> None:
        self.h2.send_headers(stream_id, [(b":status", str(status).encode())])
        self.h2.send_data(stream_id, body, end_stream=True)


def submit(peer: Peer, body: bytes = b'{"message": {}}') -> int:
    return peer.session.submit(b"/v1/projects/p/messages:send", header_block(SEND_HEADERS), body)


def test_no_stream_opens_before_the_peer_settings_and_never_above_its_limit() -> None:
    peer = Peer(streams=2)
    assert peer.session.available_streams == 0
    assert StreamLimitChanged(2) in peer.greet()
    first, _ = submit(peer), submit(peer)
    assert peer.session.available_streams == 0
    peer.exchange()
    peer.answer(first)
    [answer] = [e for e in peer.exchange() if isinstance(e, Answered)]
    assert (answer.stream_id, answer.status, answer.body) == (first, 200, b'{"name": "m"}')
    assert peer.session.available_streams == 1


def test_a_body_waits_for_window_update_and_never_overruns() -> None:
    """With a 100-byte stream window a 4000-byte body goes out in window-sized steps."""
    peer = Peer(window=100)
    peer.greet()
    body = b"x" * 4000
    stream_id = submit(peer, body)
    peer.exchange()
    assert len(peer.bodies[stream_id]) == 100
    while stream_id not in peer.ended:
        before = len(peer.bodies[stream_id])
        peer.h2.increment_flow_control_window(100, stream_id=stream_id)
        peer.exchange()
        assert len(peer.bodies[stream_id]) - before <= 200
    assert peer.bodies[stream_id] == body


def test_goaway_lists_exactly_the_streams_never_processed() -> None:
    peer = Peer()
    peer.greet()
    ids = [submit(peer) for _ in range(5)]
    peer.exchange()
    peer.h2.close_connection(last_stream_id=ids[1])
    [going] = [e for e in peer.exchange() if isinstance(e, GoingAway)]
    assert going.last_stream_id == ids[1]
    assert going.unprocessed == tuple(ids[2:])
    assert peer.session.available_streams == 0


def test_refused_stream_is_reported_unprocessed() -> None:
    peer = Peer()
    peer.greet()
    stream_id = submit(peer)
    peer.exchange()
    peer.h2.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
    [refused] = [e for e in peer.exchange() if isinstance(e, StreamRefused)]
    assert refused.unprocessed and peer.session.open_streams == 0


def test_the_access_token_is_never_indexed() -> None:
    """A credential stays out of the peer's HPACK table (RFC 7541 §7.1.3)."""
    peer = Peer()
    peer.greet()
    submit(peer)
    peer.exchange()
    names = {name for name, _ in peer.h2.decoder.header_table.dynamic_entries}
    assert b"authorization" not in names
    assert b"content-type" in names


# -- against the sandbox, over TLS ------------------------------------------------------


@pytest.fixture(autouse=True)
def hypercorns_own_h2(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandbox on hypercorn's own HTTP/2 protocol. Importing ``ringpush.server.https``
    (other tests' fake FCM does) swaps in ``server/h2_early_answers.H2Protocol`` for the
    whole process, and that one drops the DATA of a request whose HEADERS came in the
    same read (its stream is not open yet when the events are filtered): this transport
    writes both at once, so every body would arrive empty."""
    monkeypatch.setattr(hypercorn.protocol, "H2Protocol", hypercorn.protocol.h2.H2Protocol)


@pytest.fixture
async def sandbox() -> AsyncIterator[FcmSandbox]:
    fcm = FcmSandbox()
    await fcm.start()
    try:
        yield fcm
    finally:
        await fcm.stop()


@pytest.fixture
async def transport(sandbox: FcmSandbox) -> AsyncIterator[H2Transport]:
    h2 = H2Transport(ca_file=sandbox.ca_file, timeout=5.0)
    yield h2
    await h2.aclose()


def client_of(sandbox: FcmSandbox, transport: H2Transport) -> FcmClient:
    account = ServiceAccount.from_mapping(sandbox.issue_service_account(PROJECT))
    return FcmClient(account, base_url=sandbox.url, transport=transport)


def wakeup(sandbox: FcmSandbox) -> FcmMessage:
    token = sandbox.issue_token(PACKAGE, PROJECT)
    return FcmMessage.for_call(token, {"call_id": "c1"}, ring_seconds=30)


async def test_many_concurrent_sends_share_one_connection_within_its_stream_limit(
    sandbox: FcmSandbox, transport: H2Transport
) -> None:
    """250 sends at once, over the sandbox's 100 streams: they queue, none is refused."""
    client = client_of(sandbox, transport)
    await client.send(wakeup(sandbox))  # the access token, the connection
    messages = [wakeup(sandbox) for _ in range(250)]
    sends = asyncio.gather(*(client.send(m) for m in messages))
    await asyncio.sleep(0)  # every send has been handed to the transport
    assert transport.in_flight == H2_MAX_CONCURRENT_STREAMS
    results = await sends
    assert all(r.sent for r in results)
    assert transport.connections_opened == 1
    assert sandbox.stats.accepted == 251
    assert not sandbox.stats.rejected


async def test_a_dropped_connection_fails_its_streams_as_connection_lost(
    sandbox: FcmSandbox, transport: H2Transport
) -> None:
    client = client_of(sandbox, transport)
    await client.send(wakeup(sandbox))
    sandbox.faults.update({"drop_rate": 1.0})
    results = await asyncio.gather(*(client.send(wakeup(sandbox)) for _ in range(20)))
    assert {r.failure for r in results} == {TransportFailure.CONNECTION_LOST}
    sandbox.faults.clear()
    assert (await client.send(wakeup(sandbox))).sent  # on a new connection
    assert transport.connections_opened == 2


async def test_latency_keeps_concurrent_sends_in_flight_together(
    sandbox: FcmSandbox, transport: H2Transport
) -> None:
    client = client_of(sandbox, transport)
    await client.send(wakeup(sandbox))
    sandbox.faults.update({"latency_ms": 300})
    sends = asyncio.gather(*(client.send(wakeup(sandbox)) for _ in range(50)))
    for _ in range(200):
        if transport.in_flight == 50:
            break
        await asyncio.sleep(0.005)
    assert transport.in_flight == 50
    assert all(r.sent for r in await sends)


async def test_an_answer_later_than_the_timeout_fails_as_timeout_and_spares_the_connection(
    sandbox: FcmSandbox,
) -> None:
    transport = H2Transport(ca_file=sandbox.ca_file, timeout=0.3)
    client = client_of(sandbox, transport)
    try:
        await client.send(wakeup(sandbox))
        sandbox.faults.update({"latency_ms": 2000})
        late = await client.send(wakeup(sandbox))
        assert (late.sent, late.failure) == (False, TransportFailure.TIMEOUT)
        sandbox.faults.clear()
        assert (await client.send(wakeup(sandbox))).sent
        assert transport.connections_opened == 1
    finally:
        await transport.aclose()


async def test_nothing_listening_fails_as_connect_failed() -> None:
    transport = H2Transport(timeout=5.0)
    with contextlib.closing(socket.socket()) as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    try:
        with pytest.raises(TransportError) as caught:
            await transport.post(f"https://127.0.0.1:{port}/token", {}, b"x")
    finally:
        await transport.aclose()
    assert caught.value.failure is TransportFailure.CONNECT_FAILED


# -- GOAWAY, from a small h2 server --------------------------------------------------------


class GoawayServer:
    """Answers 200; on its first connection, once it has answered ``keep`` requests, it
    sends GOAWAY naming the last of them and processes nothing else."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.ca = CertificateAuthority("test CA")
        self.served: list[int] = []  # requests answered, per connection
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        context = server_context(self.ca.issue_server_certificate())
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=context)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = not self.served
        self.served.append(0)
        h2 = H2Connection(H2Configuration(client_side=False))
        h2.initiate_connection()
        writer.write(h2.data_to_send())
        going = False
        with contextlib.suppress(ConnectionError):
            while not going and (data := await reader.read(65536)):
                for event in h2.receive_data(data):
                    if not isinstance(event, StreamEnded) or going:
                        continue  # once going away, nothing more is processed
                    h2.send_headers(event.stream_id, [(":status", "200")])
                    h2.send_data(event.stream_id, b'{"name": "projects/p/m/1"}', end_stream=True)
                    self.served[-1] += 1
                    if first and self.served[-1] == self.keep:
                        h2.close_connection(last_stream_id=event.stream_id)
                        going = True
                writer.write(h2.data_to_send())
        writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()


async def test_streams_the_peer_never_processed_are_resent_on_a_new_connection() -> None:
    server = GoawayServer(keep=4)
    port = await server.start()
    transport = H2Transport(ca_pem=server.ca.certificate_pem, timeout=5.0)
    url = f"https://127.0.0.1:{port}/v1/projects/p/messages:send"
    try:
        answers = await asyncio.gather(
            *(transport.post(url, SEND_HEADERS, json.dumps({"n": n}).encode()) for n in range(10))
        )
    finally:
        await transport.aclose()
        await server.stop()
    assert [a.status for a in answers] == [200] * 10
    assert transport.connections_opened == 2
    assert server.served == [4, 6]
