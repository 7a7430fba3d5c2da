"""Every error code FCM HTTP v1 gives, with its HTTP status, the canonical ``status``
string it comes with, and what a provider does about it.

One table, as for APNs (:mod:`ringpush.apns.reasons`): the client's classification, the
sandbox's answers and the docs come from it and cannot drift apart. FCM's ``status`` is
the canonical gRPC name and can differ from the code (404 ``NOT_FOUND`` for
``UNREGISTERED``): answers are classified on the ``FcmError`` detail's ``errorCode``,
as the Admin SDK does. Sources: docs/fcm.md §3 and §4.
"""

from __future__ import annotations

import re
from enum import StrEnum

from ringpush.actions import Action


class FcmErrorCode(StrEnum):
    """The ``errorCode`` of an answer's ``google.firebase.fcm.v1.FcmError`` detail.

    Each member carries ``status`` (HTTP), ``canonical`` (the body's ``status``),
    ``action`` and ``meaning``.
    """

    status: int
    canonical: str
    action: Action
    meaning: str

    def __new__(
        cls, wire: str, status: int, canonical: str, action: Action, meaning: str
    ) -> FcmErrorCode:
        member = str.__new__(cls, wire)
        member._value_ = wire
        member.status = status
        member.canonical = canonical
        member.action = action
        member.meaning = meaning
        return member

    # No detail: nothing to go on; permanent, logged.
    UNSPECIFIED_ERROR = (
        "UNSPECIFIED_ERROR",
        400,
        "INVALID_ARGUMENT",
        Action.FIX_REQUEST,
        "no more is known about the error",
    )
    # A bad field, a bad token, another app's package, too big, a reserved key, a bad
    # ttl: fix the request. A token FCM calls invalid is dropped (see action_for).
    INVALID_ARGUMENT = (
        "INVALID_ARGUMENT",
        400,
        "INVALID_ARGUMENT",
        Action.FIX_REQUEST,
        "the request is invalid (a field, the token, the package or the size)",
    )
    # Uninstalled, unregistered, expired or refreshed: the token is dead.
    UNREGISTERED = (
        "UNREGISTERED",
        404,
        "NOT_FOUND",
        Action.DROP_TOKEN,
        "the registration token is no longer valid (the app was uninstalled or the"
        " token refreshed)",
    )
    # The token belongs to another Firebase project: a configuration error; like
    # Sygnal, the token is kept (the app's credentials are what is wrong).
    SENDER_ID_MISMATCH = (
        "SENDER_ID_MISMATCH",
        403,
        "PERMISSION_DENIED",
        Action.FIX_REQUEST,
        "the token belongs to another sender (Firebase project)",
    )
    # Project, device or topic rate: back off, honouring Retry-After.
    QUOTA_EXCEEDED = (
        "QUOTA_EXCEEDED",
        429,
        "RESOURCE_EXHAUSTED",
        Action.RETRY_LATER,
        "a sending quota (project, device or topic) is used up",
    )
    UNAVAILABLE = (
        "UNAVAILABLE",
        503,
        "UNAVAILABLE",
        Action.RETRY_LATER,
        "FCM is overloaded",
    )
    INTERNAL = ("INTERNAL", 500, "INTERNAL", Action.RETRY_LATER, "FCM had an internal error")
    # A 401 that is not about the access token: refreshing it would loop for ever.
    THIRD_PARTY_AUTH_ERROR = (
        "THIRD_PARTY_AUTH_ERROR",
        401,
        "UNAUTHENTICATED",
        Action.FIX_REQUEST,
        "the APNs or web push credential in Firebase is invalid",
    )
    # The deprecated name of THIRD_PARTY_AUTH_ERROR.
    APNS_AUTH_ERROR = (
        "APNS_AUTH_ERROR",
        401,
        "UNAUTHENTICATED",
        Action.FIX_REQUEST,
        "the APNs credential in Firebase is invalid (deprecated name)",
    )

    @classmethod
    def parse(cls, wire: str) -> FcmErrorCode | None:
        """The member for an ``errorCode``, or None for one this table does not know."""
        return _BY_WIRE.get(wire)


_BY_WIRE: dict[str, FcmErrorCode] = {member.value: member for member in FcmErrorCode}

#: An INVALID_ARGUMENT whose message names the registration token says the token itself
#: is bad ("The registration token is not a valid FCM registration token"); any other
#: INVALID_ARGUMENT is about the message, and the token is kept.
_TOKEN_NAMED = re.compile(r"registration token", re.IGNORECASE)


def action_for(status: int, code: FcmErrorCode | None, message: str = "") -> Action:
    """What to do with an answer: by its ``FcmError`` code when it has one, else by
    status (a 401 without one is the access token: renew it and resend once)."""
    if status == 200:
        return Action.DELIVERED
    if code is FcmErrorCode.INVALID_ARGUMENT and _TOKEN_NAMED.search(message):
        return Action.DROP_TOKEN
    if code is not None:
        return code.action
    if status == 401:
        return Action.REFRESH_AUTH
    # A 404 without a code is a wrong URL or project, not a dead token: never drop on it.
    if status == 429 or status >= 500:
        return Action.RETRY_LATER
    return Action.FIX_REQUEST
