"""HTTPS with HTTP/2 and HTTP/1.1 (ALPN picks): hypercorn's protocols behind a TLS
listener of ringpush's own.

uvicorn serves no HTTP/2, so where ``serve`` holds a certificate hypercorn's HTTP/1.1
and HTTP/2 protocols do (:mod:`ringpush.server.h2_early_answers` mends how the latter
loses a connection). The listener is ours, not hypercorn's ``serve``, for one reason:
closing a TLS connection, asyncio waits for the client's reply to its close_notify, 30 s
by default, and an HTTP client's idle pooled connection never reads one, so every idle
connection hypercorn closed (each keep-alive timeout, and all of them at shutdown) held a
task for 30 s and then logged a traceback, and ``serve`` took 30 s to stop. Here the TLS
shutdown waits :data:`TLS_SHUTDOWN_SECONDS`, and a connection that ends that way ends
quietly.

What is used of hypercorn beyond its documented API (its connection class, worker
context and ASGI wrapper) is pinned with it in ``pyproject.toml``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from pathlib import Path
from typing import Any

from hypercorn.app_wrappers import ASGIWrapper
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.asyncio.worker_context import WorkerContext
from hypercorn.config import Config

from ringpush.server import h2_early_answers

log = logging.getLogger("ringpush.https")

#: How long closing a TLS connection waits for the client's close_notify.
TLS_SHUTDOWN_SECONDS = 1.0
#: Streams one HTTP/2 client may have open at once (each a request in flight, or an
#: event stream it follows).
H2_MAX_CONCURRENT_STREAMS = 100
#: Requests one connection may carry: as many as it likes.
KEEP_ALIVE_MAX_REQUESTS = 2**62


class HttpsServer:
    def __init__(
        self,
        app: Any,
        cert: Path,
        key: Path,
        *,
        idle_seconds: float,
        grace: float,
    ) -> None:
        """``idle_seconds``: hypercorn's idle timer runs from the moment a connection
        opens until a request's head is in, and again after each answer (a byte received
        leaves it running), so it is both the keep-alive and the head deadline; the TLS
        handshake gets as long. No read timeout: a client following an event stream
        sends nothing for minutes, rightly."""
        h2_early_answers.install()
        config = Config()
        config.certfile = str(cert)
        config.keyfile = str(key)
        config.alpn_protocols = ["h2", "http/1.1"]
        config.keep_alive_timeout = idle_seconds
        # hypercorn ends a connection after 1000 requests by default, and on HTTP/2 the
        # request that crosses the count is lost with it (its GOAWAY is sent before the
        # answer). A client keeps one connection for hours (an app's backend, the
        # console): never end one for its request count.
        config.keep_alive_max_requests = KEEP_ALIVE_MAX_REQUESTS
        config.h2_max_concurrent_streams = H2_MAX_CONCURRENT_STREAMS
        config.include_server_header = False
        config.accesslog = None
        config.errorlog = log
        self._config = config
        self._tls = config.create_ssl_context()  # TLS 1.2+, no compression, ALPN
        self._app = ASGIWrapper(app)
        self._idle_seconds = idle_seconds
        self._grace = grace
        self._context = WorkerContext(None)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()

    async def start(self, sock: socket.socket) -> None:
        self._server = await asyncio.start_server(
            self._connected,
            sock=sock,
            ssl=self._tls,
            ssl_handshake_timeout=self._idle_seconds,
            ssl_shutdown_timeout=TLS_SHUTDOWN_SECONDS,
        )

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        loop = asyncio.get_running_loop()
        try:
            await TCPServer(self._app, loop, self._config, self._context, {}, reader, writer)
        except OSError as exc:  # the client never said goodbye (a TimeoutError too)
            log.debug("connection ended: %s", exc)
        except asyncio.CancelledError:  # dropped by stop() once its grace ran out
            pass
        except BaseExceptionGroup as group:
            _, others = group.split((OSError, asyncio.CancelledError))
            if others is not None:
                raise others from None
        finally:
            self._connections.discard(task)

    async def stop(self) -> None:
        """Stop accepting; idle connections close, requests running get ``grace``
        seconds, then are dropped."""
        if self._server is None:
            return
        self._server.close()
        await self._context.terminated.set()
        if self._connections:
            _, running = await asyncio.wait(list(self._connections), timeout=self._grace)
            for task in running:
                task.cancel()
            for task in running:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._server = None
