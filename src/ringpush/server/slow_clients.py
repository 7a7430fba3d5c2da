"""Slow clients are cut off: a request's head (request line and headers) must arrive whole
within :data:`HEAD_SECONDS` of its first byte, a new connection must start one as soon,
and its body must arrive whole within :data:`BODY_SECONDS` of the head's end.

uvicorn's keep-alive timer closes a connection that stays idle between requests, but any
byte received cancels it, and nothing is armed again until a response went out: a client
that sends one byte of a request head now and then held its connection (and its memory)
for as long as it liked, and 200 of them held 200 connections; after the head, uvicorn
waits for a body for ever, so one that trickles its body in did the same. This protocol is
uvicorn's httptools one with those deadlines added; nothing else changes (a request cut off
mid-body reaches the route as a disconnect).

HTTPS is served by hypercorn (``server/embedded.py``): its idle timer covers a new
connection's first head, and :class:`BodyDeadline` is the body deadline there.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ringpush.server.body_limit import refusing
from ringpush.server.error_codes import ErrorCode

#: How long a client may take to send a request's head (or to start one on a new
#: connection). Real clients send a head in one write, in milliseconds.
HEAD_SECONDS = 10.0
#: How long a request's body may take once its head is in. The largest body taken is
#: 64 KiB by default (``serve --max-body-bytes``): seconds even on a poor mobile link.
BODY_SECONDS = 30.0


class SlowClientProtocol(HttpToolsProtocol):
    #: Set on the class by :func:`protocol_with_deadline`.
    head_seconds = HEAD_SECONDS
    body_seconds = BODY_SECONDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None

    def _arm(self, seconds: float) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.head_seconds)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(self.head_seconds)

    def on_headers_complete(self) -> None:
        self._disarm()
        self._arm(self.body_seconds)  # disarmed at once when there is no body
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def protocol_with_deadline(
    head_seconds: float, body_seconds: float = BODY_SECONDS
) -> type[SlowClientProtocol]:
    """The protocol class with its own deadlines (uvicorn makes one instance per
    connection from a class)."""
    deadlines = {"head_seconds": head_seconds, "body_seconds": body_seconds}
    return type("SlowClientProtocol", (SlowClientProtocol,), deadlines)


class _BodyTooSlow(BaseException):
    """Raised out of ``receive`` at the body deadline. A BaseException for the reason
    ``body_limit._TooLarge`` is one: FastAPI answers any Exception met while reading a
    body with 400."""


class BodyDeadline:
    """The body deadline as ASGI middleware, for a server whose protocol has none of its
    own (hypercorn, which serves HTTPS): a request's body must arrive whole within
    ``seconds`` of the request reaching the app (its head is in by then). A late body is
    answered 408 ``body_timeout`` with ``Connection: close`` (on HTTP/2, its stream
    ends there), as uvicorn's connection is closed at the same deadline."""

    def __init__(self, app: ASGIApp, seconds: float = BODY_SECONDS) -> None:
        self.app = app
        self.seconds = seconds
        self._late = f"request body not complete within {seconds:g} s"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.seconds
        whole = False

        async def timed() -> Message:
            nonlocal whole
            if whole:  # the body is in: what is left to hear is the disconnect
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise _BodyTooSlow from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                whole = True
            return message

        await refusing(
            self.app, scope, timed, send, _BodyTooSlow, ErrorCode.BODY_TIMEOUT, self._late
        )
