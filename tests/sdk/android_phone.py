"""An Android calling app on the FCM sandbox's simulated phone, written with the SDK the
way docs/android.md describes: :class:`~ringpush.sdk.ManagedPush` first (FirebaseMessaging
starts with it), sign in later with a :class:`~ringpush.sdk.Client`, post each
notification the SDK asks for before the handler returns, follow each incoming call's
events, stop ringing when it ends.

:class:`SimulatedFirebase` is the seam: it stands where an app's
``FirebaseMessagingService`` stands, between the phone (here the sandbox's
:class:`~ringpush.sandbox.fcm.android.AndroidDevice`) and the SDK, so the SDK never
imports the sandbox.
"""

from __future__ import annotations

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
)


class SimulatedFirebase(FirebaseMessagingService):
    """FirebaseMessaging on a simulated phone, as the SDK's
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

    def on_message_received(self, message: RemoteMessage) -> None:
        if self._delegate is not None:
            self._delegate.did_receive_fcm_message(
                DataMessage(
                    data=message.data,
                    priority=MessagePriority(message.priority.value),
                    original_priority=MessagePriority(message.original_priority.value),
                )
            )

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


class AndroidApp:
    def __init__(self, device: AndroidDevice, server_url: str) -> None:
        self.device = device
        self.server_url = server_url
        self.firebase = SimulatedFirebase(device)
        self.client: Client | None = None
        #: False makes an app that leaves the ringing to its notification and never
        #: follows a call's events: only the call-ended message stops it.
        self.follow_calls = True
        self.notices: list[Notice] = []
        #: The ringing notifications still shown, by call id.
        self.ringing: dict[str, Notice] = {}
        self.calls: list[IncomingCall] = []
        self.sessions: dict[str, CallSession] = {}
        self.ended: list[CallEnded] = []
        self.push = ManagedPush.fcm(
            self.firebase,
            device_id=device.instance_id,  # a UUID made on first launch, in a real app
            show_notification=self._show,
            on_incoming_push=self._on_push,
        )

    async def sign_in(self, user_token: str) -> Client:
        self.client = Client(self.server_url, user_token, push=self.push)
        return self.client

    async def close(self) -> None:
        for session in self.sessions.values():
            await session.close()
        if self.client is not None:
            await self.client.close()
        await self.push.close()

    def _show(self, notice: Notice) -> None:
        """``NotificationManager.notify``: a full-screen ``CallStyle`` for a ringing call,
        "Missed call from …" (which also stops the ringing) otherwise."""
        self.notices.append(notice)
        self.device.post_notification(full_screen=notice.kind is NoticeKind.RINGING)
        if notice.kind is NoticeKind.RINGING:
            self.ringing[notice.call_id] = notice
        else:
            self.ringing.pop(notice.call_id, None)

    def _on_push(self, push: IncomingPush) -> None:
        """The iPhone app's handler, but for CallKit (the notification is up already)."""
        if push.ended is not None and push.ended.call_id not in self.sessions:
            self._stop(push.ended)  # nothing follows this call: the message is the news
        call = push.call
        if call is None or call.call_id in self.sessions:
            return
        self.calls.append(call)
        if self.client is not None and self.follow_calls:
            self.sessions[call.call_id] = self.client.follow(call, self._stop)

    def _stop(self, ended: CallEnded) -> None:
        """``cancel(callId, RINGING)``."""
        self.ended.append(ended)
        self.ringing.pop(ended.call_id, None)
