"""Connections that hog the server: a client dripping a request head byte by byte is cut
off, one user cannot hold more call event streams than allowed, and ordinary keep-alive
connections are left alone; over plain HTTP (uvicorn) and over HTTPS (hypercorn), each
with its own way of enforcing the same deadlines."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ringpush.sandbox.certificates import CertificateAuthority
from ringpush.server.embedded import EmbeddedHttpServer
from tests.server.stack import running_stack


async def _ok(scope: dict[str, object], receive: object, send: object) -> None:
    """The smallest ASGI app: 200 to anything."""
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": b"ok"})  # type: ignore[operator]


async def _reads_body(scope: dict[str, object], receive: object, send: object) -> None:
    """Reads the whole body, then 200 (or nothing, once the client is gone)."""
    assert scope["type"] == "http"
    while True:
        message = await receive()  # type: ignore[operator]
        if message["type"] == "http.disconnect":
            return
        if not message.get("more_body"):
            break
    await _ok(scope, receive, send)


@dataclass
class Served:
    port: int
    #: The client's TLS context (trusting the server's CA), or None for plain HTTP.
    tls: ssl.SSLContext | None

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A raw HTTP/1.1 connection (over TLS when the server speaks it)."""
        return await asyncio.open_connection("127.0.0.1", self.port, ssl=self.tls)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, verify=self.tls or True)


@pytest.fixture(params=["http", "https"])
def scheme(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextlib.asynccontextmanager
async def serving(
    scheme: str,
    tmp_path: Path,
    head_seconds: float = 10,
    body_seconds: float = 30,
    app: object = _ok,
) -> AsyncIterator[Served]:
    tls: tuple[Path, Path] | None = None
    trust: ssl.SSLContext | None = None
    if scheme == "https":
        ca = CertificateAuthority("slow-clients CA")
        issued = ca.issue_server_certificate()
        (tmp_path / "server.pem").write_bytes(issued.certificate_pem)
        (tmp_path / "server.key").write_bytes(issued.key_pem)
        tls = (tmp_path / "server.pem", tmp_path / "server.key")
        trust = ssl.create_default_context(cadata=ca.certificate_pem.decode())
        trust.set_alpn_protocols(["http/1.1"])  # the raw connections speak HTTP/1.1
    server = EmbeddedHttpServer(app, head_seconds=head_seconds, body_seconds=body_seconds, tls=tls)
    port = await server.start()
    try:
        yield Served(port, trust)
    finally:
        await server.stop()


async def dripped_until_closed(served: Served, start: bytes, drip: bytes) -> bool:
    """Send ``start``, then ``drip`` now and then, never finishing the request: whether
    the server closed the connection within 10 s (bounded, not a timing test)."""
    reader, writer = await served.connect()
    writer.write(start)
    started = time.monotonic()
    closed = False
    while time.monotonic() - started < 10 and not closed:
        try:
            writer.write(drip)
            await writer.drain()
            closed = await asyncio.wait_for(reader.read(1), 0.2) == b""
        except TimeoutError:
            pass
        except (ConnectionError, ssl.SSLError):
            closed = True
    writer.close()
    return closed


async def test_a_client_dripping_its_request_head_is_cut_off(scheme: str, tmp_path: Path) -> None:
    async with serving(scheme, tmp_path, head_seconds=0.5) as served:
        # One byte of a header now and then, never the end of the head.
        closed = await dripped_until_closed(served, b"GET / HTTP/1.1\r\nHost: x\r\n", b"X")
    assert closed, "the server kept a connection whose request head never ended"


async def test_a_client_dripping_its_request_body_is_cut_off(scheme: str, tmp_path: Path) -> None:
    async with serving(scheme, tmp_path, body_seconds=0.5, app=_reads_body) as served:
        head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
        closed = await dripped_until_closed(served, head, b"x")
    assert closed, "the server kept a connection whose request body never ended"


async def test_a_body_sent_at_once_is_answered(scheme: str, tmp_path: Path) -> None:
    async with (
        serving(scheme, tmp_path, body_seconds=0.5, app=_reads_body) as served,
        served.client() as http,
    ):
        for _ in range(3):  # and the deadline does not outlive the request
            assert (await http.post("/", content=b"x" * 1000)).status_code == 200
            await asyncio.sleep(0.6)


async def test_a_silent_new_connection_is_closed(scheme: str, tmp_path: Path) -> None:
    async with serving(scheme, tmp_path, head_seconds=0.5) as served:
        # Over HTTPS: not even a TLS handshake (the port is all it opened).
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        assert await asyncio.wait_for(reader.read(1), 10) == b""
        writer.close()


async def test_an_idle_keep_alive_connection_serves_its_next_request(tmp_path: Path) -> None:
    """Plain HTTP only: on HTTPS one timer is both the head deadline and the keep-alive
    (``server/embedded.py``)."""
    async with (
        serving("http", tmp_path, head_seconds=0.3) as served,
        served.client() as http,
    ):
        first = await http.get("/")
        await asyncio.sleep(1.0)  # idle past the head deadline: keep-alive's business
        second = await http.get("/")
        assert first.status_code == second.status_code == 200
        assert first.extensions["network_stream"] is second.extensions["network_stream"]


async def test_one_user_holds_at_most_the_allowed_event_streams(database_url: str) -> None:
    async with running_stack(database_url) as stack:
        bob = await stack.user("bob")
        await stack.device(bob, "phone")
        await stack.ring("bob", "c-streams")
        base = str(stack.http.base_url).rstrip("/")
        url = f"{base}/v1/calls/c-streams/events"
        async with contextlib.AsyncExitStack() as streams:
            clients = [
                await streams.enter_async_context(httpx.AsyncClient(timeout=10)) for _ in range(11)
            ]
            for client in clients[:10]:  # the default cap
                opened = await streams.enter_async_context(client.stream("GET", url, headers=bob))
                assert opened.status_code == 200
            refused = await clients[10].get(url, headers=bob)
            assert refused.status_code == 429
            assert refused.json()["error"]["code"] == "too_many_streams"
            other = await stack.user("carol")  # someone else is not held up by bob
            assert (await clients[10].get(f"{base}/v1/devices", headers=other)).status_code == 200
        # the streams closed: bob may follow the call again
        async with stack.http.stream("GET", "/v1/calls/c-streams/events", headers=bob) as again:
            assert again.status_code == 200
