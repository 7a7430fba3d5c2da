"""Sans-IO validation of one push request: a chain of small checks (docs/apns.md §2, §3, §6).

The order is Pushy's mock's (APNs's own is unknown): ``apns-id`` → method → topic →
collapse id → (expiration) → priority → push type → path and token → authentication →
payload. Each check raises :class:`Rejected` with the reason APNs gives; the HTTP
server only translates. Repeated headers are caught first, because nothing else can be
read reliably from an ambiguous header block.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from ringpush.apns.environment import Environment
from ringpush.apns.notification import MAX_COLLAPSE_ID_BYTES, is_canonical_apns_id
from ringpush.apns.push_type import ALL_PRIORITIES, PushType
from ringpush.apns.reasons import ApnsReason
from ringpush.sandbox.auth import ConnectionAuth
from ringpush.sandbox.rejected import Rejected
from ringpush.sandbox.tokens import IssuedToken, TokenRegistry

Headers = Sequence[tuple[bytes, bytes]]

PATH_PREFIX = b"/3/device/"
_HEX = frozenset(b"0123456789abcdef")
#: Push types with their own topic suffix, longest first so ".voip-ptt" beats ".voip".
_SUFFIXED = sorted(
    (t for t in PushType if t.topic_suffix),
    key=lambda t: -len(t.topic_suffix),
)
_PUSH_TYPES = {t.value.encode(): t for t in PushType}
_PRIORITIES = {str(p).encode(): p for p in ALL_PRIORITIES}


@dataclass(frozen=True, slots=True)
class ValidPush:
    """A request that passed every check: what APNs would accept and store."""

    apns_id: str
    token: IssuedToken
    topic: str
    push_type: PushType
    headers: Headers
    body: bytes


class PushValidator:
    """Validates requests arriving on one environment's port against the issued tokens."""

    def __init__(self, tokens: TokenRegistry, environment: Environment) -> None:
        self._tokens = tokens
        self.environment = environment

    def validate(
        self, headers: Headers, body: bytes, auth: ConnectionAuth, *, body_size: int | None = None
    ) -> ValidPush:
        """The accepted push, or :class:`Rejected` carrying the response's ``apns-id``.

        ``body_size`` is the real size when the server stopped buffering a huge body.
        """
        fields = dict(headers)
        apns_id: str | None = None
        try:
            if len(fields) != len(headers):
                raise Rejected(ApnsReason.DUPLICATE_HEADERS)
            apns_id = check_apns_id(fields)
            check_method(fields)
            topic = check_topic(fields)
            check_collapse_id(fields)
            check_expiration(fields)
            priority = check_priority(fields)
            push_type = check_push_type(fields, topic, priority)
            token = check_device_token_path(fields)
            # Who is sending, before any answer about the token's state: a request that
            # is not authenticated learns nothing of which tokens exist (as on APNs).
            auth.identify(fields.get(b"authorization"), topic, push_type)
            issued = check_device_token(token, topic, self._tokens, self.environment)
            auth.authorize(issued.bundle_id)
            check_payload(body, push_type, len(body) if body_size is None else body_size)
        except Rejected as exc:
            exc.apns_id = apns_id or _fresh_apns_id()
            raise
        return ValidPush(apns_id, issued, topic, push_type, headers, body)


def _fresh_apns_id() -> str:
    return str(uuid.uuid4())


def check_apns_id(fields: dict[bytes, bytes]) -> str:
    """Echo a canonical lowercase UUID, generate one if absent, else ``BadMessageId``."""
    raw = fields.get(b"apns-id")
    if raw is None:
        return _fresh_apns_id()
    value = raw.decode("latin-1")
    if not is_canonical_apns_id(value):
        raise Rejected(ApnsReason.BAD_MESSAGE_ID)
    return value


def check_method(fields: dict[bytes, bytes]) -> None:
    if fields.get(b":method") != b"POST":
        raise Rejected(ApnsReason.METHOD_NOT_ALLOWED)


def check_topic(fields: dict[bytes, bytes]) -> str:
    """``apns-topic`` is mandatory (Pushy's mock requires it on every connection)."""
    raw = fields.get(b"apns-topic")
    if not raw:
        raise Rejected(ApnsReason.MISSING_TOPIC)
    return raw.decode("utf-8", "replace")


def check_collapse_id(fields: dict[bytes, bytes]) -> None:
    """At most 64 bytes (docs/apns.md §2), of visible ASCII: the rule ringpush's client
    holds itself to (``Notification.encode``; a control character cannot travel in an
    HTTP/2 header value, a strict peer resets the stream), so the sandbox holds every
    client to it rather than let through what ringpush would never send."""
    raw = fields.get(b"apns-collapse-id")
    if raw is None:
        return
    if len(raw) > MAX_COLLAPSE_ID_BYTES or not raw or min(raw) < 0x21 or max(raw) > 0x7E:
        raise Rejected(ApnsReason.BAD_COLLAPSE_ID)


def check_expiration(fields: dict[bytes, bytes]) -> None:
    """A UNIX time in seconds: decimal digits only, so 0 or more; no sign, no fraction."""
    raw = fields.get(b"apns-expiration")
    if raw is not None and not (raw.isdigit() and raw.isascii()):
        raise Rejected(ApnsReason.BAD_EXPIRATION_DATE)


def check_priority(fields: dict[bytes, bytes]) -> int | None:
    """10, 5 or 1; the per-type rule waits for :func:`check_push_type`."""
    raw = fields.get(b"apns-priority")
    if raw is None:
        return None
    priority = _PRIORITIES.get(raw)
    if priority is None:
        raise Rejected(ApnsReason.BAD_PRIORITY)
    return priority


def topic_push_type(topic: str) -> PushType | None:
    """The push type whose suffix ends ``topic``, or None for a bare bundle id."""
    for push_type in _SUFFIXED:
        if topic.endswith(push_type.topic_suffix):
            return push_type
    return None


def check_push_type(fields: dict[bytes, bytes], topic: str, priority: int | None) -> PushType:
    """The push type, which must be known and agree with the topic's suffix.

    Without the header the push type is read from the topic (alert for a bare bundle
    id), as APNs treats header-less pushes. A suffixed topic under another push type
    (``.voip`` sent as ``alert``) is ``InvalidPushType``, which is what client authors
    report from APNs. A suffix-needing type on a bare bundle id (``voip`` to
    ``com.example.app``) is left to the token check, which answers
    ``DeviceTokenNotForTopic`` as APNs does (pushok #108, laravel-notification-channels
    apn #88).
    """
    by_topic = topic_push_type(topic)
    raw = fields.get(b"apns-push-type")
    if raw is None:
        push_type = by_topic or PushType.ALERT
    else:
        found = _PUSH_TYPES.get(raw)
        if found is None:
            raise Rejected(ApnsReason.INVALID_PUSH_TYPE)
        if by_topic is not None and by_topic is not found:
            raise Rejected(ApnsReason.INVALID_PUSH_TYPE)
        push_type = found
    if priority is not None and not push_type.allows_priority(priority):
        raise Rejected(ApnsReason.BAD_PRIORITY)
    return push_type


def check_device_token_path(fields: dict[bytes, bytes]) -> str:
    """``/3/device/<hex>``: the token as written, checked for form only (no lookup, so
    it may come before authentication and reveals nothing of which tokens exist)."""
    path = fields.get(b":path", b"")
    if path in (b"/3/device", PATH_PREFIX):
        raise Rejected(ApnsReason.MISSING_DEVICE_TOKEN)
    if not path.startswith(PATH_PREFIX):
        raise Rejected(ApnsReason.BAD_PATH)
    raw = path[len(PATH_PREFIX) :].lower()
    if len(raw) % 2 or not _HEX.issuperset(raw):
        raise Rejected(ApnsReason.BAD_DEVICE_TOKEN)
    return raw.decode("ascii")


def check_device_token(
    token: str, topic: str, tokens: TokenRegistry, environment: Environment
) -> IssuedToken:
    """A live token of this environment and this topic (after authentication: these
    answers tell whether a token exists).

    A token of the other environment is ``BadDeviceToken``, exactly what APNs answers
    (docs/apns.md §7); its ``Unregistered`` state only shows on its own host.
    """
    issued = tokens.get(token)
    if issued is None or issued.environment is not environment:
        raise Rejected(ApnsReason.BAD_DEVICE_TOKEN)
    if issued.uninstalled_at_ms is not None:
        raise Rejected(ApnsReason.UNREGISTERED, timestamp_ms=issued.uninstalled_at_ms)
    if issued.topic != topic:
        raise Rejected(ApnsReason.DEVICE_TOKEN_NOT_FOR_TOPIC)
    return issued


def check_payload(body: bytes, push_type: PushType, size: int) -> None:
    """A non-empty JSON object within the push type's limit (4096, 5120 for VoIP).

    What APNs answers for a body that is not a JSON object is unverified; the sandbox
    answers ``400 PayloadEmpty``, the reason ringpush's own client raises for it
    (``ringpush.apns.notification.check_body``), so both sides agree.
    """
    if size == 0:
        raise Rejected(ApnsReason.PAYLOAD_EMPTY)
    if size > push_type.payload_limit:
        raise Rejected(ApnsReason.PAYLOAD_TOO_LARGE)
    if body[:1] != b"{":
        body = body.lstrip()
        if body[:1] != b"{":
            raise Rejected(ApnsReason.PAYLOAD_EMPTY)
    try:
        json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise Rejected(ApnsReason.PAYLOAD_EMPTY) from None
