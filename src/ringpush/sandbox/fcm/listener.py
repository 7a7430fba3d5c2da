"""HTTPS on one port, HTTP/2 and HTTP/1.1 by ALPN: hypercorn's protocols behind a TLS
listener the sandbox owns, on the caller's event loop.

Clients of FCM use both versions (Sygnal HTTP/1.1, Flexisip and the Admin SDK's async
client HTTP/2: docs/fcm.md §1). The listener follows ringpush's own
:mod:`ringpush.server.https` (asyncio's TLS server, hypercorn's ``TCPServer`` per
connection, a short TLS shutdown so that stopping takes no 30 s), and adds what that
server has no need for: it knows each connection by the client's address, so the
``drop_rate`` fault can abort the very connection a request came on
(:meth:`TlsListener.drop`), which ASGI has no way to say.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import tempfile
from pathlib import Path
from typing import Any

from hypercorn.app_wrappers import ASGIWrapper
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.asyncio.worker_context import WorkerContext
from hypercorn.config import Config
from starlette.types import ASGIApp

from ringpush.sandbox.certificates import IssuedCertificate

log = logging.getLogger("ringpush.sandbox.fcm")

#: How long closing a TLS connection waits for the client's close_notify.
TLS_SHUTDOWN_SECONDS = 1.0
#: An idle connection is closed after this long (and the TLS handshake gets as long).
IDLE_SECONDS = 30.0
H2_MAX_CONCURRENT_STREAMS = 100
#: Requests one connection may carry: as many as it likes.
KEEP_ALIVE_MAX_REQUESTS = 2**62


def server_context(certificate: IssuedCertificate) -> ssl.SSLContext:
    """TLS 1.2+ offering ``h2`` then ``http/1.1``. ``ssl`` loads a chain only from a
    file: it goes into a private temporary file, removed once loaded."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION
    with tempfile.TemporaryDirectory(prefix="ringpush-fcm-") as directory:
        chain = Path(directory) / "server.pem"
        fd = os.open(chain, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(certificate.certificate_pem + certificate.key_pem)
        context.load_cert_chain(chain)
    context.set_alpn_protocols(["h2", "http/1.1"])
    return context


class TlsListener:
    def __init__(self, app: ASGIApp, context: ssl.SSLContext, *, grace: float = 1.0) -> None:
        """``grace``: how long :meth:`stop` lets running requests finish."""
        wrapped: Any = app  # hypercorn types ASGI messages more narrowly than starlette
        config = Config()
        config.keep_alive_timeout = IDLE_SECONDS
        # hypercorn's default ends an HTTP/2 connection after 1000 requests and loses the
        # ones in flight (found by bench/fcm_throughput.py); FCM keeps connections for ever.
        config.keep_alive_max_requests = KEEP_ALIVE_MAX_REQUESTS
        config.h2_max_concurrent_streams = H2_MAX_CONCURRENT_STREAMS
        config.include_server_header = False
        config.accesslog = None
        config.errorlog = log
        self._config = config
        self._app = ASGIWrapper(wrapped)
        self._tls = context
        self._grace = grace
        self._context = WorkerContext(None)
        self._server: asyncio.Server | None = None
        self._writers: dict[tuple[str, int], asyncio.StreamWriter] = {}
        self._connections: set[asyncio.Task[Any]] = set()

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the port (``port`` 0 picks a free one)."""
        self._server = await asyncio.start_server(
            self._connected,
            host,
            port,
            ssl=self._tls,
            ssl_handshake_timeout=IDLE_SECONDS,
            ssl_shutdown_timeout=TLS_SHUTDOWN_SECONDS,
            reuse_address=True,
        )
        bound: int = self._server.sockets[0].getsockname()[1]
        return bound

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        peer = writer.get_extra_info("peername")
        key = (str(peer[0]), int(peer[1])) if peer else None
        self._connections.add(task)
        if key is not None:
            self._writers[key] = writer
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
            if key is not None and self._writers.get(key) is writer:
                del self._writers[key]

    def drop(self, client: tuple[str, int] | None) -> bool:
        """Abort the TCP connection from ``client`` at once: no answer, no TLS goodbye."""
        writer = self._writers.get(client) if client is not None else None
        if writer is None:
            return False
        writer.transport.abort()
        return True

    async def stop(self) -> None:
        """Stop accepting; idle connections close, running requests get the grace, then
        every connection left is aborted."""
        if self._server is None:
            return
        self._server.close()
        await self._context.terminated.set()
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=self._grace)
        for writer in list(self._writers.values()):
            writer.transport.abort()
        running = list(self._connections)
        for task in running:
            task.cancel()
        for task in running:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2)
        self._server = None
