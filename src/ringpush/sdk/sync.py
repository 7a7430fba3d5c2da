"""A small blocking wrapper for code without an event loop (scripts, threads, tests).

The asyncio :class:`~ringpush.sdk.client.Client` is the SDK; this runs one on a private
event loop in a daemon thread and waits for each call.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.platforms import PushKind
from ringpush.sdk.client import Client, Registration

T = TypeVar("T")


class BlockingClient:
    def __init__(self, server_url: str, user_token: str, *, device_id: str, **options: Any):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="ringpush-sdk", daemon=True
        )
        self._thread.start()
        self._client = Client(server_url, user_token, device_id=device_id, **options)

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def register(self, token: str, push_type: PushType, environment: Environment) -> Registration:
        return self._run(self._client.register(token, push_type, environment))

    def register_fcm(self, token: str) -> Registration:
        return self._run(self._client.register_fcm(token))

    def unregister(self, push_type: PushKind | None = None) -> bool:
        return self._run(self._client.unregister(push_type))

    def devices(self) -> list[dict[str, Any]]:
        return self._run(self._client.devices())

    def call(self, call_id: str) -> dict[str, Any]:
        return self._run(self._client.call(call_id))

    def answer(self, call_id: str) -> dict[str, Any]:
        return self._run(self._client.answer(call_id))

    def decline(self, call_id: str) -> dict[str, Any]:
        return self._run(self._client.decline(call_id))

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._run(self._client.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> BlockingClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
