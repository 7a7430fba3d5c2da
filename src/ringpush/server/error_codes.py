"""Every error code the API answers with, each with its one HTTP status.

A client tells errors apart by ``error.code`` (``{"error": {"code", "message"}}``), so the
codes are a contract: this is their one list, every error the server sends names one of
them, and ``ringpush.sdk`` has an exception class for each (``tests/sdk/test_client.py``
keeps the two in step).
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    # 400: the request cannot be read
    MALFORMED_JSON = "malformed_json"
    AMBIGUOUS_LENGTH = "ambiguous_length"
    BAD_CONTENT_LENGTH = "bad_content_length"
    # 401 / 403: the credential
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    # 404: nothing the caller may see
    NOT_FOUND = "not_found"
    UNKNOWN_APP = "unknown_app"
    UNKNOWN_DEVICE = "unknown_device"
    UNKNOWN_CALL = "unknown_call"
    CALLEE_HAS_NO_DEVICES = "callee_has_no_devices"
    NO_DEVICES_FOR_PUSH_TYPE = "no_devices_for_push_type"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    BODY_TIMEOUT = "body_timeout"
    # 409: conflicts with what exists
    CALL_EXISTS = "call_exists"
    CALL_NOT_RINGING = "call_not_ringing"
    TOO_MANY_DEVICES = "too_many_devices"
    DEVICE_TOKEN_UNAVAILABLE = "device_token_unavailable"
    # 413: too large
    BODY_TOO_LARGE = "body_too_large"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    # 422: a field
    MISSING_FIELD = "missing_field"
    INVALID_FIELD = "invalid_field"
    INVALID_TOKEN = "invalid_token"
    INVALID_CREDENTIALS = "invalid_credentials"
    INVALID_PUSH = "invalid_push"
    VOIP_NEEDS_A_CALL = "voip_needs_a_call"
    # 429: slow down
    RATE_LIMITED = "rate_limited"
    TOO_MANY_STREAMS = "too_many_streams"
    # 503: the database, for now
    DATABASE_UNAVAILABLE = "database_unavailable"
    #: Any other status the HTTP layer itself raises (its status is that one).
    HTTP_ERROR = "http_error"

    @property
    def status(self) -> int:
        return STATUS[self]


STATUS: dict[ErrorCode, int] = {
    ErrorCode.MALFORMED_JSON: 400,
    ErrorCode.AMBIGUOUS_LENGTH: 400,
    ErrorCode.BAD_CONTENT_LENGTH: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.UNKNOWN_APP: 404,
    ErrorCode.UNKNOWN_DEVICE: 404,
    ErrorCode.UNKNOWN_CALL: 404,
    ErrorCode.CALLEE_HAS_NO_DEVICES: 404,
    ErrorCode.NO_DEVICES_FOR_PUSH_TYPE: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.BODY_TIMEOUT: 408,
    ErrorCode.CALL_EXISTS: 409,
    ErrorCode.CALL_NOT_RINGING: 409,
    ErrorCode.TOO_MANY_DEVICES: 409,
    ErrorCode.DEVICE_TOKEN_UNAVAILABLE: 409,
    ErrorCode.BODY_TOO_LARGE: 413,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.MISSING_FIELD: 422,
    ErrorCode.INVALID_FIELD: 422,
    ErrorCode.INVALID_TOKEN: 422,
    ErrorCode.INVALID_CREDENTIALS: 422,
    ErrorCode.INVALID_PUSH: 422,
    ErrorCode.VOIP_NEEDS_A_CALL: 422,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.TOO_MANY_STREAMS: 429,
    ErrorCode.DATABASE_UNAVAILABLE: 503,
    ErrorCode.HTTP_ERROR: 400,  # the HTTP layer's own answers keep their status
}
