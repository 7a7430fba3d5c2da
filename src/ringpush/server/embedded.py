"""Serve an ASGI app inside the caller's event loop (``ringpush serve``, tests, ``ringpush
demo``): plain HTTP/1.1 on uvicorn, HTTPS on hypercorn.

Plain HTTP is the hot path (a loopback address, or behind a TLS-terminating proxy):
uvicorn with httptools on uvloop, measured in ``bench/call_latency.py``. HTTPS, when the
server holds a certificate, must speak HTTP/2 as well as HTTP/1.1 (ALPN picks), which
uvicorn does not: hypercorn's protocols serve both there (:mod:`ringpush.server.https`),
on the same app. Each gets the slow-client rules of :mod:`ringpush.server.slow_clients`
in its own way: on HTTPS one idle timer is both the head deadline and the keep-alive, the
shorter of the two.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from ringpush.embedded_uvicorn import EmbeddedUvicorn, bound_socket
from ringpush.server.https import HttpsServer
from ringpush.server.slow_clients import (
    BODY_SECONDS,
    HEAD_SECONDS,
    BodyDeadline,
    protocol_with_deadline,
)

#: How long a stopping server waits for requests still running before it drops them.
GRACEFUL_SHUTDOWN_SECONDS = 10

#: How long an idle keep-alive connection stays open. Longer than the idle time of common
#: HTTP clients (httpx and `ringpush.sdk` keep idle connections for 5 s): when both sides
#: give up on an idle connection at the same moment, a request sent on it just as the server
#: closes it fails with a read error, and a POST is not retried by the client.
KEEP_ALIVE_SECONDS = 15


class EmbeddedHttpServer:
    def __init__(
        self,
        app: Any,
        *,
        grace: int = GRACEFUL_SHUTDOWN_SECONDS,
        head_seconds: float = HEAD_SECONDS,
        body_seconds: float = BODY_SECONDS,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self._app = app
        #: (certificate chain, key) PEM files: HTTPS (HTTP/2 and HTTP/1.1) instead of HTTP.
        self._tls = tls
        self._grace = grace
        self._head_seconds = head_seconds
        self._body_seconds = body_seconds
        self._uvicorn: EmbeddedUvicorn | None = None
        self._https: HttpsServer | None = None
        self.port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        sock = bound_socket(host, port)
        self.port = int(sock.getsockname()[1])
        if self._tls is not None:
            await self._start_https(sock, *self._tls)
            return self.port
        self._uvicorn = EmbeddedUvicorn(
            self._app,
            timeout_graceful_shutdown=self._grace,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            http=protocol_with_deadline(self._head_seconds, self._body_seconds),
        )
        await self._uvicorn.start(sock)
        return self.port

    async def _start_https(self, sock: socket.socket, cert: Path, key: Path) -> None:
        # Starlette's ASGI types and hypercorn's describe the same protocol apart.
        app: Any = BodyDeadline(self._app, self._body_seconds)
        self._https = HttpsServer(
            app,
            cert,
            key,
            idle_seconds=min(KEEP_ALIVE_SECONDS, self._head_seconds),
            grace=float(self._grace),
        )
        await self._https.start(sock)

    async def stop(self) -> None:
        if self._https is not None:
            await self._https.stop()
            self._https = None
        if self._uvicorn is not None:
            await self._uvicorn.stop()
            self._uvicorn = None
