"""Every reason APNs gives, with its HTTP status and what a provider does about it.

Pairing each reason's wire text with its status and action in one enum (as Pushy's
``RejectionReason`` does) means the client's classification and the sandbox's answers
come from the same table and cannot drift apart. Sources: docs/apns.md §5.
"""

from __future__ import annotations

from enum import StrEnum

from ringpush.actions import Action

__all__ = ["Action", "ApnsReason", "action_for_status"]


class ApnsReason(StrEnum):
    """The ``reason`` of an APNs error response.

    Each member carries ``status`` (the HTTP status APNs pairs it with), ``action`` and
    ``reconnect`` (the connection that got it should be replaced before resending).
    """

    status: int
    action: Action
    reconnect: bool
    meaning: str

    def __new__(
        cls, wire: str, status: int, action: Action, meaning: str, reconnect: bool = False
    ) -> ApnsReason:
        member = str.__new__(cls, wire)
        member._value_ = wire
        member.status = status
        member.action = action
        member.reconnect = reconnect
        member.meaning = meaning
        return member

    # 400: the request is malformed.
    BAD_COLLAPSE_ID = (
        "BadCollapseId",
        400,
        Action.FIX_REQUEST,
        "apns-collapse-id is over 64 bytes",
    )
    # Invalid token, or a token of the other environment: never resend as is.
    BAD_DEVICE_TOKEN = (
        "BadDeviceToken",
        400,
        Action.DROP_TOKEN,
        "the device token is invalid or belongs to the other environment",
    )
    BAD_EXPIRATION_DATE = (
        "BadExpirationDate",
        400,
        Action.FIX_REQUEST,
        "apns-expiration is not a UNIX time in seconds",
    )
    BAD_MESSAGE_ID = ("BadMessageId", 400, Action.FIX_REQUEST, "apns-id is not a canonical UUID")
    BAD_PRIORITY = ("BadPriority", 400, Action.FIX_REQUEST, "apns-priority is not allowed")
    BAD_TOPIC = ("BadTopic", 400, Action.FIX_REQUEST, "apns-topic is invalid")
    # Sygnal drops such tokens: they belong to another app.
    DEVICE_TOKEN_NOT_FOR_TOPIC = (
        "DeviceTokenNotForTopic",
        400,
        Action.DROP_TOKEN,
        "the device token does not match the topic",
    )
    DUPLICATE_HEADERS = ("DuplicateHeaders", 400, Action.FIX_REQUEST, "a header was repeated")
    # Reconnect and resend [unverified].
    IDLE_TIMEOUT = ("IdleTimeout", 400, Action.RETRY_LATER, "idle time out", True)
    INVALID_PUSH_TYPE = (
        "InvalidPushType",
        400,
        Action.FIX_REQUEST,
        "apns-push-type is not a valid value",
    )
    MISSING_DEVICE_TOKEN = (
        "MissingDeviceToken",
        400,
        Action.FIX_REQUEST,
        "the path carries no device token",
    )
    MISSING_TOPIC = ("MissingTopic", 400, Action.FIX_REQUEST, "apns-topic is required")
    PAYLOAD_EMPTY = ("PayloadEmpty", 400, Action.FIX_REQUEST, "the body is empty")
    TOPIC_DISALLOWED = (
        "TopicDisallowed",
        400,
        Action.FIX_REQUEST,
        "pushing to this topic is not allowed",
    )
    # 403: credentials.
    BAD_CERTIFICATE = ("BadCertificate", 403, Action.FIX_REQUEST, "the certificate is invalid")
    BAD_CERTIFICATE_ENVIRONMENT = (
        "BadCertificateEnvironment",
        403,
        Action.FIX_REQUEST,
        "the certificate is for the other environment",
    )
    # Apple's "iat over an hour old": sign a fresh token; Pushy also reconnects.
    EXPIRED_PROVIDER_TOKEN = (
        "ExpiredProviderToken",
        403,
        Action.REFRESH_AUTH,
        "the provider token is stale and a new one should be generated",
        True,
    )
    FORBIDDEN = ("Forbidden", 403, Action.FIX_REQUEST, "the action is not allowed")
    # Do not hammer APNs with a bad key: fix the credentials.
    INVALID_PROVIDER_TOKEN = (
        "InvalidProviderToken",
        403,
        Action.FIX_REQUEST,
        "the provider token is not valid, or its signature could not be verified",
    )
    MISSING_PROVIDER_TOKEN = (
        "MissingProviderToken",
        403,
        Action.FIX_REQUEST,
        "no provider certificate or token was given",
    )
    UNRELATED_KEY_ID_IN_TOKEN = (
        "UnrelatedKeyIdInToken",
        403,
        Action.RETRY_LATER,
        "the key id is unrelated to the connection's first key: use a new connection",
        True,
    )
    BAD_ENVIRONMENT_KEY_ID_IN_TOKEN = (
        "BadEnvironmentKeyIdInToken",
        403,
        Action.FIX_REQUEST,
        "the key is not valid for this environment",
    )
    # 404/405: wrong request line.
    BAD_PATH = ("BadPath", 404, Action.FIX_REQUEST, "the path is not /3/device/<token>")
    METHOD_NOT_ALLOWED = ("MethodNotAllowed", 405, Action.FIX_REQUEST, "the method is not POST")
    # 410: the token is gone; drop it unless it was registered again after the timestamp.
    UNREGISTERED = (
        "Unregistered",
        410,
        Action.DROP_TOKEN,
        "the device token is inactive for the topic",
    )
    EXPIRED_TOKEN = ("ExpiredToken", 410, Action.DROP_TOKEN, "the device token has expired")
    PAYLOAD_TOO_LARGE = (
        "PayloadTooLarge",
        413,
        Action.FIX_REQUEST,
        "the body is over 4096 bytes (5120 for VoIP)",
    )
    # 429: keep one JWT per credential; this connection is useless for a while.
    TOO_MANY_PROVIDER_TOKEN_UPDATES = (
        "TooManyProviderTokenUpdates",
        429,
        Action.RETRY_LATER,
        "the provider token was updated too often",
        True,
    )
    TOO_MANY_REQUESTS = (
        "TooManyRequests",
        429,
        Action.RETRY_LATER,
        "too many requests were made to the same device token",
    )
    INTERNAL_SERVER_ERROR = (
        "InternalServerError",
        500,
        Action.RETRY_LATER,
        "APNs had an internal error",
    )
    SERVICE_UNAVAILABLE = (
        "ServiceUnavailable",
        503,
        Action.RETRY_LATER,
        "APNs is unavailable",
        True,
    )
    SHUTDOWN = ("Shutdown", 503, Action.RETRY_LATER, "the APNs server is shutting down", True)

    @classmethod
    def parse(cls, wire: str) -> ApnsReason | None:
        """The member for a reason string, or None for one this table does not know."""
        return _BY_WIRE.get(wire)


_BY_WIRE: dict[str, ApnsReason] = {member.value: member for member in ApnsReason}


def action_for_status(status: int) -> Action:
    """The action for a response whose reason is missing or unknown, by status alone."""
    if status == 200:
        return Action.DELIVERED
    if status == 410:
        return Action.DROP_TOKEN
    if status == 403:
        return Action.FIX_REQUEST
    if status == 429 or status >= 500:
        return Action.RETRY_LATER
    return Action.FIX_REQUEST
