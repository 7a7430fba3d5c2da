"""The local FCM's HTTP face: an ASGI app that only translates to :class:`FcmCore`.

Two routes, as on Google's hosts: ``POST /token`` (the OAuth token endpoint, which
Google serves on another host; here one port serves both, so one key file's
``token_uri`` and one CA do) and ``POST /v1/projects/{project}/messages:send``. Any
other path or method gets FCM's error shape with 404 and no ``FcmError``, so a client
never mistakes a wrong URL for a dead token. Bodies are read whole before any check
(at most :data:`MAX_BODY_BYTES`).

A dropped connection (the ``drop_rate`` fault) cannot be expressed in ASGI: the app
asks its ``drop`` callback (the TLS listener's) to abort the TCP connection the request
came on, then waits for the server to notice.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable

from starlette.types import Receive, Scope, Send

from ringpush.fcm.error_codes import FcmErrorCode
from ringpush.sandbox.fcm.core import Answer, FcmCore, refusal
from ringpush.sandbox.fcm.rejection import FcmRejected

SEND_PATH = re.compile(r"^/v1/projects/(?P<project>[^/]+)/messages:send$")
TOKEN_PATH = "/token"
#: Far above any valid message (4 KB of data); what is bigger is refused unread.
MAX_BODY_BYTES = 1 << 20


#: Abort the connection from a client address; False if it is not known.
Dropper = Callable[[tuple[str, int] | None], bool]


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body, or None once it passes :data:`MAX_BODY_BYTES`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _until_disconnected(receive: Receive) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(5):
            while (await receive())["type"] != "http.disconnect":
                pass


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class FcmAsgiApp:
    def __init__(self, core: FcmCore, drop: Dropper | None = None) -> None:
        self._core = core
        self._drop = drop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        answer = self._answer(scope, body)
        if answer.delay:
            await asyncio.sleep(answer.delay)
        if answer.drop and self._drop is not None:
            client = scope.get("client")
            if self._drop((str(client[0]), int(client[1])) if client else None):
                await _until_disconnected(receive)
                return
        if answer.drop:  # nothing to drop: answer as a failing FCM would
            answer = refusal(FcmRejected.of(FcmErrorCode.INTERNAL, "Internal error encountered."))
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})

    def _answer(self, scope: Scope, body: bytes | None) -> Answer:
        path: str = scope["path"]
        method: str = scope["method"]
        route = SEND_PATH.fullmatch(path)
        if method != "POST" or (route is None and path != TOKEN_PATH):
            return self._core.not_found(path)
        if body is None:
            too_big = FcmRejected.bad_request(
                f"Request payload size exceeds the limit: {MAX_BODY_BYTES} bytes.", [], fcm=False
            )
            return refusal(too_big)
        if route is None:
            return self._core.exchange(_header(scope, b"content-type"), body)
        return self._core.send(route["project"], _header(scope, b"authorization"), body)

    @staticmethod
    async def _lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
