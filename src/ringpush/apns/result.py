"""The typed outcome of one push."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ringpush.apns.reasons import Action, ApnsReason, action_for_status
from ringpush.apns.transport import TransportFailure

#: ``status`` of a result for which no response arrived (timeout, connection failure).
NO_RESPONSE = 0


@dataclass(frozen=True, slots=True)
class ApnsResult:
    """What APNs said about one push, and what to do about it.

    ``status`` is the HTTP status, or :data:`NO_RESPONSE` when the push could not be
    completed (then ``error`` says why and ``failure`` names the kind). ``timestamp_ms``
    is the 410 timestamp: the last time APNs confirmed the token invalid, in milliseconds
    since the epoch.
    """

    apns_id: str
    status: int
    reason: ApnsReason | None = None
    reason_text: str | None = None
    unique_id: str | None = None
    timestamp_ms: int | None = None
    error: str | None = None
    attempts: int = 1
    failure: TransportFailure | None = None

    @property
    def sent(self) -> bool:
        return self.status == 200

    @property
    def action(self) -> Action:
        if self.status == NO_RESPONSE:
            if self.failure is TransportFailure.STREAM_PROTOCOL_ERROR:
                return Action.FIX_REQUEST  # the peer found the request malformed
            return Action.RETRY_LATER
        if self.reason is not None:
            return self.reason.action
        return action_for_status(self.status)

    @property
    def invalid_since(self) -> datetime | None:
        """The 410 timestamp as a datetime."""
        if self.timestamp_ms is None:
            return None
        return datetime.fromtimestamp(self.timestamp_ms / 1000, tz=UTC)

    def describe(self) -> str:
        """One line for logs and the CLI (never contains the token)."""
        if self.status == NO_RESPONSE:
            return f"apns-id {self.apns_id}: no response ({self.error})"
        text = f"apns-id {self.apns_id}: {self.status}"
        if self.reason_text:
            text += f" {self.reason_text}"
        if self.timestamp_ms is not None:
            text += f" (invalid since {self.invalid_since:%Y-%m-%dT%H:%M:%S.%fZ})"
        return text

    @property
    def reason_label(self) -> str:
        """A short, never empty name of the outcome, for metrics and logs: APNs's reason,
        the transport failure, or the status."""
        if self.reason_text:
            return self.reason_text
        if self.status == NO_RESPONSE:
            return (self.failure or TransportFailure.CONNECTION_LOST).value
        return "accepted" if self.status == 200 else str(self.status)

    @classmethod
    def no_response(
        cls,
        apns_id: str,
        error: str,
        failure: TransportFailure,
        attempts: int = 1,
    ) -> ApnsResult:
        return cls(
            apns_id=apns_id, status=NO_RESPONSE, error=error, attempts=attempts, failure=failure
        )
