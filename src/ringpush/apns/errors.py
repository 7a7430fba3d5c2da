"""Errors raised before anything is sent: the request or the credentials are wrong.

Per-push outcomes from APNs are never raised; they come back as :class:`ApnsResult`.
"""

from __future__ import annotations

from ringpush.apns.reasons import ApnsReason


class ApnsError(Exception):
    """Base class of every error :mod:`ringpush.apns` raises."""


class InvalidNotification(ApnsError, ValueError):
    """The notification breaks an APNs rule; APNs would answer ``reason``.

    Raised before sending so that a push Apple would reject never leaves the process.
    """

    def __init__(self, message: str, reason: ApnsReason) -> None:
        super().__init__(message)
        self.reason = reason


class InvalidDeviceToken(InvalidNotification):
    def __init__(self, message: str, reason: ApnsReason = ApnsReason.BAD_DEVICE_TOKEN) -> None:
        super().__init__(message, reason)


class PayloadTooLarge(InvalidNotification):
    """The body is over the push type's limit (4096 bytes, 5120 for VoIP)."""

    def __init__(self, size: int, limit: int, push_type: str) -> None:
        super().__init__(
            f"payload is {size} bytes, over the {limit}-byte limit for {push_type} pushes",
            ApnsReason.PAYLOAD_TOO_LARGE,
        )
        self.size = size
        self.limit = limit


class CredentialsError(ApnsError, ValueError):
    """A signing key, key id, team id or certificate is unreadable or malformed."""
