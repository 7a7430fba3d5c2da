"""An FCM message as plain data, and the request body it encodes to (docs/fcm.md §1, §2,
§6).

:class:`FcmMessage` is what callers build; :meth:`FcmMessage.encode` runs FCM's rules
(:func:`ringpush.fcm.rules.message_violations`, the same checks the sandbox applies) on
exactly the JSON it is about to send, and refuses with every violation named, so a
message FCM would answer 400 never leaves the process. The data's keys are the product
layer's; this module only knows FCM's rules.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ringpush.apns.device_token import mask_device_token
from ringpush.apns.notification import compact_json
from ringpush.fcm.errors import InvalidMessage
from ringpush.fcm.rules import Violation, message_violations


class AndroidPriority(StrEnum):
    """``android.priority``, spelled as the API's enum names it (docs/fcm.md §1, §6).

    HIGH is delivered at once, through Doze, and may wake the device; NORMAL waits for a
    maintenance window. High-priority messages that show nothing get deprioritized.
    """

    HIGH = "HIGH"
    NORMAL = "NORMAL"


@dataclass(frozen=True, slots=True)
class FcmMessage:
    """One message to one registration token.

    ``ttl`` is in seconds: 0 means now or never (an offline device never gets it), None
    leaves it out and FCM keeps the message for 4 weeks. ``priority`` is always sent,
    because FCM's default for data messages is disputed (docs/fcm.md §6).
    ``validate_only`` has FCM check the message and deliver nothing.
    """

    token: str
    data: Mapping[str, str] = field(default_factory=dict)
    priority: AndroidPriority = AndroidPriority.NORMAL
    ttl: int | None = None
    collapse_key: str | None = None
    restricted_package_name: str | None = None
    validate_only: bool = False

    @classmethod
    def for_call(
        cls,
        token: str,
        data: Mapping[str, str],
        *,
        ring_seconds: float,
        collapse_key: str | None = None,
        restricted_package_name: str | None = None,
    ) -> FcmMessage:
        """The wake-up for an incoming call: a high-priority *data* message, so that the
        app's ``onMessageReceived`` runs even in the background and posts the call's
        full-screen notification itself, with a ttl of what is left of the ring time
        (rounded down), so that a phone never rings for a call that is over."""
        if ring_seconds < 0:
            raise InvalidMessage([Violation("message.android.ttl", "the ring time is over")])
        return cls(
            token=token,
            data=data,
            priority=AndroidPriority.HIGH,
            ttl=math.floor(ring_seconds),
            collapse_key=collapse_key,
            restricted_package_name=restricted_package_name,
        )

    def to_message(self) -> dict[str, Any]:
        """The ``message`` object as FCM's JSON spells it (snake_case, as clients send)."""
        android: dict[str, Any] = {"priority": str(self.priority)}
        if self.ttl is not None:
            # Whole seconds only: anything else is left unformatted, for the rules to name.
            android["ttl"] = f"{self.ttl}s" if type(self.ttl) is int else repr(self.ttl)
        if self.collapse_key is not None:
            android["collapse_key"] = self.collapse_key
        if self.restricted_package_name is not None:
            android["restricted_package_name"] = self.restricted_package_name
        message: dict[str, Any] = {"token": self.token}
        if self.data:
            # Anything but a map is left as is, for the rules to name.
            message["data"] = dict(self.data) if isinstance(self.data, Mapping) else self.data
        message["android"] = android
        return message

    def violations(self) -> list[Violation]:
        """Every FCM rule this message breaks (none: FCM would take it)."""
        return message_violations(self.to_message())

    def encode(self) -> bytes:
        """The request body, compact UTF-8 JSON; raises :class:`InvalidMessage` naming
        every violation first."""
        message = self.to_message()
        found = message_violations(message)
        if found:
            raise InvalidMessage(found)
        body: dict[str, Any] = {"message": message}
        if self.validate_only:
            body = {"validate_only": True, **body}
        return compact_json(body)

    def __repr__(self) -> str:
        return (
            f"FcmMessage(token={mask_device_token(self.token)!r},"
            f" data keys={sorted(map(str, self.data))!r},"
            f" priority={self.priority!s}, ttl={self.ttl!r},"
            f" collapse_key={self.collapse_key!r}, validate_only={self.validate_only})"
        )
