"""A notification as plain data, and the validated request it encodes to (docs/apns.md §2, §3).

``Notification`` is what callers build; :meth:`Notification.encode` checks every rule APNs
enforces and produces a :class:`PushRequest` — the exact path, headers and body that go on
the wire. Doing all of it before sending means a push Apple would reject never leaves the
process, and a retried push keeps its ``apns-id``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ringpush.apns.device_token import mask_device_token, normalize_device_token
from ringpush.apns.errors import InvalidNotification, PayloadTooLarge
from ringpush.apns.push_type import PushType
from ringpush.apns.reasons import ApnsReason

#: ``apns-collapse-id`` may be at most 64 bytes.
MAX_COLLAPSE_ID_BYTES = 64
#: APNs stores a push for at most 30 days; a later expiration is pointless.
MAX_STORAGE_SECONDS = 30 * 24 * 3600

#: ``apns-collapse-id``: visible ASCII only. A header value must never carry CR, LF or
#: NUL (a strict peer resets the stream, a lax one could read a second header).
_COLLAPSE_ID = re.compile(r"^[\x21-\x7e]+$")
#: ``apns-topic``: a bundle id and its push-type suffix (``.voip``, ``.complication``…).
_TOPIC = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$")
_CANONICAL_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def is_canonical_apns_id(value: str) -> bool:
    """True for a lowercase 8-4-4-4-12 UUID, the form Apple documents for ``apns-id``."""
    return _CANONICAL_UUID.fullmatch(value) is not None


def new_apns_id() -> str:
    return str(uuid.uuid4())


def compact_json(payload: Mapping[str, Any]) -> bytes:
    """Serialise a payload the way it is measured and sent: compact, UTF-8, no escapes."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True, slots=True)
class PushRequest:
    """A validated push, ready for the wire; ``headers`` excludes ``authorization``."""

    apns_id: str
    device_token: str
    topic: str
    push_type: PushType
    path: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes

    def __repr__(self) -> str:
        return (
            f"PushRequest(apns_id={self.apns_id!r}, token={mask_device_token(self.device_token)!r},"
            f" topic={self.topic!r}, push_type={self.push_type.value!r}, {len(self.body)} bytes)"
        )


@dataclass(frozen=True, slots=True)
class Notification:
    """One push to one device token.

    ``topic`` is the full ``apns-topic``; use :meth:`for_app` to derive it from a bundle id.
    ``expiration`` is an absolute UNIX time in seconds (0: one delivery attempt, never
    stored; None: leave the header out and let APNs store it). ``priority`` None means the
    push type's default.
    """

    device_token: str = field(repr=False)
    topic: str
    push_type: PushType
    payload: Mapping[str, Any] | bytes
    priority: int | None = None
    expiration: int | None = None
    collapse_id: str | None = None
    apns_id: str | None = None

    @classmethod
    def for_app(
        cls,
        bundle_id: str,
        push_type: PushType | str,
        device_token: str,
        payload: Mapping[str, Any] | bytes,
        *,
        priority: int | None = None,
        expiration: int | None = None,
        collapse_id: str | None = None,
        apns_id: str | None = None,
    ) -> Notification:
        kind = parse_push_type(push_type)
        return cls(
            device_token=device_token,
            topic=kind.topic_for(bundle_id),
            push_type=kind,
            payload=payload,
            priority=priority,
            expiration=expiration,
            collapse_id=collapse_id,
            apns_id=apns_id,
        )

    @classmethod
    def voip(
        cls,
        bundle_id: str,
        device_token: str,
        payload: Mapping[str, Any] | bytes,
        *,
        expiration: int = 0,
        apns_id: str | None = None,
    ) -> Notification:
        """A VoIP push: topic ``<bundle>.voip``, priority 10, and by default expiration 0
        so that a phone never rings for a call that is already over (docs/apns.md §7)."""
        return cls.for_app(
            bundle_id,
            PushType.VOIP,
            device_token,
            payload,
            priority=10,
            expiration=expiration,
            apns_id=apns_id,
        )

    def encode(self) -> PushRequest:
        """Check every rule and build the wire request; raises :class:`InvalidNotification`."""
        token = normalize_device_token(self.device_token)
        apns_id = self.apns_id if self.apns_id is not None else new_apns_id()
        if not is_canonical_apns_id(apns_id):
            raise InvalidNotification(
                "apns-id must be a lowercase canonical UUID", ApnsReason.BAD_MESSAGE_ID
            )
        if not self.topic:
            raise InvalidNotification("apns-topic is required", ApnsReason.MISSING_TOPIC)
        if _TOPIC.fullmatch(self.topic) is None:
            raise InvalidNotification(
                "apns-topic must be a bundle id (letters, digits, '-' and '.')",
                ApnsReason.BAD_TOPIC,
            )
        rules = self.push_type.rules
        priority = rules.default_priority if self.priority is None else self.priority
        if priority not in rules.priorities:
            allowed = ", ".join(str(p) for p in sorted(rules.priorities, reverse=True))
            raise InvalidNotification(
                f"priority {priority} is not allowed for {self.push_type.value} pushes"
                f" (allowed: {allowed})",
                ApnsReason.BAD_PRIORITY,
            )
        if isinstance(self.payload, bytes):
            body = self.payload
            check_body(body, self.push_type, parse=True)
        else:
            try:
                body = compact_json(self.payload)
            except (TypeError, ValueError) as exc:
                raise InvalidNotification(
                    f"payload is not JSON-serialisable: {exc}", ApnsReason.PAYLOAD_EMPTY
                ) from None
            check_body(body, self.push_type, parse=False)
        headers: list[tuple[bytes, bytes]] = [
            (b"apns-id", apns_id.encode()),
            (b"apns-topic", self.topic.encode()),
            (b"apns-push-type", self.push_type.value.encode()),
            (b"apns-priority", str(priority).encode()),
        ]
        if self.expiration is not None:
            if self.expiration < 0:
                raise InvalidNotification(
                    "apns-expiration must be 0 or a UNIX time in seconds",
                    ApnsReason.BAD_EXPIRATION_DATE,
                )
            headers.append((b"apns-expiration", str(self.expiration).encode()))
        if self.collapse_id is not None:
            size = len(self.collapse_id.encode())
            if size > MAX_COLLAPSE_ID_BYTES:
                raise InvalidNotification(
                    f"apns-collapse-id is {size} bytes,"
                    f" over the {MAX_COLLAPSE_ID_BYTES}-byte limit",
                    ApnsReason.BAD_COLLAPSE_ID,
                )
            if _COLLAPSE_ID.fullmatch(self.collapse_id) is None:
                raise InvalidNotification(
                    "apns-collapse-id must be visible ASCII (no spaces, control characters"
                    " or non-ASCII)",
                    ApnsReason.BAD_COLLAPSE_ID,
                )
            headers.append((b"apns-collapse-id", self.collapse_id.encode()))
        return PushRequest(
            apns_id=apns_id,
            device_token=token,
            topic=self.topic,
            push_type=self.push_type,
            path=b"/3/device/" + token.encode(),
            headers=tuple(headers),
            body=body,
        )


def check_body(body: bytes, push_type: PushType, *, parse: bool = True) -> None:
    """The body rules: a non-empty JSON object within the push type's size limit.

    ``parse=False`` skips the JSON check for bodies this module serialised itself.
    """
    if not body:
        raise InvalidNotification("payload is empty", ApnsReason.PAYLOAD_EMPTY)
    limit = push_type.payload_limit
    if len(body) > limit:
        raise PayloadTooLarge(len(body), limit, push_type.value)
    if not parse:
        return
    try:
        decoded = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidNotification(
            f"payload is not valid JSON: {exc}", ApnsReason.PAYLOAD_EMPTY
        ) from None
    if not isinstance(decoded, dict):
        raise InvalidNotification("payload must be a JSON object", ApnsReason.PAYLOAD_EMPTY)


def parse_push_type(value: PushType | str) -> PushType:
    if isinstance(value, PushType):
        return value
    try:
        return PushType(value)
    except ValueError:
        names = ", ".join(t.value for t in PushType)
        raise InvalidNotification(
            f"unknown push type {value!r} (one of: {names})", ApnsReason.INVALID_PUSH_TYPE
        ) from None
