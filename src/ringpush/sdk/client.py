"""The app's connection to ringpush: register tokens, follow calls, answer or decline.

Every request carries the user's token (minted by the app's backend). Network failures
and 502/503/504 are retried with exponential backoff, so a phone on a bad network still
registers; any other refusal raises the typed error for its code at once
(:mod:`ringpush.sdk.errors`), since retrying it cannot help.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.backoff import retry_delay
from ringpush.platforms import Channel, PushKind, parse_channel, parse_kind
from ringpush.sdk.call_session import CallEnded, CallSession
from ringpush.sdk.errors import ServerUnavailable, UnknownDevice, error_from_response
from ringpush.sdk.incoming import IncomingCall

if TYPE_CHECKING:
    from ringpush.sdk.managed_push import ManagedPush

#: Answers worth retrying: the server (or a proxy in front of it) is briefly away.
RETRY_STATUSES = frozenset({502, 503, 504})
#: The longest ``Retry-After`` of a 429 the client waits out before asking again;
#: beyond it the 429 is raised (:class:`RateLimited`).
MAX_RETRY_AFTER = 5.0
#: The longest wait between two tries after a transport error or a 502/503/504.
MAX_BACKOFF_SECONDS = 10.0
#: The event stream sends a comment every 15 s; longer silence means a dead connection.
EVENT_READ_TIMEOUT = 45.0


@dataclass(frozen=True, slots=True)
class Registration:
    """What the server stored for one token (the token itself comes back masked);
    ``push_type`` and ``environment`` are :data:`~ringpush.platforms.FCM` for an
    Android install's FCM token."""

    device_id: str
    push_type: PushKind
    environment: Channel
    masked_token: str
    created: bool


#: How long the client keeps an idle connection to the server.
IDLE_CONNECTION_SECONDS = 5.0


class Client:
    """One signed-in user on this device.

    ``device_id`` identifies the install (``identifierForVendor`` on iOS) and
    ``install_secret`` proves it (see :class:`ManagedPush`); with ``push`` the client
    takes both from the :class:`ManagedPush`, which then registers its tokens with this
    client at once and again whenever they change.
    """

    def __init__(
        self,
        server_url: str,
        user_token: str,
        *,
        device_id: str | None = None,
        install_secret: str | None = None,
        push: ManagedPush | None = None,
        retries: int = 4,
        backoff: float = 0.2,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        chosen = device_id or (push.device_id if push is not None else None)
        if not chosen:
            raise ValueError("a Client needs device_id, or push= to take it from")
        if retries < 0:
            raise ValueError("retries must be >= 0")
        self.device_id = chosen
        self.install_secret = install_secret or (push.install_secret if push is not None else None)
        self.server_url = server_url.rstrip("/")
        self.retries = retries
        self.backoff = backoff
        self._http = httpx.AsyncClient(
            base_url=self.server_url,
            timeout=timeout,
            transport=transport,
            # Idle connections are dropped before the server drops them (it keeps them 15 s),
            # so a request never goes out on a connection the server is closing.
            limits=httpx.Limits(
                max_connections=100,
                max_keepalive_connections=20,
                keepalive_expiry=IDLE_CONNECTION_SECONDS,
            ),
        )
        self._user_token = user_token
        self._push: ManagedPush | None = None
        self._closed = False
        self._sessions: set[CallSession] = set()
        if push is not None:
            push.attach(self)
            self._push = push

    def __repr__(self) -> str:
        return f"<Client {self.server_url} device {self.device_id}>"

    @property
    def user_token(self) -> str:
        return self._user_token

    @user_token.setter
    def user_token(self, token: str) -> None:
        """A new token (refreshed, or another user signed in): registration runs again."""
        self._user_token = token
        if self._push is not None:
            self._push.client_changed(self)

    async def close(self) -> None:
        """Stop using this client (tokens stay registered: use :meth:`unregister`)."""
        if self._closed:
            return
        self._closed = True
        for session in list(self._sessions):  # they would use the closed connection
            await session.close()
        if self._push is not None:
            await self._push.detach(self)
            self._push = None
        await self._http.aclose()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- requests ---------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._user_token}"}

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = await self._http.request(
                    method, path, json=body, params=params, headers=self._headers()
                )
            except httpx.TransportError as exc:
                failure = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 400:
                    return response
                wait = _retry_after(response)
                if wait is not None and attempt < self.retries:
                    # Refused before anything was done: the same request again, as
                    # late as the server asked (bounded: a call cannot wait long).
                    await asyncio.sleep(wait)
                    attempt += 1
                    continue
                if response.status_code not in RETRY_STATUSES:
                    raise error_from_response(response.status_code, response.content)
                failure = f"HTTP {response.status_code}"
            if attempt >= self.retries:
                raise ServerUnavailable(
                    f"{method} {path}: {failure} (after {attempt + 1} attempts)"
                )
            attempt += 1
            await asyncio.sleep(retry_delay(attempt, base=self.backoff, cap=MAX_BACKOFF_SECONDS))

    async def register(
        self, token: str, push_type: PushType, environment: Environment
    ) -> Registration:
        """Register (or update) this device's token for one push type; idempotent."""
        return await self._put_device(
            {"token": token, "push_type": push_type.value, "environment": environment.value}
        )

    async def register_fcm(self, token: str) -> Registration:
        """Register (or update) this Android install's FCM token; idempotent. FCM has
        no push types and one host, so the token is all there is."""
        return await self._put_device({"platform": "fcm", "token": token})

    async def _put_device(self, body: dict[str, Any]) -> Registration:
        if self.install_secret:
            body["install_secret"] = self.install_secret
        response = await self._request("PUT", f"/v1/devices/{self.device_id}", body=body)
        data = response.json()
        device = data["device"]
        return Registration(
            device_id=device["device_id"],
            push_type=parse_kind(device["push_type"]),
            environment=parse_channel(device["environment"]),
            masked_token=device["token"],
            created=bool(data["created"]),
        )

    async def unregister(self, push_type: PushKind | None = None) -> bool:
        """Remove this device's token of one push type (all types if None).
        :data:`~ringpush.platforms.FCM` removes the device (an Android install
        registers nothing else under its device id).

        Returns False when the server had none (already removed, e.g. after a 410).
        """
        params = {"push_type": push_type.value} if isinstance(push_type, PushType) else None
        try:
            await self._request("DELETE", f"/v1/devices/{self.device_id}", params=params)
        except UnknownDevice:
            return False
        return True

    async def devices(self) -> list[dict[str, Any]]:
        """This user's registered devices (tokens masked)."""
        result: list[dict[str, Any]] = (await self._request("GET", "/v1/devices")).json()
        return result

    async def call(self, call_id: str) -> dict[str, Any]:
        """The call's current state (the callee may read their own calls)."""
        result: dict[str, Any] = (await self._request("GET", f"/v1/calls/{call_id}")).json()
        return result

    async def answer(self, call_id: str) -> dict[str, Any]:
        """Answered on this device; raises :class:`CallNotRinging` if it is too late."""
        return await self._device_action(call_id, "answer")

    async def decline(self, call_id: str) -> dict[str, Any]:
        """Declined on this device: the call ends on every device of the user."""
        return await self._device_action(call_id, "decline")

    async def _device_action(self, call_id: str, action: str) -> dict[str, Any]:
        response = await self._request(
            "POST", f"/v1/calls/{call_id}/{action}", body={"device_id": self.device_id}
        )
        result: dict[str, Any] = response.json()
        return result

    async def events(self, call_id: str) -> AsyncIterator[dict[str, Any]]:
        """The call's events from the server, starting with its current state, until it
        is over. One connection; :class:`CallSession` reconnects when it drops."""
        timeout = httpx.Timeout(self._http.timeout.connect, read=EVENT_READ_TIMEOUT)
        async with self._http.stream(
            "GET",
            f"/v1/calls/{call_id}/events",
            params={"device_id": self.device_id},
            headers=self._headers(),
            timeout=timeout,
        ) as response:
            if response.status_code >= 400:
                raise error_from_response(response.status_code, await response.aread())
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    event: dict[str, Any] = json.loads(line[5:])
                    yield event

    def follow(
        self, call: IncomingCall, on_ended: Callable[[CallEnded], None] | None = None
    ) -> CallSession:
        """Start following an incoming call's events (call from the push handler: it
        returns at once). ``on_ended`` hears when it was answered here or elsewhere,
        declined, canceled or timed out."""
        session = CallSession(self, call, on_ended)
        self._sessions.add(session)
        session.when_done(self._sessions.discard)
        return session

    def ended_by_push(self, ended: CallEnded) -> None:
        """A push said the call is over (:attr:`IncomingPush.ended`): the sessions
        following it end now, should the call's events not have said so yet."""
        for session in [s for s in self._sessions if s.call.call_id == ended.call_id]:
            session.end_by_push(ended)


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds a 429 asks to wait before the same request (None: not a 429 that can be
    waited out: no ``Retry-After``, or longer than :data:`MAX_RETRY_AFTER`)."""
    if response.status_code != 429:
        return None
    try:
        wait = float(response.headers.get("retry-after", ""))
    except ValueError:
        return None
    return wait if 0 <= wait <= MAX_RETRY_AFTER else None
