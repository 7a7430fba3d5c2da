"""Request bodies capped before they are read, and requests whose length is ambiguous
refused, under the API and its error format.

Without it a 10 MB body was read whole (and parsed) before any route could refuse it. A
declared ``Content-Length`` over the cap is answered 413 before a byte of the body is
read; a chunked body is counted as it arrives and cut off at the cap. A request with both
``Content-Length`` and ``Transfer-Encoding`` is refused (RFC 9112 §6.1: a proxy and this
server could disagree on where it ends: request smuggling).
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ringpush.server.error_codes import ErrorCode

#: The default cap: the largest body the API takes (an app with a certificate and its
#: CA, a call with 5 KiB of data) with room to spare.
DEFAULT_MAX_BODY_BYTES = 64 * 1024


class _TooLarge(BaseException):
    """Raised out of ``receive`` at the cap. A BaseException on purpose: FastAPI turns any
    Exception met while reading a body into 400 "error parsing the body", and this must
    reach :class:`BodyLimit` to be answered 413."""


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self._too_large = f"request body over {max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length: bytes | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                chunked = True
        if length is not None and chunked:
            await send_error(
                send, ErrorCode.AMBIGUOUS_LENGTH, "Content-Length with Transfer-Encoding"
            )
            return
        if length is not None:
            if not length.isdigit():
                await send_error(
                    send, ErrorCode.BAD_CONTENT_LENGTH, "Content-Length is not a number"
                )
                return
            if int(length) > self.max_bytes:
                await send_error(send, ErrorCode.BODY_TOO_LARGE, self._too_large)
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        await refusing(
            self.app, scope, counted, send, _TooLarge, ErrorCode.BODY_TOO_LARGE, self._too_large
        )


async def refusing(
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    refusal: type[BaseException],
    code: ErrorCode,
    message: str,
) -> None:
    """Run ``app`` with ``receive`` (which raises ``refusal`` when the body must not be
    read on); answer ``code`` then, unless the app's answer has begun (then the refusal
    goes on up, and the connection ends)."""
    started = False

    async def watched(event: Message) -> None:
        nonlocal started
        if event["type"] == "http.response.start":
            started = True
        await send(event)

    try:
        await app(scope, receive, watched)
    except refusal:
        if started:
            raise
        await send_error(send, code, message)


async def send_error(send: Send, code: ErrorCode, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": code.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
