"""A TCP proxy between a client and the server: a flaky network, or a load balancer.

Each connection goes to the first of ``ports`` that accepts it, as a load balancer's
health-checked pool would send it; the first ``drop`` connections are cut at once.
"""

from __future__ import annotations

import asyncio
import contextlib


class TcpProxy:
    def __init__(self, *ports: int, drop: int = 0) -> None:
        self.ports = list(ports)
        self.drop = drop
        self.connections = 0
        #: The port each forwarded connection went to, in order.
        self.routed: list[int] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.connections <= self.drop:
            writer.transport.abort()
            return
        for port in self.ports:
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue  # that backend is down: try the next one
            self.routed.append(port)
            break
        else:
            writer.transport.abort()
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
