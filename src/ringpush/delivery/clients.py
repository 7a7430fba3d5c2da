"""One APNs client per (app, environment), built from the app's stored credentials: the
one place that turns an app into credentials, an endpoint and TLS settings.

Both environments of an app share one provider-token signer: Apple wants one token per
key, not one per connection or host. Given the registry's token store, the signers are
*shared*: every instance of a deployment sends the stored token, and a new one is signed
by whichever instance first finds it due, under the store's lock (docs/apns.md §4).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from ringpush.apns.client import ApnsClient
from ringpush.apns.credentials import CertificateCredentials, Credentials, TokenCredentials
from ringpush.apns.environment import Environment
from ringpush.apns.jwt_signer import ProviderTokenSigner
from ringpush.registry.models import App
from ringpush.registry.store import ProviderTokens

#: Failed connection attempts in a row after which pushes waiting for a connection fail
#: at once: the engine retries them with backoff and its lane's circuit breaker decides
#: when to dial again.
CONNECT_FAILURES_TO_GIVE_UP = 2


class NoCredentials(Exception):
    """The app has no APNs credentials: nothing can be sent for it."""


class ApnsClients:
    def __init__(
        self,
        *,
        request_timeout: float = 10.0,
        connect_timeout: float = 10.0,
        tokens: ProviderTokens | None = None,
        clock: Callable[[], float] = time.time,
        on_signed: Callable[[], None] | None = None,
        max_connect_failures: int | None = CONNECT_FAILURES_TO_GIVE_UP,
    ) -> None:
        self._max_connect_failures = max_connect_failures
        self._clock = clock
        self._on_signed = on_signed
        self._clients: dict[tuple[str, Environment], ApnsClient] = {}
        self._tokens = tokens
        self._signers: dict[str, ProviderTokenSigner] = {}
        self._exchanges: dict[str, asyncio.Lock] = {}
        self._versions: dict[str, object] = {}
        self._timeout = request_timeout
        self._connect_timeout = connect_timeout

    async def for_app(self, app: App, environment: Environment) -> ApnsClient:
        # Every put of an app moves updated_at: a new one means new credentials or URLs.
        version = app.updated_at
        if self._versions.get(app.app_id) != version:
            stale = self._detach(app.app_id)
            self._versions[app.app_id] = version
            await _close_all(stale)
        key = (app.app_id, environment)
        client = self._clients.get(key)
        if client is None:
            credentials = _credentials(app)
            signer = None
            if isinstance(credentials, TokenCredentials):
                signer = self._signers.get(app.app_id)
                if signer is None:
                    signer = ProviderTokenSigner(
                        credentials, clock=self._clock, shared=self._tokens is not None
                    )
                    self._signers[app.app_id] = signer
            client = ApnsClient(
                credentials,
                environment,
                base_url=app.apns_url_for(environment),
                ca_pem=app.ca_pem,
                signer=signer,
                request_timeout=self._timeout,
                connect_timeout=self._connect_timeout,
                max_connect_failures=self._max_connect_failures,
            )
            self._clients[key] = client
        signer = self._signers.get(app.app_id)
        if signer is not None and signer.shared and signer.due():
            await self._exchange(app.app_id, signer)
        return client

    async def _exchange(self, app_id: str, signer: ProviderTokenSigner) -> None:
        """Adopt the deployment's token for this key (signing one if it is due)."""
        assert self._tokens is not None
        lock = self._exchanges.setdefault(app_id, asyncio.Lock())
        async with lock:
            if not signer.due():  # another push of this batch exchanged it meanwhile
                return
            before = signer.signed_count
            signer.adopt(await self._tokens.exchange(signer.credentials, signer.choose))
            if signer.signed_count > before and self._on_signed is not None:
                self._on_signed()

    def signer(self, app_id: str) -> ProviderTokenSigner | None:
        """The provider-token signer of the app's key, once a client was made for it."""
        return self._signers.get(app_id)

    def _detach(self, app_id: str) -> list[ApnsClient]:
        """Forget the app's clients at once (the next push builds new ones); returns
        them, for the caller to close."""
        self._signers.pop(app_id, None)
        self._exchanges.pop(app_id, None)
        self._versions.pop(app_id, None)
        return [self._clients.pop(key) for key in [k for k in self._clients if k[0] == app_id]]

    def forget(self, app_id: str) -> Coroutine[Any, Any, None]:
        """Drop the app's clients now (it was changed or deleted); await the result to
        close their connections."""
        return _close_all(self._detach(app_id))

    async def close(self) -> None:
        for app_id in list(self._versions):
            await _close_all(self._detach(app_id))
        await _close_all(list(self._clients.values()))
        self._clients.clear()


async def _close_all(clients: list[ApnsClient]) -> None:
    for client in clients:
        await client.close()


def _credentials(app: App) -> Credentials:
    if app.signing_key_pem is not None and app.key_id and app.team_id:
        return TokenCredentials.from_pem(app.signing_key_pem, app.key_id, app.team_id)
    if app.certificate_pem is not None:
        return CertificateCredentials(app.certificate_pem, app.certificate_pem)
    raise NoCredentials(f"app {app.app_id} has no APNs credentials")
