"""A lean HTTP/1.1 load generator: keep-alive connections reused, nothing else.

httpx spends milliseconds of CPU per request once hundreds are in flight (its pool is
searched per request), which on 2 cores takes the CPU the server under test needs. This
client does what the benchmark needs and no more: JSON bodies, Content-Length responses
(what the ringpush API sends for everything but event streams), one request per
connection at a time.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit


class LoadClient:
    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(
        self, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        """POST JSON; returns the status and the JSON body."""
        return await self.request("POST", path, body, headers)

    async def request(
        self, method: str, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        """Send JSON with ``method``; returns the status and the JSON body."""
        data = json.dumps(body).encode()
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        request = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{head}"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        ).encode() + data
        status_line = b""
        while not status_line:
            reused = bool(self._idle)
            if reused:
                reader, writer = self._idle.pop()
            else:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            writer.write(request)
            try:
                status_line = await reader.readline()
            except ConnectionError:
                status_line = b""
            if not status_line:  # the server closed an idle connection (keep-alive timeout)
                writer.close()
                if not reused:
                    raise ConnectionError("the server closed a new connection without answering")
        status = int(status_line.split()[1])
        length = 0
        keep = True
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "connection" and value.strip().lower() == "close":
                keep = False
        payload = await reader.readexactly(length) if length else b""
        if keep:
            self._idle.append((reader, writer))
        else:
            writer.close()
        return status, json.loads(payload) if payload else {}

    async def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()
