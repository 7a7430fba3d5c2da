"""firebase-admin (the official Admin SDK) pointed at the local FCM, for the benchmarks.

Its two documented paths for many messages, each of at most 500 per call:

- ``messaging.send_each_async``: one ``asyncio.gather`` of httpx requests over HTTP/2
  (``HttpxAsyncClient``: an ``httpx.AsyncClient`` with google-auth as its auth flow and
  a retrying transport);
- ``messaging.send_each``: a thread pool as wide as the batch, each thread one
  ``requests`` call (HTTP/1.1, google-auth's ``AuthorizedSession``).

Pointing it elsewhere than Google takes three things, none of them an option of the
SDK: the send URL is the class constant ``_MessagingService.FCM_URL`` (read when the
service is made, so set first); the credentials' ``token_uri`` comes from the key file
(the sandbox's own); the CA is trusted through the environment, ``SSL_CERT_FILE`` for
httpx and ``REQUESTS_CA_BUNDLE`` for requests. The SDK mounts a 100-connection adapter
on ``https://fcm.googleapis.com`` for ``send_each``; the same adapter is mounted on the
sandbox's origin, or its threads would share requests' default pool of 10.

Each message's answer time is taken by wrapping the one call the SDK makes per message
(``HttpxAsyncClient.request``, ``JsonHttpClient.body``): a clock read and an append,
the same the ringpush sender does.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import firebase_admin  # type: ignore[import-untyped]
import requests.adapters
from firebase_admin import _http_client, credentials, messaging

from bench.fcm_senders import CALL_DATA, RING_SECONDS, Outcome

_APPS = 0


def _app(url: str, ca_file: str, account: dict[str, Any]) -> firebase_admin.App:
    global _APPS
    os.environ["SSL_CERT_FILE"] = ca_file
    os.environ["REQUESTS_CA_BUNDLE"] = ca_file
    messaging._MessagingService.FCM_URL = url + "/v1/projects/{0}/messages:send"
    _APPS += 1
    return firebase_admin.initialize_app(
        credentials.Certificate(account), name=f"bench-{_APPS}-{os.getpid()}"
    )


def _service(app: firebase_admin.App) -> Any:
    return messaging._get_messaging_service(app)


def _message(token: str) -> messaging.Message:
    return messaging.Message(
        token=token,
        data=CALL_DATA,
        android=messaging.AndroidConfig(priority="high", ttl=RING_SECONDS),
    )


def _outcomes(answered: Sequence[float], batch: messaging.BatchResponse) -> list[Outcome]:
    labels = ["accepted" if r.success else type(r.exception).__name__ for r in batch.responses]
    return [
        (done, r.success, label)
        for done, r, label in zip(answered, batch.responses, labels, strict=True)
    ]


class AdminAsyncSender:
    """``send_each_async``: HTTP/2 through httpx."""

    def __init__(self, url: str, ca_file: str, account: dict[str, Any]) -> None:
        self._app = _app(url, ca_file, account)
        service = _service(self._app)
        self._http = service._async_client
        self._answered: list[float] = []
        request: Callable[..., Any] = self._http.request
        answered = self._answered

        async def timed(method: str, url: str, **kwargs: Any) -> Any:
            try:
                return await request(method, url, **kwargs)
            finally:
                answered.append(time.perf_counter())

        self._http.request = timed

    async def batch(self, tokens: list[str]) -> list[Outcome]:
        self._answered.clear()
        answer = await messaging.send_each_async([_message(t) for t in tokens], app=self._app)
        return _outcomes(self._answered, answer)

    async def close(self) -> None:
        # Not ``firebase_admin.delete_app``: it closes this client with ``asyncio.run``,
        # which cannot run inside a loop. The process ends right after.
        await self._http.aclose()


class AdminThreadSender:
    """``send_each``: a thread per message, HTTP/1.1 through requests. It blocks; this
    process runs nothing else meanwhile, so it is called from the event loop as is."""

    def __init__(self, url: str, ca_file: str, account: dict[str, Any]) -> None:
        self._app = _app(url, ca_file, account)
        service = _service(self._app)
        adapter = requests.adapters.HTTPAdapter(
            pool_connections=100, pool_maxsize=100, max_retries=_http_client.DEFAULT_RETRY_CONFIG
        )
        self._session = service._client.session
        self._session.mount(url, adapter)
        self._answered: list[float] = []
        body: Callable[..., Any] = service._client.body
        answered = self._answered

        def timed(method: str, url: str, **kwargs: Any) -> Any:
            try:
                return body(method, url, **kwargs)
            finally:
                answered.append(time.perf_counter())  # one bytecode: safe across threads

        service._client.body = timed

    async def batch(self, tokens: list[str]) -> list[Outcome]:
        self._answered.clear()
        answer = messaging.send_each([_message(t) for t in tokens], app=self._app)
        return _outcomes(self._answered, answer)

    async def close(self) -> None:
        self._session.close()  # not delete_app: see AdminAsyncSender.close
        await asyncio.sleep(0)
