"""Every error code the API answers with, each with its one HTTP status.

A client tells errors apart by ``error.code`` (``{"error": {"code", "message"}}``), so the
codes are a contract: this is their one list, every error the server sends names one of
them, and ``ringpush.sdk`` has an exception class for each (``tests/sdk/test_client.py``
keeps the two in step).
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """A code and its status: ``ErrorCode.UNKNOWN_APP.status`` is 404."""

    status: int

    def __new__(cls, value: str, status: int) -> ErrorCode:
        member = str.__new__(cls, value)
        member._value_ = value
        member.status = status
        return member

    MALFORMED_JSON = "malformed_json", 400
    AMBIGUOUS_LENGTH = "ambiguous_length", 400
    BAD_CONTENT_LENGTH = "bad_content_length", 400
    UNAUTHORIZED = "unauthorized", 401
    FORBIDDEN = "forbidden", 403
    NOT_FOUND = "not_found", 404
    UNKNOWN_APP = "unknown_app", 404
    UNKNOWN_DEVICE = "unknown_device", 404
    UNKNOWN_CALL = "unknown_call", 404
    CALLEE_HAS_NO_DEVICES = "callee_has_no_devices", 404
    NO_DEVICES_FOR_PUSH_TYPE = "no_devices_for_push_type", 404
    METHOD_NOT_ALLOWED = "method_not_allowed", 405
    BODY_TIMEOUT = "body_timeout", 408
    CALL_EXISTS = "call_exists", 409
    CALL_NOT_RINGING = "call_not_ringing", 409
    TOO_MANY_DEVICES = "too_many_devices", 409
    DEVICE_TOKEN_UNAVAILABLE = "device_token_unavailable", 409
    BODY_TOO_LARGE = "body_too_large", 413
    PAYLOAD_TOO_LARGE = "payload_too_large", 413
    MISSING_FIELD = "missing_field", 422
    INVALID_FIELD = "invalid_field", 422
    INVALID_TOKEN = "invalid_token", 422
    INVALID_CREDENTIALS = "invalid_credentials", 422
    INVALID_PUSH = "invalid_push", 422
    VOIP_NEEDS_A_CALL = "voip_needs_a_call", 422
    RATE_LIMITED = "rate_limited", 429
    TOO_MANY_STREAMS = "too_many_streams", 429
    DATABASE_UNAVAILABLE = "database_unavailable", 503
    #: Any other error the HTTP layer itself raises; it is answered with that error's
    #: own status (400 is only this member's placeholder).
    HTTP_ERROR = "http_error", 400
