"""uvicorn inside the caller's event loop, on a socket the caller bound: the one way
ringpush embeds it (``ringpush serve``'s plain HTTP in ``server/embedded.py``, the
sandbox's control API, tests). The caller binds first so that port 0 gives it the port
at once, and decides itself when the server stops (uvicorn's signal handlers are off)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator
from typing import Any

import uvicorn


class _QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers: whoever embeds it decides when it stops."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bound_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (IPv6 when the host is), not yet listening."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class EmbeddedUvicorn:
    """``app`` on uvicorn; ``settings`` are more :class:`uvicorn.Config` arguments."""

    def __init__(self, app: Any, **settings: Any) -> None:
        self._config = uvicorn.Config(
            app, log_level="warning", lifespan="off", access_log=False, **settings
        )
        self._server: _QuietServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, sock: socket.socket) -> None:
        """Serve on ``sock``; returns once uvicorn listens (or raises why it could not)."""
        self._server = _QuietServer(self._config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise OSError("HTTP server failed to start")
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        """Stop accepting, let running requests finish (``timeout_graceful_shutdown``)."""
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        self._server = None
        self._task = None
