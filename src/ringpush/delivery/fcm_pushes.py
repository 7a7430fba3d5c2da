"""An outbox row as the FCM message it stands for.

The outbox keeps one shape for every push: for FCM, ``payload`` is the message's
``data`` (a JSON object of strings), ``priority`` 10 means ``HIGH`` and anything else
``NORMAL``, ``expiration`` (UNIX seconds) becomes the ttl left when it is sent, so a
call's wake-up is never delivered after its ring time (docs/fcm.md §6), and
``collapse_id`` is the collapse key.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from ringpush.apns.errors import PayloadTooLarge
from ringpush.fcm.message import AndroidPriority, FcmMessage
from ringpush.fcm.rules import MAX_DATA_BYTES, data_bytes
from ringpush.registry.call_models import Call
from ringpush.registry.outbox_models import OutboxPush

#: The outbox's priority for a high-priority FCM message (APNs's "now"), and a normal one.
HIGH = 10
NORMAL = 5


def _too_large(size: int) -> PayloadTooLarge:
    """The error a call's API answer turns into 413, as for an oversized VoIP payload."""
    return PayloadTooLarge(size, MAX_DATA_BYTES, "fcm")


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _data(values: dict[str, str]) -> bytes:
    size = data_bytes(values)
    if size > MAX_DATA_BYTES:
        raise _too_large(size)
    return _compact(values).encode()


def fcm_incoming_call(info: dict[str, Any], call_data: dict[str, Any]) -> bytes:
    """An incoming call's FCM data (docs/payloads.md): FCM data values are strings, so
    ``ringpush`` holds the same object as the VoIP payload's, as JSON text, and ``data``
    the calling service's data (when it sent any). Raises
    :class:`~ringpush.apns.errors.PayloadTooLarge` over FCM's 4096 bytes."""
    values = {"ringpush": _compact(info)}
    if call_data:
        values["data"] = _compact(call_data)
    return _data(values)


def fcm_call_ended(call: Call, info: dict[str, Any], missed: bool) -> tuple[bytes, int]:
    """The end of a call as an Android device is told it, and its priority: a missed
    call (canceled, timed out) leads to a notification, so it may be high priority; any
    other end leads to none, so it must not be (FCM deprioritizes an app whose
    high-priority messages show nothing: docs/fcm.md §6)."""
    if missed:
        told = {
            **info,
            "type": "missed-call",
            "caller": {"id": call.caller_id, "name": call.caller_name},
        }
        return _data({"ringpush": _compact(told)}), HIGH
    return _data({"ringpush": _compact(info)}), NORMAL


def fcm_message(push: OutboxPush, now: datetime) -> FcmMessage:
    return message_for(
        push.token,
        push.payload,
        now,
        priority=push.priority,
        expiration=push.expiration,
        collapse_id=push.collapse_id,
    )


def message_for(
    token: str,
    payload: bytes,
    now: datetime,
    *,
    priority: int | None,
    expiration: int | None,
    collapse_id: str | None,
) -> FcmMessage:
    """The message for the outbox's fields (see the module's docstring)."""
    ttl = None
    if expiration is not None:
        ttl = max(0, math.floor(expiration - now.timestamp()))
    return FcmMessage(
        token=token,
        data=json.loads(payload),
        priority=AndroidPriority.HIGH if priority == HIGH else AndroidPriority.NORMAL,
        ttl=ttl,
        collapse_key=collapse_id,
    )
