"""A minimal HTTP/2 client built on hyperframe and hpack, independent of the server's h2.

h2's own client state machine refuses every frame after a GOAWAY, but RFC 9113 lets the
server finish streams up to ``last_stream_id`` after one; and tests need to break rules
(exceed the stream limit, repeat headers) that a well-behaved client library won't.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field

from hpack import Decoder, Encoder
from hyperframe.frame import (
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_CONCURRENT_STREAMS = SettingsFrame.MAX_CONCURRENT_STREAMS


@dataclass
class RawResponse:
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    ended: bool = False
    reset_code: int | None = None
    data_frames: int = 0

    @property
    def status(self) -> int:
        return int(self.headers[":status"])

    def status_code_or_none(self) -> int | None:
        return int(self.headers[":status"]) if ":status" in self.headers else None


class RawH2Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._encoder = Encoder()
        self._decoder = Decoder()
        self._next_stream = 1
        self._changed = asyncio.Event()
        self.responses: dict[int, RawResponse] = {}
        self.settings: list[dict[int, int]] = []
        self.goaway: GoAwayFrame | None = None
        self.pings_acked: list[bytes] = []
        self.closed = False
        self._task = asyncio.create_task(self._read_loop())

    @classmethod
    async def connect(
        cls, port: int, context: ssl.SSLContext, settings: dict[int, int] | None = None
    ) -> RawH2Client:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=context, server_hostname="localhost"
        )
        writer.write(PREFACE + SettingsFrame(0, settings=settings or {}).serialize())
        return cls(reader, writer)

    @classmethod
    async def connect_named(
        cls, port: int, context: ssl.SSLContext, server_hostname: str
    ) -> RawH2Client:
        """Connect to 127.0.0.1 but verify the certificate for ``server_hostname``."""
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=context, server_hostname=server_hostname
        )
        writer.write(PREFACE + SettingsFrame(0).serialize())
        return cls(reader, writer)

    @property
    def max_concurrent_streams(self) -> int | None:
        values = [s[MAX_CONCURRENT_STREAMS] for s in self.settings if MAX_CONCURRENT_STREAMS in s]
        return values[-1] if values else None

    def request(
        self, headers: list[tuple[str, str]], body: bytes | None = None, *, write: bool = True
    ) -> tuple[int, bytes]:
        """Frame a request; returns its stream id and bytes (written unless write=False)."""
        stream_id = self._next_stream
        self._next_stream += 2
        self.responses[stream_id] = RawResponse()
        frame = HeadersFrame(stream_id, self._encoder.encode(headers))
        frame.flags.add("END_HEADERS")
        if not body:
            frame.flags.add("END_STREAM")
        data = frame.serialize()
        if body:
            data += DataFrame(stream_id, body, flags=["END_STREAM"]).serialize()
        if write:
            self._writer.write(data)
        return stream_id, data

    def open(self, headers: list[tuple[str, str]]) -> int:
        """Send HEADERS without END_STREAM: the stream stays open until :meth:`finish`."""
        stream_id = self._next_stream
        self._next_stream += 2
        self.responses[stream_id] = RawResponse()
        frame = HeadersFrame(stream_id, self._encoder.encode(headers))
        frame.flags.add("END_HEADERS")
        self._writer.write(frame.serialize())
        return stream_id

    def finish(self, stream_id: int, body: bytes) -> None:
        self._writer.write(DataFrame(stream_id, body, flags=["END_STREAM"]).serialize())

    def write(self, data: bytes) -> None:
        self._writer.write(data)

    def ping(self, payload: bytes = b"12345678") -> None:
        self._writer.write(PingFrame(0, payload).serialize())

    async def response(self, stream_id: int, limit: float = 5.0) -> RawResponse:
        response = self.responses[stream_id]
        await self.wait(lambda: response.ended or response.reset_code is not None, limit)
        return response

    async def wait(self, predicate: object, limit: float = 5.0) -> None:
        assert callable(predicate)

        async def until() -> None:
            while not predicate():
                if self.closed:
                    raise ConnectionError("connection closed while waiting")
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(until(), limit)

    async def wait_closed(self, limit: float = 5.0) -> None:
        await asyncio.wait_for(asyncio.shield(self._task), limit)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()

    async def _read_loop(self) -> None:
        buffer = b""
        try:
            while True:
                chunk = await self._reader.read(65536)
                if not chunk:
                    break
                buffer += chunk
                while len(buffer) >= 9:
                    frame, length = Frame.parse_frame_header(memoryview(buffer[:9]))
                    if len(buffer) < 9 + length:
                        break
                    frame.parse_body(memoryview(buffer[9 : 9 + length]))
                    buffer = buffer[9 + length :]
                    self._on_frame(frame)
                self._changed.set()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            self.closed = True
            self._changed.set()

    def _on_frame(self, frame: Frame) -> None:
        if isinstance(frame, SettingsFrame):
            if "ACK" not in frame.flags:
                self.settings.append(dict(frame.settings))
                self._writer.write(SettingsFrame(0, flags=["ACK"]).serialize())
        elif isinstance(frame, HeadersFrame):
            response = self.responses.setdefault(frame.stream_id, RawResponse())
            for name, value in self._decoder.decode(frame.data):
                response.headers[str(name)] = str(value)
            response.ended = "END_STREAM" in frame.flags
        elif isinstance(frame, DataFrame):
            response = self.responses.setdefault(frame.stream_id, RawResponse())
            response.body += frame.data
            response.data_frames += 1
            response.ended = "END_STREAM" in frame.flags
            if frame.flow_controlled_length:
                size = frame.flow_controlled_length
                self._writer.write(
                    WindowUpdateFrame(0, window_increment=size).serialize()
                    + WindowUpdateFrame(frame.stream_id, window_increment=size).serialize()
                )
        elif isinstance(frame, RstStreamFrame):
            self.responses.setdefault(frame.stream_id, RawResponse()).reset_code = frame.error_code
        elif isinstance(frame, GoAwayFrame):
            self.goaway = frame
        elif isinstance(frame, PingFrame) and "ACK" in frame.flags:
            self.pings_acked.append(bytes(frame.opaque_data))
