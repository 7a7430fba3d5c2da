"""Bodies capped before they are read, chunked ones cut off at the cap, ambiguous lengths
refused: over a raw socket, so the requests are exactly what a hostile client sends."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

from starlette.types import Message, Receive, Scope, Send

from ringpush.server.body_limit import DEFAULT_MAX_BODY_BYTES, BodyLimit
from tests.server.conftest import Running


async def exchange(server: Running, head: str, body: bytes = b"") -> tuple[int, dict[str, object]]:
    """Send one request as written; the status and JSON body of the answer."""
    parts = urlsplit(server.url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(head.replace("\n", "\r\n").encode() + body)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)  # the server closes after it
    finally:
        writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    payload = rest.partition(b"\r\n\r\n")[2]
    try:
        parsed = json.loads(payload)
    except ValueError:  # uvicorn's own answers are plain text
        parsed = {"text": payload.decode(errors="replace")}
    return int(status_line.split()[1]), parsed


def head(length: str | None = None, chunked: bool = False) -> str:
    lines = [
        "PUT /v1/apps/big HTTP/1.1",
        "Host: x",
        f"Authorization: Bearer {'rpa_' + 't' * 40}",
        "Content-Type: application/json",
        "Connection: close",
    ]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    return "\n".join(lines) + "\n\n"


async def test_a_declared_body_over_the_cap_is_413_before_it_is_read(server: Running) -> None:
    # the body is never sent: the answer comes from the header alone
    status, body = await exchange(server, head(str(10 * 1024 * 1024)))
    assert status == 413
    assert body["error"] == {
        "code": "body_too_large",
        "message": f"request body over {DEFAULT_MAX_BODY_BYTES} bytes",
    }
    assert (await server.http.get("/v1/apps/big", headers=server.admin())).status_code == 404


async def test_a_chunked_body_is_cut_off_at_the_cap(server: Running) -> None:
    """80 KiB of chunks and no end: the answer comes at the cap, not at the body's end."""
    chunk = b"x" * 16384
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(5))
    status, answer = await exchange(server, head(chunked=True), body)
    assert status == 413, answer
    assert answer["error"]["code"] == "body_too_large"  # type: ignore[index]


async def test_content_length_with_transfer_encoding_is_refused(server: Running) -> None:
    """Refused by the HTTP parser itself (httptools) before the app sees it; the app's
    own check (BodyLimit) stands behind it for any server that lets it through."""
    status, _ = await exchange(server, head("5", chunked=True), b"0\r\n\r\n")
    assert status == 400
    assert (await server.http.get("/v1/apps/big", headers=server.admin())).status_code == 404


async def test_a_body_within_the_cap_is_taken(server: Running) -> None:
    app = json.dumps({"bundle_id": "com.example.big", "ca_pem": "x" * 30_000}).encode()
    status, answer = await exchange(server, head(str(len(app))), app)
    assert status != 413, answer


async def call_directly(headers: list[tuple[bytes, bytes]]) -> tuple[int, bool]:
    """BodyLimit on its own, as any ASGI server would call it: the status it answers and
    whether the app behind it ran (httptools refuses some of these before the app)."""
    ran = False

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal ran
        ran = True

    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    await BodyLimit(app)(scope, receive, send)
    return (sent[0]["status"] if sent else 0), ran


async def test_ambiguous_or_broken_lengths_are_refused_before_the_app() -> None:
    both = [(b"content-length", b"5"), (b"transfer-encoding", b"chunked")]
    assert await call_directly(both) == (400, False)
    assert await call_directly([(b"content-length", b"5x")]) == (400, False)
    assert await call_directly([(b"content-length", b"5")]) == (0, True)
