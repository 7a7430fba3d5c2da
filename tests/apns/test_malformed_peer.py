"""A misbehaving APNs never hangs or crashes the client (issue 14).

A TLS server speaking just enough HTTP/2 to be dialled (ALPN h2, the sandbox's CA) then
breaks the protocol one way per test: bytes that are no frame, a header block HPACK
cannot decode, a header block of a megabyte, a DATA frame on a stream never opened, a
connection that never answers, a connection closed half-way through a frame. Each time
the push must end, within its timeout, as a failure that says what happened, and the
client must still be usable afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from ringpush.apns.client import ApnsClient
from ringpush.apns.credentials import TokenCredentials
from ringpush.apns.notification import Notification
from ringpush.apns.result import NO_RESPONSE
from ringpush.sandbox.certificates import CertificateAuthority
from ringpush.sandbox.tls import server_context

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#: How long a push may take to fail: the client's request timeout, plus room.
TIMEOUT = 2.0


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return (
        struct.pack(">I", len(payload))[1:]
        + bytes([kind, flags])
        + struct.pack(">I", stream)
        + payload
    )


SETTINGS = frame(0x4, 0, 0)
SETTINGS_ACK = frame(0x4, 0x1, 0)
END_HEADERS = 0x4


async def garbage(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\nthis is not a frame at all" * 20)


async def undecodable_headers(writer: asyncio.StreamWriter) -> None:
    writer.write(SETTINGS + SETTINGS_ACK)
    # An indexed field far beyond both tables: HPACK cannot decode it.
    writer.write(frame(0x1, END_HEADERS, 1, b"\xff\xff\xff\xff\x0f"))


async def huge_headers(writer: asyncio.StreamWriter) -> None:
    writer.write(SETTINGS + SETTINGS_ACK)
    block = b"\x00\x05x-big" + b"\x7f\x81\x80\x40" + b"a" * (1 << 20)  # a 1 MB value
    writer.write(frame(0x1, 0, 1, block[:16384]))
    for start in range(16384, len(block), 16384):
        last = start + 16384 >= len(block)
        writer.write(frame(0x9, END_HEADERS if last else 0, 1, block[start : start + 16384]))


async def data_on_an_unopened_stream(writer: asyncio.StreamWriter) -> None:
    writer.write(SETTINGS + SETTINGS_ACK + frame(0x0, 0x1, 7, b"{}"))


async def never_answers(writer: asyncio.StreamWriter) -> None:
    writer.write(SETTINGS + SETTINGS_ACK)


async def cut_mid_frame(writer: asyncio.StreamWriter) -> None:
    writer.write(SETTINGS + SETTINGS_ACK + frame(0x1, END_HEADERS, 1, b"\x88" * 40)[:20])
    await writer.drain()
    writer.close()


@contextlib.asynccontextmanager
async def misbehaving(
    behave: Callable[[asyncio.StreamWriter], object], tmp_path: Path
) -> AsyncIterator[tuple[str, bytes, list[asyncio.StreamWriter]]]:
    ca = CertificateAuthority()
    context: ssl.SSLContext = server_context(ca, ca.issue_server_certificate(), tmp_path)
    held: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        with contextlib.suppress(Exception):
            await reader.readexactly(len(PREFACE))
            await behave(writer)  # type: ignore[misc]
            await writer.drain()
            while await reader.read(65536):  # keep reading what the client sends
                pass

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"https://127.0.0.1:{port}", ca.certificate_pem, held
    finally:
        for writer in held:
            writer.close()
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 5)


@pytest.mark.parametrize(
    "behave",
    [
        garbage,
        undecodable_headers,
        huge_headers,
        data_on_an_unopened_stream,
        never_answers,
        cut_mid_frame,
    ],
)
async def test_a_broken_peer_fails_the_push_with_a_reason(
    behave: Callable[[asyncio.StreamWriter], object],
    credentials: TokenCredentials,
    tmp_path: Path,
) -> None:
    async with misbehaving(behave, tmp_path) as (url, ca_pem, dialled):
        client = ApnsClient(
            credentials,
            base_url=url,
            ca_pem=ca_pem,
            max_connections=1,
            request_timeout=TIMEOUT,
            connect_timeout=TIMEOUT,
        )
        try:
            push = Notification.voip("com.example.app", "ab" * 32, {"aps": {}})
            for _ in range(2):  # and again: the client is still usable after the first
                result = await asyncio.wait_for(client.send(push), 4 * TIMEOUT + 5)
                assert not result.sent
                assert result.status == NO_RESPONSE or result.status >= 400, result
                assert result.error or result.reason, result
        finally:
            await asyncio.wait_for(client.close(), 10)
    # Redialled with a backoff, not at once: a peer that breaks every connection at its
    # start was dialled hundreds of times a second.
    assert len(dialled) <= 20, len(dialled)
