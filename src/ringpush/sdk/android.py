"""Android: what the SDK needs from FirebaseMessaging, and what it asks of the app.

FirebaseMessaging gives an install one token, at first start and after every refresh
(``onNewToken``), and none after ``deleteToken``. :class:`FcmTokenSource` is that for
:meth:`ManagedPush.fcm <ringpush.sdk.ManagedPush.fcm>`, as
:class:`~ringpush.sdk.TokenSource` is PushKit for iOS; the app's
``FirebaseMessagingService`` passes on what it is told to the :class:`FcmDelegate`.

Android's rule, the counterpart of iOS's CallKit rule: every high-priority message must
lead to a notification the user sees within seconds, or FCM delivers the install's later
ones at normal priority, which wait out Doze: calls that ring minutes late (docs/fcm.md
§6). ringpush sends two kinds of high-priority message, the incoming call and the missed
call, so for each one the SDK hands the app a :class:`Notice` to show at once, and the
app only draws it (docs/android.md §4, §8).

Plain values and pure functions: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from ringpush.sdk.incoming import IncomingPush

#: The data keys ringpush writes as JSON text, since FCM data values are strings: its
#: ``ringpush`` object and the calling service's ``data``.
JSON_KEYS = ("ringpush", "data")


class MessagePriority(StrEnum):
    HIGH = "high"
    NORMAL = "normal"


@dataclass(frozen=True, slots=True, kw_only=True)
class DataMessage:
    """An FCM data message as ``onMessageReceived`` gets it (``RemoteMessage``)."""

    data: Mapping[str, str]
    #: What FCM delivered it with (``getPriority``) and what the sender asked for
    #: (``getOriginalPriority``): they differ once FCM has deprioritized this install.
    priority: MessagePriority = MessagePriority.HIGH
    original_priority: MessagePriority = MessagePriority.HIGH

    @property
    def deprioritized(self) -> bool:
        return self.priority is not self.original_priority


class FcmDelegate(Protocol):
    """What the token source tells (the :class:`~ringpush.sdk.ManagedPush`), the
    counterpart of PushKit's delegate."""

    def did_update_fcm_token(self, token: str) -> None:
        """``onNewToken``, or the token ``getToken`` gave: at start and on every refresh."""

    def did_invalidate_fcm_token(self) -> None:
        """The install has no token any more (``deleteToken`` completed)."""

    def did_receive_fcm_message(self, message: DataMessage) -> None:
        """``onMessageReceived``: call it from there, as it is (it returns at once)."""


class FcmTokenSource(Protocol):
    """Where an Android install's token comes from: FirebaseMessaging, with the app's
    ``FirebaseMessagingService`` passing on its callbacks."""

    def start(self, delegate: FcmDelegate) -> None:
        """Tell ``delegate`` the current token (now or on a later loop turn), then each
        new one, its deletion, and every message."""


class NoticeKind(StrEnum):
    #: A call still ringing: the full-screen ``CallStyle`` notification, ringing until
    #: the call ends or ``ring_until_ms`` passes.
    RINGING = "ringing"
    #: "Missed call from …": the caller canceled, the ring time ran out, or the call
    #: was over by the time its message came (clocks differ, Doze delays).
    MISSED = "missed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Notice:
    """A notification the app must show before its handler returns."""

    kind: NoticeKind
    call_id: str
    caller_id: str
    caller_name: str = ""
    video: bool = False
    #: RINGING: when the call stops ringing (ms since the epoch), for the
    #: notification's ``setTimeoutAfter``, so it stops even if nothing else says so.
    ring_until_ms: int = 0
    #: MISSED: ``canceled`` or ``timeout``.
    reason: str = ""

    @property
    def handle(self) -> str:
        """What the notification names: the caller's name, else their id (Android's
        ``Person`` must not be nameless)."""
        return self.caller_name or self.caller_id


def fcm_payload(data: Mapping[str, str]) -> dict[str, Any]:
    """An FCM message's data in the VoIP payload's shape: the JSON text of
    :data:`JSON_KEYS` parsed back into objects (text that is no JSON object, say the
    app's own message, stays as it is), so one parser serves both platforms."""
    payload: dict[str, Any] = dict(data)
    for key in JSON_KEYS:
        text = payload.get(key)
        if not isinstance(text, str):
            continue
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, dict):
            payload[key] = value
    return payload


def notice_for(push: IncomingPush, now_ms: int) -> Notice | None:
    """What the app must show for a message ringpush sends at high priority, at
    ``now_ms`` (ms since the epoch); None for one that asks for nothing shown (a
    call-ended message, normal priority) or is not ringpush's."""
    call = push.call
    if call is not None:
        over = 0 < call.ring_until_ms <= now_ms
        return Notice(
            kind=NoticeKind.MISSED if over else NoticeKind.RINGING,
            call_id=call.call_id,
            caller_id=call.caller_id,
            caller_name=call.caller_name,
            video=call.video,
            ring_until_ms=0 if over else call.ring_until_ms,
            reason="timeout" if over else "",
        )
    info = push.payload.get("ringpush")
    if not isinstance(info, dict) or info.get("type") != "missed-call":
        return None
    caller = info.get("caller")
    caller = caller if isinstance(caller, dict) else {}
    return Notice(
        kind=NoticeKind.MISSED,
        call_id=str(info.get("call_id", "")),
        caller_id=str(caller.get("id", "")),
        caller_name=str(caller.get("name", "")),
        reason=str(info.get("reason", "")),
    )
