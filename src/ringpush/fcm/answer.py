"""FCM's answer to one send, parsed into a typed result (docs/fcm.md §4).

FCM's ``status`` is the canonical gRPC name and can differ from its error code (404
``NOT_FOUND`` for ``UNREGISTERED``), so a result is classified on the ``FcmError``
detail's ``errorCode`` (:func:`ringpush.fcm.error_codes.action_for`). Whatever the body
holds — a proxy's HTML page, truncated JSON — parsing never raises: an answer it cannot
read is classified by its status alone.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

from ringpush.actions import Action
from ringpush.apns.transport import TransportFailure
from ringpush.fcm.error_codes import FcmErrorCode, action_for

#: ``status`` of a result for which no answer arrived.
NO_RESPONSE = 0
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"


class AuthFailure(StrEnum):
    """Why a send went out without an access token, so was never sent."""

    #: The token endpoint refused the service account (``invalid_grant``…): fix it.
    REJECTED = "auth_rejected"
    #: The token endpoint failed or could not be reached, even after retries.
    UNAVAILABLE = "auth_unavailable"


@dataclass(frozen=True, slots=True)
class FcmResult:
    """What FCM said about one message, and what to do about it.

    ``status`` is the HTTP status, or :data:`NO_RESPONSE` when there was no answer
    (``failure``: the transport failed; ``auth``: no access token could be had; then
    ``message`` says why). ``canonical`` is the error body's ``status``, ``message``
    FCM's text. ``retry_after`` is FCM's ``Retry-After`` in seconds from when the
    answer was parsed. ``attempts`` counts the sends (2 after a renewed access token).
    """

    status: int
    message_name: str | None = None
    error_code: FcmErrorCode | None = None
    canonical: str | None = None
    message: str | None = None
    retry_after: float | None = None
    failure: TransportFailure | None = None
    auth: AuthFailure | None = None
    attempts: int = 1

    @property
    def sent(self) -> bool:
        """FCM accepted the message (accepted, not delivered: docs/fcm.md §1)."""
        return self.status == 200 and self.message_name is not None

    @property
    def action(self) -> Action:
        if self.status == NO_RESPONSE:
            if self.auth is AuthFailure.REJECTED:
                return Action.FIX_REQUEST
            if self.failure is TransportFailure.STREAM_PROTOCOL_ERROR:
                return Action.FIX_REQUEST  # the peer found the request malformed
            return Action.RETRY_LATER
        if self.status == 200 and self.message_name is None:
            # A 200 that is not FCM's (a captive portal's page) proves nothing was taken.
            return Action.RETRY_LATER
        return action_for(self.status, self.error_code, self.message or "")

    @property
    def reason_text(self) -> str | None:
        """FCM's error code (or the body's status) as the delivery log records it."""
        if self.error_code is not None:
            return self.error_code.value
        return None if self.sent else self.canonical

    @property
    def error(self) -> str | None:
        """Why no answer came (the transport, or no access token), when none did."""
        return self.message if self.status == NO_RESPONSE else None

    @property
    def reason_label(self) -> str:
        """A short, never empty name of the outcome, for metrics and logs."""
        if self.sent:
            return "accepted"
        if self.error_code is not None:
            return self.error_code.value
        if self.auth is not None:
            return self.auth.value
        if self.status == NO_RESPONSE:
            return (self.failure or TransportFailure.CONNECTION_LOST).value
        return str(self.status)

    def describe(self) -> str:
        """One line for logs and the CLI (never contains the token or a credential)."""
        if self.sent:
            return f"accepted as {self.message_name}"
        if self.status == NO_RESPONSE:
            return f"no answer ({self.reason_label}): {self.message}"
        text = str(self.status)
        if self.error_code is not None:
            text += f" {self.error_code.value}"
        if self.canonical and self.canonical != (self.error_code or ""):
            text += f" ({self.canonical})"
        if self.message:
            text += f": {self.message}"
        if self.retry_after is not None:
            text += f"; retry after {self.retry_after:g} s"
        return text

    @classmethod
    def no_response(cls, failure: TransportFailure, why: str, attempts: int = 1) -> FcmResult:
        return cls(status=NO_RESPONSE, failure=failure, message=why, attempts=attempts)

    @classmethod
    def no_token(cls, auth: AuthFailure, why: str, attempts: int = 1) -> FcmResult:
        return cls(status=NO_RESPONSE, auth=auth, message=why, attempts=attempts)


def parse_answer(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    attempts: int = 1,
) -> FcmResult:
    """The result of one answer; ``now`` (epoch seconds) turns a dated ``Retry-After``
    into seconds."""
    document = json_object(body)
    retry_after = parse_retry_after(_header(headers, "retry-after"), now)
    if status == 200:
        name = document.get("name") if document is not None else None
        return FcmResult(
            status=status,
            message_name=name if isinstance(name, str) and name else None,
            message=None if isinstance(name, str) and name else "a 200 without a message name",
            attempts=attempts,
        )
    error = document.get("error") if document is not None else None
    if not isinstance(error, dict):
        return FcmResult(status=status, retry_after=retry_after, attempts=attempts)
    message = error.get("message")
    canonical = error.get("status")
    return FcmResult(
        status=status,
        error_code=_error_code(error.get("details")),
        canonical=canonical if isinstance(canonical, str) else None,
        message=message if isinstance(message, str) else None,
        retry_after=retry_after,
        attempts=attempts,
    )


def _error_code(details: object) -> FcmErrorCode | None:
    """The first ``FcmError`` detail's code; None when there is none, or it is one this
    table does not know (then the status decides)."""
    if not isinstance(details, list):
        return None
    for detail in details:
        if isinstance(detail, dict) and detail.get("@type") == FCM_ERROR_TYPE:
            code = detail.get("errorCode")
            return FcmErrorCode.parse(code) if isinstance(code, str) else None
    return None


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds to wait: delay-seconds or an HTTP date (RFC 9110
    §10.2.3); a date in the past is 0, anything unreadable None."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        seconds = float(value)
        return seconds if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP date is always GMT
        return None
    seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    for key, found in headers.items():  # a plain dict, spelt another way
        if key.lower() == name:
            return found
    return None


def json_object(body: bytes) -> dict[str, Any] | None:
    """``body`` as a JSON object, or None for anything else (HTML, bad UTF-8, an array,
    nesting deep enough to exhaust the parser): answers are read, never trusted."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    return document if isinstance(document, dict) else None
