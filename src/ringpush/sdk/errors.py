"""Typed errors: one exception class per API error code, so apps can catch what they mean.

The server answers every failure with ``{"error": {"code", "message"}}``; the SDK turns
that into the class registered for the code (an unknown code still gives
:class:`ApiError`). Network failures that outlast the retries are
:class:`ServerUnavailable`.
"""

from __future__ import annotations

import json
from typing import ClassVar


class RingpushError(Exception):
    """Anything the SDK raises."""


class ServerUnavailable(RingpushError):
    """The server could not be reached (or answered 502/503/504) after every retry."""


class ApiError(RingpushError):
    """The server refused the request; ``code`` is its machine-readable reason."""

    code: ClassVar[str] = ""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.error_code = code
        self.message = message


class Unauthorized(ApiError):
    code = "unauthorized"


class Forbidden(ApiError):
    code = "forbidden"


class NotFound(ApiError):
    code = "not_found"


class UnknownApp(NotFound):
    code = "unknown_app"


class UnknownDevice(NotFound):
    code = "unknown_device"


class UnknownCall(NotFound):
    code = "unknown_call"


class CalleeHasNoDevices(NotFound):
    """The callee has no device that can ring: nothing was stored, no phone rings."""

    code = "callee_has_no_devices"


class NoDevicesForPushType(NotFound):
    """The user has no device registered for that push type: nothing was sent."""

    code = "no_devices_for_push_type"


class InvalidRequest(ApiError):
    """The request itself is wrong (fix the code, do not retry)."""


class MalformedJson(InvalidRequest):
    code = "malformed_json"


class MissingField(InvalidRequest):
    code = "missing_field"


class InvalidField(InvalidRequest):
    code = "invalid_field"


class InvalidToken(InvalidRequest):
    code = "invalid_token"


class InvalidCredentials(InvalidRequest):
    code = "invalid_credentials"


class InvalidPush(InvalidRequest):
    code = "invalid_push"


class VoipNeedsACall(InvalidRequest):
    code = "voip_needs_a_call"


class PayloadTooLarge(InvalidRequest):
    code = "payload_too_large"


class MethodNotAllowed(InvalidRequest):
    code = "method_not_allowed"


class AmbiguousLength(InvalidRequest):
    """Both Content-Length and Transfer-Encoding: the server will not guess."""

    code = "ambiguous_length"


class BadContentLength(InvalidRequest):
    code = "bad_content_length"


class BodyTooLarge(InvalidRequest):
    """The body is over the server's cap (``serve --max-body-bytes``)."""

    code = "body_too_large"


class BodyTimeout(InvalidRequest):
    """The body did not arrive whole within the server's deadline (30 s)."""

    code = "body_timeout"


class CallExists(ApiError):
    code = "call_exists"


class TooManyDevices(ApiError):
    """The user has as many devices as the server allows: unregister one first."""

    code = "too_many_devices"


class TooManyStreams(ApiError):
    """The user already follows as many call event streams as the server allows."""

    code = "too_many_streams"


class RateLimited(ApiError):
    """Over the server's rate for this credential (or address): wait ``Retry-After``."""

    code = "rate_limited"


class DatabaseUnavailable(ApiError):
    """The server's database could not take the request (locked, full, read-only,
    unreachable): nothing was stored. The client waits ``Retry-After`` and asks again;
    once its retries are spent it raises :class:`ServerUnavailable`."""

    code = "database_unavailable"


class DeviceTokenUnavailable(ApiError):
    """Another user's install registered this token; it moves here only from that
    install (its ``install_secret``) or after APNs has reported it invalid."""

    code = "device_token_unavailable"


class CallNotRinging(ApiError):
    """Answer or decline came too late: the call was answered elsewhere or is over."""

    code = "call_not_ringing"


def _subclasses(cls: type[ApiError]) -> list[type[ApiError]]:
    found: list[type[ApiError]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


#: Every error code the SDK knows, with its class.
ERROR_CLASSES: dict[str, type[ApiError]] = {c.code: c for c in _subclasses(ApiError) if c.code}


def error_from_response(status: int, body: bytes) -> ApiError:
    """The typed error for a 4xx answer (the body need not be well-formed)."""
    code, message = "http_error", body.decode("utf-8", "replace")[:200]
    try:
        error = json.loads(body)["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        pass
    return ERROR_CLASSES.get(code, ApiError)(status, code, message)
