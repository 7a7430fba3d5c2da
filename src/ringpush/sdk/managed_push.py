"""Managed push: get the device's push tokens early, keep them, register them everywhere.

Modelled on Sinch's ``SINManagedPush``: the app creates one :class:`ManagedPush` as early
as it can and keeps it for its whole life. It asks the token source for tokens (PushKit
on iOS: :class:`TokenSource`, anything with ``register(push_types, delegate)`` such as
the sandbox's simulated iPhone; FirebaseMessaging on Android: an
:class:`~ringpush.sdk.android.FcmTokenSource`, through :meth:`ManagedPush.fcm`), holds
them in memory only, and registers them with every :class:`Client` attached to it: the
ones that exist when a token arrives, and any created later. A new token is registered
again; an invalidated one is unregistered.

Pushes reach the app through one handler on both platforms, ``on_incoming_push``:
:attr:`IncomingPush.call` is the same :class:`~ringpush.sdk.IncomingCall` from a VoIP
push and from an FCM message, and a push saying a call is over also ends the
:class:`~ringpush.sdk.CallSession` following it. What each platform demands before the
handler returns differs: iOS a CallKit report for every VoIP push (the handler makes
it), Android a notification for every high-priority message, which the SDK asks of the
app's ``show_notification`` first (:mod:`ringpush.sdk.android`).

Each client has one background task that moves the server towards the current tokens
(register what is new or changed, unregister what is gone), so bursts of changes
collapse into one pass and nothing races. Network failures are retried with backoff
until they succeed; a refusal (4xx) is reported to ``on_error`` and not retried until
the token or the client's user token changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.backoff import retry_delay
from ringpush.platforms import FCM, Channel, Platform, PushKind
from ringpush.sdk.android import (
    DataMessage,
    FcmTokenSource,
    MessagePriority,
    Notice,
    fcm_payload,
    notice_for,
)
from ringpush.sdk.client import Client
from ringpush.sdk.environment import ApsEnvironment, BuildConfiguration, resolve_environment
from ringpush.sdk.errors import ApiError, RingpushError
from ringpush.sdk.incoming import IncomingPush

log = logging.getLogger(__name__)

#: The first wait before the SDK tries its registrations again after the server could
#: not be reached (doubling, with jitter, up to ``max_retry_seconds``).
RETRY_BASE_SECONDS = 0.1


class TokenSource(Protocol):
    """Where tokens come from: PushKit's ``PKPushRegistry`` on iOS."""

    def register(self, push_types: Iterable[PushType], delegate: Any) -> None:
        """Start (or change) registration; tokens arrive via the delegate's
        ``did_update_token`` / ``did_invalidate_token`` and pushes via
        ``did_receive_push``."""


ErrorHandler = Callable[[Client, PushKind, Exception], None]
PushHandler = Callable[[IncomingPush], None]
NotificationHandler = Callable[[Notice], None]


class ManagedPush:
    """An iOS install's, from PushKit (here); an Android install's: :meth:`fcm`."""

    def __init__(
        self,
        source: TokenSource,
        *,
        device_id: str,
        environment: ApsEnvironment | Environment | str = ApsEnvironment.AUTOMATIC,
        build: BuildConfiguration | str | None = None,
        desired_push_types: Iterable[PushType | str] | None = None,
        on_incoming_push: PushHandler | None = None,
        on_error: ErrorHandler | None = None,
        max_retry_seconds: float = 30.0,
        install_secret: str | None = None,
    ) -> None:
        self._setup(device_id, on_incoming_push, on_error, max_retry_seconds, install_secret)
        self.platform = Platform.APNS
        self.environment: Channel = resolve_environment(environment, build)
        self._pushkit: TokenSource | None = source
        self.show_notification: NotificationHandler | None = None
        if desired_push_types is not None:
            self.desired_push_types = frozenset(PushType(t) for t in desired_push_types)

    @classmethod
    def fcm(
        cls,
        source: FcmTokenSource,
        *,
        device_id: str,
        show_notification: NotificationHandler,
        on_incoming_push: PushHandler | None = None,
        on_error: ErrorHandler | None = None,
        max_retry_seconds: float = 30.0,
        install_secret: str | None = None,
    ) -> ManagedPush:
        """An Android install's: ``source`` is FirebaseMessaging, started here (Firebase
        starts by itself at launch, and the handlers are given here, so nothing arrives
        before them). FCM has one token per install, no push types, no environments.

        ``show_notification`` gets a :class:`~ringpush.sdk.android.Notice` for each
        incoming and missed call, before ``on_incoming_push``, and must post it before it
        returns: Android deprioritizes an install whose high-priority messages show
        nothing, and gives the handler a few seconds (docs/android.md §4), so no network
        there. It is required for that reason: an Android app cannot leave it out."""
        push = cls.__new__(cls)
        push._setup(device_id, on_incoming_push, on_error, max_retry_seconds, install_secret)
        push.platform = Platform.FCM
        push.environment = FCM
        push._pushkit = None
        push.show_notification = show_notification
        source.start(push)
        return push

    def _setup(
        self,
        device_id: str,
        on_incoming_push: PushHandler | None,
        on_error: ErrorHandler | None,
        max_retry_seconds: float,
        install_secret: str | None,
    ) -> None:
        if not device_id:
            raise ValueError("device_id is empty")
        self.device_id = device_id
        #: This install's credential, sent with every registration: the server moves a
        #: token another user registered to the user signed in here only when it is
        #: the same install. Made here when not given; an app keeps it (the keychain)
        #: and passes it back on every launch, so a phone that changes hands keeps
        #: ringing for whoever signs in on it.
        self.install_secret = install_secret or secrets.token_urlsafe(32)
        self.on_incoming_push = on_incoming_push
        self.on_error = on_error
        self.max_retry_seconds = max_retry_seconds
        self._desired: frozenset[PushType] = frozenset()
        self._tokens: dict[PushKind, str] = {}
        self._syncs: dict[Client, _ClientSync] = {}

    # -- PushKit ------------------------------------------------------------------------

    @property
    def desired_push_types(self) -> frozenset[PushType]:
        return self._desired

    @desired_push_types.setter
    def desired_push_types(self, push_types: Iterable[PushType]) -> None:
        """Setting this starts registration with the token source, as in PushKit: set
        it last, once the handlers are in place."""
        if self._pushkit is None:
            raise TypeError("FCM has no push types: an Android install has one token")
        self._desired = frozenset(PushType(t) for t in push_types)
        self._pushkit.register(self._desired, self)

    @property
    def tokens(self) -> dict[PushKind, str]:
        """The current tokens (memory only: never written anywhere)."""
        return dict(self._tokens)

    def did_update_token(self, push_type: PushType, token: str) -> None:
        self._set_token(push_type, token)

    def did_invalidate_token(self, push_type: PushType) -> None:
        self._drop_token(push_type)

    def did_receive_push(self, push_type: PushType, payload: dict[str, Any]) -> None:
        """Hand the push to the app at once: a VoIP push must be reported to CallKit
        before this returns (the iOS 13 rule), so nothing here may wait."""
        push = IncomingPush(push_type, payload)
        if self.on_incoming_push is not None:
            self.on_incoming_push(push)
        elif push_type is PushType.VOIP:
            log.error("a VoIP push arrived and no on_incoming_push handler reports it to CallKit")
        self._end_followed(push)

    # -- FirebaseMessaging --------------------------------------------------------------

    def did_update_fcm_token(self, token: str) -> None:
        self._set_token(FCM, token)

    def did_invalidate_fcm_token(self) -> None:
        self._drop_token(FCM)

    def did_receive_fcm_message(self, message: DataMessage) -> None:
        """The notification first, before anything that could wait: Android judges a
        high-priority message by whether one followed within seconds."""
        push = IncomingPush(FCM, fcm_payload(message.data))
        notice = notice_for(push, int(time.time() * 1000))
        if notice is not None:
            self._show(notice)
        elif message.original_priority is MessagePriority.HIGH:
            log.warning(
                "a high-priority FCM message that is no ringpush call: on_incoming_push"
                " must post a notification for it"
            )
        if message.deprioritized:
            log.warning(
                "FCM delivered a high-priority message at normal priority: it has"
                " deprioritized this install (high-priority messages without a notification)"
            )
        self._end_followed(push)
        if self.on_incoming_push is not None:
            self.on_incoming_push(push)

    def _show(self, notice: Notice) -> None:
        if self.show_notification is None:
            log.error("an FCM message reached a PushKit ManagedPush: nothing shows it")
            return
        try:
            self.show_notification(notice)
        except Exception:
            log.exception("the app's show_notification raised for call %s", notice.call_id)

    # -- both ---------------------------------------------------------------------------

    def _set_token(self, kind: PushKind, token: str) -> None:
        if self._tokens.get(kind) != token:
            self._tokens[kind] = token
            self._changed()

    def _drop_token(self, kind: PushKind) -> None:
        if self._tokens.pop(kind, None) is not None:
            self._changed()

    def _end_followed(self, push: IncomingPush) -> None:
        ended = push.ended
        if ended is not None:
            for client in list(self._syncs):
                client.ended_by_push(ended)

    def _changed(self) -> None:
        for sync in self._syncs.values():
            sync.poke()

    async def _register(self, client: Client, kind: PushKind, token: str) -> None:
        if isinstance(kind, PushType) and isinstance(self.environment, Environment):
            await client.register(token, kind, self.environment)
        else:
            await client.register_fcm(token)

    # -- clients ------------------------------------------------------------------------

    def attach(self, client: Client) -> None:
        """Register the tokens with ``client`` now and whenever they change.
        (``Client(..., push=managed_push)`` does this.) Call it on the event loop."""
        if client not in self._syncs:
            self._syncs[client] = _ClientSync(self, client)

    async def detach(self, client: Client) -> None:
        sync = self._syncs.pop(client, None)
        if sync is not None:
            await sync.stop()

    def client_changed(self, client: Client) -> None:
        """The client's user changed: register everything again."""
        sync = self._syncs.get(client)
        if sync is not None:
            sync.forget()
            sync.poke()

    def registered(self, client: Client) -> dict[PushKind, str]:
        """The tokens the server has for ``client``'s user, as far as we know."""
        sync = self._syncs.get(client)
        return dict(sync.registered) if sync is not None else {}

    async def settled(self) -> None:
        """Wait until every attached client has the current tokens or was refused them
        (bound it with ``asyncio.timeout``)."""
        while not all(s.idle.is_set() for s in self._syncs.values()):
            await asyncio.gather(*(s.idle.wait() for s in self._syncs.values()))

    async def close(self) -> None:
        for client in list(self._syncs):
            await self.detach(client)

    def _report(self, client: Client, push_type: PushKind, error: Exception) -> None:
        log.warning("registering the %s token with %r failed: %s", push_type.value, client, error)
        if self.on_error is not None:
            self.on_error(client, push_type, error)


class _ClientSync:
    """Moves one client's server-side registrations towards the current tokens."""

    def __init__(self, push: ManagedPush, client: Client) -> None:
        self._push = push
        self._client = client
        self.registered: dict[PushKind, str] = {}
        #: Tokens the server refused (4xx): not retried until they change.
        self._refused: dict[PushKind, str] = {}
        self._wake = asyncio.Event()
        self._working_on: PushKind = PushType.VOIP
        self.idle = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())
        self.poke()

    def poke(self) -> None:
        self.idle.clear()
        self._wake.set()

    def forget(self) -> None:
        self.registered.clear()
        self._refused.clear()

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        failures = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._pass()
            except RingpushError as exc:  # network down: keep trying
                self._push._report(self._client, self._working_on, exc)
                failures += 1
                await asyncio.sleep(
                    retry_delay(failures, base=RETRY_BASE_SECONDS, cap=self._push.max_retry_seconds)
                )
                self._wake.set()
                continue
            failures = 0
            if not self._wake.is_set():
                self.idle.set()

    async def _pass(self) -> None:
        push, client = self._push, self._client
        for push_type, token in push.tokens.items():
            if self.registered.get(push_type) == token or self._refused.get(push_type) == token:
                continue
            self._working_on = push_type
            try:
                await push._register(client, push_type, token)
            except ApiError as exc:
                self._refused[push_type] = token
                push._report(client, push_type, exc)
                continue
            self.registered[push_type] = token
            self._refused.pop(push_type, None)
        current = push.tokens
        for push_type in [t for t in self.registered if t not in current]:
            self._working_on = push_type
            try:
                await client.unregister(push_type)
            except ApiError as exc:
                push._report(client, push_type, exc)
            del self.registered[push_type]
        for push_type in [t for t in self._refused if t not in current]:
            del self._refused[push_type]
