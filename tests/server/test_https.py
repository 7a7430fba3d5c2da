"""The API over HTTPS as ``serve --tls-cert`` speaks it: HTTP/2 when the client offers it
(ALPN), HTTP/1.1 otherwise, with the same answers, event streams and limits."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

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
