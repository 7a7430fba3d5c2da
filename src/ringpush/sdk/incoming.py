"""What the app gets from a push: the incoming call to report to CallKit at once.

The VoIP payload ringpush sends (:func:`ringpush.delivery.calls.voip_payload`) carries
everything CallKit needs, so the app can report the call before its PushKit handler
returns, as iOS requires, without waiting for the network. An Android phone gets the
same ``ringpush`` object in an FCM data message (as JSON text, since FCM data values are
strings); the SDK parses it back (:func:`ringpush.sdk.android.fcm_payload`), so
:attr:`IncomingPush.call` is the same :class:`IncomingCall` on both platforms.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from ringpush.apns.push_type import PushType
from ringpush.platforms import FCM, PushKind
from ringpush.sdk.outcomes import CallEnded, ended_by_push

#: Call ids become CallKit UUIDs in this namespace: every device of the callee, and every
#: event about the call, names the same UUID.
CALL_UUID_NAMESPACE = uuid.UUID("6f1c2f8e-3b1a-5d3e-9a57-2b5f1f1c0a11")


def call_uuid(call_id: str) -> uuid.UUID:
    """The CallKit UUID of a call: the same on every device and in every event."""
    return uuid.uuid5(CALL_UUID_NAMESPACE, call_id)


class NotACallPush(ValueError):
    """A VoIP payload that is not a ringpush call invitation."""


@dataclass(frozen=True, slots=True)
class IncomingCall:
    call_id: str
    caller_id: str
    caller_name: str
    video: bool
    #: When the server queued the push and until when it rings (ms since the epoch).
    sent_at_ms: int
    ring_until_ms: int
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def uuid(self) -> uuid.UUID:
        """The CallKit UUID of this call (the same on every device)."""
        return call_uuid(self.call_id)

    @property
    def handle(self) -> str:
        """What the phone shows: the caller's name, else their id."""
        return self.caller_name or self.caller_id

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> IncomingCall:
        info = payload.get("ringpush")
        if not isinstance(info, dict) or info.get("type") != "incoming-call":
            raise NotACallPush("the payload has no ringpush incoming-call")
        caller = info.get("caller")
        call_id = info.get("call_id")
        if not isinstance(call_id, str) or not isinstance(caller, dict):
            raise NotACallPush("the incoming-call lacks call_id or caller")
        data = payload.get("data")
        return cls(
            call_id=call_id,
            caller_id=str(caller.get("id", "")),
            caller_name=str(caller.get("name", "")),
            video=bool(info.get("video", False)),
            sent_at_ms=int(info.get("sent_at", 0)),
            ring_until_ms=int(info.get("ring_until", 0)),
            data=data if isinstance(data, dict) else {},
        )


@dataclass(frozen=True, slots=True)
class IncomingPush:
    """A push handed to the app. For VoIP, iOS requires a CallKit report before the
    handler returns, even when :attr:`call` is None (report, then end it). For FCM
    (``push_type`` :data:`~ringpush.platforms.FCM`) the payload is the message's data with
    ``ringpush`` and ``data`` parsed back into objects; the notification Android requires
    was already asked of the app's ``show_notification`` (:class:`ManagedPush`)."""

    push_type: PushKind
    payload: dict[str, Any]

    @property
    def call(self) -> IncomingCall | None:
        """The call this push rings (a VoIP push, or an FCM incoming-call message)."""
        if self.push_type is not PushType.VOIP and self.push_type is not FCM:
            return None
        try:
            return IncomingCall.from_payload(self.payload)
        except NotACallPush:
            return None

    @property
    def ended(self) -> CallEnded | None:
        """The call this push says is over (Android's call-ended and missed-call
        messages, an iPhone's background and alert pushes); the SDK also ends the
        :class:`~ringpush.sdk.CallSession` following it."""
        return ended_by_push(self.payload.get("ringpush"))
