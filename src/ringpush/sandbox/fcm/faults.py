"""Fault injection: the misbehaviour of a loaded or failing FCM, on demand.

A client's retry, backoff and re-authentication paths are only tested if FCM
misbehaves, and the real one cannot be asked to (docs/fcm.md §7.10). As in
the APNs sandbox (:mod:`ringpush.sandbox.faults`), the knobs live in one mutable object
the server reads on each request, and :meth:`FcmFaults.update` changes any subset, all
or nothing, with the same :class:`~ringpush.sandbox.faults.FaultError` codes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from ringpush.sandbox.faults import FaultError

ERROR_STATUSES = (500, 503)


@dataclass
class FcmFaults:
    """The knobs; all off by default. Those about answers apply to sends that passed
    every check (the answer replaces a 200; nothing is delivered):

    - ``error_rate``: share (0..1) answered ``error_status``: 500 INTERNAL or 503
      UNAVAILABLE, the latter with ``Retry-After: retry_after_seconds`` (when set).
    - ``quota_exceeded``: every such send gets 429 QUOTA_EXCEEDED with ``Retry-After``.
    - ``third_party_auth_error``: every such send gets 401 THIRD_PARTY_AUTH_ERROR (a 401
      a client must not answer by refreshing its access token).
    - ``sender_id_mismatch``: every such send gets 403 SENDER_ID_MISMATCH (as if the
      token had moved to another Firebase project).
    - ``invalid_token``: every such send gets 400 INVALID_ARGUMENT "The registration token
      is not a valid FCM registration token", what live FCM answers for a malformed one
      (the sandbox takes every token as opaque, so this is how a test gets that answer).
    - ``drop_rate``: share (0..1) of sends whose connection is closed without an answer
      (on HTTP/2 every request in flight on it fails too), before anything is checked;
      with ``drop_accepted`` the send is checked, accepted and delivered first (taken,
      but the client never learns).
    - ``latency_ms``: delay before each send's answer.
    - ``token_endpoint_down``: the token endpoint answers 503.
    """

    error_rate: float = 0.0
    error_status: int = 503
    retry_after_seconds: int | None = 10
    quota_exceeded: bool = False
    third_party_auth_error: bool = False
    sender_id_mismatch: bool = False
    invalid_token: bool = False
    drop_rate: float = 0.0
    drop_accepted: bool = False
    latency_ms: float = 0.0
    token_endpoint_down: bool = False

    @property
    def active(self) -> bool:
        """True when a knob changes answers to valid sends (the hot path skips them)."""
        return bool(
            self.error_rate
            or self.quota_exceeded
            or self.third_party_auth_error
            or self.sender_id_mismatch
            or self.invalid_token
        )

    def clear(self) -> None:
        self.update_from(FcmFaults())

    def update_from(self, other: FcmFaults) -> None:
        for knob in fields(self):
            setattr(self, knob.name, getattr(other, knob.name))

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply a partial update, all or nothing; raises FaultError on bad input."""
        staged = FcmFaults()
        staged.update_from(self)
        for name, value in changes.items():
            setter = _SETTERS.get(name)
            if setter is None:
                known = ", ".join(sorted(_SETTERS))
                raise FaultError("unknown_fault", f"unknown fault {name!r} (known: {known})")
            setattr(staged, name, setter(name, value))
        self.update_from(staged)

    def to_json(self) -> dict[str, Any]:
        return {knob.name: getattr(self, knob.name) for knob in fields(self)}


def _share(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FaultError("invalid_fault", f"{name} must be a number")
    if not 0.0 <= value <= 1.0:
        raise FaultError("invalid_fault", f"{name} must be between 0 and 1")
    return float(value)


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise FaultError("invalid_fault", f"{name} must be true or false")
    return value


def _status(name: str, value: Any) -> int:
    if isinstance(value, bool) or value not in ERROR_STATUSES:
        raise FaultError("invalid_fault", f"{name} must be 500 or 503")
    return int(value)


def _seconds(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 86_400:
        raise FaultError("invalid_fault", f"{name} must be whole seconds (0..86400) or null")
    return value


def _latency(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FaultError("invalid_fault", f"{name} must be a number")
    if not 0 <= value <= 60_000:
        raise FaultError("invalid_fault", f"{name} must be between 0 and 60000")
    return float(value)


_SETTERS: dict[str, Callable[[str, Any], Any]] = {
    "error_rate": _share,
    "error_status": _status,
    "retry_after_seconds": _seconds,
    "quota_exceeded": _flag,
    "third_party_auth_error": _flag,
    "sender_id_mismatch": _flag,
    "invalid_token": _flag,
    "drop_rate": _share,
    "drop_accepted": _flag,
    "latency_ms": _latency,
    "token_endpoint_down": _flag,
}
