"""What a provider does with a push service's answer, whichever service gave it.

APNs reasons (:mod:`ringpush.apns.reasons`) and FCM error codes
(:mod:`ringpush.fcm.error_codes`) each map onto these, so the delivery engine decides
the same way for an iPhone and an Android phone.
"""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    """What the provider should do with a response."""

    #: The push service accepted the push.
    DELIVERED = "delivered"
    #: The token is dead or not this app's: stop sending to it.
    DROP_TOKEN = "drop-token"
    #: The request or the configuration is wrong: do not resend it unchanged, alert.
    FIX_REQUEST = "fix-request"
    #: The credential (APNs provider token, FCM access token) must be renewed; then resend.
    REFRESH_AUTH = "refresh-auth"
    #: A temporary condition: resend later, with backoff.
    RETRY_LATER = "retry-later"
