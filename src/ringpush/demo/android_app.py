"""The app on a simulated Android phone, written the way an Android app uses the SDK.

The counterpart of :mod:`ringpush.demo.phone_app`, and as much a reference for app
developers (docs/android.md): create :meth:`ManagedPush.fcm <ringpush.sdk.ManagedPush.fcm>`
first (FirebaseMessaging starts with it), sign in later with a
:class:`~ringpush.sdk.Client`; post the notification the SDK asks for before the handler
returns (Android's rule: a high-priority message that shows nothing gets the install
deprioritized, and later calls ring late), then follow the call's events; the
notification's Answer and Decline buttons go back to the server, and a call that ended
elsewhere takes the ringing notification away.

:class:`FirebaseService` is the seam where an app's ``FirebaseMessagingService``
stands: the phone (the FCM sandbox's
:class:`~ringpush.sandbox.fcm.android.AndroidDevice`) calls it and it tells the SDK, so
the SDK never imports the sandbox.
"""

from __future__ import annotations

import asyncio
import time

from ringpush.demo.phone_app import Listener, Ring
from ringpush.sandbox.fcm.android import AndroidDevice
from ringpush.sandbox.fcm.remote_message import FirebaseMessagingService, RemoteMessage
from ringpush.sdk import (
    CallEnded,
    CallSession,
    Client,
    DataMessage,
    FcmDelegate,
    IncomingCall,
    IncomingPush,
    ManagedPush,
    MessagePriority,
    Notice,
    NoticeKind,
    RingpushError,
)


class FirebaseService(FirebaseMessagingService):
    """FirebaseMessaging on the simulated phone, as the SDK's
    :class:`~ringpush.sdk.FcmTokenSource`: what the phone tells the app's messaging
    service goes on to the SDK unchanged."""

    def __init__(self, device: AndroidDevice) -> None:
        self.device = device
        self._delegate: FcmDelegate | None = None
        #: After :meth:`delete_token` the install has no token until it asks again.
        self._deleted = False

    def start(self, delegate: FcmDelegate) -> None:
        self._delegate = delegate
        self.device.start(self)

    def on_new_token(self, token: str) -> None:
        if self._delegate is not None and not self._deleted:
            self._delegate.did_update_fcm_token(token)

    def delete_token(self) -> None:
        """``FirebaseMessaging.deleteToken()``: FCM ends the token (UNREGISTERED from now
        on). The phone's next token is held back, since after a deletion the install
        has none until it asks (:meth:`get_token`)."""
        self._deleted = True
        self.device.refresh_token()
        if self._delegate is not None:
            self._delegate.did_invalidate_fcm_token()

    def get_token(self) -> None:
        """``FirebaseMessaging.getToken()`` after a deletion: the install's new token."""
        self._deleted = False
        if self._delegate is not None and self.device.token is not None:
            self._delegate.did_update_fcm_token(self.device.token)

    def on_message_received(self, message: RemoteMessage) -> None:
        if self._delegate is not None:
            self._delegate.did_receive_fcm_message(
                DataMessage(
                    data=message.data,
                    priority=MessagePriority(message.priority.value),
                    original_priority=MessagePriority(message.original_priority.value),
                )
            )


class AndroidPhoneApp:
    def __init__(
        self, device: AndroidDevice, server_url: str, *, listener: Listener | None = None
    ) -> None:
        self.device = device
        self.server_url = server_url
        #: The id the server knows this install by: a UUID made on first launch in a real
        #: app; here the sandbox's instance id, which a reinstall changes, as it would.
        self.device_id = device.instance_id
        self._listener = listener
        self.client: Client | None = None
        #: False makes an app that leaves the ringing to its notification and never
        #: follows a call's events: only the call-ended message stops it.
        self.follow_calls = True
        #: Every notification the SDK asked for, in order.
        self.notices: list[Notice] = []
        self.rings: list[Ring] = []
        #: The ringing notifications still shown, by call id.
        self.ringing: dict[str, Notice] = {}
        self.sessions: dict[str, CallSession] = {}
        self.ended: list[CallEnded] = []
        self._tasks: set[asyncio.Task[None]] = set()
        # As early as possible in the app's life (Application.onCreate).
        self.firebase = FirebaseService(device)
        self.push = ManagedPush.fcm(
            self.firebase,
            device_id=self.device_id,
            show_notification=self._show,
            on_incoming_push=self._on_push,
        )

    @property
    def name(self) -> str:
        return self.device.name

    @property
    def calls(self) -> list[IncomingCall]:
        """The calls that rang here, in order."""
        return [ring.call for ring in self.rings]

    def _say(self, what: str) -> None:
        if self._listener is not None:
            self._listener(self.name, what)

    async def sign_in(self, user_token: str) -> Client:
        """Later in the app's life: the user signs in; ManagedPush registers with it."""
        self.client = Client(self.server_url, user_token, push=self.push)
        return self.client

    async def close(self) -> None:
        for session in self.sessions.values():
            await session.close()
        for task in list(self._tasks):
            task.cancel()
        if self.client is not None:
            await self.client.close()
        await self.push.close()

    # -- FirebaseMessagingService, through the SDK ------------------------------------

    def _show(self, notice: Notice) -> None:
        """``NotificationManager.notify``, before the handler returns: a full-screen
        ``CallStyle`` for a ringing call, "Missed call from …" (ringing no more) else."""
        self.notices.append(notice)
        self.device.post_notification(full_screen=notice.kind is NoticeKind.RINGING)
        if notice.kind is NoticeKind.RINGING:
            self.ringing[notice.call_id] = notice
        else:
            self.ringing.pop(notice.call_id, None)
            self._say(f"missed call from {notice.handle} ({notice.reason})")

    def _on_push(self, push: IncomingPush) -> None:
        """The notification is up already; what is left is following the call."""
        if push.ended is not None and push.ended.call_id not in self.sessions:
            self._ended(push.ended)  # nothing follows this call: the message is the news
        call = push.call
        if call is None or call.call_id in self.sessions:
            return
        ring = Ring(call, time.time() * 1000 - call.sent_at_ms)
        self.rings.append(ring)
        self._say(
            f"ringing: {call.handle} calling, full-screen notification"
            f" (push took {ring.latency_ms:.0f} ms)"
        )
        if self.client is not None and self.follow_calls:
            self.sessions[call.call_id] = self.client.follow(call, self._ended)

    def _ended(self, ended: CallEnded) -> None:
        self.ended.append(ended)
        if self.ringing.pop(ended.call_id, None) is not None and not ended.here:
            who = f" on {ended.device_id}" if ended.device_id else ""
            self._say(f"stopped ringing: {ended.outcome.value}{who}")

    # -- the notification's buttons ---------------------------------------------------

    def answer(self, call_id: str) -> None:
        self._act(call_id, "answer")

    def decline(self, call_id: str) -> None:
        self._act(call_id, "decline")

    def _act(self, call_id: str, action: str) -> None:
        session = self.sessions.get(call_id)
        if session is None:
            return
        self.ringing.pop(call_id, None)  # the tap takes the ringing notification away

        async def send() -> None:
            try:
                await (session.answer() if action == "answer" else session.decline())
                self._say(f"{action}ed")
            except RingpushError as exc:
                self._say(f"{action} refused: {exc}")

        task = asyncio.get_running_loop().create_task(send())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settled(self) -> None:
        """Until pending answer/decline requests are done."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
