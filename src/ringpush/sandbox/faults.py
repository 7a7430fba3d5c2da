"""Fault injection: the misbehaviour of a loaded or failing APNs, on demand.

A client's retry, reconnect and resend logic is only tested if APNs misbehaves, and
the real one cannot be asked to. The knobs live in one mutable object that the server
reads on each request, so a test (or the control API) can flip them mid-run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ringpush.apns.device_token import normalize_device_token
from ringpush.apns.errors import InvalidDeviceToken

ERROR_STATUSES = (500, 503)


class FaultError(ValueError):
    """A fault setting is malformed; ``code`` is a stable, machine-readable name."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Faults:
    """The knobs; all off by default.

    - ``error_rate``: share (0..1) of otherwise-valid pushes answered with
      ``error_status`` (500 InternalServerError or 503 ServiceUnavailable), not stored.
    - ``too_many_requests_tokens``: tokens answered ``429 TooManyRequests``.
    - ``latency_ms``: delay before each answer; other streams are not held up.
    - ``goaway_after_streams``: after N streams a connection is told GOAWAY (NO_ERROR,
      ``{"reason":"Shutdown"}``), answers the streams up to the last one and closes.
    - ``reset_after_streams``: the Nth accepted push of a connection is stored, then the
      TCP connection is dropped before the answer: taken, but the client never learns.
    - ``shutdown``: every otherwise-valid push is answered ``503 Shutdown``.
    - ``reset_stream_code``: every push's stream is reset with this HTTP/2 error code
      (RST_STREAM) before it is looked at: 1 (PROTOCOL_ERROR) is what a strict peer sends
      for a malformed request, 7 (REFUSED_STREAM) one it did not process.
    """

    error_rate: float = 0.0
    error_status: int = 500
    too_many_requests_tokens: set[str] = field(default_factory=set)
    latency_ms: float = 0.0
    goaway_after_streams: int | None = None
    reset_after_streams: int | None = None
    shutdown: bool = False
    reset_stream_code: int | None = None

    @property
    def active(self) -> bool:
        """True when any knob is set; the hot path skips every fault check otherwise."""
        return bool(
            self.error_rate
            or self.too_many_requests_tokens
            or self.latency_ms
            or self.shutdown
            or self.reset_after_streams
        )

    def clear(self) -> None:
        self.update_from(Faults())

    def update_from(self, other: Faults) -> None:
        self.error_rate = other.error_rate
        self.error_status = other.error_status
        self.too_many_requests_tokens = set(other.too_many_requests_tokens)
        self.latency_ms = other.latency_ms
        self.goaway_after_streams = other.goaway_after_streams
        self.reset_after_streams = other.reset_after_streams
        self.shutdown = other.shutdown
        self.reset_stream_code = other.reset_stream_code

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply a partial update, all or nothing; raises :class:`FaultError` on bad input."""
        staged = Faults()
        staged.update_from(self)
        for name, value in changes.items():
            setter = _SETTERS.get(name)
            if setter is None:
                known = ", ".join(sorted(_SETTERS))
                raise FaultError("unknown_fault", f"unknown fault {name!r} (known: {known})")
            setter(staged, value)
        self.update_from(staged)

    def to_json(self) -> dict[str, Any]:
        return {
            "error_rate": self.error_rate,
            "error_status": self.error_status,
            "too_many_requests_tokens": sorted(self.too_many_requests_tokens),
            "latency_ms": self.latency_ms,
            "goaway_after_streams": self.goaway_after_streams,
            "reset_after_streams": self.reset_after_streams,
            "shutdown": self.shutdown,
            "reset_stream_code": self.reset_stream_code,
        }


def _number(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FaultError("invalid_fault", f"{name} must be a number")
    if not low <= value <= high:
        raise FaultError("invalid_fault", f"{name} must be between {low:g} and {high:g}")
    return float(value)


def _count(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise FaultError("invalid_fault", f"{name} must be a positive integer or null")
    return value


def _set_error_rate(faults: Faults, value: Any) -> None:
    faults.error_rate = _number("error_rate", value, 0.0, 1.0)


def _set_error_status(faults: Faults, value: Any) -> None:
    if isinstance(value, bool) or value not in ERROR_STATUSES:
        raise FaultError("invalid_fault", "error_status must be 500 or 503")
    faults.error_status = int(value)


def _set_tokens(faults: Faults, value: Any) -> None:
    if not isinstance(value, list | set | tuple) or not all(isinstance(t, str) for t in value):
        raise FaultError("invalid_fault", "too_many_requests_tokens must be a list of strings")
    try:
        faults.too_many_requests_tokens = {normalize_device_token(t) for t in value}
    except InvalidDeviceToken as exc:
        raise FaultError("invalid_fault", f"too_many_requests_tokens: {exc}") from None


def _set_latency(faults: Faults, value: Any) -> None:
    faults.latency_ms = _number("latency_ms", value, 0.0, 60_000.0)


def _set_goaway(faults: Faults, value: Any) -> None:
    faults.goaway_after_streams = _count("goaway_after_streams", value)


def _set_reset(faults: Faults, value: Any) -> None:
    faults.reset_after_streams = _count("reset_after_streams", value)


def _set_shutdown(faults: Faults, value: Any) -> None:
    if not isinstance(value, bool):
        raise FaultError("invalid_fault", "shutdown must be true or false")
    faults.shutdown = value


def _set_reset_stream_code(faults: Faults, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or value not in range(0x1, 0xE)):
        raise FaultError(
            "invalid_fault", "reset_stream_code must be an HTTP/2 error code 1..13 or null"
        )
    faults.reset_stream_code = value


_SETTERS = {
    "error_rate": _set_error_rate,
    "error_status": _set_error_status,
    "too_many_requests_tokens": _set_tokens,
    "latency_ms": _set_latency,
    "goaway_after_streams": _set_goaway,
    "reset_after_streams": _set_reset,
    "shutdown": _set_shutdown,
    "reset_stream_code": _set_reset_stream_code,
}
