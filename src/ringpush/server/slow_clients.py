"""Slow clients are cut off: a request's head (request line and headers) must arrive whole
within :data:`HEAD_SECONDS` of its first byte, and a new connection must start one as
soon.

uvicorn's keep-alive timer closes a connection that stays idle between requests, but any
byte received cancels it, and nothing is armed again until a response went out: a client
that sends one byte of a request head now and then held its connection (and its memory)
for as long as it liked, and 200 of them held 200 connections. This protocol is uvicorn's
httptools one with that deadline added; nothing else changes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

#: How long a client may take to send a request's head (or to start one on a new
#: connection). Real clients send a head in one write, in milliseconds.
HEAD_SECONDS = 10.0


class SlowClientProtocol(HttpToolsProtocol):
    #: Set on the class by :func:`protocol_with_deadline`.
    head_seconds = HEAD_SECONDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _too_slow(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def protocol_with_deadline(head_seconds: float) -> type[SlowClientProtocol]:
    """The protocol class with its own deadline (uvicorn makes one instance per
    connection from a class)."""
    return type("SlowClientProtocol", (SlowClientProtocol,), {"head_seconds": head_seconds})
