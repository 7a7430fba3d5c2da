"""The one module of :mod:`ringpush.fcm` that touches the network: POST bytes, get an
answer (docs/fcm.md §1, §5).

FCM takes HTTP/1.1 and HTTP/2; this transport is httpx with HTTP/2 (ALPN picks, a pool
of multiplexed connections per origin, reused across sends). The client sees only
:class:`Transport`, so a hand-written HTTP/2 connection like ``apns/connection.py`` can
take its place after profiling, and tests can swap in another, without the client or
its callers changing. Failures come back as :class:`TransportError` carrying the same
:class:`~ringpush.apns.transport.TransportFailure` kinds as APNs, so metrics and the
console name them alike.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx

from ringpush.apns.transport import TransportFailure, connect_failure
from ringpush.fcm.errors import FcmError


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    headers: Mapping[str, str] = field(repr=False)
    body: bytes = field(repr=False)
    http_version: str = "HTTP/2"


class TransportError(FcmError):
    """No answer came: ``failure`` says which way it failed."""

    def __init__(self, failure: TransportFailure, description: str) -> None:
        super().__init__(description)
        self.failure = failure


class Transport(Protocol):
    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> HttpAnswer:
        """Send one request; raises :class:`TransportError` when no answer arrives
        within the transport's timeout."""

    async def aclose(self) -> None: ...


class HttpxTransport:
    """httpx over HTTP/2, trusting the system's CAs and ``ca_file`` / ``ca_pem``;
    ``timeout`` bounds each read, write and wait for a pooled connection."""

    def __init__(
        self,
        *,
        ca_file: str | Path | None = None,
        ca_pem: bytes | None = None,
        timeout: float = 10.0,
        connect_timeout: float = 10.0,
        max_connections: int = 4,
    ) -> None:
        # httpcore sets ALPN on the context it is given: a context of the FCM clients'
        # own, never one shared with APNs (h2 only).
        context = _context(str(ca_file) if ca_file is not None else None, ca_pem)
        self._client = httpx.AsyncClient(
            http2=True,
            verify=context,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            # One HTTP/2 connection carries up to the server's stream limit (FCM's is
            # observed at 100); a few more are opened only when those are full.
            limits=httpx.Limits(max_connections=max_connections, keepalive_expiry=300),
            trust_env=False,
        )

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> HttpAnswer:
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            kind = (
                TransportFailure.CONNECT_TIMEOUT
                if isinstance(exc, httpx.ConnectTimeout)
                else TransportFailure.TIMEOUT
            )
            raise TransportError(kind, f"{kind.value} ({type(exc).__name__})") from None
        except httpx.ConnectError as exc:
            kind = connect_failure(_root(exc))
            raise TransportError(kind, f"{kind.value}: {_root(exc)}") from None
        except httpx.TransportError as exc:
            raise TransportError(
                TransportFailure.CONNECTION_LOST, f"connection lost: {type(exc).__name__}"
            ) from None
        return HttpAnswer(
            status=response.status_code,
            headers=response.headers,
            body=response.content,
            http_version=response.http_version,
        )

    async def aclose(self) -> None:
        await self._client.aclose()


def _root(exc: BaseException) -> BaseException:
    """The exception under httpx's and httpcore's wrappers (an ``ssl.SSLError``…)."""
    while True:
        below = exc.__cause__ or exc.__context__
        if below is None:
            return exc
        exc = below


@functools.lru_cache(maxsize=64)
def _context(ca_file: str | None, ca_pem: bytes | None) -> ssl.SSLContext:
    """One context per trust setting: loading the system's CAs takes tens of
    milliseconds of the event loop, too long to repeat for each app's client."""
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        if ca_file is not None:
            context.load_verify_locations(cafile=ca_file)
        if ca_pem is not None:
            context.load_verify_locations(cadata=ca_pem.decode("ascii"))
    except (OSError, UnicodeDecodeError, ssl.SSLError, ValueError) as exc:
        raise FcmError(f"cannot load the CA: {exc}") from None
    return context
