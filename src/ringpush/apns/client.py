"""The public APNs client: credentials + environment in, typed results out."""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from ringpush.apns.credentials import CertificateCredentials, Credentials, TokenCredentials
from ringpush.apns.environment import Environment
from ringpush.apns.errors import ApnsError
from ringpush.apns.jwt_signer import ProviderTokenSigner
from ringpush.apns.listener import ApnsListener
from ringpush.apns.notification import Notification, PushRequest
from ringpush.apns.pending import PendingPush
from ringpush.apns.pool import ConnectionPool
from ringpush.apns.result import ApnsResult


class ApnsClient:
    """Sends pushes to one APNs environment with one credential.

    ``base_url`` (``https://host:port``) points the client at any APNs-compatible
    endpoint instead of Apple's host for ``environment``; ``ca_file`` or ``ca_pem`` adds a
    CA to trust.
    Pass the same ``signer`` to several clients of one key (for example one per
    environment) so that they share one provider token, as Apple asks.
    """

    def __init__(
        self,
        credentials: Credentials,
        environment: Environment = Environment.DEVELOPMENT,
        *,
        base_url: str | None = None,
        ca_file: str | Path | None = None,
        ca_pem: bytes | None = None,
        max_connections: int = 4,
        request_timeout: float = 10.0,
        connect_timeout: float = 10.0,
        signer: ProviderTokenSigner | None = None,
        listener: ApnsListener | None = None,
        max_connect_failures: int | None = None,
    ) -> None:
        self.environment = environment
        self.request_timeout = request_timeout
        host, port = _endpoint(base_url, environment)
        if isinstance(credentials, CertificateCredentials):
            # A client certificate is this client's alone: a context of its own.
            context = _new_context(str(ca_file) if ca_file else None, ca_pem)
            credentials.load_into(context)
            signer = None
        else:
            context = _shared_context(str(ca_file) if ca_file else None, ca_pem)
        if isinstance(credentials, TokenCredentials):
            if signer is None:
                signer = ProviderTokenSigner(credentials)
            elif signer.credentials.identity != credentials.identity:
                raise ApnsError("the signer was made for another key")
        self.signer = signer
        self._pool = ConnectionPool(
            host,
            port,
            context,
            server_hostname=host,
            max_connections=max_connections,
            connect_timeout=connect_timeout,
            signer=signer,
            listener=listener,
            max_connect_failures=max_connect_failures,
        )

    async def send(self, notification: Notification) -> ApnsResult:
        """Send one push; raises :class:`InvalidNotification` if it breaks an APNs rule.

        Every answer from APNs, and every failure to get one, comes back as a result.
        """
        return await self.send_request(notification.encode())

    def send_request(
        self, request: PushRequest, *, urgent: bool = False
    ) -> asyncio.Future[ApnsResult]:
        """Send an already encoded push (its apns-id is kept on every resend); an
        ``urgent`` one goes out before every push that is not."""
        future: asyncio.Future[ApnsResult] = asyncio.get_running_loop().create_future()
        self._pool.submit(
            PendingPush(
                request, future, deadline=time.monotonic() + self.request_timeout, urgent=urgent
            )
        )
        return future

    async def send_many(
        self, notifications: Iterable[Notification], *, concurrency: int | None = None
    ) -> list[ApnsResult]:
        """Send many pushes concurrently; results come back in the same order.

        All are encoded (and so checked) before the first is sent. ``concurrency`` caps the
        pushes in flight; the pool's stream limits apply in any case.
        """
        requests = [n.encode() for n in notifications]
        if concurrency is None or concurrency >= len(requests):
            return list(await asyncio.gather(*(self.send_request(r) for r in requests)))
        results: list[ApnsResult | None] = [None] * len(requests)
        done = asyncio.get_running_loop().create_future()
        next_index = 0
        remaining = len(requests)

        def start(index: int) -> None:
            future = self.send_request(requests[index])
            future.add_done_callback(functools.partial(finished, index))

        def finished(index: int, future: asyncio.Future[ApnsResult]) -> None:
            nonlocal next_index, remaining
            results[index] = future.result()
            remaining -= 1
            if next_index < len(requests):
                next_index += 1
                start(next_index - 1)
            elif remaining == 0 and not done.done():
                done.set_result(None)

        for _ in range(max(1, concurrency)):
            next_index += 1
            start(next_index - 1)
        await done
        return [r for r in results if r is not None]

    @property
    def connections(self) -> int:
        """Open connections (for tests and metrics)."""
        return len(self._pool.connections)

    async def close(self) -> None:
        await self._pool.close()

    async def __aenter__(self) -> ApnsClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _new_context(ca_file: str | None, ca_pem: bytes | None) -> ssl.SSLContext:
    """TLS 1.2+, ALPN h2, the system's CAs and ``ca_file`` / ``ca_pem`` if given."""
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["h2"])
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ApnsError(f"cannot load CA file {ca_file}: {exc}") from None
    if ca_pem is not None:
        try:
            context.load_verify_locations(cadata=ca_pem.decode("ascii"))
        except (UnicodeDecodeError, ssl.SSLError, ValueError) as exc:
            raise ApnsError(f"cannot load the CA: {exc}") from None
    return context


@functools.lru_cache(maxsize=64)
def _shared_context(ca_file: str | None, ca_pem: bytes | None) -> ssl.SSLContext:
    """One context per trust setting for every token-auth client of the process.

    Loading the system's CAs takes tens of milliseconds of the event loop; done for each
    new app's first push, it stalled every other lane's calls meanwhile
    (``bench/lanes.py``). A context without a client certificate is the same for all.
    """
    return _new_context(ca_file, ca_pem)


def _endpoint(base_url: str | None, environment: Environment) -> tuple[str, int]:
    if base_url is None:
        return environment.host, 443
    parts = urlsplit(base_url)
    if parts.scheme != "https" or not parts.hostname:
        raise ApnsError(f"APNs URL must look like https://host[:port], got {base_url!r}")
    return parts.hostname, parts.port or 443
