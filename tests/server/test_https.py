"""The API over HTTPS as ``serve --tls-cert`` speaks it: HTTP/2 when the client offers it
(ALPN), HTTP/1.1 otherwise, with the same answers, event streams and limits."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import httpx
import pytest

from tests.server.stack import running_stack


async def test_calls_and_their_event_streams_over_http2(database_url: str) -> None:
    async with running_stack(database_url, https=True) as stack:
        health = await stack.http.get("/healthz")
        assert health.http_version == "HTTP/2"
        bob = await stack.user("bob")
        await stack.device(bob, "phone")
        await stack.device(bob, "ipad")
        await stack.ring("bob", "c-h2")
        events: list[str] = []
        subscribed = asyncio.Event()

        async def listen() -> None:
            async with stack.http.stream(
                "GET", "/v1/calls/c-h2/events", headers=bob, params={"device_id": "phone"}
            ) as response:
                assert response.http_version == "HTTP/2"
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        events.append(str(json.loads(line[6:])["state"]))
                        subscribed.set()

        listener = asyncio.create_task(listen())
        await asyncio.wait_for(subscribed.wait(), 5)
        # Other requests share the connection with the open stream, many at once.
        listed = await asyncio.gather(
            *(stack.http.get("/v1/devices", headers=bob) for _ in range(20))
        )
        assert {r.status_code for r in listed} == {200}
        assert {r.http_version for r in listed} == {"HTTP/2"}
        # A request answered before its body is read (401: the credential comes first),
        # the body still arriving on the shared connection: the connection, and the event
        # stream on it, carry on.
        unauthenticated = await stack.http.post("/v1/calls", content=b"{" + b" " * 20_000)
        assert unauthenticated.status_code == 401
        ended = await stack.http.post(
            "/v1/calls/c-h2/end", headers=bob, json={"reason": "answered-elsewhere",
                                                    "device_id": "ipad"},
        )  # fmt: skip
        assert ended.status_code == 200, ended.text
        await asyncio.wait_for(listener, 5)
        assert events == ["ringing", "answered"]


async def test_a_body_still_arriving_after_its_answer_leaves_the_connection_whole(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """413 from the declared length, and the client goes on sending its 200 KB: hypercorn
    alone ended the whole connection on the first DATA frame of the answered stream
    (``server/h2_early_answers.py``)."""
    async with running_stack(f"sqlite:///{tmp_path / 'ringpush.db'}", https=True) as stack:
        assert stack.trust is not None
        base = str(stack.http.base_url).rstrip("/")
        async with httpx.AsyncClient(base_url=base, verify=stack.trust, http2=True) as fresh:
            too_big = await fresh.post(
                "/v1/calls", headers=stack.service, content=b"{" + b" " * 200_000
            )
            assert too_big.status_code == 413
            assert too_big.json()["error"]["code"] == "body_too_large"
            again = await fresh.get("/healthz")
            assert again.status_code == 200
            assert again.http_version == "HTTP/2"
    failures = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert failures == []


async def _answers(
    connection: h2.connection.H2Connection,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    stream_id: int,
) -> tuple[int, list[h2.events.Event]]:
    """Send what ``connection`` has queued, then read until ``stream_id`` is answered:
    its status, and every event seen on the way."""
    writer.write(connection.data_to_send())
    seen: list[h2.events.Event] = []
    status = 0
    while True:
        data = await asyncio.wait_for(reader.read(65536), 5)
        assert data, f"the server closed the connection: {seen}"
        for event in connection.receive_data(data):
            seen.append(event)
            if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream_id:
                status = int(dict(event.headers)[b":status"])
            if isinstance(event, h2.events.DataReceived):
                connection.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if isinstance(event, h2.events.StreamEnded) and event.stream_id == stream_id:
                writer.write(connection.data_to_send())
                return status, seen
        writer.write(connection.data_to_send())


async def test_a_body_read_with_its_headers_is_the_request_body(tmp_path: Path) -> None:
    """HEADERS and DATA in one write, so in one read and one batch of h2 events: the
    early-answer guard took that body for one sent after an answer and dropped it."""
    async with running_stack(f"sqlite:///{tmp_path / 'ringpush.db'}", https=True) as stack:
        assert stack.trust is not None and stack.http.base_url.port is not None
        bob = await stack.user("bob")
        stack.trust.set_alpn_protocols(["h2"])
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", stack.http.base_url.port, ssl=stack.trust, server_hostname="127.0.0.1"
        )
        connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        connection.initiate_connection()
        body = json.dumps({"token": stack.token(), "environment": "development"}).encode()
        connection.send_headers(
            1,
            [
                (":method", "PUT"), (":path", "/v1/devices/phone"), (":scheme", "https"),
                (":authority", "127.0.0.1"), ("authorization", bob["Authorization"]),
                ("content-type", "application/json"), ("content-length", str(len(body))),
            ],
        )  # fmt: skip
        connection.send_data(1, body, end_stream=True)
        try:
            status, _ = await _answers(connection, reader, writer, 1)  # one write of all
        finally:
            writer.close()
    assert status == 201


async def test_a_body_ended_short_after_its_answer_leaves_the_connection_whole(
    tmp_path: Path,
) -> None:
    """curl's way with an early answer: it declares 200 000 bytes, has its 413 after the
    first thousand, and ends the stream there. The h2 library alone answered that with
    GOAWAY PROTOCOL_ERROR, and the connection's next request failed."""
    async with running_stack(f"sqlite:///{tmp_path / 'ringpush.db'}", https=True) as stack:
        assert stack.trust is not None and stack.http.base_url.port is not None
        stack.trust.set_alpn_protocols(["h2"])
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", stack.http.base_url.port, ssl=stack.trust, server_hostname="127.0.0.1"
        )
        connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        connection.initiate_connection()
        request = [(":scheme", "https"), (":authority", "127.0.0.1")]
        token = stack.service["Authorization"]
        connection.send_headers(
            1,
            [
                (":method", "POST"),
                (":path", "/v1/calls"),
                *request,
                ("authorization", token),
                ("content-length", "200000"),
            ],
        )
        connection.send_data(1, b"{" + b" " * 1000)
        try:
            status, _ = await _answers(connection, reader, writer, 1)
            assert status == 413
            connection.end_stream(1)  # 1 001 of the 200 000 bytes it declared
            connection.send_headers(3, [(":method", "GET"), (":path", "/healthz"), *request])
            connection.end_stream(3)
            status, seen = await _answers(connection, reader, writer, 3)
        finally:
            writer.close()
    assert status == 200
    assert not [e for e in seen if isinstance(e, h2.events.ConnectionTerminated)]


async def test_one_http2_connection_carries_thousands_of_requests(tmp_path: Path) -> None:
    """hypercorn's default ends a connection after 1000 requests, losing the one that
    crosses the count on HTTP/2; a backend keeps its connection for hours."""
    async with running_stack(f"sqlite:///{tmp_path / 'ringpush.db'}", https=True) as stack:
        statuses: list[int] = []
        for _ in range(1100):  # one at a time: one connection, never a second
            statuses.append((await stack.http.get("/healthz")).status_code)
        assert statuses == [200] * 1100


async def test_http11_clients_are_served_over_tls_as_well(tmp_path: Path) -> None:
    async with running_stack(f"sqlite:///{tmp_path / 'ringpush.db'}", https=True) as stack:
        assert stack.trust is not None
        base = str(stack.http.base_url).rstrip("/")
        async with httpx.AsyncClient(base_url=base, verify=stack.trust, http2=False) as http1:
            answer = await http1.get("/v1/apps", headers=stack.service)
            assert answer.http_version == "HTTP/1.1"
            assert answer.status_code == 403  # a service key may not list apps: same rules
        # A length two parsers could read apart is refused over TLS as over plain HTTP
        # (a client offering no ALPN protocol speaks HTTP/1.1).
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", stack.http.base_url.port, ssl=stack.trust
        )
        writer.write(
            b"POST /v1/calls HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        )
        status = await asyncio.wait_for(reader.readline(), 10)
        writer.close()
        assert status.split()[1] == b"400", status
