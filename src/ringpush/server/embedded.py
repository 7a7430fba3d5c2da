"""Serve an ASGI app with uvicorn inside the caller's event loop (tests, `ringpush demo`)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator
from pathlib import Path
from typing import Any

import uvicorn

from ringpush.server.slow_clients import BODY_SECONDS, HEAD_SECONDS, protocol_with_deadline


class _QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers: whoever embeds it decides when it stops."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


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
        #: (certificate chain, key) PEM files: HTTPS instead of HTTP.
        self._tls = tls
        self._grace = grace
        self._head_seconds = head_seconds
        self._body_seconds = body_seconds
        self._server: _QuietServer | None = None
        self._task: asyncio.Task[None] | None = None
        self.port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self._app,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=self._grace,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            http=protocol_with_deadline(self._head_seconds, self._body_seconds),
            ssl_certfile=str(self._tls[0]) if self._tls else None,
            ssl_keyfile=str(self._tls[1]) if self._tls else None,
        )
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise OSError("HTTP server failed to start")
            await asyncio.sleep(0.01)
        return self.port

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
            self._server = None
            self._task = None
