"""One FCM client per app, built from the app's stored service account: the one place
that turns an app into FCM credentials, an endpoint and TLS settings.

The access token lives in the client's cache, renewed a margin before it expires and
on a 401 without an FCM error code (docs/fcm.md §3). Given the registry's store
(:mod:`ringpush.registry.access_tokens`), every instance of a deployment sends with the
same token, exchanged by whichever instance first finds it due.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from ringpush.delivery.clients import NoCredentials
from ringpush.fcm.answer import FcmResult
from ringpush.fcm.client import DEFAULT_BASE_URL, FcmClient
from ringpush.fcm.errors import FcmError
from ringpush.fcm.oauth import (
    MIN_TOKEN_AGE_FOR_INVALIDATION,
    AccessTokenCache,
    AccessTokenStore,
)
from ringpush.fcm.service_account import ServiceAccount
from ringpush.registry.models import App


class FcmLaneClient:
    """An :class:`FcmClient` as a lane sends through it: an encoded body in, a future of
    its :class:`FcmResult` out (FCM has no stream queue to jump: ``urgent`` is moot)."""

    def __init__(self, client: FcmClient) -> None:
        self.client = client
        self._sending: set[asyncio.Task[FcmResult]] = set()

    def send_request(self, request: Any, *, urgent: bool = False) -> asyncio.Future[Any]:
        task = asyncio.ensure_future(self.client.send_encoded(request))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)
        return task

    async def close(self) -> None:
        await self.client.close()


class FcmClients:
    def __init__(
        self,
        *,
        request_timeout: float = 10.0,
        connect_timeout: float = 10.0,
        min_token_age: float = MIN_TOKEN_AGE_FOR_INVALIDATION,
        tokens: AccessTokenStore | None = None,
    ) -> None:
        """``min_token_age``: an access token younger than this is not renewed on a 401
        (:class:`~ringpush.fcm.oauth.AccessTokenCache`), so a refusing FCM cannot make
        every send an exchange."""
        self._timeout = request_timeout
        self._connect_timeout = connect_timeout
        self._min_token_age = min_token_age
        self._tokens = tokens
        self._clients: dict[str, tuple[datetime | None, FcmLaneClient]] = {}

    async def for_app(self, app: App) -> FcmLaneClient:
        """The app's client; a new one (the old one closed) once the app was put again."""
        known = self._clients.get(app.app_id)
        if known is not None and known[0] == app.updated_at:
            return known[1]
        if app.fcm_service_account is None:
            raise NoCredentials(f"app {app.app_id} has no FCM service account")
        try:
            account = ServiceAccount.from_json(app.fcm_service_account)
        except FcmError as exc:  # checked when put: only a changed library gets here
            raise NoCredentials(f"app {app.app_id}: FCM service account: {exc}") from None
        client = FcmLaneClient(
            FcmClient(
                account,
                token_cache=AccessTokenCache(account, min_age_for_invalidation=self._min_token_age),
                token_store=self._tokens,
                base_url=app.fcm_url or DEFAULT_BASE_URL,
                ca_pem=app.fcm_ca_pem,
                timeout=self._timeout,
                connect_timeout=self._connect_timeout,
            )
        )
        self._clients[app.app_id] = (app.updated_at, client)
        if known is not None:
            await known[1].close()
        return client

    async def forget(self, app_id: str) -> None:
        known = self._clients.pop(app_id, None)
        if known is not None:
            await known[1].close()

    async def close(self) -> None:
        for app_id in list(self._clients):
            await self.forget(app_id)
