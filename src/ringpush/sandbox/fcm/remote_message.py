"""What a simulated Android app gets from FCM: ``RemoteMessage`` and the messaging
service's callbacks, plus what became of each message on the device.

As on Android, a message knows both its ``original_priority`` (what the sender asked
for) and its ``priority`` (what FCM delivered it with): they differ once the app
instance is deprioritized (:mod:`ringpush.sandbox.fcm.deprioritization`), which is
how an Android app can tell (``RemoteMessage.getOriginalPriority``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ringpush.fcm.rules import MAX_TTL_SECONDS, effective_data, ttl_seconds


class Priority(StrEnum):
    HIGH = "high"
    NORMAL = "normal"


class Fate(StrEnum):
    """Where a message FCM accepted for this device stands."""

    #: Held: the device is offline, or dozing and the message is normal priority.
    PENDING = "pending"
    DELIVERED = "delivered"
    #: Its ttl ran out before the device was reachable.
    EXPIRED = "expired"
    #: ``ttl`` 0 ("now or never") and the device was not reachable at once.
    DROPPED_TTL_ZERO = "dropped_ttl_zero"
    #: A newer message with the same ``collapse_key`` replaced it while held.
    COLLAPSED = "collapsed"
    #: Over 100 held non-collapsible messages: FCM drops them all (§5).
    DROPPED_STORE_FULL = "dropped_store_full"
    #: The app was uninstalled while it was held.
    DROPPED_UNINSTALLED = "dropped_uninstalled"


def requested_priority(message: Mapping[str, Any]) -> Priority:
    """``android.priority``; when absent, normal for data messages and high for
    notification messages (the discovery document's default; docs say otherwise, §6)."""
    android = message.get("android")
    android = android if isinstance(android, Mapping) else {}
    raw = android.get("priority")
    if isinstance(raw, str):
        return Priority(raw.lower())
    has_notification = "notification" in message or "notification" in android
    return Priority.HIGH if has_notification else Priority.NORMAL


def message_ttl(message: Mapping[str, Any]) -> int:
    android = message.get("android")
    raw = android.get("ttl") if isinstance(android, Mapping) else None
    return ttl_seconds(raw) if isinstance(raw, str) else MAX_TTL_SECONDS


@dataclass(eq=False, slots=True)
class RemoteMessage:
    """One message for this device, as the app sees it, and its fate."""

    #: The message's full name, ``projects/{id}/messages/{message_id}``.
    name: str
    data: dict[str, str]
    original_priority: Priority
    priority: Priority
    ttl: int
    collapse_key: str | None
    sent_time: float
    #: Carries a ``notification`` the system shows by itself.
    has_notification: bool = False
    fate: Fate = Fate.PENDING
    delivered_at: float | None = None
    #: While held in Doze: when the next maintenance window delivers it.
    due_at: float | None = None
    #: High priority only: whether a user-visible notification followed in time (None
    #: while its deadline runs, and for normal priority).
    notification_shown: bool | None = None
    full_screen: bool | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def message_id(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    @property
    def deprioritized(self) -> bool:
        return self.priority is not self.original_priority

    @property
    def expires_at(self) -> float:
        return self.sent_time + self.ttl

    @property
    def delay(self) -> float | None:
        """Seconds from FCM's acceptance to the app; None until delivered."""
        return None if self.delivered_at is None else self.delivered_at - self.sent_time

    @classmethod
    def accepted(
        cls, name: str, message: Mapping[str, Any], now: float, *, deprioritized: bool
    ) -> RemoteMessage:
        original = requested_priority(message)
        android = message.get("android")
        collapse_key = android.get("collapse_key") if isinstance(android, Mapping) else None
        return cls(
            name,
            effective_data(message),
            original,
            Priority.NORMAL if deprioritized else original,
            message_ttl(message),
            collapse_key,
            now,
            has_notification="notification" in message
            or (isinstance(android, Mapping) and "notification" in android),
            raw=message,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "data": dict(self.data),
            "original_priority": self.original_priority.value,
            "priority": self.priority.value,
            "deprioritized": self.deprioritized,
            "ttl": self.ttl,
            "collapse_key": self.collapse_key,
            "sent_time": self.sent_time,
            "fate": self.fate.value,
            "delivered_at": self.delivered_at,
            "delay": self.delay,
            "due_at": self.due_at,
            "notification_shown": self.notification_shown,
        }


class FirebaseMessagingService:
    """The app's ``FirebaseMessagingService``: subclass it and override what you need.

    Calls come on a later event-loop turn than the send that caused them, as Android
    calls an app, never inside the sandbox's HTTP handler.
    """

    def on_new_token(self, token: str) -> None:
        """The app's token, at first start and after every refresh."""

    def on_message_received(self, message: RemoteMessage) -> None:
        """A message arrived. For a high-priority one the app should post a notification
        (``device.post_notification()``) before its deadline, or it counts as a miss."""

    def on_deleted_messages(self) -> None:
        """FCM dropped messages it held for this device (over 100 while offline)."""
